"""The text encoder that turns item text and profiles into vectors (MiniLM by default)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

DEFAULT_ENCODER = "minilm"  # the bundled all-MiniLM-L6-v2; or any sentence-transformers path


def encoder_path(name: str = DEFAULT_ENCODER) -> str:
    if name in ("", "minilm", "default"):
        from pte.data.assets import minilm_dir
        return str(minilm_dir())
    return name


@lru_cache(maxsize=2)
def load_encoder(name: str = DEFAULT_ENCODER, device: str | None = None):
    """A local folder (the bundled MiniLM included) loads with ``local_files_only=True``, so
    nothing waits on a network; a hub name is left to the hub."""
    from sentence_transformers import SentenceTransformer
    path = encoder_path(name)
    return SentenceTransformer(path, device=device, local_files_only=Path(path).exists())


def encode(texts: list[str], name: str = DEFAULT_ENCODER, batch_size: int = 128,
           progress: bool = False) -> np.ndarray:
    """L2-normalised float32 vectors [len(texts), dim]; empty texts are an error."""
    empty = [i for i, t in enumerate(texts) if not t or not t.strip()]
    if empty:
        raise ValueError(f"{len(empty)} empty texts to encode (first at position {empty[0]})")
    model = load_encoder(name)
    vec = model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                       convert_to_numpy=True, normalize_embeddings=True)
    return vec.astype(np.float32)
