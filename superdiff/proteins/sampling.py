"""Sampling Cα backbones from one model or a SuperDiff composition, one PDB per design, resumable.

Design seeds: design ``index`` of length ``L`` in a run with base seed ``S`` uses
``design_seed(S, L, index) = derive_seed(S, L, index)`` (:mod:`superdiff.engine.seeds`), so a
design's coordinates depend only on ``(S, L, index)`` and the settings, never on the batch it ran in.

Coordinates: the models work in scaled, centred coordinates (``coord_scale`` Å per unit, 10 for the built-in
experts); the engine samples in :class:`~superdiff.engine.spaces.CentredCoordinates` from ``t = 1`` to ``t_min`` and the
returned trace is denoised once, ``x̂0 = (x + σ² u) / α`` at ``t_min`` (Tweedie), with ``u`` the operator's final
combination (Single: that model; Average and AND: the mean score; OR: the final softmax weights), then converted
to Å. The reported log densities (nats, in the centred model space) are those of ``x`` at ``t_min``.

Frame models (``frames = True``, e.g. ``builtin:helix_frames``) are sampled in
:class:`~superdiff.engine.frames.Frames` (states ``[B, L, 4, 3]``) on their own ``FramePath``, denoised once by
:func:`denoise_frames`, and written as full N, CA, C, O backbones
(:func:`~superdiff.proteins.frames_backbone.atoms_from_frames`). Cα and frame models cannot be composed together.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

import superdiff.engine as engine
from superdiff.engine import so3
from superdiff.engine.frames import Frames, split
from superdiff.engine.operators import or_weights
from superdiff.engine.seeds import derive_seed
from superdiff.files.atomic import write_json_atomic, write_parquet_atomic
from superdiff.proteins.frames_backbone import atoms_from_frames
from superdiff.proteins.shard_files import TRACED_DESIGNS, TRACES, design_id
from superdiff.proteins.structure import write_backbone_pdb, write_ca_pdb

METHODS = engine.OPERATOR_NAMES


#: reverse-SDE steps when a campaign or the command line does not say (the one default of the protein domain)
DEFAULT_STEPS = 200
#: products of backbone experts stop resampling below this forward time (see Product's resample_until)
PRODUCT_RESAMPLE_UNTIL = 0.1
#: networks see fixed micro-batches of this many designs, so a design is bit-identical in any batch or shard
MODEL_BATCH = 8


def design_seed(seed: int, length: int, index: int) -> int:
    """The per-design seed ``derive_seed(seed, length, index)`` (:mod:`superdiff.engine.seeds`)."""
    return derive_seed(seed, length, index)


@dataclass(frozen=True)
class SamplingRequest:
    """What ``superdiff sample-backbones`` asks for."""

    models: tuple[str, ...]
    method: str = "single"
    index: int = 0
    temperature: float = 1.0
    bias: tuple[float, ...] | None = None
    weights: tuple[float, ...] | None = None  # product: exponents c_i (default all 1)
    resample: bool = True  # product: SMC resampling within each batch of designs
    # product: no resampling below this t (late resampling on backbones keeps one ancestor: docs/models.md)
    resample_until: float = PRODUCT_RESAMPLE_UNTIL
    curvature_every: int = 1  # and: the curvature term every k-th step, extrapolated between (1: exact)
    lengths: tuple[int, ...] = (64,)
    num: int = 1
    first_index: int = 0  # designs are numbered first_index .. first_index + num - 1 (global across shards)
    seed: int = 0
    steps: int = DEFAULT_STEPS
    t_min: float = 5e-3
    batch_size: int = 16
    denoise: bool = True
    noise_scale: float = 1.0
    #: w: the drift follows w × the composed score (sharpening, lower temperature; 1: exact; the log densities stay
    #: exact either way); product multiplies its exponents by w instead (then exact via SMC)
    sharpen: float = 1.0

    def validate(self) -> None:
        if not self.models:
            raise ValueError("models: give at least one --model")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method not in ("single", "product") and len(self.models) < 2:
            raise ValueError(f"method {self.method!r} needs at least 2 models, got {len(self.models)}")
        if not 0 <= self.index < len(self.models):
            raise ValueError(f"index {self.index} is out of range for {len(self.models)} models")
        if self.num < 1:
            raise ValueError(f"num must be >= 1, got {self.num}")
        if self.first_index < 0:
            raise ValueError(f"first_index must be >= 0, got {self.first_index}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 <= self.noise_scale <= 1.0:
            raise ValueError(f"noise_scale must lie in [0, 1], got {self.noise_scale}")
        if not (math.isfinite(self.sharpen) and self.sharpen > 0):
            raise ValueError(f"sharpen must be a finite number > 0 (1: no sharpening), got {self.sharpen}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.curvature_every < 1:
            raise ValueError(f"curvature_every must be >= 1 (1: the curvature term on every step), got "
                             f"{self.curvature_every}")
        for length in self.lengths:
            if length < 4:
                raise ValueError(f"length must be >= 4 residues, got {length}")

    def settings(self) -> dict:
        """The settings a resumed run must share (lengths, num and the index range may change)."""
        d = asdict(self)
        d.pop("lengths")
        d.pop("num")
        d.pop("first_index")
        d.pop("batch_size")
        d["models"] = list(self.models)
        d["bias"] = None if self.bias is None else list(self.bias)
        d["weights"] = None if self.weights is None else list(self.weights)
        return d


def make_operator(request: SamplingRequest) -> engine.Operator:
    """The engine operator for ``request.method`` (one AND bias value is the per-step log-ratio bias)."""
    bias = list(request.bias) if request.bias else None
    if request.method == "and" and bias is not None and len(bias) == 1:
        bias = bias[0]
    weights = None
    if request.method == "product" and (request.weights or request.sharpen != 1.0):
        # sharpening a product is the product with every exponent times w (exact, unlike a drift scale under SMC)
        weights = [request.sharpen * c for c in (request.weights or [1.0] * len(request.models))]
    return engine.make_operator(request.method, index=request.index, temperature=request.temperature, bias=bias,
                                weights=weights, resample=request.resample, resample_until=request.resample_until,
                                curvature_every=request.curvature_every)


def sharpening(request: SamplingRequest) -> engine.Guidance | None:
    """The engine's sharpening (guidance against a flat density, :class:`~superdiff.engine.guidance.Guidance`) for
    ``request.sharpen`` (None when 1, and for ``product``, which takes it in its exponents)."""
    if request.sharpen == 1.0 or request.method == "product":
        return None
    return engine.Guidance(None, request.sharpen)


def _final_weights(request: SamplingRequest, log_q: torch.Tensor) -> torch.Tensor:
    """Weights ``[B, M]`` of the final denoising combination (see the module docstring)."""
    b, m = log_q.shape
    if request.method == "single":
        w = torch.zeros(b, m, dtype=torch.float64)
        w[:, request.index] = 1.0
        return w
    if request.method == "or":
        bias = torch.tensor(request.bias if request.bias else [0.0] * m, dtype=torch.float64)
        return or_weights(log_q.cpu(), request.temperature, bias)
    if request.method == "product":
        # Tweedie needs the score of a diffused distribution; Π q_i^{c_i} is not one, and Σ c_i s_i would
        # extrapolate x̂0 (2 x̂0 − x / α for a product of two). Average the experts' x̂0 with weights c / Σc.
        c = torch.tensor(request.weights if request.weights else [1.0] * m, dtype=torch.float64)
        return (c / c.sum() if c.sum() > 0 else c).expand(b, m).clone()
    return torch.full((b, m), 1.0 / m, dtype=torch.float64)


def _combined_score(models: Sequence, weights: torch.Tensor, x: torch.Tensor, t: float) -> torch.Tensor:
    """``Σ_i w_i s_i(x, t)`` at the end of the path (``weights [B, M]``), on the networks' fixed micro-batches."""
    tb = torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        scores = torch.stack([engine.sampler.call_in_micro_batches(m, x, tb, MODEL_BATCH) for m in models], dim=1)
    return (weights.to(scores)[:, :, None, None] * scores).sum(1)


def denoise(models: Sequence, weights: torch.Tensor, x: torch.Tensor, t: float,
            schedule: engine.GaussianPath) -> torch.Tensor:
    """Tweedie ``x̂0 = (x + σ_t² Σ_i w_i s_i(x, t)) / α_t``; ``x [B, L, 3]``, ``weights [B, M]``."""
    u = _combined_score(models, weights, x, t)
    u = u - u.mean(dim=1, keepdim=True)
    alpha, sigma = float(schedule.alpha(t)), float(schedule.sigma(t))
    return (x + sigma**2 * u) / alpha


def _coord_scale(models: Sequence) -> float:
    scales = {float(getattr(m, "coord_scale", 1.0)) for m in models}
    if len(scales) != 1:
        raise ValueError(f"models use different coordinate scales {sorted(scales)} (Å per unit); they must agree")
    return scales.pop()


def check_lengths(models: Sequence, specs: Sequence[str], lengths: Sequence[int]) -> None:
    """Raise ValueError for a length some model does not support (before anything is sampled)."""
    for model, spec in zip(models, specs, strict=True):
        check = getattr(model, "check_length", None)
        for length in lengths:
            if check is not None:
                try:
                    check(length)
                except ValueError as err:
                    raise ValueError(f"--length {length}: model {spec}: {err}") from err


def frame_models(models: Sequence) -> bool:
    """True when every model is a frame model (``frames`` attribute), False when none is; else ValueError."""
    kinds = {bool(getattr(m, "frames", False)) for m in models}
    if len(kinds) != 1:
        raise ValueError("cannot compose frame models (full-backbone N, CA, C, O frames, e.g. builtin:helix_frames) "
                         "with Cα models (e.g. builtin:helix); choose models of one kind")
    return kinds.pop()


def shared_frame_path(models: Sequence):
    """The one :class:`~superdiff.engine.frames.FramePath` all frame models were trained on, else ValueError."""
    paths = [m.path for m in models]
    if any(p != paths[0] for p in paths[1:]):
        raise ValueError(f"frame models trained on different paths {paths}; they must share one FramePath")
    return paths[0]


def denoise_frames(models: Sequence, weights: torch.Tensor, x: torch.Tensor, t: float, path) -> torch.Tensor:
    """One denoising step of frames ``x [B, L, 4, 3]``: Tweedie on the translations, ``x̂0 = (x + σ_t² u) / α_t``,
    and its SO(3) analogue ``R̂0 = R · Exp(σ_R(t)² u_R)`` on the rotations (exact to first order in the angle; for one
    clean-frame model it returns the predicted frames), with ``u = Σ_i w_i s_i(x, t)`` (``weights [B, M]``)."""
    u = _combined_score(models, weights, x, t)  # [B, L, 6]
    trans, rots = split(x)
    u_trans = u[..., :3] - u[..., :3].mean(dim=1, keepdim=True)
    alpha, sigma = float(path.translations.alpha(t)), float(path.translations.sigma(t))
    trans = (trans + sigma**2 * u_trans) / alpha
    rots = rots @ so3.exp(float(path.rotations.variance(t)) * u[..., 3:]).to(rots.dtype)
    return torch.cat([trans[..., None, :], rots], dim=-2)


def followed_models(models: Sequence, method: str, index: int) -> list:
    """The models a method's designs follow: ``single`` the one at ``index``, every other operator all of them (the
    polish takes its step count from these)."""
    return [models[index]] if method == "single" else list(models)


def polish_steps(models: Sequence) -> int:
    """The polish's Adam steps for designs that follow ``models``: the largest ``polish_iters`` (0: not polished)."""
    return max(int(getattr(m, "polish_iters", 0)) for m in models)


def frame_atoms(models: Sequence, x: torch.Tensor) -> np.ndarray:
    """Backbone atoms ``[B, L, 4, 3]`` (Å) of frame states ``x``, polished
    (:func:`~superdiff.proteins.frame_polish.polish_frames`, :func:`polish_steps` steps, 0: off, with the default
    :class:`~superdiff.proteins.frame_polish.PolishSettings`)."""
    from superdiff.proteins.frame_polish import PolishSettings, polish_frames

    trans, rots = split(x.detach().cpu().double())
    trans = (trans - trans.mean(dim=1, keepdim=True)) * _coord_scale(models)
    iters, settings = polish_steps(models), PolishSettings()
    if iters:  # fixed-shape micro-batches (padded with copies), as the networks: bit-identical in any batch
        def polish(xb: torch.Tensor, _t: torch.Tensor) -> torch.Tensor:
            polished = polish_frames(*split(xb), iters, settings)
            return torch.cat([p[..., None, :] if p.dim() == 3 else p for p in polished], -2)

        trans, rots = split(engine.sampler.call_in_micro_batches(
            polish, torch.cat([trans[..., None, :], rots], dim=-2), torch.zeros(trans.shape[0]), MODEL_BATCH))
    return atoms_from_frames(trans, rots).numpy()


def sample_length(models: Sequence, request: SamplingRequest, length: int, indices: Sequence[int],
                  device: torch.device, schedule: engine.GaussianPath | None = None,
                  progress: bool = False) -> dict:
    """Sample the designs ``indices`` of one length in one engine call.

    Returns a dict with ``ca`` (``[B, L, 3]`` numpy, Å), for frame models also ``atoms`` (``[B, L, 4, 3]``, N, CA,
    C, O in Å), ``log_q`` (``[B, M]``), ``kappa_mean`` and ``kappa_final`` (``[B, M]``), ``seeds`` (``[B]``), the
    grid ``t`` (``[steps + 1]``) and, for ``product``, ``log_w`` (``[B]``, final importance log weights) and ``ess``
    (``[steps]``, the population's effective sample size per step), ``ess_threshold`` (the operator's). Frame
    models sample in :class:`~superdiff.engine.frames.Frames` on their own path (``schedule`` is ignored). With
    ``product`` and resampling the designs of one call form one SMC population, so a design depends on the others in
    its batch (inherent to resampling; ``resample=False`` keeps designs independent).
    """
    frames = frame_models(models)
    if frames:
        schedule, space, shape = shared_frame_path(models), Frames(), (length, 4, 3)
    else:
        schedule, space, shape = schedule or engine.VPLinear(), engine.CentredCoordinates(), (length, 3)
    seeds = [design_seed(request.seed, length, i) for i in indices]
    operator = make_operator(request)
    result = engine.sample(
        list(models), schedule, operator, shape=shape, steps=request.steps, t_min=request.t_min,
        seeds=seeds, space=space, record=True, progress=progress, device=device, model_batch=MODEL_BATCH,
        noise_scale=request.noise_scale, guidance=sharpening(request),
    )
    x, out = result.x, {}
    if request.denoise:
        weights = _final_weights(request, result.log_q)
        x = (denoise_frames if frames else denoise)(models, weights, x, request.t_min, schedule)
    engine.sampler.check_finite("denoised coordinates", x)
    if frames:
        out["atoms"] = frame_atoms(followed_models(models, request.method, request.index), x)
        out["ca"] = out["atoms"][:, :, 1]
    else:
        out["ca"] = (x - x.mean(dim=1, keepdim=True)).detach().cpu().double().numpy() * _coord_scale(models)
    kappa = result.kappa.cpu()
    log_w = None if result.log_w is None else result.log_w.cpu().numpy()
    return {**out, "log_q": result.log_q.cpu().numpy(), "kappa_mean": kappa.mean(0).numpy(),
            "kappa_final": kappa[-1].numpy(), "seeds": seeds, "log_w": log_w,
            "ess": None if result.ess is None else result.ess.cpu().numpy(), "t": result.t.numpy(),
            "ess_threshold": operator.ess_threshold,
            "kappa_path": kappa.numpy(), "log_q_path": result.log_q_path.cpu().numpy()}


def _design_rows(request: SamplingRequest, length: int, chunk: Sequence[int], res: dict, m: int) -> list[dict]:
    """One ``designs.parquet`` row per design of a batch: ids, seed, log densities, weights κ, importance weight."""
    rows = []
    for k, i in enumerate(chunk):
        did = design_id(length, i)
        row = {"design_id": did, "length": length, "index": i, "method": request.method,
               "seed": res["seeds"][k], "pdb": f"{did}.pdb"}
        for j in range(m):
            row[f"log_q_{j}"] = float(res["log_q"][k, j])
            row[f"kappa_mean_{j}"] = float(res["kappa_mean"][k, j])
            row[f"kappa_final_{j}"] = float(res["kappa_final"][k, j])
        if res["log_w"] is not None:
            row["log_w"] = float(res["log_w"][k])
            row["ess_min"] = float(res["ess"].min())
        rows.append(row)
    return rows


def trace_rows(length: int, chunk: Sequence[int], res: dict, first_index: int) -> pd.DataFrame:
    """The κ and log-density paths of the batch's designs among the first :data:`TRACED_DESIGNS` of the run, one
    row per (design, step, model): ``length``, ``design`` (index), ``seed``, ``step`` (0 = t = 1), ``t`` (forward
    time), ``model``, ``kappa`` (the model's weight in the step leaving ``t``; NaN at the last time) and ``log_q``
    (nats, the model's estimated log density of the state)."""
    traced = [k for k, i in enumerate(chunk) if i < first_index + TRACED_DESIGNS]
    log_q = res["log_q_path"][:, traced]  # [S+1, b, M]
    kappa = np.concatenate([res["kappa_path"][:, traced], np.full((1, *log_q.shape[1:]), np.nan)])
    step, design, model = np.meshgrid(np.arange(log_q.shape[0]), np.arange(len(traced)), np.arange(log_q.shape[2]),
                                      indexing="ij")
    design = design.ravel()
    return pd.DataFrame({
        "length": length, "design": np.asarray(chunk)[traced][design], "seed": np.asarray(res["seeds"])[traced][design],
        "step": step.ravel(), "t": res["t"][step.ravel()], "model": model.ravel(), "kappa": kappa.ravel(),
        "log_q": log_q.ravel()})


def _merge_rows(path: Path, new: pd.DataFrame, keys: list[str], order: list[str]) -> None:
    """Write ``new`` into the table at ``path`` (atomic): rows of the same ``keys`` as a new row are replaced (a
    rerun of a batch), the others kept; sorted by ``order``."""
    if path.exists():
        old = pd.read_parquet(path)
        new = pd.concat([old[~old.set_index(keys).index.isin(new.set_index(keys).index)], new])
    write_parquet_atomic(path, new.sort_values(order).reset_index(drop=True))


def _traced(out: Path) -> set[tuple[int, int]]:
    """``(length, index)`` of the designs whose paths ``out/trajectories.parquet`` holds."""
    path = out / TRACES
    if not path.exists():
        return set()
    frame = pd.read_parquet(path, columns=["length", "design"]).drop_duplicates()
    return set(zip(frame["length"].astype(int), frame["design"].astype(int), strict=True))


def _record_ess(path: Path, length: int, population: int, res: dict, request: SamplingRequest) -> None:
    """Append one population's effective sample size per step to ``ess.parquet`` (atomic; a rerun replaces it), with
    the resampling it ran under (``ess_threshold``: fraction of the population; ``resample_until``: t)."""
    steps = len(res["ess"])
    new = pd.DataFrame({"length": length, "population": population, "step": np.arange(steps),
                        "t": res["t"][1:], "ess": res["ess"], "size": len(res["seeds"]),
                        "ess_threshold": res["ess_threshold"],
                        "resample_until": request.resample_until})
    _merge_rows(path, new, ["length", "population"], ["length", "population", "step"])


def sample_backbones(request: SamplingRequest, out: str | os.PathLike, device: str | torch.device = "cpu",
                     models: Sequence | None = None, progress: bool = True) -> pd.DataFrame:
    """Sample designs ``first_index .. first_index + num - 1`` of each length into ``out`` (PDBs,
    ``designs.parquet``, ``provenance.json``, and :data:`TRACES`: the κ and log-density paths of the first
    :data:`TRACED_DESIGNS` designs of each length, :func:`trace_rows`). A design's id and seed depend only on
    (seed, length, index), so splitting a range into shards of any size gives the same designs.

    Everything that can be refused (settings, device, models, lengths, the operator for these models) is checked
    before anything is written, so a rejected run leaves nothing that would refuse its corrected rerun. Resumable:
    designs whose PDB exists and whose row is in ``designs.parquet`` are skipped; every batch's PDBs and the
    updated table are written atomically before the next batch starts, under the folder's lock
    (:mod:`superdiff.files.lock`). ``models`` (already loaded) overrides loading ``request.models``.

    Raises:
        ValueError: bad settings, an unusable device, an unsupported length, or an output folder holding designs
            made with different settings.
        FloatingPointError: a batch produced non-finite coordinates or log densities (nothing of it is written).
        superdiff.files.lock.FolderLockedError: another process is writing into ``out``.
    """
    from superdiff.engine.devices import check_device
    from superdiff.files.lock import folder_lock
    from superdiff.proteins.registry import load_model

    request.validate()
    device = check_device(device)
    if models is None:
        models = [load_model(spec, device) for spec in request.models]
    check_lengths(models, request.models, request.lengths)
    if frame_models(models):
        shared_frame_path(models)
    try:  # what the engine would refuse at its first step, after provenance and folders were written
        make_operator(request).validate(len(models))
    except ValueError as err:
        raise ValueError(f"--method {request.method} with {len(models)} models: {err}") from err
    _coord_scale(models)
    out = Path(out)
    with folder_lock(out):
        frame = _claim_folder(out, request, device, polish_record(followed_models(models, request.method,
                                                                                  request.index)))
        return _sample_missing(models, request, out, device, frame, progress)


def polish_record(models: Sequence) -> dict | None:
    """What the designs that follow ``models`` are polished with (for their provenance): the step count and every
    weight of :class:`~superdiff.proteins.frame_polish.PolishSettings`; ``None`` when they are not polished."""
    iters = polish_steps(models)
    if not (frame_models(models) and iters):
        return None
    from superdiff.proteins.frame_polish import PolishSettings

    return {"iters": iters, **PolishSettings().to_dict()}


def _claim_folder(out: Path, request: SamplingRequest, device: torch.device, polish: dict | None) -> pd.DataFrame:
    """Refuse a folder holding designs of other settings; write this run's provenance; return the designs table.

    A provenance file with no designs beside it (a run that failed before its first batch) does not bind the folder.
    """
    import json

    from superdiff.files.provenance import provenance

    prov_path, table_path = out / "provenance.json", out / "designs.parquet"
    frame = pd.read_parquet(table_path) if table_path.exists() else pd.DataFrame()
    if prov_path.exists() and len(frame):
        previous = json.loads(prov_path.read_text()).get("settings", {}).get("request")
        if previous is not None and previous != request.settings():
            changed = sorted(k for k in set(previous) | set(request.settings())
                             if previous.get(k) != request.settings().get(k))
            raise ValueError(f"{out} holds {len(frame)} designs made with different settings ({', '.join(changed)}: "
                             f"{ {k: previous.get(k) for k in changed} }); expected the same settings to resume, "
                             f"or a new --out for { {k: request.settings().get(k) for k in changed} }")
    write_json_atomic(prov_path, provenance({"request": request.settings(), "lengths": list(request.lengths),
                                             "num": request.num, "first_index": request.first_index,
                                             "device": str(device), "polish": polish}))
    return frame


def _sample_missing(models: Sequence, request: SamplingRequest, out: Path, device: torch.device,
                    frame: pd.DataFrame, progress: bool) -> pd.DataFrame:
    """Sample every design of ``request`` not yet in ``out``, batch by batch, each batch written atomically."""
    done = set(frame["design_id"]) if len(frame) else set()
    indices = range(request.first_index, request.first_index + request.num)
    traced = _traced(out)  # a traced design whose paths were lost is sampled again (same seed, same design)
    todo = [(length, i) for length in request.lengths for i in indices
            if not (design_id(length, i) in done and (out / f"{design_id(length, i)}.pdb").exists()
                    and (i >= request.first_index + TRACED_DESIGNS or (length, i) in traced))]
    # a context manager: the bar ends its line before an error propagates, so the error is a line of its own
    with tqdm(total=len(todo), desc=f"sample-backbones ({request.method})", disable=not progress) as bar:
        for length in request.lengths:
            pending = [i for (ln, i) in todo if ln == length]
            for start in range(0, len(pending), request.batch_size):
                chunk = pending[start : start + request.batch_size]
                frame = _sample_batch(models, request, out, device, frame, length, chunk)
                bar.update(len(chunk))
    return frame


def _sample_batch(models: Sequence, request: SamplingRequest, out: Path, device: torch.device, frame: pd.DataFrame,
                  length: int, chunk: list[int]) -> pd.DataFrame:
    """Sample one batch; write its PDBs and the updated designs table atomically; return the table."""
    try:
        res = sample_length(models, request, length, chunk, device)
    except FloatingPointError as err:
        raise FloatingPointError(
            f"designs {design_id(length, chunk[0])}..{design_id(length, chunk[-1])}: {err}; nothing of this "
            f"batch was written ({len(frame)} earlier designs in {out} are kept)") from err
    for k, i in enumerate(chunk):
        if "atoms" in res:
            write_backbone_pdb(out / f"{design_id(length, i)}.pdb", res["atoms"][k])
        else:
            write_ca_pdb(out / f"{design_id(length, i)}.pdb", res["ca"][k])
    if res["ess"] is not None:
        _record_ess(out / "ess.parquet", length, chunk[0], res, request)
    traces = trace_rows(length, chunk, res, request.first_index)
    if len(traces):  # a traced design sampled again replaces its rows
        _merge_rows(out / TRACES, traces, ["length", "design"], ["length", "design", "step", "model"])
    new = pd.DataFrame(_design_rows(request, length, chunk, res, len(models)))
    if len(frame):
        frame = frame[~frame["design_id"].isin(new["design_id"])]
        frame = pd.concat([frame, new], ignore_index=True)
    else:
        frame = new
    frame = frame.sort_values(["length", "index"]).reset_index(drop=True)
    write_parquet_atomic(out / "designs.parquet", frame)
    return frame
