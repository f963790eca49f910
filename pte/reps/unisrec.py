"""UniSRec (Hou et al., KDD 2022) without pre-training: item = MoE adaptor over the frozen E.

Each of UNISREC_EXPERTS experts is a parametric whitening layer PW_i(x) = W_i (dropout(x) - b_i)
(no bias in W_i; b_i starts at 0, W_i at N(0, 0.02)). A gate mixes them: logits x W_g, plus,
while training, noise N(0, 1) * (softplus(x W_noise) + 1e-2); softmax over all experts (no
top-k); W_g and W_noise start at 0, so the mixture starts uniform. item_i = sum_k g_k PW_k(x_i).
This follows UniSRec's MoEAdaptorLayer as AlphaFuse reran it (8 experts, dropout 0.2), whose
numbers the paper's tables mirror; the experts are batched as one [experts, d_in, dim] weight.

Setting: UniSRec's inductive variant (text only, UNISREC_ID = False) is the default, as in
AlphaFuse's rerun and the paper's "no pre-training" runs: every item is scored from its text.
UNISREC_ID = True adds a trainable item ID embedding (std 0.02), the transductive variant.

Deliberate differences: no multi-domain pre-training stage (the paper did none either); E is
rescaled to RMS-1 entries (AlphaFuse multiplies its E by 40, the same for its encoder) instead of
UniSRec's raw BERT [CLS] vectors; UniSRec's cosine/temperature scoring belongs to its backbone,
not to the representation, so backbones score with their own dot product. User side as MoRec:
a user ID table in longtail (for BiasMF), none in coldstart.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pte.reps.base import RepContext, Representation, id_table
from pte.reps.common import frozen, item_language, rescale, user_ids

UNISREC_EXPERTS = 8      # parametric-whitening experts
UNISREC_DROPOUT = 0.2    # dropout on E inside every expert (independent masks per expert)
UNISREC_NOISE = True     # noisy gating while training
UNISREC_ID = False       # True: + a trainable item ID embedding (transductive); False: text only (inductive)
UNISREC_SCALE = 0.0      # multiplier on E; 0: make E's entries RMS 1


class MoEAdaptor(nn.Module):
    def __init__(self, experts: int, d_in: int, d_out: int, dropout: float, noise: bool):
        super().__init__()
        self.noise, self.p = noise, dropout
        self.weight = nn.Parameter(torch.randn(experts, d_in, d_out) * 0.02)  # W_i, no bias
        self.bias = nn.Parameter(torch.zeros(experts, d_in))                  # b_i, subtracted from the input
        self.w_gate = nn.Parameter(torch.zeros(d_in, experts))
        self.w_noise = nn.Parameter(torch.zeros(d_in, experts))

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """[N, experts] mixture weights (rows sum to 1); noisy while training."""
        logits = x @ self.w_gate
        if self.noise and self.training:
            logits = logits + torch.randn_like(logits) * (F.softplus(x @ self.w_noise) + 1e-2)
        return F.softmax(logits, dim=-1)

    def experts(self, x: torch.Tensor) -> torch.Tensor:
        """[N, experts, d_out] every expert's output (each expert draws its own dropout mask)."""
        xs = x.unsqueeze(0).expand(self.weight.shape[0], *x.shape)
        if self.training and self.p > 0:
            # inverted dropout from a uniform draw: the same distribution as nn.Dropout at half
            # its cost on CPU, where these masks (experts x items x d_in) dominate a training step.
            # The draw becomes the output in place (keep -> 1.0, then times x / (1 - p)): the same
            # numbers, bit for bit, as x * keep / (1 - p), without its three full-size temporaries
            xs = torch.rand(xs.shape, device=x.device).ge_(self.p).to(x.dtype).mul_(x / (1 - self.p))
        # W_i (x - b_i) computed as W_i x - W_i b_i: E is frozen, so autograd then needs no gradient
        # for the [experts, N, d_in] input (a third of the step's large matmuls) and no full-size
        # subtraction; equal to the direct form up to float rounding
        shift = torch.bmm(self.bias.unsqueeze(1), self.weight)              # [experts, 1, d_out]
        return (torch.bmm(xs, self.weight) - shift).transpose(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.gates(x).unsqueeze(-1) * self.experts(x)).sum(1)


class UniSRec(Representation):
    READS = {"item_emb": "item_text"}     # language embeddings E of the items' own text

    def __init__(self, ctx: RepContext):
        super().__init__()
        self.dim = ctx.dim
        lang = rescale(item_language(ctx), UNISREC_SCALE)
        self.register_buffer("lang", frozen(lang), persistent=False)
        self.moe = MoEAdaptor(UNISREC_EXPERTS, lang.shape[1], ctx.dim, UNISREC_DROPOUT, UNISREC_NOISE)
        self.items = id_table(ctx.ds.n_items, ctx.dim) if UNISREC_ID else None
        self.users = user_ids(ctx, ctx.dim)

    def item_table(self) -> torch.Tensor:
        table = self.moe(self.lang)
        return table if self.items is None else table + self.items.weight

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        return None if self.users is None else self.users(users)
