"""A plugin that imports cleanly and then ends the process from its register hook."""

import sys

from benchsuite import hookimpl


@hookimpl
def benchsuite_register_methods(register):
    sys.exit(4)
