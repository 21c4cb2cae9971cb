"""A plugin whose register hook raises."""

from benchsuite import hookimpl


@hookimpl
def benchsuite_register_methods(register):
    raise RuntimeError("cannot register today")
