"""Where the molecule artefacts live and the manifest that pins them (sha256, config, reproducing command)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from superdiff.files.atomic import write_json_atomic
from superdiff.files.download import sha256_file
from superdiff.files.resources import RESOURCES, resource_path

ENV_VAR = "SUPERDIFF_MOLECULE_WEIGHTS"


def default_weights_dir() -> Path:
    """``$SUPERDIFF_MOLECULE_WEIGHTS`` or the repository's ``resources/weights/molecules``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else resource_path("weights", "molecules")


def manifest_path(folder: Path) -> Path:
    return Path(folder) / "manifest.json"


def read_manifest(folder: Path) -> dict[str, Any]:
    path = manifest_path(folder)
    return json.loads(path.read_text()) if path.exists() else {"artefacts": {}}


def record_artefact(folder: Path, name: str, files: list[str], config: dict[str, Any], command: str,
                    metrics: dict[str, Any] | None = None) -> None:
    """Add or replace one artefact entry (files with their sha256) in ``folder/manifest.json``.

    ``command`` reproduces the artefact into the default weights folder; ``--out folder`` is appended only when
    ``folder`` is elsewhere, relative to the repository root when it lies inside it (run from the root), so the
    committed manifest never names one machine's checkout.
    """
    folder = Path(folder)
    if folder.resolve() != default_weights_dir().resolve():
        repo = RESOURCES.parent
        shown = folder.resolve().relative_to(repo) if folder.resolve().is_relative_to(repo) else folder
        command += f" --out {shlex.quote(str(shown))}"
    manifest = read_manifest(folder)
    manifest["artefacts"][name] = {
        "files": {f: sha256_file(folder / f) for f in files},
        "config": config,
        "command": command,
        "metrics": metrics or {},
    }
    write_json_atomic(manifest_path(folder), manifest)


def verified_file(folder: Path, name: str, file: str) -> Path:
    """Path of ``file`` of artefact ``name`` after checking its sha256 against the manifest."""
    folder = Path(folder)
    entry = read_manifest(folder)["artefacts"].get(name)
    if entry is None or file not in entry["files"]:
        raise FileNotFoundError(f"{folder}/manifest.json has no file {file!r} for artefact {name!r}; "
                                f"train it first ({entry['command'] if entry else 'see docs/molecules.md'})")
    path = folder / file
    if not path.exists():
        raise FileNotFoundError(f"artefact file {path} is missing")
    actual = sha256_file(path)
    if actual != entry["files"][file]:
        raise ValueError(f"sha256 of {path} is {actual}, manifest expects {entry['files'][file]}: refusing to load")
    return path
