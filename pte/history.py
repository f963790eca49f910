"""The history encoder the sequence backbones share: left-padded item ids -> causal states.

SASRec and DreamRec differ in their blocks, not in how a history enters them: item vectors
(through the method's ``contextualize``), position embeddings counting from the first real
item of the (left-padded) window, dropout, padding zeroed after every block, a final LayerNorm.
"""
from __future__ import annotations

import math

import torch

ENCODE_POSITIONS = 2 ** 18   # rows x positions encoded at once when scoring: attention holds rows x L x L


def causal_mask(real: torch.Tensor) -> torch.Tensor:
    """[B, L, L] allowed attention: earlier-or-same positions holding real items. Every query
    keeps itself, so a padded position (or an empty history) never sees an empty set."""
    l = real.shape[1]
    causal = torch.ones(l, l, dtype=torch.bool, device=real.device).tril()
    return (causal & real[:, None, :]) | torch.eye(l, dtype=torch.bool, device=real.device)


class CausalHistory:
    """Mixin for a backbone module with ``rep``, ``n_items``, ``max_len``, ``pos`` (position
    embeddings), ``drop``, ``blocks`` (each called as block(x, mask)) and ``norm``."""
    scale_inputs = False   # True: item vectors times sqrt(d) before positions are added (SASRec)

    def input_norm(self, x: torch.Tensor) -> torch.Tensor:
        """Applied to item vectors + positions before dropout (SASRec's post-norm layout: a LayerNorm)."""
        return x

    def last_states(self, state, users: torch.Tensor | None, inputs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, d] state(users, inputs, items)[:, -1], a slice of rows at a time, so scoring memory
        is bounded by ENCODE_POSITIONS and does not grow with the rows of an evaluation batch."""
        step = max(1, ENCODE_POSITIONS // min(inputs.shape[1], self.max_len))
        return torch.cat([state(None if users is None else users[s:s + step], inputs[s:s + step], items)[:, -1]
                          for s in range(0, len(inputs), step)])

    def encode(self, inputs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, L, d] hidden states; inputs [B, L] are item ids left-padded with n_items."""
        inputs = inputs[:, -self.max_len:]
        real = inputs != self.n_items
        table = torch.cat([items, items.new_zeros(1, items.shape[1])])
        # positions count from the first real item, so a target predicted at any position of a
        # training window sees the same positions as a history of that length does at evaluation
        pos = self.pos((real.long().cumsum(1) - 1).clamp(min=0))
        x = table[inputs] * math.sqrt(items.shape[1]) if self.scale_inputs else table[inputs]
        x = self.drop(self.input_norm(self.rep.contextualize(x, real) + pos)) * real.unsqueeze(-1)
        mask = causal_mask(real).unsqueeze(1)
        for block in self.blocks:
            x = block(x, mask) * real.unsqueeze(-1)
        return self.norm(x)
