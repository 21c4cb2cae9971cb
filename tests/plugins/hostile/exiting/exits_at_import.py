"""A plugin that ends the process as it is imported: the host must report it and go on without it."""

import sys

sys.exit(3)
