"""Saving and loading the built-in Cα experts (safetensors weights + a JSON manifest beside them).

``resources/weights/builtin/<name>.safetensors`` holds the EMA parameters; ``<name>.json`` holds their sha256, the
model and training configuration, the ids of the training chains and the command that reproduces them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from superdiff.engine.models import from_x0
from superdiff.engine.paths import VPLinear
from superdiff.files.atomic import atomic_path, write_json_atomic
from superdiff.files.download import ChecksumError, sha256_file
from superdiff.files.resources import resource_path
from superdiff.proteins.ca_model import COORD_SCALE, CADenoiser, CAModelConfig

BUILTIN_DIR = resource_path("weights", "builtin")
BUILTIN_NAMES = ("helix", "strand")
# Inference-time settings of the built-in experts (not part of the trained weights): 8 bond / clash-only sweeps
# after the learned projection, which pull the local-distance compromise back to 3.8 Å bonds.
BUILTIN_INFERENCE = {"polish_iters": 8}


def save_expert(model: CADenoiser, weights_path: str | os.PathLike, manifest: dict) -> dict:
    """Write ``model``'s parameters (safetensors) and the manifest ``<weights stem>.json``; return the manifest."""
    weights_path = Path(weights_path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "superdiff-ca-x0", "coord_scale_angstrom": str(COORD_SCALE)})
    manifest = {**manifest, "file": weights_path.name, "sha256": sha256_file(weights_path),
                "model_config": model.cfg.to_dict(), "coord_scale_angstrom": COORD_SCALE,
                "parametrisation": "x0", "schedule": {"kind": "VPSchedule", "beta_min": model.beta_min,
                                                      "beta_max": model.beta_max}}
    write_json_atomic(weights_path.with_suffix(".json"), manifest)
    return manifest


class CAExpert:
    """A built-in expert as a score model on scaled, centred coordinates.

    ``__call__(x [B, L, 3], t [B]) -> score [B, L, 3]`` (model units: Å / ``coord_scale``), from the x̂0 network
    via ``s = −(x − α_t x̂0) / σ_t²``. Attributes ``coord_scale``, ``min_length``, ``max_length``, ``name``,
    ``denoiser`` (the network), ``manifest``.
    """

    def __init__(self, denoiser: CADenoiser, name: str, manifest: dict | None = None):
        self.denoiser = denoiser
        self.name = name
        self.manifest = manifest or {}
        self.schedule = VPLinear(denoiser.beta_min, denoiser.beta_max)
        self._score = from_x0(denoiser, self.schedule)
        self.coord_scale = COORD_SCALE
        self.min_length = denoiser.cfg.min_length
        self.max_length = denoiser.cfg.max_length

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._score(x, t)

    def x0(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The network's clean-structure estimate x̂0 ``[B, L, 3]`` (model units)."""
        return self.denoiser(x, t)

    def check_length(self, length: int) -> None:
        if not self.min_length <= length <= self.max_length:
            raise ValueError(f"length {length} is outside what model {self.name!r} supports "
                             f"({self.min_length}-{self.max_length} residues)")

    def __repr__(self) -> str:
        return f"CAExpert({self.name!r})"


def load_expert(weights_path: str | os.PathLike, device: str | torch.device = "cpu", name: str | None = None,
                expected_sha256: str | None = None, inference: dict | None = None,
                manifest: dict | None = None) -> CAExpert:
    """Load a Cα expert from a safetensors file and its manifest (verified against its sha256).

    ``manifest``: the manifest as a dict (e.g. fetched by the registry); default: the ``.json`` file beside the
    weights. ``inference`` overrides inference-time fields of the model configuration (e.g. ``polish_iters``).

    Raises:
        FileNotFoundError: the weights or manifest file is missing.
        ValueError: the weights' sha256 differs from the manifest's (or ``expected_sha256``); a manifest that is
            not JSON or has no ``model_config``.
    """
    weights_path = Path(weights_path)
    manifest_path = weights_path.with_suffix(".json")
    if not weights_path.exists():
        raise FileNotFoundError(f"weights file not found: {weights_path}")
    if manifest is None:
        manifest = _read_manifest_file(manifest_path)
    else:
        manifest_path = Path(f"{weights_path} (manifest given by the model spec)")
    expected = expected_sha256 or manifest.get("sha256")
    actual = sha256_file(weights_path)
    if expected and actual != expected:
        raise ChecksumError(str(weights_path), expected, actual)
    try:
        check_manifest(manifest)
    except ValueError as err:
        raise ValueError(f"manifest {manifest_path}: {err}") from err
    schedule = manifest.get("schedule", {})
    config = {**manifest["model_config"], **(inference or {})}
    denoiser = CADenoiser(CAModelConfig(**config), schedule.get("beta_min", 0.1),
                          schedule.get("beta_max", 20.0))
    denoiser.load_state_dict(load_file(str(weights_path)))
    denoiser = denoiser.to(device).eval().requires_grad_(False)
    return CAExpert(denoiser, name or weights_path.stem, manifest)


def check_manifest(manifest: dict) -> None:
    """Raise ValueError unless ``manifest`` can build a Cα expert (a ``model_config`` this version accepts)."""
    config = manifest.get("model_config")
    if not isinstance(config, dict):
        raise ValueError("no 'model_config' object; expected the manifest written by superdiff train-backbone")
    try:
        CAModelConfig(**config)
    except TypeError as err:
        raise ValueError(f"model_config does not fit this version's Cα network ({err})") from err


def _read_manifest_file(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"manifest not found beside the weights: {path}")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"manifest {path} is not valid JSON ({err}); expected the manifest written by "
                         "superdiff train-backbone") from err
    if not isinstance(manifest, dict):
        raise ValueError(f"manifest {path} holds a JSON {type(manifest).__name__}; expected an object")
    return manifest


def load_builtin(name: str, device: str | torch.device = "cpu") -> CAExpert:
    """``helix`` or ``strand``: the committed built-in experts."""
    if name not in BUILTIN_NAMES:
        raise KeyError(f"unknown built-in model {name!r}; choose one of {', '.join(BUILTIN_NAMES)}")
    return load_expert(BUILTIN_DIR / f"{name}.safetensors", device, name=f"builtin:{name}",
                       inference=BUILTIN_INFERENCE)
