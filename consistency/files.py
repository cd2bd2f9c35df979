"""Atomic output files: a reader, or a crash at any instant, sees the old file or the new one.

Every output is encoded in full before anything is written (so content that cannot be
written, such as a lone surrogate in a text, is a clean error and the old file survives),
written to a temporary file beside the target, and renamed onto it (atomic on POSIX).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from consistency.errors import UserError


class OutputError(UserError):
    """An output that cannot be written (one line, shown to the user as is)."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``: renamed onto ``path`` if the block succeeds, else removed."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory; name a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from None
    os.close(handle)
    temporary = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes the file private; outputs are meant to be shared
        yield temporary
        os.replace(temporary, path)
    except OSError as error:  # a full disk or quota while writing, the target turned into a directory
        raise OutputError(f"cannot write {path}: {error.strerror or error}; the previous file, if any, is kept") from None
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def encode_text(text: str, path: str | Path) -> bytes:
    """``text`` as UTF-8, or an :class:`OutputError` naming what cannot be encoded and where."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        line = text.count("\n", 0, error.start) + 1
        bad = text[error.start : error.end].encode("unicode_escape").decode("ascii")
        raise OutputError(
            f"cannot write {path}: line {line} holds {bad!s}, a lone surrogate that is not text "
            "(fix the input it came from); nothing was written"
        ) from None


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically; the old file is untouched if ``text`` cannot be encoded."""
    write_bytes_atomic(path, encode_text(text, path))


def write_json_atomic(path: str | Path, payload: Any) -> None:
    """Write JSON atomically (no NaN or infinity: they are not JSON)."""
    try:
        text = json.dumps(payload, indent=1, ensure_ascii=False, allow_nan=False)
    except ValueError as error:
        raise OutputError(f"cannot write {path}: {error}") from None
    write_text_atomic(path, text)
