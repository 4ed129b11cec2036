"""Reading text files users give (CSV tasks, corpora) with errors they can act on.

UTF-8 is expected; a UTF-8 byte-order mark (as Excel writes it) is accepted. A file in another
encoding is refused with the encoding it appears to be in and the fix.

Example:
    >>> text = read_text("prompts.csv", what="CSV task")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from mechcirc.errors import UsageError

__all__ = ["read_text"]


def read_text(path: str | Path, *, what: str = "file") -> str:
    """The text of ``path`` decoded as UTF-8 (BOM allowed); ``UsageError`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} not found: {path}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        found = _guess_encoding(data)
        raise UsageError(
            f"{what} {path} is not UTF-8 (byte {data[err.start : err.start + 1]!r} at offset "
            f"{err.start}; it looks like {found}): save it as UTF-8"
        ) from None


def _guess_encoding(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:65536]).best()
    return best.encoding if best is not None else "a binary file"
