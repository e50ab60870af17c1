r"""Residue frames: a centred translation in R³ and a rotation in SO(3) per residue (SCIENCE.md §8).

The state of N frames is one tensor ``[B, N, 4, 3]``: row 0 the translation, rows 1..3 the rotation matrix. Its
tangent vectors are ``[B, N, 6]``: the translation part (3) then the body-frame rotation part (3). The forward SDE
is the product of the translation path's linear SDE (centred) and Brownian motion on SO(3), each block with its
own ``g²`` and independent noise, so one model's log density is the sum over both blocks and the Itô estimator
applies block by block (it only needs Itô's formula along the realised path). Operators see ONE joint log density
per model: κ is joint, so a mixture never stitches one model's translations to another's rotations.

A frame model is ``model(trans [B, N, 3], rots [B, N, 3, 3], t [B]) -> (trans_score [B, N, 3], rot_score [B, N, 3])``;
:func:`frame_model` makes it a score model of the engine, :func:`from_frame_x0` wraps networks that predict clean
frames (Proteus-style: the rotation score is IGSO(3)'s at the predicted rotation, as FrameDiff does).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from superdiff.engine import so3
from superdiff.engine.paths import GaussianPath, VPLinear, broadcast_over, score_from_x0
from superdiff.engine.spaces import Coefficients, Euclidean

FrameScores = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class FramePath:
    """The forward SDE of frames: ``translations`` (a Gaussian path, on centred coordinates) and ``rotations``
    (Brownian motion on SO(3) with variance ``σ(t)²``), sharing one clock."""

    translations: GaussianPath = field(default_factory=VPLinear)
    rotations: so3.RotationSchedule = field(default_factory=so3.RotationSchedule)

    @property
    def singular_at_one(self) -> bool:
        return self.translations.singular_at_one

    def prior_std(self, t: float) -> Tensor:
        return self.translations.prior_std(t)

    def log_snr(self, t):
        """The translations' log-SNR (named time grids follow the translation path)."""
        return self.translations.log_snr(t)

    def t_of_log_snr(self, lam):
        return self.translations.t_of_log_snr(lam)

    def log_alpha(self, t):
        return self.translations.log_alpha(t)

    def sigma(self, t):
        return self.translations.sigma(t)


def split(x: Tensor) -> tuple[Tensor, Tensor]:
    """A frame state ``[B, N, 4, 3]`` as translations ``[B, N, 3]`` and rotations ``[B, N, 3, 3]``."""
    return x[..., 0, :], x[..., 1:, :]


def join(trans: Tensor, rots: Tensor) -> Tensor:
    """Translations ``[B, N, 3]`` and rotations ``[B, N, 3, 3]`` as one frame state ``[B, N, 4, 3]``."""
    return torch.cat([trans[..., None, :], rots], dim=-2)


class Frames(Euclidean):
    """N residue frames: states ``[B, N, 4, 3]``, tangents ``[B, N, 6]`` (translation, body-frame rotation)."""

    euclidean = False

    def project(self, v: Tensor) -> Tensor:
        trans = v[..., :3] - v[..., :3].mean(dim=-2, keepdim=True)  # translations are centred
        return torch.cat([trans, v[..., 3:]], dim=-1)

    def dim(self, shape: tuple[int, ...]) -> int:
        n = self._residues(shape)
        return 3 * (n - 1) + 3 * n

    def tangent_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self._residues(shape), 6)

    def retract(self, x: Tensor, v: Tensor) -> Tensor:
        """Translations moved and re-centred (a state given with its centre of mass, e.g. ``x_init``, lands on the
        centred subspace: the drift ``(α̇/α) x`` would otherwise grow that centre without bound), rotations
        ``R · Exp(v_R)``."""
        v = v.reshape(*x.shape[:-2], 6).to(x.dtype)
        trans, rots = split(x)
        trans = trans + v[..., :3]
        return join(trans - trans.mean(dim=-2, keepdim=True), rots @ so3.exp(v[..., 3:]))

    def log_standard_normal(self, x: Tensor) -> Tensor:
        return self.prior_log_density(x, 1.0)

    def blocks(self, shape: tuple[int, ...]) -> Tensor:
        """Block 0 for translation coordinates, 1 for rotation coordinates, in the ``[N, 6]`` tangent layout."""
        return torch.tensor([0, 0, 0, 1, 1, 1]).repeat(self._residues(shape))

    def prior_log_density_blocks(self, x: Tensor, std: float) -> Tensor:
        """The prior log density split over the blocks ``[B, 2]``: translations, rotations (0: uniform)."""
        trans = self.prior_log_density(x, std)
        return torch.stack([trans, torch.zeros_like(trans)], dim=1)

    def prior_noise_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self._residues(shape), 7)

    def prior_sample(self, standard_normal: Tensor, std: float) -> Tensor:
        """Centred ``N(0, std² I)`` translations and uniform rotations (normalised Gaussian quaternions)."""
        trans = standard_normal[..., :3]
        trans = std * (trans - trans.mean(dim=-2, keepdim=True))
        q = standard_normal[..., 3:]
        return join(trans, so3.quaternion_to_matrix(q / q.norm(dim=-1, keepdim=True)))

    def prior_log_density(self, x: Tensor, std: float) -> Tensor:
        """``log N(trans; 0, std² I)`` on the centred subspace (of the centred translations); the uniform rotations
        add 0 (Haar probability)."""
        trans = split(x)[0].detach().double()
        trans = trans - trans.mean(dim=-2, keepdim=True)
        d = 3 * (trans.shape[-2] - 1)
        return -0.5 * trans.flatten(1).pow(2).sum(1) / std**2 - 0.5 * d * math.log(2 * math.pi * std**2)

    def coefficients(self, path: FramePath, x: Tensor, t: float) -> Coefficients:
        """Translation drift ``(α̇/α) x`` and ``g²_trans``; rotations: no drift, ``g²_rot``; per coordinate."""
        if not isinstance(path, FramePath):
            raise ValueError(f"Frames diffuse with a superdiff.frames.FramePath (translations and rotations), got "
                             f"{path!r}")
        trans = split(x)[0]
        n = trans.shape[-2]
        drift = torch.cat([path.translations.drift(trans, t), torch.zeros_like(trans)], dim=-1).flatten(1)
        g2_block = torch.tensor([float(path.translations.g2(t))] * 3 + [float(path.rotations.g2(t))] * 3,
                                dtype=x.dtype, device=x.device)
        div_f = float(path.translations.divergence_of_drift(t, 3 * (n - 1)))
        return Coefficients(drift, g2_block.repeat(n), div_f)

    @staticmethod
    def _residues(shape: tuple[int, ...]) -> int:
        if len(shape) != 3 or tuple(shape[1:]) != (4, 3):
            raise ValueError(f"Frames expects samples of shape (N, 4, 3) (translation row + rotation), got "
                             f"{tuple(shape)}")
        return shape[0]


def _checked_pair(out, owner, names: tuple[str, str], shapes: tuple[tuple[int, ...], ...]) -> FrameScores:
    """``out`` as the pair of tensors of ``shapes`` a frame network must return, else a ValueError that names them."""
    expected = " and ".join(f"{name} {list(shape)}" for name, shape in zip(names, shapes, strict=True))
    if not (isinstance(out, tuple | list) and len(out) == 2 and all(isinstance(o, Tensor) for o in out)):
        raise ValueError(f"{owner!r} must return a pair of tensors ({expected}), got {type(out).__name__}")
    got = tuple(tuple(o.shape) for o in out)
    if got != shapes:
        shown = " and ".join(f"{name} {list(shape)}" for name, shape in zip(names, got, strict=True))
        raise ValueError(f"{owner!r} returned {shown}; expected {expected} (translations [B, N, 3], rotations "
                         "[B, N, 3, 3]; rotation scores are body-frame 3-vectors, not matrices)")
    return out[0], out[1]


class FrameModel:
    """A frame model ``fn(trans, rots, t) -> (trans_score, rot_score)`` as an engine score model on frame states."""

    def __init__(self, fn: Callable[[Tensor, Tensor, Tensor], FrameScores]):
        self.fn = fn

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        trans, rots = split(x)
        trans_score, rot_score = _checked_pair(self.fn(trans, rots, t), self.fn, ("trans_score", "rot_score"),
                                               (tuple(trans.shape), tuple(rots.shape[:-1])))
        return torch.cat([trans_score, rot_score], dim=-1)

    def __getattr__(self, name: str):
        if name == "fn":
            raise AttributeError(name)
        return getattr(self.fn, name)

    def __repr__(self) -> str:
        return f"frame_model({self.fn!r})"


def frame_model(fn: Callable[[Tensor, Tensor, Tensor], FrameScores]) -> FrameModel:
    """Wrap a network that returns translation and rotation scores (FrameDiff-style) as an engine score model."""
    return FrameModel(fn)


class FrameX0Score:
    """Scores from a network predicting clean frames ``(trans_0, rots_0)`` (Proteus-style).

    Translations: ``s = −(x − α x̂0) / σ²`` on the translation path. Rotations: the score of
    IGSO(3)(R̂0, σ_R(t)²) at the current rotation, the marginal of Brownian motion started at the prediction.
    """

    def __init__(self, net: Callable[[Tensor, Tensor, Tensor], FrameScores], path: FramePath):
        self.net = net
        self.path = path

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        trans, rots = split(x)
        trans_0, rots_0 = _checked_pair(self.net(trans, rots, t), self.net, ("trans_0", "rots_0"),
                                        (tuple(trans.shape), tuple(rots.shape)))
        trans_score = score_from_x0(trans_0, trans, t, self.path.translations)
        eps2 = self.path.rotations.variance(t.double()).to(rots.dtype)
        rot_score = so3.igso3_score(rots, broadcast_over(rots[..., 0, 0], eps2), mean=rots_0)
        return torch.cat([trans_score, rot_score.to(trans_score.dtype)], dim=-1)

    def __repr__(self) -> str:
        return f"from_frame_x0({self.net!r})"


def from_frame_x0(net: Callable[[Tensor, Tensor, Tensor], FrameScores], path: FramePath) -> FrameX0Score:
    """Wrap a clean-frame predictor ``net(trans, rots, t) -> (trans_0, rots_0)`` as an engine score model."""
    return FrameX0Score(net, path)
