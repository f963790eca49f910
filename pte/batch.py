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


def grouped_batches(groups: torch.Tensor, batch_size: int,
                    generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Shuffled index batches covering every row once, a group's rows (e.g. a user's interactions)
    always in the same batch: groups in random order; a batch takes every group that starts in
    its window of batch_size rows, so it overshoots batch_size by less than one group."""
    order = torch.argsort(torch.randperm(int(groups.max()) + 1, generator=generator)[groups], stable=True)
    _, sizes = torch.unique_consecutive(groups[order], return_counts=True)
    first = torch.cumsum(sizes, 0) - sizes                # position of each group's first row
    _, per_batch = torch.unique_consecutive(torch.repeat_interleave(first // batch_size, sizes), return_counts=True)
    yield from torch.split(order, per_batch.tolist())


def causal_windows(split: Split, max_len: int, stride: int = 0,
                   empty_prefix: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training windows over every user's training sequence, for next-item prediction at every position.

    Windows of max_len + 1 items end every ``stride`` items, counted back from a sequence's end
    (inputs = window[:-1], targets = window[1:], both left-padded). With stride < max_len they
    overlap, and a target is kept only where it sits in the last ``stride`` positions of its
    window (everywhere in a sequence's earliest window), so every item except a sequence's first
    is a target exactly once, with >= max_len - stride items of context where the history has them.
    stride 0 = max_len: disjoint windows. ``empty_prefix``: every sequence opens with a PAD input,
    so its first item is a target too, predicted from an empty history (coldstart's samples
    include that case). Returns (user, inputs, targets); masked targets are PAD.
    """
    stride = min(stride or max_len, max_len)
    ptr, items = split.train_ptr, split.train_items
    if empty_prefix:
        items = np.insert(items, ptr[:-1], PAD)
        ptr = ptr + np.arange(len(ptr))
    starts, ends = ptr[:-1], ptr[1:]
    n_targets = np.maximum(ends - starts - 1, 0)
    n_win = np.where(n_targets > 0, 1 + np.ceil(np.maximum(n_targets - max_len, 0) / stride), 0).astype(np.int64)
    user = np.repeat(np.arange(len(starts)), n_win)
    k = np.arange(n_win.sum()) - np.repeat(np.cumsum(n_win) - n_win, n_win)
    win_end = ends[user] - k * stride
    inputs = windows(items, starts[user], win_end - 1, max_len)
    targets = windows(items, starts[user] + 1, win_end, max_len)
    earliest = k == n_win[user] - 1
    duplicate = (np.arange(max_len)[None, :] < max_len - stride) & ~earliest[:, None]
    return user, inputs, np.where(duplicate, PAD, targets).astype(np.int32)
