"""The ``superdiff`` command line: one subcommand per workflow step.

Parsing only: each area registers its subcommands from its own ``cli`` module, and the work lives in the
package modules those call. Adding a subcommand means adding ``register(subparsers)`` to one of
``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "superdiff.demo",
    "superdiff.proteins.cli",
    "superdiff.proteins.evaluation.cli",
    "superdiff.molecules.cli",
    "superdiff.campaign.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="superdiff", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"superdiff {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
