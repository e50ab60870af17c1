"""Sample molecules under composed property conditions: latent diffusion + guidance + decoding + scoring."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import superdiff.engine as engine
from superdiff.engine import seeds
from superdiff.engine.calibration import typical_and_bias
from superdiff.engine.devices import check_device
from superdiff.engine.guidance import DEFAULT_KAPPA_FROM
from superdiff.molecules import conditions
from superdiff.molecules.guidance import (
    MODEL_BATCH,
    PRODUCT_RESAMPLE_UNTIL,
    GuidedResult,
    sample_guided,
    sample_guided_product,
)
from superdiff.molecules.latent_model import (
    BUILTIN,
    branch_score,
    check_denoiser,
    check_latent_spec,
    load_latent_model,
    model_fingerprint,
    sampling_path,
)
from superdiff.molecules.predictors import PropertyPredictor
from superdiff.molecules.weights import default_weights_dir

METHODS = ("single", "average", "or", "and", "joint", "product")
#: AND's default extra target final ``log q_1 − log q_2`` (nats) on top of the ``and_target`` bias.
#: reverse-SDE steps when a campaign or the command line does not say (the one default of the molecule domain)
DEFAULT_STEPS = 200
DEFAULT_AND_LOG_RATIO = 0.0
#: what AND equalises: the conditional densities q(x | c_i) (the paper's AND), the label posteriors p(c_i | x), or
#: (default) each density relative to its model's typical level (:mod:`superdiff.engine.calibration`):
#: conditions of very different breadth put the paper's equal-density set in the narrow one's tail (docs/molecules.md).
AND_TARGETS = ("density", "posterior", "typical")
DEFAULT_AND_TARGET = "typical"
#: designs per condition in the calibration pass of ``and_target="typical"``.
DEFAULT_CALIBRATION = 256
#: keys ``sample-molecules`` records in provenance.json's settings beside the settings themselves (outcomes, not
#: inputs): never part of the comparison that decides whether a folder already holds this run
RUN_RECORD_KEYS = ("summary",)


def same_settings(provenance_path: str | os.PathLike, settings: dict) -> bool:
    """Whether ``provenance.json`` records exactly ``settings`` (ignoring :data:`RUN_RECORD_KEYS`), i.e. the
    folder already holds this run. An unreadable or foreign provenance file is never a match."""
    try:
        saved = json.loads(Path(provenance_path).read_text()).get("settings")
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(saved, dict):
        return False
    return {k: v for k, v in saved.items() if k not in RUN_RECORD_KEYS} == json.loads(json.dumps(settings))


def check_finite_result(result: GuidedResult, seeds: Sequence[int], first_index: int = 0) -> None:
    """Raise FloatingPointError naming the designs whose latents or log densities are NaN or infinite."""
    for what, values in (("latents", result.x), ("log densities", result.log_q)):
        bad = ~torch.isfinite(values.detach().reshape(values.shape[0], -1)).all(dim=1)
        if bool(bad.any()):
            rows = [first_index + int(i) for i in bad.nonzero().flatten().tolist()]
            shown = ", ".join(map(str, rows[:10])) + (" …" if len(rows) > 10 else "")
            raise FloatingPointError(f"{what} of {len(rows)} of {len(seeds)} designs are not finite (designs "
                                     f"{shown}); expected finite values: nothing was decoded or written")


def and_bias(conds: Sequence[str], label_frequency: dict[str, float], steps: int,
             and_target: str = DEFAULT_AND_TARGET,
             and_log_ratio: float = 0.0) -> list[float]:
    r"""Per-model, per-step AND bias ``ℓ_i`` (nats) so that the final ``log q^i − log q^j = b_i − b_j``.

    By Bayes, ``log q(x | c_i) = log p(x) + log p(c_i | x) − log p(c_i)``, where ``p`` is the distribution the
    models learned (the training stream). Equal densities (``"density"``, the paper's AND, ``b = 0``) therefore
    mean equal ``p(c_i | x) / p(c_i)``: with one rare label (GSK3β active) and one common (QED ≥ 0.6)
    that pins the rare label's posterior near its tiny prior. ``"posterior"`` sets
    ``b_i = −log p(c_i)`` (the labels' training frequencies, stored with the model), so AND asks for
    equal posteriors ``p(c_i | x)``: "both properties equally likely". ``and_log_ratio`` adds ``L`` to
    ``b_1`` (two conditions only). ``"typical"`` starts from ``b = 0`` here; the sampler adds the measured
    typical-level path (:meth:`MoleculeSampler.latents`).
    """
    if and_target not in AND_TARGETS:
        raise ValueError(f"and_target must be one of {AND_TARGETS}, got {and_target!r}")
    if and_log_ratio and len(conds) != 2:
        raise ValueError(f"--and-log-ratio needs exactly two conditions, got {len(conds)}")
    b = [0.0] * len(conds)
    if and_target == "posterior":
        missing = [c for c in conds if not label_frequency.get(c, 0.0) > 0]
        if missing:
            raise ValueError(f"and_target='posterior' needs the natural label frequencies of {missing} stored with "
                             "the diffusion model (retrain it, or use and_target='density')")
        b = [-float(np.log(label_frequency[c])) for c in conds]
    b[0] += float(and_log_ratio)
    return [v / steps for v in b]


def design_seeds(seed: int, num: int, first_index: int = 0) -> list[int]:
    """Seeds of designs ``first_index .. first_index + num - 1``: design i's seed depends only on (seed, i), never
    on ``num``, the batch or the shard it runs in (:mod:`superdiff.engine.seeds`)."""
    return seeds.design_seeds(seed, num, first_index)


def calibration_seeds(seed: int, num: int) -> list[int]:
    """Seeds of the calibration designs: a stream of their own, the same for every shard of a run."""
    return [seeds.derive_seed(seed, i, seeds.CALIBRATION) for i in range(num)]


def make_operator(method: str, num_conditions: int, index: int = 0, temperature: float = 1.0,
                  curvature_correction: bool = True, and_bias: Sequence[float] | None = None,
                  curvature_every: int = 1) -> engine.Operator:
    """The engine operator for ``method`` over ``num_conditions`` conditional models (joint: one model).

    ``and_bias``: AND's per-model, per-step log-ratio bias (nats), from :func:`and_bias`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method in ("average", "or", "and") and num_conditions < 2:
        raise ValueError(f"method {method!r} composes conditions: give at least two --condition, got {num_conditions}")
    if method == "single":
        if not 0 <= index < num_conditions:
            raise ValueError(f"--index {index} is out of range for {num_conditions} condition(s)")
    if method == "joint":  # one model conditioned on every label
        return engine.Single(0)
    return engine.make_operator(method, index=index, temperature=temperature,
                                   bias=list(and_bias) if method == "and" and and_bias is not None else None,
                                   curvature_correction=curvature_correction, curvature_every=curvature_every)


@dataclass
class MoleculeSampler:
    """A latent model (:mod:`superdiff.molecules.latent_model`; the built-in one unless ``latent_model`` names a
    ``module:factory``) and the property predictors, ready to sample and score. The sampler uses the latent model
    only through its contract: ``denoise`` on ``path``, ``latent_shape``, ``conditions``, ``decode``."""

    weights_dir: Path
    device: torch.device
    latent_model: str = BUILTIN

    def __post_init__(self):
        self.model = load_latent_model(self.latent_model, self.device, self.weights_dir)
        self.predictor = PropertyPredictor(self.weights_dir)

    @classmethod
    def load(cls, weights_dir: Path | None = None, device: str | torch.device = "cpu",
             latent_model: str = BUILTIN) -> MoleculeSampler:
        check_latent_spec(latent_model)
        return cls(Path(weights_dir or default_weights_dir()), check_device(device), latent_model)

    @property
    def fingerprint(self) -> str:
        """What identifies the latent model's weights (keys cached calibrations)."""
        return model_fingerprint(self.model, self.latent_model)

    def check_conditions(self, conds: Sequence[str]) -> list[str]:
        """``conds`` checked against the known labels and the latent model's conditions, and the model's
        denoiser tried once on each branch they use (before any sampling)."""
        conds = conditions.check_conditions(conds, list(self.model.conditions))
        if not conds:
            raise ValueError("give at least one --condition")
        check_denoiser(self.model, self.latent_model, conds, self.device)
        return conds

    def latents(self, conds: Sequence[str], method: str, *, index: int = 0, guidance: float = 2.0, num: int = 100,
                seed: int = 0, first_index: int = 0, steps: int = DEFAULT_STEPS, batch_size: int = 500,
                curvature_correction: bool = True, curvature_every: int = 1,
                and_log_ratio: float = DEFAULT_AND_LOG_RATIO, and_target: str = DEFAULT_AND_TARGET,
                kappa_from: str = DEFAULT_KAPPA_FROM, exponents: Sequence[float] | None = None,
                calibration: int = DEFAULT_CALIBRATION, typical_path: torch.Tensor | None = None,
                resample_until: float = PRODUCT_RESAMPLE_UNTIL,
                progress: bool = False) -> tuple[GuidedResult, list[str], list[int]]:
        """Sample latents; returns (result, names of the tracked conditional models, design seeds).

        ``typical_path``: AND's ``[steps, M]`` calibration (:meth:`typical_path`) computed once for the campaign;
        None computes it here. ``resample_until``: product only, the forward time below which its population is no
        longer resampled."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        conds = self.check_conditions(conds)
        if method != "product":  # the operator's own checks (number of conditions, index) before any work
            make_operator(method, len(conds), index, curvature_correction=curvature_correction,
                          curvature_every=curvature_every)
        if num < 1:
            raise ValueError(f"--num must be >= 1, got {num}")
        if first_index < 0:
            raise ValueError(f"--first-index must be >= 0, got {first_index}")
        seeds = design_seeds(seed, num, first_index)
        common = dict(guidance=guidance, shape=self.model.latent_shape, seeds=seeds, steps=steps,
                      batch_size=batch_size, progress=progress, device=self.device)
        uncond, path = branch_score(self.model, ()), sampling_path(self.model)
        if method == "product":
            result = sample_guided_product([branch_score(self.model, (c,)) for c in conds], uncond, path,
                                           exponents=exponents, resample_until=resample_until, **common)
            return result, list(conds), seeds
        if method == "joint":
            models, names = [branch_score(self.model, tuple(conds))], ["+".join(conds)]
        else:
            models, names = [branch_score(self.model, (c,)) for c in conds], list(conds)
        bias = (and_bias(conds, getattr(self.model, "label_frequency", None) or {}, steps, and_target,
                         and_log_ratio) if method == "and" else None)
        if method == "and" and and_target == "typical":
            if typical_path is None:
                typical_path = self.typical_path(conds, guidance=guidance, kappa_from=kappa_from, seed=seed,
                                                 steps=steps, batch_size=batch_size, calibration=calibration,
                                                 progress=progress)
            bias = (typical_path + torch.tensor(bias, dtype=torch.float64)).tolist()
        operator = make_operator(method, len(conds), index, curvature_correction=curvature_correction,
                                 and_bias=bias, curvature_every=curvature_every)
        result = sample_guided(models, uncond, path, operator, kappa_from=kappa_from, **common)
        return result, names, seeds

    def typical_path(self, conds: Sequence[str], *, guidance: float = 2.0, kappa_from: str = DEFAULT_KAPPA_FROM,
                     seed: int = 0, steps: int = DEFAULT_STEPS, batch_size: int = 500,
                     calibration: int = DEFAULT_CALIBRATION, progress: bool = False) -> torch.Tensor:
        """AND's ``[steps, M]`` float64 bias for ``and_target="typical"``: each condition's mean log-density path on
        its own guided samples (``calibration`` designs per condition, seeds of their own: the same for every
        shard of a run, so a campaign computes it once: ``superdiff calibrate-molecules``)."""
        conds = self.check_conditions(conds)
        if calibration < 2:
            raise ValueError(f"--calibration must be >= 2 designs, got {calibration}")
        models = [branch_score(self.model, (c,)) for c in conds]
        return typical_and_bias(models, sampling_path(self.model), shape=self.model.latent_shape,
                                seeds=calibration_seeds(seed, calibration), steps=steps, batch_size=batch_size,
                                guidance=engine.Guidance(branch_score(self.model, ()), guidance, kappa_from),
                                progress=progress, device=self.device, model_batch=MODEL_BATCH)

    def decode(self, x: torch.Tensor) -> list[str]:
        """Latents ``[B, *latent_shape]`` -> SMILES (the latent model's decoder)."""
        return self.model.decode(x)

    def sample(self, conds: Sequence[str], method: str, **kwargs) -> tuple[pd.DataFrame, dict]:
        """Sample, decode and score: one row per design (smiles, valid, properties, p_<target>, log_q_*, kappa_*)."""
        start = time.time()
        first = kwargs.get("first_index", 0)
        try:
            result, names, seeds = self.latents(conds, method, **kwargs)
        except FloatingPointError as err:
            last = first + kwargs.get("num", 100) - 1
            raise FloatingPointError(f"designs {first}..{last}: {err}; no molecules were produced") from err
        check_finite_result(result, seeds, first)
        t_sample = time.time() - start
        smiles = self.decode(result.x)
        t_decode = time.time() - start - t_sample
        frame = self.predictor.score_smiles(smiles, largest_fragment=False)
        frame.insert(0, "seed", seeds)
        frame.insert(0, "design", np.arange(first, first + len(seeds)))
        for j, name in enumerate(names):
            frame[f"log_q_{name}"] = result.log_q[:, j].cpu().numpy()
            frame[f"kappa_mean_{name}"] = result.kappa_mean[:, j].cpu().numpy()
        if result.and_residual is not None:
            frame["and_residual"] = result.and_residual.cpu().numpy()
        if result.log_w is not None:
            frame["log_w"] = result.log_w.cpu().numpy()
        timing = {"sample_seconds": t_sample, "decode_seconds": t_decode,
                  "score_seconds": time.time() - start - t_sample - t_decode}
        return frame, timing
