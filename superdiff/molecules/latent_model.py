"""The latent-model contract: what ``sample-molecules`` needs from a molecule generator, and its loading.

A latent model is an encoder (SMILES -> latent), a decoder (latent -> SMILES), the latent's shape, and a
conditional denoiser on a Gaussian path (:mod:`superdiff.engine.paths`) with an unconditional branch (no
condition: classifier-free style), plus the list of conditions it was trained on. The sampler talks to nothing
else: the built-in SELFIES autoencoder + latent diffusion (:class:`superdiff.molecules.loading.BuiltinLatentModel`)
is one implementation, and ``module:factory`` names any other (``sample-molecules --latent-model pkg.mod:make``).

The factory is called as ``factory(device=torch.device, **kwargs)`` (``device`` only if it takes one) and returns
an object with:

- ``latent_shape``: ``tuple[int, ...]``, one latent's shape (what the denoiser sees, e.g. ``(32,)``);
- ``conditions``: the condition names it knows (a subset of :data:`superdiff.molecules.conditions.LABELS`, which
  the predictors score);
- ``path``: the :class:`~superdiff.engine.paths.GaussianPath` its denoiser was trained on (``VPLinear()``,
  ``LinearInterpolant()``, ...); sampling runs on that path if it is variance preserving, else on
  ``VPLinear()`` with the model put on its clock (:func:`superdiff.engine.models.align`: equal log-SNR);
- ``prediction``: what ``denoise`` returns, one of :data:`PREDICTIONS` (ε, the score, the velocity
  ``α̇ x0 + σ̇ ε`` or x0), turned into a score by :mod:`superdiff.engine.models`' adapters;
- ``denoise(x [B, *latent_shape], t [B], conditions: tuple[str, ...]) -> [B, *latent_shape]``: ``()`` is the
  unconditional branch, ``(c,)`` one condition, several names the joint condition;
- ``encode(smiles: list[str]) -> Tensor [N, *latent_shape]`` (raise ``ValueError`` naming a SMILES it cannot
  encode) and ``decode(latents [N, *latent_shape]) -> list[str]`` (``""`` for a latent that decodes to nothing).

Optional: ``label_frequency`` (``{condition: natural frequency}``, for ``--and-target posterior``) and
``fingerprint`` (a string that changes with the weights; it keys cached AND calibrations).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from superdiff.engine import models as score_models
from superdiff.engine.paths import GaussianPath, VariancePreservingPath, VPLinear
from superdiff.files.factories import import_factory

#: the spec of the built-in SELFIES autoencoder + latent diffusion
BUILTIN = "builtin"
#: what a denoiser may predict -> the engine adapter that turns it into a score (None: it is the score)
PREDICTIONS = {"epsilon": score_models.from_epsilon, "velocity": score_models.from_velocity,
               "x0": score_models.from_x0, "score": None}
#: the contract's attributes, and whether each must be callable
REQUIRED = {"latent_shape": False, "conditions": False, "path": False, "prediction": False, "denoise": True,
            "encode": True, "decode": True}


@runtime_checkable
class LatentModel(Protocol):
    """What the molecule sampler uses of a generator (see the module docstring)."""

    latent_shape: tuple[int, ...]
    conditions: Sequence[str]
    path: GaussianPath
    prediction: str

    def denoise(self, x: Tensor, t: Tensor, conditions: tuple[str, ...]) -> Tensor: ...

    def encode(self, smiles: list[str]) -> Tensor: ...

    def decode(self, latents: Tensor) -> list[str]: ...


class LatentModelError(ValueError):
    """A latent model (or its spec) that breaks the contract."""


def check_latent_spec(spec: str) -> None:
    """``builtin`` or an importable ``module:factory`` (imported, not called): checked before any work."""
    if spec == BUILTIN:
        return
    if spec.count(":") != 1:
        raise ValueError(f"latent model {spec!r}: expected {BUILTIN!r} or 'module:factory'")
    import_factory(spec, spec, "latent model")


def load_latent_model(spec: str, device: torch.device, weights=None) -> LatentModel:
    """The latent model of ``spec`` on ``device``, checked against the contract (:func:`check_latent_model`).

    ``weights``: the molecule weights folder of the built-in model (ignored by factories)."""
    check_latent_spec(spec)
    if spec == BUILTIN:
        from superdiff.molecules.loading import BuiltinLatentModel

        return check_latent_model(BuiltinLatentModel.load(weights, device), spec)
    factory = import_factory(spec, spec, "latent model")
    params = inspect.signature(factory).parameters
    takes_device = "device" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
    return check_latent_model(factory(device=device) if takes_device else factory(), spec)


def check_latent_model(model, spec: str) -> LatentModel:
    """``model`` if it satisfies the contract, else :class:`LatentModelError` naming what is missing or wrong."""
    name = f"latent model {spec!r} ({type(model).__name__})"
    for attr, must_call in REQUIRED.items():
        if not hasattr(model, attr):
            raise LatentModelError(f"{name} has no attribute {attr!r}; the latent-model contract needs "
                                   f"{', '.join(REQUIRED)} (docs/molecules.md)")
        if must_call and not callable(getattr(model, attr)):
            raise LatentModelError(f"{name}: {attr!r} is not callable")
    shape = model.latent_shape
    if not (isinstance(shape, tuple) and shape and all(isinstance(n, int) and n > 0 for n in shape)):
        raise LatentModelError(f"{name}: latent_shape is {shape!r}, expected a tuple of positive ints")
    if model.prediction not in PREDICTIONS:
        raise LatentModelError(f"{name}: prediction is {model.prediction!r}, expected one of {list(PREDICTIONS)}")
    if not isinstance(model.path, GaussianPath):
        raise LatentModelError(f"{name}: path is {model.path!r}, expected a superdiff.engine.paths.GaussianPath")
    if isinstance(model.conditions, str) or not all(isinstance(c, str) for c in model.conditions):
        raise LatentModelError(f"{name}: conditions is {model.conditions!r}, expected a list of names")
    return model


def check_denoiser(model: LatentModel, spec: str, conds: Sequence[str], device: torch.device) -> None:
    """One call of the denoiser per branch the run uses (unconditional and each condition) on two latents: the
    output must be a tensor of the latents' shape (non-finite values are the engine's to name, per step). Costs
    milliseconds; runs before any sampling."""
    x = torch.zeros(2, *model.latent_shape, device=device)
    t = torch.full((2,), 0.5, device=device)
    for branch in [(), *((c,) for c in conds)]:
        with torch.no_grad():
            out = model.denoise(x, t, branch)
        if not isinstance(out, Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise LatentModelError(f"latent model {spec!r}: denoise(x {tuple(x.shape)}, t, {branch!r}) returned "
                                   f"{got}, expected a tensor of shape {tuple(x.shape)}")


class Denoiser:
    """``(x, t) -> model.denoise(x, t, required)``: one branch of a latent model as an engine network."""

    def __init__(self, model: LatentModel, required: tuple[str, ...]):
        self.model = model
        self.required = tuple(required)

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        return self.model.denoise(x, t, self.required)

    def __repr__(self) -> str:
        return f"denoiser({'+'.join(self.required) or 'unconditional'})"


def sampling_path(model: LatentModel) -> GaussianPath:
    """The path sampling runs on: the model's own if variance preserving (regular at t = 1), else ``VPLinear()``."""
    return model.path if isinstance(model.path, VariancePreservingPath) else VPLinear()


def branch_score(model: LatentModel, required: Sequence[str]):
    """The score model ``(x, t) -> ∇ log q_t(x | required)`` of one branch (``()``: unconditional) on
    :func:`sampling_path`'s clock: the engine's adapter for the model's prediction on the model's path, aligned
    to the sampling path when they differ (the identity for the built-in model)."""
    adapter = PREDICTIONS[model.prediction]
    net = Denoiser(model, tuple(required))
    score = net if adapter is None else adapter(net, model.path)
    return score_models.align(score, model.path, sampling_path(model))


def model_fingerprint(model: LatentModel, spec: str) -> str:
    """What identifies the model's weights: its ``fingerprint`` attribute, else the spec alone."""
    return str(getattr(model, "fingerprint", None) or spec)
