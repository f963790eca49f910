"""Conformance of every registered representation method (pte.reps.METHODS)."""
import pytest
import torch

from pte import reps
from pte.reps import Batch, RepContext

DIM = 32


def build(name, ml100k, split, **options):
    torch.manual_seed(0)
    return reps.build(name, RepContext(ml100k, split, DIM, options=options))


@pytest.mark.parametrize("name", sorted(reps.METHODS))
@pytest.mark.parametrize("setting", ["coldstart", "longtail"])
def test_interface(name, setting, ml100k, splits, monkeypatch):
    import pte.reps.pte as pte_module
    monkeypatch.setattr(pte_module, "PTE_USER_SIDE", False)  # PtE on item text: no profile files needed
    rep = build(name, ml100k, splits[setting], item_emb=str(ml100k.root / "item_text.npy"))
    table = rep.item_table()
    assert table.shape == (ml100k.n_items, rep.dim) and torch.isfinite(table).all()
    users = torch.arange(5)
    u = rep.user_vectors(users)
    assert u is None or (u.shape == (5, rep.dim) and torch.isfinite(u).all())
    inputs = torch.randint(ml100k.n_items, (4, 6))
    x = table[inputs]
    y = rep.contextualize(x, torch.ones(4, 6, dtype=torch.bool))
    assert y.shape == x.shape

    # gradients reach every trainable parameter through the table (and the aux loss); frozen parts stay put
    # (tensors only: a method's extra state, e.g. LLM-ESR's cached user states, is meant to change)
    frozen = {k: v.clone() for k, v in rep.state_dict().items() if isinstance(v, torch.Tensor)}
    trainable = [p for p in rep.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, lr=0.1) if trainable else None
    hidden = torch.randn(4, rep.dim, requires_grad=True)
    loss = (rep.item_table() ** 2).mean() + (y ** 2).mean()
    if u is not None:
        loss = loss + (rep.user_vectors(users) ** 2).mean()
    aux = rep.aux_loss(Batch(users[:4], inputs, hidden, encode=lambda i: table.detach()[i.clamp(max=len(table) - 1)].mean(1)))
    if aux is not None:
        assert aux.dim() == 0 and torch.isfinite(aux)
        loss = loss + aux
    if opt is not None:
        opt.zero_grad()
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable), f"{name}: no gradient"
        opt.step()
    for k, v in rep.state_dict().items():
        if k not in frozen:
            continue
        param = dict(rep.named_parameters()).get(k)
        if param is None or not param.requires_grad:
            assert torch.equal(v, frozen[k]), f"{name}: frozen {k} changed"
