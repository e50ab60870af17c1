r"""Exact Gaussian-mixture diffusion models: score, log density and Laplacian in closed form.

Data ``p_0 = Σ_k w_k N(μ_k, s_k² I)`` in R^d carried by any Gaussian path ``x_t = α_t x_0 + σ_t ε`` has marginals

.. math:: q_t = Σ_k w_k N(α_t μ_k, v_k I), \quad v_k = α_t² s_k² + σ_t².

These are the project's test oracles (SCIENCE.md sections 6 and 9) and usable as models in :func:`superdiff.sample`:
as exact scores, or as the exact ε-, x0- and velocity networks of any path (to test the adapters and alignment).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from superdiff.engine.paths import GaussianPath, as_time, broadcast_over


class GaussianMixture:
    """A diffusion model whose data distribution is an isotropic Gaussian mixture.

    Args:
        means: component means ``μ_k``, shape ``[K, d]`` (or ``[d]`` for one component).
        stds: component standard deviations ``s_k``, scalar or ``[K]``.
        weights: mixture weights ``w_k`` (normalised here), ``[K]``; uniform by default.
        schedule: the Gaussian path the data diffuse along.

    Calling the object returns the score, so it is a score model: ``model(x, t)`` with
    ``x: [B, d]`` (or ``[B, *shape]`` with ``prod(shape) = d``) and forward time ``t: [B]``.
    """

    def __init__(
        self,
        means: Tensor | Sequence,
        stds: Tensor | float | Sequence = 1.0,
        weights: Tensor | Sequence | None = None,
        *,
        schedule: GaussianPath,
    ):
        means = torch.as_tensor(means, dtype=torch.float64)
        self.means = means.unsqueeze(0) if means.dim() == 1 else means
        if self.means.dim() != 2 or not torch.isfinite(self.means).all():
            raise ValueError(f"GaussianMixture: means={means.tolist()} is invalid; expected finite [K, d] numbers")
        k = self.means.shape[0]
        stds = torch.as_tensor(stds, dtype=torch.float64)
        if stds.dim() > 1 or (stds.dim() == 1 and stds.shape[0] != k) or not bool((stds > 0).all()):
            raise ValueError(f"GaussianMixture: stds={stds.tolist()} is invalid; expected a positive scalar or {k} "
                             "positive numbers")
        self.stds = stds.expand(k).clone()
        w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (k,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"GaussianMixture: weights={w.tolist()} is invalid; expected {k} non-negative numbers "
                             "with a positive sum")
        self.log_weights = torch.log(w / w.sum())
        self.schedule = schedule

    def on(self, path: GaussianPath) -> GaussianMixture:
        """The same data distribution carried by another path."""
        return GaussianMixture(self.means, self.stds, self.log_weights.exp(), schedule=path)

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

    def posterior_x0(self, x: Tensor, t: Tensor | float) -> Tensor:
        """``E[x_0 | x_t = x] = Σ_k r_k (μ_k + α s_k² (x − α μ_k) / v_k)``: the ideal x0-network."""
        log_terms, diff, var, _ = self._terms(x, t)
        r = torch.softmax(log_terms, dim=1)
        alpha = self.schedule.alpha(self._times(x, t))[:, None]
        gain = alpha * self.stds.to(x.device)[None] ** 2 / var  # [B, K]
        per_component = self.means.to(x.device)[None] + gain[:, :, None] * diff
        return (r[:, :, None] * per_component).sum(1).to(x.dtype).reshape(x.shape)

    def posterior_epsilon(self, x: Tensor, t: Tensor | float) -> Tensor:
        """``E[ε | x_t = x] = Σ_k r_k σ (x − α μ_k) / v_k``: the ideal ε-network."""
        log_terms, diff, var, _ = self._terms(x, t)
        r = torch.softmax(log_terms, dim=1)
        gain = self.schedule.sigma(self._times(x, t))[:, None] / var  # [B, K]
        return (r[:, :, None] * gain[:, :, None] * diff).sum(1).to(x.dtype).reshape(x.shape)

    def velocity(self, x: Tensor, t: Tensor | float) -> Tensor:
        """``v = α̇ E[x_0 | x] + σ̇ E[ε | x]``: the ideal flow-matching velocity on this path."""
        times = self._times(x, t)
        d_alpha = broadcast_over(x, self.schedule.d_alpha(times))
        d_sigma = broadcast_over(x, self.schedule.d_sigma(times))
        return d_alpha * self.posterior_x0(x, t) + d_sigma * self.posterior_epsilon(x, t)

    def _times(self, x: Tensor, t: Tensor | float) -> Tensor:
        return as_time(t).to(device=x.device, dtype=torch.float64).expand(x.shape[0])

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
