"""BiasMF: user · item + item bias, trained with BPR (or a softmax over all or sampled items).

Users the model has never seen (coldstart) are folded in from their history: the user
vector is a learned linear map of the mean of their prefix items' vectors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pte.reps import Batch, Representation


class BiasMF(nn.Module):
    def __init__(self, rep: Representation, n_items: int, fold_in_history: bool):
        super().__init__()
        self.rep, self.n_items, self.fold_in = rep, n_items, fold_in_history
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.history = nn.Linear(rep.dim, rep.dim) if fold_in_history else None

    def user_vectors(self, users: torch.Tensor, inputs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        if not self.fold_in:
            return self.rep.user_vectors(users)
        real = (inputs != self.n_items).unsqueeze(-1).float()
        hist = items[inputs.clamp(max=self.n_items - 1)] * real
        return self.history(hist.sum(1) / real.sum(1).clamp(min=1))

    def score(self, users: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        items = self.rep.item_table()
        return self.user_vectors(users, inputs, items) @ items.T + self.item_bias

    def softmax_loss(self, users, inputs, pos, reg: float, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy of each positive against every item, or against ``candidates`` (items shared by
        the batch's rows; a row's own positive among them is masked out)."""
        items = self.rep.item_table()
        if candidates is None and not self.fold_in:
            # a user's score row is computed once, however many of their interactions the batch
            # holds: with batches grouped by user (longtail) that is ~100x fewer rows to score
            known, row = torch.unique(users, return_inverse=True)
            known_u = self.rep.user_vectors(known)
            logits = known_u @ items.T + self.item_bias
            loss, u = (torch.logsumexp(logits, 1)[row] - logits[row, pos]).mean(), known_u[row]
        else:
            u = self.user_vectors(users, inputs, items)
            if candidates is None:
                loss = F.cross_entropy(u @ items.T + self.item_bias, pos)
            else:
                others = (u @ items[candidates].T + self.item_bias[candidates]).masked_fill(
                    candidates[None] == pos[:, None], float("-inf"))
                own = (u * items[pos]).sum(-1, keepdim=True) + self.item_bias[pos][:, None]
                loss = F.cross_entropy(torch.cat([own, others], 1), torch.zeros_like(pos))
        loss = loss + reg * (u.pow(2).sum(-1) + items[pos].pow(2).sum(-1)).mean()
        aux = self.rep.aux_loss(Batch(users, inputs, u))
        return loss if aux is None else loss + aux

    def bpr_loss(self, users, inputs, pos, neg, reg: float) -> torch.Tensor:
        """BPR of each positive against its negatives, neg [B, K], averaged over the K."""
        items = self.rep.item_table()
        u, p, n = self.user_vectors(users, inputs, items), items[pos], items[neg]
        margin = (u[:, None] * (p[:, None] - n)).sum(-1) + self.item_bias[pos][:, None] - self.item_bias[neg]
        l2 = (u.pow(2).sum(-1) + p.pow(2).sum(-1) + n.pow(2).sum(-1).mean(-1)).mean()
        loss = -F.logsigmoid(margin).mean() + reg * l2
        aux = self.rep.aux_loss(Batch(users, inputs, u))
        return loss if aux is None else loss + aux
