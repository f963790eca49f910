import numpy as np
import pytest
import torch

from pte.batch import causal_windows, grouped_batches
from pte.splits import PAD


@pytest.mark.parametrize("stride", [0, 25, 7])
def test_windows_cover_every_target_once_with_context(splits, stride):
    split = splits["longtail"]
    users, inputs, targets = causal_windows(split, 50, stride)
    assert (targets >= 0).sum() == (np.diff(split.train_ptr) - 1).clip(0).sum()
    u = 5
    seq = split.train_sequence(u)
    position = {int(item): j for j, item in enumerate(seq)}  # ml-100k has no repeated items
    seen = []
    for r in np.flatnonzero(users == u):
        for pos in np.flatnonzero(targets[r] != PAD):
            ctx = inputs[r, :pos + 1]
            ctx = ctx[ctx != PAD]
            j = position[int(targets[r, pos])]
            assert (seq[j - len(ctx):j] == ctx).all()          # the context is what came just before
            assert len(ctx) >= min(j, 50 - (stride or 50))      # and long enough
            seen.append(j)
    assert sorted(seen) == list(range(1, len(seq)))             # every target once


def test_stride_one_with_empty_prefix_gives_exactly_the_coldstart_samples(splits):
    split = splits["coldstart"]
    prefix = split.info["prefix"]
    users, inputs, targets = causal_windows(split, prefix, 1, empty_prefix=True)
    rows, pos = np.nonzero(targets != PAD)
    contexts = np.full((len(rows), prefix), PAD, np.int32)
    for k, (r, p) in enumerate(zip(rows, pos)):  # the context of a target: its window up to it, left-padded
        contexts[k, prefix - 1 - p:] = inputs[r, :p + 1]
    windows = sorted(zip(users[rows].tolist(), targets[rows, pos].tolist(), map(tuple, contexts.tolist())))
    s = split.train_samples
    samples = sorted(zip(s.users.tolist(), s.targets.tolist(), map(tuple, s.inputs.tolist())))
    assert windows == samples   # every (user, prefix -> next item) sample, the empty prefix included, once


def test_grouped_batches_cover_every_row_once_and_keep_each_group_together():
    groups = torch.tensor([3, 0, 3, 1, 1, 1, 2, 0, 3, 4, 4, 4, 4, 4, 4, 4])  # group 4 > batch_size
    out = list(grouped_batches(groups, 4, torch.Generator().manual_seed(0)))
    assert sorted(torch.cat(out).tolist()) == list(range(len(groups)))
    owner = {int(g): k for k, b in enumerate(out) for g in groups[b]}
    assert all(owner[int(g)] == k for k, b in enumerate(out) for g in groups[b])  # no group split
    assert len(out) > 1 and all(len(b) < 4 + 7 for b in out)  # a batch overshoots by less than a group
    orders = {tuple(torch.cat(list(grouped_batches(groups, 4, torch.Generator().manual_seed(s)))).tolist())
              for s in range(5)}
    assert len(orders) > 1  # shuffled
