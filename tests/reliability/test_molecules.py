"""Items 2, 5 and 7 for molecules: non-finite latents are refused before anything is decoded or written; an empty
or header-only SMILES file is an error naming it; salts are scored on their largest fragment, with a warning and a
count; a folder with identical settings is recognised.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from superdiff.files.provenance import write_provenance
from superdiff.molecules.guidance import GuidedResult
from superdiff.molecules.sampling import MoleculeSampler, check_finite_result, same_settings

from .conftest import error_line, run_cli

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
SAMPLE = ["sample-molecules", "--condition", "gsk3b", "--method", "single", "--num", "2", "--seed", "0",
          "--steps", "2"]


# ------------------------------------------------------------------------------------------------ non-finite results
def _result(x: torch.Tensor, log_q: torch.Tensor) -> GuidedResult:
    return GuidedResult(x=x, log_q=log_q, kappa_mean=torch.ones_like(log_q), and_residual=None)


def test_non_finite_log_densities_name_the_designs():
    log_q = torch.zeros(4, 2, dtype=torch.float64)
    log_q[2, 1] = float("inf")
    with pytest.raises(FloatingPointError, match=r"log densities of 1 of 4 designs are not finite \(designs 12\)"):
        check_finite_result(_result(torch.zeros(4, 8), log_q), seeds=[0, 1, 2, 3], first_index=10)


def test_the_sampler_refuses_non_finite_latents_before_decoding():
    x = torch.zeros(3, 8)
    x[0, 0] = float("nan")

    def never(*_):
        raise AssertionError("non-finite latents were decoded")

    fake = SimpleNamespace(latents=lambda *a, **k: (_result(x, torch.zeros(3, 1, dtype=torch.float64)), ["gsk3b"],
                                                    [7, 8, 9]), decode=never)
    with pytest.raises(FloatingPointError, match=r"latents of 1 of 3 designs are not finite \(designs 0\).*nothing"):
        MoleculeSampler.sample(fake, ["gsk3b"], "single")


def test_sample_molecules_with_non_finite_scores_writes_nothing(capsys, tmp_path, monkeypatch):
    from superdiff.molecules.loading import BuiltinLatentModel

    monkeypatch.setattr(BuiltinLatentModel, "denoise", lambda self, x, t, required: torch.full_like(x, float("nan")))
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, *SAMPLE, "--out", out)
    error_line(rc, err, "sample-molecules", "designs 0..1: model 0 (EpsilonScore(denoiser(gsk3b), VPLinear(",
               "no molecules were produced")
    assert not (out / "molecules.parquet").exists() and not (out / "provenance.json").exists()


@NO_CUDA
def test_sampler_on_a_missing_device_is_refused_before_loading():
    with pytest.raises(ValueError, match=r"--device 'cuda': CUDA is not available"):
        MoleculeSampler.load(device="cuda")


# ------------------------------------------------------------------------------------------------ resuming
SETTINGS = {"conditions": ["gsk3b"], "method": "single", "num": 2, "seed": 0, "exponents": None, "guidance": 2.0}


def test_saved_settings_with_their_summary_match(tmp_path):
    """sample-molecules saves ``{**settings, "summary": ...}``; the comparison must look at the settings only."""
    write_provenance(tmp_path, {**SETTINGS, "summary": {"validity": 1.0}})
    assert same_settings(tmp_path / "provenance.json", SETTINGS)
    assert not same_settings(tmp_path / "provenance.json", {**SETTINGS, "seed": 1})
    (tmp_path / "provenance.json").write_text('{"settings": {"condi')
    assert not same_settings(tmp_path / "provenance.json", SETTINGS)
    assert not same_settings(tmp_path / "missing.json", SETTINGS)


def test_a_second_sample_molecules_writer_into_the_same_folder_is_refused(capsys, tmp_path):
    from superdiff.files.lock import folder_lock

    out = tmp_path / "out"
    with folder_lock(out):
        rc, _, err = run_cli(capsys, *SAMPLE, "--out", out)
    error_line(rc, err, "sample-molecules", f"{out} is being written by another superdiff process (pid",
               "expected one writer per folder")
    assert not (out / "molecules.parquet").exists()
    assert run_cli(capsys, *SAMPLE, "--out", out)[0] == 0  # released with its holder


def test_sample_molecules_recognises_a_folder_with_identical_settings(capsys, tmp_path):
    out = tmp_path / "out"
    assert run_cli(capsys, *SAMPLE, "--out", out)[0] == 0
    before = (out / "molecules.parquet").stat().st_mtime_ns
    rc, stdout, _ = run_cli(capsys, *SAMPLE, "--out", out)
    assert rc == 0 and "exists with the same settings; skipping" in stdout
    assert (out / "molecules.parquet").stat().st_mtime_ns == before


# ------------------------------------------------------------------------------------------------ score-molecules
def score(capsys, tmp_path, name: str, content: str | bytes | None):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    return path, run_cli(capsys, "score-molecules", "--input", path, "--out", tmp_path / "scores.parquet")


def test_empty_csv_names_the_file_and_what_was_expected(capsys, tmp_path):
    path, (rc, _, err) = score(capsys, tmp_path, "in.csv", "")
    error_line(rc, err, "score-molecules", f"{path}: empty file", "expected a CSV/TSV/parquet table with a 'smiles'")
    assert not (tmp_path / "scores.parquet").exists()


def test_blank_lines_only_csv_is_empty_too(capsys, tmp_path):
    path, (rc, _, err) = score(capsys, tmp_path, "in.csv", "\n\n")
    error_line(rc, err, "score-molecules", f"{path}: empty file (no header, no rows)", "'smiles' column")


def test_header_only_csv_is_an_error_not_zero_molecules(capsys, tmp_path):
    path, (rc, _, err) = score(capsys, tmp_path, "in.csv", "smiles,name\n")
    error_line(rc, err, "score-molecules", f"{path}: no molecules (a header with columns ['smiles', 'name'] and 0 "
               "rows)", "expected one SMILES per row in column 'smiles'")
    assert not (tmp_path / "scores.parquet").exists()


def test_header_only_parquet_is_an_error(capsys, tmp_path):
    path = tmp_path / "in.parquet"
    pd.DataFrame({"SMILES": pd.Series([], dtype=str)}).to_parquet(path)
    rc, _, err = run_cli(capsys, "score-molecules", "--input", path, "--out", tmp_path / "scores.parquet")
    error_line(rc, err, "score-molecules", f"{path}: no molecules", "0 rows", "column 'SMILES'")


def test_comment_only_smi_is_an_error(capsys, tmp_path):
    path, (rc, _, err) = score(capsys, tmp_path, "in.smi", "# nothing here\n\n")
    error_line(rc, err, "score-molecules", f"{path}: no SMILES lines (only blank or # comment lines)",
               "one SMILES per line")


def test_unreadable_parquet_is_one_line(capsys, tmp_path):
    path, (rc, _, err) = score(capsys, tmp_path, "in.parquet", b"PAR1 this is not parquet")
    error_line(rc, err, "score-molecules", f"{path}: cannot read", "expected a CSV/TSV/parquet table")


def test_missing_input_and_missing_column_are_one_line(capsys, tmp_path):
    path, (rc, _, err) = score(capsys, tmp_path, "absent.csv", None)
    error_line(rc, err, "score-molecules", f"SMILES file {path} does not exist")
    path, (rc, _, err) = score(capsys, tmp_path, "in.csv", "mol\nCCO\n")
    error_line(rc, err, "score-molecules", f"{path}: no 'smiles' column (columns: ['mol'])", "pass the column name")


def test_salts_are_scored_on_their_largest_fragment_with_a_warning(capsys, tmp_path):
    path, (rc, _, err) = score(capsys, tmp_path, "in.csv", "smiles\nCCN(CC)CC.Cl\nc1ccccc1\nCl.[Na+].CCN(CC)CC\n")
    assert rc == 0, err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warning == [f"warning: {path}: 2 of 3 SMILES have several fragments (salts or mixtures, e.g. "
                       "['CCN(CC)CC.Cl', 'Cl.[Na+].CCN(CC)CC']); each is scored on its largest fragment (column "
                       "n_fragments)"]
    frame = pd.read_parquet(tmp_path / "scores.parquet")
    assert frame["n_fragments"].tolist() == [2, 1, 3]
    assert frame["canonical"].tolist() == ["CCN(CC)CC", "c1ccccc1", "CCN(CC)CC"]
    assert frame.loc[0, "mw"] == frame.loc[2, "mw"] and frame["smiles"][0] == "CCN(CC)CC.Cl"  # input kept
    provenance = json.loads((tmp_path / "scores.provenance.json").read_text())["settings"]
    assert provenance["n_multi_fragment"] == 2
