"""Denoising score matching for the built-in Cα denoiser (x0-parametrised, VP schedule, centred subspace).

One training step: pick a crop length ``L`` in ``[min_crop, max_crop]``, take random crops of ``L`` residues from
random chains, centre and scale them (Å / 10), draw ``t ~ U[t_min, 1]`` and centred noise ``ε`` (Gaussian noise
projected with :class:`~superdiff.engine.spaces.CentredCoordinates`), form ``x_t = α_t x0 + σ_t ε`` and regress
``x̂0(x_t, t)`` on ``x0`` with weight ``clamp(SNR_t, snr_min, snr_max)`` (min-SNR style), plus an auxiliary
loss on sequence-local distances ``|i − j| ≤ 4`` (Å) for ``t < aux_t_max`` that keeps bonds at 3.8 Å, plus a
direct loss on the network's predicted Cα(i)–Cα(i+k) target distances (k = 2..4, all t).
Weights are an exponential moving average of the parameters.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from superdiff.engine.paths import VPLinear
from superdiff.engine.spaces import CentredCoordinates
from superdiff.proteins.ca_model import COORD_SCALE, CADenoiser, CAModelConfig
from superdiff.proteins.reference import load_reference_set, unbroken_segments
from superdiff.proteins.secondary import psea, sse_fractions
from superdiff.proteins.structure import StructureError, is_structure_file, read_chains

SUBSETS = ("helix", "strand", "all")


@dataclass(frozen=True)
class TrainingChain:
    """A chain used for training: id, Cα coordinates ``[L, 3]`` (Å) and P-SEA fractions."""

    id: str
    ca: np.ndarray
    helix: float
    strand: float


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (saved in the weights manifest)."""

    subset: str = "all"
    steps: int = 6000
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    ema: float = 0.999
    min_crop: int = 50
    max_crop: int = 128
    t_min: float = 1e-3
    snr_min: float = 0.05
    snr_max: float = 5.0
    aux_weight: float = 1.0
    aux_t_max: float = 0.3
    target_weight: float = 0.02
    bin_weight: float = 0.05
    seed: int = 0
    max_minutes: float = 19.0
    helix_margin: float = 0.15
    strand_margin: float = 0.05
    model: dict = field(default_factory=lambda: CAModelConfig().to_dict())

    def to_dict(self) -> dict:
        return asdict(self)


def in_subset(helix: float, strand: float, subset: str, helix_margin: float = 0.15,
              strand_margin: float = 0.05) -> bool:
    """Subset rule by P-SEA fractions: ``helix`` if helix − strand > helix_margin, ``strand`` if
    strand − helix > strand_margin, ``all`` always. The helix and strand subsets are disjoint."""
    if subset == "helix":
        return helix - strand > helix_margin
    if subset == "strand":
        return strand - helix > strand_margin
    if subset == "all":
        return True
    raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")


def load_training_chains(data: str | os.PathLike, min_length: int = 50, max_length: int = 300) -> list[TrainingChain]:
    """Chains from the built-in reference set (``data == "reference"``) or every structure file in a folder.

    Folder chains are cut at chain breaks; segments shorter than ``min_length`` are dropped.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: the folder holds no structure file, or no usable chain.
    """
    if str(data) == "reference":
        return [TrainingChain(c.id, c.ca, c.helix_fraction, c.strand_fraction)
                for c in load_reference_set() if len(c) >= min_length]
    folder = Path(data)
    if not folder.is_dir():
        raise FileNotFoundError(f"--data: folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_structure_file(p))
    if not files:
        raise ValueError(f"--data: no PDB/mmCIF file in {folder} (expected *.pdb, *.cif, ...)")
    chains, problems = [], []
    for path in files:
        try:
            backbones = read_chains(path)
        except StructureError as err:
            problems.append(str(err))
            continue
        for bb in backbones:
            for start, end in unbroken_segments(bb, min_length, max_length):
                ca = bb.ca[start:end]
                h, s = sse_fractions(psea(ca))
                chains.append(TrainingChain(f"{path.name}:{bb.chain_id}:{start}", ca, h, s))
    if not chains:
        detail = "; ".join(problems[:3])
        raise ValueError(f"--data: no chain of {min_length}-{max_length} residues with Cα and no chain break in "
                         f"{folder} ({len(files)} files{'; ' + detail if detail else ''})")
    return chains


def select_subset(chains: Sequence[TrainingChain], cfg: TrainConfig) -> list[TrainingChain]:
    """The chains of ``cfg.subset`` (see :func:`in_subset`) long enough for the smallest crop."""
    chosen = [c for c in chains if len(c.ca) >= cfg.min_crop
              and in_subset(c.helix, c.strand, cfg.subset, cfg.helix_margin, cfg.strand_margin)]
    if not chosen:
        raise ValueError(f"subset {cfg.subset!r}: no chain of at least {cfg.min_crop} residues")
    return chosen


def sample_batch(chains: Sequence[TrainingChain], cfg: TrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """Random crops ``[B, L, 3]``, centred, in model units (Å / COORD_SCALE); L uniform in the crop range."""
    longest = max(len(c.ca) for c in chains)
    length = int(rng.integers(cfg.min_crop, min(cfg.max_crop, longest) + 1))
    pool = [c for c in chains if len(c.ca) >= length]
    crops = []
    for i in rng.integers(0, len(pool), size=cfg.batch_size):
        ca = pool[i].ca
        start = int(rng.integers(0, len(ca) - length + 1))
        crop = ca[start : start + length].astype(np.float32) / COORD_SCALE
        crops.append(crop - crop.mean(0))
    return torch.from_numpy(np.stack(crops))


def local_distance_loss(x0_hat: torch.Tensor, x0: torch.Tensor, max_sep: int = 4) -> torch.Tensor:
    """Mean squared error (Å²) of Cα–Cα distances with sequence separation 1..max_sep, per sample ``[B]``."""
    losses = []
    for k in range(1, max_sep + 1):
        d_hat = (x0_hat[:, k:] - x0_hat[:, :-k]).norm(dim=-1)
        d = (x0[:, k:] - x0[:, :-k]).norm(dim=-1)
        losses.append(((d_hat - d) * COORD_SCALE).pow(2).mean(-1))
    return torch.stack(losses).mean(0)


def local_target_loss(targets: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Mean squared error (Å²) of the predicted Cα(i)–Cα(i+k) distances ``targets [B, L, K]`` (k = 2..K+1, model
    units) against the clean trace ``x0 [B, L, 3]``, per sample ``[B]``."""
    losses = []
    for k in range(targets.shape[-1]):
        sep = k + 2
        d = (x0[:, sep:] - x0[:, :-sep]).norm(dim=-1)
        losses.append(((targets[:, :-sep, k] - d) * COORD_SCALE).pow(2).mean(-1))
    return torch.stack(losses).mean(0)


def local_target_bin_loss(logits: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (nats) of the distance-bin logits ``[B, L, K, bins]`` against the clean trace's nearest bin,
    per sample ``[B]``."""
    from superdiff.proteins.ca_model import target_bin_centres

    centres = target_bin_centres(logits.shape[-1], x0.device, x0.dtype)
    losses = []
    for k in range(logits.shape[2]):
        sep = k + 2
        d = (x0[:, sep:] - x0[:, :-sep]).norm(dim=-1)  # [B, L - sep]
        label = (d[..., None] - centres[k]).abs().argmin(-1)
        lg = logits[:, :-sep, k]
        losses.append(torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), label.reshape(-1),
                                                        reduction="none").view(label.shape).mean(-1))
    return torch.stack(losses).mean(0)


def train(chains: Sequence[TrainingChain], cfg: TrainConfig, device: str | torch.device = "cpu",
          progress: bool = True, log=None, checkpoint=None, checkpoint_every: int = 0,
          init: CADenoiser | None = None) -> tuple[CADenoiser, dict]:
    """Train a :class:`CADenoiser` on ``chains`` (already the chosen subset). Returns the EMA model and a summary.

    Stops after ``cfg.steps`` steps or ``cfg.max_minutes`` minutes, whichever is first. With ``checkpoint_every``
    > 0, ``checkpoint(ema_model, summary)`` is called every that many steps. ``init`` continues training from a
    model's parameters (its configuration replaces ``cfg.model``).
    """
    device = torch.device(device)
    torch_gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # parameter initialisation only; sampling never uses the global RNG
    rng = np.random.default_rng(cfg.seed)
    schedule, space = VPLinear(), CentredCoordinates()
    if init is None:
        model = CADenoiser(CAModelConfig(**cfg.model)).to(device)
    else:
        model = CADenoiser(init.cfg, init.beta_min, init.beta_max).to(device)
        model.load_state_dict(init.state_dict())
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = 200
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s / cfg.steps, 1)))))
    start, losses, step = time.time(), [], 0
    bar = tqdm(range(cfg.steps), desc=f"train {cfg.subset}", disable=not progress, mininterval=5)
    for step in bar:
        x0 = sample_batch(chains, cfg, rng).to(device)
        B = x0.shape[0]
        t = cfg.t_min + (1 - cfg.t_min) * torch.rand(B, generator=torch_gen)
        eps = space.project(torch.randn(x0.shape, generator=torch_gen)).to(device)
        t = t.to(device)
        alpha, sigma = schedule.alpha(t).float(), schedule.sigma(t).float()
        xt = alpha[:, None, None] * x0 + sigma[:, None, None] * eps
        x0_hat = model(xt, t)
        snr = (alpha / sigma) ** 2
        w = snr.clamp(cfg.snr_min, cfg.snr_max)
        mse = (x0_hat - x0).pow(2).sum((1, 2)) / (3 * x0.shape[1])
        aux = local_distance_loss(x0_hat, x0) * (t < cfg.aux_t_max).float()
        loss = (w * mse).mean() + cfg.aux_weight * aux.mean() / COORD_SCALE**2 * 5
        if model.last_target_logits is not None:
            loss = loss + cfg.bin_weight * local_target_bin_loss(model.last_target_logits, x0).mean()
        elif model.last_targets is not None:
            loss = loss + cfg.target_weight * local_target_loss(model.last_targets[0], x0).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            decay = min(cfg.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        losses.append(float(loss.detach()))
        if step % 100 == 0:
            recent = float(np.mean(losses[-100:]))
            bar.set_postfix(loss=f"{recent:.4f}")
            if log is not None:
                log(f"step {step} loss {recent:.5f} elapsed {time.time() - start:.0f}s")
        if checkpoint is not None and checkpoint_every > 0 and (step + 1) % checkpoint_every == 0:
            checkpoint(ema, _summary(step, losses, start, chains))
        if time.time() - start > cfg.max_minutes * 60:
            break
    return ema.eval(), _summary(step, losses, start, chains)


def _summary(step: int, losses: list[float], start: float, chains: Sequence[TrainingChain]) -> dict:
    return {"steps_done": step + 1, "final_loss": float(np.mean(losses[-200:])),
            "minutes": (time.time() - start) / 60, "train_ids": sorted(c.id for c in chains)}
