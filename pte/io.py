"""Atomic file writes and JSON-lines helpers: an interrupted run never leaves half a file."""
from __future__ import annotations

import gzip
import hashlib
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


def _open_text(path: Path, mode: str, name: Path | None = None):
    """Text mode, gzip-compressed when the file's name (``name``, else ``path``) ends in .gz."""
    gz = (name or path).suffix == ".gz"
    return gzip.open(path, mode + "t", encoding="utf-8") if gz else open(path, mode, encoding="utf-8")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """JSON lines, gzip-compressed when ``path`` ends in .gz."""
    with atomic_path(path) as tmp, _open_text(tmp, "w", Path(path)) as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    """Read JSON lines (gzip-compressed when the name ends in .gz); a truncated last line (from a killed
    writer) is dropped, others must parse."""
    path = Path(path)
    rows = []
    with _open_text(path, "r") as f:
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
