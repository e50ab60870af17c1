"""Resolve a model specification to a score model: built-in experts, Python factories, verified weight files.

Specifications (strings, as a campaign names them, or dicts):

``builtin:helix`` / ``builtin:strand`` (kind ``builtin-ca``)
    The committed Cα experts (:mod:`superdiff.proteins.builtin`).
``module:factory`` or ``python:module:factory`` (kind ``python``)
    ``factory(device=..., weights=..., **kwargs)`` is imported and called; see :func:`load_python` for the contract.
``{"kind": "weights", "url": ..., "sha256": ..., "manifest": {...}}`` or ``weights:<url or path>#sha256=<hex>``
    A Cα network in this package's format (safetensors + manifest JSON) fetched with
    :func:`superdiff.files.download.fetch`.
``manifest:NAME``
    ``resources/manifests/NAME.json``: a weights spec (``url``, ``sha256``, ``kind``...) kept in the repository.

Every loaded model is a callable ``model(x [B, *shape], t [B]) -> score`` (:class:`superdiff.models.ScoreModel`).
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import torch

from superdiff.files.resources import resource_path

MANIFEST_DIR = resource_path("manifests")
KINDS = ("builtin-ca", "python", "weights")


def parse_spec(spec: str | dict) -> dict[str, Any]:
    """Normalise a string or dict specification to a dict with a ``kind`` key.

    Raises:
        ValueError: unrecognised form or kind.
    """
    if isinstance(spec, dict):
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError(f"model spec kind must be one of {KINDS}, got {kind!r} in {spec!r}")
        return dict(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"model spec must be a non-empty string or a dict, got {spec!r}")
    spec = spec.strip()
    if spec.startswith("builtin:"):
        return {"kind": "builtin-ca", "name": spec.split(":", 1)[1]}
    if spec.startswith("python:"):
        return {"kind": "python", "factory": spec.split(":", 1)[1]}
    if spec.startswith("manifest:"):
        name = spec.split(":", 1)[1]
        path = MANIFEST_DIR / f"{name}.json"
        if not path.exists():
            known = sorted(p.stem for p in MANIFEST_DIR.glob("*.json")) if MANIFEST_DIR.exists() else []
            raise KeyError(f"unknown model manifest {name!r} (no {path}); known: {known}")
        return parse_spec(json.loads(path.read_text()))
    if spec.startswith("weights:"):
        target = spec.split(":", 1)[1]
        if "#sha256=" not in target:
            raise ValueError(f"weights spec {spec!r} needs '#sha256=<hex>' after the URL or path")
        url, sha = target.rsplit("#sha256=", 1)
        return {"kind": "weights", "url": url, "sha256": sha}
    if spec.count(":") == 1 and all(part.strip() for part in spec.split(":")):
        return {"kind": "python", "factory": spec}
    raise ValueError(
        f"unrecognised model spec {spec!r}: expected 'builtin:NAME', 'module:factory', 'manifest:NAME' or "
        "'weights:<url or path>#sha256=<hex>'"
    )


def weights_fingerprint(spec: str | dict) -> str:
    """A string that changes whenever the weights behind ``spec`` change, read without loading them.

    Built-in experts: their manifest's sha256; weights specs: the sha256 they pin; Python factories: the
    factory name plus the sha256 of pinned weights, if any (code changes are not seen: bump the spec). A workflow
    puts this in a job's parameters so that new weights re-run the jobs that used the old ones.
    """
    parsed = parse_spec(spec)
    if parsed["kind"] == "builtin-ca":
        from superdiff.proteins.builtin import BUILTIN_DIR, BUILTIN_NAMES

        if parsed["name"] not in BUILTIN_NAMES:
            raise KeyError(f"unknown built-in model {parsed['name']!r}; choose one of {', '.join(BUILTIN_NAMES)}")
        return json.loads((BUILTIN_DIR / f"{parsed['name']}.json").read_text())["sha256"]
    if parsed["kind"] == "python":
        pinned = (parsed.get("weights") or {}).get("sha256")
        return f"python:{parsed['factory']}" + (f"#sha256={pinned}" if pinned else "")
    return parsed["sha256"]


def load_model(spec: str | dict, device: str | torch.device = "cpu", cache_dir: str | Path | None = None):
    """Load the score model a specification names, on ``device``.

    Raises:
        KeyError: unknown built-in or manifest name.
        ValueError: malformed spec, or a weights file that fails its checksum
            (:class:`superdiff.files.download.ChecksumError`).
        ImportError / AttributeError: a ``module:factory`` that does not exist.
    """
    parsed = parse_spec(spec)
    device = torch.device(device)
    kind = parsed["kind"]
    if kind == "builtin-ca":
        from superdiff.proteins.builtin import load_builtin

        return load_builtin(parsed["name"], device)
    if kind == "python":
        weights = None
        if parsed.get("weights"):
            weights = _fetch_weights(parsed["weights"], cache_dir)
        return load_python(parsed["factory"], device, weights, **parsed.get("kwargs", {}))
    return _load_weights_spec(parsed, device, cache_dir)


def _fetch_weights(entry: dict, cache_dir) -> Path:
    from superdiff.files.download import fetch

    source = entry.get("url") or entry.get("path")
    if not source or not entry.get("sha256"):
        raise ValueError(f"weights entry needs 'url' (or 'path') and 'sha256', got {entry!r}")
    return fetch(source, entry["sha256"], cache_dir=cache_dir)


def _load_weights_spec(parsed: dict, device: torch.device, cache_dir):
    """A Cα network in this package's format: fetch and verify the safetensors file, then build it."""
    from superdiff.files.atomic import write_json_atomic
    from superdiff.proteins.builtin import load_expert

    path = _fetch_weights(parsed, cache_dir)
    manifest_path = path.with_suffix(".json")
    if parsed.get("manifest"):
        write_json_atomic(manifest_path, {**parsed["manifest"], "sha256": parsed["sha256"]})
    elif not manifest_path.exists():
        source = str(parsed.get("url") or parsed.get("path"))
        sibling = source.rsplit(".", 1)[0] + ".json"
        try:
            from superdiff.files.download import _as_url, _copy_url

            _copy_url(_as_url(sibling), manifest_path, 30.0)
        except (OSError, ValueError) as err:
            raise FileNotFoundError(
                f"weights {source}: no model manifest given and none found at {sibling} ({err})") from err
    return load_expert(path, device, name=parsed.get("name") or path.stem, expected_sha256=parsed["sha256"],
                       inference=parsed.get("inference"))


def load_python(factory: str, device: torch.device, weights: Path | None = None, **kwargs):
    """Import ``module:factory`` and call it.

    The factory contract: ``factory(device: torch.device, weights: pathlib.Path | None = None, **kwargs)``
    returns a callable ``model(x, t) -> score`` with ``x [B, *shape]``, ``t [B]`` forward time in (0, 1] and the
    score ``∇_x log q_t(x)`` of the same shape as ``x``, for the VP schedule the campaign uses. Optional
    attributes the protein sampler honours: ``coord_scale`` (Å per model unit, default 1), ``check_length(L)``
    (raise ``ValueError`` for unsupported lengths), ``x0(x, t)`` (clean estimate, used for the final denoising).
    A factory that does not accept ``weights`` is called without it.
    """
    if factory.count(":") != 1:
        raise ValueError(f"python model spec must be 'module:factory', got {factory!r}")
    module_name, attr = factory.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise KeyError(f"model factory {factory!r}: cannot import module {module_name!r} ({err})") from err
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise KeyError(f"model factory {factory!r}: module {module_name!r} has no callable {attr!r}")
    params = inspect.signature(fn).parameters
    call_kwargs = dict(kwargs)
    if "device" in params or any(p.kind == p.VAR_KEYWORD for p in params.values()):
        call_kwargs["device"] = device
    if weights is not None:
        call_kwargs["weights"] = weights
    model = fn(**call_kwargs)
    if not callable(model):
        raise TypeError(f"model factory {factory!r} returned {type(model).__name__}, which is not callable")
    return model
