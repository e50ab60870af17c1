"""Resumable, staged training of the label-conditioned latent diffusion model on a (faithful) autoencoder's latents.

The second stage after :mod:`superdiff.molecules.resumable_autoencoder`: the whole corpus (MOSES train + ChEMBL
chemotypes, deduplicated) is encoded once to posterior means and standard deviations and labelled once by the
predictors (activity ≥ 0.5, QED ≥ 0.6); that table is cached under ``resources/cache/molecules/``, keyed by the
autoencoder's and predictors' sha256. Every step then draws a fresh posterior sample ``z ~ q(z | x)`` of each
batch molecule (the latent-diffusion convention: the model learns the aggregate posterior the decoder was trained
on), with rare activity labels oversampled and the loss importance-weighted so the unconditional branch learns the
natural distribution (:func:`superdiff.molecules.train_diffusion.loss_weights`).

As for the autoencoder, a step's batch, noise and label dropout are functions of ``(seed, step)`` alone, so a run
stopped after ``max_minutes`` (or killed) resumes exactly from ``<out>/latent_diffusion.state.pt``. The stored
network is an exponential moving average of the weights.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from superdiff.files.atomic import write_npz_atomic
from superdiff.files.download import sha256_file
from superdiff.molecules import conditions, data
from superdiff.molecules.corpus import training_smiles
from superdiff.molecules.latent_diffusion import DiffusionConfig, EpsilonNet
from superdiff.molecules.loading import load_autoencoder
from superdiff.molecules.oracles import split_training_sets
from superdiff.molecules.predictors import PropertyPredictor
from superdiff.molecules.resumable_autoencoder import (
    cache_file,
    check_run_settings,
    learning_rate,
    load_resume_state,
    save_resume_state,
)
from superdiff.molecules.train_diffusion import label_matrix, loss_weights, oversampling_factors
from superdiff.molecules.weights import manifest_path, record_artefact

STEM = "latent_diffusion"


@dataclass(frozen=True)
class DiffusionRunSettings:
    """Everything that defines a staged run; a resume must use the same settings (checked)."""

    steps: int = 60_000
    batch_size: int = 1024
    lr: float = 5e-4
    warmup: int = 1000
    hidden: int = 512
    blocks: int = 4
    ema: float = 0.999
    drop_label: float = 0.3
    drop_all: float = 0.15
    positive_share: float = 0.15  # each rare activity label's share of the stream
    labels: tuple[str, ...] = field(default_factory=lambda: tuple(conditions.LABELS))
    n_moses: int | None = None  # None: the whole MOSES train split
    all_moleculeace: bool = True
    #: label with the half-A predictors and leave the oracles' training molecules out of the corpus, so the
    #: oracles judge a model that never saw their data (superdiff.molecules.oracles)
    oracle_disjoint: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        check_run_settings(self, positive=("steps", "batch_size", "warmup", "hidden", "blocks"),
                           fractions=("ema", "drop_label", "drop_all"))
        if not 0 < self.positive_share < 1:
            raise ValueError(f"DiffusionRunSettings.positive_share is {self.positive_share!r}, expected in (0, 1)")
        unknown = [name for name in self.labels if name not in conditions.LABELS]
        if unknown or not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"DiffusionRunSettings.labels is {list(self.labels)!r}, expected distinct names "
                             f"from {list(conditions.LABELS)}")

    def command(self) -> str:
        moses = " --full-moses" if self.n_moses is None else f" --n-moses {self.n_moses}"
        return (f"superdiff train-molecule-diffusion --resumable --steps {self.steps}{moses}"
                f" --batch-size {self.batch_size} --lr {self.lr} --hidden {self.hidden} --blocks {self.blocks}"
                f" --positive-share {self.positive_share} --labels {' '.join(self.labels)} --seed {self.seed}"
                + (" --all-moleculeace" if self.all_moleculeace else "")
                + ("" if self.oracle_disjoint else " --no-oracle-disjoint"))


@dataclass
class LatentTable:
    """The encoded, labelled corpus: posterior means ``mu [N, D]`` and log-stds ``log_std [N, D]`` (raw latent
    units, float32), binary labels ``y [N, K]`` and the report of how it was built."""

    mu: np.ndarray
    log_std: np.ndarray
    y: np.ndarray
    report: dict


def _labels_key(settings: DiffusionRunSettings, predictor_dir: Path) -> list:
    """What the corpus labels depend on: the predictors' manifest and the corpus settings."""
    return [sha256_file(manifest_path(predictor_dir)), settings.n_moses, settings.all_moleculeace, settings.seed,
            list(settings.labels), settings.oracle_disjoint]


def corpus_labels(settings: DiffusionRunSettings, predictor_dir: Path, cache_dir: Path | None = None,
                  chunk: int = 20_000, progress: bool = True) -> tuple[list[str], np.ndarray, dict]:
    """The deduplicated corpus (canonical SMILES, sorted), its labels ``[N, K]`` (uint8) and a report, cached
    under ``resources/cache/molecules/`` keyed by the corpus settings and the predictors' manifest: independent
    of the autoencoder, so it can be built while the autoencoder still trains (``--prepare-labels``)."""
    cache = cache_file(cache_dir, "labels", _labels_key(settings, predictor_dir))
    if cache.exists():
        with np.load(cache, allow_pickle=False) as blob:
            return blob["smiles"].tolist(), blob["y"], json.loads(str(blob["report"]))
    targets = tuple(name for name in settings.labels if name in data.TARGETS)
    predictor = PropertyPredictor(predictor_dir, targets,
                                  artefact="predictor_{}_half_a" if settings.oracle_disjoint else "predictor_{}")
    smiles, report = training_smiles(settings.n_moses, seed=settings.seed, activity_repeats=1,
                                     all_moleculeace=settings.all_moleculeace)
    unique = set(smiles)
    if settings.oracle_disjoint:
        oracle_data = {s for target in targets for s in split_training_sets(target, seed=settings.seed)[1].smiles}
        report["n_left_out_for_oracles"] = len(unique & oracle_data)
        unique -= oracle_data
    smiles = sorted(unique)
    y = np.concatenate([np.zeros((0, len(settings.labels)), np.uint8)] + [
        label_matrix(smiles[start:start + chunk], predictor, list(settings.labels)).astype(np.uint8)
        for start in tqdm(range(0, len(smiles), chunk), desc="label", disable=not progress)])
    report["n_unique"] = len(smiles)
    write_npz_atomic(cache, {"smiles": np.array(smiles), "y": y, "report": np.array(json.dumps(report))})
    return smiles, y, report


def latent_table(settings: DiffusionRunSettings, weights_dir: Path, predictor_dir: Path,
                 cache_dir: Path | None = None, chunk: int = 20_000, progress: bool = True) -> LatentTable:
    """The labelled corpus (:func:`corpus_labels`) encoded by ``weights_dir``'s autoencoder, cached (keyed by the
    autoencoder's files and what the labels depend on; the labels are read only to build it)."""
    ae_sha = json.loads(manifest_path(weights_dir).read_text())["artefacts"]["autoencoder"]["files"]
    cache = cache_file(cache_dir, "latents", [ae_sha, *_labels_key(settings, predictor_dir)])
    if cache.exists():
        with np.load(cache, allow_pickle=False) as blob:
            return LatentTable(blob["mu"], blob["log_std"], blob["y"], json.loads(str(blob["report"])))
    smiles, y, report = corpus_labels(settings, predictor_dir, cache_dir, chunk, progress)
    ae = load_autoencoder(weights_dir)
    mus, log_stds, kept = [], [], []
    for start in tqdm(range(0, len(smiles), chunk), desc="encode", disable=not progress):
        mu, log_std, keep = ae.encode_posterior(smiles[start:start + chunk])
        mus.append(mu.cpu().numpy())
        log_stds.append(log_std.cpu().numpy())
        kept.append(start + keep)
    kept_rows = np.concatenate(kept)
    report = {**report, "n_encoded": len(kept_rows)}
    table = LatentTable(np.concatenate(mus), np.concatenate(log_stds), y[kept_rows], report)
    write_npz_atomic(cache, {"mu": table.mu, "log_std": table.log_std, "y": table.y,
                             "report": np.array(json.dumps(report))})
    return table


def _step_loss(net: EpsilonNet, table: LatentTable, factors: np.ndarray, cdf: np.ndarray,
               standardise: tuple[torch.Tensor, torch.Tensor], settings: DiffusionRunSettings,
               step: int) -> torch.Tensor:
    """The importance-weighted ε-matching loss of ``step``'s batch: molecules drawn from the oversampled stream
    (``cdf``), a fresh posterior sample of each, label dropout; all a function of ``(seed, step)``."""
    device = standardise[0].device
    rng = np.random.default_rng([settings.seed, step])
    idx = np.minimum(np.searchsorted(cdf, rng.random(settings.batch_size)), len(cdf) - 1)
    gen = torch.Generator(device=device).manual_seed(settings.seed * 1_000_003 + step)
    mu = torch.from_numpy(table.mu[idx]).to(device)
    sd = torch.from_numpy(table.log_std[idx]).to(device).exp()
    z = mu + sd * torch.randn(mu.shape, generator=gen, device=device)  # a fresh posterior sample
    x0 = (z - standardise[0]) / standardise[1]
    cond_np = conditions.training_conditions(table.y[idx].astype(np.int64), settings.drop_label, settings.drop_all,
                                             rng)
    weight = torch.from_numpy(loss_weights(factors[idx], cond_np[:, 0::2])).float().to(device)
    t = torch.rand(settings.batch_size, generator=gen, device=device) * (1 - 1e-3) + 1e-3
    eps = torch.randn(x0.shape, generator=gen, device=device)
    schedule = net.schedule()
    alpha = schedule.alpha(t.double()).float()[:, None]
    sigma = schedule.sigma(t.double()).float()[:, None]
    pred = net(alpha * x0 + sigma * eps, t, torch.from_numpy(cond_np).to(device))
    return (weight * (pred - eps).pow(2).mean(-1)).sum() / weight.sum()


def train_resumable_diffusion(out_dir: Path, settings: DiffusionRunSettings, predictor_dir: Path,
                              max_minutes: float = math.inf, checkpoint_every: int = 500,
                              stop_after: int | None = None, cache_dir: Path | None = None, device: str = "cpu",
                              progress: bool = True) -> dict:
    """Train (or resume) the ε-network on ``out_dir``'s autoencoder; on completion store its EMA in ``out_dir``
    with its manifest entry. Returns the progress record (also ``<out>/latent_diffusion.progress.json``)."""
    out_dir = Path(out_dir)
    state_path = out_dir / f"{STEM}.state.pt"
    table = latent_table(settings, out_dir, predictor_dir, cache_dir, progress=progress)
    labels = list(settings.labels)
    config = DiffusionConfig(latent_dim=table.mu.shape[1], labels=labels, hidden=settings.hidden,
                             blocks=settings.blocks, latent_mean=table.mu.mean(0).tolist(),
                             latent_std=np.maximum(table.mu.std(0), 1e-3).tolist())
    factors = oversampling_factors(table.y, labels, settings.positive_share)
    stream = factors.prod(axis=1)
    cdf = np.cumsum(stream / stream.sum())
    config.label_frequency = {name: float(table.y[:, k].mean()) for k, name in enumerate(labels)}
    torch.manual_seed(settings.seed)  # parameter initialisation only
    net = EpsilonNet(config).to(device)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=1e-4)
    record = {"settings": asdict(settings) | {"labels": labels}, "corpus": table.report, "step": 0,
              "minutes": 0.0, "log": [],
              "stream_label_frequency": dict(zip(labels, (stream @ table.y / stream.sum()).tolist(), strict=True)),
              "natural_label_frequency": config.label_frequency}
    parts = {"model": net, "ema": ema, "opt": opt}
    record = load_resume_state(state_path, parts, record, device)
    mean = torch.tensor(config.latent_mean, device=device)
    std = torch.tensor(config.latent_std, device=device)

    def checkpoint() -> None:
        save_resume_state(state_path, parts, record)

    start, minutes_before = time.time(), record["minutes"]
    last_step = settings.steps if stop_after is None else min(settings.steps, record["step"] + stop_after)
    bar = tqdm(total=settings.steps, initial=record["step"], desc="latent diffusion", disable=not progress)
    recent: list[float] = []
    while record["step"] < last_step and time.time() - start < max_minutes * 60:
        step = record["step"]
        loss = _step_loss(net, table, factors, cdf, (mean, std), settings, step)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, settings)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(settings.ema, (1 + step) / (10 + step))  # short memory early, while the weights move fast
            for e, p in zip(ema.parameters(), net.parameters(), strict=True):
                e.lerp_(p, 1 - decay)
        recent.append(float(loss.detach()))
        record["step"] = step + 1
        record["minutes"] = minutes_before + (time.time() - start) / 60
        bar.update(1)
        if record["step"] % 100 == 0:
            record["log"].append({"step": record["step"], "loss": float(np.mean(recent))})
            bar.set_postfix(loss=f"{np.mean(recent):.4f}")
            recent = []
        if record["step"] % checkpoint_every == 0:
            checkpoint()
    bar.close()
    checkpoint()
    if record["step"] >= settings.steps and "stored" not in record:
        files = ema.save(out_dir, STEM)
        metrics = {**record["corpus"], "minutes": record["minutes"],
                   "final_loss": record["log"][-1]["loss"] if record["log"] else None,
                   "stream_label_frequency": record["stream_label_frequency"],
                   "natural_label_frequency": record["natural_label_frequency"]}
        record_artefact(out_dir, STEM, files, {**asdict(settings), "labels": labels}, settings.command(), metrics)
        record["stored"] = files
        checkpoint()
    return record
