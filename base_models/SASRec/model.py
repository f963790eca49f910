"""SASRec (Kang & McAuley, 2018): causal self-attention over the item sequence.

Deviations from the original: pre-LayerNorm blocks with PyTorch's fused attention by default
("post" gives RecBole's layout: LayerNorm on the input sum and after every residual, inputs not
scaled, every weight drawn from N(0, 0.02)), and a softmax (cross-entropy) loss over all items
(RecBole's "CE"), which trains far faster per epoch than one sampled negative per position;
"bce" gives the original loss.
Sequences are left-padded, so the last position always holds the most recent item;
position embeddings count from the first real item, as the original's do.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pte.dropout import Dropout
from pte.history import CausalHistory
from pte.reps import Batch, Representation


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, inner: int, post: bool = False):
        super().__init__()
        self.heads, self.dropout, self.post = heads, dropout, post
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, inner), nn.GELU(), Dropout(dropout), nn.Linear(inner, dim))
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.post:
            x = self.norm1(x + self.drop(self.out(self.attend(x, mask))))
            return self.norm2(x + self.drop(self.ffn(x)))
        x = x + self.drop(self.out(self.attend(self.norm1(x), mask)))
        return x + self.drop(self.ffn(self.norm2(x)))

    def attend(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, l, d = x.shape
        q, k, v = self.qkv(x).view(b, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return a.transpose(1, 2).reshape(b, l, d)


class SASRec(CausalHistory, nn.Module):
    def __init__(self, rep: Representation, n_items: int, max_len: int, layers: int, heads: int, dropout: float,
                 inner: int = 0, norm: str = "pre"):
        super().__init__()
        self.rep, self.n_items, self.max_len = rep, n_items, max_len
        d, post = rep.dim, norm == "post"
        self.scale_inputs = not post   # RecBole adds positions to unscaled item vectors
        self.pos = nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList(Block(d, heads, dropout, inner or d, post) for _ in range(layers))
        self.norm = nn.Identity() if post else nn.LayerNorm(d)   # post: every block already ends normalised
        self.norm_in = nn.LayerNorm(d) if post else nn.Identity()
        self.drop = Dropout(dropout)
        if post:
            for m in [self.pos, *self.blocks.modules()]:
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)

    def input_norm(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm_in(x)

    def state(self, users: torch.Tensor | None, inputs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, L, d] states; the method's user-side vector (if any) joins each position."""
        return self.rep.add_user(self.encode(inputs, items), users, inputs[:, -self.max_len:])

    def score(self, users: torch.Tensor | None, inputs: torch.Tensor) -> torch.Tensor:
        items = self.rep.item_table()
        return self.last_states(self.state, users, inputs, items) @ items.T

    def loss(self, users: torch.Tensor | None, inputs: torch.Tensor, targets: torch.Tensor, kind: str = "ce") -> torch.Tensor:
        """Next-item loss. targets [B] (last position) or [B, L] (every position; pad = n_items)."""
        items = self.rep.item_table()
        states = self.state(users, inputs, items)
        if targets.dim() == 1:
            h, t = states[:, -1], targets
        else:
            keep = targets != self.n_items
            h, t = states[keep], targets[keep]
        if kind == "ce":
            loss = F.cross_entropy(h @ items.T, t)
        else:
            neg = torch.randint(self.n_items, t.shape, device=t.device)
            logits = torch.stack([(h * items[t]).sum(-1), (h * items[neg]).sum(-1)], -1)
            loss = F.binary_cross_entropy_with_logits(logits, torch.tensor([1.0, 0.0], device=t.device).expand_as(logits))
        aux = self.rep.aux_loss(Batch(users, inputs, states[:, -1],
                                      encode=lambda x: self.encode(x, self.rep.item_table())[:, -1]))
        return loss if aux is None else loss + aux
