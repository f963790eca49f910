"""The shared history mask: causal, real keys only, never an empty row."""
import torch

from pte.history import causal_mask


def test_causal_mask():
    real = torch.tensor([[False, True, True], [False, False, False]])
    m = causal_mask(real)
    assert m[0].tolist() == [[True, False, False], [False, True, False], [False, True, True]]
    assert m[1].tolist() == torch.eye(3, dtype=torch.bool).tolist()   # empty history: itself only
