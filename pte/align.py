"""Task alignment of profile embeddings: a contrastive head trained on training interactions.

Profile embeddings from a sentence encoder measure textual similarity, not "will this user
take this item next". The aligner learns, on training interactions only,
    key(i)   = normalize(E_i + MLP(E_i))                      (item head, residual)
    query(u) = normalize(A · mean(key(prefix items)) + B · U_u)  (history + user profile)
with InfoNCE (temperature tau) over all items, or over sampled candidates when the catalog is
large (``negatives``: the batch's targets plus that many uniform draws, so a step's cost no
longer grows with the number of items), and writes key(i) for every item and
query(u) over each user's whole training history as new embedding files. Items and users
unseen in training still get vectors: the heads apply to any profile embedding.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pte.batch import as_tensor, batches
from pte.dropout import Dropout
from pte.evaluate import evaluate
from pte.io import atomic_path, run_signature
from pte.splits import Samples, Split, windows

HISTORY = 10


class Aligner(nn.Module):
    def __init__(self, item_emb: np.ndarray, user_emb: np.ndarray | None, hidden: int, dropout: float):
        super().__init__()
        d = item_emb.shape[1]
        self.register_buffer("E", torch.as_tensor(item_emb))
        self.register_buffer("U", torch.as_tensor(user_emb) if user_emb is not None else torch.zeros(0, d))
        self.item_head = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), Dropout(dropout), nn.Linear(hidden, d))
        nn.init.zeros_(self.item_head[-1].weight)   # start at the identity: aligned = raw at step 0
        nn.init.zeros_(self.item_head[-1].bias)
        self.hist = nn.Linear(d, d)
        nn.init.eye_(self.hist.weight)
        nn.init.zeros_(self.hist.bias)
        self.user = nn.Linear(d, d, bias=False)
        nn.init.zeros_(self.user.weight)

    def keys(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        E = self.E if rows is None else self.E[rows]
        return F.normalize(E + self.item_head(E), dim=-1)

    def queries(self, users: torch.Tensor, prefix: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """prefix [B, L] padded with n_items; users may be -1 (no profile)."""
        n = keys.shape[0]
        real = (prefix != n).unsqueeze(-1).float()
        hist = (keys[prefix.clamp(max=n - 1)] * real).sum(1) / real.sum(1).clamp(min=1)
        q = self.hist(hist)
        if len(self.U):
            known = (users >= 0).unsqueeze(-1).float()
            q = q + self.user(self.U[users.clamp(min=0)]) * known
        return F.normalize(q, dim=-1)


def training_samples(split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, prefix of <= HISTORY items, next item) for every training interaction."""
    ptr = split.train_ptr
    lens = np.diff(ptr)
    users = np.repeat(np.arange(split.n_users), lens)
    pos = np.arange(ptr[-1])
    prefix = windows(split.train_items, ptr[:-1][users], pos, HISTORY)
    return users, prefix, split.train_items[pos]


def user_history(split: Split) -> np.ndarray:
    """[n_users, HISTORY] each user's last training items (left-padded), for the user-side output."""
    ptr = split.train_ptr
    return windows(split.train_items, ptr[:-1], ptr[1:], HISTORY)


def infonce(model: Aligner, users: torch.Tensor, prefix: torch.Tensor, targets: torch.Tensor, tau: float,
            negatives: int = 0, gen: torch.Generator | None = None) -> torch.Tensor:
    """InfoNCE of one batch. negatives=0: softmax over every item (exact; a step costs
    batch x items). negatives=K: over the batch's targets plus K uniform draws (mixed negatives,
    no popularity correction), with keys computed only for those and the prefixes' items, so a
    step costs at most batch x (batch + K) logits and batch x (HISTORY + 1) + K item-head rows
    whatever the catalog's size."""
    n = model.E.shape[0]
    if not negatives:
        keys = model.keys()
        return F.cross_entropy(model.queries(users, prefix, keys) @ keys.T / tau, targets)
    drawn = torch.randint(n, (negatives,), generator=gen)
    cand, label = torch.unique(torch.cat([targets, drawn]), return_inverse=True)
    real = prefix != n
    rows, where = torch.unique(torch.cat([cand, prefix[real]]), return_inverse=True)
    keys = model.keys(rows)
    local = torch.full_like(prefix, len(rows))          # the pad index of the local key table
    local[real] = where[len(cand):]
    q = model.queries(users, local, keys)
    return F.cross_entropy(q @ keys[where[:len(cand)]].T / tau, label[:len(targets)])


def fit_aligner(model: Aligner, split: Split, epochs: int, lr: float, tau: float, batch_size: int,
                patience: int = 0, seed: int = 0, negatives: int = 0, checkpoint: Path | None = None,
                signature: str = "", log=print) -> dict:
    """Train with InfoNCE on training interactions, one Adam state throughout; after every epoch
    measure validation retrieval NDCG@10 and keep the best epoch's weights (epoch 0 = untrained).
    Stops after ``patience`` epochs without a better one (0: never). ``negatives``: see infonce.
    ``checkpoint``: after every epoch the whole state (weights, Adam, sampler, best epoch) is
    written there atomically, and a run that finds one with the same ``signature`` continues
    from it, as if it had never stopped (on ml-1m an epoch takes minutes). Returns the history."""
    users, prefix, targets = training_samples(split)
    n_items = model.E.shape[0]
    users_t = torch.as_tensor(users, dtype=torch.long)
    prefix_t = as_tensor(prefix, n_items)
    targets_t = torch.as_tensor(targets, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    state = _resume(checkpoint, signature, model, opt, gen, log)
    if state is None:
        before = retrieval_metrics(model, split.valid)["NDCG@10"]
        state = {"epoch": 0, "before": before, "stopped": False,
                 "history": [{"epoch": 0, "loss": None, "valid_ndcg10": before}],
                 "best": {"epoch": 0, "ndcg": before, "state": copy.deepcopy(model.state_dict())}}
        log(f"  valid retrieval NDCG@10 before training: {before:.4f}")
    before, best, history = state["before"], state["best"], state["history"]
    for epoch in range(state["epoch"] + 1, epochs + 1):
        if state["stopped"]:
            break
        model.train()
        total, steps = 0.0, 0
        for idx in batches(len(targets_t), batch_size, gen):
            loss = infonce(model, users_t[idx], prefix_t[idx], targets_t[idx], tau, negatives, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        ndcg = retrieval_metrics(model, split.valid)["NDCG@10"]
        history.append({"epoch": epoch, "loss": total / steps, "valid_ndcg10": ndcg})
        log(f"  epoch {epoch}: InfoNCE {total / steps:.4f}, valid retrieval NDCG@10 {ndcg:.4f}")
        if ndcg > best["ndcg"]:
            best = {"epoch": epoch, "ndcg": ndcg, "state": copy.deepcopy(model.state_dict())}
        stop = bool(patience) and epoch - best["epoch"] >= patience
        state = {"epoch": epoch, "before": before, "stopped": stop, "history": history, "best": best}
        if checkpoint is not None:
            _save(checkpoint, signature, state, model, opt, gen)
        if stop:
            break
    model.load_state_dict(best["state"])
    model.eval()
    log(f"  kept epoch {best['epoch']}: valid retrieval NDCG@10 {best['ndcg']:.4f} (before {before:.4f})")
    return {"before": before, "best": best["ndcg"], "best_epoch": best["epoch"], "history": history}


def _save(path: Path, signature: str, state: dict, model: Aligner, opt, gen: torch.Generator) -> None:
    with atomic_path(path) as tmp:
        torch.save({"signature": signature, "state": state, "model": model.state_dict(), "opt": opt.state_dict(),
                    "gen": gen.get_state(), "torch_rng": torch.get_rng_state()}, tmp)   # torch_rng: dropout


def _resume(path: Path | None, signature: str, model: Aligner, opt, gen: torch.Generator, log) -> dict | None:
    """The saved state of an interrupted run with this signature (model, Adam and sampler restored)."""
    if path is None or not path.exists():
        return None
    try:
        ck = torch.load(path, weights_only=False)
    except Exception as e:  # a checkpoint from another torch, or damaged: start over, say so
        log(f"  {path}: unreadable checkpoint ({e}); starting from epoch 0")
        return None
    if ck.get("signature") != signature:
        log(f"  {path}: a checkpoint of another configuration or other input files; starting from epoch 0")
        return None
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    gen.set_state(ck["gen"])
    torch.set_rng_state(ck["torch_rng"])
    log(f"  resuming after epoch {ck['state']['epoch']} (best so far: epoch {ck['state']['best']['epoch']}, "
        f"valid retrieval NDCG@10 {ck['state']['best']['ndcg']:.4f}) from {path}")
    return ck["state"]


@torch.no_grad()
def retrieval_metrics(model: Aligner, rows: Samples) -> dict:
    """How well query·key ranks the validation targets (full ranking, the split's masking)."""
    keys = model.keys()
    n = keys.shape[0]

    def score(chunk: Samples) -> torch.Tensor:
        users = torch.as_tensor(chunk.users, dtype=torch.long)
        return model.queries(users, as_tensor(chunk.inputs[:, -HISTORY:], n), keys) @ keys.T

    return evaluate(score, rows)["full"]


@torch.no_grad()
def aligned_vectors(model: Aligner, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """(item keys [n_items, d], user queries [n_users, d]) — users with neither training
    history nor profile get zero rows."""
    keys = model.keys()
    n = keys.shape[0]
    hist = user_history(split)
    users = torch.arange(split.n_users)
    has_profile = (model.U.abs().sum(1) > 0) if len(model.U) else torch.zeros(split.n_users, dtype=torch.bool)
    q = model.queries(torch.where(has_profile, users, -1), as_tensor(hist, n), keys)
    empty = torch.as_tensor((hist < 0).all(1)) & ~has_profile
    q[empty] = 0
    return keys.numpy(), q.numpy()
