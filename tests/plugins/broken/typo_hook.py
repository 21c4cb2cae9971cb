"""A plugin that misspells a hook name."""

from benchsuite import hookimpl


@hookimpl
def benchsuite_register_method(register):
    pass
