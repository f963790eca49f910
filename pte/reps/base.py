"""The representation interface: how a method turns ids (and language/profile
embeddings) into the vectors a backbone works with. A backbone asks only this
interface and never branches on the method's name.

``base``: ID embeddings only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from pte.data import Dataset
from pte.splits import Split


@dataclass
class RepContext:
    """What a method may read to build itself: the data, the split and the run's choices."""
    ds: Dataset
    split: Split
    dim: int                      # the backbone's requested hidden size
    device: torch.device = torch.device("cpu")
    options: dict = field(default_factory=dict)   # e.g. {"item_emb": path, "user_emb": path}


@dataclass
class Batch:
    """What a backbone knows about a training batch, for methods with an auxiliary loss."""
    users: torch.Tensor | None          # [B] internal user ids (None or -1 where unknown)
    inputs: torch.Tensor                # [B, L] history item ids, padded with n_items
    hidden: torch.Tensor                # [B, dim] the backbone's user/sequence states
    encode: Callable[[torch.Tensor], torch.Tensor] | None = None  # inputs -> [B, dim] states


class Representation(nn.Module):
    """Base class. Subclasses set ``self.dim`` and implement ``item_table``."""
    dim: int

    def item_table(self) -> torch.Tensor:
        """[n_items, dim] vectors of every item, recomputed per call (gradients flow)."""
        raise NotImplementedError

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        """[B, dim] vectors of known users, or None when the method has no user side."""
        return None

    def sequence_user(self, users: torch.Tensor) -> torch.Tensor | None:
        """[B, dim] a user-side vector that sequence models add to their final state
        (e.g. a profile); None when the method has none. users may hold -1 (unknown)."""
        return None

    def add_user(self, states: torch.Tensor, users: torch.Tensor | None) -> torch.Tensor:
        """states [B, L, dim] plus the method's user-side vector, where it has one."""
        extra = self.sequence_user(users) if users is not None else None
        return states if extra is None else states + extra.unsqueeze(1)

    def contextualize(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Sequence models pass their input embeddings [B, L, dim] (real: [B, L] non-pad) through
        here before encoding; methods that fuse views inside the sequence override it."""
        return x

    def aux_loss(self, batch: Batch) -> torch.Tensor | None:
        """An extra training loss the method adds to the backbone's (None if none)."""
        return None


def id_table(n: int, dim: int, std: float = 0.02) -> nn.Embedding:
    emb = nn.Embedding(n, dim)
    nn.init.normal_(emb.weight, std=std)
    return emb


class Base(Representation):
    """ID embeddings for items and users, trained by the backbone's loss."""

    def __init__(self, ctx: RepContext):
        super().__init__()
        self.dim = ctx.dim
        self.items = id_table(ctx.ds.n_items, ctx.dim)
        self.users = id_table(ctx.ds.n_users, ctx.dim)

    def item_table(self) -> torch.Tensor:
        return self.items.weight

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.users(users)
