"""The score-model contract."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class ScoreModel(Protocol):
    """Any callable ``model(x, t) -> score``.

    Args:
        x: noisy samples, ``[B, *shape]``.
        t: forward diffusion time per sample, ``[B]`` in (0, 1]; ``t = 1`` is noise.

    Returns:
        ``∇_x log q_t(x)``, the same shape as ``x``. To use the curvature-corrected AND or the
        Hutchinson (ODE) density estimate the output must be differentiable with respect to ``x``.
    """

    def __call__(self, x: Tensor, t: Tensor) -> Tensor: ...
