"""Reader for RecBole "atomic" files (.inter/.item/.user): tab-separated, typed headers.

The header names each column as ``name:type`` (``user_id:token``, ``rating:float``,
``movie_title:token_seq``). Errors name the file and the 1-based line.
"""
from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Malformed or inconsistent input data; the message names the file and the fix."""


def read_atomic(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """Return (column names without types, rows as lists of strings)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n\r")
        if not header:
            raise DataError(f"{path}:1: empty file or missing header (expected e.g. 'user_id:token\\titem_id:token')")
        cols = [c.split(":", 1)[0] for c in header.split("\t")]
        if any(":" not in c for c in header.split("\t")):
            raise DataError(f"{path}:1: header columns must be typed as name:type, got {header!r}")
        rows = []
        for lineno, line in enumerate(f, start=2):
            line = line.rstrip("\n\r")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != len(cols):
                raise DataError(f"{path}:{lineno}: expected {len(cols)} tab-separated fields "
                                f"({', '.join(cols)}), got {len(parts)}: {line[:80]!r}")
            rows.append(parts)
    return cols, rows


def column(path: Path, cols: list[str], name: str, aliases: tuple[str, ...] = ()) -> int:
    """Index of column ``name`` (or one of its aliases); error naming the file otherwise."""
    for n in (name, *aliases):
        if n in cols:
            return cols.index(n)
    raise DataError(f"{path}: missing column {name!r} (have: {', '.join(cols)})")
