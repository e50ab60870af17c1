r"""The one sampling loop: reverse SDE (or probability-flow ODE) over composed models, with log densities.

Each step (reverse time ``τ = 1 − t``, Euler–Maruyama):

1. every model's score at the current point, ``S [B, M, D]``;
2. the step's noise ``ξ = η g sqrt(dτ) z`` from each design's own generator;
3. the operator's weights and noise (:mod:`superdiff.engine.operators`);
4. ``dx = (−f + λ g² Σ κ_i s_i) dτ + ξ``, ``λ = (1 + η²) / 2``;
5. each model's log density updated by the Itô (or kernel-ratio) estimator (:mod:`superdiff.engine.estimators`).

With :class:`~superdiff.engine.guidance.Guidance` the drift in 4 becomes ``λ g² (w Σ κ_i s_i + (1 − w) s_u)`` and the
operator is told so (``drift_scale`` and ``log_q_extra``; :mod:`superdiff.engine.guidance` has the derivation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from superdiff.engine import estimators, paths
from superdiff.engine.guidance import Guidance
from superdiff.engine.operators import Combination, Operator, StepContext
from superdiff.engine.paths import GaussianPath
from superdiff.engine.seeds import NoiseSource, population_generator
from superdiff.engine.smc import effective_sample_size, systematic_resample
from superdiff.engine.spaces import Euclidean

METHODS = ("sde", "ode")
DEFAULT_STEPS = 500
NoiseScale = float | Callable[[float], float]


@dataclass(frozen=True)
class SampleResult:
    """What :func:`sample` returns.

    Attributes:
        x: final samples ``[B, *shape]`` (at the grid's last time).
        log_q: ``[B, M]`` float64, each model's estimated log density at ``x`` (nats).
        t: ``[steps + 1]`` float64 forward times of the grid, decreasing (``t_max`` to ``t_min``).
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


def _check_scores(outs: list[Tensor], x: Tensor, step: int, t: float, models: Sequence,
                  tangent_shape: tuple[int, ...]) -> None:
    expected = (x.shape[0], *tangent_shape)
    for i, out in enumerate(outs):
        if tuple(out.shape) != expected:
            raise ValueError(
                f"model {i} ({models[i]!r}) returned a score of shape {tuple(out.shape)} for input of shape "
                f"{tuple(x.shape)}; every model must return the tangent shape {expected} (the input's shape on "
                "Euclidean spaces)"
            )
        if not torch.isfinite(out).all():
            raise FloatingPointError(f"model {i} ({models[i]!r}) returned non-finite scores at step {step} (t={t:.4g})")


def check_finite(what: str, values: Tensor) -> None:
    """Raise FloatingPointError naming the designs (batch rows) of ``values [B, ...]`` that are not finite."""
    bad = ~torch.isfinite(values.detach().reshape(values.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten().tolist()
        shown = ", ".join(map(str, rows[:10])) + (" …" if len(rows) > 10 else "")
        raise FloatingPointError(f"{what} of {len(rows)} of {values.shape[0]} designs are not finite "
                                 f"(designs {shown}): a model overflowed; nothing was returned")


def time_grid(path: GaussianPath, steps: int | None, times, t_max: float | None, t_min: float) -> Tensor:
    """The decreasing float64 grid ``[steps + 1]``: explicit ``times``, a named grid ("uniform", "log_snr", "edm"
    from :mod:`superdiff.engine.paths`) or uniform from ``t_max`` (default 1) to ``t_min``."""
    if times is not None and not isinstance(times, str):
        grid = torch.as_tensor(times, dtype=torch.float64).flatten().cpu()
        if grid.numel() < 2 or not bool((grid[1:] < grid[:-1]).all()) or not (grid[-1] > 0 and grid[0] <= 1):
            raise ValueError(f"times must be a strictly decreasing grid of >= 2 forward times in (0, 1], got "
                             f"{grid.tolist()[:6]}{' …' if grid.numel() > 6 else ''}")
        if steps is not None and steps != grid.numel() - 1:
            raise ValueError(f"steps={steps} but times has {grid.numel()} points ({grid.numel() - 1} steps): "
                             "give one or the other")
        if getattr(path, "singular_at_one", False) and float(grid[0]) >= 1.0:
            raise ValueError(f"times starts at 1, where {path!r} is singular: start below 1 (e.g. 0.999)")
        return grid
    steps = DEFAULT_STEPS if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not 0.0 < t_min < 1.0:
        raise ValueError(f"t_min must lie in (0, 1), got {t_min}")
    t_max = 1.0 if t_max is None else float(t_max)
    if times is None or times == "uniform":
        return paths.uniform_grid(steps, t_max, t_min, path=path if hasattr(path, "singular_at_one") else None)
    if not hasattr(path, "log_snr"):
        raise ValueError(f"times={times!r} needs a path with a signal-to-noise ratio; {path!r} has none: use "
                         "'uniform' or an explicit grid")
    return paths.make_grid(times, path, steps, t_max, t_min)


def noise_levels(noise_scale: NoiseScale, grid: Tensor, method: str) -> list[float]:
    """``η(t_k)`` for every step: 0 for the ODE, else the constant or the callable ``noise_scale(t)``.

    ``η g_t`` is the diffusion actually injected (flow-matching users' ``ε_t``); ``η ≠ 1`` is corrected in the
    estimate with the Hutchinson Laplacian (SCIENCE.md §2, §9).
    """
    if method == "ode":
        return [0.0] * (grid.numel() - 1)
    etas = [float(noise_scale(float(t))) if callable(noise_scale) else float(noise_scale) for t in grid[:-1]]
    bad = [(float(t), e) for t, e in zip(grid[:-1], etas, strict=True) if not (e >= 0 and math.isfinite(e))]
    if bad:
        raise ValueError(f"noise_scale must be finite and >= 0 at every step, got {bad[0][1]} at t={bad[0][0]:.4g}")
    return etas


def check_contract(models: Sequence, operator: Operator, etas: Sequence[float], estimator: str, method: str,
                   guidance: Guidance | None, space: Euclidean) -> None:
    """Raise ValueError for any argument combination the sampler cannot honour (checked once, before any work)."""
    if len(models) == 0:
        raise ValueError("models is empty: give at least one score model")
    if estimator not in estimators.ESTIMATORS:
        raise ValueError(f"estimator must be one of {tuple(estimators.ESTIMATORS)}, got {estimator!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    full_noise = method == "sde" and all(e == 1.0 for e in etas)
    if estimator == "kernel_ratio" and not full_noise:
        raise ValueError("estimator='kernel_ratio' needs the full-noise SDE (method='sde', noise_scale=1)")
    if estimator == "kernel_ratio" and not space.euclidean:
        raise ValueError(f"estimator='kernel_ratio' needs Gaussian transition kernels, which {space!r} does not "
                         "have: use estimator='ito'")
    if operator.full_noise_only and not full_noise:
        raise ValueError(f"{operator!r} needs the full-noise SDE (method='sde', noise_scale=1), got "
                         f"method={method!r}, noise_scale={sorted(set(etas))[:3]}")
    if guidance is not None and guidance.active and operator.feynman_kac:
        how = ("multiply its exponents by w" if guidance.unconditional is None else
               "add the unconditional model as a factor with exponent 1 − w Σc and scale the others by w")
        raise ValueError(f"{operator!r} cannot run inside guidance: its importance weights assume the drift "
                         f"Σ c_i s_i. Guidance is itself a product: {how}")
    operator.validate(len(models))


@dataclass(frozen=True)
class _Plan:
    """Everything decided once before the loop: models, operator, estimator, grid, noise level, what to keep."""

    models: list
    schedule: GaussianPath
    operator: Operator
    estimator: estimators.Ito
    guidance: Guidance | None
    space: Euclidean
    times: Tensor
    etas: list[float]
    hutchinson_probes: int
    model_batch: int | None
    dtype: torch.dtype
    device: torch.device
    record: bool

    def lam(self, k: int) -> float:
        """Drift scale ``λ = (1 + η²) / 2`` of step k: 1 for the SDE, ½ for the probability-flow ODE."""
        return 0.5 * (1.0 + self.etas[k] ** 2)

    def needs_grad(self, k: int) -> bool:
        """Whether step k's scores need their autograd graph (Laplacian correction or the operator's derivatives)."""
        return self.etas[k] != 1.0 or self.operator.needs_derivatives(k)


@dataclass
class _State:
    """The population along the path: positions, log densities, importance weights and what is recorded."""

    x: Tensor
    log_q: Tensor
    log_w: Tensor | None
    residual: Tensor | None
    has_residual: bool = False
    kappas: list = field(default_factory=list)
    log_qs: list = field(default_factory=list)
    ess: list = field(default_factory=list)
    ancestry: list = field(default_factory=list)
    log_q_blocks: Tensor | None = None  # [B, M, K] for operators that weight each block of the space separately
    curvature_trace: Tensor | None = None  # [B, M, ...] what the operator keeps of its curvature between steps


@dataclass(frozen=True)
class _Scores:
    """One step's model evaluations: flattened scores ``[B, M, D]`` (graph kept when needed), the tangent variable
    ``wrt`` they depend on (a zero step from the current state, for derivatives), and the unconditional score
    ``[B, D]`` under guidance."""

    scores: Tensor
    wrt: Tensor
    differentiable: bool
    unconditional: Tensor | None


def sample(
    models: Sequence,
    schedule: GaussianPath,
    operator: Operator,
    *,
    shape: Sequence[int] | None = None,
    x_init: Tensor | None = None,
    x_init_log_density: Tensor | None = None,
    steps: int | None = None,
    t_min: float = 1e-3,
    t_max: float | None = None,
    times: Tensor | Sequence[float] | str | None = None,
    generator: torch.Generator | None = None,
    seeds: Sequence[int] | None = None,
    log_q_init: Tensor | None = None,
    estimator: str = "ito",
    method: str = "sde",
    noise_scale: NoiseScale = 1.0,
    hutchinson_probes: int = 1,
    space: Euclidean | None = None,
    batch_size: int | None = None,
    model_batch: int | None = None,
    record: bool = False,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    guidance: Guidance | None = None,
) -> SampleResult:
    """Sample from the superposition of ``models`` under ``operator``, estimating every model's log density.

    Args:
        models: M score models ``model(x [B, *shape], t [B]) -> score``, all on ``schedule``'s clock (a model
            trained on another Gaussian path joins through :func:`superdiff.models.align`).
        schedule: the Gaussian path (forward SDE) the models share: :class:`~superdiff.VPLinear`,
            :class:`~superdiff.VPCosine`, :class:`~superdiff.LinearInterpolant`, :class:`~superdiff.VarianceExploding`.
        operator: Single, Average, Or, And or Product; shape: one sample's shape (needed unless ``x_init`` is given).
        x_init: starting points at the grid's first time, ``[B, *shape]``; drawn from the path's prior
            ``N(0, (α² + σ²) I)`` at that time on ``space`` by default (N(0, I) for VP paths).
        x_init_log_density: ``[B]`` log density of the distribution ``x_init`` was drawn from, for the initial
            importance weights of Feynman–Kac operators; without it ``x_init`` counts as drawn from the target.
        steps: number of Euler steps (default 500; implied by an explicit ``times``).
        t_min, t_max: the grid's ends (``t_max`` default 1; paths singular at 1 need ``t_max < 1``).
        times: an explicit decreasing grid of forward times, or a grid name: "uniform" (default), "log_snr"
            (uniform in log-SNR, the natural grid of the cosine path) or "edm" (Karras et al.'s ρ = 7 grid).
        generator, seeds: one shared generator (results then depend on the batch), or one seed per design (each
            design gets its own generator: batch-invariant results).
        log_q_init: ``[B, M]`` or ``[B]`` initial log densities; default ``log N(x_init; 0, I)`` for every model.
        estimator, method: "ito" or "kernel_ratio" (full-noise SDE on Euclidean spaces); "sde" (reverse SDE) or
            "ode" (probability flow; log densities need a Hutchinson trace).
        noise_scale: ``η``, a constant or a function of t (the injected diffusion is ``η g_t``); values other than
            1 add the Hutchinson-estimated ``½ (η² − 1) g² Δ log q dτ`` correction, so the estimate stays unbiased
            (needs differentiable models).
        hutchinson_probes: Rademacher probes per step for the Laplacian estimate; space: where the samples live
            (:class:`~superdiff.spaces.Euclidean` by default, or e.g. centred coordinates).
        batch_size: split the designs into chunks of this size (results are identical with ``seeds``, except
            for resampling operators, where each chunk is its own population).
        model_batch: evaluate every model on fixed micro-batches of this many designs (the last one padded), so a
            design's coordinates are bit-identical on CPU in any batch or shard; None: the whole batch at once.
        record, progress: keep per-step ``kappa`` and ``log_q`` trajectories; show a progress bar.
        device, dtype: where to sample (default ``x_init``'s device, else CPU); floating type of the samples
            and model inputs (log densities are always float64).
        guidance: classifier-free guidance around the composition (:class:`~superdiff.guidance.Guidance`): the
            drift uses ``w Σ κ_i s_i + (1 − w) s_u``; ``log_q`` stays the composed (conditional) models'.
    """
    models, grid, space = list(models), time_grid(schedule, steps, times, t_max, t_min), space or Euclidean()
    etas = noise_levels(noise_scale, grid, method)
    check_contract(models, operator, etas, estimator, method, guidance, space)
    batch = _check_inputs(shape, x_init, seeds, generator)
    device = torch.device(device if device is not None else (x_init.device if x_init is not None else "cpu"))
    if batch_size is not None and batch_size < batch:
        return _sample_in_chunks(batch, batch_size, locals())
    plan = _Plan(models=models, schedule=schedule, operator=operator,
                 estimator=estimators.make_estimator(estimator, schedule),
                 guidance=guidance if guidance is not None and guidance.active else None,
                 space=space, times=grid, etas=etas, hutchinson_probes=hutchinson_probes, model_batch=model_batch,
                 dtype=dtype, device=device, record=record)
    noise = NoiseSource(batch, device, generator, seeds)
    return _run(plan, _initial_state(plan, noise, shape, x_init, x_init_log_density, log_q_init), noise, seeds,
                generator, progress)


def _run(plan: _Plan, state: _State, noise: NoiseSource, seeds, generator, progress: bool) -> SampleResult:
    """The loop: one step, then resampling if the population's weights call for it."""
    resampler = population_generator(seeds, generator) if plan.operator.ess_threshold is not None else None
    steps = plan.times.numel() - 1
    for k in tqdm(range(steps), desc=f"sampling ({plan.operator!r})", disable=not progress, leave=False):
        _step(plan, state, noise, k)
        _resample(plan, state, resampler, k)
    return _finish(plan, state)


def _check_inputs(shape, x_init: Tensor | None, seeds, generator) -> int:
    """The number of designs, after checking that the starting points are determined and reproducible."""
    if x_init is None and shape is None:
        raise ValueError("give either shape (one sample's shape) or x_init")
    if x_init is not None and shape is not None and tuple(x_init.shape[1:]) != tuple(shape):
        raise ValueError(f"x_init has sample shape {tuple(x_init.shape[1:])} but shape={tuple(shape)}")
    if x_init is None and seeds is None and generator is None:
        raise ValueError("give seeds (one per design, recommended) or a generator, so the samples are reproducible")
    if x_init is not None:
        return x_init.shape[0]
    if seeds is None:
        raise ValueError("with a shared generator and no x_init, pass seeds or x_init to fix the number of designs")
    return len(seeds)


def _sample_in_chunks(batch: int, batch_size: int, arguments: dict) -> SampleResult:
    """Run :func:`sample` on consecutive chunks of designs and concatenate (needs per-design seeds)."""
    seeds = arguments["seeds"]
    if seeds is None:
        raise ValueError("batch_size needs per-design seeds, so that chunking cannot change results")
    per_design = ("x_init", "x_init_log_density", "log_q_init")
    own_names = (*per_design, "models", "schedule", "operator", "seeds", "batch_size", "batch", "grid", "etas")
    shared = {k: v for k, v in arguments.items() if k not in own_names}
    parts = []
    for start in range(0, batch, batch_size):
        chunk = slice(start, min(start + batch_size, batch))
        own = {k: None if arguments[k] is None else arguments[k][chunk] for k in per_design}
        parts.append(sample(arguments["models"], arguments["schedule"], arguments["operator"], seeds=list(seeds[chunk]),
                            **own, **shared))
    return _concatenate(parts)


def _initial_state(plan: _Plan, noise: NoiseSource, shape, x_init: Tensor | None, x_init_log_density: Tensor | None,
                   log_q_init: Tensor | None) -> _State:
    """Starting points (drawn from the operator's prior unless given), initial log densities and weights."""
    space, batch, m = plan.space, noise.batch, len(plan.models)
    prior = getattr(plan.schedule, "prior_std", None)
    prior_std = 1.0 if prior is None else float(prior(float(plan.times[0])))
    if x_init is None:
        scale = plan.operator.initial_scale() * prior_std
        x = space.prior_sample(noise.normal(space.prior_noise_shape(tuple(shape)), plan.dtype), scale)
        x_init_log_density = space.prior_log_density(x, scale)
    else:
        x = x_init.to(device=plan.device, dtype=plan.dtype)
        x = space.project(x) if space.euclidean else x
    if log_q_init is None:
        log_q = space.prior_log_density(x, prior_std)[:, None].expand(batch, m).clone()
    else:
        log_q = torch.as_tensor(log_q_init, dtype=torch.float64, device=plan.device)
        log_q = (log_q[:, None] if log_q.dim() == 1 else log_q).expand(batch, m).clone()
    log_w = None
    if plan.operator.feynman_kac:
        log_w = plan.operator.initial_log_weights(log_q, x_init_log_density)
    residual = torch.zeros(batch, dtype=torch.float64, device=plan.device) if plan.operator.min_models >= 2 else None
    state = _State(x=x, log_q=log_q, log_w=log_w, residual=residual, log_qs=[log_q.clone()] if plan.record else [])
    if getattr(plan.operator, "per_block", False):
        state.log_q_blocks = _initial_blocks(plan, x, prior_std, log_q_init)
    return state


def _initial_blocks(plan: _Plan, x: Tensor, prior_std: float, log_q_init: Tensor | None) -> Tensor:
    """``[B, M, K]`` initial log densities per block, for operators that weight blocks separately."""
    if plan.space.blocks(tuple(x.shape[1:])) is None:
        raise ValueError(f"{plan.operator!r} weights each block separately, but {plan.space!r} has no blocks")
    if log_q_init is not None or any(eta != 1.0 for eta in plan.etas):
        raise ValueError(f"{plan.operator!r} (per-block weights, for comparability with the reference code only) "
                         "supports the full-noise SDE from the prior: drop log_q_init and noise_scale")
    start = plan.space.prior_log_density_blocks(x, prior_std)  # [B, K]
    return start[:, None, :].expand(-1, len(plan.models), -1).clone()


def _evaluate(plan: _Plan, x: Tensor, t: float, k: int) -> _Scores:
    """Every model's score at ``(x, t)``, projected onto the space, checked for shape and finiteness."""
    grad = plan.needs_grad(k)
    t_batch = torch.full((x.shape[0],), t, device=plan.device, dtype=plan.dtype)
    tangent = plan.space.tangent_shape(tuple(x.shape[1:]))
    x, wrt, m = x.detach(), None, len(plan.models)
    if grad:  # derivatives along tangent directions: each model at its own zero step from x (one backward serves all)
        wrt = torch.zeros((x.shape[0], m, *tangent), dtype=x.dtype, device=x.device, requires_grad=True)
    with torch.set_grad_enabled(grad):
        inputs = [x] * m if wrt is None else [plan.space.retract(x, wrt[:, i]) for i in range(m)]
        outs = [call_in_micro_batches(model, x_in, t_batch, plan.model_batch)
                for model, x_in in zip(plan.models, inputs, strict=True)]
        if k == 0:
            _check_scores(outs, x, k, t, plan.models, tangent)
        scores = plan.space.project(torch.stack(outs, dim=1)).flatten(2)  # [B, M, D]
    if k > 0 and not torch.isfinite(scores).all():
        _check_scores(outs, x, k, t, plan.models, tangent)
    s_u = None
    if plan.guidance is not None and plan.guidance.unconditional is not None:  # None: flat, s_u = 0
        with torch.no_grad():
            out_u = call_in_micro_batches(plan.guidance.unconditional, x, t_batch, plan.model_batch)
        if k == 0 or not torch.isfinite(out_u).all():
            _check_scores([out_u], x, k, t, [plan.guidance.unconditional], tangent)
        s_u = plan.space.project(out_u).flatten(1)
    return _Scores(scores, wrt, grad and scores.requires_grad, s_u)


def call_in_micro_batches(model, x: Tensor, t: Tensor, micro: int | None) -> Tensor:
    """``model(x, t)`` on fixed-shape micro-batches of ``micro`` designs (the last padded with copies of its last
    design, whose outputs are dropped): a network then computes each design with the same kernels whatever its
    batch, which makes results bit-identical across batch and shard sizes."""
    if micro is None or x.shape[0] == micro:
        return model(x, t)
    outs = []
    for start in range(0, x.shape[0], micro):
        xb, tb = x[start : start + micro], t[start : start + micro]
        real = xb.shape[0]
        if real < micro:
            xb = torch.cat([xb, xb[-1:].expand(micro - real, *xb.shape[1:])])
            tb = torch.cat([tb, tb[-1:].expand(micro - real)])
        outs.append(model(xb, tb)[:real])
    return torch.cat(outs)


def _laplacian_term(plan: _Plan, ev: _Scores, noise: NoiseSource, g2: float | Tensor, dtau: float,
                    k: int) -> Tensor | None:
    """``½ (η² − 1) g² Δ log q^i dτ`` from a Hutchinson estimate, for noise scales ``η ≠ 1`` (else None).

    With per-coordinate ``g²`` (blocks diffusing at different rates) the probes are scaled by ``g``, which
    estimates ``tr(G ∇² log q)``, the term the block-diagonal diffusion needs."""
    eta = plan.etas[k]
    if eta == 1.0:
        return None
    if not ev.differentiable:
        raise ValueError(
            f"noise_scale={eta} needs the Laplacian of log q, but the models' scores are not differentiable "
            "with respect to x; use method='sde' with noise_scale=1"
        )
    tangent = tuple(ev.wrt.shape[2:])
    probes = plan.space.project(noise.rademacher((plan.hutchinson_probes, *tangent), plan.dtype)).flatten(2)
    if isinstance(g2, Tensor):
        probes, g2 = probes * g2.sqrt(), 1.0
    lap = estimators.hutchinson_laplacian(ev.wrt, ev.scores, probes)
    return estimators.laplacian_correction(lap, g2, dtau, eta)


def _context(plan: _Plan, state: _State, ev: _Scores, xi: Tensor, extra: Tensor | None, g2: float,
             root: Tensor | None, dtau: float, div_f: float, k: int) -> StepContext:
    """What the operator sees: scores, log densities, the drawn noise and the terms of d log q known in advance.

    With per-coordinate ``g²`` (``root = g``, ``[D]``) the operator sees the whitened problem ``s̃ = g s``,
    ``ξ̃ = ξ / g``, ``g² = 1``: every inner product it forms is then the diffusion's own metric
    (``⟨s̃_i, s̃_j⟩ = s_iᵀ G s_j``), so OR, AND and products need no change.
    """
    lam = plan.lam(k)
    scores, s_u = ev.scores.detach(), ev.unconditional
    if root is not None:
        scores, xi, g2 = scores * root, xi / root, 1.0
        s_u = None if s_u is None else s_u * root
    drift_scale, known = lam, extra
    if plan.guidance is not None:
        drift_scale = plan.guidance.drift_scale(lam)
        guided_extra = plan.guidance.log_q_extra(scores, s_u, lam, g2, dtau)
        if guided_extra is not None:  # enters log q through dx, so only the operator is told
            known = guided_extra if known is None else known + guided_extra
    quad = None
    if ev.differentiable:
        def quad(u, _x=ev.wrt, _s=ev.scores, _root=root):
            return estimators.quadratic_forms(_x, _s, u if _root is None else u * _root)
    blocks = None if state.log_q_blocks is None else plan.space.blocks(tuple(state.x.shape[1:]))
    return StepContext(scores=scores, log_q=state.log_q, noise=xi, g2=g2, dtau=dtau, log_q_blocks=state.log_q_blocks,
                       blocks=blocks,
                       drift_scale=drift_scale, noise_scale=plan.etas[k], log_q_extra=known, quadratic_forms=quad,
                       div_f=div_f, step=k, curvature_trace=state.curvature_trace)


def _step(plan: _Plan, state: _State, noise: NoiseSource, k: int) -> None:
    """One Euler–Maruyama step of the composed reverse SDE and every model's log-density increment."""
    t, t_next = float(plan.times[k]), float(plan.times[k + 1])
    dtau = t - t_next
    ev = _evaluate(plan, state.x, t, k)
    x = state.x.detach()
    co = plan.space.coefficients(plan.schedule, x, t)
    f, g2, div_f = co.drift, co.g2, co.div_f
    root = g2.sqrt() if isinstance(g2, Tensor) else None
    z = plan.space.project(noise.normal(plan.space.tangent_shape(tuple(x.shape[1:])), plan.dtype)).flatten(1)
    xi = plan.etas[k] * (g2 * dtau) ** 0.5 * z
    extra = _laplacian_term(plan, ev, noise, g2, dtau, k)
    comb = plan.operator.combine(_context(plan, state, ev, xi, extra, g2, root, dtau, div_f, k))
    scores = ev.scores.detach()
    velocity = comb.score
    if plan.guidance is not None:
        s_u = ev.unconditional if root is None or ev.unconditional is None else ev.unconditional * root
        velocity = plan.guidance.velocity(comb.score, s_u)
    if root is None:
        dx = (-f + plan.lam(k) * g2 * velocity) * dtau + comb.noise
    else:  # the operator answered in whitened coordinates: G Σ κ s = g · (Σ κ s̃), noise = g · ξ̃
        dx = (-f + plan.lam(k) * root * velocity) * dtau + root * comb.noise
    inc = plan.estimator.increment(dx, scores, f, g2, div_f, dtau, x.flatten(1), t, t_next)
    if extra is not None:
        inc = inc + extra
    inc = _add_operator_terms(plan, inc, comb, g2 if root is None else 1.0, dtau, t, t_next)
    state.log_q = state.log_q + inc
    if state.log_q_blocks is not None:
        state.log_q_blocks = state.log_q_blocks + _block_increments(plan, dx, scores, f, g2, div_f, dtau, x)
    state.x = plan.space.retract(x, dx).detach()
    _bookkeep(plan, state, comb)


def _block_increments(plan: _Plan, dx: Tensor, scores: Tensor, f: Tensor, g2: float | Tensor, div_f: float,
                      dtau: float, x: Tensor) -> Tensor:
    """The Itô increment of each model split over the space's blocks, ``[B, M, K]`` (∇·f belongs to block 0, the
    only block with a drift: translations)."""
    blocks = plan.space.blocks(tuple(x.shape[1:])).to(dx.device)
    onehot = torch.nn.functional.one_hot(blocks).double()  # [D, K]
    s = scores.double()
    g2_coordinates = g2.double() if isinstance(g2, Tensor) else torch.full_like(onehot[:, 0], g2)
    per_coordinate = (dx.double()[:, None] * s + (f.double()[:, None] * s - 0.5 * g2_coordinates * s.pow(2)) * dtau)
    inc = per_coordinate @ onehot
    inc[:, :, 0] += div_f * dtau
    return inc


def _add_operator_terms(plan: _Plan, inc: Tensor, comb: Combination, g2: float, dtau: float, t: float,
                        t_next: float) -> Tensor:
    """The operator's own log-density terms, adapted to the estimator (AND's removed noise)."""
    if comb.log_q_correction is None:
        return inc
    if comb.noise_removed is None:
        return inc + comb.log_q_correction
    return inc + plan.estimator.projection_correction(comb.log_q_correction, comb.noise_removed, g2, dtau, t, t_next)


def _bookkeep(plan: _Plan, state: _State, comb: Combination) -> None:
    """AND residuals, importance weights and the per-step record."""
    if comb.curvature_trace is not None:
        state.curvature_trace = comb.curvature_trace.detach()
    if comb.residual is not None:
        state.residual = torch.maximum(state.residual, comb.residual)
        state.has_residual = True
    if comb.log_w_increment is not None:
        state.log_w = comb.log_w_increment if state.log_w is None else state.log_w + comb.log_w_increment
        state.ess.append(effective_sample_size(state.log_w))
    if plan.record:
        state.kappas.append(comb.kappa.detach())
        state.log_qs.append(state.log_q.clone())


def _resample(plan: _Plan, state: _State, resampler: torch.Generator | None, k: int) -> None:
    """Systematic resampling when the effective sample size fell below the operator's threshold (until the
    operator's ``resample_until`` time)."""
    if state.log_w is None or not plan.operator.feynman_kac:
        return
    batch = state.x.shape[0]
    parents = torch.arange(batch, device=plan.device)
    late = float(plan.times[k + 1]) < getattr(plan.operator, "resample_until", 0.0)
    if resampler is not None and not late and state.ess[-1] < plan.operator.ess_threshold * batch:
        parents = systematic_resample(state.log_w, resampler)
        state.x, state.log_q = state.x[parents], state.log_q[parents]
        if state.log_q_blocks is not None:
            state.log_q_blocks = state.log_q_blocks[parents]
        if state.curvature_trace is not None:
            state.curvature_trace = state.curvature_trace[parents]
        state.log_w = torch.zeros_like(state.log_w)
    state.ancestry.append(parents)


def _finish(plan: _Plan, state: _State) -> SampleResult:
    check_finite("samples", state.x)
    check_finite("log densities", state.log_q)
    return SampleResult(
        x=state.x,
        log_q=state.log_q,
        t=plan.times,
        kappa=torch.stack(state.kappas) if plan.record else None,
        log_q_path=torch.stack(state.log_qs) if plan.record else None,
        and_residual=state.residual if state.has_residual else None,
        log_w=state.log_w,
        ess=torch.stack(state.ess) if state.ess else None,
        ancestry=torch.stack(state.ancestry) if state.ancestry else None,
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
