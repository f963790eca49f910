"""Where things live, independent of the working directory a script runs from."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PTE_DATA", ROOT / "data"))
RESULTS = Path(os.environ.get("PTE_RESULTS", ROOT / "results"))
CACHE = Path(os.environ.get("PTE_CACHE", ROOT / ".cache"))
IMG = Path(os.environ.get("PTE_IMG", ROOT / "img"))


def dataset_dir(data: str) -> Path:
    """The prepared folder of a dataset: a name under data/, or any path to such a folder."""
    p = Path(data)
    if p.is_dir() and (p / "meta.json").exists():
        return p
    return DATA / data


def outputs_root() -> Path:
    """Where the Profile and embedding stages write (read at call time: reproduce.py's quick mode
    points it elsewhere, so CI-sized adapters never overwrite real ones)."""
    return Path(os.environ.get("PTE_OUTPUTS", ROOT / "outputs"))
