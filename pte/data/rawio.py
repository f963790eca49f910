"""Streaming reads of large raw files: JSON lines (plain or gzip), a progress bar, errors with line numbers.

Raw review dumps reach tens of GB (Amazon Books: 51M reviews), so nothing here holds a
file in memory: lines are parsed one at a time and only the fields a converter asks for
are kept. Raw ids are interned into dense integer codes while streaming
(:class:`InteractionLog`), so a Books-scale file costs a few GB (the id dictionaries)
rather than one Python object per review.
"""
from __future__ import annotations

import ast
import gzip
import html
import io
import json
import re
import zlib
from array import array
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from pte.data.atomic import DataError

GZIP_MAGIC = b"\x1f\x8b"
PROGRESS_EVERY = 20_000  # lines between progress-bar updates (keeps the bar's cost negligible)
_JSON = json.JSONDecoder()


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes, whatever its name says."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


@contextmanager
def _open_lines(path: Path) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(line stream, underlying file): the second one's position drives the progress bar."""
    raw = open(path, "rb")
    try:
        # BufferedReader gives C-speed line splitting over GzipFile's Python readline
        yield (io.BufferedReader(gzip.GzipFile(fileobj=raw), 1 << 20) if is_gzip(path) else raw), raw
    finally:
        raw.close()


def iter_lines(path: str | Path, desc: str = "", progress: bool = True) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based line number, raw bytes) of every non-blank line; gzip is detected by content."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    from tqdm.auto import tqdm
    size = path.stat().st_size
    with _open_lines(path) as (lines, raw), tqdm(total=size, unit="B", unit_scale=True, desc=desc or path.name,
                                                 disable=not progress, mininterval=1.0, delay=2.0, leave=False) as bar:
        lineno = 0
        try:
            for lineno, line in enumerate(lines, start=1):
                if lineno % PROGRESS_EVERY == 0:
                    bar.update(raw.tell() - bar.n)
                if line.strip():
                    yield lineno, line
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(f"{path}:{lineno + 1}: cannot read past this line ({e}); the file is truncated or "
                            f"corrupt. Download it again") from None
        bar.update(size - bar.n)


def parse_record(line: bytes, path: Path, lineno: int, literal: bool = False) -> dict:
    """One JSON object; with ``literal``, also a Python dict literal (Amazon 2014 metadata is written that way)."""
    try:
        rec = _JSON.decode(line.decode("utf-8"))  # decoding first skips json's per-call encoding sniffing
    except ValueError as e:
        if not literal:
            raise DataError(f"{path}:{lineno}: not a JSON object ({e}): {line[:80]!r}. Fix or delete that line "
                            f"(a download cut short leaves a partial last line)") from None
        rec = _literal(line, path, lineno)
    if not isinstance(rec, dict):
        raise DataError(f"{path}:{lineno}: expected one JSON object per line, got {type(rec).__name__}")
    return rec


def _literal(line: bytes, path: Path, lineno: int) -> dict:
    # ast.literal_eval evaluates literals only, never code: safe where the authors' loaders used eval()
    try:
        return ast.literal_eval(line.decode("utf-8").strip())
    except (ValueError, SyntaxError, UnicodeDecodeError) as e:
        raise DataError(f"{path}:{lineno}: neither JSON nor a Python dict literal ({type(e).__name__}): "
                        f"{line[:80]!r}. Fix or delete that line") from None


def iter_records(path: str | Path, desc: str = "", progress: bool = True,
                 literal: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each line of a JSON-lines file, plain or gzip."""
    path = Path(path)
    for lineno, line in iter_lines(path, desc, progress):
        yield lineno, parse_record(line, path, lineno, literal)


def first_record(path: str | Path, literal: bool = False) -> dict:
    """The first object of a JSON-lines file (to recognise its format)."""
    for _, rec in iter_records(path, progress=False, literal=literal):
        return rec
    raise DataError(f"{path}: empty file")


def require(rec: dict, keys: tuple[str, ...], path: Path, lineno: int, what: str) -> list:
    """The values of ``keys`` in ``rec``; a missing one is an error naming the line and the expected format."""
    try:
        values = [rec[k] for k in keys]
        if None not in values:
            return values
    except KeyError:
        pass
    missing = [k for k in keys if rec.get(k) is None]
    if missing:
        raise DataError(f"{path}:{lineno}: field {missing[0]!r} missing; {what} lines need "
                        f"{', '.join(keys)} (have: {', '.join(sorted(rec))[:200]})")
    return [rec[k] for k in keys]


class InteractionLog:
    """Interactions read so far: raw ids interned to dense codes, numbers in compact arrays."""

    def __init__(self) -> None:
        self.user_codes: dict[str, int] = {}
        self.item_codes: dict[str, int] = {}
        self._user, self._item = array("i"), array("i")  # int32: 2^31 ids is plenty
        self._time, self._rating = array("d"), array("f")

    def add(self, user: str, item: str, timestamp: float, rating: float = 1.0) -> None:
        u = self.user_codes.get(user)
        if u is None:
            u = self.user_codes[user] = len(self.user_codes)
        i = self.item_codes.get(item)
        if i is None:
            i = self.item_codes[item] = len(self.item_codes)
        self._user.append(u)
        self._item.append(i)
        self._time.append(timestamp)
        self._rating.append(rating)

    def __len__(self) -> int:
        return len(self._user)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(user code, item code, timestamp, rating) per interaction, in file order."""
        return (np.frombuffer(self._user, dtype=np.int32), np.frombuffer(self._item, dtype=np.int32),
                np.frombuffer(self._time, dtype=np.float64), np.frombuffer(self._rating, dtype=np.float32))

    def names(self, kind: str) -> list[str]:
        """Raw ids in code order (code k -> names[k]); kind is 'user' or 'item'."""
        codes = self.user_codes if kind == "user" else self.item_codes
        return list(codes)  # dicts keep insertion order, which is code order

    def release_index(self) -> None:
        """Drop the id -> code dictionaries (the largest part of the log) once names() has been taken."""
        self.user_codes, self.item_codes = {}, {}


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def clean_text(value, limit: int) -> str:
    """Unescape HTML, drop tags, collapse whitespace, cut at ``limit`` characters (item text fields)."""
    text = _SPACE.sub(" ", _TAG.sub(" ", html.unescape(str(value)))).strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
