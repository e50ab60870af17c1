"""Training a frame expert (:class:`~superdiff.proteins.frame_net.FrameDenoiser`) on full-backbone chains.

One step: a crop length ``L`` in ``[min_crop, max_crop]``, random crops of that length, their frames (N, CA, C →
:func:`~superdiff.proteins.frames_backbone.frames_from_atoms`; Cα centred, Å / 10), ``t ~ U[t_min, 1]``, noisy
translations ``α_t x0 + σ_t ε`` (centred ε, the VP path) and rotations ``R0 · IGSO(3)(I, σ_R(t)²)`` (the rotation
schedule's variance), then the FrameDiff/Proteus-style loss of the predicted clean frames:

* translation x̂0 MSE (model units²) weighted by ``clamp(SNR_t, snr_min, snr_max)``;
* rotation ``‖R̂0ᵀ R0 − I‖²_F`` per residue;
* for ``t < aux_t_max``: backbone-atom MSE (N, CA, C, O rebuilt from both frame sets) and the MSE of all
  backbone-atom distances below 6 Å (FrameDiff's ``bb_atom`` and ``dist_mat`` losses), so outputs are protein-like,
  and with ``clash_weight`` > 0 a steric loss on the predicted atoms (:func:`clash_loss`).

EMA weights; resumable: ``state_path`` holds the model, EMA, optimiser, step and random states and is rewritten
every ``checkpoint_every`` steps, and a rerun continues from it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from superdiff.engine import so3
from superdiff.engine.paths import VPLinear
from superdiff.proteins.backbone_set import BackboneChain
from superdiff.proteins.frame_net import COORD_SCALE, FrameDenoiser, FrameNetConfig
from superdiff.proteins.frames_backbone import atoms_from_frames, frames_from_atoms


@dataclass(frozen=True)
class FrameTrainConfig:
    """Training settings (saved in the weights manifest)."""

    subset: str = "helix"
    margin: float = 0.2
    steps: int = 4000
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    ema: float = 0.999
    min_crop: int = 48
    max_crop: int = 96
    t_min: float = 1e-3
    snr_min: float = 0.05
    snr_max: float = 5.0
    rot_weight: float = 0.5
    aux_weight: float = 1.0
    aux_t_max: float = 0.25
    clash_weight: float = 0.0  # > 0: steric loss on the predicted atoms for t < aux_t_max (see clash_loss)
    hbond_weight: float = 0.0  # > 0: loss on the true backbone hydrogen bonds (see hbond_loss) for t < hbond_t_max
    #: 0.25 like the other atom losses: at higher noise the posterior over which residues pair is broad, and a
    #: distance MSE on a prediction under a broad posterior is smallest for a CONTRACTED prediction; at 0.5 the
    #: strand expert's predictions shrank to Rg ~3 Å at t ≈ 0.4 and its samples collapsed (docs/models.md)
    hbond_t_max: float = 0.25
    junction_weight: float = 0.0  # > 0: loss on the distances across each peptide junction for t < aux_t_max
    pair_crops: int = 0  # > 0: of so many candidate crops per chain, keep the one with the most strand pairs
    seed: int = 0
    max_minutes: float = 40.0
    sigma_min: float = 0.1
    sigma_max: float = 1.5
    model: dict = field(default_factory=lambda: FrameNetConfig().to_dict())

    def to_dict(self) -> dict:
        return asdict(self)


HBOND_NO = 3.5  # Å: a backbone N_i–O_j pair closer than this counts as a hydrogen bond (DSSP's are ~2.9 Å)


def strand_pairs(chain: BackboneChain) -> np.ndarray:
    """``[P, 2]`` residue pairs ``(i, j)``, ``|i − j| > 2``, both DSSP strand, with N_i–O_j < :data:`HBOND_NO`:
    the hydrogen bonds of the chain's β-ladders."""
    n, o = chain.atoms[:, 0], chain.atoms[:, 3]
    d = np.linalg.norm(n[:, None] - o[None], axis=-1)
    idx = np.arange(len(chain))
    strand = np.array([s == "E" for s in chain.dssp]) if chain.dssp else np.zeros(len(chain), bool)
    ok = (d < HBOND_NO) & (np.abs(idx[:, None] - idx[None]) > 2) & strand[:, None] & strand[None]
    return np.argwhere(ok)


def _paired_start(chain: BackboneChain, length: int, tries: int, rng: np.random.Generator, cache: dict) -> int:
    """Of ``tries`` random crop starts, the one whose crop holds the most ladder hydrogen bonds (both partners
    inside): random crops of a sheet protein often cut a strand from its partner, and an unpaired strand teaches
    nothing about pairing."""
    if chain.id not in cache:
        cache[chain.id] = strand_pairs(chain)
    pairs = cache[chain.id]
    starts = rng.integers(0, len(chain) - length + 1, size=tries)
    inside = [int(((pairs >= s) & (pairs < s + length)).all(-1).sum()) for s in starts]
    return int(starts[int(np.argmax(inside))])


_PAIR_CACHE: dict[str, np.ndarray] = {}


def sample_crops(chains: Sequence[BackboneChain], cfg: FrameTrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """Random crops ``[B, L, 4, 3]`` of backbone atoms in Å (not centred); L uniform in the crop range; with
    ``cfg.pair_crops`` the crop start favours paired strands (:func:`_paired_start`)."""
    longest = max(len(c) for c in chains)
    length = int(rng.integers(cfg.min_crop, min(cfg.max_crop, longest) + 1))
    pool = [c for c in chains if len(c) >= length]
    crops = []
    for i in rng.integers(0, len(pool), size=cfg.batch_size):
        if cfg.pair_crops > 0:
            start = _paired_start(pool[i], length, cfg.pair_crops, rng, _PAIR_CACHE)
        else:
            start = int(rng.integers(0, len(pool[i]) - length + 1))
        crops.append(pool[i].atoms[start : start + length])
    return torch.from_numpy(np.stack(crops).astype(np.float32))


def clean_frames(atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred frames of atoms ``[B, L, 4, 3]`` (Å): translations in model units, rotations."""
    trans, rots = frames_from_atoms(atoms)
    trans = trans / COORD_SCALE
    return trans - trans.mean(dim=1, keepdim=True), rots


def noisy_frames(trans0, rots0, t, rot_schedule: so3.RotationSchedule, gen: torch.Generator):
    """``(trans_t, rots_t)``: the VP path on centred translations and IGSO(3) noise at ``σ_R(t)²``."""
    path = VPLinear()
    alpha, sigma = path.alpha(t).float(), path.sigma(t).float()
    eps = torch.randn(trans0.shape, generator=gen)
    eps = eps - eps.mean(dim=1, keepdim=True)
    trans_t = alpha[:, None, None] * trans0 + sigma[:, None, None] * eps
    eps2 = rot_schedule.variance(t.double())[:, None].expand(rots0.shape[:2])
    rots_t = rots0 @ so3.igso3_sample(tuple(rots0.shape[:2]), eps2, gen, dtype=rots0.dtype)
    return trans_t, rots_t, (alpha / sigma) ** 2


def model_atoms(trans: torch.Tensor, rots: torch.Tensor) -> torch.Tensor:
    """Backbone atoms ``[B, L, 4, 3]`` in model units of frames whose translations are in model units (the ideal
    local atoms are in Å)."""
    return atoms_from_frames(trans * COORD_SCALE, rots) / COORD_SCALE


def distance_loss(pred: torch.Tensor, true: torch.Tensor, cutoff: float = 6.0) -> torch.Tensor:
    """MSE (model units²) of backbone-atom distances below ``cutoff`` Å in ``true``, per sample; atoms [B, L, 4, 3]
    in model units."""
    p, q = pred.flatten(1, 2), true.flatten(1, 2)
    dp, dq = torch.cdist(p, p), torch.cdist(q, q)
    mask = (dq < cutoff / COORD_SCALE).float()
    return ((dp - dq) ** 2 * mask).sum((1, 2)) / mask.sum((1, 2)).clamp_min(1)


def clash_loss(atoms: torch.Tensor) -> torch.Tensor:
    """Steric loss per sample: ``Σ relu(limit − d)²`` (model units²) over backbone atoms of residues more than 3
    apart (limits of :func:`superdiff.proteins.frame_polish.clash_limits`: 3.0 Å, N–O 2.7 Å), per residue."""
    from superdiff.proteins.frame_polish import clash_limits

    flat = atoms.flatten(1, 2)
    limits = clash_limits(atoms.shape[1], dtype=atoms.dtype).to(atoms.device) / COORD_SCALE
    return torch.relu(limits - torch.cdist(flat, flat)).pow(2).sum((1, 2)) / (2 * atoms.shape[1])


def hbond_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Per sample: MSE (model units²) of the N_i–O_j and Cα_i–Cα_j distances of the pairs that are backbone hydrogen
    bonds in ``true`` (N_i–O_j < :data:`HBOND_NO`, ``|i − j| > 2``); atoms ``[B, L, 4, 3]`` in model units.

    The plain distance loss averages these few long-range pairs with many fixed local ones; this term asks
    specifically for the cross-strand (and helix) contacts that make DSSP ladders."""
    d_true = torch.cdist(true[..., 0, :], true[..., 3, :])
    d_pred = torch.cdist(pred[..., 0, :], pred[..., 3, :])
    ca_true = torch.cdist(true[..., 1, :], true[..., 1, :])
    ca_pred = torch.cdist(pred[..., 1, :], pred[..., 1, :])
    idx = torch.arange(true.shape[1])
    mask = ((d_true < HBOND_NO / COORD_SCALE) & ((idx[:, None] - idx[None]).abs() > 2)).to(true.dtype)
    err = (d_pred - d_true).pow(2) + (ca_pred - ca_true).pow(2)
    return (err * mask).sum((1, 2)) / mask.sum((1, 2)).clamp_min(1)


JUNCTION_PAIRS = ((2, 0), (1, 0), (2, 1), (1, 1), (3, 0))  # C–N, Cα–N, C–Cα, Cα–Cα, O–N of residues i, i+1


def junction_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Per sample: MSE (model units²) of the five distances between residue i's atoms and residue i+1's
    (:data:`JUNCTION_PAIRS`: the peptide bond and the angles around it); atoms ``[B, L, 4, 3]`` in model units.

    The frames carry N, CA, C ideally; only the junctions between frames can be off, and a clean-frame prediction
    whose junctions are off must be moved by the polish, which pulls strands out of register. The distance loss
    averages the junctions with every other pair below 6 Å; this one asks for them alone. Like the other atom
    losses it applies at low noise only, where the clean-frame posterior is sharp: at high noise it would pull the
    prediction away from the posterior mean the score is made from."""
    err = pred.new_zeros(pred.shape[0])
    for i, j in JUNCTION_PAIRS:
        d_pred = (pred[:, :-1, i] - pred[:, 1:, j]).norm(dim=-1)
        d_true = (true[:, :-1, i] - true[:, 1:, j]).norm(dim=-1)
        err = err + (d_pred - d_true).pow(2).mean(-1)
    return err / len(JUNCTION_PAIRS)


def frame_loss(model: FrameDenoiser, atoms: torch.Tensor, cfg: FrameTrainConfig, gen: torch.Generator) -> tuple:
    """The training loss of one batch of atom crops ``[B, L, 4, 3]`` (Å) and its parts (floats)."""
    trans0, rots0 = clean_frames(atoms)
    B = trans0.shape[0]
    t = cfg.t_min + (1 - cfg.t_min) * torch.rand(B, generator=gen)
    rot_schedule = so3.RotationSchedule(cfg.sigma_min, cfg.sigma_max)
    trans_t, rots_t, snr = noisy_frames(trans0, rots0, t, rot_schedule, gen)
    trans_hat, rots_hat = model(trans_t, rots_t, t)
    w = snr.clamp(cfg.snr_min, cfg.snr_max)
    l_trans = (trans_hat - trans0).pow(2).sum(-1).mean(-1)
    eye = torch.eye(3, dtype=rots0.dtype)
    l_rot = (rots_hat.transpose(-1, -2) @ rots0 - eye).pow(2).sum((-1, -2)).mean(-1)
    atoms_hat, atoms_true = model_atoms(trans_hat, rots_hat), model_atoms(trans0, rots0)
    l_atom = (atoms_hat - atoms_true).pow(2).sum(-1).mean((1, 2))
    l_dist = distance_loss(atoms_hat, atoms_true)
    low = (t < cfg.aux_t_max).float()
    aux = low * (l_atom + l_dist) * 10.0
    if cfg.clash_weight:
        aux = aux + cfg.clash_weight * low * clash_loss(atoms_hat)
    if cfg.hbond_weight:
        aux = aux + cfg.hbond_weight * (t < cfg.hbond_t_max).float() * hbond_loss(atoms_hat, atoms_true)
    with torch.set_grad_enabled(bool(cfg.junction_weight) and torch.is_grad_enabled()):  # else logged only
        l_junction = junction_loss(atoms_hat, atoms_true)
    if cfg.junction_weight:
        aux = aux + cfg.junction_weight * low * l_junction
    loss = (w * l_trans).mean() + cfg.rot_weight * l_rot.mean() + cfg.aux_weight * aux.mean()
    parts = {"trans": float(l_trans.detach().mean()), "rot": float(l_rot.detach().mean()),
             "atom_low_t": float((low * l_atom.detach()).sum() / low.sum().clamp_min(1)),
             "junction_low_t": float((low * l_junction.detach()).sum() / low.sum().clamp_min(1))}
    return loss, parts


def _new_state(cfg: FrameTrainConfig) -> dict:
    torch.manual_seed(cfg.seed)  # parameter initialisation only
    model = FrameDenoiser(FrameNetConfig(**cfg.model))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    return {"model": model, "ema": copy.deepcopy(model).requires_grad_(False), "opt": opt, "step": 0,
            "rng": np.random.default_rng(cfg.seed), "gen": gen, "losses": [], "minutes": 0.0}


def save_state(state: dict, path: Path) -> None:
    from superdiff.files.atomic import atomic_path

    blob = {"model": state["model"].state_dict(), "ema": state["ema"].state_dict(), "opt": state["opt"].state_dict(),
            "step": state["step"], "rng": state["rng"].bit_generator.state, "gen": state["gen"].get_state(),
            "losses": state["losses"][-500:], "minutes": state["minutes"], "init_tag": state.get("init_tag")}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_state(cfg: FrameTrainConfig, path: Path | None, init: tuple[dict, str] | None = None) -> dict:
    """The state saved at ``path`` (resume), else a fresh one.

    ``init = (state_dict, tag)``: a run that starts from these parameters (fine-tuning committed weights, new
    optimiser). It resumes the state at ``path`` only if that state was started from the same ``tag`` (the init
    weights' sha256); a state left by another run (an earlier stage writing the same ``--out``) is replaced."""
    state = _new_state(cfg)
    blob = torch.load(path, weights_only=False) if path is not None and Path(path).exists() else None
    if blob is None or (init is not None and blob.get("init_tag") != init[1]):
        if init is not None:
            state["model"].load_state_dict(init[0])
            state["ema"].load_state_dict(init[0])
            state["init_tag"] = init[1]
        return state
    state["model"].load_state_dict(blob["model"])
    state["ema"].load_state_dict(blob["ema"])
    state["opt"].load_state_dict(blob["opt"])
    state["rng"].bit_generator.state = blob["rng"]
    state["gen"].set_state(blob["gen"])
    state.update(step=blob["step"], losses=list(blob["losses"]), minutes=blob["minutes"],
                 init_tag=blob.get("init_tag"))
    return state


def _lr_factor(step: int, total: int, warmup: int = 200) -> float:
    return min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step / total, 1))))


def train_frames(chains: Sequence[BackboneChain], cfg: FrameTrainConfig, state_path: Path | None = None,
                 checkpoint_every: int = 200, log=None, on_checkpoint=None,
                 init: tuple[dict, str] | None = None) -> tuple[FrameDenoiser, dict]:
    """Train (or resume) until ``cfg.steps`` steps or ``cfg.max_minutes`` minutes of this run; ``init``: see
    :func:`load_state`. Returns the EMA model and a summary (steps done, final loss, minutes over all runs,
    training chain ids)."""
    state = load_state(cfg, state_path, init)
    model, ema, opt = state["model"], state["ema"], state["opt"]
    start, run_start = time.time(), state["minutes"]
    while state["step"] < cfg.steps and time.time() - start < cfg.max_minutes * 60:
        step = state["step"]
        for group in opt.param_groups:
            group["lr"] = cfg.lr * _lr_factor(step, cfg.steps)
        loss, parts = frame_loss(model, sample_crops(chains, cfg, state["rng"]), cfg, state["gen"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(cfg.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        state["losses"].append(float(loss.detach()))
        state["step"] = step + 1
        state["minutes"] = run_start + (time.time() - start) / 60
        if log is not None and step % 50 == 0:
            log(f"step {step} loss {np.mean(state['losses'][-50:]):.4f} {parts} {state['minutes']:.1f} min")
        if checkpoint_every and state["step"] % checkpoint_every == 0:
            if state_path is not None:
                save_state(state, state_path)
            if on_checkpoint is not None:
                on_checkpoint(ema, _summary(state, chains))
    if state_path is not None:
        save_state(state, state_path)
    return ema.eval(), _summary(state, chains)


def _summary(state: dict, chains: Sequence[BackboneChain]) -> dict:
    return {"steps_done": state["step"], "final_loss": float(np.mean(state["losses"][-200:] or [float("nan")])),
            "minutes": state["minutes"], "train_ids": sorted(c.id for c in chains)}
