"""Kappa and log-density trajectories of a few designs per method, for the report.

The sharded sampling jobs keep only per-design summaries (final and mean kappa, final log densities). This
re-runs designs ``first_index .. first_index + num - 1`` of one length with ``record=True`` and the same
per-design seeds as ``superdiff sample-backbones --seed S --first-index F`` (so the traced designs are exactly those
designs, whichever shard sampled them), and returns the paths as a long table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch


def trace_backbones(models: Sequence[str], method: str, *, length: int, num: int, seed: int, steps: int,
                    first_index: int = 0, index: int = 0, temperature: float = 1.0, bias: Sequence[float] | None = None,
                    weights: Sequence[float] | None = None, resample: bool = True, curvature_every: int = 1,
                    device: str | torch.device = "cpu") -> pd.DataFrame:
    """Record kappa and log densities along the reverse path.

    Returns one row per (design, step, model): ``design`` (the design index), ``seed`` (the per-design seed), ``step``
    (0 = t = 1), ``t`` (forward time), ``model`` (index), ``kappa`` (weight of that model in the step leaving
    ``t``; NaN at the last time) and ``log_q`` (nats, that model's estimated log density of the current state).
    """
    import superdiff.engine as engine
    from superdiff.proteins.registry import load_model
    from superdiff.proteins.sampling import SamplingRequest, design_seed, make_operator, state_space

    request = SamplingRequest(models=tuple(models), method=method, index=index, temperature=temperature,
                              bias=tuple(bias) if bias else None, weights=tuple(weights) if weights else None,
                              resample=resample, curvature_every=curvature_every, lengths=(length,), num=num,
                              seed=seed, steps=steps)
    request.validate()
    device = torch.device(device)
    loaded = [load_model(spec, device) for spec in models]
    indices = np.arange(first_index, first_index + num)
    seeds = [design_seed(seed, length, int(i)) for i in indices]
    path, space, shape = state_space(loaded, length)  # frame experts: their FramePath on Frames
    result = engine.sample(loaded, path, make_operator(request), shape=shape, steps=steps, t_min=request.t_min,
                           seeds=seeds, space=space, record=True, device=device)
    t = result.t.cpu().numpy()                       # [S+1]
    log_q = result.log_q_path.cpu().numpy()          # [S+1, B, M]
    kappa = result.kappa.cpu().numpy()               # [S, B, M]
    kappa = np.concatenate([kappa, np.full((1, *kappa.shape[1:]), np.nan)], axis=0)
    n_t, n_b, n_m = log_q.shape
    step, design, model = np.meshgrid(np.arange(n_t), np.arange(n_b), np.arange(n_m), indexing="ij")
    return pd.DataFrame({
        "design": indices[design.ravel()], "seed": np.asarray(seeds)[design.ravel()], "step": step.ravel(),
        "t": t[step.ravel()], "model": model.ravel(), "kappa": kappa.ravel(), "log_q": log_q.ravel(),
    })
