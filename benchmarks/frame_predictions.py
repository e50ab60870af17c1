"""What a frame expert predicts along its own reverse trajectory: the size and spacing of its clean-frame predictions.

A denoiser's clean-frame prediction ``x̂0(x_t, t)`` is the posterior mean: at high noise it is small (the centred
mean of many structures), and as the noise falls it should grow monotonically into a protein-sized chain. A
prediction that SHRINKS again at mid noise (Rg of a few Å at t ≈ 0.4) pulls every trajectory into a collapsed
structure that the low-noise steps cannot undo: its residues end up with Cα atoms of residues far apart in the chain
1–3 Å from each other, and the junction polish has to push them apart, tearing the sampled sheets. Auxiliary
distance losses applied where the posterior is still broad (e.g. a hydrogen-bond distance loss at t < 0.5) cause
exactly that (docs/models.md, "the mid-noise collapse"): this probe is how to see it.

For each model (``builtin:`` name or a ``.safetensors`` with its manifest beside it), ``--num`` designs of
``--length`` residues sampled alone (200 steps, unsharpened, the design seeds of the campaign's first shard), and
at every ``--every``-th network call: the radius of gyration (Å) of the predicted clean Cα trace and of the
current state, and the 5 % and 50 % quantiles of each residue's nearest Cα more than 3 residues away in the chain
(Å; real chains: ~4.4 and ~6.0). Writes ``benchmarks/out/frame_predictions.json``.

    .venv/bin/python benchmarks/frame_predictions.py builtin:helix_frames builtin:strand_frames
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frame_experts import load, nearest_nonlocal_ca

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance
from superdiff.proteins.sampling import DEFAULT_STEPS, SamplingRequest, sample_length


def spacing(ca: torch.Tensor) -> dict:
    """Rg (Å, mean over designs) and the 5 % / 50 % quantiles of the nearest non-local Cα (Å) of Cα traces
    ``[B, L, 3]`` (Å)."""
    centred = ca - ca.mean(1, keepdim=True)
    rg = centred.pow(2).sum(-1).mean(-1).sqrt().mean()
    nearest = nearest_nonlocal_ca(ca.detach().cpu().double().numpy()).flatten()
    q05, q50 = np.quantile(nearest, [0.05, 0.5])
    return {"rg": float(rg), "nearest_q05": float(q05), "nearest_q50": float(q50)}


class _Recorder(torch.nn.Module):
    """Wraps a clean-frame network and keeps ``(t, state translations, predicted translations)`` of every call."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net, self.calls = net, []

    def forward(self, trans, rots, t):
        out = self.net(trans, rots, t)
        self.calls.append((float(t.flatten()[0]), trans.detach().cpu(), out[0].detach().cpu()))
        return out


def probe(spec: str, length: int, num: int, every: int) -> list[dict]:
    """The probe's rows for one model (see the module doc)."""
    model = load(spec)
    model.polish_iters = 0
    recorder = _Recorder(model.net)
    model.net = recorder
    request = SamplingRequest(models=(spec,), method="single", index=0, seed=0, steps=DEFAULT_STEPS)
    sample_length([model], request, length, list(range(num)), torch.device("cpu"))
    scale = model.coord_scale
    rows = []
    for k, (t, state, predicted) in enumerate(recorder.calls):
        if k % every and k != len(recorder.calls) - 1:
            continue
        rows.append({"t": t, "state": spacing(state * scale), "predicted": spacing(predicted * scale)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--length", type=int, default=80)
    parser.add_argument("--num", type=int, default=8)
    parser.add_argument("--every", type=int, default=20, help="report every n-th network call")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "frame_predictions.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {}
    for spec in args.models:
        results[spec] = probe(spec, args.length, args.num, args.every)
        print(f"{spec}\n{'t':>6s} {'Rg pred':>8s} {'near5 pred':>10s} {'near50 pred':>11s} {'Rg state':>9s} "
              f"{'near50 state':>12s}")
        for row in results[spec]:
            p, s = row["predicted"], row["state"]
            print(f"{row['t']:6.3f} {p['rg']:8.2f} {p['nearest_q05']:10.2f} {p['nearest_q50']:11.2f} "
                  f"{s['rg']:9.2f} {s['nearest_q50']:12.2f}", flush=True)
    write_json_atomic(Path(args.out), provenance({"benchmark": "frame_predictions", "args": vars(args),
                                                  "results": results}))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
