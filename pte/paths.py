"""Where things live, independent of the working directory a script runs from."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PTE_DATA", ROOT / "data"))
RESULTS = Path(os.environ.get("PTE_RESULTS", ROOT / "results"))
OUTPUTS = Path(os.environ.get("PTE_OUTPUTS", ROOT / "outputs"))
CACHE = Path(os.environ.get("PTE_CACHE", ROOT / ".cache"))
IMG = Path(os.environ.get("PTE_IMG", ROOT / "img"))


def dataset_dir(data: str) -> Path:
    """The prepared folder of a dataset: a name under data/, or any path to such a folder."""
    p = Path(data)
    if p.is_dir() and (p / "meta.json").exists():
        return p
    return DATA / data


def outputs_dir(data: str) -> Path:
    """Per-dataset artifacts of the LLM stage (profiles, embeddings, adapters)."""
    return OUTPUTS / Path(data).name


def embeddings_dir(data: str, setting: str) -> Path:
    """Profile (and aligned) embedding files of one setting: outputs/<data>/<setting>/embeddings/."""
    return outputs_dir(data) / setting / "embeddings"


def profile_embedding_path(data: str, setting: str, name: str) -> Path:
    """outputs/<data>/<setting>/embeddings/<name>.npy: profile embeddings of the LLM stage
    (user_profile_kd, user_profile, item_profile), with a JSON sidecar beside them."""
    name = name[:-4] if name.endswith(".npy") else name
    return embeddings_dir(data, setting) / f"{name}.npy"
