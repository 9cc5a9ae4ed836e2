"""Errors that mean "the user gave us something we cannot use".

Every face catches `UserError` at its edge and turns it into one line on
stderr and exit status 2. Anything else escaping is an internal failure.
"""

from __future__ import annotations

import errno

from .usertext import one_line


class UserError(Exception):
    """Bad input: a malformed preset, an unknown key, a missing or corrupt file.

    The message is complete on its own: it names the file, key or path and
    says what is allowed. Faces print it verbatim: it holds user text (paths,
    names, values, a server's reply), so str() gives it on one line without
    control characters or escape sequences (usertext.one_line); a face that
    parses markup still escapes it (usertext.markup).
    """

    def __str__(self) -> str:
        return one_line(super().__str__())


class PresetError(UserError):
    """A preset file or an override that does not validate."""


class DataError(UserError):
    """A data file or data-set setting that cannot be used."""


class EnvironmentProblem(UserError):
    """Not the input but the machine: a full disk, a folder without write
    permission, a search already running. Reported like bad input (one line,
    exit 2), saying what to do."""


def user_error_names() -> set[str]:
    """The class names of UserError and its kinds, as a failure's reason starts with one."""
    names, todo = set(), [UserError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def environment_problem(path: object, doing: str, e: OSError, advice: str) -> EnvironmentProblem:
    """`PATH: cannot DOING: the disk is full (No space left on device); ADVICE`, the
    cause in words for the failures a user can fix, strerror for the rest."""
    why = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.EFBIG: "the file size limit is reached (ulimit -f)",
    }.get(e.errno or 0)
    detail = e.strerror or type(e).__name__
    return EnvironmentProblem(f"{path}: cannot {doing}: {why + f' ({detail})' if why else detail}; {advice}")


def in_words(e: BaseException) -> str:
    """A failure as a face shows it: bad input by its own message (it names the file
    or key), anything else by its type too (`ValueError: ...`), as it is a bug."""
    return str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
