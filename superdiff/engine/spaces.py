"""The space a diffusion lives in: all of R^d, or a linear subspace such as centred point clouds.

Cα backbone models diffuse with the centre of mass removed, so noise, scores and the density estimate
must all use the (n - 1) * 3 dimensional centred subspace, never the full 3n.
"""

from __future__ import annotations

import math

from torch import Tensor


class Euclidean:
    """All of ``R^d``; ``project`` is the identity."""

    def project(self, v: Tensor) -> Tensor:
        """Orthogonal projection onto the space; ``v: [B, *shape]``."""
        return v

    def dim(self, shape: tuple[int, ...]) -> int:
        """Number of diffusing degrees of freedom for one sample of ``shape``."""
        return math.prod(shape)

    def log_standard_normal(self, x: Tensor) -> Tensor:
        """``log N(x; 0, I)`` on the space, per sample, float64 ``[B]`` (nats)."""
        d = self.dim(tuple(x.shape[1:]))
        sq = x.detach().double().flatten(1).pow(2).sum(1)
        return -0.5 * sq - 0.5 * d * math.log(2 * math.pi)

    def __repr__(self) -> str:
        return type(self).__name__ + "()"


class CentredCoordinates(Euclidean):
    """Point clouds ``[B, n, k]`` whose centre of mass is zero (translation removed).

    The space has dimension ``(n - 1) k``; a standard normal on it is the projection of ``N(0, I_{nk})``.
    """

    def project(self, v: Tensor) -> Tensor:
        return v - v.mean(dim=-2, keepdim=True)

    def dim(self, shape: tuple[int, ...]) -> int:
        if len(shape) != 2:
            raise ValueError(f"CentredCoordinates expects samples of shape (n_points, k), got {shape}")
        n, k = shape
        return (n - 1) * k
