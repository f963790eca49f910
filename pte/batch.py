"""Turning split arrays into training batches: padding, windows, shuffled index batches."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from pte.splits import PAD, Split, windows


def as_tensor(inputs: np.ndarray, pad: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Item-id matrix with the split's PAD (-1) replaced by the model's pad index."""
    t = torch.as_tensor(inputs, dtype=torch.long)
    return t.masked_fill(t == PAD, pad).to(device)


def batches(n: int, batch_size: int, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Shuffled index batches covering 0..n-1 once."""
    perm = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield perm[start:start + batch_size]


def causal_windows(split: Split, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training windows over every user's training sequence, for next-item prediction at every position.

    Each sequence is cut from its end into windows of max_len + 1 items (inputs = window[:-1],
    targets = window[1:], both left-padded), so every training item except a sequence's first
    is a target exactly once, whatever the sequence length. Returns (user, inputs, targets).
    """
    ptr = split.train_ptr
    starts, ends = ptr[:-1], ptr[1:]
    n_win = np.maximum(0, np.ceil((ends - starts - 1) / max_len)).astype(np.int64)
    user = np.repeat(np.arange(len(starts)), n_win)
    k = np.arange(n_win.sum()) - np.repeat(np.cumsum(n_win) - n_win, n_win)
    win_end = ends[user] - k * max_len
    items = split.train_items
    inputs = windows(items, starts[user], win_end - 1, max_len)
    targets = windows(items, starts[user] + 1, win_end, max_len)
    return user, inputs, targets
