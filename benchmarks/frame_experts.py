"""The built-in frame experts and their compositions: DSSP secondary structure and full-backbone geometry.

For ``builtin:helix_frames`` alone, ``builtin:strand_frames`` alone, AND, OR and the average of scores, at the
default campaign lengths (config/config.yaml: 50 and 80), ``--num`` designs per length (design seeds shared by all
methods), ``--steps`` reverse steps (the protein default, 200). Per method:

* DSSP (pydssp, 3 states) helix and strand fractions, their means, and for AND the fraction of designs with both
  ≥ 0.15;
* bonds: the share of N–CA, CA–C and C–N (peptide) bonds within 0.05 Å of Engh–Huber (1.458 / 1.525 / 1.329 Å),
  all three together and the peptide bond alone (N–CA and CA–C are ideal by construction of the frames);
* Cα–Cα: the share of consecutive pairs at 3.80 ± 0.10 Å; chain breaks: the share of designs with a Cα gap
  > 4.2 Å (the evaluation reports those designs as failed); crowded: the share of residues whose nearest Cα more
  than 3 residues away is closer than 3.8 Å (real chains 0.4 %, a collapsed sample half);
* clashes: heavy-atom (N, CA, C, O) pairs more than 3 residues apart closer than 3.0 Å; the share of clash-free
  designs; also with N–O pairs (backbone hydrogen bonds, ~2.9 Å) exempt down to 2.5 Å. Real chains are the
  calibration row (``reference``: the first 80 residues of every chain of the backbone set): few of them pass the
  strict rule, because α-helices' i → i+4 hydrogen bonds are N–O pairs at ~2.9 Å.

Every method is reported raw (the sampler's frames) and polished (the frame experts' junction polish,
:mod:`superdiff.proteins.frame_polish`, the built-ins' ``polish_iters``), from the same samples.

Targets of issue 20 are printed beside the figures. Writes ``benchmarks/out/frame_experts.json``.

    nice -n 5 .venv/bin/python benchmarks/frame_experts.py --num 8      # 16 designs per method (2 lengths)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from superdiff.campaign.config import read_campaign
from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance
from superdiff.proteins.backbone_set import dssp, load_backbone_set
from superdiff.proteins.frame_experts import FRAME_INFERENCE, load_frame_expert
from superdiff.proteins.frame_polish import PolishSettings, clash_limits, polish_frames
from superdiff.proteins.frames_backbone import atoms_from_frames, frames_from_atoms
from superdiff.proteins.quality import CLASH_SEPARATION, backbone_geometry
from superdiff.proteins.registry import load_model
from superdiff.proteins.sampling import DEFAULT_STEPS, SamplingRequest, polish_steps, sample_length
from superdiff.proteins.structure import MAX_CA_GAP

METHODS = {"helix_frames": ("single", 0), "strand_frames": ("single", 1), "and": ("and", 0), "or": ("or", 0),
           "average": ("average", 0)}
TARGETS = {"helix_frames": "DSSP helix ≥ 0.50", "strand_frames": "DSSP strand ≥ 0.35",
           "and": "mean helix ≥ 0.15 and mean strand ≥ 0.15", "all": "bonds ≥ 99 %, clash-free ≥ 95 %"}


#: Å: a residue whose nearest Cα more than 3 residues away in the chain is closer than this is crowded (real chains:
#: 0.4 % of residues; a collapsed sample: half of them)
CROWDED_CA = 3.8


def nearest_nonlocal_ca(ca: np.ndarray) -> np.ndarray:
    """Per residue, the distance (Å) to the nearest Cα more than ``CLASH_SEPARATION`` residues away in the chain:
    Cα traces ``[..., L, 3]`` (Å) → ``[..., L]`` (real chains: median ~6.0 Å, 5 % ~4.4 Å)."""
    dist = np.linalg.norm(ca[..., :, None, :] - ca[..., None, :, :], axis=-1)
    idx = np.arange(ca.shape[-2])
    return np.where(np.abs(idx[:, None] - idx[None]) > CLASH_SEPARATION, dist, np.inf).min(-1)


def geometry(atoms: np.ndarray) -> dict:
    """Bond, Cα–Cα and clash figures of one backbone ``[L, 4, 3]`` (Å): the evaluation's checks
    (:func:`~superdiff.proteins.quality.backbone_geometry`) plus the issue's strict clash rule (no N–O exemption),
    the polish's rule (N–O pairs allowed down to 2.5 Å) and the share of residues crowded (:data:`CROWDED_CA`)."""
    length = len(atoms)
    g = backbone_geometry(atoms[:, 1], atoms)
    bonds_ok = (g.n_ca_ok * length + g.ca_c_ok * length + g.c_n_ok * (length - 1)) / (3 * length - 1)
    flat = atoms.reshape(-1, 3)
    residue = np.repeat(np.arange(length), 4)
    dist = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    far = np.abs(residue[:, None] - residue[None]) > CLASH_SEPARATION
    limits = clash_limits(length, 3.0, hbond=2.5).numpy()
    return {"clashes_hbond_exempt": int(np.triu(dist < limits).sum()), "bonds_ok": float(bonds_ok),
            "ca_crowded": float((nearest_nonlocal_ca(atoms[:, 1]) < CROWDED_CA).mean()),
            "peptide_ok": g.c_n_ok, "c_n_mean": float(np.linalg.norm(atoms[1:, 0] - atoms[:-1, 2], axis=-1).mean()),
            "ca_ca_ok": g.ca_ca_ok, "clashes": int(np.triu((dist < 3.0) & far).sum()),
            "ca_gap_max": float(np.linalg.norm(atoms[1:, 1] - atoms[:-1, 1], axis=-1).max())}


def evaluate(all_atoms: list[np.ndarray]) -> dict:
    """Per-method summary of a list of backbones."""
    rows = []
    for atoms in all_atoms:
        s = dssp(atoms)
        rows.append({"helix": s.count("H") / len(s), "strand": s.count("E") / len(s), **geometry(atoms)})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    mean["clash_free"] = float(np.mean([r["clashes"] == 0 for r in rows]))
    mean["clash_free_hbond_exempt"] = float(np.mean([r["clashes_hbond_exempt"] == 0 for r in rows]))
    mean["chain_break"] = float(np.mean([r["ca_gap_max"] > MAX_CA_GAP for r in rows]))
    mean["both_sse_015"] = float(np.mean([r["helix"] >= 0.15 and r["strand"] >= 0.15 for r in rows]))
    mean["n"] = len(rows)
    return {"summary": mean, "designs": rows}


def polished(atoms: list[np.ndarray], iters: int, settings: PolishSettings) -> list[np.ndarray]:
    """The same backbones after the frame experts' junction polish (``iters`` Adam steps with ``settings``)."""
    out: list[np.ndarray] = []
    for length in sorted({len(a) for a in atoms}):
        trans, rots = frames_from_atoms(torch.from_numpy(np.stack([a for a in atoms if len(a) == length])))
        out += list(atoms_from_frames(*polish_frames(trans, rots, iters, settings)).numpy())
    return out


def load(spec: str):
    """A model spec (``builtin:...``) or the path of a frame expert's ``.safetensors`` (with its manifest beside it,
    e.g. a training snapshot), loaded with the built-ins' inference settings."""
    if spec.endswith(".safetensors"):
        return load_frame_expert(spec, name=Path(spec).stem, **FRAME_INFERENCE)
    return load_model(spec)


def run_method(models, name: str, lengths, num: int, steps: int, seed: int, noise_scale: float = 1.0,
               sharpen: float = 1.0) -> tuple[list[np.ndarray], float]:
    """Raw (unpolished) backbones of one method and the seconds they took."""
    method, index = METHODS[name]
    request = SamplingRequest(models=("helix", "strand"), method=method, index=index, seed=seed, steps=steps,
                              noise_scale=noise_scale, sharpen=sharpen)
    start, atoms = time.perf_counter(), []
    for length in lengths:
        for first in range(0, num, 8):
            res = sample_length(models, request, length, list(range(first, min(first + 8, num))), torch.device("cpu"))
            atoms += list(res["atoms"])
    return atoms, time.perf_counter() - start


def print_row(name: str, kind: str, m: dict, seconds: float) -> None:
    print(f"{name:>14s} {kind[:6]:>6s} {m['n']:3d} {m['helix']:6.3f} {m['strand']:6.3f} {m['both_sse_015']:8.3f} "
          f"{m['bonds_ok']:6.3f} {m['peptide_ok']:6.3f} {m['ca_ca_ok']:6.3f} {m['clash_free']:10.3f} "
          f"{m['clash_free_hbond_exempt']:9.3f} {m['chain_break']:6.3f} {m['ca_crowded']:7.3f} {seconds:6.0f}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs=2, default=["builtin:helix_frames", "builtin:strand_frames"],
                        help="helix and strand model: specs or frame-expert .safetensors paths")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 80])
    parser.add_argument("--num", type=int, default=8, help="designs per length and method")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--noise-scale", type=float, default=1.0,
                        help="η of the reverse SDE (1: the sampler's default; < 1 less noise per step)")
    parser.add_argument("--sharpen", type=float, default=None,
                        help="w: the drift follows w x the composed score (default: config/config.yaml's)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "frame_experts.json"))
    args = parser.parse_args(argv)
    if args.sharpen is None:
        args.sharpen = read_campaign(Path(__file__).parents[1] / "config" / "config.yaml").proteins.sharpen
    torch.set_num_threads(args.threads)
    models = [load(spec) for spec in args.models]
    iters = polish_steps(models)
    for m in models:
        m.polish_iters = 0  # raw samples; the polish is applied below, so both are reported
    print(f"{'method':>14s} {'polish':>6s} {'n':>3s} {'helix':>6s} {'strand':>6s} {'both≥.15':>8s} {'bonds':>6s} "
          f"{'C–N':>6s} {'CαCα':>6s} {'clash-free':>10s} {'hb-exempt':>9s} {'breaks':>6s} {'crowded':>7s} {'s':>6s}",
          flush=True)
    reference = evaluate([c.atoms[:80] for c in load_backbone_set()])
    results = {"reference": {"raw": reference, "polished": reference, "seconds": 0.0}}
    print_row("reference", "real", reference["summary"], 0.0)
    for name in args.methods:
        atoms, seconds = run_method(models, name, args.lengths, args.num, args.steps, args.seed, args.noise_scale,
                                     args.sharpen)
        results[name] = {"raw": evaluate(atoms), "polished": evaluate(polished(atoms, iters, PolishSettings())),
                         "seconds": seconds}
        for kind in ("raw", "polished"):
            print_row(name, kind, results[name][kind]["summary"], seconds)
    print("targets: " + "; ".join(f"{k}: {v}" for k, v in TARGETS.items()))
    write_json_atomic(Path(args.out), provenance({"benchmark": "frame_experts", "args": vars(args),
                                                  "targets": TARGETS, "results": results}))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
