"""Exceptions raised by mona: one class per C++ status code, with the location parsed from the message.

The C++ library names where an input went wrong in its messages ("pool.jsonl:3: field messages[1].content:
expected string, found number (format: messages)"); ``MonaError`` keeps the message as is and also offers
``file``, ``line`` and ``field`` attributes (``None`` where the message has none). When the input was a Python
object (a DataFrame, a list of dicts, ...), ``file`` is a description such as ``"<DataFrame>"`` and ``row`` is
the 0-based row of that object (``line - 1``: the records are handed to the C++ reader one per line).
"""

from __future__ import annotations

import re
from typing import Optional

_LOCATION = re.compile(r"(?P<file>[^\s:][^:\n]*?):(?P<line>\d+): (?:field (?P<field>[^\s:]+): |missing field (?P<missing>\S+))?")


class MonaError(Exception):
    """An error reported by mona's C++ library (the message is the one the `mona` command prints)."""

    code = 0

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.file: Optional[str] = None
        self.line: Optional[int] = None
        self.row: Optional[int] = None
        self.field: Optional[str] = None
        m = _LOCATION.search(message)
        if m:
            self.file = m.group("file")
            self.line = int(m.group("line"))
            self.field = m.group("field") or m.group("missing")


class InvalidInputError(MonaError, ValueError):
    """The user's file, record, field or option is wrong."""

    code = 1


class NotFoundError(MonaError, FileNotFoundError):
    """A named file or entity does not exist."""

    code = 2


class MonaIOError(MonaError, OSError):
    """The operating system refused a read or write."""

    code = 3


class UnsupportedError(MonaError, NotImplementedError):
    """Well-formed input that mona does not handle (yet)."""

    code = 4


class InternalError(MonaError, RuntimeError):
    """A dependency failed in a way the input does not explain."""

    code = 5


class CancelledError(MonaError):
    """The job was asked to stop."""

    code = 6


_BY_CODE = {cls.code: cls for cls in (InvalidInputError, NotFoundError, MonaIOError, UnsupportedError, InternalError, CancelledError)}


def error_class(code: int) -> type:
    """The exception class for a C++ StatusCode (used by mona._mona)."""
    return _BY_CODE.get(code, MonaError)


def relocate(error: MonaError, temp_path: str, description: str) -> MonaError:
    """The same error with a temporary JSONL file's path replaced by what the user passed (e.g. "<DataFrame>")."""
    message = error.message.replace(temp_path, description)
    new = type(error)(message)
    if new.line is not None and new.file == description:
        new.row = new.line - 1
    return new
