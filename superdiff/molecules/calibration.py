"""AND's typical-path calibration stored once per campaign and method, and read back by every sampling shard.

The calibration pass of ``--and-target typical`` (:meth:`MoleculeSampler.typical_path`) depends only on the
settings in :data:`CALIBRATION_KEYS`, never on a shard's designs, so ``superdiff calibrate-molecules`` computes it
once and each ``sample-molecules --typical-path FILE`` shard reads it. The file is JSON (exact float64 round trip)
with the provenance of its run::

    {"kind": "superdiff-molecule-and-calibration", "settings": {conditions, guidance, kappa_from, seed, steps,
     calibration, latent_model, model_fingerprint}, "versions": {...}, ..., "typical_path": [[ℓ_1, ℓ_2], ...]}

A shard refuses a file whose settings differ from its own (one line: the file, the field, its value, the expected).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from superdiff.files.atomic import write_json_atomic
from superdiff.files.provenance import provenance

KIND = "superdiff-molecule-and-calibration"
#: the settings a calibration depends on, all of which a shard's own must equal
CALIBRATION_KEYS = ("conditions", "guidance", "kappa_from", "seed", "steps", "calibration", "latent_model",
                    "model_fingerprint")


class CalibrationMismatch(ValueError):
    """A calibration file computed for other settings than the run reading it."""


def calibration_settings(settings: dict[str, Any], model_fingerprint: str) -> dict[str, Any]:
    """The calibration's settings out of a ``sample-molecules`` run's settings (plus the model's fingerprint)."""
    full = {**settings, "model_fingerprint": model_fingerprint}
    return json.loads(json.dumps({key: full[key] for key in CALIBRATION_KEYS}))


def write_calibration(path: str | Path, settings: dict[str, Any], typical_path: torch.Tensor) -> None:
    """Store the ``[steps, M]`` path with its settings and provenance (atomically: a reader never sees half)."""
    record = {"kind": KIND, **provenance(settings), "typical_path": typical_path.double().tolist()}
    write_json_atomic(path, record)


def read_calibration(path: str | Path, expected: dict[str, Any]) -> torch.Tensor:
    """The ``[steps, M]`` float64 path stored in ``path`` if its settings equal ``expected``.

    Raises:
        CalibrationMismatch: not a calibration file, or a setting differs (the message names the file, the field,
            the file's value and the expected one), or the path has the wrong shape.
    """
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise CalibrationMismatch(f"{path}: cannot read the AND calibration ({err})") from None
    if not isinstance(record, dict) or record.get("kind") != KIND:
        raise CalibrationMismatch(f"{path}: not an AND calibration file (expected kind {KIND!r}; "
                                  "write one with superdiff calibrate-molecules)")
    saved = record.get("settings") or {}
    for key in CALIBRATION_KEYS:
        if saved.get(key, "<missing>") != expected[key]:
            raise CalibrationMismatch(f"{path}: calibration {key} is {json.dumps(saved.get(key, '<missing>'))}, "
                                      f"expected {json.dumps(expected[key])} (this run's setting); recompute it "
                                      "with superdiff calibrate-molecules")
    values = torch.tensor(record.get("typical_path") or [], dtype=torch.float64)
    shape = (expected["steps"], len(expected["conditions"]))
    if tuple(values.shape) != shape:
        raise CalibrationMismatch(f"{path}: typical_path has shape {tuple(values.shape)}, expected {shape}")
    return values
