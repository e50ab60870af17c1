"""Resolve a model specification to a score model: built-in experts, Python factories, verified weight files.

Specifications (strings, as a campaign names them, or dicts):

``builtin:helix`` / ``builtin:strand`` (kind ``builtin-ca``)
    The committed Cα experts (:mod:`superdiff.proteins.builtin`).
``builtin:helix_frames`` / ``builtin:strand_frames`` (kind ``builtin-ca``, the same spelling)
    The committed full-backbone frame experts (:mod:`superdiff.proteins.frame_experts`).
``module:factory`` or ``python:module:factory`` (kind ``python``)
    ``factory(device=..., weights=..., **kwargs)`` is imported and called; see :func:`load_python` for the contract.
``{"kind": "weights", "url": ..., "sha256": ..., "manifest": {...}}`` or ``weights:<url or path>#sha256=<hex>``
    A Cα network in this package's format (safetensors + manifest JSON) fetched with
    :func:`superdiff.files.download.fetch`. Without an inline ``manifest`` the manifest is fetched from
    ``manifest_url`` (default: the weights' URL with ``.json``) by :func:`superdiff.files.download.fetch_manifest`:
    atomically, parsed and checked before it is cached, keyed by the weights' hash and the manifest's URL.
    Pin its bytes with ``manifest_sha256`` (dict) or ``weights:<url>#sha256=<hex>&manifest_sha256=<hex>``.
``manifest:NAME``
    ``resources/manifests/NAME.json``: a weights spec (``url``, ``sha256``, ``kind``...) kept in the repository.
    ``NAME`` is a plain file name (letters, digits, ``-``, ``_``, ``.``), never a path.

Every loaded model is a callable ``model(x [B, *shape], t [B]) -> score`` (:class:`superdiff.models.ScoreModel`).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import torch

from superdiff.engine.devices import check_device
from superdiff.files.factories import import_factory
from superdiff.files.resources import resource_path

MANIFEST_DIR = resource_path("manifests")
KINDS = ("builtin-ca", "python", "weights")
#: a ``manifest:NAME`` name: one plain file name inside resources/manifests, never a path
MANIFEST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: keys a ``weights:<url>#key=value&key=value`` fragment may set
WEIGHTS_FRAGMENT_KEYS = ("sha256", "manifest_sha256")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def parse_spec(spec: str | dict) -> dict[str, Any]:
    """Normalise a string or dict specification to a dict with a ``kind`` key.

    Raises:
        ValueError: unrecognised form or kind.
    """
    if isinstance(spec, dict):
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError(f"model spec kind must be one of {KINDS}, got {kind!r} in {spec!r}")
        if kind == "weights":
            _check_hashes(spec, str(spec.get("url") or spec.get("path")))
        return dict(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"model spec must be a non-empty string or a dict, got {spec!r}")
    spec = spec.strip()
    if spec.startswith("builtin:"):
        return {"kind": "builtin-ca", "name": spec.split(":", 1)[1]}
    if spec.startswith("python:"):
        return {"kind": "python", "factory": spec.split(":", 1)[1]}
    if spec.startswith("manifest:"):
        return parse_spec(read_repository_manifest(spec.split(":", 1)[1]))
    if spec.startswith("weights:"):
        return _parse_weights_string(spec)
    if spec.count(":") == 1 and all(part.strip() for part in spec.split(":")):
        return {"kind": "python", "factory": spec}
    raise ValueError(
        f"unrecognised model spec {spec!r}: expected 'builtin:NAME', 'module:factory', 'manifest:NAME' or "
        "'weights:<url or path>#sha256=<hex>'"
    )


def _parse_weights_string(spec: str) -> dict[str, Any]:
    """``weights:<url or path>#sha256=<hex>[&manifest_sha256=<hex>]`` -> a weights spec dict."""
    target = spec.split(":", 1)[1]
    if "#sha256=" not in target:
        raise ValueError(f"weights spec {spec!r} needs '#sha256=<hex>' after the URL or path")
    url, fragment = target.rsplit("#", 1)
    out: dict[str, Any] = {"kind": "weights", "url": url}
    for item in fragment.split("&"):
        key, _, value = item.partition("=")
        if key not in WEIGHTS_FRAGMENT_KEYS or not value:
            raise ValueError(f"weights spec {spec!r}: unknown or empty '{item}' after '#'; expected "
                             "'sha256=<hex>' and optionally '&manifest_sha256=<hex>'")
        out[key] = value
    _check_hashes(out, url)
    return out


def _check_hashes(spec: dict, source: str) -> None:
    """A weights spec's ``sha256`` (required) and ``manifest_sha256`` (optional) are 64 hex digits."""
    for key in WEIGHTS_FRAGMENT_KEYS:
        value = spec.get(key)
        if value is None and key == "manifest_sha256":
            continue
        if not isinstance(value, str) or not _HEX64.fullmatch(value.strip()):
            raise ValueError(f"weights spec for {source}: {key} must be 64 hexadecimal characters, got {value!r}")


def read_repository_manifest(name: str) -> dict:
    """The spec in ``resources/manifests/NAME.json``: ``NAME`` must be a plain name inside that folder.

    Raises:
        ValueError: a name with a path separator, ``..`` or other characters; a file that is not a JSON object.
        KeyError: no such manifest.
    """
    if not MANIFEST_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"manifest name {name!r}: expected a plain name (letters, digits, '-', '_', '.') of a file "
                         f"in {MANIFEST_DIR}, not a path")
    path = MANIFEST_DIR / f"{name}.json"
    if not path.resolve().is_relative_to(MANIFEST_DIR.resolve()) or not path.is_file():
        known = sorted(p.stem for p in MANIFEST_DIR.glob("*.json")) if MANIFEST_DIR.exists() else []
        raise KeyError(f"unknown model manifest {name!r} (no {path}); known: {known}")
    try:
        spec = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"model manifest {path} is not valid JSON ({err}); expected a model spec object") from err
    if not isinstance(spec, dict):
        raise ValueError(f"model manifest {path} holds a JSON {type(spec).__name__}; expected a model spec object")
    return spec


def check_spec(spec: str | dict) -> dict[str, Any]:
    """Check that ``spec`` names something loadable, without loading or downloading anything: a known built-in,
    an importable module with the named factory, a manifest that exists, or a weights URL with a sha256.

    Raises:
        ValueError: the spec does not resolve (the message names the spec and what was expected).
    """
    try:
        parsed = parse_spec(spec)
    except KeyError as err:
        raise ValueError(str(err.args[0]) if err.args else str(err)) from None
    if parsed["kind"] == "builtin-ca":
        names = builtin_names()
        if parsed["name"] not in names:
            raise ValueError(f"model {spec!r}: unknown built-in model {parsed['name']!r}; expected one of "
                             f"{', '.join('builtin:' + n for n in names)}")
    elif parsed["kind"] == "python":
        _check_factory(str(spec), parsed["factory"])
    return parsed


def builtin_names() -> tuple[str, ...]:
    """Every ``builtin:NAME``: the Cα experts and the frame experts."""
    from superdiff.proteins.builtin import BUILTIN_NAMES
    from superdiff.proteins.frame_experts import FRAME_BUILTIN_NAMES

    return (*BUILTIN_NAMES, *FRAME_BUILTIN_NAMES)


def _check_factory(spec: str, factory: str) -> None:
    """The module of ``module:factory`` is importable and defines ``factory`` (imported, not called)."""
    import_factory(spec, factory)


def weights_fingerprint(spec: str | dict) -> str:
    """A string that changes whenever the weights behind ``spec`` change, read without loading them.

    Built-in experts: their manifest's sha256; weights specs: the sha256 they pin; Python factories: the
    factory name plus the sha256 of pinned weights, if any (code changes are not seen: bump the spec). A workflow
    puts this in a job's parameters so that new weights re-run the jobs that used the old ones.
    """
    parsed = parse_spec(spec)
    if parsed["kind"] == "builtin-ca":
        from superdiff.proteins.builtin import BUILTIN_DIR

        if parsed["name"] not in builtin_names():
            raise KeyError(f"unknown built-in model {parsed['name']!r}; choose one of {', '.join(builtin_names())}")
        return json.loads((BUILTIN_DIR / f"{parsed['name']}.json").read_text())["sha256"]
    if parsed["kind"] == "python":
        pinned = (parsed.get("weights") or {}).get("sha256")
        return f"python:{parsed['factory']}" + (f"#sha256={pinned}" if pinned else "")
    manifest_pin = parsed.get("manifest_sha256")
    return parsed["sha256"] + (f"&manifest_sha256={manifest_pin}" if manifest_pin else "")


def load_model(spec: str | dict, device: str | torch.device = "cpu", cache_dir: str | Path | None = None):
    """Load the score model a specification names, on ``device``.

    Raises:
        KeyError: unknown built-in or manifest name.
        ValueError: malformed spec, or a weights file that fails its checksum
            (:class:`superdiff.files.download.ChecksumError`).
        ImportError / AttributeError: a ``module:factory`` that does not exist.
    """
    parsed = parse_spec(spec)
    device = check_device(device)
    kind = parsed["kind"]
    if kind == "builtin-ca":
        from superdiff.proteins.builtin import load_builtin
        from superdiff.proteins.frame_experts import FRAME_BUILTIN_NAMES, load_builtin_frames

        if parsed["name"] in FRAME_BUILTIN_NAMES:
            return load_builtin_frames(parsed["name"], device)
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
    """A Cα network in this package's format: fetch and verify the safetensors file and its manifest, build it.

    The manifest is the spec's inline ``manifest`` or the JSON at ``manifest_url`` (default: beside the weights),
    fetched through the cache keyed by the weights' hash and that URL; nothing is written beside the cached
    weights, so a manifest meant for one spec can never be picked up by another.
    """
    from superdiff.files.download import DownloadError, fetch_manifest
    from superdiff.proteins.builtin import check_manifest, load_expert

    path = _fetch_weights(parsed, cache_dir)
    if parsed.get("manifest"):
        manifest = {**parsed["manifest"], "sha256": parsed["sha256"]}
    else:
        source = str(parsed.get("url") or parsed.get("path"))
        manifest_url = parsed.get("manifest_url") or source.rsplit(".", 1)[0] + ".json"
        try:
            manifest = fetch_manifest(manifest_url, parsed["sha256"], parsed.get("manifest_sha256"),
                                      cache_dir=cache_dir, validate=check_manifest)
        except (FileNotFoundError, DownloadError) as err:
            if isinstance(err, DownloadError) and err.status not in (404, 410):
                raise  # the server or network failed: its own message names the manifest, the URL and why
            raise FileNotFoundError(f"weights {source}: no model manifest given and none found at {manifest_url} "
                                    f"({err})") from err
    return load_expert(path, device, name=parsed.get("name") or path.stem, expected_sha256=parsed["sha256"],
                       inference=parsed.get("inference"), manifest=manifest)


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
