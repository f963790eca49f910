"""Atomic file writes and JSON-lines helpers: an interrupted run never leaves half a file."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextmanager
def _text_writer(path: Path, gz: bool) -> Iterator:
    """A text file to write; gzip-compressed with no name and no time in its header, so the same
    rows give the same bytes (a shipped file is not rewritten by a rerun that changed nothing)."""
    with open(path, "wb") as fh:
        raw = gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) if gz else fh
        with raw, io.TextIOWrapper(raw, encoding="utf-8") as f:
            yield f


def _text_reader(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """JSON lines, gzip-compressed when ``path`` ends in .gz."""
    with atomic_path(path) as tmp, _text_writer(tmp, Path(path).suffix == ".gz") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    """Read JSON lines (gzip-compressed when the name ends in .gz); a truncated last line (from a killed
    writer) is dropped, others must parse."""
    path = Path(path)
    rows = []
    with _text_reader(path) as f:
        lines = f.readlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) and not line.endswith("\n"):
                break  # partial line of an interrupted append: safe to drop
            raise ValueError(f"{path}:{i}: not valid JSON ({e.msg}); fix or delete that line") from None
    return rows


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one line and flush it to disk, so a kill loses at most the line being written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def run_signature(config: Any, *arrays: np.ndarray | None) -> str:
    """A short hash of a run's configuration (anything JSON can write) and its input arrays: what a
    checkpoint must match for a rerun to resume from it."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for a in arrays:
        h.update(b"none" if a is None else np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]
