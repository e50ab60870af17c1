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


def add_methods_file_arguments(parser):
    """The argument group of a sampler's method flags, opened with ``--methods FILE --method-name NAME`` (the
    alternative to the flags); the caller adds its own flags to the returned group."""
    group = parser.add_argument_group("method", "flags, or one entry of a campaign's methods file (not both)")
    group.add_argument("--methods", type=Path, default=None,
                       help="resolved methods JSON of a campaign (superdiff write-campaign-config --methods-out); "
                            "gives every flag of this group")
    group.add_argument("--method-name", default=None, help="the method of --methods to sample")
    return group


def method_settings_from(args, domain: str, flags: dict[str, tuple[str, str]], required: tuple[str, ...],
                         defaults: dict[str, Any]) -> dict[str, Any]:
    """A method's settings by argparse dest: from ``--methods`` or from the flags (unset ones from ``defaults``).

    Args:
        flags: ``dest -> (flag, key in the methods file)``; required: dests a command line without ``--methods``
            must give.

    Raises:
        ValueError: ``--methods`` together with any method flag (which would win is ambiguous), ``--method-name``
            without ``--methods``, or a required flag missing without ``--methods``.
    """
    given = [flag for dest, (flag, _) in flags.items() if getattr(args, dest) is not None]
    if args.methods is not None:
        if given:
            raise ValueError(f"--methods gives every method setting; drop {', '.join(given)} or drop --methods "
                             "(and --method-name) and give the method as flags")
        entry = read_method_entry(args.methods, domain, args.method_name)
        return {dest: entry[key] for dest, (_, key) in flags.items()}
    if args.method_name is not None:
        raise ValueError("--method-name needs --methods (the campaign's methods file)")
    missing = [flags[dest][0] for dest in required if getattr(args, dest) is None]
    if missing:
        raise ValueError(f"give {', '.join(missing)}, or --methods with --method-name")
    return {dest: defaults[dest] if getattr(args, dest) is None else getattr(args, dest) for dest in flags}
