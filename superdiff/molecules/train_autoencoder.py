"""Training entry point of the SELFIES VAE (``superdiff train-molecule-autoencoder``)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from superdiff.molecules import data
from superdiff.molecules.autoencoder import AutoencoderConfig, SelfiesVAE, build_vocab, smiles_to_tokens
from superdiff.molecules.corpus import training_smiles
from superdiff.molecules.weights import default_weights_dir, record_artefact


def vae_loss(model: SelfiesVAE, ids: torch.Tensor, lengths: torch.Tensor, kl_weight: float,
             generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """Token cross-entropy (nats per sequence) + kl_weight * KL(q(z|x) || N(0, I))."""
    mu, logvar = model.encode(ids, lengths)
    eps = torch.randn(mu.shape, generator=generator, device=mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decode_logits(z, ids)
    target = ids[:, 1:]
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=0,
                         reduction="sum") / ids.shape[0]
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()
    with torch.no_grad():
        mask = target != 0
        acc = ((logits.argmax(-1) == target) & mask).sum() / mask.sum()
    return ce + kl_weight * kl, {"ce": float(ce.detach()), "kl": float(kl.detach()), "token_acc": float(acc)}


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                            pool: int = 16):
    """Endless random batches of indices whose members have similar lengths.

    Draws ``pool * batch_size`` random indices, sorts them by length and yields them as ``pool`` batches in random
    order: every example is still drawn uniformly, but a batch pads to about its own length, not the corpus
    maximum (about 1.5x fewer decoder steps on MOSES)."""
    while True:
        idx = rng.integers(0, len(lengths), size=pool * batch_size)
        idx = idx[np.argsort(lengths[idx], kind="stable")]
        for b in rng.permutation(pool):
            yield idx[b * batch_size:(b + 1) * batch_size]


def train_autoencoder(out_dir: Path | None = None, n_moses: int = 100_000, steps: int = 4000,
                      batch_size: int = 128, lr: float = 2e-3, kl_weight: float = 0.02, latent_dim: int = 32,
                      hidden_dim: int = 256, max_len: int = 72, posterior_std_floor: float = 0.0,
                      all_moleculeace: bool = False, seed: int = 0, device: str = "cpu",
                      progress: bool = True) -> dict:
    """Train the VAE on MOSES (+ kinase measurements, + every MoleculeACE molecule with ``all_moleculeace``,
    the diffusion model's corpus) and store it with its manifest entry.

    ``kl_weight`` is reached by linear annealing over the first 30 % of ``steps``; ``posterior_std_floor``
    bounds every posterior std from below (see ``AutoencoderConfig``). Reconstruction is reported on training
    molecules and on held-out MOSES test molecules."""
    out_dir = Path(out_dir or default_weights_dir())
    smiles, corpus = training_smiles(n_moses, seed=seed, activity_repeats=4, all_moleculeace=all_moleculeace)
    token_lists = [smiles_to_tokens(s) for s in tqdm(smiles, desc="selfies", disable=not progress)]
    kept = [t for t in token_lists if t is not None and 0 < len(t) <= max_len]
    corpus["n_unencodable_or_too_long"] = len(token_lists) - len(kept)
    config = AutoencoderConfig(vocab=build_vocab(kept), max_len=max_len, hidden_dim=hidden_dim,
                               latent_dim=latent_dim, posterior_std_floor=posterior_std_floor)
    gen = torch.Generator(device=device).manual_seed(seed)
    torch.manual_seed(seed)  # parameter initialisation only
    model = SelfiesVAE(config).to(device)
    ids_all, len_all = model.encode_tokens(kept)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    batches = length_bucketed_batches(len_all.numpy(), batch_size, np.random.default_rng(seed))
    log = []
    start = time.time()
    bar = tqdm(range(steps), desc="autoencoder", disable=not progress)
    for step in bar:
        idx = torch.from_numpy(next(batches))
        ids, lengths = ids_all[idx], len_all[idx]
        ids = ids[:, :int(lengths.max())].to(device)
        anneal = min(1.0, step / (0.3 * steps))
        loss, stats = vae_loss(model, ids, lengths, kl_weight * anneal, gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log.append({"step": step, **stats})
            bar.set_postfix(ce=f"{stats['ce']:.2f}", kl=f"{stats['kl']:.1f}", acc=f"{stats['token_acc']:.3f}")
    model.eval()
    held_out = data.canonicalize(data.load_moses("test", n=2000, seed=seed)).canonical
    metrics = {**corpus, "train_seconds": time.time() - start, "final": log[-1],
               "reconstruction": reconstruction_rate(model, smiles[-2000:] + smiles[:2000]),
               "reconstruction_held_out": reconstruction_rate(model, held_out)}
    files = model.save(out_dir)
    settings = {"n_moses": n_moses, "steps": steps, "batch_size": batch_size, "lr": lr, "kl_weight": kl_weight,
                "latent_dim": latent_dim, "hidden_dim": hidden_dim, "max_len": max_len,
                "posterior_std_floor": posterior_std_floor, "all_moleculeace": all_moleculeace, "seed": seed,
                "vocab_size": len(config.vocab)}
    command = (f"superdiff train-molecule-autoencoder --steps {steps} --n-moses {n_moses} --seed {seed}"
               f" --kl-weight {kl_weight} --posterior-std-floor {posterior_std_floor} --hidden {hidden_dim}"
               f" --batch-size {batch_size}" + (" --all-moleculeace" if all_moleculeace else ""))
    record_artefact(out_dir, "autoencoder", files, settings, command, metrics)
    return metrics


@torch.no_grad()
def reconstruction_rate(model: SelfiesVAE, smiles: list[str]) -> float:
    """Fraction of (encodable) SMILES whose posterior mean decodes back to the same canonical SMILES."""
    from rdkit import Chem

    z, keep = model.encode_smiles(smiles)
    decoded = model.decode_smiles(z)
    same = 0
    for i, out in zip(keep, decoded, strict=True):
        mol = Chem.MolFromSmiles(out) if out else None
        same += int(mol is not None and Chem.MolToSmiles(mol) == smiles[i])
    return same / max(len(keep), 1)


def finetune_decoder(out_dir: Path | None = None, n_moses: int = 60_000, steps: int = 1000, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, device: str = "cpu", progress: bool = True) -> dict:
    """Continue training only the decoder (GRU, latent projection, readout) of the stored autoencoder.

    The encoder and the shared token embedding stay frozen, so every latent — and hence the latent diffusion
    model trained on them — is unchanged; the decoder sees posterior samples ``z ~ q(z | x)`` and learns to
    reconstruct ``x`` from them (token cross-entropy). Stored over the autoencoder artefact, with both commands.
    """
    from superdiff.molecules.loading import load_autoencoder
    from superdiff.molecules.weights import read_manifest

    out_dir = Path(out_dir or default_weights_dir())
    model = load_autoencoder(out_dir, device=device)
    previous = read_manifest(out_dir)["artefacts"]["autoencoder"]
    smiles, _ = training_smiles(n_moses, seed=seed, activity_repeats=4)
    token_lists = [smiles_to_tokens(s) for s in tqdm(smiles, desc="selfies", disable=not progress)]
    kept = [t for t in token_lists if model.encodable(t)]
    ids_all, len_all = model.encode_tokens(kept)
    trainable = [*model.from_latent.parameters(), *model.decoder.parameters(), *model.readout.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    opt = torch.optim.Adam(trainable, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    rng = np.random.default_rng(seed + 7)
    gen = torch.Generator().manual_seed(seed + 7)
    before = reconstruction_rate(model.eval(), smiles[-2000:] + smiles[:2000])
    model.train()
    start, log = time.time(), []
    bar = tqdm(range(steps), desc="decoder", disable=not progress)
    for step in bar:
        idx = torch.from_numpy(rng.integers(0, len(kept), size=batch_size))
        lengths = len_all[idx]
        ids = ids_all[idx][:, : int(lengths.max())].to(device)
        loss, stats = vae_loss(model, ids, lengths, 0.0, gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log.append({"step": step, **stats})
            bar.set_postfix(ce=f"{stats['ce']:.2f}", acc=f"{stats['token_acc']:.3f}")
    model.eval()
    metrics = {**previous["metrics"], "decoder_finetune": {
        "steps": steps, "lr": lr, "final": log[-1], "train_seconds": time.time() - start,
        "reconstruction_before": before, "reconstruction": reconstruction_rate(model, smiles[-2000:] + smiles[:2000])}}
    metrics["reconstruction"] = metrics["decoder_finetune"]["reconstruction"]
    files = model.save(out_dir)
    settings = {**previous["config"], "decoder_finetune": {"steps": steps, "lr": lr, "n_moses": n_moses,
                                                           "batch_size": batch_size, "seed": seed}}
    command = (previous["command"].split(" && ")[0]
               + f" && superdiff train-molecule-autoencoder --finetune-decoder --steps {steps} --n-moses {n_moses}"
               + f" --seed {seed}")
    record_artefact(out_dir, "autoencoder", files, settings, command, metrics)
    return metrics
