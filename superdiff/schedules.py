"""Noise schedules of the forward VP (Ornstein–Uhlenbeck) SDE ``dx = f_t(x) dt + g_t dW``.

Forward time ``t`` runs over [0, 1]; ``t = 1`` is (approximately) the standard-normal prior.
Every composed model must share the schedule: SuperDiff's superposition assumes one forward SDE.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

TimeLike = Tensor | float


def _as_tensor(t: TimeLike) -> Tensor:
    return t if isinstance(t, Tensor) else torch.tensor(float(t), dtype=torch.float64)


def _broadcast_over(x: Tensor, per_sample: Tensor) -> Tensor:
    """Reshape ``per_sample`` (scalar or ``[B]``) so it broadcasts against ``x`` of shape ``[B, ...]``."""
    per_sample = per_sample.to(device=x.device, dtype=x.dtype)
    if per_sample.dim() == 0:
        return per_sample
    return per_sample.reshape(per_sample.shape + (1,) * (x.dim() - per_sample.dim()))


class Schedule(ABC):
    """A variance-preserving schedule: ``x_t = alpha_t x_0 + sigma_t eps`` with ``alpha_t^2 + sigma_t^2 = 1``."""

    @abstractmethod
    def log_alpha(self, t: TimeLike) -> Tensor:
        """``log alpha_t``, the log of the signal scale."""

    @abstractmethod
    def beta(self, t: TimeLike) -> Tensor:
        """``beta(t) = -2 d/dt log alpha_t``, the instantaneous noise rate (1 / unit time)."""

    def alpha(self, t: TimeLike) -> Tensor:
        """Signal scale ``alpha_t``."""
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: TimeLike) -> Tensor:
        """Noise scale ``sigma_t = sqrt(1 - alpha_t^2)`` (computed with expm1 for accuracy near t = 0)."""
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def drift(self, x: Tensor, t: TimeLike) -> Tensor:
        """Forward drift ``f_t(x) = -beta(t) x / 2``; ``t`` is a scalar or ``[B]``."""
        return -0.5 * _broadcast_over(x, self.beta(_as_tensor(t))) * x

    def diffusion(self, t: TimeLike) -> Tensor:
        """Diffusion coefficient ``g_t = sqrt(beta(t))``."""
        return torch.sqrt(self.beta(t))

    def divergence_of_drift(self, t: TimeLike, dim: int) -> Tensor:
        """``div f_t = -beta(t) dim / 2`` for ``dim`` diffusing coordinates."""
        return -0.5 * self.beta(t) * dim


class VPSchedule(Schedule):
    """Linear-beta VP schedule (Song et al. 2021): ``beta(t) = beta_min + t (beta_max - beta_min)``."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        if not 0 < beta_min < beta_max:
            raise ValueError(f"VPSchedule needs 0 < beta_min < beta_max, got beta_min={beta_min}, beta_max={beta_max}")
        self.beta_min = float(beta_min)
        self.beta_max = float(beta_max)

    def beta(self, t: TimeLike) -> Tensor:
        return self.beta_min + _as_tensor(t) * (self.beta_max - self.beta_min)

    def log_alpha(self, t: TimeLike) -> Tensor:
        t = _as_tensor(t)
        integral = self.beta_min * t + 0.5 * t**2 * (self.beta_max - self.beta_min)
        return -0.5 * integral

    def __repr__(self) -> str:
        return f"VPSchedule(beta_min={self.beta_min}, beta_max={self.beta_max})"


class CosineVPSchedule(Schedule):
    """Cosine VP schedule (Nichol & Dhariwal 2021), ``alpha_t = cos(θ(t)) / cos(θ(0))``.

    ``θ(t) = (t t_end + s) / (1 + s) π/2``. ``t_end < 1`` keeps ``beta`` finite at ``t = 1``
    (alpha_1 ≈ 0.008 for the defaults, close to the linear schedule's 0.0066).
    """

    def __init__(self, s: float = 0.008, t_end: float = 0.9946):
        if not (s >= 0 and 0 < t_end < 1):
            raise ValueError(f"CosineVPSchedule needs s >= 0 and 0 < t_end < 1, got s={s}, t_end={t_end}")
        self.s = float(s)
        self.t_end = float(t_end)

    def _theta(self, t: TimeLike) -> Tensor:
        return (_as_tensor(t) * self.t_end + self.s) / (1 + self.s) * (math.pi / 2)

    def log_alpha(self, t: TimeLike) -> Tensor:
        return torch.log(torch.cos(self._theta(t))) - math.log(math.cos(self.s / (1 + self.s) * math.pi / 2))

    def beta(self, t: TimeLike) -> Tensor:
        return self.t_end * math.pi / (1 + self.s) * torch.tan(self._theta(t))

    def __repr__(self) -> str:
        return f"CosineVPSchedule(s={self.s}, t_end={self.t_end})"
