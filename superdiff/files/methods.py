"""A campaign's methods file: ``{"proteins": {name: settings}, "molecules": {name: settings}}`` (JSON), written by
the workflow (superdiff.campaign.methods) and read by each domain's sampling command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_method_entry(path: str | Path, domain: str, name: str | None) -> dict[str, Any]:
    """The settings of method ``name`` of ``domain`` ("proteins" or "molecules") in the methods file ``path``.

    Raises:
        ValueError: no name given, or the file has no such method (the message lists the ones it has).
    """
    if not name:
        raise ValueError("--methods needs --method-name (which of its methods to use)")
    methods = json.loads(Path(path).read_text()).get(domain) or {}
    if name not in methods:
        kind = {"proteins": "protein", "molecules": "molecule"}.get(domain, domain)
        raise ValueError(f"{path} has no {kind} method {name!r}; it has: {', '.join(methods) or 'none'}")
    return methods[name]
