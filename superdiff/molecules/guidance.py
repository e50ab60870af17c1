r"""SuperDiff composition inside classifier-free guidance, with one shared unconditional branch.

M conditional score models ``s_i`` (unguided) and one unconditional ``s_u``. Each reverse step

.. math:: dx = \big(-f + g^2 v\big)\,d\tau + \xi, \qquad v = s_u + w\,(\textstyle\sum_i \kappa_i s_i - s_u)

where κ comes from an engine operator (:mod:`superdiff.operators`) fed the CONDITIONAL scores, and every
``log q^i`` is tracked with the engine's Itô estimator (:func:`superdiff.density.ito_increment`) from the
conditional scores and the realised (guided) step.

Why the engine's operators can be reused unchanged: writing ``v = w u + (1 − w) s_u`` with ``u = Σ κ_i s_i``,
each model's increment is ``d log q^i = w g² dτ ⟨u, s_i⟩ + (1 − w) g² dτ ⟨s_u, s_i⟩ + ⟨ξ, s_i⟩ + (div f −
½ g² |s_i|²) dτ``. That is the engine's step with drift scale ``λ = w`` plus a term known before the step,
``(1 − w) g² dτ ⟨s_u, s_i⟩``, which :class:`~superdiff.operators.StepContext` carries as ``log_q_extra``. So
:class:`~superdiff.And` solves the right constraint (equal density changes under the guided drift) with its
projection form and curvature correction; Single / Average / Or do not look at the drift at all.
This loop is local only because ``superdiff.sample`` has no hook for the extra guidance drift term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from superdiff import density
from superdiff.operators import Operator, StepContext
from superdiff.sampler import NoiseSource
from superdiff.schedules import Schedule
from superdiff.spaces import Euclidean


@dataclass(frozen=True)
class GuidedResult:
    """Final latents ``x [B, D]``, conditional log densities ``log_q [B, M]`` (float64, nats), the mean κ over the
    path ``kappa_mean [B, M]`` and, for AND, the largest constraint residual ``and_residual [B]`` (nats)."""

    x: Tensor
    log_q: Tensor
    kappa_mean: Tensor
    and_residual: Tensor | None
    log_w: Tensor | None = None


KAPPA_FROM = ("guided", "unguided")
DEFAULT_KAPPA_FROM = "guided"


def _sample_chunk(cond_models, uncond_model, schedule, operator, guidance, dim, seeds, steps, t_min, device, dtype,
                  progress, kappa_from) -> GuidedResult:
    batch, m = len(seeds), len(cond_models)
    noise = NoiseSource(batch, device, None, seeds)
    x = noise.normal((dim,), dtype)
    log_q = Euclidean().log_standard_normal(x)[:, None].expand(batch, m).clone()
    times = torch.linspace(1.0, t_min, steps + 1, dtype=torch.float64)
    needs_grad = operator.needs_derivatives()
    kappa_sum = torch.zeros(batch, m, dtype=torch.float64, device=device)
    residual, has_residual = torch.zeros(batch, dtype=torch.float64, device=device), False
    for k in tqdm(range(steps), desc=f"guided {operator!r}", disable=not progress, leave=False):
        t, t_next = float(times[k]), float(times[k + 1])
        dtau = t - t_next
        t_batch = torch.full((batch,), t, device=device, dtype=dtype)
        x_in = x.detach().requires_grad_(True) if needs_grad else x
        with torch.set_grad_enabled(needs_grad):
            scores = torch.stack([model(x_in, t_batch) for model in cond_models], dim=1)  # [B, M, D]
        with torch.no_grad():
            s_u = uncond_model(x, t_batch) if guidance != 1.0 else torch.zeros_like(x)
        if not (torch.isfinite(scores).all() and torch.isfinite(s_u).all()):
            raise FloatingPointError(f"non-finite scores at step {k} (t={t:.4g})")
        g2 = float(schedule.beta(t))
        f = schedule.drift(x.detach(), t)
        xi = (g2 * dtau) ** 0.5 * noise.normal((dim,), dtype)
        # d log q^i term from the unconditional part of the guided drift, known before the step.
        extra = (1.0 - guidance) * g2 * dtau * (scores.detach().double() * s_u.double()[:, None]).sum(-1)
        quad = ((lambda u, _x=x_in, _s=scores: density.quadratic_forms(_x, _s, u))
                if needs_grad and scores.requires_grad else None)
        guided = kappa_from == "guided"  # else the reference recipe: κ as if unguided, guidance applied afterwards
        ctx = StepContext(scores=scores.detach(), log_q=log_q, noise=xi, g2=g2, dtau=dtau,
                          drift_scale=guidance if guided else 1.0, noise_scale=1.0,
                          log_q_extra=extra if guided else None, quadratic_forms=quad)
        comb = operator.combine(ctx)
        scores = scores.detach()
        v = (1.0 - guidance) * s_u + guidance * comb.score
        dx = (-f + g2 * v) * dtau + comb.noise
        inc = density.ito_increment(dx, scores, f, g2, float(schedule.divergence_of_drift(t, dim)), dtau)
        if comb.log_q_correction is not None:
            inc = inc + comb.log_q_correction
        log_q = log_q + inc
        x = (x.detach() + dx).detach()
        kappa_sum += comb.kappa.detach().to(kappa_sum)
        if comb.residual is not None:
            residual, has_residual = torch.maximum(residual, comb.residual), True
    return GuidedResult(x, log_q, kappa_sum / steps, residual if has_residual else None)


def sample_guided(
    cond_models: Sequence,
    uncond_model,
    schedule: Schedule,
    operator: Operator,
    *,
    guidance: float,
    dim: int,
    seeds: Sequence[int],
    steps: int = 200,
    t_min: float = 1e-3,
    batch_size: int = 500,
    kappa_from: str = DEFAULT_KAPPA_FROM,
    progress: bool = False,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> GuidedResult:
    """Reverse-SDE sampling of ``operator`` over ``cond_models`` inside classifier-free guidance of weight ``w``.

    Args:
        cond_models: M conditional score models ``(x [B, D], t [B]) -> [B, D]``.
        uncond_model: the shared unconditional score model.
        guidance: ``w > 0``; 1 means no guidance (the unconditional model is then not evaluated).
        dim: latent dimension D.
        seeds: one seed per design (batch-invariant results).
        batch_size: designs per chunk (results do not depend on it).
        kappa_from: "guided" (default) solves the operator's constraint for the guided step, so AND keeps the
            conditional log densities equal; "unguided" computes κ as if the step were unguided and then applies
            guidance (the reference LDMol recipe; AND's equality then only holds at w = 1).

    Returns:
        :class:`GuidedResult`.
    """
    if kappa_from not in KAPPA_FROM:
        raise ValueError(f"kappa_from must be one of {KAPPA_FROM}, got {kappa_from!r}")
    if not guidance > 0:
        raise ValueError(f"guidance must be > 0, got {guidance}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if len(seeds) == 0:
        raise ValueError("seeds is empty: give one seed per design")
    operator.validate(len(cond_models))
    device = torch.device(device)
    parts = [_sample_chunk(cond_models, uncond_model, schedule, operator, float(guidance), dim,
                           list(seeds[i:i + batch_size]), steps, t_min, device, dtype, progress, kappa_from)
             for i in range(0, len(seeds), batch_size)]
    residuals = [p.and_residual for p in parts]
    return GuidedResult(
        x=torch.cat([p.x for p in parts]),
        log_q=torch.cat([p.log_q for p in parts]),
        kappa_mean=torch.cat([p.kappa_mean for p in parts]),
        and_residual=None if residuals[0] is None else torch.cat(residuals),
    )


def sample_guided_product(
    cond_models: Sequence,
    uncond_model,
    schedule: Schedule,
    *,
    guidance: float,
    exponents: Sequence[float] | None,
    dim: int,
    seeds: Sequence[int],
    steps: int = 200,
    t_min: float = 1e-3,
    batch_size: int = 500,
    progress: bool = False,
    device: str | torch.device = "cpu",
) -> GuidedResult:
    r"""The guided product ``q_u^{1 − w Σc} Π_i q_i^{w c_i}``, sampled exactly by the engine's Product operator.

    Classifier-free guidance of independent conditions is itself a product of powers of the unconditional and
    conditional densities, so no local loop is needed: :class:`superdiff.Product` over ``[s_u, s_1, …, s_M]``
    with exponents ``(1 − w Σ c_i, w c_1, …, w c_M)`` has the guided drift ``s_u + w Σ c_i (s_i − s_u)`` and
    Feynman–Kac weights that make it exact (SMC resampling within each chunk of ``batch_size`` designs).
    Returns the conditional log densities, the exponents as ``kappa_mean`` and the final log weights.
    """
    from superdiff import Product, sample

    c = [1.0] * len(cond_models) if exponents is None else [float(e) for e in exponents]
    if len(c) != len(cond_models):
        raise ValueError(f"--exponent has {len(c)} values, expected one per condition ({len(cond_models)})")
    weights = [1.0 - guidance * sum(c), *(guidance * ci for ci in c)]
    result = sample([uncond_model, *cond_models], schedule, Product(weights), shape=(dim,), seeds=list(seeds),
                    steps=steps, t_min=t_min, batch_size=batch_size, progress=progress, device=device)
    kappa = torch.tensor(c, dtype=torch.float64).expand(len(seeds), -1)
    return GuidedResult(x=result.x, log_q=result.log_q[:, 1:], kappa_mean=kappa, and_residual=None, log_w=result.log_w)
