"""The history encoder the sequence backbones share: left-padded item ids -> causal states.

SASRec and DreamRec differ in their blocks, not in how a history enters them: item vectors
(through the method's ``contextualize``), position embeddings counting back from the most
recent item, dropout, padding zeroed after every block, a final LayerNorm.
"""
from __future__ import annotations

import math

import torch


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

    def encode(self, inputs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, L, d] hidden states; inputs [B, L] are item ids left-padded with n_items."""
        inputs = inputs[:, -self.max_len:]
        l = inputs.shape[1]
        real = inputs != self.n_items
        table = torch.cat([items, items.new_zeros(1, items.shape[1])])
        pos = self.pos(torch.arange(self.max_len - l, self.max_len, device=inputs.device))
        x = table[inputs] * math.sqrt(items.shape[1]) if self.scale_inputs else table[inputs]
        x = self.drop(self.rep.contextualize(x, real) + pos) * real.unsqueeze(-1)
        mask = causal_mask(real).unsqueeze(1)
        for block in self.blocks:
            x = block(x, mask) * real.unsqueeze(-1)
        return self.norm(x)
