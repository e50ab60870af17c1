"""The ``superdiff`` command line: one subcommand per workflow step.

Parsing only: each area registers its subcommands from its own ``cli`` module, and the work lives in the
package modules those call. Adding a subcommand means registering it in one area's ``register(subparsers)`` and
naming it under that module in ``COMMAND_MODULES``: a command line builds the parsers of its command's area only,
so a step that needs no torch (evaluation, reports) never imports it.

Every expected failure (bad input, a missing or damaged file, a failed download, a non-finite result, a device
this machine does not have) ends in one line ``superdiff COMMAND: error: <message>`` on stderr and exit status 2;
only a bug in the package itself prints a traceback (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from superdiff.allocator import keep_freed_memory

#: each area's ``cli`` module and the subcommands its ``register`` adds (tests/test_cli.py checks they agree)
COMMAND_MODULES = {
    "superdiff.demo": ("demo",),
    "superdiff.proteins.cli": ("build-reference-set", "train-backbone", "build-backbone-set", "train-frames",
                               "sample-backbones"),
    "superdiff.proteins.evaluation.cli": ("inverse-fold", "refold", "self-consistency", "novelty", "diversity",
                                          "secondary-structure"),
    "superdiff.molecules.cli": ("train-predictors", "train-oracles", "train-molecule-autoencoder",
                                "train-molecule-diffusion", "sample-molecules", "calibrate-molecules",
                                "score-molecules", "molecule-metrics"),
    "superdiff.campaign.cli": ("validate-config", "export-config-schema", "write-campaign-config", "concat-tables",
                               "verify-models", "gather-designs", "gather-molecules", "aggregate-proteins",
                               "campaign-report"),
}
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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``superdiff`` parser with the subcommands of the area that owns ``command``, or of every area (no
    command, ``--help``, or a name no area owns: argparse then lists them all)."""
    parser = argparse.ArgumentParser(prog="superdiff", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest=COMMAND_DEST, required=True, metavar="COMMAND")
    owners = [name for name, commands in COMMAND_MODULES.items() if command in commands] or list(COMMAND_MODULES)
    for name in owners:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    command = getattr(args, COMMAND_DEST)
    keep_freed_memory()  # sampling reuses its large tensors' memory instead of faulting it in every step
    try:
        device = getattr(args, "device", None)
        if isinstance(device, str):  # flags only; a methods file's device is checked where it is read
            from superdiff.engine.devices import check_device  # torch: only for commands that take a device

            check_device(device)
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as err:
        print(f"superdiff {command}: error: {error_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
