"""Embedding files: ``<name>.npy`` (float32, row i = internal id i) + ``<name>.json`` sidecar.

The sidecar names what the rows are (kind: item|user, the raw id of every row, in
order), where they came from (encoder, dimension, setting, source file) and any
fallbacks used for missing rows. Loading checks all of it against the dataset, so a
file made for another dataset, id order or encoder fails loudly instead of silently
scoring the wrong items.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from pte.data import DataError, Dataset
from pte.io import atomic_path, read_json, write_json
from pte.paths import ROOT

_read: dict[str, str] = {}   # every file load_embeddings returned in this process -> its fingerprint


def sidecar(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_embeddings(path: str | Path, vectors: np.ndarray, ids: list[str], *, kind: str, data: str,
                    encoder: str, **meta) -> None:
    """Write vectors and their sidecar atomically (the .npy first, the sidecar marks completion)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(ids):
        raise ValueError(f"{path}: {vectors.shape} vectors for {len(ids)} ids")
    if not np.isfinite(vectors).all():
        raise ValueError(f"{path}: refusing to write non-finite embeddings ({(~np.isfinite(vectors)).any(1).sum()} rows)")
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, vectors)
    write_json(sidecar(path), {"kind": kind, "data": data, "encoder": encoder, "dim": int(vectors.shape[1]),
                               "rows": len(ids), "ids": list(ids), **meta})


def load_embeddings(path: str | Path, ds: Dataset, kind: str, setting: str | None = None) -> np.ndarray:
    """Vectors whose row i is ``kind`` (item|user) internal id i of ``ds``; errors name the fix.

    ``setting``: the evaluation setting of the consumer. A file whose sidecar names another
    setting is refused (its profiles may have seen that setting's validation/test targets);
    item files made on the interactions both settings train on ("both") serve either, user
    files must be the setting's own. Files without a setting (item text) serve any.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: embedding file not found. Produce it first (see README, step 2), "
                        f"or point the method at another file")
    if not sidecar(path).exists():
        raise DataError(f"{sidecar(path)}: sidecar missing, so the row order of {path.name} is unknown; "
                        f"re-create the file with the repository's scripts")
    meta = read_json(sidecar(path))
    expected = ds.item_raw if kind == "item" else ds.user_raw
    if meta.get("kind") != kind:
        raise DataError(f"{path}: holds {meta.get('kind')} vectors, but {kind} vectors were asked for")
    made_for = meta.get("setting")
    if setting and made_for and made_for != setting and not (made_for == "both" and kind == "item"):
        need = "the setting's own user profiles" if kind == "user" else f"a {setting} or 'both' file"
        raise DataError(f"{path}: made from the {made_for!r} setting's interactions, but this run evaluates "
                        f"{setting!r}, which needs {need} (a {made_for} profile may contain this setting's "
                        f"held-out items). Make it with --setting {setting} (e.g. python llm/align.py "
                        f"--setting {setting}), or pass that setting's file")
    try:
        vectors = np.load(path)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e}); it is truncated or corrupt, re-create it "
                        f"with the script that wrote it (its sidecar {sidecar(path).name} says which)") from None
    if vectors.ndim != 2 or len(vectors) != meta.get("rows") or vectors.shape[1] != meta.get("dim"):
        raise DataError(f"{path}: shape {vectors.shape} disagrees with its sidecar "
                        f"({meta.get('rows')} x {meta.get('dim')}); the file is corrupt, re-create it")
    if list(meta.get("ids", [])) != list(expected):
        n_common = len(set(meta.get("ids", [])) & set(expected))
        raise DataError(f"{path}: its {len(meta.get('ids', []))} {kind} ids do not match {ds.name}'s "
                        f"{len(expected)} {kind}s in order ({n_common} shared); it was made for "
                        f"{meta.get('data')!r}. Re-create it for this dataset")
    bad = ~np.isfinite(vectors).all(1)
    if bad.any():
        raise DataError(f"{path}: {bad.sum()} rows contain NaN/inf (first: row {np.flatnonzero(bad)[0]}); re-create it")
    vectors = vectors.astype(np.float32)
    _read[_shown(path)] = fingerprint(vectors)
    return vectors


def fingerprint(vectors: np.ndarray) -> str:
    """The first 12 hex digits of the SHA-1 of the float32 vectors: equal for the same table."""
    return hashlib.sha1(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).hexdigest()[:12]


def files_read() -> dict[str, str]:
    """Every embedding file this process has read (path -> fingerprint). A results row records
    them, so rows made from different runs of the Profile stage stay apart and a rerun can tell
    whether it read the same tables."""
    return dict(_read)


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def embedding_meta(path: str | Path) -> dict:
    return read_json(sidecar(path))
