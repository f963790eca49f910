import pytest
import torch
from torch import nn

from pte.dropout import Dropout


def bernoulli_is_uniform_double() -> bool:
    """True on CPUs whose bernoulli_ draws torch.rand's doubles (not MKL's generator: README, Assumptions)."""
    torch.manual_seed(0)
    a = torch.empty(10_000).bernoulli_(0.3)
    torch.manual_seed(0)
    return torch.equal(a, (torch.rand(10_000, dtype=torch.float64) < 0.3).float())


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_dropout_is_nn_dropout_bit_for_bit(p):
    if not bernoulli_is_uniform_double():
        pytest.skip("this CPU's bernoulli_ uses MKL's generator, so nn.Dropout's masks differ by design")
    x = torch.randn(8, 50, 64, requires_grad=True)
    outs = []
    for layer in (nn.Dropout(p), Dropout(p)):
        torch.manual_seed(1)
        y = layer(x)
        grad, = torch.autograd.grad((y * y).sum(), x)
        outs.append((y, grad, torch.rand(3)))                          # the generator moved alike
    for a, b in zip(*outs):
        assert torch.equal(a, b)


def test_dropout_drops_and_rescales():
    x = torch.ones(200_000)
    y = Dropout(0.2)(x)
    assert set(y.unique().tolist()) == {0.0, 1.25}
    assert abs((y == 0).float().mean().item() - 0.2) < 0.005
    layer = Dropout(0.2).eval()
    assert torch.equal(layer(x), x)                                    # eval: identity
    assert torch.equal(Dropout(0.0)(x), x) and torch.equal(Dropout(1.0)(x), torch.zeros_like(x))
