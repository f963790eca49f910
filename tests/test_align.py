"""The aligner's InfoNCE: the sampled form is the exact one when it samples every item, and its
cost per step does not depend on the catalog's size."""
import torch

from pte.align import HISTORY, Aligner, infonce


def aligner(n_items: int, d: int = 8, seed: int = 0) -> Aligner:
    g = torch.Generator().manual_seed(seed)
    model = Aligner(torch.randn(n_items, d, generator=g).numpy(), None, hidden=16, dropout=0.0)
    for p in model.parameters():   # off the identity start, so the item head matters
        torch.nn.init.normal_(p, std=0.3, generator=g)
    return model


def batch(n_items: int, size: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    prefix = torch.randint(n_items, (size, HISTORY), generator=g)
    prefix[:, :3] = n_items            # left padding
    return torch.full((size,), -1), prefix, torch.randint(n_items, (size,), generator=g)


def test_sampled_infonce_is_exact_when_every_item_is_a_candidate():
    model = aligner(6)
    users, prefix, _ = batch(6, 6)
    targets = torch.tensor([3, 0, 5, 1, 4, 2])     # every item is some row's target
    exact = infonce(model, users, prefix, targets, tau=0.1)
    sampled = infonce(model, users, prefix, targets, tau=0.1, negatives=2, gen=torch.Generator().manual_seed(0))
    assert torch.allclose(exact, sampled, atol=1e-6)
    g_exact = torch.autograd.grad(exact, model.item_head[0].weight)[0]
    g_sampled = torch.autograd.grad(sampled, model.item_head[0].weight)[0]
    assert torch.allclose(g_exact, g_sampled, atol=1e-6)


def test_sampled_infonce_differs_when_items_are_left_out():
    model = aligner(500)
    users, prefix, targets = batch(500, 4)
    exact = infonce(model, users, prefix, targets, tau=0.1)
    sampled = infonce(model, users, prefix, targets, tau=0.1, negatives=8, gen=torch.Generator().manual_seed(0))
    assert sampled < exact     # fewer negatives in the softmax: a smaller loss


def test_a_sampled_step_touches_a_bounded_number_of_items():
    rows_seen = []
    for n_items in (1_000, 100_000):
        model = aligner(n_items)
        model.item_head.register_forward_hook(lambda m, x, y: rows_seen.append(x[0].shape[0]))
        users, prefix, targets = batch(n_items, 32)
        infonce(model, users, prefix, targets, tau=0.1, negatives=64, gen=torch.Generator().manual_seed(0))
        assert rows_seen[-1] <= 32 * (HISTORY + 1) + 64
    infonce(model, users, prefix, targets, tau=0.1)            # the exact form reads every item
    assert rows_seen[-1] == 100_000


def fitted(split, epochs: int, checkpoint=None, signature: str = "a", seed: int = 0):
    import numpy as np

    from pte.align import fit_aligner
    torch.manual_seed(seed)   # dropout draws from the global generator: the checkpoint must carry it
    E = np.random.default_rng(0).normal(size=(split.n_items, 8)).astype(np.float32)
    model = Aligner(E, None, hidden=16, dropout=0.1)
    fit = fit_aligner(model, split, epochs, lr=1e-2, tau=0.1, batch_size=4096, seed=seed, checkpoint=checkpoint,
                      signature=signature, log=lambda *_: None)
    return model, fit


def test_an_interrupted_alignment_resumes_to_the_same_result(splits, tmp_path):
    split = splits["longtail"]
    whole, fit_whole = fitted(split, 3)
    ck = tmp_path / "align.checkpoint.pt"
    fitted(split, 2, checkpoint=ck)                   # "killed" after epoch 2: its checkpoint stays
    resumed, fit_resumed = fitted(split, 3, checkpoint=ck, seed=7)   # another process, another global seed
    assert fit_resumed["history"] == fit_whole["history"]
    for k, v in whole.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_a_checkpoint_of_other_inputs_is_not_resumed(splits, tmp_path):
    split = splits["longtail"]
    ck = tmp_path / "align.checkpoint.pt"
    fitted(split, 1, checkpoint=ck, signature="other inputs")
    _, fit = fitted(split, 1, checkpoint=ck, signature="these inputs")
    assert [h["epoch"] for h in fit["history"]] == [0, 1]   # trained from epoch 0, not skipped
    _, again = fitted(split, 1, checkpoint=ck, signature="these inputs")
    assert again["history"] == fit["history"]          # a finished checkpoint: nothing left to train
