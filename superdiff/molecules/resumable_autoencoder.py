"""Resumable, staged training of the SELFIES autoencoder on the whole MOSES train split.

The full split (1.58 M molecules, plus the ChEMBL chemotypes of :func:`superdiff.molecules.corpus.training_smiles`)
takes hours per epoch on a CPU core, so training runs in stages: a run stops after ``max_minutes`` (or is killed)
and the next run with the same settings resumes from ``<out>/autoencoder.state.pt`` exactly where it stopped.

What makes a resume exact: every step's batch and every step's posterior noise are functions of ``(seed, step)``
alone (no generator state to carry), the learning rate is a function of the step, and the state file holds the
weights, the optimiser and the log. The tokenised corpus is cached once in ``resources/cache/molecules/``.
Held-out reconstruction (canonical-SMILES exact match on MOSES test molecules, never trained on) is measured
every ``eval_every`` steps and written to ``<out>/autoencoder.progress.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from superdiff.files.atomic import atomic_path, write_json_atomic, write_npz_atomic
from superdiff.files.resources import resource_path
from superdiff.molecules import data
from superdiff.molecules.autoencoder import BOS, EOS, AutoencoderConfig, SelfiesVAE, build_vocab, smiles_to_tokens
from superdiff.molecules.corpus import training_smiles
from superdiff.molecules.train_autoencoder import reconstruction_rate, vae_loss
from superdiff.molecules.weights import record_artefact

STEM = "autoencoder"
#: batches are drawn this many at a time and sorted by length (a batch pads to about its own length)
POOL = 16


@dataclass(frozen=True)
class ResumableSettings:
    """Everything that defines a staged run; a resume must use the same settings (checked)."""

    steps: int = 24_000
    batch_size: int = 256
    lr: float = 1e-3
    warmup: int = 500
    kl_weight: float = 0.002  # β of the KL term, reached by linear annealing over kl_anneal * steps
    kl_anneal: float = 0.1
    latent_dim: int = 128
    hidden_dim: int = 256
    embed_dim: int = 64
    max_len: int = 72  # SELFIES tokens without BOS/EOS
    n_moses: int | None = None  # None: the whole MOSES train split
    activity_repeats: int = 4
    all_moleculeace: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        check_run_settings(self, positive=("steps", "batch_size", "warmup", "latent_dim", "hidden_dim", "embed_dim",
                                           "max_len", "activity_repeats"),
                           fractions=("kl_anneal",), non_negative=("kl_weight",))

    def command(self) -> str:
        """The CLI command that runs (or resumes) these settings."""
        moses = " --full-moses" if self.n_moses is None else f" --n-moses {self.n_moses}"
        return (f"superdiff train-molecule-autoencoder --resumable --steps {self.steps}{moses}"
                f" --batch-size {self.batch_size} --lr {self.lr} --kl-weight {self.kl_weight}"
                f" --latent-dim {self.latent_dim} --hidden {self.hidden_dim} --embed-dim {self.embed_dim}"
                f" --seed {self.seed}" + (" --all-moleculeace" if self.all_moleculeace else ""))


def check_run_settings(settings, positive: tuple[str, ...] = (), fractions: tuple[str, ...] = (),
                       non_negative: tuple[str, ...] = ()) -> None:
    """A ValueError naming the first bad field of a staged run's settings: ``lr`` and ``positive`` fields must be
    > 0, ``fractions`` in [0, 1], ``non_negative`` ≥ 0, ``n_moses`` None or > 0."""
    checks = [("lr", lambda v: v > 0, "> 0"), *((f, lambda v: v > 0, "> 0") for f in positive),
              *((f, lambda v: 0 <= v <= 1, "in [0, 1]") for f in fractions),
              *((f, lambda v: v >= 0, ">= 0") for f in non_negative),
              ("n_moses", lambda v: v is None or v > 0, "> 0 (or the whole split)")]
    for name, ok, expected in checks:
        value = getattr(settings, name)
        if not ok(value):
            raise ValueError(f"{type(settings).__name__}.{name} is {value!r}, expected {expected}")


def cache_file(cache_dir: Path | None, stem: str, key: list) -> Path:
    """``<cache_dir>/<stem>-<hash of key>.npz`` (default folder ``resources/cache/molecules/``): the staged
    trainers' caches, one file per distinct ``key`` (a JSON-able list of what the cached data depend on)."""
    folder = Path(cache_dir) if cache_dir else resource_path("cache", "molecules")
    return folder / f"{stem}-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}.npz"


def corpus_tokens(settings: ResumableSettings, cache_dir: Path | None = None,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    """The tokenised corpus: ids ``[N, max_len + 2]`` uint8 (BOS … EOS, 0-padded), lengths ``[N]``, vocabulary
    and corpus report; cached in ``cache_dir`` (default ``resources/cache/molecules/``) keyed by the corpus
    settings."""
    cache = cache_file(cache_dir, "corpus", [settings.n_moses, settings.seed, settings.activity_repeats,
                                             settings.all_moleculeace, settings.max_len])
    if cache.exists():
        with np.load(cache, allow_pickle=False) as blob:
            meta = json.loads(str(blob["meta"]))
            return blob["ids"], blob["lengths"], meta["vocab"], meta["report"]
    smiles, report = training_smiles(settings.n_moses, seed=settings.seed,
                                     activity_repeats=settings.activity_repeats,
                                     all_moleculeace=settings.all_moleculeace)
    token_lists = [smiles_to_tokens(s) for s in tqdm(smiles, desc="selfies", disable=not progress)]
    kept = [t for t in token_lists if t is not None and 0 < len(t) <= settings.max_len]
    report["n_unencodable_or_too_long"] = len(token_lists) - len(kept)
    vocab = build_vocab(kept)
    if len(vocab) > 256:
        raise ValueError(f"corpus vocabulary has {len(vocab)} SELFIES tokens; the uint8 cache holds at most 256")
    index = {tok: i for i, tok in enumerate(vocab)}
    ids = np.zeros((len(kept), settings.max_len + 2), np.uint8)
    lengths = np.zeros(len(kept), np.int64)
    bos, eos = index[BOS], index[EOS]
    for i, toks in enumerate(kept):
        row = [bos, *(index[t] for t in toks), eos]
        ids[i, :len(row)] = row
        lengths[i] = len(row)
    write_npz_atomic(cache, {"ids": ids, "lengths": lengths,
                             "meta": np.array(json.dumps({"vocab": vocab, "report": report}))})
    return ids, lengths, vocab, report


def load_resume_state(path: Path, parts: dict, record: dict, device: str | torch.device) -> dict:
    """Load ``parts`` (name -> module or optimiser) from the state file at ``path`` if it exists and return its
    record; else return ``record``. A state written with other settings than ``record["settings"]`` is refused."""
    if not path.exists():
        return record
    blob = torch.load(path, map_location=device, weights_only=True)
    if blob["record"]["settings"] != record["settings"]:
        raise ValueError(f"{path} was written with settings {blob['record']['settings']}, not "
                         f"{record['settings']}: resume with the same settings or use another --out")
    for name, part in parts.items():
        part.load_state_dict(blob[name])
    return blob["record"]


def save_resume_state(path: Path, parts: dict, record: dict) -> None:
    """Write ``parts``' state dicts and ``record`` to ``path`` and the record to ``<stem>.progress.json`` beside
    it (the state file without ``.state.pt``), both atomically."""
    with atomic_path(path) as tmp:
        torch.save({**{name: part.state_dict() for name, part in parts.items()}, "record": record}, tmp)
    write_json_atomic(path.with_name(path.name.replace(".state.pt", ".progress.json")), record)


def batch_indices(step: int, n: int, lengths: np.ndarray, batch_size: int, seed: int) -> np.ndarray:
    """Corpus rows of ``step``'s batch, a function of ``(seed, step)`` only: ``POOL`` batches are drawn uniformly
    at once, sorted by length and served in a random order."""
    rng = np.random.default_rng([seed, step // POOL])
    idx = rng.integers(0, n, size=POOL * batch_size)
    idx = idx[np.argsort(lengths[idx], kind="stable")]
    slot = rng.permutation(POOL)[step % POOL]
    return idx[slot * batch_size:(slot + 1) * batch_size]


def learning_rate(step: int, settings) -> float:
    """Linear warm-up over ``settings.warmup`` steps, then cosine decay to 5 % of ``settings.lr`` at
    ``settings.steps`` (any staged trainer's settings)."""
    warm = min(1.0, (step + 1) / settings.warmup)
    return settings.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step / settings.steps, 1.0))))


def _held_out(n: int, seed: int) -> list[str]:
    return data.canonicalize(data.load_moses("test", n=n, seed=seed + 101)).canonical


def train_resumable(out_dir: Path, settings: ResumableSettings, max_minutes: float = math.inf,
                    checkpoint_every: int = 200, eval_every: int = 1000, eval_molecules: int = 1000,
                    final_eval_molecules: int = 10_000, stop_after: int | None = None, cache_dir: Path | None = None,
                    device: str = "cpu", progress: bool = True) -> dict:
    """Train (or resume) until ``settings.steps``, ``max_minutes`` of this run or ``stop_after`` steps of this
    run; returns the progress record.

    Writes ``<out>/autoencoder.state.pt`` every ``checkpoint_every`` steps and on stopping, the progress record
    (losses, held-out reconstruction) beside it, and on completion the weights and their manifest entry."""
    out_dir = Path(out_dir)
    state_path = out_dir / f"{STEM}.state.pt"
    ids_np, lengths_np, vocab, report = corpus_tokens(settings, cache_dir, progress)
    ids_all, len_all = torch.from_numpy(ids_np), torch.from_numpy(lengths_np)
    config = AutoencoderConfig(vocab=vocab, max_len=settings.max_len, embed_dim=settings.embed_dim,
                               hidden_dim=settings.hidden_dim, latent_dim=settings.latent_dim)
    torch.manual_seed(settings.seed)  # parameter initialisation only
    model = SelfiesVAE(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    record = {"settings": asdict(settings), "corpus": {**report, "n_tokenised": len(lengths_np)}, "step": 0,
              "minutes": 0.0, "log": [], "held_out": []}
    parts = {"model": model, "opt": opt}
    record = load_resume_state(state_path, parts, record, device)
    held_out = _held_out(eval_molecules, settings.seed)

    def checkpoint() -> None:
        save_resume_state(state_path, parts, record)

    start, minutes_before, first_step = time.time(), record["minutes"], record["step"]
    last_step = min(settings.steps, first_step + stop_after) if stop_after is not None else settings.steps
    bar = tqdm(total=settings.steps, initial=record["step"], desc="autoencoder", disable=not progress)
    model.train()
    while record["step"] < last_step and time.time() - start < max_minutes * 60:
        step = record["step"]
        idx = torch.from_numpy(batch_indices(step, len(len_all), lengths_np, settings.batch_size, settings.seed))
        lengths = len_all[idx]
        batch = ids_all[idx][:, :int(lengths.max())].long().to(device)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, settings)
        anneal = min(1.0, step / max(settings.kl_anneal * settings.steps, 1.0))
        noise = torch.Generator(device=device).manual_seed(settings.seed * 1_000_003 + step)
        loss, stats = vae_loss(model, batch, lengths, settings.kl_weight * anneal, noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        record["step"] = step + 1
        record["minutes"] = minutes_before + (time.time() - start) / 60
        bar.update(1)
        if step % 100 == 0:
            record["log"].append({"step": step, **stats})
            bar.set_postfix(ce=f"{stats['ce']:.2f}", kl=f"{stats['kl']:.0f}", acc=f"{stats['token_acc']:.4f}")
        if record["step"] % eval_every == 0:
            model.eval()
            rate = reconstruction_rate(model, held_out)
            model.train()
            record["held_out"].append({"step": record["step"], "reconstruction": rate,
                                       "minutes": record["minutes"]})
            print(f"step {record['step']}: held-out reconstruction {rate:.3f}", flush=True)
        if record["step"] % checkpoint_every == 0:
            checkpoint()
    bar.close()
    checkpoint()
    if record["step"] >= settings.steps and "final" not in record:
        model.eval()
        record["final"] = {"reconstruction_held_out": reconstruction_rate(
            model, _held_out(final_eval_molecules, settings.seed)), "held_out_molecules": final_eval_molecules}
        files = model.save(out_dir, STEM)
        record_artefact(out_dir, STEM, files, {**asdict(settings), "vocab_size": len(vocab)}, settings.command(),
                        {**record["corpus"], "minutes": record["minutes"], **record["final"],
                         "held_out_curve": record["held_out"]})
        checkpoint()
    return record
