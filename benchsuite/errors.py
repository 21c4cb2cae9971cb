"""The one exception hierarchy; the CLI turns each into a one-line message and an exit code."""


class BenchsuiteError(Exception):
    """Base of every error benchsuite reports to a user."""

    exit_code = 1


class UsageError(BenchsuiteError):
    """Bad input from the user: a name, a parameter, a path."""

    exit_code = 2


class ParamError(UsageError):
    """A method or backend parameter that does not parse or validate."""


class UnknownNameError(UsageError):
    """A name that no registered plugin provides."""


class DuplicateNameError(BenchsuiteError):
    """Two plugins registered the same name."""


class PluginError(BenchsuiteError):
    """A plugin failed to load or registered something invalid."""


class StoreError(BenchsuiteError):
    """The results store cannot be read or written."""


class DataError(BenchsuiteError):
    """A task's data or reference weights are missing or fail their checksum."""


class Unsupported(BenchsuiteError):
    """Raised by a method's apply() for a model or task it cannot handle; the run becomes a `skipped` row."""
