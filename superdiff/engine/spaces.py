r"""The state space a diffusion lives in: what a state and a tangent vector are, how a step moves a state, the
reference (prior) distribution and the forward SDE's coefficients in tangent coordinates.

- :class:`Euclidean`: all of R^d; a step is ``x + dx``.
- :class:`CentredCoordinates`: point clouds with the centre of mass removed (Cα backbones): noise, scores and
  densities live in the ``(n − 1) k``-dimensional centred subspace, never the full ``n k``.
- :class:`Rotations`: one rotation per residue, ``R ∈ SO(3)^N``, states ``[B, N, 3, 3]``, tangents body-frame
  3-vectors ``[B, N, 3]``; a step is the geodesic move ``R ← R · Exp(dx)``; Brownian motion with the rotation
  schedule's ``g²`` and no drift (SCIENCE.md §8).

The sampler works on flattened tangents ``[B, D]``; every space says how to read them. Scores are tangent vectors:
for rotations the body-frame Riemannian gradient (:func:`superdiff.engine.so3.igso3_score`'s convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from superdiff.engine import so3


@dataclass(frozen=True)
class Coefficients:
    """The forward SDE at one time in tangent coordinates: drift ``f [B, D]``, ``g²`` (a float, or ``[D]`` when the
    blocks of the state diffuse at different rates) and ``∇·f`` (1 / unit time)."""

    drift: Tensor
    g2: float | Tensor
    div_f: float


class Euclidean:
    """All of ``R^d``; ``project`` is the identity."""

    #: the kernel-ratio estimator's Gaussian transition kernels exist here
    euclidean = True

    def project(self, v: Tensor) -> Tensor:
        """Orthogonal projection of tangents onto the space; ``v: [B, *tangent_shape]``."""
        return v

    def dim(self, shape: tuple[int, ...]) -> int:
        """Number of diffusing degrees of freedom for one sample of ``shape``."""
        return math.prod(shape)

    def tangent_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's tangent vectors (scores, noise, steps)."""
        return tuple(shape)

    def retract(self, x: Tensor, v: Tensor) -> Tensor:
        """The state reached from ``x`` by the tangent step ``v`` (flat ``[B, D]`` or tangent-shaped)."""
        return x + v.view_as(x)

    def log_standard_normal(self, x: Tensor) -> Tensor:
        """``log N(x; 0, I)`` on the space, per sample, float64 ``[B]`` (nats)."""
        d = self.dim(tuple(x.shape[1:]))
        sq = x.detach().double().flatten(1).pow(2).sum(1)
        return -0.5 * sq - 0.5 * d * math.log(2 * math.pi)

    def prior_sample(self, standard_normal: Tensor, std: float) -> Tensor:
        """A draw of the reference ``N(0, std² I)`` on the space from standard normals of the state's shape."""
        return std * self.project(standard_normal)

    def prior_log_density(self, x: Tensor, std: float) -> Tensor:
        """``log N(x; 0, std² I)`` on the space per design, float64 ``[B]`` (nats)."""
        if std == 1.0:
            return self.log_standard_normal(x)
        return self.log_standard_normal(x / std) - self.dim(tuple(x.shape[1:])) * math.log(std)

    def prior_noise_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the standard normals :meth:`prior_sample` consumes for one sample."""
        return tuple(shape)

    def blocks(self, shape: tuple[int, ...]) -> Tensor | None:
        """The block ``[D]`` of every tangent coordinate for spaces whose parts diffuse separately, else None."""
        return None

    def coefficients(self, path, x: Tensor, t: float) -> Coefficients:
        """The path's linear SDE: ``f = (α̇/α) x``, its ``g²`` and ``∇·f = dim α̇/α``."""
        return Coefficients(path.drift(x, t).flatten(1), float(path.g2(t)),
                            float(path.divergence_of_drift(t, self.dim(tuple(x.shape[1:])))))

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


class Rotations(Euclidean):
    """One rotation per residue: states ``[B, N, 3, 3]``, tangents ``[B, N, 3]`` in the body frame.

    The forward process is Brownian motion on SO(3) with the rotation schedule's ``g²`` (no drift); the
    reference distribution is the uniform (Haar) one, whose log density is 0 with respect to the Haar probability
    measure, the measure every IGSO(3) density here is taken against.
    """

    euclidean = False

    def dim(self, shape: tuple[int, ...]) -> int:
        self._check(shape)
        return 3 * shape[0]

    def tangent_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        self._check(shape)
        return (shape[0], 3)

    def retract(self, x: Tensor, v: Tensor) -> Tensor:
        return x @ so3.exp(v.reshape(*x.shape[:-2], 3).to(x.dtype))

    def log_standard_normal(self, x: Tensor) -> Tensor:
        return torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)

    def prior_noise_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        self._check(shape)
        return (shape[0], 4)

    def prior_sample(self, standard_normal: Tensor, std: float) -> Tensor:
        """Uniform rotations: normalised Gaussian quaternions (``std`` plays no part on a compact group)."""
        q = standard_normal / standard_normal.norm(dim=-1, keepdim=True)
        return so3.quaternion_to_matrix(q)

    def prior_log_density(self, x: Tensor, std: float) -> Tensor:
        return self.log_standard_normal(x)

    def coefficients(self, schedule, x: Tensor, t: float) -> Coefficients:
        if not isinstance(schedule, so3.RotationSchedule):
            raise ValueError(f"Rotations diffuse with a superdiff.so3.RotationSchedule, got {schedule!r}")
        drift = torch.zeros(x.shape[0], self.dim(tuple(x.shape[1:])), dtype=x.dtype, device=x.device)
        return Coefficients(drift, float(schedule.g2(t)), 0.0)

    @staticmethod
    def _check(shape: tuple[int, ...]) -> None:
        if len(shape) != 3 or tuple(shape[1:]) != (3, 3):
            raise ValueError(f"Rotations expects samples of shape (N, 3, 3), got {tuple(shape)}")
