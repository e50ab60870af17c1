"""Users' FrameDiff and Proteus checkpoints as frame score models of the engine (SCIENCE.md §8, the paper's §4.2).

Both networks take FrameDiff's feature dictionary of noisy frames and return a dictionary. The adapters build that
dictionary from the engine's state and read the answer back:

* **FrameDiff** (Yim et al. 2023, ``model.score_network.ScoreNetwork``) returns ``trans_score`` (per scaled unit,
  FrameDiff's ``coordinate_scaling = 0.1``, i.e. per nm) and ``rot_score``, a body-frame tangent vector (its
  reverse step right-multiplies, ``R ← R Exp(v)``, as the engine does). Some development versions rotated it into
  the world frame (``so3.equivariant_score: True``, reverse step ``R ← Exp(w) R``); for those checkpoints the
  adapter returns ``Rᵀ w`` (the factory reads the flag from the checkpoint's config).
* **Proteus** (Wang et al. 2024) predicts clean frames (``pred_trans`` in Å, ``pred_rotmats``); the engine's
  :func:`~superdiff.engine.frames.from_frame_x0` turns them into scores on the same path.

The path is FrameDiff's (which Proteus keeps): translations VP with ``β(t) = 0.1 + 19.9 t`` on coordinates in nm
(``coord_scale = 10`` Å per model unit), rotations IGSO(3) with ``σ(t) = log(t e^{1.5} + (1 − t) e^{0.1})``.
Unconditional monomers only: no motif (``fixed_mask = 0``), no self-conditioning (zeros, as at FrameDiff's first
step), Proteus's secondary-structure, adjacency and hotspot inputs set to their "mask" classes.

Feature names and shapes were read from the two projects' ``model/score_network.py`` (FrameDiff at 310110d,
Proteus at 9426dec); they are not installed here, so CI runs these adapters with tiny random networks that follow
the same contract (:mod:`superdiff.proteins.tiny_frame_nets`). ``framediff`` and ``proteus`` below load real
checkpoints on a machine where the user installed the projects' code (``docs/models.md``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from superdiff.engine import so3
from superdiff.engine.frames import FrameModel, FramePath, FrameX0Score, frame_model, from_frame_x0
from superdiff.engine.paths import VPLinear

#: Å per model unit: FrameDiff scales coordinates by 0.1 before diffusing them
COORD_SCALE = 10.0
#: Proteus one-hot "mask" classes: secondary structure {helix, sheet, loop, mask}, adjacency {adjacent, not, mask}
PROTEUS_SS_CLASSES, PROTEUS_ADJACENCY_CLASSES, PROTEUS_HOTSPOT_CLASSES = 4, 3, 2

FeatureNet = Callable[[dict[str, Tensor]], dict[str, Tensor]]


def framediff_path(min_b: float = 0.1, max_b: float = 20.0, min_sigma: float = 0.1,
                   max_sigma: float = 1.5) -> FramePath:
    """FrameDiff's SE(3) diffusion (its ``diffuser.r3`` and ``diffuser.so3`` config) as an engine path."""
    return FramePath(translations=VPLinear(min_b, max_b), rotations=so3.RotationSchedule(min_sigma, max_sigma))


def framediff_features(trans: Tensor, rots: Tensor, t: Tensor, coord_scale: float = COORD_SCALE) -> dict[str, Tensor]:
    """FrameDiff's ``input_feats`` for unconditional monomers.

    Args:
        trans: ``[B, N, 3]`` translations in model units (``coord_scale`` Å each).
        rots: ``[B, N, 3, 3]`` rotations.
        t: ``[B]`` forward time.
    """
    b, n = trans.shape[:2]
    rigids = torch.cat([so3.matrix_to_quaternion(rots).to(trans.dtype), trans * coord_scale], dim=-1)
    ones = torch.ones(b, n, device=trans.device, dtype=trans.dtype)
    return {
        "rigids_t": rigids,  # [B, N, 7]: quaternion (w, x, y, z), translation (Å)
        "t": t.to(trans.dtype),
        "res_mask": ones,
        "fixed_mask": torch.zeros_like(ones),
        "seq_idx": torch.arange(1, n + 1, device=trans.device).expand(b, n),
        "sc_ca_t": torch.zeros_like(trans),
        "torsion_angles_sin_cos": torch.zeros(b, n, 7, 2, device=trans.device, dtype=trans.dtype),
    }


def proteus_features(trans: Tensor, rots: Tensor, t: Tensor, coord_scale: float = COORD_SCALE) -> dict[str, Tensor]:
    """Proteus's batch: FrameDiff's features plus its sequence, chain and condition inputs (all "mask")."""
    feats = framediff_features(trans, rots, t, coord_scale)
    b, n = trans.shape[:2]
    dev, dtype = trans.device, trans.dtype

    def one_hot(index: int, classes: int, *shape: int) -> Tensor:
        return torch.nn.functional.one_hot(torch.full(shape, index, device=dev), classes).to(dtype)

    feats.update({
        "aatype": torch.zeros(b, n, dtype=torch.long, device=dev),
        "residue_index": feats["seq_idx"] - 1,
        "chain_index": torch.zeros(b, n, dtype=torch.long, device=dev),
        "ss": one_hot(PROTEUS_SS_CLASSES - 1, PROTEUS_SS_CLASSES, b, n),
        "adjacency": one_hot(PROTEUS_ADJACENCY_CLASSES - 1, PROTEUS_ADJACENCY_CLASSES, b, n, n),
        "hotspot": one_hot(0, PROTEUS_HOTSPOT_CLASSES, b, n),
        "atom37_atom_exists": torch.zeros(b, n, 37, device=dev, dtype=dtype),
    })
    return feats


def _output(out: dict, key: str, owner) -> Tensor:
    if not isinstance(out, dict) or key not in out:
        got = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise ValueError(f"{owner!r} must return a dict with {key!r} (as FrameDiff/Proteus networks do), got {got}")
    return out[key]


class FrameDiffScores:
    """``(trans, rots, t) -> (trans_score, body-frame rot_score)`` from a FrameDiff-style network.

    ``world_frame_rotations``: the network's rotation score is a world-frame vector ``w`` (``R ← Exp(w) R``);
    it is returned as ``Rᵀ w``, the body-frame vector of the same step.
    """

    def __init__(self, net: FeatureNet, coord_scale: float = COORD_SCALE, world_frame_rotations: bool = False):
        self.net, self.coord_scale, self.world_frame_rotations = net, coord_scale, world_frame_rotations

    def __call__(self, trans: Tensor, rots: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(framediff_features(trans, rots, t, self.coord_scale))
        trans_score = _output(out, "trans_score", self.net).to(trans.dtype)
        rot_score = _output(out, "rot_score", self.net).to(rots.dtype)
        if self.world_frame_rotations:
            rot_score = (rots.transpose(-1, -2) @ rot_score[..., None])[..., 0]
        return trans_score, rot_score


class ProteusCleanFrames:
    """``(trans, rots, t) -> (trans_0, rots_0)`` in model units from a Proteus-style network."""

    def __init__(self, net: FeatureNet, coord_scale: float = COORD_SCALE):
        self.net, self.coord_scale = net, coord_scale

    def __call__(self, trans: Tensor, rots: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(proteus_features(trans, rots, t, self.coord_scale))
        trans_0 = _output(out, "pred_trans", self.net).to(trans.dtype) / self.coord_scale
        return trans_0 - trans_0.mean(dim=-2, keepdim=True), _output(out, "pred_rotmats", self.net).to(rots.dtype)


def framediff_model(net: FeatureNet, path: FramePath | None = None, name: str = "framediff",
                    world_frame_rotations: bool = False) -> FrameModel:
    """A FrameDiff-style network as an engine frame model with the attributes the protein sampler reads."""
    model = frame_model(FrameDiffScores(net, world_frame_rotations=world_frame_rotations))
    return _describe(model, path or framediff_path(), name)


def proteus_model(net: FeatureNet, path: FramePath | None = None, name: str = "proteus") -> FrameX0Score:
    """A Proteus-style clean-frame network as an engine frame model."""
    path = path or framediff_path()
    return _describe(from_frame_x0(ProteusCleanFrames(net), path), path, name)


def _describe(model, path: FramePath, name: str):
    model.path, model.coord_scale, model.name, model.frames = path, COORD_SCALE, name, True
    return model


def _import_network(code: str | Path, module: str, attr: str):
    """``module.attr`` from the user's checkout of FrameDiff / Proteus (its folder is put on ``sys.path``)."""
    code = Path(code).expanduser()
    if not code.is_dir():
        raise FileNotFoundError(f"code: {code} is not a folder; expected the checkout of the project "
                                "(git clone, see docs/models.md)")
    if str(code) not in sys.path:
        sys.path.insert(0, str(code))
    try:
        return getattr(__import__(module, fromlist=[attr]), attr)
    except ImportError as err:
        raise ImportError(f"code: cannot import {module}.{attr} from {code} ({err}); install the project's "
                          "requirements in this environment (docs/models.md)") from err


def _checkpoint(weights: Path, allow_pickle: bool) -> dict:
    """The checkpoint's dict; FrameDiff and Proteus save their OmegaConf config in it, which needs pickle."""
    try:
        return torch.load(weights, map_location="cpu", weights_only=not allow_pickle)
    except Exception as err:  # torch raises UnpicklingError or RuntimeError here
        if allow_pickle:
            raise
        raise ValueError(f"weights {weights}: the checkpoint holds Python objects beyond tensors ({type(err).__name__})"
                         "; loading it runs code from the file. If you trust it, set kwargs: {allow_pickle: true} "
                         "in its manifest") from err


def framediff(device: torch.device, weights: Path, code: str, allow_pickle: bool = False) -> FrameModel:
    """Factory for ``manifest:framediff``: FrameDiff's ``ScoreNetwork`` from ``code`` with ``weights``."""
    ckpt = _checkpoint(Path(weights), allow_pickle)
    network_cls = _import_network(code, "model.score_network", "ScoreNetwork")
    diffuser_cls = _import_network(code, "data.se3_diffuser", "SE3Diffuser")
    conf = ckpt["conf"]
    net = network_cls(conf.model, diffuser_cls(conf.diffuser))
    net.load_state_dict({k.removeprefix("module."): v for k, v in ckpt["model"].items()})
    r3, rot = conf.diffuser.r3, conf.diffuser.so3
    path = framediff_path(r3.min_b, r3.max_b, rot.min_sigma, rot.max_sigma)
    world = bool(rot.get("equivariant_score", False)) if hasattr(rot, "get") else False
    return framediff_model(net.to(device).eval(), path, world_frame_rotations=world)


def proteus(device: torch.device, weights: Path, code: str, allow_pickle: bool = False) -> FrameX0Score:
    """Factory for ``manifest:proteus``: Proteus's ``ScoreNetwork`` from ``code`` with ``weights``."""
    ckpt = _checkpoint(Path(weights), allow_pickle)
    network_cls = _import_network(code, "model.score_network", "ScoreNetwork")
    conf = ckpt["conf"]
    net = network_cls(conf.model)
    net.load_state_dict({k.removeprefix("module."): v for k, v in ckpt["model"].items()})
    r3, rot = conf.diffuser.r3, conf.diffuser.so3
    return proteus_model(net.to(device).eval(), framediff_path(r3.min_b, r3.max_b, rot.min_sigma, rot.max_sigma))
