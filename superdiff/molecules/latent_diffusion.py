"""Label-conditioned ε-prediction network on the autoencoder's (standardised) latent, VP schedule.

``eps_net(x [B, D], t [B], cond [B, 2K]) -> ε̂ [B, D]``; :class:`superdiff.molecules.loading.BuiltinLatentModel`
exposes it through the latent-model contract, whose ε-adapter (``superdiff.engine.models.from_epsilon``) turns each
condition's branch into the score ``s = −ε̂ / σ_t`` the engine composes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from superdiff.engine.paths import VPLinear
from superdiff.molecules import conditions
from superdiff.molecules.storage import load_module, save_module


@dataclass
class DiffusionConfig:
    latent_dim: int = 32
    labels: list[str] = field(default_factory=lambda: list(conditions.LABELS))
    hidden: int = 256
    blocks: int = 3
    time_features: int = 32
    beta_min: float = 0.1
    beta_max: float = 20.0
    latent_mean: list[float] = field(default_factory=list)  # standardisation of the autoencoder latent
    latent_std: list[float] = field(default_factory=list)
    #: natural frequency of each label's positives in the training data (before oversampling); AND's prior
    #: correction (superdiff.molecules.sampling.and_bias) reads it.
    label_frequency: dict[str, float] = field(default_factory=dict)


def time_embedding(t: Tensor, features: int) -> Tensor:
    """Sinusoidal features of forward time ``t [B]`` in [0, 1] -> ``[B, features]``."""
    half = features // 2
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), half, device=t.device, dtype=t.dtype))
    angles = t[:, None] * freqs[None, :] * math.pi
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class _Block(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.film = nn.Linear(hidden, 2 * hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        scale, shift = self.film(emb).chunk(2, dim=-1)
        return h + self.mlp(self.norm(h) * (1 + scale) + shift)


class EpsilonNet(nn.Module):
    """Residual MLP with FiLM conditioning on time and labels."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.config = config
        h = config.hidden
        self.inp = nn.Linear(config.latent_dim, h)
        self.emb = nn.Sequential(nn.Linear(config.time_features + 2 * len(config.labels), h), nn.SiLU(),
                                 nn.Linear(h, h))
        self.blocks = nn.ModuleList([_Block(h) for _ in range(config.blocks)])
        self.out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, config.latent_dim))

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        emb = self.emb(torch.cat([time_embedding(t.to(x.dtype), self.config.time_features), cond.to(x.dtype)], -1))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)

    def schedule(self) -> VPLinear:
        return VPLinear(self.config.beta_min, self.config.beta_max)

    def standardise(self, z: Tensor) -> Tensor:
        mean = torch.tensor(self.config.latent_mean, device=z.device, dtype=z.dtype)
        std = torch.tensor(self.config.latent_std, device=z.device, dtype=z.dtype)
        return (z - mean) / std

    def unstandardise(self, x: Tensor) -> Tensor:
        mean = torch.tensor(self.config.latent_mean, device=x.device, dtype=x.dtype)
        std = torch.tensor(self.config.latent_std, device=x.device, dtype=x.dtype)
        return x * std + mean

    def save(self, folder: Path, stem: str = "latent_diffusion") -> list[str]:
        return save_module(self, self.config, folder, stem)

    @classmethod
    def load(cls, weights: Path, config: Path, device: str | torch.device = "cpu") -> EpsilonNet:
        return load_module(cls, DiffusionConfig, weights, config, device)
