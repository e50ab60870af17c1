"""Cost of the frame experts' polish (``superdiff.proteins.frame_polish.polish_frames``) on design-like inputs.

Real chains of the built-in backbone set (the first ``--length`` residues), squeezed by 8 % and shifted per residue
by 0.3 Å: stretched junctions, hundreds of overlapping atom pairs and DSSP hydrogen bonds to keep, as in sampled
designs. Times ``--iters`` Adam steps on a batch of ``--batch`` such designs (median of ``--rounds``) and reports
seconds per 1000 steps, the figure a campaign pays per shard, plus a checksum of the result so two versions can be
compared on the same inputs. Run it from two checkouts (``PYTHONPATH=<checkout>``) side by side, e.g. with
``farm-bench``, to compare versions of the polish.

    python benchmarks/frame_polish.py [--batch 8] [--length 80] [--iters 200] [--rounds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from superdiff.files.atomic import write_json_atomic
from superdiff.proteins.backbone_set import load_backbone_set
from superdiff.proteins.frame_polish import polish_frames
from superdiff.proteins.frames_backbone import atoms_from_frames, frames_from_atoms


def design_like(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    """Backbones ``[batch, length, 4, 3]`` (Å, float64): real chains squeezed by 8 % with 0.3 Å residue shifts."""
    chains = [c for c in load_backbone_set() if len(c) >= length][:batch]
    if len(chains) < batch:
        raise ValueError(f"only {len(chains)} built-in chains have >= {length} residues, --batch is {batch}")
    rng = np.random.default_rng(seed)
    out = []
    for chain in chains:
        atoms = chain.atoms[:length].astype(np.float64)
        centre = atoms.mean((0, 1))
        out.append(centre + 0.92 * (atoms - centre) + rng.normal(0, 0.3, (length, 1, 3)))
    return torch.from_numpy(np.stack(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=80)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/frame_polish.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trans, rots = frames_from_atoms(design_like(args.batch, args.length))
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        polished = polish_frames(trans, rots, iters=args.iters)
        times.append(time.perf_counter() - start)
    per_1000 = statistics.median(times) * 1000 / args.iters
    checksum = float(atoms_from_frames(*polished).sum())
    result = {"batch": args.batch, "length": args.length, "iters": args.iters, "threads": args.threads,
              "seconds": times, "seconds_per_1000_steps": per_1000, "checksum_atom_sum": checksum}
    print(f"polish of {args.batch} x {args.length} residues: {per_1000:.1f} s per 1000 steps "
          f"(median of {args.rounds}); atom-coordinate sum {checksum:.6f}")
    write_json_atomic(args.out, result)


if __name__ == "__main__":
    main()
