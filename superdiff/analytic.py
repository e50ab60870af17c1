r"""Exact Gaussian-mixture diffusion models: score, log density and Laplacian in closed form.

Data ``p_0 = Σ_k w_k N(μ_k, s_k² I)`` in R^d diffused by a VP schedule has marginals

.. math:: q_t = Σ_k w_k N(α_t μ_k, v_k I), \quad v_k = α_t² s_k² + σ_t².

These are the project's test oracles (SCIENCE.md section 6) and usable as models in :func:`superdiff.sample`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from superdiff.schedules import Schedule


class GaussianMixture:
    """A diffusion model whose data distribution is an isotropic Gaussian mixture.

    Args:
        means: component means ``μ_k``, shape ``[K, d]`` (or ``[d]`` for one component).
        stds: component standard deviations ``s_k``, scalar or ``[K]``.
        weights: mixture weights ``w_k`` (normalised here), ``[K]``; uniform by default.
        schedule: the forward noise schedule.

    Calling the object returns the score, so it is a score model: ``model(x, t)`` with
    ``x: [B, d]`` (or ``[B, *shape]`` with ``prod(shape) = d``) and forward time ``t: [B]``.
    """

    def __init__(
        self,
        means: Tensor | Sequence,
        stds: Tensor | float | Sequence = 1.0,
        weights: Tensor | Sequence | None = None,
        *,
        schedule: Schedule,
    ):
        means = torch.as_tensor(means, dtype=torch.float64)
        self.means = means.unsqueeze(0) if means.dim() == 1 else means
        k = self.means.shape[0]
        self.stds = torch.as_tensor(stds, dtype=torch.float64).expand(k).clone()
        w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (k,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be {k} non-negative numbers with a positive sum, got {w.tolist()}")
        self.log_weights = torch.log(w / w.sum())
        self.schedule = schedule

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _terms(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per-component log terms ``[B, K]``, offsets ``x - α μ_k`` ``[B, K, d]``, variances ``[B, K]``."""
        xf = x.flatten(1).to(torch.float64)
        t = torch.as_tensor(t, dtype=torch.float64, device=x.device).expand(xf.shape[0])
        alpha = self.schedule.alpha(t)[:, None]
        sigma2 = self.schedule.sigma(t)[:, None] ** 2
        means, stds, logw = (a.to(x.device) for a in (self.means, self.stds, self.log_weights))
        var = alpha**2 * stds[None] ** 2 + sigma2  # [B, K]
        diff = xf[:, None, :] - alpha[:, :, None] * means[None]  # [B, K, d]
        sq = diff.pow(2).sum(-1)
        d = xf.shape[1]
        log_terms = logw[None] - 0.5 * d * torch.log(2 * math.pi * var) - 0.5 * sq / var
        return log_terms, diff, var, sq

    def log_prob(self, x: Tensor, t: Tensor | float) -> Tensor:
        """``log q_t(x)`` in nats, float64 ``[B]``."""
        log_terms, *_ = self._terms(x, t)
        return torch.logsumexp(log_terms, dim=1)

    def score(self, x: Tensor, t: Tensor | float) -> Tensor:
        """``∇_x log q_t(x)``, same shape and dtype as ``x``."""
        log_terms, diff, var, _ = self._terms(x, t)
        r = torch.softmax(log_terms, dim=1)
        s = -(r[:, :, None] * diff / var[:, :, None]).sum(1)
        return s.to(x.dtype).reshape(x.shape)

    def laplacian(self, x: Tensor, t: Tensor | float) -> Tensor:
        """``Δ_x log q_t(x)``, float64 ``[B]``."""
        log_terms, diff, var, sq = self._terms(x, t)
        r = torch.softmax(log_terms, dim=1)
        d = diff.shape[-1]
        s = -(r[:, :, None] * diff / var[:, :, None]).sum(1)
        return (r * (-d / var + sq / var**2)).sum(1) - s.pow(2).sum(1)

    def sample_data(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples of ``p_0``, float64 ``[n, d]``."""
        comp = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, dtype=torch.float64, generator=generator)
        return self.means[comp] + self.stds[comp, None] * eps

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        return self.score(x, t)

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.means.shape[0]}, d={self.dim})"


def product_of_gaussians(mean1: Tensor, std1: float, mean2: Tensor, std2: float) -> tuple[Tensor, float]:
    """Mean and std of the normalised product ``N(μ1, s1² I) N(μ2, s2² I)``."""
    var = 1.0 / (std1**-2 + std2**-2)
    mean = var * (torch.as_tensor(mean1) / std1**2 + torch.as_tensor(mean2) / std2**2)
    return mean, math.sqrt(var)
