r"""Composition operators: how the M models' scores are weighted at each step (SCIENCE.md sections 3-4).

An operator turns one step's :class:`StepContext` (scores, current log densities, the noise already drawn
for this step) into a :class:`Combination`: the combined score ``u = Σ_i κ_i s_i`` used in the drift
``dx = (−f + λ g² u) dτ + noise`` (``λ = (1 + η²)/2``, 1 for the SDE, ½ for the ODE), the noise actually
injected, and the weights ``κ`` (``Σ κ = 1``) for the record.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class StepContext:
    """Everything an operator may use for one reverse step (flattened, ``D`` coordinates).

    Attributes:
        scores: ``[B, M, D]`` each model's score at the current point.
        log_q: ``[B, M]`` float64 running log-density estimates at the current point (nats).
        noise: ``[B, D]`` the noise drawn for this step, ``η g sqrt(dτ) z`` (already in the model's space).
        g2: ``g_t²`` at the current time.
        dtau: the reverse-time step (> 0).
        drift_scale: ``λ`` in ``dx = (−f + λ g² u) dτ + noise``.
        noise_scale: ``η``.
        log_q_extra: ``[B, M]`` float64 terms of ``d log q^i`` known before the step beyond the Itô terms
            of the drift ``λ g² u`` and the noise (the ``η ≠ 1`` Laplacian correction, the unconditional part of
            a guided drift: :mod:`superdiff.engine.guidance`), or None.
        quadratic_forms: ``directions [B, K, D] -> [B, M, K]`` giving ``u_kᵀ ∂s_i/∂x u_k``; None when the
            models are not differentiable.
        div_f: ``∇·f_t`` over the diffusing coordinates (1 / unit time).
        step: index of this step on the time grid (0 at ``t = 1``), for operators with per-step settings.
        log_q_blocks: ``[B, M, K]`` float64 each model's log density split over the K blocks of a space with blocks
            (frames: translations, rotations), or None; ``blocks``: ``[D]`` the block of every coordinate.
        curvature_trace: ``[B, M, ...]`` the ``curvature_trace`` of the last combination that returned one in this
            run (for operators that compute a curvature only every few steps), or None.
    """

    scores: Tensor
    log_q: Tensor
    noise: Tensor
    g2: float
    dtau: float
    drift_scale: float
    noise_scale: float
    log_q_extra: Tensor | None = None
    quadratic_forms: Callable[[Tensor], Tensor] | None = None
    div_f: float = 0.0
    step: int = 0
    log_q_blocks: Tensor | None = None
    blocks: Tensor | None = None
    curvature_trace: Tensor | None = None


@dataclass(frozen=True)
class Combination:
    """An operator's answer for one step.

    Attributes:
        score: ``[B, D]`` combined score ``u`` (model dtype).
        noise: ``[B, D]`` noise to inject.
        kappa: ``[B, M]`` float64 weights with ``Σ κ = 1`` such that the step equals
            ``(−f + λ g² Σ κ_i s_i) dτ + ξ`` with the drawn noise ``ξ``.
        log_q_correction: ``[B, M]`` float64 terms to add to each model's log-density increment, or None.
        residual: ``[B]`` float64 AND constraint residual in nats for this step, or None.
        log_w_increment: ``[B]`` float64 importance-weight increment (Feynman–Kac operators), or None.
        noise_removed: ``[B]`` number of noise directions the operator removed (AND's projection), or None.
            ``log_q_correction`` is then the curvature those directions lost (Itô form); the estimator adapts it
            (:meth:`superdiff.engine.estimators.Ito.projection_correction`).
        curvature_trace: ``[B, M, ...]`` what the operator keeps of its curvature for later steps (handed back as
            their ``StepContext.curvature_trace``; reordered with the population on resampling), or None.
    """

    score: Tensor
    noise: Tensor
    kappa: Tensor
    log_q_correction: Tensor | None = None
    residual: Tensor | None = None
    log_w_increment: Tensor | None = None
    noise_removed: Tensor | None = None
    curvature_trace: Tensor | None = None


class Operator(ABC):
    """Base class: validates the model count once, then combines scores every step.

    Class attributes a sampler reads: ``min_models``; ``full_noise_only`` (the operator's math assumes the
    reverse SDE with noise scale 1); ``ess_threshold`` (resample the population when the effective sample
    size falls below this fraction of the batch; None: never); ``feynman_kac`` (the operator carries importance
    weights that are exact only for the drift ``λ g² Σ κ_i s_i``, so no outer guidance may change it).
    """

    min_models = 1
    full_noise_only = False
    feynman_kac = False
    ess_threshold: float | None = None

    def validate(self, num_models: int) -> None:
        """Raise ValueError if this operator cannot combine ``num_models`` models."""
        if num_models < self.min_models:
            raise ValueError(f"{self!r} needs at least {self.min_models} models, got {num_models}")

    def needs_derivatives(self, step: int | None = None) -> bool:
        """Whether :meth:`combine` uses ``ctx.quadratic_forms`` at grid step ``step`` (None: at any step); the
        sampler keeps the autograd graph only for those steps."""
        return False

    @abstractmethod
    def combine(self, ctx: StepContext) -> Combination:
        """Weights and noise for one step."""

    def initial_scale(self) -> float:
        """Standard deviation of the N(0, s² I) the sampler draws starting points from (1: the shared prior)."""
        return 1.0

    def initial_log_weights(self, log_q: Tensor, log_prior: Tensor | None) -> Tensor | None:
        """Importance log weights ``[B]`` of the starting points (Feynman–Kac operators), else None.

        Args:
            log_q: ``[B, M]`` each model's log density at the starting points.
            log_prior: ``[B]`` log density of the distribution the starting points were drawn from; None when
                the caller gave starting points without one (they then count as drawn from the target).
        """
        return None

    def settings(self) -> dict:
        """JSON-serialisable description, for provenance."""
        return {"operator": type(self).__name__, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


def _fixed_combination(ctx: StepContext, kappa: Tensor) -> Combination:
    b, m, _ = ctx.scores.shape
    kappa = kappa.to(ctx.scores.device, torch.float64).expand(b, m)
    score = torch.einsum("bm,bmd->bd", kappa.to(ctx.scores.dtype), ctx.scores)
    return Combination(score=score, noise=ctx.noise, kappa=kappa)


class Single(Operator):
    """Sample from one model alone (``κ = e_index``); the other models' densities are still tracked."""

    def __init__(self, index: int = 0):
        self.index = int(index)

    def validate(self, num_models: int) -> None:
        if not 0 <= self.index < num_models:
            raise ValueError(f"Single(index={self.index}) is out of range for {num_models} models")

    def combine(self, ctx: StepContext) -> Combination:
        kappa = torch.zeros(ctx.scores.shape[1], dtype=torch.float64)
        kappa[self.index] = 1.0
        return _fixed_combination(ctx, kappa)

    def __repr__(self) -> str:
        return f"Single(index={self.index})"


class Average(Operator):
    """Fixed weights ``κ = weights / Σ weights`` (uniform by default): the "average of scores" baseline."""

    def __init__(self, weights: Sequence[float] | None = None):
        self.weights = None if weights is None else [float(w) for w in weights]

    def validate(self, num_models: int) -> None:
        if self.weights is None:
            return
        if len(self.weights) != num_models:
            raise ValueError(f"Average weights has length {len(self.weights)}, expected one per model ({num_models})")
        if sum(self.weights) <= 0:
            raise ValueError(f"Average weights must have a positive sum, got {self.weights}")

    def combine(self, ctx: StepContext) -> Combination:
        m = ctx.scores.shape[1]
        w = torch.ones(m, dtype=torch.float64) if self.weights is None else torch.tensor(self.weights).double()
        return _fixed_combination(ctx, w / w.sum())

    def __repr__(self) -> str:
        return f"Average(weights={self.weights})"


def _per_model_bias(bias: float | Sequence[float] | None, num_models: int, name: str, scalar_means_first=True):
    """Expand a bias to one value per model; a scalar means ``(bias, 0)`` for two models."""
    if bias is None:
        return torch.zeros(num_models, dtype=torch.float64)
    if isinstance(bias, (int, float)):
        if num_models == 2 and scalar_means_first:
            return torch.tensor([float(bias), 0.0], dtype=torch.float64)
        if float(bias) == 0.0:
            return torch.zeros(num_models, dtype=torch.float64)
        raise ValueError(
            f"{name} bias is the scalar {bias} but there are {num_models} models: give one value per model"
        )
    values = [float(b) for b in bias]
    if len(values) != num_models:
        raise ValueError(f"{name} bias has length {len(values)}, expected one value per model ({num_models})")
    return torch.tensor(values, dtype=torch.float64)


def or_weights(log_q: Tensor, temperature: float, bias: Tensor) -> Tensor:
    r"""``κ = softmax_i(T log q^i + ℓ_i)`` (the bias stays outside the temperature); ``[B, M]``."""
    return torch.softmax(temperature * log_q + bias.to(log_q), dim=-1)


class Or(Operator):
    r"""Sample the mixture ``Σ_i ω_i q^i``: ``κ = softmax(T log q + ℓ)``.

    ``T = 1`` with ``bias = log ω`` is exact mixture sampling; ``T → ∞`` hard assignment; ``T → 0`` uniform.
    ``per_block=True`` is the reference code's behaviour on frames, for comparability only: one κ per block
    (translations, rotations) from that block's log density alone, which stitches one model's translations to
    another's rotations (chimeras); the default, one κ from the joint density, samples the mixture.
    """

    min_models = 2

    def __init__(self, temperature: float = 1.0, bias: Sequence[float] | None = None, per_block: bool = False):
        if not (temperature >= 0 and math.isfinite(temperature)):
            raise ValueError(f"Or temperature must be a finite number >= 0, got {temperature}")
        if bias is not None and not all(math.isfinite(float(b)) for b in bias):
            raise ValueError(f"Or bias must be finite numbers (log mixture weights), got {list(bias)}")
        self.temperature = float(temperature)
        self.bias = None if bias is None else [float(b) for b in bias]
        self.per_block = bool(per_block)

    def validate(self, num_models: int) -> None:
        super().validate(num_models)
        self._bias = _per_model_bias(self.bias, num_models, "Or", scalar_means_first=False)

    def combine(self, ctx: StepContext) -> Combination:
        kappa = or_weights(ctx.log_q, self.temperature, self._bias)
        if self.per_block:
            if ctx.log_q_blocks is None:
                raise ValueError("Or(per_block=True) needs a space with blocks (frames: translations, rotations)")
            per_block = or_weights(ctx.log_q_blocks.transpose(1, 2), self.temperature, self._bias)  # [B, K, M]
            coordinate_kappa = per_block[:, ctx.blocks.to(per_block.device)]  # [B, D, M]
            score = torch.einsum("bdm,bmd->bd", coordinate_kappa.to(ctx.scores.dtype), ctx.scores)
            return Combination(score=score, noise=ctx.noise, kappa=per_block.mean(1))
        score = torch.einsum("bm,bmd->bd", kappa.to(ctx.scores.dtype), ctx.scores)
        return Combination(score=score, noise=ctx.noise, kappa=kappa)

    def __repr__(self) -> str:
        block = ", per_block=True" if self.per_block else ""
        return f"Or(temperature={self.temperature}, bias={self.bias}{block})"


def and_kappa_solve(scores: Tensor, b: Tensor, g2_dtau: float, bias: Tensor) -> Tensor:
    r"""Generic AND weights from the M x M linear system of SCIENCE.md section 4 (least squares).

    Rows ``i < M``: ``g² dτ (G_i − G_M) κ = (ℓ_i − ℓ_M) − (b_i − b_M)`` with ``G_ij = ⟨s_i, s_j⟩``;
    last row ``Σ κ = 1``. ``b_i`` holds every term of ``d log q^i`` except ``g² dτ (Gκ)_i``.

    Args:
        scores: ``[B, M, D]``; b: ``[B, M]``; bias: ``[M]`` or ``[B, M]``.

    Returns:
        float64 ``[B, M]``.
    """
    s = scores.double()
    gram = s @ s.transpose(1, 2)
    bias = bias.to(s).expand(b.shape)
    rows = g2_dtau * (gram[:, :-1] - gram[:, -1:])
    rhs = (bias[:, :-1] - bias[:, -1:]) - (b[:, :-1] - b[:, -1:])
    ones = torch.ones_like(gram[:, :1])
    system = torch.cat([rows, ones], dim=1)
    target = torch.cat([rhs, torch.ones_like(rhs[:, :1])], dim=1)
    return torch.linalg.lstsq(system, target[..., None]).solution[..., 0]


def and_kappa_two_models(s1: Tensor, s2: Tensor, noise: Tensor, g2_dtau: float, bias: float | Tensor = 0.0) -> Tensor:
    r"""Closed form for two models: ``κ_1 = ½ + (ℓ − ⟨ξ, δ⟩) / (g² dτ |δ|²)``, ``δ = s_1 − s_2``; ``[B]``."""
    delta = (s1 - s2).double()
    return 0.5 + (bias - (noise.double() * delta).sum(-1)) / (g2_dtau * delta.pow(2).sum(-1))


@dataclass(frozen=True)
class _AndGeometry:
    """The span of score differences ``δ_i = s_i − s_M`` (``i < M``) for one step."""

    delta: Tensor  # [B, M-1, D]
    gram_pinv: Tensor  # [B, M-1, M-1] pseudo-inverse of δ δᵀ on the well-conditioned directions
    basis: Tensor  # [B, M-1, D] orthonormal basis of the span (zero rows for dropped directions)
    gram: Tensor  # [B, M-1, M-1]


def _and_geometry(scores: Tensor, tol: float) -> _AndGeometry:
    s = scores
    tiny = torch.finfo(s.dtype).tiny
    delta = s[:, :-1] - s[:, -1:]
    gram = delta @ delta.transpose(1, 2)
    floor = tol * s.pow(2).sum(-1).mean(-1).clamp_min(tiny)  # [B]: "models agree" below this
    evals, evecs = torch.linalg.eigh(gram)
    keep = evals > floor[:, None]
    inv = torch.where(keep, 1.0 / evals.clamp_min(tiny), torch.zeros_like(evals))
    gram_pinv = evecs @ torch.diag_embed(inv) @ evecs.transpose(1, 2)
    basis = (evecs * inv.sqrt()[:, None, :]).transpose(1, 2) @ delta
    return _AndGeometry(delta, gram_pinv, basis, gram)


class And(Operator):
    r"""Sample where all models' densities are equal (SuperDiff AND), in projection form.

    Each step keeps ``d log q^i − d log q^M = ℓ_i − ℓ_M`` exactly (for the Itô estimate): the drift uses the
    affine combination ``u = Σ κ_i s_i`` whose inner products with ``δ_i = s_i − s_M`` are pinned by the
    constraint, and the noise along ``span{δ_i}`` is removed (it would otherwise change the log ratios).

    Args:
        bias: per-step log-ratio bias ``ℓ`` in nats: a scalar for two models (``log q^1 − log q^2`` grows by
            ``ℓ`` per step), one value per model (``log q^i − log q^j`` grows by ``ℓ_i − ℓ_j``), or a path
            ``[steps, M]`` with one row per step (e.g. :func:`superdiff.engine.calibration.typical_and_bias`).
        curvature_correction: add ``−½ η² g² dτ Σ_k q_kᵀ ∇² log q^i q_k`` (the diffusion lost along the removed
            directions ``q_k``) to each model's estimate and to the constraint. Needs differentiable models
            (one vector-Jacobian product per model and direction per step). The reference code omits it;
            without it the true log ratio drifts when the models' Hessians differ.
        curvature_every: compute the curvature on every ``k``-th step only (always on the first) and, in between,
            extrapolate each model's ``Σ_k q_kᵀ ∇² log q^i q_k`` linearly from its last two computed values.
            1 (default) is exact; ``k > 1`` is a multirate approximation (the trace is a smooth function of
            ``(x, t)``) that skips the graph and the vector-Jacobian products on ``k − 1`` of every ``k`` steps
            (docs/engine.md, "Cost of the curvature correction").
        degenerate_tol: directions of ``span{δ}`` with squared norm below ``tol · mean |s_i|²`` are treated as
            "models agree": no constraint, no projection (κ falls back to uniform along them).
    """

    min_models = 2

    def __init__(self, bias: float | Sequence[float] | Sequence[Sequence[float]] | Tensor = 0.0,
                 curvature_correction: bool = True, curvature_every: int = 1, degenerate_tol: float = 1e-10):
        if isinstance(curvature_every, bool) or not isinstance(curvature_every, int) or curvature_every < 1:
            raise ValueError(f"And curvature_every={curvature_every!r}; expected an integer >= 1 (1: every step)")
        if isinstance(bias, (int, float)):
            self.bias = float(bias)
        else:
            self.bias = torch.as_tensor(bias, dtype=torch.float64).tolist()  # lists keep settings() JSON-ready
        self._is_path = isinstance(self.bias, list) and bool(self.bias) and isinstance(self.bias[0], list)
        self.curvature_correction = bool(curvature_correction)
        self.curvature_every = curvature_every
        self.degenerate_tol = float(degenerate_tol)

    def validate(self, num_models: int) -> None:
        super().validate(num_models)
        if self._is_path:
            self._bias = torch.tensor(self.bias, dtype=torch.float64)
            if self._bias.shape[1] != num_models or not torch.isfinite(self._bias).all():
                raise ValueError(f"And bias path has shape {tuple(self._bias.shape)}, expected finite [steps, "
                                 f"{num_models}] (one row per step, one column per model)")
        else:
            self._bias = _per_model_bias(self.bias, num_models, "And")

    def _step_bias(self, step: int) -> Tensor:
        if not self._is_path:
            return self._bias
        if step >= self._bias.shape[0]:
            raise ValueError(f"And bias path has {self._bias.shape[0]} rows but the sampler reached step {step}: "
                             "compute the path for the same number of steps")
        return self._bias[step]

    def needs_derivatives(self, step: int | None = None) -> bool:
        return self.curvature_correction and (step is None or step % self.curvature_every == 0)

    def combine(self, ctx: StepContext) -> Combination:
        # Solved in the models' dtype: float32 keeps the equalisation to ~1e-6 nats per step at a fraction of
        # the cost; float64 models get float64 throughout.
        s = ctx.scores
        m = s.shape[1]
        if m == 2:
            delta = s[:, 0] - s[:, 1]
            norm2 = delta.pow(2).sum(-1, keepdim=True)
            keep = norm2 > self.degenerate_tol * 0.5 * s.pow(2).sum((1, 2))[:, None]
            inv = torch.where(keep, norm2.clamp_min(torch.finfo(s.dtype).tiny).reciprocal(), torch.zeros_like(norm2))
            basis = (delta * inv.sqrt())[:, None]  # [B, 1, D]
        else:
            geo = _and_geometry(ctx.scores, self.degenerate_tol)
            basis = geo.basis
        lam_g2_dt = ctx.drift_scale * ctx.g2 * ctx.dtau

        correction = trace = carry = None
        known = ctx.log_q_extra
        if self.curvature_correction:
            trace, carry = self._curvature_trace(ctx, basis)
        if trace is not None:
            correction = -0.5 * ctx.noise_scale**2 * ctx.g2 * ctx.dtau * trace
            known = correction if known is None else known + correction
        sq = s.pow(2).sum(-1)
        bias = self._step_bias(ctx.step).to(s)
        # Target inner products h_i = <u, δ_i> that equalise the log-density increments.
        target = 0.5 * ctx.g2 * ctx.dtau * (sq[:, :-1] - sq[:, -1:]) + (bias[:-1] - bias[-1:])
        if known is not None:
            target = target - (known[:, :-1] - known[:, -1:]).to(s)
        h = target / lam_g2_dt
        s_bar = s.mean(1)
        noise = ctx.noise

        if m == 2:
            rhs = h - (delta * s_bar).sum(-1, keepdim=True)
            kappa_det = rhs * inv
            u = s_bar + kappa_det * delta
            coef = (delta * noise).sum(-1, keepdim=True) * inv
            noise_along = coef * delta
            residual = lam_g2_dt * (norm2 * kappa_det - rhs).abs()[:, 0]
        else:
            # Broadcast-and-sum rather than batched matmuls: the inner sizes are M - 1, far too small for BLAS.
            rhs = h - (geo.delta * s_bar[:, None]).sum(-1)
            kappa_det = (geo.gram_pinv * rhs[:, None, :]).sum(-1)  # [B, M-1]
            u = s_bar + (kappa_det[:, :, None] * geo.delta).sum(1)
            coef = (geo.gram_pinv * (geo.delta * noise[:, None]).sum(-1)[:, None, :]).sum(-1)  # [B, M-1]
            noise_along = (coef[:, :, None] * geo.delta).sum(1)
            residual = lam_g2_dt * ((geo.gram * kappa_det[:, None, :]).sum(-1) - rhs).abs().amax(dim=1)
        kappa_rest = kappa_det - coef / lam_g2_dt
        kappa = torch.cat([kappa_rest, -kappa_rest.sum(-1, keepdim=True)], dim=-1) + 1.0 / m
        return Combination(
            score=u,
            noise=noise - noise_along,
            kappa=kappa.double(),
            log_q_correction=correction,
            residual=residual,
            noise_removed=None if correction is None else basis.pow(2).sum((1, 2)),
            curvature_trace=carry,
        )

    def _curvature_trace(self, ctx: StepContext, basis: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """Each model's ``Σ_k q_kᵀ ∇s_i q_k`` ``[B, M]`` for this step, and what to carry to the next steps
        (``[B, M, 2]``: the last computed trace and its change per step since the one before).

        Computed on every ``curvature_every``-th step; in between, extrapolated linearly from the last two
        computed values (holding the last value lags behind the trace's steady growth as the noise shrinks).
        """
        last = ctx.curvature_trace
        if ctx.quadratic_forms is not None and self.needs_derivatives(ctx.step):
            trace = ctx.quadratic_forms(basis).sum(-1)
            slope = torch.zeros_like(trace) if last is None else (trace - last[..., 0]) / self.curvature_every
            return trace, torch.stack([trace, slope], dim=-1)
        if last is None:
            return None, None
        return last[..., 0] + last[..., 1] * (ctx.step % self.curvature_every), last

    def __repr__(self) -> str:
        bias = f"<path of {len(self.bias)} steps>" if self._is_path else self.bias
        every = "" if self.curvature_every == 1 else f", curvature_every={self.curvature_every}"
        return f"And(bias={bias}, curvature_correction={self.curvature_correction}{every})"


def product_log_weight_increment(scores: Tensor, weights: Tensor, g2: float, dtau: float, div_f: float) -> Tensor:
    r"""Feynman–Kac weight increment for the target ``Σ c_i log q^i`` sampled with drift ``−f + g² Σ c_i s_i``.

    .. math:: d\log w = \big[(Σ c_i − 1)\,∇·f + ½ g² (|Σ_i c_i s_i|² − Σ_i c_i |s_i|²)\big]\,dτ

    No divergence of any network is needed (SCIENCE.md section 5). Returns float64 ``[B]``.
    """
    s = scores.double()
    c = weights.to(s)
    combined = torch.einsum("m,bmd->bd", c, s)
    spread = combined.pow(2).sum(-1) - (c * s.pow(2).sum(-1)).sum(-1)
    return ((c.sum() - 1.0) * div_f + 0.5 * g2 * spread) * dtau


class Product(Operator):
    r"""Sample ``∝ Π_i (q^i)^{c_i}`` exactly with importance weights and SMC resampling (Feynman–Kac correctors).

    ``weights = (1, 1)`` is the product of experts (true AND, "satisfy both, weighted by how well"); one model
    with ``weights = (β,)`` anneals it (``β > 1`` sharpens); a negative weight steers away from a model
    (``(1, −γ)``: NOT). The drift follows ``Σ c_i s_i`` and each particle carries a log weight; the population
    is resampled (systematic) whenever its effective sample size drops below ``ess_threshold · B``.

    Args:
        weights: ``c_i``, one per model (default all ones).
        resample: resample at all (False keeps the weights only: use them for weighted estimates).
        ess_threshold: fraction of the batch; 1.0 resamples at every step.
        resample_until: forward time below which the population is no longer resampled (0: resample to the
            end). Weights keep accumulating, so weighted estimates stay exact; the designs themselves then follow
            ``Σ c_i s_i`` over the last stretch. Near t = 0 the product of two experts' marginals is dominated by
            their agreement at the finest scale, and resampling there selects one ancestor for the whole
            population: on the built-in Cα experts (8 designs a population, 200 steps) 2 of 16 designs' clusters
            survive with 0 or 0.02, 9 with 0.05, 16 with 0.1 (docs/models.md).
    """

    full_noise_only = True
    feynman_kac = True

    def __init__(self, weights: Sequence[float] | None = None, resample: bool = True, ess_threshold: float = 0.5,
                 resample_until: float = 0.0):
        if not 0.0 < ess_threshold <= 1.0:
            raise ValueError(f"Product ess_threshold must lie in (0, 1], got {ess_threshold}")
        self.weights = None if weights is None else [float(w) for w in weights]
        self.resample = bool(resample)
        self.ess_threshold = float(ess_threshold) if resample else None
        if not 0.0 <= resample_until < 1.0:
            raise ValueError(f"Product resample_until must lie in [0, 1), got {resample_until!r}")
        self.resample_until = float(resample_until)

    def validate(self, num_models: int) -> None:
        super().validate(num_models)
        if self.weights is not None and not all(math.isfinite(w) for w in self.weights):
            raise ValueError(f"Product weights must be finite, got {self.weights}")
        if self.weights is not None and len(self.weights) != num_models:
            raise ValueError(f"Product weights has length {len(self.weights)}, expected one per model ({num_models})")
        values = self.weights if self.weights is not None else [1.0] * num_models
        self._c = torch.tensor(values, dtype=torch.float64)

    def initial_scale(self) -> float:
        """Every model's prior is ~N(0, I), so the target at t = 1 is ~N(0, I / Σc): start there, or the initial
        weights alone (variance ~d/4 nats² for a product of two) collapse the population in high dimension."""
        total = float(self._c.sum())
        return total**-0.5 if total > 0 else 1.0

    def initial_log_weights(self, log_q: Tensor, log_prior: Tensor | None) -> Tensor:
        """``Σ c_i log q^i_1(x) − log p_init(x)`` for starting points drawn from ``p_init``; zero when the starting
        points came without ``p_init`` (given ``x_init``: drawn from the target, the caller's word)."""
        if log_prior is None:
            return torch.zeros(log_q.shape[0], dtype=torch.float64, device=log_q.device)
        return log_q @ self._c.to(log_q) - log_prior

    def combine(self, ctx: StepContext) -> Combination:
        b = ctx.scores.shape[0]
        c = self._c.to(ctx.scores.device)
        score = torch.einsum("m,bmd->bd", c.to(ctx.scores.dtype), ctx.scores)
        increment = product_log_weight_increment(ctx.scores, c, ctx.g2, ctx.dtau, ctx.div_f)
        return Combination(score=score, noise=ctx.noise, kappa=c.expand(b, -1), log_w_increment=increment)

    def __repr__(self) -> str:
        until = f", resample_until={self.resample_until}" if self.resample_until else ""
        return f"Product(weights={self.weights}, resample={self.resample}, ess_threshold={self.ess_threshold}{until})"


OPERATOR_NAMES = ("single", "average", "or", "and", "product")


def make_operator(
    name: str,
    *,
    index: int = 0,
    weights: Sequence[float] | None = None,
    temperature: float = 1.0,
    bias: float | Sequence[float] | None = None,
    curvature_correction: bool = True,
    curvature_every: int = 1,
    resample: bool = True,
    ess_threshold: float = 0.5,
    resample_until: float = 0.0,
) -> Operator:
    """Build an operator from its name and settings: the one mapping every entry point and config shares.

    Args:
        name: one of ``OPERATOR_NAMES``.
        index: the model for ``single``.
        weights: fixed weights for ``average``; exponents ``c_i`` for ``product``.
        temperature, bias: for ``or`` (bias one per model) and ``and`` (bias nats per step).
        curvature_correction, curvature_every: for ``and``.
        resample, ess_threshold, resample_until: for ``product``.
    """
    if name == "single":
        return Single(index)
    if name == "average":
        return Average(weights)
    if name == "or":
        return Or(temperature, None if bias is None else list(bias) if not isinstance(bias, (int, float)) else [bias])
    if name == "and":
        return And(0.0 if bias is None else bias, curvature_correction=curvature_correction,
                   curvature_every=curvature_every)
    if name == "product":
        return Product(weights, resample=resample, ess_threshold=ess_threshold, resample_until=resample_until)
    raise ValueError(f"unknown operator {name!r}; expected one of {', '.join(OPERATOR_NAMES)}")
