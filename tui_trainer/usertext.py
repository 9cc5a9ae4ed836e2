"""Text that came from outside (a path, a preset's name, a value typed in, a
server's reply) made safe to show: the one place that decides how.

    clean(text)        control characters and escape sequences removed
    one_line(text)     the same, line breaks and tabs as spaces: for a one-line message
    markup(text)       clean(text) escaped for Rich's markup: a string a Rich table
                       cell, title or console.print parses
    textual_markup(text)   the same for Textual's own parser: notify(), Static.update(str),
                       a border title, an option's prompt

The two parsers read backslashes differently (Rich halves those before a tag,
Textual keeps them), so each has its escape; both are checked against their
parser by tests/test_user_text.py.

A terminal obeys escape sequences (`\\x1b[2J` clears the screen) and Rich
parses `[...]` as markup (`[/x]` raises MarkupError), so user text reaches
either only through these. `UserError` cleans its own message (errors.py),
so every "bad input" line is clean wherever it is printed.

This module imports nothing (not even rich), so the lowest layers can use it.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \), and any other ESC + one byte.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|\x9b[0-?]*[ -/]*[@-~]")
# C0 and C1 controls but newline and tab, DEL, and the bidirectional overrides that reorder what follows.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile(r"[\t\n]+")


_SURROGATES = re.compile("[\ud800-\udfff]")


def clean(text: object) -> str:
    """str(text) without escape sequences and control characters (newlines and tabs stay).

    A file name the locale could not decode (LC_ALL=C) holds its bytes as lone
    surrogates, which no terminal encoding can write: they are read as UTF-8,
    and what still is not text becomes U+FFFD."""
    s = text if isinstance(text, str) else str(text)
    if _SURROGATES.search(s):
        try:
            s = s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            pass
        s = _SURROGATES.sub("\ufffd", s)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", s))


def one_line(text: object) -> str:
    """clean(text) on one line: line breaks and tabs read as one space."""
    return _BREAKS.sub(" ", clean(text))


# A bracket with the backslashes before it, and whether Rich reads it as opening a tag
# (rich.markup.RE_TAGS: a bracket, then a lowercase letter, #, / or @, up to the next ]).
_BRACKET = re.compile(r"(\\*)\[(?=([a-z#/@][^[]*?])?)")


def markup(text: object) -> str:
    """clean(text) with Rich markup escaped, so it shows as written inside other markup.

    Rich halves the backslashes before a tag and reads an odd one as escaping it,
    and elsewhere reads a backslash-bracket as a bracket; so before a tag the
    backslashes are doubled plus one, before another bracket one is added, and
    after those at the end comes a zero-width space, as the tag that may follow
    (`f"[b]{markup(x)}[/b]"`) must stay a tag, and plain text that may follow
    must not see them doubled. (rich.markup.escape misses the last two.)"""

    def escape(m: re.Match[str]) -> str:
        n = len(m[1])
        if m[2] is not None:
            return "\\" * (2 * n + 1) + "["
        return "\\" * (n + 1) + "[" if n else "["

    s = _BRACKET.sub(escape, clean(text))
    return s + "\u200b" if s.endswith("\\") else s


def textual_markup(text: object) -> str:
    """clean(text) escaped for Textual's markup, so it shows as written: every
    bracket escaped (Textual reads a backslash as itself unless a bracket follows),
    and a zero-width space after a trailing backslash, which would otherwise
    escape the tag that may follow (`f"[b]{textual_markup(x)}[/b]"`)."""
    s = clean(text).replace("[", "\\[")
    return s + "\u200b" if s.endswith("\\") else s
