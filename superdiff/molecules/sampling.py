"""Sample molecules under composed property conditions: latent diffusion + guidance + decoding + scoring."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import superdiff
from superdiff.molecules import conditions
from superdiff.molecules.guidance import GuidedResult, sample_guided, sample_guided_product
from superdiff.molecules.latent_diffusion import ConditionalScore
from superdiff.molecules.loading import load_autoencoder, load_diffusion
from superdiff.molecules.predictors import PropertyPredictor
from superdiff.molecules.weights import default_weights_dir

METHODS = ("single", "average", "or", "and", "joint", "product")
#: AND's default target final ``log q_1 − log q_2`` (nats); see :func:`make_operator`.
DEFAULT_AND_LOG_RATIO = 0.0


def design_seeds(seed: int, num: int) -> list[int]:
    """Per-design seeds: design i's seed depends only on (seed, i), never on ``num`` or the batch."""
    return [int(np.random.SeedSequence([int(seed), i]).generate_state(1, dtype=np.uint32)[0]) for i in range(num)]


def make_operator(method: str, num_conditions: int, index: int = 0, temperature: float = 1.0,
                  curvature_correction: bool = True, and_log_ratio: float = 0.0,
                  steps: int = 200) -> superdiff.Operator:
    """The engine operator for ``method`` over ``num_conditions`` conditional models (joint: one model).

    ``and_log_ratio`` (AND, two conditions): target final ``log q_1 − log q_2`` in nats, spread as a per-step
    bias ``ℓ = and_log_ratio / steps``. ``log q(x|c_1) − log q(x|c_2) = log p(c_1|x) − log p(c_2|x) +
    log p(c_2) − log p(c_1)``, so ``log p(c_2)/p(c_1)`` asks for equal label posteriors instead of equal densities
    (docs/molecules.md).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method in ("average", "or", "and") and num_conditions < 2:
        raise ValueError(f"method {method!r} composes conditions: give at least two --condition, got {num_conditions}")
    if method == "single":
        if not 0 <= index < num_conditions:
            raise ValueError(f"--index {index} is out of range for {num_conditions} condition(s)")
    if method == "joint":  # one model conditioned on every label
        return superdiff.Single(0)
    if and_log_ratio and num_conditions != 2:
        raise ValueError(f"--and-log-ratio needs exactly two conditions, got {num_conditions}")
    return superdiff.make_operator(method, index=index, temperature=temperature,
                                   bias=float(and_log_ratio) / steps if method == "and" else None,
                                   curvature_correction=curvature_correction)


@dataclass
class MoleculeSampler:
    """Loaded models (autoencoder, latent diffusion, predictors) ready to sample and score."""

    weights_dir: Path
    device: torch.device

    def __post_init__(self):
        self.autoencoder = load_autoencoder(self.weights_dir, self.device)
        self.net = load_diffusion(self.weights_dir, self.device)
        self.predictor = PropertyPredictor(self.weights_dir)

    @classmethod
    def load(cls, weights_dir: Path | None = None, device: str | torch.device = "cpu") -> MoleculeSampler:
        return cls(Path(weights_dir or default_weights_dir()), torch.device(device))

    def latents(self, conds: Sequence[str], method: str, *, index: int = 0, guidance: float = 2.0, num: int = 100,
                seed: int = 0, steps: int = 200, batch_size: int = 500, curvature_correction: bool = True,
                and_log_ratio: float = 0.0, kappa_from: str = "guided", exponents: Sequence[float] | None = None,
                progress: bool = False) -> tuple[GuidedResult, list[str], list[int]]:
        """Sample standardised latents; returns (result, names of the tracked conditional models, design seeds)."""
        conds = conditions.check_conditions(conds, self.net.config.labels)
        if not conds:
            raise ValueError("give at least one --condition")
        if num < 1:
            raise ValueError(f"--num must be >= 1, got {num}")
        if method == "product":
            seeds = design_seeds(seed, num)
            result = sample_guided_product([ConditionalScore(self.net, (c,)) for c in conds],
                                           ConditionalScore(self.net, ()), self.net.schedule(), guidance=guidance,
                                           exponents=exponents, dim=self.net.config.latent_dim, seeds=seeds,
                                           steps=steps, batch_size=batch_size, progress=progress, device=self.device)
            return result, list(conds), seeds
        if method == "joint":
            models, names = [ConditionalScore(self.net, tuple(conds))], ["+".join(conds)]
        else:
            models, names = [ConditionalScore(self.net, (c,)) for c in conds], list(conds)
        operator = make_operator(method, len(conds), index, curvature_correction=curvature_correction,
                                 and_log_ratio=and_log_ratio, steps=steps)
        seeds = design_seeds(seed, num)
        result = sample_guided(models, ConditionalScore(self.net, ()), self.net.schedule(), operator,
                               guidance=guidance, dim=self.net.config.latent_dim, seeds=seeds, steps=steps,
                               batch_size=batch_size, kappa_from=kappa_from, progress=progress,
                               device=self.device)
        return result, names, seeds

    def decode(self, x: torch.Tensor) -> list[str]:
        """Standardised latents ``[B, D]`` -> SMILES."""
        return self.autoencoder.decode_smiles(self.net.unstandardise(x.to(self.device)))

    def sample(self, conds: Sequence[str], method: str, **kwargs) -> tuple[pd.DataFrame, dict]:
        """Sample, decode and score: one row per design (smiles, valid, properties, p_<target>, log_q_*, kappa_*)."""
        start = time.time()
        result, names, seeds = self.latents(conds, method, **kwargs)
        t_sample = time.time() - start
        smiles = self.decode(result.x)
        t_decode = time.time() - start - t_sample
        frame = self.predictor.score_smiles(smiles)
        frame.insert(0, "seed", seeds)
        frame.insert(0, "design", np.arange(len(seeds)))
        for j, name in enumerate(names):
            frame[f"log_q_{name}"] = result.log_q[:, j].cpu().numpy()
            frame[f"kappa_mean_{name}"] = result.kappa_mean[:, j].cpu().numpy()
        if result.and_residual is not None:
            frame["and_residual"] = result.and_residual.cpu().numpy()
        if result.log_w is not None:
            frame["log_w"] = result.log_w.cpu().numpy()
        timing = {"sample_seconds": t_sample, "decode_seconds": t_decode,
                  "score_seconds": time.time() - start - t_sample - t_decode}
        return frame, timing
