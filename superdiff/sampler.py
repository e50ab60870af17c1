r"""The one sampling loop: reverse SDE (or probability-flow ODE) over composed models, with log densities.

Each step (reverse time ``τ = 1 − t``, Euler–Maruyama):

1. every model's score at the current point, ``S [B, M, D]``;
2. the step's noise ``ξ = η g sqrt(dτ) z`` from each design's own generator;
3. the operator's weights and noise (:mod:`superdiff.operators`);
4. ``dx = (−f + λ g² Σ κ_i s_i) dτ + ξ``, ``λ = (1 + η²) / 2``;
5. each model's log density updated by the Itô (or kernel-ratio) estimator (:mod:`superdiff.density`).

With :class:`~superdiff.guidance.Guidance` the drift in 4 becomes ``λ g² (w Σ κ_i s_i + (1 − w) s_u)`` and the
operator is told so (``drift_scale`` and ``log_q_extra``; :mod:`superdiff.guidance` has the derivation).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from superdiff import density
from superdiff.guidance import Guidance
from superdiff.operators import Operator, StepContext
from superdiff.resampling import effective_sample_size, systematic_resample
from superdiff.schedules import Schedule
from superdiff.spaces import Euclidean

ESTIMATORS = ("ito", "kernel_ratio")
METHODS = ("sde", "ode")


@dataclass(frozen=True)
class SampleResult:
    """What :func:`sample` returns.

    Attributes:
        x: final samples ``[B, *shape]`` (at ``t = t_min``).
        log_q: ``[B, M]`` float64, each model's estimated log density at ``x`` (nats).
        t: ``[steps + 1]`` float64 forward times of the grid, from 1 to ``t_min``.
        kappa: ``[steps, B, M]`` float64 weights per step (``record=True``), else None.
        log_q_path: ``[steps + 1, B, M]`` float64 log densities along the path (``record=True``), else None.
        and_residual: ``[B]`` largest AND constraint residual over the path (nats), for AND only.
        log_w: ``[B]`` float64 final importance log weights (Feynman–Kac operators such as Product), else None.
            Estimates under the target are ``Σ softmax(log_w)_j h(x_j)``.
        ess: ``[steps]`` effective sample size after each step's weight update (before resampling).
        ancestry: ``[steps, B]`` int64: after step k, particle j continues particle ``ancestry[k, j]``.
    """

    x: Tensor
    log_q: Tensor
    t: Tensor
    kappa: Tensor | None = None
    log_q_path: Tensor | None = None
    and_residual: Tensor | None = None
    log_w: Tensor | None = None
    ess: Tensor | None = None
    ancestry: Tensor | None = None


class NoiseSource:
    """Gaussian and Rademacher draws, either from one shared generator or one generator per design.

    With per-design generators each design draws its own numbers in a fixed order, so its trajectory does not
    depend on which other designs share its batch.
    """

    def __init__(self, batch: int, device: torch.device, generator: torch.Generator | None,
                 seeds: Sequence[int] | None):
        self.batch = batch
        self.device = device
        if seeds is not None:
            if len(seeds) != batch:
                raise ValueError(f"seeds has {len(seeds)} entries but the batch has {batch} designs")
            self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
            self.shared = None
        else:
            self.generators = None
            self.shared = generator

    def normal(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """Standard normal ``[B, *shape]``."""
        if self.generators is None:
            return torch.randn((self.batch, *shape), generator=self.shared, device=self.device, dtype=dtype)
        return torch.stack([torch.randn(shape, generator=g, device=self.device, dtype=dtype) for g in self.generators])

    def rademacher(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """Uniform ±1 ``[B, *shape]``."""
        if self.generators is None:
            bits = torch.randint(0, 2, (self.batch, *shape), generator=self.shared, device=self.device)
        else:
            bits = torch.stack([torch.randint(0, 2, shape, generator=g, device=self.device) for g in self.generators])
        return bits.to(dtype) * 2 - 1


def _check_scores(outs: list[Tensor], x: Tensor, step: int, t: float, models: Sequence) -> None:
    for i, out in enumerate(outs):
        if out.shape != x.shape:
            raise ValueError(
                f"model {i} ({models[i]!r}) returned a score of shape {tuple(out.shape)} for input of shape "
                f"{tuple(x.shape)}; every model must return the input's shape"
            )
        if not torch.isfinite(out).all():
            raise FloatingPointError(f"model {i} ({models[i]!r}) returned non-finite scores at step {step} (t={t:.4g})")


def _validate(models: Sequence, operator: Operator, steps: int, t_min: float, estimator: str, method: str,
              noise_scale: float, guidance: Guidance | None) -> None:
    if len(models) == 0:
        raise ValueError("models is empty: give at least one score model")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not 0.0 < t_min < 1.0:
        raise ValueError(f"t_min must lie in (0, 1), got {t_min}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if noise_scale < 0:
        raise ValueError(f"noise_scale must be >= 0, got {noise_scale}")
    if estimator == "kernel_ratio" and (method == "ode" or noise_scale != 1.0):
        raise ValueError("estimator='kernel_ratio' needs the full-noise SDE (method='sde', noise_scale=1)")
    if operator.full_noise_only and (method == "ode" or noise_scale != 1.0):
        raise ValueError(f"{operator!r} needs the full-noise SDE (method='sde', noise_scale=1), got "
                         f"method={method!r}, noise_scale={noise_scale}")
    if guidance is not None and guidance.active and operator.feynman_kac:
        raise ValueError(f"{operator!r} cannot run inside guidance: its importance weights assume the drift "
                         "Σ c_i s_i. Guidance is itself a product: add the unconditional model as a factor with "
                         "exponent 1 − w Σc and scale the others by w")
    operator.validate(len(models))


def _population_generator(seeds: Sequence[int] | None, generator: torch.Generator | None) -> torch.Generator:
    """The generator for resampling decisions: derived from all the designs' seeds (or the shared generator)."""
    if seeds is None:
        if generator is None:
            return torch.Generator()
        # Seeded by (not drawn from) the shared generator: reproducible on any device, noise stream untouched.
        return torch.Generator().manual_seed(generator.initial_seed())
    digest = hashlib.sha256(",".join(str(int(s)) for s in seeds).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def sample(
    models: Sequence,
    schedule: Schedule,
    operator: Operator,
    *,
    shape: Sequence[int] | None = None,
    x_init: Tensor | None = None,
    steps: int = 500,
    t_min: float = 1e-3,
    generator: torch.Generator | None = None,
    seeds: Sequence[int] | None = None,
    log_q_init: Tensor | None = None,
    estimator: str = "ito",
    method: str = "sde",
    noise_scale: float = 1.0,
    hutchinson_probes: int = 1,
    space: Euclidean | None = None,
    batch_size: int | None = None,
    record: bool = False,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    guidance: Guidance | None = None,
) -> SampleResult:
    """Sample from the superposition of ``models`` under ``operator`` and estimate every model's log density.

    Args:
        models: M score models ``model(x [B, *shape], t [B]) -> score``, sharing ``schedule``.
        schedule: the forward noise schedule all models were trained with.
        operator: :class:`~superdiff.Single`, :class:`~superdiff.Average`, :class:`~superdiff.Or` or
            :class:`~superdiff.And`.
        shape: one sample's shape; needed unless ``x_init`` is given.
        x_init: starting points at ``t = 1``, ``[B, *shape]``; drawn from N(0, I) on ``space`` by default.
        steps: number of Euler steps from ``t = 1`` to ``t_min``.
        generator: one shared generator (results then depend on batch composition).
        seeds: one seed per design: each design gets its own generator (batch-invariant results).
        log_q_init: ``[B, M]`` or ``[B]`` initial log densities; default ``log N(x_init; 0, I)`` for every model.
        estimator: "ito" or "kernel_ratio" (SDE with full noise only).
        method: "sde" (reverse SDE) or "ode" (probability flow; log densities need a Hutchinson trace).
        noise_scale: ``η``; values other than 1 add the Hutchinson-estimated ``½ (η² − 1) g² Δ log q dτ``
            correction, so the estimate stays unbiased (needs differentiable models).
        hutchinson_probes: Rademacher probes per step for the Laplacian estimate.
        space: :class:`~superdiff.spaces.Euclidean` (default) or a subspace such as centred coordinates.
        batch_size: split the designs into chunks of this size (results are identical with ``seeds``, except
            for resampling operators, where each chunk is its own population).
        record: keep per-step ``kappa`` and ``log_q`` trajectories.
        progress: show a progress bar.
        device: where to sample; defaults to ``x_init``'s device, else CPU.
        dtype: floating type of the samples and model inputs (log densities are always float64).
        guidance: classifier-free guidance around the composition (:class:`~superdiff.guidance.Guidance`): the
            drift uses ``w Σ κ_i s_i + (1 − w) s_u``; ``log_q`` stays the composed (conditional) models'.

    Returns:
        :class:`SampleResult`.
    """
    models = list(models)
    eta = 0.0 if method == "ode" else float(noise_scale)
    _validate(models, operator, steps, t_min, estimator, method, eta, guidance)
    if guidance is not None and not guidance.active:
        guidance = None
    space = space or Euclidean()
    if x_init is None and shape is None:
        raise ValueError("give either shape (one sample's shape) or x_init")
    if x_init is not None and shape is not None and tuple(x_init.shape[1:]) != tuple(shape):
        raise ValueError(f"x_init has sample shape {tuple(x_init.shape[1:])} but shape={tuple(shape)}")
    if x_init is None and seeds is None and generator is None:
        raise ValueError("give seeds (one per design, recommended) or a generator, so the samples are reproducible")
    if device is None:
        device = x_init.device if x_init is not None else torch.device("cpu")
    device = torch.device(device)
    batch = x_init.shape[0] if x_init is not None else (len(seeds) if seeds is not None else None)
    if batch is None:
        raise ValueError("with a shared generator and no x_init, pass seeds or x_init to fix the number of designs")

    if batch_size is not None and batch_size < batch:
        if seeds is None:
            raise ValueError("batch_size needs per-design seeds, so that chunking cannot change results")
        chunks = [slice(i, min(i + batch_size, batch)) for i in range(0, batch, batch_size)]
        parts = [
            sample(models, schedule, operator, shape=shape, x_init=None if x_init is None else x_init[c],
                   steps=steps, t_min=t_min, seeds=list(seeds[c]),
                   log_q_init=None if log_q_init is None else log_q_init[c], estimator=estimator, method=method,
                   noise_scale=noise_scale, hutchinson_probes=hutchinson_probes, space=space, record=record,
                   progress=progress, device=device, dtype=dtype, guidance=guidance)
            for c in chunks
        ]
        return _concatenate(parts)

    noise = NoiseSource(batch, device, generator, seeds)
    init_scale = operator.initial_scale() if x_init is None else 1.0
    if x_init is None:
        x = init_scale * space.project(noise.normal(tuple(shape), dtype))
    else:
        x = space.project(x_init.to(device=device, dtype=dtype))
    sample_shape = tuple(x.shape[1:])
    dim = space.dim(sample_shape)
    m = len(models)
    if log_q_init is None:
        log_q = space.log_standard_normal(x)[:, None].expand(batch, m).clone()
    else:
        log_q = torch.as_tensor(log_q_init, dtype=torch.float64, device=device)
        log_q = (log_q[:, None] if log_q.dim() == 1 else log_q).expand(batch, m).clone()

    times = torch.linspace(1.0, t_min, steps + 1, dtype=torch.float64)
    lam = 0.5 * (1.0 + eta**2)
    needs_laplacian = eta != 1.0
    needs_grad = needs_laplacian or operator.needs_derivatives()
    kappas, log_qs = [], [log_q.clone()] if record else []
    residual = torch.zeros(batch, dtype=torch.float64, device=device) if operator.min_models >= 2 else None
    has_residual = False
    log_prior = space.log_standard_normal(x / init_scale) - dim * math.log(init_scale)
    log_w = operator.initial_log_weights(log_q, log_prior)
    ess_path, ancestry = [], []
    resampler = _population_generator(seeds, generator) if operator.ess_threshold is not None else None

    iterator = tqdm(range(steps), desc=f"sampling ({operator!r})", disable=not progress, leave=False)
    for k in iterator:
        t, t_next = float(times[k]), float(times[k + 1])
        dtau = t - t_next
        t_batch = torch.full((batch,), t, device=device, dtype=dtype)
        x_in = x.detach().requires_grad_(True) if needs_grad else x
        with torch.set_grad_enabled(needs_grad):
            outs = [model(x_in, t_batch) for model in models]
            if k == 0:
                _check_scores(outs, x, k, t, models)
            scores = space.project(torch.stack(outs, dim=1)).flatten(2)  # [B, M, D]
        if k > 0 and not torch.isfinite(scores).all():
            _check_scores(outs, x, k, t, models)
        differentiable = needs_grad and scores.requires_grad
        s_u = None
        if guidance is not None:
            with torch.no_grad():
                out_u = guidance.unconditional(x.detach(), t_batch)
            if k == 0 or not torch.isfinite(out_u).all():
                _check_scores([out_u], x, k, t, [guidance.unconditional])
            s_u = space.project(out_u).flatten(1)

        g2 = float(schedule.beta(t))
        f = schedule.drift(x.detach(), t).flatten(1)
        xi = eta * (g2 * dtau) ** 0.5 * space.project(noise.normal(sample_shape, dtype)).flatten(1)
        extra = None
        if needs_laplacian:
            if not differentiable:
                raise ValueError(
                    f"noise_scale={eta} (method={method!r}) needs the Laplacian of log q, but the models' scores are "
                    "not differentiable with respect to x; use method='sde' with noise_scale=1"
                )
            probes = space.project(noise.rademacher((hutchinson_probes, *sample_shape), dtype)).flatten(2)
            lap = density.hutchinson_laplacian(x_in, scores, probes)
            extra = density.laplacian_correction(lap, g2, dtau, eta)

        quad = (lambda u, _x=x_in, _s=scores: density.quadratic_forms(_x, _s, u)) if differentiable else None
        div_f = float(schedule.divergence_of_drift(t, dim))
        drift_scale, known = lam, extra
        if guidance is not None:
            drift_scale = guidance.drift_scale(lam)
            guided_extra = guidance.log_q_extra(scores.detach(), s_u, lam, g2, dtau)
            if guided_extra is not None:  # enters log q through dx below, so only the operator is told
                known = guided_extra if known is None else known + guided_extra
        ctx = StepContext(scores=scores.detach(), log_q=log_q, noise=xi, g2=g2, dtau=dtau, drift_scale=drift_scale,
                          noise_scale=eta, log_q_extra=known, quadratic_forms=quad, div_f=div_f, step=k)
        comb = operator.combine(ctx)
        scores = scores.detach()
        velocity = comb.score if guidance is None else guidance.velocity(comb.score, s_u)
        dx = (-f + lam * g2 * velocity) * dtau + comb.noise

        if estimator == "ito":
            inc = density.ito_increment(dx, scores, f, g2, div_f, dtau)
        else:
            alpha_ratio = float(torch.exp(schedule.log_alpha(t) - schedule.log_alpha(t_next)))
            inc = density.kernel_ratio_increment(dx, scores, f, g2, dtau, x.detach().flatten(1), alpha_ratio)
        if extra is not None:
            inc = inc + extra
        if comb.log_q_correction is not None:
            inc = inc + comb.log_q_correction
        log_q = log_q + inc
        x = (x.detach() + dx.view_as(x)).detach()

        if comb.residual is not None:
            residual = torch.maximum(residual, comb.residual)
            has_residual = True
        if comb.log_w_increment is not None:
            log_w = comb.log_w_increment if log_w is None else log_w + comb.log_w_increment
            ess = effective_sample_size(log_w)
            ess_path.append(ess)
            parents = torch.arange(batch, device=device)
            if resampler is not None and ess < operator.ess_threshold * batch:
                parents = systematic_resample(log_w, resampler)
                x, log_q = x[parents], log_q[parents]
                log_w = torch.zeros_like(log_w)
            ancestry.append(parents)
        if record:
            kappas.append(comb.kappa.detach())
            log_qs.append(log_q.clone())

    return SampleResult(
        x=x,
        log_q=log_q,
        t=times,
        kappa=torch.stack(kappas) if record else None,
        log_q_path=torch.stack(log_qs) if record else None,
        and_residual=residual if has_residual else None,
        log_w=log_w,
        ess=torch.stack(ess_path) if ess_path else None,
        ancestry=torch.stack(ancestry) if ancestry else None,
    )


def _concatenate(parts: list[SampleResult]) -> SampleResult:
    def cat(name: str, dim: int):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values, dim=dim)

    offsets, start = [], 0
    for part in parts:  # ancestry indices are per chunk: shift them to batch positions
        offsets.append(start)
        start += part.x.shape[0]
    ess = None if parts[0].ess is None else torch.stack([p.ess for p in parts])  # [chunks, steps]
    ancestry = None
    if parts[0].ancestry is not None:
        ancestry = torch.cat([p.ancestry + o for p, o in zip(parts, offsets, strict=True)], dim=1)
    return SampleResult(x=cat("x", 0), log_q=cat("log_q", 0), t=parts[0].t, kappa=cat("kappa", 1),
                        log_q_path=cat("log_q_path", 1), and_residual=cat("and_residual", 0),
                        log_w=cat("log_w", 0), ess=ess,
                        ancestry=ancestry)
