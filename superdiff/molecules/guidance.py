"""Molecule-layer wrappers of guided composition: the engine's :func:`superdiff.sample` with
:class:`superdiff.Guidance` (every operator but Product), and the exact guided product (Product over
``[unconditional, conditions…]``). Both return a :class:`GuidedResult`, the per-design columns of the output table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from superdiff.engine import Guidance, Product, sample
from superdiff.engine.guidance import DEFAULT_KAPPA_FROM
from superdiff.engine.operators import Operator
from superdiff.engine.paths import GaussianPath

#: the ε-network sees fixed micro-batches of this many latents, so a molecule is bit-identical in any batch or shard
MODEL_BATCH = 50
#: the guided product resamples its population only while the forward time is above this (Product's
#: ``resample_until``). Its importance weights degenerate over the last third of the path (ESS below half 8 times
#: between t = 0.32 and 0.006 in a population of 200), and the copies a late resampling makes are pulled by the
#: guided drift (exponent 1 − 2w on the unconditional model) onto the same molecule. 1,000 designs at w = 2,
#: 200 steps, populations of 200: uniqueness 0.887 / 0.932 / 0.936 / 0.928 / 0.998 / 0.999 for resample_until
#: 0 / 0.05 / 0.1 / 0.2 / 0.3 / 0.5 (0.5: never resampled), mean p × QED 0.072 / 0.073 / 0.075 / 0.082 / 0.108 / 0.112.
PRODUCT_RESAMPLE_UNTIL = 0.3


@dataclass(frozen=True)
class GuidedResult:
    """Final latents ``x [B, D]``, conditional log densities ``log_q [B, M]`` (float64, nats), the mean κ over the
    path ``kappa_mean [B, M]`` (Product: the exponents), for AND the largest constraint residual
    ``and_residual [B]`` (nats), for Product the final importance log weights ``log_w [B]``."""

    x: Tensor
    log_q: Tensor
    kappa_mean: Tensor
    and_residual: Tensor | None
    log_w: Tensor | None = None


def sample_guided(
    cond_models: Sequence,
    uncond_model,
    schedule: GaussianPath,
    operator: Operator,
    *,
    guidance: float,
    shape: Sequence[int],
    seeds: Sequence[int],
    steps: int,
    t_min: float = 1e-3,
    batch_size: int = 500,
    kappa_from: str = DEFAULT_KAPPA_FROM,
    progress: bool = False,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> GuidedResult:
    """``operator`` over the conditional models inside classifier-free guidance of weight ``guidance``.

    Args:
        cond_models: M conditional score models ``(x [B, D], t [B]) -> [B, D]``.
        uncond_model: the shared unconditional score model.
        guidance: ``w > 0``; 1 means no guidance.
        shape: one latent's shape, e.g. ``(D,)``.
        seeds: one seed per design (batch-invariant results).
        batch_size: designs per chunk (results do not depend on it).
        kappa_from: see :class:`superdiff.Guidance`.
    """
    result = sample(list(cond_models), schedule, operator, shape=tuple(shape), seeds=list(seeds), steps=steps,
                    model_batch=MODEL_BATCH,
                    t_min=t_min, batch_size=batch_size, record=True, progress=progress, device=device, dtype=dtype,
                    guidance=Guidance(uncond_model, float(guidance), kappa_from))
    return GuidedResult(x=result.x, log_q=result.log_q, kappa_mean=result.kappa.mean(0),
                        and_residual=result.and_residual)


def sample_guided_product(
    cond_models: Sequence,
    uncond_model,
    schedule: GaussianPath,
    *,
    guidance: float,
    exponents: Sequence[float] | None,
    shape: Sequence[int],
    seeds: Sequence[int],
    steps: int,
    t_min: float = 1e-3,
    batch_size: int = 500,
    resample_until: float = PRODUCT_RESAMPLE_UNTIL,
    progress: bool = False,
    device: str | torch.device = "cpu",
) -> GuidedResult:
    r"""The guided product ``q_u^{1 − w Σc} Π_i q_i^{w c_i}``, sampled exactly by the engine's Product operator.

    Classifier-free guidance of independent conditions is itself a product of powers of the unconditional and
    conditional densities: :class:`superdiff.Product` over ``[s_u, s_1, …, s_M]`` with exponents
    ``(1 − w Σ c_i, w c_1, …, w c_M)`` has the guided drift ``s_u + w Σ c_i (s_i − s_u)`` and Feynman–Kac weights
    that make it exact (SMC resampling within each chunk of ``batch_size`` designs, while the forward time is above
    ``resample_until``; the weights keep accumulating after it, so weighted estimates stay exact). Returns the
    conditional log densities, the exponents as ``kappa_mean`` and the final log weights.
    """
    c = [1.0] * len(cond_models) if exponents is None else [float(e) for e in exponents]
    if len(c) != len(cond_models):
        raise ValueError(f"--exponent has {len(c)} values, expected one per condition ({len(cond_models)})")
    weights = [1.0 - guidance * sum(c), *(guidance * ci for ci in c)]
    result = sample([uncond_model, *cond_models], schedule, Product(weights, resample_until=resample_until),
                    shape=tuple(shape), seeds=list(seeds),
                    model_batch=MODEL_BATCH,
                    steps=steps, t_min=t_min, batch_size=batch_size, progress=progress, device=device)
    kappa = torch.tensor(c, dtype=torch.float64).expand(len(seeds), -1)
    return GuidedResult(x=result.x, log_q=result.log_q[:, 1:], kappa_mean=kappa, and_residual=None, log_w=result.log_w)
