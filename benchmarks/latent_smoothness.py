"""How smooth is an autoencoder's latent space: what do latents that are *not* encodings of molecules decode to?

A latent diffusion model only ever approximates the encoded data's distribution, so its samples land near, not on,
the encodings; what the decoder makes of such points bounds what the diffusion can reach. For each autoencoder
(``--weights`` folders, each with ``autoencoder.safetensors/.json`` and a manifest), ``--num`` MOSES test molecules
are encoded and these latent sets decoded, each scored against ``--num`` other MOSES test molecules (FCD, mean SA,
SNN, Frag, Scaf, validity; exact match to the source molecule where there is one):

* ``held_out``: the source molecules themselves (what a perfect decoder scores at this sample size);
* ``means``: posterior means (reconstruction); ``draws``: one posterior sample each;
* ``noise_<s>``: means plus isotropic Gaussian noise of ``s`` × the per-dimension spread of the means;
* ``midpoints``: halfway between two encoded molecules (random pairs);
* ``gaussian``: a Gaussian with the means' mean and covariance (a density model that knows only second moments);
* ``diffusion`` (when the folder also holds a latent diffusion and its files verify): ``--num`` unconditional
  samples of it (EMA weights, ``--steps`` reverse steps, per-design seeds), i.e. what the density model reaches.

Usage: ``python benchmarks/latent_smoothness.py [--weights DIR ...] [--num 1000]
[--out benchmarks/out/latent_smoothness.json]``; one thread, about 2 min per autoencoder for ``--num 1000``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

import superdiff
from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance
from superdiff.molecules import data, metrics, properties, similarity
from superdiff.molecules.latent_model import branch_score, sampling_path
from superdiff.molecules.loading import BuiltinLatentModel, load_autoencoder, load_diffusion
from superdiff.molecules.sampling import DEFAULT_STEPS, design_seeds

NOISE_SCALES = (0.1, 0.2, 0.4)


def score(smiles: list[str], reference: list[str], sources: list[str] | None = None) -> dict:
    """Validity, FCD, mean SA and SNN/Frag/Scaf of ``smiles`` against ``reference`` (+ exact match to ``sources``)."""
    mols = [Chem.MolFromSmiles(s) if s else None for s in smiles]
    canonical = [Chem.MolToSmiles(m) for m in mols if m is not None]
    row = {"validity": len(canonical) / len(smiles), "fcd": metrics.fcd(canonical, reference),
           "sa_mean": float(np.mean([properties.sa_score(m) for m in mols if m is not None])),
           **similarity.reference_similarity(canonical, reference)}
    if sources is not None:
        row["exact_match"] = float(np.mean([m is not None and Chem.MolToSmiles(m) == s
                                            for m, s in zip(mols, sources, strict=True)]))
    return row


def latent_sets(mu: torch.Tensor, log_std: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """The probe latents ``[N, D]`` built from posterior means ``mu`` and log-stds ``log_std`` (``[N, D]``)."""
    gen = torch.Generator().manual_seed(seed)
    spread = mu.std(0)
    pairs = torch.randperm(len(mu), generator=gen)
    cov = torch.cov(mu.T.double())
    gaussian = torch.distributions.MultivariateNormal(mu.mean(0).double(), cov + 1e-6 * torch.eye(len(cov)))
    torch.manual_seed(seed)  # MultivariateNormal.sample draws from the global generator
    sets = {"means": mu, "draws": mu + log_std.exp() * torch.randn(mu.shape, generator=gen)}
    sets |= {f"noise_{s}": mu + s * spread * torch.randn(mu.shape, generator=gen) for s in NOISE_SCALES}
    sets |= {"midpoints": (mu + mu[pairs]) / 2, "gaussian": gaussian.sample((len(mu),)).float()}
    return sets


def diffusion_samples(weights: Path, autoencoder, num: int, seed: int, steps: int) -> list[str] | None:
    """``num`` unconditional samples of the folder's latent diffusion, decoded by its (loaded) ``autoencoder``;
    None without one."""
    if not (weights / "latent_diffusion.safetensors").exists():
        return None
    model = BuiltinLatentModel(autoencoder, load_diffusion(weights))
    result = superdiff.sample([branch_score(model, ())], sampling_path(model), superdiff.Single(0),
                              shape=model.latent_shape, steps=steps, seeds=design_seeds(seed, num), progress=True)
    return model.decode(result.x)


def smoothness(weights: Path, num: int, seed: int, steps: int = DEFAULT_STEPS) -> dict:
    """Every probe set of one autoencoder, scored; the first ``num`` test molecules are the sources."""
    test = data.canonicalize(data.load_moses("test", n=2 * num, seed=seed)).canonical
    sources, reference = test[:num], test[num : 2 * num]
    model = load_autoencoder(weights)
    mu, log_std, keep = model.encode_posterior(sources)
    sources = [sources[i] for i in keep]
    out = {"encodable": len(keep) / num, "held_out": score(sources, reference)}
    _show(weights, "held_out", out["held_out"])
    for name, z in latent_sets(mu.cpu(), log_std.cpu(), seed).items():
        decoded = model.decode_smiles(z.to(mu.device))
        out[name] = score(decoded, reference, sources if name in ("means", "draws") or name.startswith("noise")
                          else None)
        _show(weights, name, out[name])
    sampled = diffusion_samples(weights, model, num, seed, steps)
    if sampled is not None:
        out["diffusion"] = score(sampled, reference)
        _show(weights, "diffusion", out["diffusion"])
    return out


def _show(weights: Path, name: str, row: dict) -> None:
    print(f"{weights.name:20s} {name:10s}", {k: round(v, 3) for k, v in row.items()}, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, nargs="+",
                        default=[Path("resources/weights/molecules"), Path("resources/weights/molecules_faithful")])
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="reverse steps of the diffusion row")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/latent_smoothness.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = {str(w): smoothness(w, args.num, args.seed, args.steps) for w in args.weights}
    write_json_atomic(args.out, {"autoencoders": results, "provenance": provenance(vars(args) | {
        "out": str(args.out), "weights": [str(w) for w in args.weights]})})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
