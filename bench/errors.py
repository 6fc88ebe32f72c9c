"""Errors that the CLI turns into one line and an exit code, never a traceback."""


class BenchError(Exception):
    """A failure the user should read as one line."""

    exit_code = 1


class UsageError(BenchError):
    """Bad parameters or input files: exit 2, nothing written."""

    exit_code = 2


class RuntimeFailure(BenchError):
    """The environment failed us (cluster missing, head lost, I/O): exit 1."""

    exit_code = 1


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and its message's first line ("ValueError: bad x")."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{exc.__class__.__name__}: {text}".rstrip(": ")
