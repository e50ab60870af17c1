"""Item 5: every expected failure is one line ``superdiff COMMAND: error: <message>`` with exit status 2.

Before: ``main`` caught only ValueError / FileNotFoundError / KeyError (OSError, FloatingPointError and torch's
RuntimeError printed tracebacks), and ``refold`` / ``self-consistency`` printed ``superdiff None: error`` because
their ``--command`` option overwrote the subcommand's name in the namespace.
"""

from __future__ import annotations

import pytest
import torch

from superdiff.cli import error_message
from superdiff.engine.devices import check_device

from .conftest import error_line, run_cli

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_refold_names_itself_not_none(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "refold", "--sequences", tmp_path / "missing.parquet", "--folding", "none",
                         "--fold-dir", tmp_path / "folds", "--out", tmp_path / "r.parquet")
    error_line(rc, err, "refold", "sequences table", "missing.parquet", "does not exist", "expected the parquet")
    assert "superdiff None" not in err


def test_self_consistency_names_itself_not_none(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "self-consistency", "--designs-dir", tmp_path / "nowhere", "--fold-dir",
                         tmp_path / "folds", "--out", tmp_path / "sc.parquet")
    error_line(rc, err, "self-consistency", "designs folder", "nowhere", "does not exist")
    assert "superdiff None" not in err


def test_external_folding_command_still_reaches_the_folder(capsys, tmp_path):
    """``--command`` kept its meaning (now stored as fold_command): a template without {fasta} is refused."""
    rc, _, err = run_cli(capsys, "refold", "--sequences", tmp_path / "s.parquet", "--folding", "external",
                         "--command", "fold-it", "--fold-dir", tmp_path / "folds", "--out", tmp_path / "r.parquet")
    error_line(rc, err, "refold", "external folding command must contain {fasta} and {out_dir}", "'fold-it'")


@NO_CUDA
@pytest.mark.parametrize("command", [
    ["sample-backbones", "--model", "builtin:helix", "--length", "20", "--num", "1"],
    ["inverse-fold", "--designs-dir", "."],
    ["sample-molecules", "--condition", "gsk3b", "--method", "single", "--num", "1", "--seed", "0"],
])
def test_cuda_on_a_cpu_only_machine_is_refused_before_any_work(capsys, tmp_path, command):
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, *command, "--device", "cuda", "--out", out)
    error_line(rc, err, command[0], "--device 'cuda'", "CUDA is not available", "expected --device cpu")
    assert not out.exists()


def test_unknown_device_string_is_refused(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "sample-backbones", "--model", "builtin:helix", "--length", "20", "--num", "1",
                         "--device", "gpu", "--out", tmp_path / "out")
    error_line(rc, err, "sample-backbones", "--device 'gpu'", "not a torch device", "'cpu', 'cuda', 'cuda:N', 'mps'")


def test_check_device_accepts_cpu_and_refuses_other_backends():
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unsupported device type 'meta'"):
        check_device("meta")


@NO_CUDA
def test_a_methods_file_device_is_checked_where_the_model_loads():
    """The device of a campaign's methods file never passes main's flag check: the registry refuses it."""
    from superdiff.proteins.registry import load_model

    with pytest.raises(ValueError, match=r"--device 'cuda': CUDA is not available"):
        load_model("builtin:helix", device="cuda")


def test_torch_runtime_error_becomes_its_first_line():
    err = NotImplementedError("Could not run 'aten::empty' with arguments from the 'MPS' backend.\n\nCPU: registered")
    assert error_message(err) == "Could not run 'aten::empty' with arguments from the 'MPS' backend."
    assert error_message(KeyError("unknown model 'x'")) == "unknown model 'x'"  # no repr quotes


def test_output_under_a_regular_file_is_an_os_error_message(capsys, tmp_path, score_models):
    (tmp_path / "file").write_text("x")
    rc, _, err = run_cli(capsys, "sample-backbones", "--model", f"{score_models}:gauss", "--length", "8", "--num",
                         "1", "--steps", "2", "--out", tmp_path / "file" / "out")
    error_line(rc, err, "sample-backbones", f"{tmp_path / 'file' / 'out'}: not a directory")


def test_unknown_builtin_model_is_one_line_without_quotes(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "sample-backbones", "--model", "builtin:coil", "--length", "20", "--num", "1",
                         "--out", tmp_path / "out")
    message = error_line(rc, err, "sample-backbones", "unknown built-in model 'coil'", "helix, strand")
    assert not message.startswith(('"', "'"))


@pytest.mark.parametrize("command", [
    ["sample-backbones", "--model", "builtin:helix", "--model", "builtin:strand", "--method", "and", "--length", "20",
     "--num", "1"],
    ["sample-molecules", "--condition", "gsk3b", "--condition", "druglike", "--method", "and", "--num", "1",
     "--seed", "0"],
])
def test_curvature_every_zero_is_refused_before_any_work(capsys, tmp_path, command):
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, *command, "--curvature-every", "0", "--out", out)
    error_line(rc, err, command[0], "curvature", "0", ">= 1")
    assert not out.exists()
