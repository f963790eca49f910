"""The representation interface: how a method turns ids (and language/profile
embeddings) into the vectors a backbone works with. A backbone asks only this
interface and never branches on the method's name.

``base``: ID embeddings only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
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
    reads: dict = field(default_factory=dict)     # the method's declared artifacts (Representation.reads)
    backbone: str = ""            # the backbone asking (a method may plug into each its own way)

    def read(self, option: str, kind: str) -> np.ndarray | None:
        """The embedding file behind ``option`` (item_emb | user_emb): the flag's path, else the
        artifact the method declares for this setting (pte.pipeline); None when there is neither.
        Prints the file, and refuses one made for another setting."""
        from pte.data import DataError
        from pte.embeddings import load_embeddings
        from pte.pipeline import artifact_path, maker
        given = self.options.get(option)
        if not given and option not in self.reads:
            return None
        path = Path(given) if given else artifact_path(self.ds.name, self.reads[option], self.split.setting)
        if not given and not path.exists():
            made_by = maker(self.reads[option], self.split.setting)
            raise DataError(f"{path}: this method reads {self.reads[option]} here. Make it with "
                            f"`python {' '.join(made_by.command(self.ds.name))}` (or `python reproduce.py`, "
                            f"which runs every stage it needs), or pass --{option} FILE")
        vectors = load_embeddings(path, self.ds, kind, setting=self.split.setting)
        print(f"--{option}: read {path} ({vectors.shape[0]} x {vectors.shape[1]})", flush=True)
        return vectors


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
    backbones: tuple[str, ...] | None = None    # the backbones it runs on (None: every one)
    READS: dict[str, str] = {}                  # option -> the artifact it reads by default (pte.pipeline)

    @classmethod
    def reads(cls, setting: str) -> dict[str, str]:
        """What a run in ``setting`` reads, e.g. {"item_emb": "item_profile_aligned"}: the
        orchestrator passes these files and starts the run once the stages making them are done."""
        return dict(cls.READS)

    def item_table(self) -> torch.Tensor:
        """[n_items, dim] vectors of every item, recomputed per call (gradients flow)."""
        raise NotImplementedError

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        """[B, dim] vectors of known users, or None when the method has no user side."""
        return None

    def retrieval_table(self) -> torch.Tensor | None:
        """[n_items, d] the item vectors of the method's profiles, as read, for the retrieval term
        (pte.retrieval); None when the method has none."""
        return None

    def sequence_user(self, users: torch.Tensor | None, inputs: torch.Tensor) -> torch.Tensor | None:
        """[B, L, dim] a user-side vector per position that sequence models add to their states,
        or None when the method has none. Position t may use only inputs[:, :t + 1] (the items
        before the target it predicts), never a per-user summary of the whole sequence: in
        training that would contain the very targets being predicted. users may hold -1."""
        return None

    def add_user(self, states: torch.Tensor, users: torch.Tensor | None, inputs: torch.Tensor) -> torch.Tensor:
        """states [B, L, dim] plus the method's per-position user-side vector, where it has one;
        inputs [B, L] are the item ids the states were encoded from (left-padded with n_items)."""
        extra = self.sequence_user(users, inputs)
        return states if extra is None else states + extra

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
