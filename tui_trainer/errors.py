"""Errors that mean "the user gave us something we cannot use".

Every face catches `UserError` at its edge and turns it into one line on
stderr and exit status 2. Anything else escaping is an internal failure.
"""

from __future__ import annotations

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
