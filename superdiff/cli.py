"""The ``superdiff`` command line: one subcommand per workflow step.

Parsing only: each area registers its subcommands from its own ``cli`` module, and the work lives in the
package modules those call. Adding a subcommand means adding ``register(subparsers)`` to one of
``COMMAND_MODULES``.

Every expected failure (bad input, a missing or damaged file, a failed download, a non-finite result, a device
this machine does not have) ends in one line ``superdiff COMMAND: error: <message>`` on stderr and exit status 2;
only a bug in the package itself prints a traceback (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from superdiff.engine.devices import check_device

COMMAND_MODULES = (
    "superdiff.demo",
    "superdiff.proteins.cli",
    "superdiff.proteins.evaluation.cli",
    "superdiff.molecules.cli",
    "superdiff.campaign.cli",
)
#: the namespace attribute holding the subcommand's name (a subcommand option named --command cannot clobber it)
COMMAND_DEST = "superdiff_command"
#: failures that are the user's input or the machine, never a bug: reported in one line, exit status 2
EXPECTED_ERRORS = (ValueError, KeyError, OSError, FloatingPointError, RuntimeError, ImportError)


def error_message(err: BaseException) -> str:
    """One line for an expected failure: KeyError without its quotes, an OSError as ``path: what``, a torch
    RuntimeError's first line only (the rest is a dispatch table), other multi-line messages joined."""
    if isinstance(err, KeyError) and len(err.args) == 1:
        text = str(err.args[0])
    elif isinstance(err, OSError) and err.filename is not None and err.strerror:  # not "[Errno 20] ...: 'x'"
        text = f"{err.filename}: {err.strerror.lower()}"
    else:
        text = str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if isinstance(err, RuntimeError) and len(lines) > 1:
        return lines[0]
    return "; ".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="superdiff", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest=COMMAND_DEST, required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = getattr(args, COMMAND_DEST)
    try:
        device = getattr(args, "device", None)
        if isinstance(device, str):  # flags only; a methods file's device is checked where it is read
            check_device(device)
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as err:
        print(f"superdiff {command}: error: {error_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
