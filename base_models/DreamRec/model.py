"""DreamRec (Yang et al., NeurIPS 2023): a DDPM that generates the next item's embedding,
conditioned on a Transformer encoding of the history; items are ranked by inner product
with the generated ("oracle") embedding.

As in the original (YangZhengyi98/DreamRec, DreamRec.py): the denoiser predicts x0 and is
trained with MSE to the target item's embedding; it sees concat(x_t, condition, step
embedding) ('mlp1': one Linear(3d -> d); 'mlp2': Linear -> GELU -> Linear); the condition is
one SASRec-style block's state at the last position, replaced per sample by a learned
none-embedding with probability p (classifier-free guidance); sampling uses
x0 = (1 + w) f(x, h, t) - w f(x, none, t) inside full DDPM ancestral steps.

Deviations:
- Item vectors come from the representation's table, rescaled to unit root-mean-square
  ("item_norm"): the DDPM assumes data at the scale of its unit noise, which the original
  gets from an N(0, 1) initialisation, whereas representations return tables at any scale
  (ID tables start at std 0.02). The rescaling is a single positive factor, so rankings are
  those of the raw table; a whitened table (iDreamRec) is left almost unchanged.
- Sequences are left-padded (the last position holds the most recent item) and position
  embeddings count from the first real item, as in this repository's SASRec.
- By default the diffusion target is detached ("target_grad" off): items learn through the
  history encoder only. Trained through the target too (the original), the MSE has a
  trivial minimiser, all targets alike, and on ml-100k it finds it within two epochs
  (popular items shrink, rankings fall below random; the critique of DreamRec's issue #1).
  --target_grad true restores the original.
- A "ddim" sampler (deterministic, eta = 0, a few evenly spaced steps, as AlphaFuse's
  DreamRec samples) is offered beside the faithful "ddpm" one.
Sampling draws all its noise from a caller's torch.Generator, so scores are reproducible.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pte.dropout import Dropout
from pte.history import CausalHistory
from pte.reps import Batch, Representation

SCHEDULES = ("exp", "linear", "cosine")
DENOISERS = ("mlp1", "mlp2")
SAMPLERS = ("ddpm", "ddim")


def beta_schedule(kind: str, timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """[T] betas: 'exp' (the original's default, a VP-SDE discretisation with beta 0.1 -> 10),
    'linear' (beta_start -> beta_end), 'cosine' (Nichol & Dhariwal)."""
    if kind == "exp":
        beta_min, beta_max = 0.1, 10.0
        x = torch.linspace(1, 2 * timesteps + 1, timesteps, dtype=torch.float64)
        return 1 - torch.exp(-beta_min / timesteps - x * 0.5 * (beta_max - beta_min) / timesteps ** 2)
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    if kind == "cosine":
        x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
        ac = torch.cos((x / timesteps + 0.008) / 1.008 * math.pi / 2) ** 2
        return (1 - ac[1:] / ac[:-1]).clamp(1e-4, 0.9999)
    raise ValueError(f"unknown beta schedule {kind!r}; choose one of {SCHEDULES}")


class Diffusion(nn.Module):
    """The fixed forward process q(x_t | x0) and the reverse steps that use a predicted x0."""

    def __init__(self, betas: torch.Tensor):
        super().__init__()
        ac = torch.cumprod(1 - betas, 0)
        ac_prev = F.pad(ac[:-1], (1, 0), value=1.0)
        buffers = {"alphas_cumprod": ac,
                   "posterior_coef_x0": betas * ac_prev.sqrt() / (1 - ac),
                   "posterior_coef_xt": (1 - ac_prev) * (1 - betas).sqrt() / (1 - ac),
                   "posterior_std": (betas * (1 - ac_prev) / (1 - ac)).sqrt()}
        for name, value in buffers.items():  # not persistent: derived from the constants, not learned
            self.register_buffer(name, value.float(), persistent=False)
        self.timesteps = len(betas)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, t [B]."""
        ac = self.alphas_cumprod[t].unsqueeze(-1)
        return ac.sqrt() * x0 + (1 - ac).sqrt() * noise

    def ddpm_step(self, x: torch.Tensor, x0: torch.Tensor, t: int, generator: torch.Generator | None) -> torch.Tensor:
        """x_{t-1} ~ q(x_{t-1} | x_t, x0): the posterior mean, plus noise except at t = 0."""
        mean = self.posterior_coef_x0[t] * x0 + self.posterior_coef_xt[t] * x
        if t == 0:
            return mean
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return mean + self.posterior_std[t] * noise

    def ddim_steps(self, steps: int) -> list[int]:
        """Evenly spaced timesteps from T-1 down to 0."""
        steps = max(1, min(steps, self.timesteps))
        return sorted({round(float(s)) for s in torch.linspace(0, self.timesteps - 1, steps)}, reverse=True)

    def ddim_step(self, x: torch.Tensor, x0: torch.Tensor, t: int, t_prev: int | None) -> torch.Tensor:
        """Deterministic DDIM (eta = 0) from t to t_prev (None: the end, returns x0)."""
        if t_prev is None:
            return x0
        ac, ac_prev = self.alphas_cumprod[t], self.alphas_cumprod[t_prev]
        eps = (x - ac.sqrt() * x0) / (1 - ac).sqrt()
        return ac_prev.sqrt() * x0 + (1 - ac_prev).sqrt() * eps


class StepEmbedding(nn.Module):
    """Sinusoidal embedding of the timestep, then Linear(d, 2d) -> GELU -> Linear(2d, d)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freq = torch.exp(torch.arange(half, device=t.device) * -(math.log(10000) / (half - 1)))
        angle = t.float()[:, None] * freq[None, :]
        return self.mlp(torch.cat([angle.sin(), angle.cos()], -1))


class Block(nn.Module):
    """The original's block: attention with queries LayerNorm(x) and keys/values x, residual
    on the normalised queries; then a position-wise ReLU FFN with residual and LayerNorm."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm_q, self.norm_ff, self.norm_out = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), Dropout(dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, l, d = x.shape
        q = self.norm_q(x)

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, l, self.heads, d // self.heads).transpose(1, 2)

        # the original scales by sqrt(hidden size), not sqrt(head size)
        a = F.scaled_dot_product_attention(heads(self.q(q)), heads(self.k(x)), heads(self.v(x)), attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0, scale=d ** -0.5)
        f = self.norm_ff(a.transpose(1, 2).reshape(b, l, d) + q)
        return self.norm_out(f + self.ffn(f))


class DreamRec(CausalHistory, nn.Module):
    def __init__(self, rep: Representation, n_items: int, max_len: int, layers: int = 1, heads: int = 1,
                 dropout: float = 0.1, timesteps: int = 200, schedule: str = "exp", beta_start: float = 1e-4,
                 beta_end: float = 0.02, guidance: float = 2.0, p_uncond: float = 0.1, denoiser: str = "mlp1",
                 item_norm: bool = True, target_grad: bool = True):
        super().__init__()
        if denoiser not in DENOISERS:
            raise ValueError(f"unknown denoiser {denoiser!r}; choose one of {DENOISERS}")
        self.rep, self.n_items, self.max_len = rep, n_items, max_len
        self.guidance, self.p_uncond, self.item_norm, self.target_grad = guidance, p_uncond, item_norm, target_grad
        d = rep.dim
        self.pos = nn.Embedding(max_len, d)                # N(0, 1), as the original
        self.blocks = nn.ModuleList(Block(d, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.drop = Dropout(dropout)
        self.none = nn.Parameter(torch.randn(d))           # the dropped condition
        self.step = StepEmbedding(d)
        self.denoiser = (nn.Linear(3 * d, d) if denoiser == "mlp1" else
                         nn.Sequential(nn.Linear(3 * d, 2 * d), nn.GELU(), nn.Linear(2 * d, d)))
        self.diffusion = Diffusion(beta_schedule(schedule, timesteps, beta_start, beta_end))

    def items(self) -> torch.Tensor:
        """[n_items, d] the representation's table in diffusion space (unit RMS if item_norm)."""
        table = self.rep.item_table()
        return table * table.pow(2).mean().clamp_min(1e-12).rsqrt() if self.item_norm else table

    def condition(self, users: torch.Tensor | None, inputs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, L, d] history states, plus the method's user-side vector where it has one."""
        return self.rep.add_user(self.encode(inputs, items), users, inputs[:, -self.max_len:])

    def denoise(self, x: torch.Tensor, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted x0 from x_t [B, d], condition h [B, d] and timesteps t [B] (or [1], shared)."""
        step = self.step(t).expand(len(x), -1)
        return self.denoiser(torch.cat([x, h, step], -1))

    def guided_x0(self, x: torch.Tensor, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Classifier-free guidance: (1 + w) f(x, h, t) - w f(x, none, t)."""
        cond = self.denoise(x, h, t)
        if self.guidance == 0:
            return cond
        return (1 + self.guidance) * cond - self.guidance * self.denoise(x, self.none.expand_as(h), t)

    @torch.no_grad()
    def generate(self, users: torch.Tensor | None, inputs: torch.Tensor, generator: torch.Generator | None = None,
                 sampler: str = "ddpm", steps: int = 0) -> torch.Tensor:
        """[B, d] generated next-item embeddings, the reverse process batched over rows.
        ddpm: all T ancestral steps; ddim: ``steps`` deterministic steps."""
        h = self.last_states(self.condition, users, inputs, self.items())
        x = torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype)
        if sampler == "ddpm":
            for t in reversed(range(self.diffusion.timesteps)):
                x0 = self.guided_x0(x, h, torch.full((1,), t, device=h.device))
                x = self.diffusion.ddpm_step(x, x0, t, generator)
            return x
        if sampler == "ddim":
            ts = self.diffusion.ddim_steps(steps)
            for t, t_prev in zip(ts, ts[1:] + [None]):
                x = self.diffusion.ddim_step(x, self.guided_x0(x, h, torch.full((1,), t, device=h.device)), t, t_prev)
            return x
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")

    def score(self, users: torch.Tensor | None, inputs: torch.Tensor, generator: torch.Generator | None = None,
              sampler: str = "ddpm", steps: int = 0) -> torch.Tensor:
        """[B, n_items] inner products of the generated embedding with every item."""
        return self.generate(users, inputs, generator, sampler, steps) @ self.items().T

    def loss(self, users: torch.Tensor | None, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """x0-prediction MSE. targets [B] (last position) or [B, L] (every position; pad = n_items)."""
        items = self.items()
        states = self.condition(users, inputs, items)
        if targets.dim() == 1:
            h, target = states[:, -1], targets
        else:
            keep = targets != self.n_items
            h, target = states[keep], targets[keep]
        x0 = items[target] if self.target_grad else items[target].detach()
        dropped = torch.rand(len(h), 1, device=h.device) < self.p_uncond
        cond = torch.where(dropped, self.none.expand_as(h), h)
        t = torch.randint(self.diffusion.timesteps, (len(x0),), device=x0.device)
        x_t = self.diffusion.q_sample(x0, t, torch.randn_like(x0))
        loss = F.mse_loss(self.denoise(x_t, cond, t), x0)
        aux = self.rep.aux_loss(Batch(users, inputs, states[:, -1],
                                      encode=lambda x: self.encode(x, self.items())[:, -1]))
        return loss if aux is None else loss + aux
