"""The protein subcommands through ``superdiff.cli.main``: bad input gives exit code 2 and a clear message."""

from __future__ import annotations

import pandas as pd
import pytest

from superdiff.cli import main


def test_train_backbone_empty_folder(tmp_path, capsys):
    assert main(["train-backbone", "--data", str(tmp_path), "--out", str(tmp_path / "w.safetensors")]) == 2
    assert "no PDB/mmCIF file" in capsys.readouterr().err


def test_train_backbone_missing_folder(tmp_path, capsys):
    assert main(["train-backbone", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "w.st")]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_train_backbone_structure_without_ca(tmp_path, capsys):
    (tmp_path / "noca.pdb").write_text(
        "ATOM      1  N   GLY A   1      11.104   6.134  -6.504  1.00  0.00           N\n"
        "ATOM      2  N   GLY A   2      12.104   7.134  -6.504  1.00  0.00           N\nEND\n")
    assert main(["train-backbone", "--data", str(tmp_path), "--out", str(tmp_path / "w.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "no chain" in err and "noca.pdb" in err


@pytest.mark.slow
def test_train_backbone_tiny_run(tmp_path):
    from superdiff.proteins.builtin import load_expert
    from superdiff.proteins.reference import installed_tmtools_data

    out = tmp_path / "w.safetensors"
    code = main(["train-backbone", "--data", str(installed_tmtools_data()), "--steps", "3", "--batch-size", "2",
                 "--min-crop", "40", "--max-crop", "48", "--out", str(out)])
    assert code == 0
    model = load_expert(out)
    assert model.manifest["training"]["steps_done"] == 3


def test_sample_backbones_unknown_model(tmp_path, capsys):
    code = main(["sample-backbones", "--model", "builtin:coil", "--length", "50", "--num", "1",
                 "--out", str(tmp_path)])
    assert code == 2
    assert "unknown built-in model 'coil'" in capsys.readouterr().err


def test_sample_backbones_cli_end_to_end(tmp_path):
    code = main(["sample-backbones", "--model", "builtin:helix", "--model", "builtin:strand", "--method", "and",
                 "--length", "20", "--num", "2", "--seed", "5", "--steps", "5", "--out", str(tmp_path)])
    assert code == 0
    frame = pd.read_parquet(tmp_path / "designs.parquet")
    assert list(frame.design_id) == ["len020_0000", "len020_0001"] and set(frame.method) == {"and"}
