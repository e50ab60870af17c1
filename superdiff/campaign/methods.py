"""The resolved methods of a campaign: per domain, per method, every setting its sampler takes.

``superdiff write-campaign-config --methods-out results/<campaign>/methods.json`` writes this once per campaign
from the validated config; each sampling job then reads its own entry (``superdiff sample-backbones --methods
results/<campaign>/methods.json --method-name and --length 50 --first-index 0 --num 8 --out ...``). An entry is
the config's method with every default filled in from the sampler's own defaults, plus the campaign's models or
conditions, steps, device and seed, and the fingerprint of the weights it samples with::

    {"campaign": "default",
     "proteins": {"and": {"operator": "and", "models": ["builtin:helix", "builtin:strand"],
                          "model_fingerprints": ["<sha256>", "<sha256>"], "index": 0, "temperature": 1.0,
                          "bias": null, "exponents": null, "resample": true, "curvature_every": 1,
                          "steps": 200, "sharpen": 1.0, "seed": 0, "device": "cpu"}},
     "molecules": {"and": {"operator": "and", "conditions": ["gsk3b", "druglike"],
                           "weights_fingerprint": "<sha256>", "index": 0, "guidance": 2.0,
                           "curvature_correction": true, "curvature_every": 1, "and_target": "typical",
                           "exponents": null,
                           "steps": 200, "seed": 0, "device": "cpu", "latent_model": "builtin"}}}

The workflow also writes each entry alone to ``results/<campaign>/methods/<domain>/<name>.json`` (one small job per
method, whose params are that entry): those are the files the sampling jobs read, so that editing one method (or
retraining the weights it uses) re-runs exactly that method's jobs.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from typing import Any

from superdiff.campaign.config import Campaign, MoleculeMethod, ProteinMethod

DOMAINS = ("proteins", "molecules")


def _field_default(cls: type, name: str) -> Any:
    """The default of dataclass field ``name`` of ``cls``."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def _parameter_default(func: Any, name: str) -> Any:
    """The default of keyword parameter ``name`` of ``func``."""
    return inspect.signature(func).parameters[name].default


def model_fingerprints(models: list[str]) -> list[str]:
    """One fingerprint per protein expert (:func:`superdiff.proteins.registry.weights_fingerprint`)."""
    from superdiff.proteins.registry import weights_fingerprint

    return [weights_fingerprint(spec) for spec in models]


def molecule_weights_fingerprint() -> str:
    """sha256 of the molecule weights' manifest (it lists every artefact's sha256)."""
    from superdiff.files.download import sha256_file
    from superdiff.molecules.weights import default_weights_dir

    manifest = default_weights_dir() / "manifest.json"
    return sha256_file(manifest) if manifest.exists() else f"missing {manifest}"


def protein_method(campaign: Campaign, method: ProteinMethod, fingerprints: list[str]) -> dict[str, Any]:
    """The ``sample-backbones`` settings of one protein method (defaults from :class:`SamplingRequest`)."""
    from superdiff.proteins.sampling import SamplingRequest

    proteins = campaign.proteins

    def pick(value: Any, name: str) -> Any:
        return _field_default(SamplingRequest, name) if value is None else value

    return {"operator": method.operator, "models": list(proteins.models), "model_fingerprints": fingerprints,
            "index": pick(method.index, "index"), "temperature": pick(method.temperature, "temperature"),
            "bias": method.bias, "exponents": method.weights, "resample": pick(method.resample, "resample"),
            "curvature_every": pick(method.curvature_every, "curvature_every"), "steps": proteins.steps,
            "sharpen": proteins.sharpen if method.sharpen is None else method.sharpen,
            "seed": campaign.seed, "device": campaign.device}


def molecule_method(campaign: Campaign, method: MoleculeMethod, fingerprint: str) -> dict[str, Any]:
    """The ``sample-molecules`` settings of one molecule method (defaults from :meth:`MoleculeSampler.latents`)."""
    from superdiff.molecules.sampling import MoleculeSampler

    molecules = campaign.molecules
    latents = MoleculeSampler.latents
    return {"operator": method.operator, "conditions": list(molecules.conditions),
            "weights_fingerprint": fingerprint,
            "index": _parameter_default(latents, "index") if method.index is None else method.index,
            "guidance": molecules.guidance, "curvature_correction": method.curvature_correction,
            "curvature_every": method.curvature_every,
            "and_target": method.and_target or _parameter_default(latents, "and_target"),
            "exponents": method.exponents, "steps": molecules.steps, "seed": campaign.seed,
            "device": campaign.device, "latent_model": molecules.latent_model}


def resolve_methods(campaign: Campaign) -> dict[str, Any]:
    """Every method of every enabled domain, resolved (the content of ``methods.json``)."""
    out: dict[str, Any] = {"campaign": campaign.campaign}
    proteins, molecules = campaign.proteins, campaign.molecules
    if proteins is not None and proteins.enabled:
        fingerprints = model_fingerprints(list(proteins.models))
        out["proteins"] = {name: protein_method(campaign, m, fingerprints) for name, m in proteins.methods.items()}
    if molecules is not None and molecules.enabled:
        fingerprint = molecule_weights_fingerprint()
        out["molecules"] = {name: molecule_method(campaign, m, fingerprint) for name, m in molecules.methods.items()}
    return out


def method_json(methods: dict[str, Any], domain: str, name: str) -> str:
    """One entry as canonical JSON (a Snakemake ``params`` value: equal settings give equal strings)."""
    return json.dumps(methods[domain][name], sort_keys=True)


#: keys every entry of a domain has (what the samplers read)
ENTRY_KEYS = {
    "proteins": {"operator", "models", "model_fingerprints", "index", "temperature", "bias", "exponents", "resample",
                 "curvature_every", "steps", "sharpen", "seed", "device"},
    "molecules": {"operator", "conditions", "weights_fingerprint", "index", "guidance", "curvature_correction",
                  "curvature_every",
                  "and_target", "exponents", "steps", "seed", "device", "latent_model"},
}


def single_method(domain: str, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A methods file holding one entry (``{domain: {name: entry}}``), checked against the domain's keys.

    Raises:
        ValueError: unknown domain, or an entry whose keys are not the domain's.
    """
    if domain not in ENTRY_KEYS:
        raise ValueError(f"domain must be one of {', '.join(ENTRY_KEYS)}, got {domain!r}")
    if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS[domain]:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"a {domain} method has the keys {sorted(ENTRY_KEYS[domain])}, got {keys}")
    return {domain: {name: entry}}
