"""Training entry point of the label-conditioned latent diffusion model (``superdiff train-molecule-diffusion``).

Data: the autoencoder's corpus (MOSES subset + GSK3β/JAK2 measured molecules), encoded to posterior means and
standardised; labels from the project's predictors (probability >= 0.5) and QED >= 0.6. Positives of the rare
activity labels are oversampled so each makes up about ``positive_share`` of a batch.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from superdiff.molecules import conditions
from superdiff.molecules.corpus import training_smiles
from superdiff.molecules.featurize import mols_from_smiles
from superdiff.molecules.latent_diffusion import DiffusionConfig, EpsilonNet
from superdiff.molecules.loading import load_autoencoder
from superdiff.molecules.predictors import PropertyPredictor
from superdiff.molecules.properties import qed_many
from superdiff.molecules.weights import default_weights_dir, record_artefact
from superdiff.schedules import VPSchedule


def label_matrix(smiles: list[str], predictor: PropertyPredictor, labels: list[str]) -> np.ndarray:
    """Binary labels ``[N, K]`` (int64) for canonical SMILES."""
    mols = mols_from_smiles(smiles)
    probs = predictor.activity(mols)
    qed = qed_many(mols)
    cols = []
    for name in labels:
        if name == "druglike":
            cols.append(qed >= conditions.QED_THRESHOLD)
        else:
            cols.append(probs[f"p_{name}"] >= conditions.ACTIVITY_THRESHOLD)
    return np.stack(cols, axis=1).astype(np.int64)


def sampling_weights(y: np.ndarray, labels: list[str], positive_share: float) -> np.ndarray:
    """Per-example sampling probabilities that lift each activity label's positives to ~``positive_share``."""
    w = np.ones(len(y))
    for k, name in enumerate(labels):
        if name == "druglike":
            continue
        frac = y[:, k].mean()
        if 0 < frac < positive_share:
            w = w * np.where(y[:, k] == 1, positive_share * (1 - frac) / (frac * (1 - positive_share)), 1.0)
    return w / w.sum()


def train_diffusion(out_dir: Path | None = None, n_moses: int = 60_000, steps: int = 10_000, batch_size: int = 256,
                    lr: float = 1e-3, drop_label: float = 0.3, drop_all: float = 0.15, positive_share: float = 0.15,
                    all_moleculeace: bool = False, seed: int = 0, device: str = "cpu", progress: bool = True) -> dict:
    """Train the ε-network and record it in the manifest."""
    out_dir = Path(out_dir or default_weights_dir())
    ae = load_autoencoder(out_dir, device=device)
    predictor = PropertyPredictor(out_dir)
    smiles, corpus = training_smiles(n_moses, seed=seed, activity_repeats=1, all_moleculeace=all_moleculeace)
    smiles = sorted(set(smiles))
    z, keep = ae.encode_smiles(smiles)
    smiles = [smiles[i] for i in keep]
    config = DiffusionConfig(latent_dim=ae.config.latent_dim)
    y = label_matrix(smiles, predictor, config.labels)
    config.latent_mean = z.mean(0).tolist()
    config.latent_std = z.std(0).clamp_min(1e-3).tolist()
    torch.manual_seed(seed)  # parameter initialisation only
    net = EpsilonNet(config).to(device)
    x0_all = net.standardise(z).float()
    schedule = VPSchedule(config.beta_min, config.beta_max)
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    probs = sampling_weights(y, config.labels, positive_share)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    start, losses = time.time(), []
    bar = tqdm(range(steps), desc="latent diffusion", disable=not progress)
    for step in bar:
        idx = rng.choice(len(y), size=batch_size, p=probs)
        x0 = x0_all[idx].to(device)
        cond = torch.from_numpy(conditions.training_conditions(y[idx], drop_label, drop_all, rng)).to(device)
        t = torch.rand(batch_size, generator=gen, device=device) * (1 - 1e-3) + 1e-3
        eps = torch.randn(x0.shape, generator=gen, device=device)
        alpha = schedule.alpha(t.double()).float()[:, None]
        sigma = schedule.sigma(t.double()).float()[:, None]
        loss = (net(alpha * x0 + sigma * eps, t, cond) - eps).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % 200 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-200:]):.4f}")
    net.eval()
    files = net.save(out_dir)
    metrics = {**corpus, "n_train": len(y), "label_counts": dict(zip(config.labels, y.sum(0).tolist(), strict=True)),
               "joint_gsk3b_druglike": int((y[:, 0] & y[:, 2]).sum()), "final_loss": float(np.mean(losses[-500:])),
               "train_seconds": time.time() - start}
    settings = {"n_moses": n_moses, "steps": steps, "batch_size": batch_size, "lr": lr, "drop_label": drop_label,
                "drop_all": drop_all, "positive_share": positive_share, "all_moleculeace": all_moleculeace,
                "seed": seed, "hidden": config.hidden,
                "blocks": config.blocks, "labels": config.labels, "schedule": repr(schedule)}
    record_artefact(out_dir, "latent_diffusion", files, settings,
                    f"superdiff train-molecule-diffusion --steps {steps} --n-moses {n_moses} --seed {seed}"
                    + (" --all-moleculeace" if all_moleculeace else ""), metrics)
    return metrics
