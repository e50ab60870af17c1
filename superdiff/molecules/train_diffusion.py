"""Training entry point of the label-conditioned latent diffusion model (``superdiff train-molecule-diffusion``).

Data: the autoencoder's corpus (MOSES subset + GSK3β/JAK2 measured molecules), encoded to posterior means and
standardised, plus ``augment`` jittered copies of every latent (Gaussian, ``augment_sigma`` in standardised units).
Labels (the project's predictors at probability >= 0.5, QED >= 0.6) come from the molecule a latent was encoded
from (``label_source="input"``, the default) or from the molecule it decodes to (``"decoded"``: this autoencoder
is lossy, the encoded molecule's QED correlates only ~0.4 with its decoded molecule's). Positives of the rare
activity labels are oversampled so each makes up about ``positive_share`` of a batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from superdiff.engine.paths import VPLinear
from superdiff.molecules import conditions
from superdiff.molecules.corpus import training_smiles
from superdiff.molecules.featurize import mols_from_smiles
from superdiff.molecules.latent_diffusion import DiffusionConfig, EpsilonNet
from superdiff.molecules.loading import load_autoencoder
from superdiff.molecules.predictors import PropertyPredictor
from superdiff.molecules.properties import qed_many
from superdiff.molecules.weights import default_weights_dir, record_artefact


def label_matrix(smiles: list[str], predictor: PropertyPredictor, labels: list[str]) -> np.ndarray:
    """Binary labels ``[N, K]`` (int64) for canonical SMILES."""
    mols = mols_from_smiles(smiles)
    probs = predictor.activity(mols)  # NaN (-> negative) where a decoded string is not a molecule
    qed = qed_many(mols)
    cols = []
    for name in labels:
        if name == "druglike":
            cols.append(qed >= conditions.QED_THRESHOLD)
        else:
            cols.append(probs[f"p_{name}"] >= conditions.ACTIVITY_THRESHOLD)
    return np.stack(cols, axis=1).astype(np.int64)


def posterior_std(ae, smiles: list[str]) -> torch.Tensor:
    """The encoder's posterior standard deviations ``[N, D]`` (raw latent units, CPU) of encodable SMILES."""
    return ae.encode_posterior(smiles)[1].exp().cpu()


def decoded_labels(ae, x: torch.Tensor, latent_mean: torch.Tensor, latent_std: torch.Tensor,
                   predictor: PropertyPredictor, labels: list[str], chunk: int = 4096,
                   progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """Labels ``[N, K]`` of the molecules that standardised latents ``x [N, D]`` decode to, and those SMILES."""
    smiles: list[str] = []
    for start in tqdm(range(0, len(x), chunk), desc="decode + label", disable=not progress):
        z = x[start:start + chunk] * latent_std + latent_mean
        smiles += ae.decode_smiles(z.to(next(ae.parameters()).device))
    return label_matrix(smiles, predictor, labels), smiles


def oversampling_factors(y: np.ndarray, labels: list[str], positive_share: float,
                         base: np.ndarray | None = None, joint: bool = True, iterations: int = 50) -> np.ndarray:
    """Per-example, per-label factors ``[N, K]`` that lift each rare activity label's positives to about
    ``positive_share`` of the stream (1 for negatives, for ``druglike`` and for labels already that common).
    ``base`` are the examples' weights before oversampling (default uniform). The stream weight of an example is
    ``base × Π_k factor_k``; the factors are fitted jointly (iterative proportional fitting), so positives of
    several rare labels at once (kinase actives often are) are not lifted twice. ``joint=False``: each label's
    factor from its own frequency alone (the original recipe; overlapping positives are lifted twice)."""
    base = np.ones(len(y)) if base is None else base
    factors = np.ones(y.shape, dtype=np.float64)
    rare = [k for k, name in enumerate(labels)
            if name != "druglike" and 0 < (base * y[:, k]).sum() / base.sum() < positive_share]
    if not joint:
        for k in rare:
            frac = float((base * y[:, k]).sum() / base.sum())
            factors[y[:, k] == 1, k] = positive_share * (1 - frac) / (frac * (1 - positive_share))
        return factors
    for _ in range(iterations if rare else 0):
        for k in rare:
            w = base * factors.prod(axis=1)
            share = float((w * y[:, k]).sum() / w.sum())
            factors[y[:, k] == 1, k] *= positive_share * (1 - share) / (share * (1 - positive_share))
    return factors


def sampling_weights(y: np.ndarray, labels: list[str], positive_share: float,
                     base: np.ndarray | None = None, joint: bool = True,
                     factors: np.ndarray | None = None) -> np.ndarray:
    """Per-example sampling probabilities ``[N]``: ``base`` times every label's oversampling factor
    (``factors`` from :func:`oversampling_factors` when already fitted)."""
    base = np.ones(len(y)) if base is None else base
    if factors is None:
        factors = oversampling_factors(y, labels, positive_share, base, joint)
    w = base * factors.prod(axis=1)
    return w / w.sum()


def loss_weights(factors: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Importance weights ``[B]`` undoing the oversampling of every label the condition leaves unspecified.

    A training example whose condition does not specify label k stands for the distribution marginalised over
    k, in which k's positives have their natural frequency; weighting it by ``1 / factor_k`` keeps the
    unconditional and the other-label models unbiased while the specified-label models see many positives.
    ``factors [B, K]`` from :func:`oversampling_factors`, ``mask [B, K]`` 1 where the label is specified.
    """
    return np.where(mask > 0, 1.0, 1.0 / factors).prod(axis=1)


def train_diffusion(out_dir: Path | None = None, n_moses: int = 60_000, steps: int = 10_000, batch_size: int = 256,
                    lr: float = 1e-3, drop_label: float = 0.3, drop_all: float = 0.15, positive_share: float = 0.15,
                    all_moleculeace: bool = False, augment: int = 0, augment_sigma: float = 0.1,
                    rare_copies: int = 0, rare_sigma: float = 0.2, label_source: str = "input",
                    unbiased_oversampling: bool = False, posterior_augment: bool = False,
                    hidden: int = 256, blocks: int = 3, seed: int = 0, device: str = "cpu",
                    progress: bool = True) -> dict:
    """Train the ε-network and record it in the manifest.

    ``label_source``: "input" labels each latent by the molecule it was encoded from (default; jittered copies
    inherit it), "decoded" by the molecule it decodes to (``rare_copies`` needs it).
    ``posterior_augment``: the ``augment`` copies are draws from the encoder's posterior ``q(z | molecule)``
    (the latent-diffusion convention of training on posterior samples) instead of isotropic ``augment_sigma``.
    ``unbiased_oversampling``: fit the oversampling factors jointly and importance-weight the loss of every
    example whose condition leaves an oversampled label unspecified (:func:`loss_weights`), so the unconditional
    and the other-label models learn the natural distribution; off (default) reproduces the original recipe,
    whose unconditional and ``druglike`` models see the oversampled stream. ``augment`` jittered copies of every corpus
    latent; then ``rare_copies`` more jittered copies of every latent whose decoded molecule is a rare activity
    positive (more distinct positives to learn from). Every corpus molecule keeps the same total weight in the
    stream (its latents share it), so the copies add samples, not mass, to the data distribution.
    """
    _check_training_args(label_source, augment, rare_copies, augment_sigma, rare_sigma)
    settings = {"n_moses": n_moses, "steps": steps, "batch_size": batch_size, "lr": lr, "drop_label": drop_label,
                "drop_all": drop_all, "positive_share": positive_share, "all_moleculeace": all_moleculeace,
                "augment": augment, "augment_sigma": augment_sigma, "rare_copies": rare_copies,
                "rare_sigma": rare_sigma, "posterior_augment": posterior_augment,
                "label_source": label_source, "unbiased_oversampling": unbiased_oversampling, "seed": seed}
    out_dir = Path(out_dir or default_weights_dir())
    ae = load_autoencoder(out_dir, device=device)
    predictor = PropertyPredictor(out_dir)
    smiles, corpus = training_smiles(n_moses, seed=seed, activity_repeats=1, all_moleculeace=all_moleculeace)
    smiles = sorted(set(smiles))
    z, keep = ae.encode_smiles(smiles)
    smiles = [smiles[i] for i in keep]
    config = DiffusionConfig(latent_dim=ae.config.latent_dim, hidden=hidden, blocks=blocks)
    config.latent_mean = z.mean(0).tolist()
    config.latent_std = z.std(0).clamp_min(1e-3).tolist()
    torch.manual_seed(seed)  # parameter initialisation only
    net = EpsilonNet(config).to(device)
    data = _training_latents(ae, net.standardise(z).float().cpu(), smiles, predictor, config, settings, progress)
    schedule = VPLinear(config.beta_min, config.beta_max)
    factors = oversampling_factors(data.y, config.labels, positive_share, data.base, joint=unbiased_oversampling)
    probs = sampling_weights(data.y, config.labels, positive_share, data.base, factors=factors)
    start = time.time()
    losses = _fit(net, schedule, data, probs, factors if unbiased_oversampling else None, settings, device, progress)
    net.eval()
    y, base = data.y, data.base
    natural = base @ y / base.sum() if unbiased_oversampling else probs @ y  # the marginal the models learn
    config.label_frequency = {name: float(natural[k]) for k, name in enumerate(config.labels)}
    files = net.save(out_dir)
    k_gsk, k_drug = config.labels.index("gsk3b"), config.labels.index("druglike")
    metrics = {**corpus, "n_corpus": len(smiles), "n_train": len(y), "decoded_distinct": data.decoded_distinct,
               "distinct_decoded_positives": data.distinct_positives,
               "stream_label_frequency": dict(zip(config.labels, (probs @ y).tolist(), strict=True)),
               "natural_label_frequency": dict(zip(config.labels, (base @ y / base.sum()).tolist(), strict=True)),
               "label_counts": dict(zip(config.labels, y.sum(0).tolist(), strict=True)),
               "joint_gsk3b_druglike": int((y[:, k_gsk] & y[:, k_drug]).sum()),
               "final_loss": float(np.mean(losses[-500:])), "train_seconds": time.time() - start}
    settings |= {"hidden": config.hidden, "blocks": config.blocks, "labels": config.labels, "schedule": repr(schedule)}
    record_artefact(out_dir, "latent_diffusion", files, settings, _reproduce_command(settings), metrics)
    return metrics


def _check_training_args(label_source: str, augment: int, rare_copies: int, augment_sigma: float,
                         rare_sigma: float) -> None:
    if label_source not in ("decoded", "input"):
        raise ValueError(f"label_source must be 'decoded' or 'input', got {label_source!r}")
    if augment < 0 or rare_copies < 0 or (rare_copies and label_source != "decoded"):
        raise ValueError(f"augment and rare_copies must be >= 0 and rare_copies needs label_source='decoded', got "
                         f"{augment} / {rare_copies} / {label_source!r}")
    for name, value in (("augment_sigma", augment_sigma), ("rare_sigma", rare_sigma)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0 (standardised latent units), got {value}")


@dataclass
class _TrainingLatents:
    """Standardised training latents ``x0 [N, D]``, their labels ``y [N, K]``, the corpus molecule each stands for
    (``source``) and its share ``base`` of that molecule's unit weight, plus decoded-label statistics."""

    x0: torch.Tensor
    y: np.ndarray
    source: np.ndarray
    decoded_distinct: int | None = None
    distinct_positives: dict | None = None

    @property
    def base(self) -> np.ndarray:
        return 1.0 / np.bincount(self.source)[self.source]  # every corpus molecule weighs 1 in total


def _training_latents(ae, x0_all, smiles, predictor, config, settings: dict, progress: bool) -> _TrainingLatents:
    """The corpus latents plus their jittered copies, labelled by input or decoded molecule (see train_diffusion)."""
    source = np.arange(len(x0_all))  # the corpus molecule each training latent stands for
    jitter = torch.Generator().manual_seed(settings["seed"] + 1)
    if settings["augment"]:
        scale = (posterior_std(ae, smiles) / torch.tensor(config.latent_std) if settings["posterior_augment"]
                 else torch.full_like(x0_all, settings["augment_sigma"]))  # standardised units
        copies = [x0_all + scale * torch.randn(x0_all.shape, generator=jitter) for _ in range(settings["augment"])]
        x0_all, source = torch.cat([x0_all, *copies]), np.tile(source, settings["augment"] + 1)
    if settings["label_source"] != "decoded":  # every latent carries the label of the molecule it was encoded from
        return _TrainingLatents(x0_all, label_matrix(smiles, predictor, config.labels)[source], source)
    mean, std = torch.tensor(config.latent_mean), torch.tensor(config.latent_std)
    y, decoded = decoded_labels(ae, x0_all, mean, std, predictor, config.labels, progress=progress)
    rare = [k for k, name in enumerate(config.labels) if name != "druglike"]
    pos = np.flatnonzero(y[:, rare].any(axis=1))
    copies_each = settings["rare_copies"]
    if copies_each and len(pos):
        centre = x0_all[torch.from_numpy(np.repeat(pos, copies_each))]
        extra = centre + settings["rare_sigma"] * torch.randn(centre.shape, generator=jitter)
        y_extra, dec_extra = decoded_labels(ae, extra, mean, std, predictor, config.labels, progress=progress)
        x0_all, y = torch.cat([x0_all, extra]), np.concatenate([y, y_extra])
        source, decoded = np.concatenate([source, np.repeat(source[pos], copies_each)]), decoded + dec_extra
    distinct_positives = {name: len({decoded[i] for i in np.flatnonzero(y[:, k])})
                          for k, name in enumerate(config.labels)}
    return _TrainingLatents(x0_all, y, source, len(set(decoded)), distinct_positives)


def _fit(net, schedule, data: _TrainingLatents, probs: np.ndarray, factors: np.ndarray | None, settings: dict,
         device: str, progress: bool) -> list[float]:
    """ε-matching on the oversampled stream (importance-weighted by ``factors`` when given); the losses."""
    steps, batch_size, lr, seed = settings["steps"], settings["batch_size"], settings["lr"], settings["seed"]
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    losses = []
    bar = tqdm(range(steps), desc="latent diffusion", disable=not progress)
    for step in bar:
        idx = rng.choice(len(data.y), size=batch_size, p=probs)
        x0 = data.x0[idx].to(device)
        cond_np = conditions.training_conditions(data.y[idx], settings["drop_label"], settings["drop_all"], rng)
        weight = (torch.from_numpy(loss_weights(factors[idx], cond_np[:, 0::2])).float().to(device)
                  if factors is not None else torch.ones(batch_size, device=device))
        cond = torch.from_numpy(cond_np).to(device)
        t = torch.rand(batch_size, generator=gen, device=device) * (1 - 1e-3) + 1e-3
        eps = torch.randn(x0.shape, generator=gen, device=device)
        alpha = schedule.alpha(t.double()).float()[:, None]
        sigma = schedule.sigma(t.double()).float()[:, None]
        per_example = (net(alpha * x0 + sigma * eps, t, cond) - eps).pow(2).mean(-1)
        loss = (weight * per_example).sum() / weight.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % 200 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-200:]):.4f}")
    return losses


def _reproduce_command(s: dict) -> str:
    """The ``superdiff train-molecule-diffusion`` command that reproduces a run with settings ``s``."""
    return (f"superdiff train-molecule-diffusion --steps {s['steps']} --n-moses {s['n_moses']} --seed {s['seed']}"
            + (" --all-moleculeace" if s["all_moleculeace"] else "")
            + f" --augment {s['augment']} --augment-sigma {s['augment_sigma']} --rare-copies {s['rare_copies']}"
            + f" --rare-sigma {s['rare_sigma']}"
            + f" --label-source {s['label_source']} --positive-share {s['positive_share']}"
            + (" --unbiased-oversampling" if s["unbiased_oversampling"] else "")
            + (" --posterior-augment" if s["posterior_augment"] else "")
            + f" --hidden {s['hidden']} --blocks {s['blocks']}")
