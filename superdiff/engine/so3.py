"""Rotations SO(3) and the isotropic Gaussian IGSO(3): the rotation block of frame models (SCIENCE.md §8).

Conventions
-----------
- A rotation is a ``[..., 3, 3]`` matrix R with RᵀR = I and det R = +1; every function batches over leading dims
  and keeps the input's dtype and device.
- A tangent vector at R is a body-frame 3-vector h: it moves R to ``R · exp(h)``. |h| is the geodesic length, i.e.
  the rotation angle in radians; scores are 3-vectors in the same frame.
- Brownian motion of variance σ² is ``R ← R · exp(√dσ² z)`` with z ~ N(0, I3) in the body frame; started at μ it has
  law IGSO(3)(μ, ε² = σ²), whose density with respect to the Haar PROBABILITY measure depends only on
  ω = angle(μᵀR) ∈ [0, π]:

      f_ε(ω) = Σ_{l≥0} (2l+1) exp(−l(l+1) ε²/2) sin((l+½)ω) / sin(ω/2)

  (the heat kernel of ½Δ; f ≡ 1 is the uniform law). The angle ω of a sample has density (1 − cos ω)/π · f_ε(ω).
- ``eps2`` (ε², rad²) is always a variance, never a standard deviation.

Evaluating f
------------
Two exact representations are used, each where it is numerically sound:

- ε² > ``EPS2_SMALL`` (= 1): the series, rewritten as a cosine series f = B_0 + 2 Σ_{m≥1} B_m cos(mω) with tail sums
  B_m = Σ_{l≥m} (2l+1) e^{−l(l+1)ε²/2} (from χ_l(ω) = 1 + 2 Σ_{m=1..l} cos(mω)); no division by sin(ω/2), so ω → 0
  needs no special case. Terms stop once l(l+1)ε²/2 > 45 (relative size < 1e-19).
- ε² ≤ ``EPS2_SMALL``: the small-ε (heat-kernel) form, obtained by Poisson summation. With n = l + ½,
  l(l+1) = n² − ¼ and the summand even in n, so f = e^{ε²/8} / (2 sin(ω/2)) Σ_{n∈ℤ+½} 2n e^{−n²ε²/2} sin(nω).
  Since 2n sin(nω) = −2 ∂_ω cos(nω) and Σ_{n∈ℤ+½} e^{−n²ε²/2} e^{inω} = (√(2π)/ε) Σ_k (−1)^k e^{−(ω−2πk)²/(2ε²)},

      f_ε(ω) = √(2π) e^{ε²/8} ε^{−3} / sin(ω/2) · Σ_{k∈ℤ} (−1)^k (ω − 2πk) e^{−(ω−2πk)²/(2ε²)}.

  The k = 0 term is the leading Gaussian 2√(2π) e^{ε²/8} ε^{−3} e^{−ω²/(2ε²)} (ω/2)/sin(ω/2) (at ω = 0 it is
  8π² (2πε²)^{−3/2}: a 3-d Gaussian divided by the Haar volume 8π²). The k = 1 image equals the k = 0 term at
  ω = π (it doubles f there), so images |k| ≤ 2 are kept; the first dropped one is smaller by e^{−12π²/ε²}.
  The threshold is set by the series, not by its term count: for ε² ≲ 0.3 the series sums O(1) terms to
  f(π) ≈ e^{−π²/(2ε²)} and cancellation leaves no correct digit (it even turns negative), so the series is used only
  for ε² > 1, where f ≥ f_1(π) ≈ 0.128 and both forms agree to ~1e-15 (tested).
- ε² > ``EPS2_UNIFORM`` (= 30): |f − 1| ≤ 9 e^{−ε²} < 1e-12, and log f is returned as 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
from torch import Tensor

EPS2_SMALL = 1.0  # ε² at or below which the small-ε (Poisson-summed) form is used; the series above.
EPS2_UNIFORM = 30.0  # ε² above which log f := 0 (|f − 1| < 1e-12).
_SERIES_TAIL = 45.0  # series terms with l(l+1)ε²/2 beyond this are below 1e-19 relative and dropped.
_SERIES_L_CAP = 20_000
_IMAGES = (-2, -1, 1, 2)  # Poisson image indices k ≠ 0 kept in the small-ε form.
_ANGLE_GRID = 4097  # points of the inverse-CDF table of the sampled angle.

# ---------------------------------------------------------------------------------------------------------------------
# The Lie algebra so(3) and the group SO(3)
# ---------------------------------------------------------------------------------------------------------------------


def hat(v: Tensor) -> Tensor:
    """Skew matrix of a 3-vector, ``hat(v) @ w = v × w``: ``[..., 3] -> [..., 3, 3]``."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (torch.stack((zero, -z, y), -1), torch.stack((z, zero, -x), -1), torch.stack((-y, x, zero), -1))
    return torch.stack(rows, -2)


def vee(m: Tensor) -> Tensor:
    """Inverse of ``hat`` on the skew part: ``vee(M) = vee((M − Mᵀ)/2)``, ``[..., 3, 3] -> [..., 3]``."""
    skew = (m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1])
    return 0.5 * torch.stack(skew, -1)


def _eye_like(r: Tensor) -> Tensor:
    return torch.eye(3, dtype=r.dtype, device=r.device).expand(r.shape)


def exp(v: Tensor) -> Tensor:
    """Rotation matrix of a rotation vector (Rodrigues), ``[..., 3] -> [..., 3, 3]``; angle |v| in radians.

    ``R = I + a K + b K²`` with K = hat(v), a = sin θ/θ, b = (1 − cos θ)/θ² = 2 sin²(θ/2)/θ²; below θ = 1e-3 both use
    their Taylor series in θ², so values and gradients stay finite at v = 0.
    """
    theta2 = (v * v).sum(-1)
    small = theta2 < 1e-6
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))  # safe: the branch below discards it
    a = torch.where(small, 1 - theta2 / 6 + theta2**2 / 120, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24 + theta2**2 / 720, 2 * torch.sin(theta / 2) ** 2 / theta**2)
    k = hat(v)
    return _eye_like(k) + a[..., None, None] * k + b[..., None, None] * (k @ k)


def angle(r: Tensor) -> Tensor:
    """Rotation angle in [0, π] (radians), ``[..., 3, 3] -> [...]``.

    ``atan2(|vee(R)|, (tr R − 1)/2)`` = atan2(sin ω, cos ω): accurate to ~1e-16 absolute at both ends, where acos of the
    trace would lose half the digits, and always in range even for slightly non-orthogonal R.
    """
    sin_w = torch.linalg.vector_norm(vee(r), dim=-1)
    cos_w = 0.5 * (r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1)
    return torch.atan2(sin_w, cos_w)


def _axis_from_symmetric_part(r: Tensor, use: Tensor) -> Tensor:
    """Unit rotation axis from (R + Rᵀ)/2 = cos ω I + (1 − cos ω) a aᵀ, for ω > π/2 (where ``use``); sign free."""
    cos_w = 0.5 * (r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1)
    one_minus_cos = torch.where(use, 1 - cos_w, torch.ones_like(cos_w))  # ≥ 1 where used; safe elsewhere
    outer = (0.5 * (r + r.transpose(-1, -2)) - cos_w[..., None, None] * _eye_like(r)) / one_minus_cos[..., None, None]
    diag = outer.diagonal(dim1=-2, dim2=-1)
    j = diag.argmax(-1, keepdim=True)  # the largest a_j² ≥ 1/3, so the division below is well conditioned
    column = torch.gather(outer, -1, j[..., None, :].expand(*outer.shape[:-1], 1)).squeeze(-1)
    a_jj = torch.where(use, torch.gather(diag, -1, j).squeeze(-1), torch.ones_like(cos_w))
    return column / torch.sqrt(a_jj)[..., None]


def log(r: Tensor) -> Tensor:
    """Rotation vector of a rotation matrix, ``[..., 3, 3] -> [..., 3]``, with angle in [0, π].

    For ω ≤ π/2: ω/sin ω · vee(R) (Taylor below ω = 1e-3). For ω > π/2, where sin ω → 0 makes that ill-conditioned,
    the axis comes from the symmetric part and only its sign from vee(R). At ω = π either sign is a valid answer.
    """
    omega = angle(r)
    anti = vee(r)  # sin ω · axis
    near_pi = omega > 0.5 * math.pi
    small = omega < 1e-3
    sin_safe = torch.where(near_pi | small, torch.ones_like(omega), torch.sin(omega))
    w2 = omega**2
    ratio = torch.where(small, 1 + w2 / 6 + 7 * w2**2 / 360, omega / sin_safe)
    generic = ratio[..., None] * anti
    axis = _axis_from_symmetric_part(r, near_pi)
    sign = torch.where((axis * anti).sum(-1) < 0, -1.0, 1.0).to(r.dtype)
    return torch.where(near_pi[..., None], (sign * omega)[..., None] * axis, generic)


def geodesic_distance(r1: Tensor, r2: Tensor) -> Tensor:
    """Geodesic distance ``angle(R1ᵀ R2)`` in [0, π] radians, ``[..., 3, 3] x [..., 3, 3] -> [...]``."""
    return angle(r1.transpose(-1, -2) @ r2)


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """Rotation matrix of a quaternion (w, x, y, z), scalar first, any norm > 0: ``[..., 4] -> [..., 3, 3]``."""
    w, x, y, z = (q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)).unbind(-1)
    rows = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
    )
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def matrix_to_quaternion(r: Tensor) -> Tensor:
    """Unit quaternion (w, x, y, z), scalar first and ``w ≥ 0``, of a rotation matrix: ``[..., 3, 3] -> [..., 4]``.

    Each of the four candidate forms divides by its own largest component, so no division is ill-conditioned
    (the 180° rotations included)."""
    m = r.reshape(-1, 3, 3)
    trace = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    diag = torch.stack([trace, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], -1)
    # 4 q_k² for (w, x, y, z); pick the largest and read the others from the off-diagonal sums and differences
    four_q2 = torch.stack([1 + trace, 1 + 2 * diag[:, 1] - trace, 1 + 2 * diag[:, 2] - trace,
                           1 + 2 * diag[:, 3] - trace], -1)
    k = four_q2.argmax(-1)
    big = four_q2.gather(-1, k[:, None]).clamp_min(1e-12).sqrt()  # 2 |q_k|
    zy, xz, yx = m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]
    yz, zx, xy = m[:, 2, 1] + m[:, 1, 2], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 0] + m[:, 0, 1]
    candidates = torch.stack([
        torch.stack([four_q2[:, 0], zy, xz, yx], -1),
        torch.stack([zy, four_q2[:, 1], xy, zx], -1),
        torch.stack([xz, xy, four_q2[:, 2], yz], -1),
        torch.stack([yx, zx, yz, four_q2[:, 3]], -1),
    ], 1)  # row k holds 4 q_k q_j for every j (the diagonal entry 4 q_k²)
    q = candidates[torch.arange(m.shape[0], device=m.device), k] / (2 * big)
    q = q * torch.where(q[:, :1] < 0, -1.0, 1.0).to(q)
    return (q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)).reshape(*r.shape[:-2], 4)


def uniform_rotations(
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Haar-uniform rotations ``[*shape, 3, 3]``: a standard normal 4-vector, normalised, is a uniform unit quaternion.

    ``device`` defaults to the generator's device.
    """
    device = generator.device if device is None else device
    q = torch.randn((*shape, 4), generator=generator, device=device, dtype=dtype)
    return quaternion_to_matrix(q)


def _uniform_axes(shape: tuple[int, ...], generator: torch.Generator, device, dtype: torch.dtype) -> Tensor:
    """Unit vectors uniform on S², ``[*shape, 3]`` (normalised standard normals)."""
    z = torch.randn((*shape, 3), generator=generator, device=device, dtype=dtype)
    return z / torch.linalg.vector_norm(z, dim=-1, keepdim=True)


# ---------------------------------------------------------------------------------------------------------------------
# The IGSO(3) angle density f_ε(ω)
# ---------------------------------------------------------------------------------------------------------------------


class LogF(NamedTuple):
    """``log f_ε(ω)`` (nats, w.r.t. the Haar probability measure) and its slope ``d log f / dω`` (1/rad)."""

    value: Tensor
    slope: Tensor


def _as_eps2(eps2: Tensor | float, device: torch.device) -> Tensor:
    """ε² as a float64 tensor on ``device``; raises if any value is not a finite positive variance."""
    eps2 = torch.as_tensor(eps2, dtype=torch.float64, device=device)
    if not bool(torch.all(torch.isfinite(eps2) & (eps2 > 0))):
        raise ValueError(f"eps2 must be finite and > 0 (an IGSO(3) variance in rad²), got {eps2}")
    return eps2


def _prepare(omega: Tensor | float, eps2: Tensor | float) -> tuple[Tensor, Tensor, torch.dtype]:
    """Broadcast float64 ω (clamped to [0, π]) and ε²; returns them and the dtype to return results in."""
    omega = torch.as_tensor(omega)
    out_dtype = omega.dtype if omega.is_floating_point() else torch.float64
    omega = omega.to(torch.float64).clamp(0.0, math.pi)
    omega, eps2 = torch.broadcast_tensors(omega, _as_eps2(eps2, omega.device))
    return omega, eps2, out_dtype


def _series_l_max(eps2_min: float) -> int:
    """Smallest l with l(l+1) ε²/2 ≥ ``_SERIES_TAIL``, capped at ``_SERIES_L_CAP``."""
    l_max = math.ceil(0.5 * (-1 + math.sqrt(1 + 8 * _SERIES_TAIL / eps2_min)))
    return min(max(l_max, 1), _SERIES_L_CAP)


def _series(omega: Tensor, eps2: Tensor, l_max: int) -> LogF:
    """Cosine-series kernel on float64 broadcast inputs (see the module docstring)."""
    l = torch.arange(l_max + 1, dtype=torch.float64, device=omega.device)
    terms = (2 * l + 1) * torch.exp(-0.5 * l * (l + 1) * eps2[..., None])
    tails = terms.flip(-1).cumsum(-1).flip(-1)  # B_m, smallest terms summed first
    weights = torch.where(l == 0, 1.0, 2.0)
    phase = l * omega[..., None]
    f = (weights * tails * torch.cos(phase)).sum(-1)
    df = -(2 * l * tails * torch.sin(phase)).sum(-1)
    return LogF(torch.log(f), df / f)


def igso3_log_f_series(omega: Tensor | float, eps2: Tensor | float, l_max: int | None = None) -> LogF:
    """``log f_ε(ω)`` and its ω-slope from the series with terms l ≤ ``l_max`` (default: adaptive in min ε²).

    Exact for any ε² given enough terms, but loses all relative accuracy at large ω/ε when ε² ≲ 0.3 (cancellation);
    ``igso3_log_f`` uses it only for ε² > ``EPS2_SMALL``. ω in radians (clamped to [0, π]), ε² in rad².
    """
    omega, eps2, out_dtype = _prepare(omega, eps2)
    l_max = _series_l_max(float(eps2.min())) if l_max is None else int(l_max)
    out = _series(omega, eps2, l_max)
    return LogF(out.value.to(out_dtype), out.slope.to(out_dtype))


def _log_w_over_sin_half(omega: Tensor) -> Tensor:
    """``log(ω / sin(ω/2))``, finite at ω = 0 (torch.sinc is sin(πx)/(πx), smooth at 0)."""
    return math.log(2.0) - torch.log(torch.sinc(omega / (2 * math.pi)))


def _dlog_w_over_sin_half(omega: Tensor) -> Tensor:
    """``d/dω log(ω / sin(ω/2)) = 1/ω − cot(ω/2)/2``; below ω = 0.1 its odd series in x = ω/2 (Bernoulli numbers)."""
    small = omega < 0.1
    x = 0.5 * omega
    taylor = 0.5 * (x / 3 + x**3 / 45 + 2 * x**5 / 945 + x**7 / 4725)
    w_safe = torch.where(small, torch.ones_like(omega), omega)
    return torch.where(small, taylor, 1 / w_safe - 0.5 / torch.tan(0.5 * w_safe))


def _image_ratio(omega: Tensor, eps2: Tensor) -> LogF:
    """Images relative to the k = 0 term: 1 + r = Σ_k (−1)^k (ω−2πk) e^{−(ω−2πk)²/2ε²} / (ω e^{−ω²/2ε²}).

    Returns r and dr/dω (in the LogF fields ``value`` and ``slope``). Each image is e^{−2πk(πk−ω)/ε²} ≤ 1 times
    (1 − 2πk/ω). r is even in ω, so below ω_c = 1e-3 (where the 1/ω terms cancel) it is continued as the even
    quadratic through r(ω_c), r'(ω_c) (error O(ω_c⁴ r⁗), < 1e-16 for ε² ≤ 1).
    """
    w_c = omega.clamp_min(1e-3)
    r = torch.zeros_like(omega)
    dr = torch.zeros_like(omega)
    for k in _IMAGES:
        c = 2 * math.pi * k
        image = (-1) ** k * torch.exp(-c * (math.pi * k - w_c) / eps2)
        r = r + image * (1 - c / w_c)
        dr = dr + image * (c / w_c**2 + (1 - c / w_c) * c / eps2)
    curvature = dr / w_c  # r'' under the even-quadratic continuation; exact r' / ω where ω ≥ ω_c
    return LogF(r + 0.5 * curvature * (omega**2 - w_c**2), curvature * omega)


def _small_eps(omega: Tensor, eps2: Tensor) -> LogF:
    """Poisson-summed (small-ε) kernel on float64 broadcast inputs (see the module docstring)."""
    images = _image_ratio(omega, eps2)
    log_norm = eps2 / 8 + 0.5 * math.log(2 * math.pi) - 1.5 * torch.log(eps2)
    value = log_norm - 0.5 * omega**2 / eps2 + _log_w_over_sin_half(omega) + torch.log1p(images.value)
    slope = -omega / eps2 + _dlog_w_over_sin_half(omega) + images.slope / (1 + images.value)
    return LogF(value, slope)


def igso3_log_f_small_eps(omega: Tensor | float, eps2: Tensor | float) -> LogF:
    """``log f_ε(ω)`` and its ω-slope from the small-ε form (images |k| ≤ 2); accurate to ~1e-15 for ε² ≤ 1.

    ω in radians (clamped to [0, π]), ε² in rad².
    """
    omega, eps2, out_dtype = _prepare(omega, eps2)
    out = _small_eps(omega, eps2)
    return LogF(out.value.to(out_dtype), out.slope.to(out_dtype))


def _igso3_log_f_and_slope(omega: Tensor | float, eps2: Tensor | float) -> LogF:
    """Both branches on safe inputs, then selected (so unused branches never feed NaN into gradients)."""
    omega, eps2, out_dtype = _prepare(omega, eps2)
    small = eps2 <= EPS2_SMALL
    uniform = eps2 > EPS2_UNIFORM
    near = _small_eps(omega, torch.where(small, eps2, EPS2_SMALL))
    far = _series(omega, eps2.clamp(EPS2_SMALL, EPS2_UNIFORM), _series_l_max(EPS2_SMALL))
    zero = torch.zeros_like(omega)
    value = torch.where(small, near.value, torch.where(uniform, zero, far.value))
    slope = torch.where(small, near.slope, torch.where(uniform, zero, far.slope))
    return LogF(value.to(out_dtype), slope.to(out_dtype))


def igso3_log_f(omega: Tensor | float, eps2: Tensor | float) -> Tensor:
    """``log f_ε(ω)``: IGSO(3) log density (nats, w.r.t. Haar probability) at angle ω ∈ [0, π] rad, variance ε² rad².

    ``omega`` and ``eps2`` broadcast; computed in float64, returned in omega's floating dtype.
    """
    return _igso3_log_f_and_slope(omega, eps2).value


def igso3_dlog_f(omega: Tensor | float, eps2: Tensor | float) -> Tensor:
    """``d log f_ε / dω`` (1/rad), analytic in both branches; 0 at ω = 0 and ω = π."""
    return _igso3_log_f_and_slope(omega, eps2).slope


# ---------------------------------------------------------------------------------------------------------------------
# IGSO(3) on rotation matrices
# ---------------------------------------------------------------------------------------------------------------------


def _relative(r: Tensor, mean: Tensor | None) -> Tensor:
    """μᵀR (R itself when μ is the identity)."""
    return r if mean is None else mean.transpose(-1, -2) @ r


def igso3_log_density(r: Tensor, eps2: Tensor | float, mean: Tensor | None = None) -> Tensor:
    """Log density of IGSO(3)(mean, ε²) w.r.t. Haar probability, ``[..., 3, 3] -> [...]`` nats.

    ``eps2`` (rad²) is a float or a tensor broadcastable to the batch shape; ``mean`` None is the identity.
    """
    return igso3_log_f(angle(_relative(r, mean)), eps2).to(r.dtype)


def igso3_score(r: Tensor, eps2: Tensor | float, mean: Tensor | None = None) -> Tensor:
    """Riemannian score of IGSO(3)(mean, ε²) in the body frame, ``[..., 3, 3] -> [..., 3]`` (1/rad).

    ``s = (d log f/dω)(ω) · log(μᵀR)/ω``: moving R to R·exp(s·h) raises the log density fastest. At ω = 0 the axis is
    undefined and the score is 0 (its limit); at ω = π the slope is 0, so the axis' sign does not matter.
    """
    rel = _relative(r, mean)
    v = log(rel)
    omega = angle(rel)
    slope = igso3_dlog_f(omega, eps2).to(r.dtype)
    axis = v / torch.where(omega > 0, omega, torch.ones_like(omega))[..., None]
    return slope[..., None] * axis


def _angle_table(eps2: float, device, n: int = _ANGLE_GRID) -> tuple[Tensor, Tensor]:
    """Grid on [0, min(π, 14ε)] and the normalised CDF of p(ω) ∝ (1 − cos ω) f_ε(ω) on it (cumulative trapezoid).

    Beyond 14ε the angle density is below e^{−98} of its peak, so the grid resolves ε however small it is.
    """
    top = min(math.pi, 14.0 * math.sqrt(eps2))
    grid = torch.linspace(0.0, top, n, dtype=torch.float64, device=device)
    log_p = torch.log(2 * torch.sin(0.5 * grid) ** 2) + igso3_log_f(grid, eps2)
    p = torch.exp(log_p - log_p.max())
    cdf = torch.cat((p.new_zeros(1), torch.cumulative_trapezoid(p, grid)))
    return grid, cdf / cdf[-1]


def _interpolate_quantile(u: Tensor, grid: Tensor, cdf: Tensor) -> Tensor:
    """Inverse of the piecewise-linear CDF through (grid, cdf) at levels u ∈ [0, 1)."""
    hi = torch.searchsorted(cdf, u, right=True).clamp(1, len(grid) - 1)
    lo = hi - 1
    width = (cdf[hi] - cdf[lo]).clamp_min(1e-300)
    frac = ((u - cdf[lo]) / width).clamp(0.0, 1.0)
    return grid[lo] + frac * (grid[hi] - grid[lo])


def igso3_angle_quantile(u: Tensor, eps2: Tensor | float) -> Tensor:
    """Angle ω (rad) at CDF level u of the IGSO(3)(·, ε²) angle law p(ω) = (1 − cos ω)/π f_ε(ω); float64.

    ``u`` and ``eps2`` broadcast; one table of ``_ANGLE_GRID`` points is built per distinct ε² value, so the cost
    grows with the number of distinct values, not with the number of samples.
    """
    u = torch.as_tensor(u, dtype=torch.float64)
    u, eps2 = torch.broadcast_tensors(u, _as_eps2(eps2, u.device))
    values, inverse = torch.unique(eps2, return_inverse=True)
    omega = torch.empty_like(u)
    for i, value in enumerate(values.tolist()):
        chosen = inverse == i
        grid, cdf = _angle_table(value, u.device)
        omega[chosen] = _interpolate_quantile(u[chosen], grid, cdf)
    return omega


def igso3_sample(
    shape: tuple[int, ...] | torch.Size,
    eps2: Tensor | float,
    generator: torch.Generator,
    mean: Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Samples of IGSO(3)(mean, ε²), ``[*shape, 3, 3]``: R = mean · exp(ω a) with ω by inverse CDF, a uniform on S².

    ``eps2`` (rad²) is a float or a tensor broadcastable to ``shape``; ``mean`` ``[..., 3, 3]`` broadcastable to
    ``[*shape, 3, 3]`` (None: identity). ``device`` defaults to the generator's device.
    """
    shape = tuple(shape)
    device = generator.device if device is None else device
    eps2 = _as_eps2(eps2, torch.device(device)).broadcast_to(shape)
    u = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
    axis = _uniform_axes(shape, generator, device, torch.float64)
    omega = igso3_angle_quantile(u, eps2)
    rot = exp(omega[..., None] * axis).to(dtype)
    return rot if mean is None else mean.to(device=rot.device, dtype=dtype) @ rot


# ---------------------------------------------------------------------------------------------------------------------
# FrameDiff's rotation schedule
# ---------------------------------------------------------------------------------------------------------------------


def _as_time(t: Tensor | float) -> Tensor:
    """t as a tensor (float64 if given as a number); raises unless every value lies in [0, 1]."""
    t = t if isinstance(t, Tensor) else torch.tensor(float(t), dtype=torch.float64)
    if not bool(torch.all((t >= 0) & (t <= 1))):
        raise ValueError(f"RotationSchedule: t must lie in [0, 1], got {t}")
    return t


@dataclass(frozen=True)
class RotationSchedule:
    """FrameDiff's rotation schedule: σ(t) = log(t e^{σ_max} + (1 − t) e^{σ_min}) (rad), t ∈ [0, 1].

    The forward rotation SDE has zero drift and g²(t) = dσ(t)²/dt. Note σ(0) = σ_min, not 0: following SCIENCE.md
    §8, ``variance(t)`` is σ(t)² itself (NOT σ(t)² − σ_min²) and data IGSO(3)(μ, ε0²) has marginal
    IGSO(3)(μ, ε0² + σ(t)²) (``marginal_eps2``). The SDE integrated from t = 0 only adds σ(t)² − σ_min², so this
    reads the time-0 law as the data blurred by σ_min² (FrameDiff's convention).
    """

    sigma_min: float = 0.1
    sigma_max: float = 1.5

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"RotationSchedule.{field.name} must be a finite number > 0 (rad), got {value!r}")
        if not self.sigma_min < self.sigma_max:
            raise ValueError(
                f"RotationSchedule.sigma_min must be < sigma_max, got sigma_min={self.sigma_min}, "
                f"sigma_max={self.sigma_max}"
            )

    def _inner(self, t: Tensor) -> Tensor:
        """t e^{σ_max} + (1 − t) e^{σ_min} = e^{σ(t)}."""
        low = math.exp(self.sigma_min)
        return low + t * (math.exp(self.sigma_max) - low)

    def sigma(self, t: Tensor | float) -> Tensor:
        """σ(t) (rad); σ(0) = σ_min, σ(1) = σ_max."""
        return torch.log(self._inner(_as_time(t)))

    def variance(self, t: Tensor | float) -> Tensor:
        """σ(t)² (rad²), including σ_min² at t = 0 (see the class docstring)."""
        return self.sigma(t) ** 2

    def g2(self, t: Tensor | float) -> Tensor:
        """g²(t) = dσ²/dt = 2 σ(t) (e^{σ_max} − e^{σ_min}) / e^{σ(t)} (rad² per unit time)."""
        t = _as_time(t)
        inner = self._inner(t)
        return 2 * torch.log(inner) * (math.exp(self.sigma_max) - math.exp(self.sigma_min)) / inner

    def marginal_eps2(self, t: Tensor | float, eps0_sq: Tensor | float) -> Tensor:
        """ε0² + σ(t)² (rad²): the IGSO(3) variance at time t of data IGSO(3)(μ, ε0²)."""
        eps0_sq = torch.as_tensor(eps0_sq, dtype=torch.float64)
        if not bool(torch.all(torch.isfinite(eps0_sq) & (eps0_sq >= 0))):
            raise ValueError(f"RotationSchedule.marginal_eps2: eps0_sq must be finite and >= 0 (rad²), got {eps0_sq}")
        variance = self.variance(t)
        return eps0_sq.to(device=variance.device, dtype=variance.dtype) + variance
