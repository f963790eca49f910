"""The shared history mask: causal, real keys only, never an empty row."""
import torch

from pte.history import causal_mask


def test_causal_mask():
    real = torch.tensor([[False, True, True], [False, False, False]])
    m = causal_mask(real)
    assert m[0].tolist() == [[True, False, False], [False, True, False], [False, True, True]]
    assert m[1].tolist() == torch.eye(3, dtype=torch.bool).tolist()   # empty history: itself only


def test_scoring_encodes_a_bounded_number_of_rows_at_a_time(monkeypatch):
    import pte.history

    class Toy(pte.history.CausalHistory):
        max_len = 8

    seen = []

    def state(users, inputs, items):       # [B, L, d]: depends on each row's own user and inputs only
        seen.append(len(inputs))
        return inputs.float().cumsum(1).unsqueeze(-1) * items[0] + users[:, None, None]

    users, inputs, items = torch.arange(100), torch.randint(5, (100, 8)), torch.randn(3, 4)
    whole = state(users, inputs, items)[:, -1]
    monkeypatch.setattr(pte.history, "ENCODE_POSITIONS", 8 * 30)
    seen.clear()
    assert torch.equal(Toy().last_states(state, users, inputs, items), whole)
    assert seen == [30, 30, 30, 10]
