r"""Log-density increments along a reverse-time trajectory (SCIENCE.md section 2).

All functions take flattened tensors: ``dx [B, D]`` (the realised step, noise included), scores
``S [B, M, D]`` (one row per model, at the left point), forward drift ``f [B, D]``, and return float64
increments ``[B, M]`` in nats. ``dtau`` is the positive reverse-time step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from superdiff.engine.paths import VariancePreservingPath


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a.double() * b.double()).sum(-1)


def ito_increment(dx: Tensor, scores: Tensor, f: Tensor, g2: float | Tensor, div_f: float, dtau: float) -> Tensor:
    r"""Itô density estimator (the paper's Theorem 1).

    .. math:: d\log q^i = \langle dx, s_i\rangle + (\nabla\cdot f + \langle f, s_i\rangle - \tfrac12 g^2 |s_i|^2)\,d\tau

    Exact in expectation for any drift as long as the injected noise is ``g dW``. ``g2`` is a float, or ``[D]``
    for a block-diagonal diffusion (frames: translations and rotations), where ``g² |s|²`` reads ``sᵀ G s``.
    """
    s = scores.double()
    if isinstance(g2, Tensor):  # per-coordinate g² (blocks diffusing at different rates): ½ sᵀ G s
        half_norm = 0.5 * (s.pow(2) * g2.double()).sum(-1)
    else:
        half_norm = 0.5 * g2 * s.pow(2).sum(-1)
    return _dot(dx[:, None], s) + (div_f + _dot(f[:, None], s) - half_norm) * dtau


def kernel_ratio_increment(
    dx: Tensor,
    scores: Tensor,
    f: Tensor,
    g2: float,
    dtau: float,
    x: Tensor,
    alpha_ratio: float,
    var: float | None = None,
) -> Tensor:
    r"""Kernel-ratio estimator: ``log K_rev^i(x'|x) − log K_fwd(x|x')`` for the realised step ``x → x' = x + dx``.

    Detailed balance of the forward process, ``q_t(x) K_rev(x'|x) = q_{t'}(x') K_fwd(x|x')``, gives
    ``log q_{t'}(x') − log q_t(x)``. ``K_fwd`` is the exact transition of the path's linear SDE from
    ``t' = t − dτ`` to ``t``, ``N(a x', v I)`` with ``a = α_t / α_{t'}`` and ``v = σ_t² − a² σ_{t'}²``
    (``1 − a²`` on VP paths); ``K_rev^i`` is model i's Euler reverse kernel ``N(x + (−f + g² s_i) dτ, v I)``
    with the same variance, so the normalising constants cancel.
    About 3.5x smaller per-path error than :func:`ito_increment` at equal step counts.

    Args:
        x: the current point, flattened ``[B, D]``; ``alpha_ratio``: ``a = α_t / α_{t'}``;
        var: ``v`` (default ``1 − a²``, the VP value).
    """
    var = 1.0 - alpha_ratio**2 if var is None else var
    s = scores.double()
    mean_rev = (-f.double()[:, None] + g2 * s) * dtau
    log_rev = -(dx.double()[:, None] - mean_rev).pow(2).sum(-1) / (2 * var)
    back = x.double() - alpha_ratio * (x.double() + dx.double())
    log_fwd = -back.pow(2).sum(-1) / (2 * var)
    return log_rev - log_fwd[:, None]


def laplacian_correction(laplacian: Tensor, g2: float, dtau: float, noise_scale: float) -> Tensor:
    r"""Extra term for a noise scale ``η ≠ 1``: ``½ (η² − 1) g² Δ log q^i dτ``.

    With ``η = 0`` (probability-flow ODE) this is the Hutchinson/ODE estimator's ``−½ g² Δ log q dτ``.
    ``laplacian``: ``[B, M]`` (exact or a Hutchinson estimate).
    """
    return 0.5 * (noise_scale**2 - 1.0) * g2 * laplacian.double() * dtau


def _directional_vjps(wrt: Tensor, scores: Tensor, directions: Tensor) -> Tensor:
    """``u_kᵀ (∂s_i/∂v_i) u_k`` for every model i and direction k: ``[B, M, K]`` float64.

    ``wrt`` ``[B, M, *tangent]`` holds one zero step per model (model i's input is the state moved by ``wrt[:, i]``),
    so ONE backward pass per direction gives every model's vector-Jacobian product.
    """
    b, m, _ = scores.shape
    out = torch.zeros(b, m, directions.shape[1], dtype=torch.float64, device=scores.device)
    for k in range(directions.shape[1]):
        u = directions[:, k].to(scores.dtype)
        (vjp,) = torch.autograd.grad((scores * u[:, None]).sum(), wrt, retain_graph=True, allow_unused=True)
        if vjp is not None:
            out[:, :, k] = (vjp.flatten(2).double() * u.double()[:, None]).sum(-1)
    return out


def hutchinson_laplacian(wrt: Tensor, scores: Tensor, probes: Tensor) -> Tensor:
    r"""Unbiased estimate of ``Δ log q^i = tr(∂s_i/∂x)`` as ``mean_k z_kᵀ (∂s_i/∂x) z_k``.

    Args:
        wrt: one zero tangent step per model, ``[B, M, *tangent]`` with ``requires_grad``; model i's scores were
            computed at the state moved by ``wrt[:, i]``.
        scores: ``[B, M, D]`` computed that way, with the graph kept.
        probes: Rademacher or Gaussian probes ``[B, K, D]``.

    Returns:
        float64 ``[B, M]``. One backward pass per probe, for all models at once.
    """
    return _directional_vjps(wrt, scores, probes).mean(-1)


def quadratic_forms(wrt: Tensor, scores: Tensor, directions: Tensor) -> Tensor:
    r"""``u_kᵀ (∂s_i/∂x) u_k`` for each model ``i`` and direction ``k`` (see :func:`hutchinson_laplacian`).

    Returns:
        float64 ``[B, M, K]``. One backward pass per direction, for all models at once.
    """
    return _directional_vjps(wrt, scores, directions)


class Ito:
    """The Itô estimator as a per-step object: chosen once before the loop (:func:`make_estimator`)."""

    name = "ito"
    #: whether noise removed by an operator (AND's projection) must be added back as a curvature correction
    needs_projection_correction = True

    def __init__(self, schedule):
        self.schedule = schedule

    def increment(self, dx: Tensor, scores: Tensor, f: Tensor, g2: float, div_f: float, dtau: float, x: Tensor,
                  t: float, t_next: float) -> Tensor:
        """``[B, M]`` float64 increments for the realised step ``x → x + dx``."""
        return ito_increment(dx, scores, f, g2, div_f, dtau)

    def projection_correction(self, curvature: Tensor, removed: Tensor, g2: float, dtau: float,
                              t: float | None = None, t_next: float | None = None) -> Tensor:
        """What a step whose noise lost ``removed`` [B] directions needs besides the estimate: the curvature term
        ``−½ g² dτ Σ_k q_kᵀ ∇² log q^i q_k`` the operator computed (``curvature``, [B, M])."""
        return curvature


class KernelRatio(Ito):
    """Kernel-ratio estimator (:func:`kernel_ratio_increment`).

    Its ``(a² − 1) |dx|² / (2 v)`` term already reacts to the realised noise: a step whose noise lost K directions
    raises it by ``½ g² dτ K (1 − a²) / v`` (``½ g² dτ K`` on VP paths). The curvature correction for removed
    noise is therefore the Itô one minus that, not the Itô one alone (which would count the loss twice).
    """

    name = "kernel_ratio"

    def _kernel(self, t: float, t_next: float) -> tuple[float, float]:
        """``a = α_t / α_{t'}`` and the forward transition variance ``v`` for the step ``t' = t_next → t``."""
        alpha_ratio = float(torch.exp(self.schedule.log_alpha(t) - self.schedule.log_alpha(t_next)))
        if isinstance(self.schedule, VariancePreservingPath):
            return alpha_ratio, 1.0 - alpha_ratio**2
        var = float(self.schedule.sigma(t)) ** 2 - alpha_ratio**2 * float(self.schedule.sigma(t_next)) ** 2
        return alpha_ratio, var

    def increment(self, dx, scores, f, g2, div_f, dtau, x, t, t_next):
        alpha_ratio, var = self._kernel(t, t_next)
        return kernel_ratio_increment(dx, scores, f, g2, dtau, x, alpha_ratio, var)

    def projection_correction(self, curvature, removed, g2, dtau, t=None, t_next=None):
        reacts = 1.0
        if t is not None:
            alpha_ratio, var = self._kernel(t, t_next)
            reacts = (1.0 - alpha_ratio**2) / var
        return curvature - 0.5 * g2 * dtau * reacts * removed.double()[:, None]


ESTIMATORS = {"ito": Ito, "kernel_ratio": KernelRatio}


def make_estimator(name: str, schedule) -> Ito:
    """The estimator called ``name`` (one of :data:`ESTIMATORS`) for ``schedule``."""
    if name not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {tuple(ESTIMATORS)}, got {name!r}")
    return ESTIMATORS[name](schedule)
