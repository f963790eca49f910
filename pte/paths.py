"""Where things live, independent of the working directory a script runs from."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PTE_DATA", ROOT / "data"))
RESULTS = Path(os.environ.get("PTE_RESULTS", ROOT / "results"))
OUTPUTS = Path(os.environ.get("PTE_OUTPUTS", ROOT / "outputs"))
CACHE = Path(os.environ.get("PTE_CACHE", ROOT / ".cache"))
IMG = ROOT / "img"


def dataset_dir(data: str) -> Path:
    """The prepared folder of a dataset: a name under data/, or any path to such a folder."""
    p = Path(data)
    if p.is_dir() and (p / "meta.json").exists():
        return p
    return DATA / data


def outputs_dir(data: str) -> Path:
    """Per-dataset artifacts of the LLM stage (profiles, embeddings, adapters)."""
    return OUTPUTS / Path(data).name
