"""Sequential Monte Carlo helpers: effective sample size and systematic resampling."""

from __future__ import annotations

import torch
from torch import Tensor


def effective_sample_size(log_w: Tensor) -> Tensor:
    """``(Σ w)² / Σ w²`` from log weights ``[B]``; a scalar in ``[1, B]``."""
    return torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0))


def systematic_resample(log_w: Tensor, generator: torch.Generator) -> Tensor:
    """Ancestor indices ``[B]`` by systematic resampling: one uniform draw, ``B`` evenly spaced pointers.

    Lower variance than multinomial resampling; particle ``j`` is copied about ``B w_j / Σ w`` times.
    """
    b = log_w.shape[0]
    w = torch.softmax(log_w.double(), 0).cpu()
    u = (torch.rand((), generator=generator, dtype=torch.float64) + torch.arange(b, dtype=torch.float64)) / b
    cdf = torch.cumsum(w, 0)
    cdf[-1] = 1.0
    return torch.searchsorted(cdf, u).clamp_max(b - 1).to(log_w.device)
