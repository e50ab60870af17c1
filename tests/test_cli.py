"""The command line's routing: each area registers exactly the commands ``COMMAND_MODULES`` names, and a command
line builds its own area's parsers only, so the torch-free steps of a campaign do not import torch."""

import argparse
import importlib
import subprocess
import sys

import pytest

from superdiff.cli import COMMAND_DEST, COMMAND_MODULES, build_parser


@pytest.mark.parametrize("module", list(COMMAND_MODULES))
def test_each_area_registers_the_commands_named_for_it(module):
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).register(sub)
    assert tuple(sub.choices) == COMMAND_MODULES[module]


def test_command_names_are_unique():
    names = [c for commands in COMMAND_MODULES.values() for c in commands]
    assert len(names) == len(set(names))


def test_no_command_or_an_unknown_one_builds_every_area():
    every = {c for commands in COMMAND_MODULES.values() for c in commands}
    for command in (None, "--help", "no-such-command"):
        sub = next(a for a in build_parser(command)._actions if a.dest == COMMAND_DEST)
        assert set(sub.choices) == every


def test_a_command_gets_its_own_area_only():
    sub = next(a for a in build_parser("novelty")._actions if a.dest == COMMAND_DEST)
    assert set(sub.choices) == set(COMMAND_MODULES["superdiff.proteins.evaluation.cli"])


@pytest.mark.parametrize("argv", [["diversity", "--designs", "d", "--out", "o"],
                                  ["campaign-report", "--help"]])
def test_torch_free_steps_do_not_import_torch(argv):
    code = ("import sys\nfrom superdiff.cli import build_parser\n"
            f"try:\n    build_parser({argv[0]!r}).parse_known_args({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_gathering_a_methods_shards_does_not_import_torch(tmp_path):
    """Not only its parser: the gather step itself (designs, PDBs and the report's paths) runs without torch."""
    from superdiff.proteins.sampling import SamplingRequest, sample_backbones

    models = ("superdiff.proteins.tiny_frame_nets:tiny_framediff", "superdiff.proteins.tiny_frame_nets:tiny_proteus")
    shard = tmp_path / "and" / "L16" / "seeds0-2"  # the workflow's shard layout
    sample_backbones(SamplingRequest(models=models, method="and", lengths=(16,), num=2, steps=4), shard,
                     progress=False)
    argv = ["gather-designs", str(shard / "designs.parquet"), "--pdb-dir", str(tmp_path / "pdbs"), "--out",
            str(tmp_path / "designs.parquet"), "--trajectories-out", str(tmp_path / "traces.parquet")]
    code = f"import sys\nfrom superdiff.cli import main\nassert main({argv!r}) == 0\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
    assert (tmp_path / "traces.parquet").exists()
