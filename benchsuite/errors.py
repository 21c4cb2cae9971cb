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


class UnreadableFileError(StoreError):
    """One results file is corrupted, truncated or foreign; readers skip it, `store check --fix` quarantines it."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


class NewerSchemaError(StoreError):
    """A results file of a newer schema_version than this benchsuite reads; refused, never skipped."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path} has {reason}")
        self.path, self.reason = path, reason


class BundleError(UsageError):
    """A submission bundle that `benchsuite store import` refuses: missing, malformed, changed after it was written,
    or with rows that disagree with its manifest or with themselves. Nothing is imported."""


class DataError(BenchsuiteError):
    """A task's data or reference weights are missing or fail their checksum."""


class Unsupported(BenchsuiteError):
    """Raised by a method's apply() for a model or task it cannot handle; the run becomes a `skipped` row."""


def one_line(exc: BaseException) -> str:
    """An exception as one line: the message alone for our own errors, ``Type: message`` for anyone else's."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, BenchsuiteError) else text
