import numpy as np
import pytest

from pte.batch import causal_windows
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
