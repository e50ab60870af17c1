r"""AND relative to each model's typical density: a per-step bias path measured by a calibration pass.

The paper's AND asks for ``log q^1(x) = log q^2(x)``. For models of very different breadth (a narrow condition
and a broad one) that set lies in the narrow model's tail: a broad model's density is low everywhere, so the
narrow one must be pushed down to match it. Asking instead that ``x`` be *equally typical* for every model,

.. math:: \log q^i_t(x) - \mathbb{E}_{q^i_t}[\log q^i_t] \;=\; \log q^j_t(x) - \mathbb{E}_{q^j_t}[\log q^j_t]
          \quad\text{for all } i, j \text{ and } t,

is the same AND with the per-step bias ``ℓ_i(t_k) = m_i(t_{k+1}) − m_i(t_k)``, where ``m_i(t)`` is the mean
log density of model i on its own samples (minus its entropy). For isotropic Gaussians ``N(μ_i, σ_i² I)`` in D
dimensions this is "equally many standard deviations from every mean"; the final log ratio is
``log q^1 − log q^2 = D log(σ_2 / σ_1)`` instead of 0. ``m_i`` is measured here by sampling each model alone
(under the same guidance and time grid) and averaging its Itô log-density estimates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from superdiff.engine.guidance import Guidance
from superdiff.engine.operators import Single
from superdiff.engine.paths import GaussianPath
from superdiff.engine.sampler import sample


def typical_and_bias(
    models: Sequence,
    schedule: GaussianPath,
    *,
    shape: Sequence[int],
    seeds: Sequence[int],
    steps: int,
    t_min: float = 1e-3,
    guidance: Guidance | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    **sample_kwargs,
) -> Tensor:
    """The ``[steps, M]`` float64 bias path for :class:`~superdiff.And` that equalises typicality.

    Args:
        models: the M score models AND will compose.
        schedule, steps, t_min, guidance: exactly as in the AND run (the path is per step of that grid).
        shape: one sample's shape.
        seeds: calibration designs per model (their mean sets the typical level; ~200 give ~0.1 nat).
        sample_kwargs: further :func:`~superdiff.sample` arguments (``space``, ``noise_scale``, ...).

    Returns:
        ``ℓ[k, i] = m_i(t_{k+1}) − m_i(t_k)``, the mean change of model i's own log density at step k.
    """
    if len(seeds) < 2:
        raise ValueError(f"typical_and_bias needs at least 2 calibration seeds, got {len(seeds)}")
    columns = []
    for model in models:
        result = sample([model], schedule, Single(0), shape=shape, seeds=list(seeds), steps=steps, t_min=t_min,
                        guidance=guidance, batch_size=batch_size, record=True, progress=progress, device=device,
                        dtype=dtype, **sample_kwargs)
        columns.append(result.log_q_path[:, :, 0].mean(1).diff())  # [steps]
    return torch.stack(columns, dim=1).cpu()
