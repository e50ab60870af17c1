"""Where the project's resources live: ``resources/`` at the repository root (manifests, built-in weights, data).

One root for every lookup; downloads are cached below it in ``resources/cache/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    """``resources/<parts...>``: e.g. ``resource_path("weights", "builtin")``."""
    return RESOURCES.joinpath(*parts)
