"""Items 2 and 7 for backbones: non-finite results write nothing for their batch; a rejected run never blocks its
corrected rerun; one writer per output folder.

Before: ``sample-backbones`` wrote provenance.json before the operator was built, so a run the engine refused at
its first step (e.g. three OR biases for two models) left settings that refused the corrected rerun into the same
folder; a FloatingPointError from the engine printed a traceback.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from superdiff.files.lock import folder_lock
from superdiff.files.provenance import write_provenance

from .conftest import error_line, run_cli

FAST = ["--length", "8", "--num", "2", "--steps", "3"]


def backbones(capsys, out, *models, extra=()):
    argv = ["sample-backbones"]
    for model in models:
        argv += ["--model", model]
    return run_cli(capsys, *argv, *FAST, *extra, "--out", out)


def test_non_finite_scores_write_nothing_and_say_so(capsys, tmp_path, score_models):
    out = tmp_path / "out"
    rc, _, err = backbones(capsys, out, f"{score_models}:nan_scores")
    error_line(rc, err, "sample-backbones", "designs len008_0000..len008_0001", "non-finite scores",
               "nothing of this batch was written")
    assert not list(out.glob("*.pdb")) and not (out / "designs.parquet").exists()


def test_a_failing_later_batch_keeps_the_earlier_ones(capsys, tmp_path, score_models):
    out = tmp_path / "out"
    rc, _, err = backbones(capsys, out, f"{score_models}:nan_when_long", extra=["--length", "12"])
    error_line(rc, err, "sample-backbones", "designs len012_0000..len012_0001", "non-finite",
               f"(2 earlier designs in {out} are kept)")
    assert sorted(p.name for p in out.glob("*.pdb")) == ["len008_0000.pdb", "len008_0001.pdb"]
    assert list(pd.read_parquet(out / "designs.parquet")["length"]) == [8, 8]


@pytest.mark.parametrize("bad, good", [
    (["--method", "or", "--bias", "1", "--bias", "2", "--bias", "3"], ["--method", "or", "--bias", "1", "--bias", "2"]),
    (["--method", "product", "--exponent", "nan", "--exponent", "1"], ["--method", "product"]),
])
def test_a_rejected_operator_writes_nothing_and_the_fix_reruns_in_place(capsys, tmp_path, score_models, bad, good):
    out = tmp_path / "out"
    models = (f"{score_models}:gauss", f"{score_models}:gauss")
    rc, _, err = backbones(capsys, out, *models, extra=bad)
    message = error_line(rc, err, "sample-backbones", f"--method {bad[1]} with 2 models: ")
    assert "bias has length 3, expected one value per model (2)" in message or "must be finite, got [nan" in message
    assert not (out / "provenance.json").exists()
    rc, _, err = backbones(capsys, out, *models, extra=good)
    assert rc == 0, err
    assert len(pd.read_parquet(out / "designs.parquet")) == 2


def test_provenance_without_designs_does_not_bind_the_folder(capsys, tmp_path, score_models):
    out = tmp_path / "out"
    out.mkdir()
    write_provenance(out, {"request": {"models": ["other"], "steps": 999}})  # a run that died before any design
    rc, _, err = backbones(capsys, out, f"{score_models}:gauss")
    assert rc == 0, err
    assert json.loads((out / "provenance.json").read_text())["settings"]["request"]["steps"] == 3


def test_a_folder_of_other_designs_is_refused_naming_what_changed(capsys, tmp_path, score_models):
    out = tmp_path / "out"
    assert backbones(capsys, out, f"{score_models}:gauss")[0] == 0
    rc, _, err = run_cli(capsys, "sample-backbones", "--model", f"{score_models}:gauss", "--length", "8", "--num",
                         "2", "--steps", "4", "--out", out)
    error_line(rc, err, "sample-backbones", f"{out} holds 2 designs made with different settings (steps:",
               "{'steps': 3}", "expected the same settings to resume", "{'steps': 4}")


def test_resuming_with_the_same_settings_samples_nothing_new(capsys, tmp_path, score_models):
    out = tmp_path / "out"
    assert backbones(capsys, out, f"{score_models}:gauss")[0] == 0
    first = (out / "len008_0000.pdb").stat().st_mtime_ns
    rc, stdout, _ = backbones(capsys, out, f"{score_models}:gauss")
    assert rc == 0 and "2 designs" in stdout
    assert (out / "len008_0000.pdb").stat().st_mtime_ns == first


def test_a_second_writer_into_the_same_folder_is_refused(capsys, tmp_path, score_models):
    out = tmp_path / "out"
    with folder_lock(out):
        rc, _, err = backbones(capsys, out, f"{score_models}:gauss")
    error_line(rc, err, "sample-backbones", f"{out} is being written by another superdiff process (pid",
               "expected one writer per folder")
    assert not (out / "designs.parquet").exists()
    assert backbones(capsys, out, f"{score_models}:gauss")[0] == 0  # released with its holder
