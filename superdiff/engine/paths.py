r"""Gaussian probability paths ``x_t = α_t x_0 + σ_t ε`` and the linear forward SDE that has them as marginals.

Forward time ``t`` runs over [0, 1]; ``t = 1`` is the noise end. Any (α, σ) is the marginal of
(SCIENCE.md section 9)

.. math:: f_t(x) = \frac{\dot α_t}{α_t} x, \qquad g_t^2 = \frac{d σ_t^2}{dt} - 2 \frac{\dot α_t}{α_t} σ_t^2,

so the Itô density estimator applies unchanged on every path here: VP (linear and cosine β), the linear
interpolant of flow matching and variance exploding. The module also holds time grids, converters from network
outputs (ε, x0, velocity) to scores, and the map between two paths that share a signal-to-noise ratio ("one clock").

All functions of time return float64 tensors; a float ``t`` gives a 0-dim tensor, a ``[B]`` tensor gives ``[B]``.
"""

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, is_dataclass

import torch
from torch import Tensor

TimeLike = Tensor | float

__all__ = [
    "AlignedTime",
    "GaussianPath",
    "LinearInterpolant",
    "TimeLike",
    "VPCosine",
    "VPLinear",
    "VarianceExploding",
    "VariancePreservingPath",
    "align_time",
    "aligned_log_q",
    "aligned_score",
    "as_time",
    "bisect_log_snr",
    "broadcast_over",
    "edm_grid",
    "log_snr_grid",
    "make_grid",
    "score_from_epsilon",
    "score_from_velocity",
    "score_from_x0",
    "uniform_grid",
    "velocity_from_score",
]


def as_time(t: TimeLike) -> Tensor:
    """``t`` as a float64 tensor: a float becomes a 0-dim tensor, a tensor keeps its shape and device."""
    return t.to(torch.float64) if isinstance(t, Tensor) else torch.tensor(float(t), dtype=torch.float64)


def broadcast_over(x: Tensor, per_sample: Tensor) -> Tensor:
    """Reshape ``per_sample`` (0-dim or ``[B]``) to broadcast against ``x`` ``[B, ...]``, in x's dtype and device."""
    per_sample = per_sample.to(device=x.device, dtype=x.dtype)
    if per_sample.dim() == 0:
        return per_sample
    return per_sample.reshape(per_sample.shape + (1,) * (x.dim() - per_sample.dim()))


def _softplus(z: Tensor) -> Tensor:
    """``log(1 + e^z)`` to full float64 accuracy (torch's softplus switches to ``z`` above 20, a 2e-9 error)."""
    return torch.clamp(z, min=0.0) + torch.log1p(torch.exp(-torch.abs(z)))


def _float_setting(owner: object, name: str, value: object) -> float:
    """Coerce a constructor argument to a finite float, or raise a ValueError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or isinstance(value, bool):
        raise ValueError(f"{type(owner).__name__}: {name}={value!r} is invalid; expected a finite number")
    object.__setattr__(owner, name, number)  # frozen dataclass: store the coerced value
    return number


def _require(ok: bool, owner: object, name: str, value: object, expected: str) -> None:
    """Raise ``ValueError("<Class>: <name>=<value> is invalid; expected <expected>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{type(owner).__name__}: {name}={value!r} is invalid; expected {expected}")


def bisect_log_snr(path: "GaussianPath", lam: TimeLike, iterations: int = 64) -> Tensor:
    """Invert the decreasing ``path.log_snr`` by vectorised float64 bisection on ``[path.t_lo, path.t_hi]``.

    Args:
        path: the path whose log-SNR is inverted.
        lam: target log-SNR values, 0-dim or ``[N]``.
        iterations: halvings of the bracket; 64 takes a unit bracket below float64 resolution (≤ 1e-12 needs 40).

    Returns:
        ``t`` with ``path.log_snr(t) ≈ lam``, float64, the shape of ``lam``.
    """
    lam = as_time(lam)
    lo = torch.full_like(lam, path.t_lo)
    hi = torch.full_like(lam, path.t_hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        later = path.log_snr(mid) > lam  # log-SNR decreases in t: the root lies after mid
        lo = torch.where(later, mid, lo)
        hi = torch.where(later, hi, mid)
    return 0.5 * (lo + hi)


class GaussianPath(ABC):
    r"""A Gaussian path ``x_t = α_t x_0 + σ_t ε`` on forward time t in [0, 1] (t = 1 is the noise end).

    Subclasses give ``alpha``, ``sigma`` and their time derivatives; everything else is derived here and
    overridden where a closed form is more accurate. ``log_snr = log α − log σ`` must decrease in t.

    Attributes:
        singular_at_one: True when f or g² diverge at t = 1 (grids then refuse ``t_max = 1``).
        t_lo, t_hi: the bracket of the default log-SNR inversion.
    """

    singular_at_one: bool = False
    t_lo: float = 0.0
    t_hi: float = 1.0

    @abstractmethod
    def alpha(self, t: TimeLike) -> Tensor:
        """Signal scale ``α_t``."""

    @abstractmethod
    def sigma(self, t: TimeLike) -> Tensor:
        """Noise scale ``σ_t``."""

    @abstractmethod
    def d_alpha(self, t: TimeLike) -> Tensor:
        """Time derivative ``α̇_t``."""

    @abstractmethod
    def d_sigma(self, t: TimeLike) -> Tensor:
        """Time derivative ``σ̇_t``."""

    def log_alpha(self, t: TimeLike) -> Tensor:
        """``log α_t``."""
        return torch.log(self.alpha(t))

    def log_snr(self, t: TimeLike) -> Tensor:
        """Log signal-to-noise ratio ``λ_t = log α_t − log σ_t``, decreasing in t."""
        return self.log_alpha(t) - torch.log(self.sigma(t))

    def log_snr_range(self) -> tuple[float, float]:
        """``(λ(t_hi), λ(t_lo))``: the smallest and largest log-SNR the path reaches (either may be infinite)."""
        return float(self.log_snr(self.t_hi)), float(self.log_snr(self.t_lo))

    def t_of_log_snr(self, lam: TimeLike) -> Tensor:
        """The time ``t`` with ``log_snr(t) = lam``; ``lam`` (0-dim or ``[N]``) must lie in ``log_snr_range()``."""
        lam = as_time(lam)
        lo, hi = self.log_snr_range()
        slack_lo, slack_hi = 1e-12 * (1.0 + abs(lo)), 1e-12 * (1.0 + abs(hi))  # rounding at the ends
        outside = (lam < lo - slack_lo) | (lam > hi + slack_hi) | torch.isnan(lam)
        if outside.any():
            bad = lam[outside] if lam.dim() else lam
            raise ValueError(
                f"{self!r}.t_of_log_snr: lam={bad.flatten()[:4].tolist()} is outside the path's log-SNR range; "
                f"expected values in [{lo}, {hi}]"
            )
        return self._t_of_log_snr(lam).clamp(self.t_lo, self.t_hi)

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        """Inverse of ``log_snr`` on in-range values; override with a closed form where one is simple."""
        return bisect_log_snr(self, lam)

    def drift_coefficient(self, t: TimeLike) -> Tensor:
        """``α̇/α``: the forward drift is ``f_t(x) = (α̇/α) x``."""
        return self.d_alpha(t) / self.alpha(t)

    def g2(self, t: TimeLike) -> Tensor:
        """Squared diffusion ``g_t² = d(σ²)/dt − 2 (α̇/α) σ²``."""
        sigma = self.sigma(t)
        return 2.0 * sigma * self.d_sigma(t) - 2.0 * self.drift_coefficient(t) * sigma**2

    def diffusion(self, t: TimeLike) -> Tensor:
        """Diffusion coefficient ``g_t = sqrt(g_t²)``."""
        return torch.sqrt(self.g2(t))

    def drift(self, x: Tensor, t: TimeLike) -> Tensor:
        """Forward drift ``f_t(x) = (α̇/α) x`` for ``x`` ``[B, ...]``, ``t`` scalar or ``[B]``; dtype of ``x``."""
        return broadcast_over(x, self.drift_coefficient(as_time(t))) * x

    def divergence_of_drift(self, t: TimeLike, dim: int) -> Tensor:
        """``∇·f_t = dim · α̇/α`` for ``dim`` diffusing coordinates."""
        return self.drift_coefficient(t) * dim

    def prior_std(self, t: TimeLike) -> Tensor:
        """``sqrt(α² + σ²)``: the marginal std at t for unit-variance data (1 on VP paths)."""
        return torch.sqrt(self.alpha(t) ** 2 + self.sigma(t) ** 2)

    def settings(self) -> dict:
        """The path's name and constructor arguments, for provenance records."""
        arguments = {f.name: getattr(self, f.name) for f in fields(self)} if is_dataclass(self) else {}
        return {"path": type(self).__name__, **arguments}


class VariancePreservingPath(GaussianPath):
    """A VP path (``α² + σ² = 1``) given by ``log α_t`` and ``β(t) = −2 d log α/dt``.

    ``g² = β`` and ``f = −β x / 2`` exactly, with the same floating-point expressions as the
    ``Schedule`` classes the engine used before paths existed, so results are bit-identical.
    """

    @abstractmethod
    def log_alpha(self, t: TimeLike) -> Tensor:
        """``log α_t``."""

    @abstractmethod
    def beta(self, t: TimeLike) -> Tensor:
        """``β(t) = −2 d/dt log α_t`` (= g², 1 / unit time)."""

    def alpha(self, t: TimeLike) -> Tensor:
        """Signal scale ``α_t = exp(log α_t)``."""
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: TimeLike) -> Tensor:
        """``σ_t = sqrt(1 − α_t²)``, via expm1 for accuracy near t = 0."""
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def d_alpha(self, t: TimeLike) -> Tensor:
        """``α̇ = −β α / 2``."""
        return -0.5 * self.beta(t) * self.alpha(t)

    def d_sigma(self, t: TimeLike) -> Tensor:
        """``σ̇ = β α² / (2 σ)`` (infinite at t = 0 where σ = 0)."""
        return 0.5 * self.beta(t) * self.alpha(t) ** 2 / self.sigma(t)

    def g2(self, t: TimeLike) -> Tensor:
        """``g² = β(t)``."""
        return self.beta(t)

    def diffusion(self, t: TimeLike) -> Tensor:
        """``g_t = sqrt(β(t))``."""
        return torch.sqrt(self.beta(t))

    def drift_coefficient(self, t: TimeLike) -> Tensor:
        """``α̇/α = −β/2``."""
        return -0.5 * self.beta(t)

    def drift(self, x: Tensor, t: TimeLike) -> Tensor:
        """``f_t(x) = −β(t) x / 2``; ``t`` scalar or ``[B]``, result in ``x``'s dtype."""
        return -0.5 * broadcast_over(x, self.beta(as_time(t))) * x

    def prior_std(self, t: TimeLike) -> Tensor:
        """Exactly 1: VP paths keep unit-variance data at unit variance."""
        return torch.ones_like(as_time(t))


@dataclass(frozen=True)
class VPLinear(VariancePreservingPath):
    """Linear-β VP path (Song et al. 2021): ``β(t) = b0 + t (b1 − b0)``, ``log α = −(b0 t + ½ t² (b1 − b0)) / 2``.

    Args:
        beta_min: ``b0 = β(0)`` > 0.
        beta_max: ``b1 = β(1)`` > ``beta_min``.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self):
        beta_min = _float_setting(self, "beta_min", self.beta_min)
        beta_max = _float_setting(self, "beta_max", self.beta_max)
        _require(beta_min > 0, self, "beta_min", beta_min, "a number > 0")
        _require(beta_max > beta_min, self, "beta_max", beta_max, f"a number > beta_min={beta_min}")

    def beta(self, t: TimeLike) -> Tensor:
        """``β(t) = b0 + t (b1 − b0)``."""
        return self.beta_min + as_time(t) * (self.beta_max - self.beta_min)

    def log_alpha(self, t: TimeLike) -> Tensor:
        """``log α_t = −½ (b0 t + ½ t² (b1 − b0))``."""
        t = as_time(t)
        integral = self.beta_min * t + 0.5 * t**2 * (self.beta_max - self.beta_min)
        return -0.5 * integral

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        """Closed form: ``B(t) = −2 log α = softplus(−2λ)``, then the positive root of ``b0 t + ½ Δb t² = B``."""
        integral = _softplus(-2.0 * lam)
        slope = self.beta_max - self.beta_min
        # 2B / (b0 + sqrt(b0² + 2ΔbB)) is the root without the cancellation of (−b0 + sqrt(...)) / Δb.
        return 2.0 * integral / (self.beta_min + torch.sqrt(self.beta_min**2 + 2.0 * slope * integral))


@dataclass(frozen=True)
class VPCosine(VariancePreservingPath):
    """Cosine VP path (Nichol & Dhariwal 2021): ``α_t = cos θ(t) / cos θ(0)``, ``θ(t) = (t t_end + s)/(1 + s) π/2``.

    ``t_end < 1`` keeps β finite at t = 1 (α_1 ≈ 0.008 for the defaults); ``t_end = 1`` is the true cosine
    schedule, with α_1 = 0 and β(1) infinite (``singular_at_one``).

    Args:
        s: offset ``s ≥ 0``.
        t_end: fraction of the quarter turn reached at t = 1, in (0, 1].
    """

    s: float = 0.008
    t_end: float = 0.9946

    def __post_init__(self):
        s = _float_setting(self, "s", self.s)
        t_end = _float_setting(self, "t_end", self.t_end)
        _require(s >= 0, self, "s", s, "a number >= 0")
        _require(0 < t_end <= 1, self, "t_end", t_end, "a number in (0, 1]")

    @property
    def singular_at_one(self) -> bool:
        """True for the true cosine schedule (``t_end = 1``), whose β diverges at t = 1."""
        return self.t_end == 1.0

    def _theta(self, t: TimeLike) -> Tensor:
        return (as_time(t) * self.t_end + self.s) / (1 + self.s) * (math.pi / 2)

    def log_alpha(self, t: TimeLike) -> Tensor:
        """``log α_t = log cos θ(t) − log cos θ(0)``, at most 0.

        The two logs come from torch and from ``math`` and can differ by an ulp at t = 0 (1.4e-20 for the
        defaults): the clamp keeps ``σ_0 = sqrt(−expm1(2 log α_0))`` at 0 instead of NaN. Elsewhere the value is
        bit-identical to the engine's former ``CosineVPSchedule``.
        """
        log_alpha = torch.log(torch.cos(self._theta(t))) - math.log(math.cos(self.s / (1 + self.s) * math.pi / 2))
        return torch.clamp(log_alpha, max=0.0)

    def beta(self, t: TimeLike) -> Tensor:
        """``β(t) = t_end π / (1 + s) · tan θ(t)``."""
        return self.t_end * math.pi / (1 + self.s) * torch.tan(self._theta(t))

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        """Closed form through ``θ = atan2(sin θ, cos θ)`` with ``α² = sigmoid(2λ)``, ``σ² = sigmoid(−2λ)``."""
        theta0 = self.s / (1 + self.s) * math.pi / 2
        cos_theta = torch.exp(-0.5 * _softplus(-2.0 * lam)) * math.cos(theta0)
        # sin²θ = 1 − α² cos²θ0 = σ² cos²θ0 + sin²θ0: no cancellation near t = 0, unlike arccos.
        sin_theta = torch.sqrt(torch.exp(-_softplus(2.0 * lam)) * math.cos(theta0) ** 2 + math.sin(theta0) ** 2)
        theta = torch.atan2(sin_theta, cos_theta)
        return (theta * (2 / math.pi) * (1 + self.s) - self.s) / self.t_end


@dataclass(frozen=True)
class LinearInterpolant(GaussianPath):
    """The linear interpolant of flow matching / rectified flow: ``α = 1 − t``, ``σ = t``.

    ``f = −x / (1 − t)`` and ``g² = 2t / (1 − t)`` both diverge at t = 1 (``singular_at_one``).
    """

    singular_at_one = True

    def alpha(self, t: TimeLike) -> Tensor:
        """``α_t = 1 − t``."""
        return 1.0 - as_time(t)

    def sigma(self, t: TimeLike) -> Tensor:
        """``σ_t = t``."""
        return as_time(t).clone()

    def d_alpha(self, t: TimeLike) -> Tensor:
        """``α̇ = −1``."""
        return torch.full_like(as_time(t), -1.0)

    def d_sigma(self, t: TimeLike) -> Tensor:
        """``σ̇ = 1``."""
        return torch.ones_like(as_time(t))

    def log_alpha(self, t: TimeLike) -> Tensor:
        """``log(1 − t)`` via log1p."""
        return torch.log1p(-as_time(t))

    def log_snr(self, t: TimeLike) -> Tensor:
        """``λ = log(1 − t) − log t``."""
        t = as_time(t)
        return torch.log1p(-t) - torch.log(t)

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        """Closed form ``t = sigmoid(−λ)``."""
        return torch.sigmoid(-lam)

    def drift_coefficient(self, t: TimeLike) -> Tensor:
        """``α̇/α = −1 / (1 − t)``."""
        return -1.0 / (1.0 - as_time(t))

    def g2(self, t: TimeLike) -> Tensor:
        """``g² = 2t / (1 − t)``."""
        t = as_time(t)
        return 2.0 * t / (1.0 - t)


@dataclass(frozen=True)
class VarianceExploding(GaussianPath):
    """Variance-exploding path: ``α = 1``, geometric ``σ(t) = σ_min (σ_max / σ_min)^t``; ``f = 0``, ``g² = dσ²/dt``.

    Args:
        sigma_min: ``σ(0)`` > 0.
        sigma_max: ``σ(1)`` > ``sigma_min``.
    """

    sigma_min: float = 0.002
    sigma_max: float = 80.0

    def __post_init__(self):
        sigma_min = _float_setting(self, "sigma_min", self.sigma_min)
        sigma_max = _float_setting(self, "sigma_max", self.sigma_max)
        _require(sigma_min > 0, self, "sigma_min", sigma_min, "a number > 0")
        _require(sigma_max > sigma_min, self, "sigma_max", sigma_max, f"a number > sigma_min={sigma_min}")

    @property
    def _log_ratio(self) -> float:
        """``log(σ_max / σ_min)``: the rate of ``log σ`` per unit time."""
        return math.log(self.sigma_max) - math.log(self.sigma_min)

    def alpha(self, t: TimeLike) -> Tensor:
        """``α = 1``."""
        return torch.ones_like(as_time(t))

    def sigma(self, t: TimeLike) -> Tensor:
        """``σ_t = σ_min exp(t log(σ_max/σ_min))``."""
        return self.sigma_min * torch.exp(as_time(t) * self._log_ratio)

    def d_alpha(self, t: TimeLike) -> Tensor:
        """``α̇ = 0``."""
        return torch.zeros_like(as_time(t))

    def d_sigma(self, t: TimeLike) -> Tensor:
        """``σ̇ = σ log(σ_max/σ_min)``."""
        return self.sigma(t) * self._log_ratio

    def log_alpha(self, t: TimeLike) -> Tensor:
        """``log α = 0``."""
        return torch.zeros_like(as_time(t))

    def log_snr(self, t: TimeLike) -> Tensor:
        """``λ = −log σ_t = −log σ_min − t log(σ_max/σ_min)``."""
        return -math.log(self.sigma_min) - as_time(t) * self._log_ratio

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        """Closed form ``t = (−λ − log σ_min) / log(σ_max/σ_min)``."""
        return (-lam - math.log(self.sigma_min)) / self._log_ratio

    def drift_coefficient(self, t: TimeLike) -> Tensor:
        """``α̇/α = 0``."""
        return torch.zeros_like(as_time(t))

    def g2(self, t: TimeLike) -> Tensor:
        """``g² = dσ²/dt = 2 σ² log(σ_max/σ_min)``."""
        return 2.0 * self.sigma(t) ** 2 * self._log_ratio


# ----------------------------------------------------------------------------------------------------------------
# Time grids: float64, decreasing from t_max to t_min, [steps + 1] points with exact endpoints.


def _check_grid(caller: str, steps: int, t_max: float, t_min: float, path: GaussianPath | None) -> None:
    """Validate a grid request; refuse ``t_max = 1`` on a path whose SDE diverges there."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{caller}: steps={steps!r} is invalid; expected an integer >= 1")
    if not 0.0 <= t_min < t_max <= 1.0:
        raise ValueError(f"{caller}: t_min={t_min!r}, t_max={t_max!r} are invalid; expected 0 <= t_min < t_max <= 1")
    if path is not None and path.singular_at_one and t_max >= 1.0:
        raise ValueError(
            f"{caller}: {path!r} is singular at t = 1 (its drift or g² diverges there); pass t_max < 1 "
            "(e.g. t_max=0.999) and start from the path's prior at t_max"
        )


def _with_exact_ends(grid: Tensor, t_max: float, t_min: float) -> Tensor:
    """Pin the endpoints to the requested values (inversions and linspace may be off by an ulp)."""
    grid[0] = t_max
    grid[-1] = t_min
    return grid


def uniform_grid(steps: int, t_max: float = 1.0, t_min: float = 1e-3, *, path: GaussianPath | None = None) -> Tensor:
    """Times uniform in t, ``[steps + 1]`` float64 from ``t_max`` down to ``t_min``.

    ``path`` (optional) only serves the check that a path singular at t = 1 is not started there.
    """
    _check_grid("uniform_grid", steps, t_max, t_min, path)
    return _with_exact_ends(torch.linspace(t_max, t_min, steps + 1, dtype=torch.float64), t_max, t_min)


def _finite_log_snr(caller: str, path: GaussianPath, t: float, name: str) -> float:
    """``path.log_snr(t)`` as a float, or a ValueError when it is infinite at that end of the grid."""
    lam = float(path.log_snr(t))
    if not math.isfinite(lam):
        hint = "t_min > 0" if name == "t_min" else "t_max < 1"
        raise ValueError(f"{caller}: the log-SNR of {path!r} is infinite at {name}={t!r}; pass {hint}")
    return lam


def log_snr_grid(path: GaussianPath, steps: int, t_max: float = 1.0, t_min: float = 1e-3) -> Tensor:
    """Times with equal log-SNR steps (Kingma et al. 2021 style), mapped back with ``path.t_of_log_snr``.

    Returns:
        ``[steps + 1]`` float64, decreasing from ``t_max`` to ``t_min``.
    """
    _check_grid("log_snr_grid", steps, t_max, t_min, path)
    lam_start = _finite_log_snr("log_snr_grid", path, t_max, "t_max")
    lam_end = _finite_log_snr("log_snr_grid", path, t_min, "t_min")
    lam = torch.linspace(lam_start, lam_end, steps + 1, dtype=torch.float64)
    return _with_exact_ends(path.t_of_log_snr(lam), t_max, t_min)


def edm_grid(path: GaussianPath, steps: int, t_max: float = 1.0, t_min: float = 1e-3, rho: float = 7.0) -> Tensor:
    """Karras et al. (2022) ρ-grid: uniform in ``(σ/α)^{1/ρ}``, mapped back to t through the log-SNR.

    Returns:
        ``[steps + 1]`` float64, decreasing from ``t_max`` to ``t_min``.
    """
    _check_grid("edm_grid", steps, t_max, t_min, path)
    if not (isinstance(rho, int | float) and math.isfinite(rho) and rho > 0):
        raise ValueError(f"edm_grid: rho={rho!r} is invalid; expected a finite number > 0")
    lam_start = _finite_log_snr("edm_grid", path, t_max, "t_max")
    lam_end = float(path.log_snr(t_min))  # +inf (σ = 0) is fine: the ramp then ends at 0
    # (σ/α)^{1/ρ} = exp(−λ/ρ): the ramp runs between its values at t_max and t_min.
    ramp = torch.linspace(math.exp(-lam_start / rho), math.exp(-lam_end / rho), steps + 1, dtype=torch.float64)
    grid = torch.empty(steps + 1, dtype=torch.float64)
    grid[1:-1] = path.t_of_log_snr(-rho * torch.log(ramp[1:-1]))
    return _with_exact_ends(grid, t_max, t_min)


def make_grid(name: str, path: GaussianPath, steps: int, t_max: float = 1.0, t_min: float = 1e-3) -> Tensor:
    """Dispatch to ``uniform_grid`` ("uniform"), ``log_snr_grid`` ("log_snr") or ``edm_grid`` ("edm")."""
    if name == "uniform":
        return uniform_grid(steps, t_max, t_min, path=path)
    if name == "log_snr":
        return log_snr_grid(path, steps, t_max, t_min)
    if name == "edm":
        return edm_grid(path, steps, t_max, t_min)
    raise ValueError(f"make_grid: name={name!r} is unknown; expected one of 'uniform', 'log_snr', 'edm'")


# ----------------------------------------------------------------------------------------------------------------
# Converters from network outputs to scores (SCIENCE.md sections 1 and 9). x is [B, ...], t scalar or [B].


def score_from_epsilon(eps: Tensor, x: Tensor, t: TimeLike, path: GaussianPath) -> Tensor:
    """ε-prediction: ``s = −ε̂ / σ_t``; shape and dtype of ``x``."""
    return -eps / broadcast_over(x, path.sigma(t))


def score_from_x0(x0: Tensor, x: Tensor, t: TimeLike, path: GaussianPath) -> Tensor:
    """x0-prediction: ``s = −(x − α_t x̂0) / σ_t²``; shape and dtype of ``x``."""
    alpha = broadcast_over(x, path.alpha(t))
    sigma2 = broadcast_over(x, path.sigma(t)) ** 2
    return -(x - alpha * x0) / sigma2


def _velocity_denominator(t: TimeLike, path: GaussianPath) -> Tensor:
    """``σ (α̇ σ − α σ̇)``, negative on every path because the log-SNR decreases."""
    sigma = path.sigma(t)
    return sigma * (path.d_alpha(t) * sigma - path.alpha(t) * path.d_sigma(t))


def score_from_velocity(v: Tensor, x: Tensor, t: TimeLike, path: GaussianPath) -> Tensor:
    """Velocity prediction ``v = α̇ x̂0 + σ̇ ε̂``: ``s = (α v − α̇ x) / (σ (α̇ σ − α σ̇))``; shape and dtype of ``x``.

    From ``x = α x̂0 + σ ε̂`` and ``v``: ``ε̂ = (α v − α̇ x) / (α σ̇ − α̇ σ)`` and ``s = −ε̂ / σ``.
    """
    denominator = _velocity_denominator(t, path)
    on_v = broadcast_over(x, path.alpha(t) / denominator)
    on_x = broadcast_over(x, path.d_alpha(t) / denominator)
    return on_v * v - on_x * x


def velocity_from_score(score: Tensor, x: Tensor, t: TimeLike, path: GaussianPath) -> Tensor:
    """Inverse of :func:`score_from_velocity`: ``v = (α̇/α) x + σ (α̇ σ − α σ̇) / α · s``; shape and dtype of ``x``."""
    on_x = broadcast_over(x, path.drift_coefficient(t))
    on_s = broadcast_over(x, _velocity_denominator(t, path) / path.alpha(t))
    return on_x * x + on_s * score


# ----------------------------------------------------------------------------------------------------------------
# One clock for models trained on different paths (SCIENCE.md section 9).


@dataclass(frozen=True)
class AlignedTime:
    """Where to evaluate a model trained on path B when sampling on path A at time t.

    Attributes:
        t_prime: B's time with the same log-SNR, ``λ_B(t') = λ_A(t)``; float64, shape of t.
        scale: ``c = α_B(t') / α_A(t)``; float64, shape of t.
        log_scale: ``log c``, computed from the log α's directly.

    Unpacks as ``t_prime, scale = align_time(...)``.
    """

    t_prime: Tensor
    scale: Tensor
    log_scale: Tensor

    def __iter__(self):
        return iter((self.t_prime, self.scale))


def _check_alignable(lam: Tensor, t: Tensor, trained_on: GaussianPath, sample_on: GaussianPath) -> None:
    """Raise when path A's log-SNR at t lies outside the range path B covers on [0, 1]."""
    lo, hi = trained_on.log_snr_range()
    outside = (lam < lo - 1e-12 * (1.0 + abs(lo))) | (lam > hi + 1e-12 * (1.0 + abs(hi))) | torch.isnan(lam)
    if outside.any():
        bad_t = (t[outside] if t.dim() else t).flatten()[:4].tolist()
        bad_lam = (lam[outside] if lam.dim() else lam).flatten()[:4].tolist()
        raise ValueError(
            f"align_time: sampling on {sample_on!r} at t={bad_t} needs log-SNR {bad_lam}, outside the range "
            f"[{lo}, {hi}] that trained_on={trained_on!r} covers on t in [0, 1]; restrict t to the shared range"
        )


def align_time(t: TimeLike, trained_on: GaussianPath, sample_on: GaussianPath) -> AlignedTime:
    r"""Map time t of the sampling path A (``sample_on``) to the time t' of the model's path B (``trained_on``).

    Paths with equal SNR are the same up to a scale: ``x_B(t') = c x_A(t)`` for ``λ_B(t') = λ_A(t)`` and
    ``c = α_B(t') / α_A(t)``. Hence, for x in R^d,

    .. math:: s_A(x, t) = c \, s_B(c x, t'), \qquad \log q_A(x, t) = \log q_B(c x, t') + d \log c.

    Args:
        t: A's time, float or ``[B]``.
        trained_on: path B, on which the model was trained.
        sample_on: path A, whose clock the sampler runs.

    Returns:
        :class:`AlignedTime` with ``t_prime`` and ``scale`` (float64, shape of t).

    Raises:
        ValueError: if ``λ_A(t)`` lies outside B's log-SNR range on [0, 1].
    """
    t = as_time(t)
    lam = sample_on.log_snr(t)
    _check_alignable(lam, t, trained_on, sample_on)
    lo, hi = trained_on.log_snr_range()
    t_prime = trained_on.t_of_log_snr(lam.clamp(lo, hi))
    log_scale = trained_on.log_alpha(t_prime) - sample_on.log_alpha(t)
    return AlignedTime(t_prime=t_prime, scale=torch.exp(log_scale), log_scale=log_scale)


def aligned_score(score_b, x: Tensor, t: TimeLike, trained_on: GaussianPath, sample_on: GaussianPath) -> Tensor:
    """``s_A(x, t) = c · s_B(c x, t')`` for a score model ``score_b(x, t)`` trained on ``trained_on``.

    Args:
        score_b: callable ``(x [B, ...], t [B]) -> score`` on path B.
        x: samples on path A, ``[B, ...]``.
        t: A's time, float or ``[B]``.
    """
    aligned = align_time(as_time(t).expand(x.shape[0]), trained_on, sample_on)
    scale = broadcast_over(x, aligned.scale)
    return scale * score_b(scale * x, aligned.t_prime)


def aligned_log_q(log_q_b, x: Tensor, t: TimeLike, trained_on: GaussianPath, sample_on: GaussianPath) -> Tensor:
    """``log q_A(x, t) = log q_B(c x, t') + d log c`` for a log-density ``log_q_b(x, t) -> [B]`` on path B."""
    aligned = align_time(as_time(t).expand(x.shape[0]), trained_on, sample_on)
    dim = x[0].numel()
    return log_q_b(broadcast_over(x, aligned.scale) * x, aligned.t_prime) + dim * aligned.log_scale
