"""The built-in frame experts (``builtin:helix_frames``, ``builtin:strand_frames``): saving, loading, training command.

``resources/weights/builtin/<name>.safetensors`` holds the EMA parameters of a
:class:`~superdiff.proteins.frame_net.FrameDenoiser`; ``<name>.json`` holds their sha256, the network and training
configuration, the training chain ids, the overlap with the novelty reference set and the reproducing command.
A loaded expert is the engine score model ``from_frame_x0(net, FRAME_PATH)`` on frame states ``[B, L, 4, 3]``
(model units Å / 10) with the attributes the protein sampler reads: ``frames = True``, ``path``, ``coord_scale``,
``check_length``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from superdiff.engine import so3
from superdiff.engine.frames import FramePath, FrameX0Score
from superdiff.engine.paths import VPLinear
from superdiff.files.atomic import atomic_path, write_json_atomic
from superdiff.files.download import ChecksumError, sha256_file
from superdiff.proteins.frame_net import COORD_SCALE, FrameDenoiser, FrameNetConfig

FRAME_BUILTIN_NAMES = ("helix_frames", "strand_frames")
#: inference-time settings of the built-in frame experts (not part of the weights): Adam steps of the junction
#: polish applied to every sampled design (:mod:`superdiff.proteins.frame_polish`; 0 = off)
FRAME_INFERENCE = {"polish_iters": 2000}


def frame_path(sigma_min: float = 0.1, sigma_max: float = 1.5) -> FramePath:
    """The path the frame experts are trained and sampled on: VP β 0.1 → 20 and FrameDiff's rotation schedule."""
    return FramePath(VPLinear(0.1, 20.0), so3.RotationSchedule(sigma_min, sigma_max))


class FrameExpert(FrameX0Score):
    """A frame expert as an engine score model ``(x [B, L, 4, 3], t [B]) -> [B, L, 6]``."""

    frames = True
    coord_scale = COORD_SCALE

    def __init__(self, net: FrameDenoiser, path: FramePath, name: str, manifest: dict, polish_iters: int = 0):
        super().__init__(net, path)
        self.name, self.manifest, self.polish_iters = name, manifest, polish_iters

    def check_length(self, length: int) -> None:
        cfg = self.net.cfg
        if not cfg.min_length <= length <= cfg.max_length:
            raise ValueError(f"{self.name} accepts {cfg.min_length}-{cfg.max_length} residues, got {length}")

    def __repr__(self) -> str:
        return f"FrameExpert({self.name})"


def save_frame_expert(net: FrameDenoiser, weights_path: str | os.PathLike, manifest: dict) -> dict:
    """Write ``net``'s parameters (safetensors) and ``<stem>.json``; return the manifest (with sha256)."""
    weights_path = Path(weights_path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "superdiff-frames-x0",
                                               "coord_scale_angstrom": str(COORD_SCALE)})
    manifest = {**manifest, "format": "superdiff-frames-x0", "sha256": sha256_file(weights_path),
                "model_config": net.cfg.to_dict(), "coord_scale_angstrom": COORD_SCALE,
                "schedule": {"beta_min": net.beta_min, "beta_max": net.beta_max}}
    write_json_atomic(weights_path.with_suffix(".json"), manifest)
    return manifest


def load_frame_expert(weights_path: str | os.PathLike, device: str | torch.device = "cpu",
                      name: str | None = None, polish_iters: int = 0) -> FrameExpert:
    """A frame expert from its safetensors file and the manifest beside it (sha256 checked); ``polish_iters``: see
    :data:`FRAME_INFERENCE`.

    Raises:
        FileNotFoundError: weights or manifest missing.
        ChecksumError: the weights differ from the manifest's sha256.
    """
    weights_path = Path(weights_path)
    manifest_path = weights_path.with_suffix(".json")
    for p in (weights_path, manifest_path):
        if not p.exists():
            raise FileNotFoundError(f"frame expert file not found: {p}")
    manifest = json.loads(manifest_path.read_text())
    actual = sha256_file(weights_path)
    if manifest.get("sha256") and actual != manifest["sha256"]:
        raise ChecksumError(str(weights_path), manifest["sha256"], actual)
    schedule = manifest.get("schedule", {})
    net = FrameDenoiser(FrameNetConfig(**manifest["model_config"]), schedule.get("beta_min", 0.1),
                        schedule.get("beta_max", 20.0))
    net.load_state_dict(load_file(str(weights_path)))
    net = net.to(device).eval().requires_grad_(False)
    train = manifest.get("train_config", {})
    path = frame_path(train.get("sigma_min", 0.1), train.get("sigma_max", 1.5))
    return FrameExpert(net, path, name or weights_path.stem, manifest, polish_iters)


def load_builtin_frames(name: str, device: str | torch.device = "cpu") -> FrameExpert:
    """``helix_frames`` or ``strand_frames``: the committed frame experts."""
    from superdiff.proteins.builtin import BUILTIN_DIR

    if name not in FRAME_BUILTIN_NAMES:
        raise KeyError(f"unknown built-in frame model {name!r}; choose one of {', '.join(FRAME_BUILTIN_NAMES)}")
    return load_frame_expert(BUILTIN_DIR / f"{name}.safetensors", device, name=f"builtin:{name}", **FRAME_INFERENCE)


def _earlier_commands(out: Path, init: FrameExpert | None) -> list[str]:
    """The commands that made the state a run resumes from (from the manifest beside it), or the weights a new run
    starts from (``init``: from theirs); empty for a run from scratch."""
    manifest = out.with_suffix(".json")
    if out.with_suffix(".state.pt").exists() and manifest.exists():
        previous = json.loads(manifest.read_text())
        if init is None or previous.get("init_from", {}).get("sha256") == init.manifest["sha256"]:
            return list(previous.get("reproduce", []))
    if init is not None:
        return list(init.manifest.get("reproduce", []))
    return []


def _or_default(value, default):
    """``value`` unless the command line left it unset (None)."""
    return default if value is None else value


def train_frames_command(args: argparse.Namespace, command: str) -> int:
    """``superdiff train-frames``: select the subset, train (resuming from ``<out>.state.pt``), save weights.

    The manifest's ``reproduce`` lists every command in order: the data set, then each run (a resumed run with more
    ``--steps`` is a later stage; its cosine learning-rate schedule is recomputed for the new total)."""
    from superdiff.proteins.backbone_set import (
        BACKBONE_SET_FILE,
        BUILD_COMMANDS,
        load_backbone_set,
        overlap_with_reference,
        subset,
    )
    from superdiff.proteins.frame_training import FrameTrainConfig, train_frames

    cfg = FrameTrainConfig(subset=args.subset, margin=args.margin, steps=args.steps, batch_size=args.batch_size,
                           lr=args.lr, seed=args.seed, max_minutes=args.max_minutes, min_crop=args.min_crop,
                           max_crop=args.max_crop, clash_weight=getattr(args, "clash_weight", 0.0),
                           hbond_weight=getattr(args, "hbond_weight", 0.0),
                           hbond_t_max=_or_default(getattr(args, "hbond_t_max", None), FrameTrainConfig.hbond_t_max),
                           pair_crops=getattr(args, "pair_crops", 0),
                           junction_weight=getattr(args, "junction_weight", 0.0))
    init_path = Path(args.init) if getattr(args, "init", None) else None
    if init_path is not None and init_path.resolve() == Path(args.out).resolve():
        raise ValueError(f"--init {args.init}: the same file as --out; fine-tune from a copy (the run overwrites "
                         "--out at every checkpoint, so a resumed run could not find its starting weights)")
    init = load_frame_expert(init_path) if init_path is not None else None
    chains = [c for c in subset(load_backbone_set(args.data), args.subset, args.margin) if len(c) >= cfg.min_crop]
    if not chains:
        raise ValueError(f"subset {args.subset} (margin {args.margin}): no chain of ≥ {cfg.min_crop} residues")
    overlap = overlap_with_reference(chains)
    print(f"training on {len(chains)} chains ({sum(len(c) for c in chains)} residues), subset {args.subset}; "
          f"{len(overlap)} of them overlap the novelty reference set", flush=True)
    out = Path(args.out)
    earlier = _earlier_commands(out, init)
    core_command = BUILD_COMMANDS[BACKBONE_SET_FILE.resolve()]
    data_command = BUILD_COMMANDS.get(Path(args.data or BACKBONE_SET_FILE).resolve(), core_command)
    if data_command not in earlier:  # a first run, or a stage on another set: say how its data was built
        earlier = [*earlier, data_command]
    reproduce = earlier if earlier and earlier[-1] == command else [*earlier, command]  # a plain restart: once

    def save(net, summary):
        manifest = {"name": out.stem, "data": str(args.data or "resources/reference/backbone_set.npz"),
                    "train_config": cfg.to_dict(), "training": summary, "command": command, "reproduce": reproduce,
                    "overlap_with_reference_set": {"chains": len(overlap), "of": len(chains), "ids": overlap}}
        if init is not None:
            manifest["init_from"] = {"weights": str(init_path), "sha256": init.manifest["sha256"],
                                     "minutes_before": init.manifest.get("training", {}).get("minutes")}
        return save_frame_expert(net, out, manifest)

    net, summary = train_frames(chains, cfg, state_path=out.with_suffix(".state.pt"),
                                checkpoint_every=args.checkpoint_every, on_checkpoint=save,
                                log=lambda m: print(m, file=sys.stderr, flush=True),
                                init=None if init is None else (init.net.state_dict(), init.manifest["sha256"]))
    manifest = save(net, summary)
    print(f"wrote {out} (sha256 {manifest['sha256']}) after {summary['steps_done']} steps, "
          f"{summary['minutes']:.1f} min")
    return 0
