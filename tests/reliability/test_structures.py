"""Item 1: bad coordinates and truncated files are per-design failures with a reason, never hangs or silent ``ok``.

A NaN coordinate made TM-align (novelty, diversity) loop forever; ProteinMPNN and P-SEA answered ``ok`` with
poly-Ala / all coil; a cut file read as a shorter protein; all-identical coordinates passed as a structure.
"""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from superdiff.proteins.evaluation.inputs import load_design
from superdiff.proteins.structure import Backbone, StructureError, read_backbone, write_ca_pdb

from .conftest import HANG_TIMEOUT, error_line, helix, run_cli, run_with_timeout, with_value, write_pdb


# ------------------------------------------------------------------------------------------------ reading designs
@pytest.mark.parametrize("value, shown", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_coordinate_is_a_failed_design(tmp_path, value, shown):
    design = load_design(write_pdb(tmp_path / "d.pdb", with_value(helix(), value)))
    assert not design.ok
    assert f"non-finite coordinate ({shown}) at residue ALA 6" in design.reason
    assert "expected finite x, y, z" in design.reason


def test_read_backbone_refuses_nan_naming_file_chain_and_residue(tmp_path):
    path = write_pdb(tmp_path / "nan.pdb", with_value(helix(), np.nan, index=11))
    with pytest.raises(StructureError, match=r"nan\.pdb: chain A: non-finite coordinate \(nan\) at residue ALA 12"):
        read_backbone(path)


def test_gzipped_design_loads(tmp_path):
    """``.pdb.gz`` is a structure suffix, but biotite reads by suffix: every gzipped design used to fail."""
    text = write_ca_pdb(tmp_path / "plain.pdb", helix()) or (tmp_path / "plain.pdb").read_bytes()
    (tmp_path / "d.pdb.gz").write_bytes(gzip.compress(text))
    design = load_design(tmp_path / "d.pdb.gz")
    assert design.ok and len(design.backbone) == 40 and design.design_id == "d"


def test_gzipped_nan_design_fails_too(tmp_path):
    text = write_pdb(tmp_path / "plain.pdb", with_value(helix(), np.nan)).read_bytes()
    (tmp_path / "d.pdb.gz").write_bytes(gzip.compress(text))
    design = load_design(tmp_path / "d.pdb.gz")
    assert not design.ok and "non-finite coordinate (nan)" in design.reason


@pytest.mark.parametrize("points", [1, 2])
def test_degenerate_coordinates_are_a_failed_design(tmp_path, points):
    ca = np.zeros((40, 3))
    ca[::2] = 0.0
    ca[1::2] = [0.0, 0.0, 3.8] if points == 2 else 0.0
    design = load_design(write_pdb(tmp_path / "same.pdb", ca))
    assert not design.ok
    assert f"degenerate coordinates: the 40 Cα atoms sit at {points} distinct point(s)" in design.reason
    assert "expected a chain with at least 3 distinct Cα positions" in design.reason


def test_file_cut_mid_file_is_truncated_not_shorter(tmp_path, good_pdb_text):
    (tmp_path / "cut.pdb").write_text(good_pdb_text[: len(good_pdb_text) // 2])
    design = load_design(tmp_path / "cut.pdb")
    assert not design.ok and "truncated" in design.reason


def test_partial_last_line_is_truncated(tmp_path, good_pdb_text):
    lines = good_pdb_text.splitlines()
    (tmp_path / "cut.pdb").write_text("\n".join(lines[:20]) + "\n" + lines[20][:70])  # x, y, z complete, no newline
    design = load_design(tmp_path / "cut.pdb")
    assert not design.ok
    assert "truncated: the last line (line 21) is a cut-off coordinate record" in design.reason


def test_short_coordinate_record_is_truncated(tmp_path, good_pdb_text):
    lines = good_pdb_text.splitlines()
    (tmp_path / "cut.pdb").write_text("\n".join([*lines[:20], lines[20][:45], "END", ""]))
    design = load_design(tmp_path / "cut.pdb")
    assert not design.ok
    assert "truncated coordinate record at line 21" in design.reason and "columns 31-54" in design.reason


def test_full_backbone_cut_inside_the_last_residue_is_truncated(tmp_path):
    lines, serial = [], 1
    for i, (x, y, z) in enumerate(helix(20)):
        for k, name in enumerate(("N", "CA", "C", "O")):
            if i == 19 and name in ("C", "O"):
                break  # the file ends after CA of the last residue
            lines.append(f"ATOM  {serial:5d}  {name:<3s} ALA A{i + 1:4d}    {x + 0.5 * k:8.3f}{y:8.3f}{z:8.3f}"
                         f"  1.00  0.00           {name[0]}")
            serial += 1
    (tmp_path / "cut.pdb").write_text("\n".join(lines) + "\n")
    design = load_design(tmp_path / "cut.pdb")
    assert not design.ok
    assert "truncated: the last residue of chain A (ALA 20) lacks backbone atom(s) C, O" in design.reason


def test_fewer_residues_than_the_designs_table_is_truncated(tmp_path):
    design = load_design(write_ca_pdb(tmp_path / "d.pdb", helix(30)) or tmp_path / "d.pdb", expected_length=40)
    assert not design.ok
    assert design.reason == "truncated or wrong file: 30 residues with Cα, expected length 40 (designs table)"
    assert load_design(tmp_path / "d.pdb", expected_length=30).ok


def test_nan_gap_counts_as_a_chain_break():
    ca = with_value(helix(), np.nan).astype(np.float32)
    assert Backbone(ca, "A" * 40).chain_breaks().tolist() == [4, 5]


def test_writer_refuses_non_finite_coordinates(tmp_path):
    with pytest.raises(ValueError, match=r"non-finite coordinates at residue index\(es\) \[5\]"):
        write_ca_pdb(tmp_path / "x.pdb", with_value(helix(), np.nan))
    assert not list(tmp_path.iterdir())


def test_secondary_structure_refuses_non_finite_backbone_given_directly():
    from superdiff.proteins.evaluation.secondary_structure import secondary_structure

    backbone = Backbone(with_value(helix(), np.inf).astype(np.float32), "A" * 40, source="direct")
    with pytest.raises(ValueError, match=r"non-finite coordinates .* in direct; expected finite coordinates"):
        secondary_structure(backbone, "psea")


# ------------------------------------------------------------------------------------------------ TM-align guard
TM_PROBE = """
import numpy as np
from superdiff.proteins.evaluation.tmalign import tm_align
t = np.arange(40) * np.deg2rad(100.0)
good = np.stack([2.3 * np.cos(t), 2.3 * np.sin(t), 1.5 * np.arange(40)], axis=1)
bad = good.copy()
bad[5, 0] = float({value!r})
for a, b in ((bad, good), (good, bad)):
    try:
        tm_align(a, b)
        print("ACCEPTED")
    except ValueError as err:
        print("REFUSED", err)
"""


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_tm_align_refuses_non_finite_input_instead_of_hanging(value):
    try:
        result = subprocess.run([sys.executable, "-c", TM_PROBE.format(value=value)], capture_output=True,
                                text=True, timeout=HANG_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tm_align with a {value} coordinate did not return within {HANG_TIMEOUT} s")
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0].startswith("REFUSED TM-align: chain 1 has non-finite coordinates (NaN or inf) at residue")
    assert lines[1].startswith("REFUSED TM-align: chain 2 has non-finite coordinates")
    assert "expected finite Cα coordinates in Å" in lines[0]


# ------------------------------------------------------------------------------------------------ the commands
@pytest.fixture
def bad_designs(tmp_path, good_pdb_text):
    """A designs folder: one good helix, NaN, inf, all-identical and a file cut in half."""
    folder = tmp_path / "designs"
    folder.mkdir()
    write_ca_pdb(folder / "good.pdb", helix(40))
    write_pdb(folder / "nan.pdb", with_value(helix(), np.nan))
    write_pdb(folder / "inf.pdb", with_value(helix(), np.inf))
    write_pdb(folder / "same.pdb", np.zeros((40, 3)))
    (folder / "cut.pdb").write_text(good_pdb_text[: len(good_pdb_text) // 2])
    return folder


def _statuses(path) -> dict[str, tuple[str, str]]:
    frame = pd.read_parquet(path)
    return {r.design_id: (r.status, r.reason) for r in frame.itertuples()}


REASONS = {"nan": "non-finite coordinate (nan)", "inf": "non-finite coordinate (inf)", "same": "degenerate",
           "cut": "truncated"}


def _assert_failed_rows(rows: dict[str, tuple[str, str]]) -> None:
    assert rows["good"] == ("ok", "")
    for design, needle in REASONS.items():
        status, reason = rows[design]
        assert status == "failed" and needle in reason, (design, rows[design])


def test_novelty_fails_bad_designs_and_never_hangs(tmp_path, bad_designs):
    reference = tmp_path / "reference"
    reference.mkdir()
    write_ca_pdb(reference / "ref.pdb", helix(50, phase=0.3))
    out = tmp_path / "novelty.parquet"
    rc, _, err = run_with_timeout(["novelty", "--designs-dir", bad_designs, "--reference", reference, "--workers",
                                   "1", "--no-progress", "--out", out])
    assert rc == 0 and "Traceback" not in err, err
    _assert_failed_rows(_statuses(out))


def test_diversity_fails_bad_designs_and_never_hangs(tmp_path, bad_designs):
    write_ca_pdb(bad_designs / "good2.pdb", helix(36, phase=1.0))
    out = tmp_path / "diversity.parquet"
    rc, _, err = run_with_timeout(["diversity", "--designs-dir", bad_designs, "--workers", "1", "--no-progress",
                                   "--out", out])
    assert rc == 0 and "Traceback" not in err, err
    rows = _statuses(out)
    _assert_failed_rows(rows)
    assert np.isfinite(np.load(tmp_path / "diversity.tm_matrix.npy")).all()


def test_secondary_structure_fails_bad_designs(capsys, tmp_path, bad_designs):
    out = tmp_path / "ss.parquet"
    rc, _, err = run_cli(capsys, "secondary-structure", "--designs-dir", bad_designs, "--method", "psea",
                         "--no-progress", "--out", out)
    assert rc == 0 and "Traceback" not in err
    _assert_failed_rows(_statuses(out))


def test_inverse_fold_fails_non_finite_designs_instead_of_poly_ala(capsys, tmp_path):
    folder = tmp_path / "designs"
    folder.mkdir()
    write_pdb(folder / "nan.pdb", with_value(helix(), np.nan))
    write_pdb(folder / "inf.pdb", with_value(helix(), np.inf))
    out = tmp_path / "seqs.parquet"
    rc, stdout, err = run_cli(capsys, "inverse-fold", "--designs-dir", folder, "--no-progress", "--out", out)
    assert rc == 0 and "Traceback" not in err
    rows = _statuses(out)
    assert rows["nan"][0] == rows["inf"][0] == "failed"
    assert "non-finite coordinate (nan)" in rows["nan"][1] and "non-finite coordinate (inf)" in rows["inf"][1]
    assert "0 sequences, 2 failed designs" in stdout


def test_designs_table_length_catches_a_file_cut_between_residues(capsys, tmp_path, good_pdb_text):
    folder = tmp_path / "designs"
    folder.mkdir()
    lines = good_pdb_text.splitlines(keepends=True)
    (folder / "len040_0000.pdb").write_text("".join(lines[:25]))  # whole lines: reads as a 25-residue protein
    table = tmp_path / "designs.parquet"
    pd.DataFrame({"design_id": ["len040_0000"], "length": [40]}).to_parquet(table)
    out = tmp_path / "ss.parquet"
    rc, _, _ = run_cli(capsys, "secondary-structure", "--designs-dir", folder, "--designs", table,
                         "--no-progress", "--out", out)
    assert rc == 0
    assert _statuses(out)["len040_0000"] == (
        "failed", "truncated or wrong file: 25 residues with Cα, expected length 40 (designs table)")


def test_missing_designs_table_is_one_clear_line(capsys, tmp_path, bad_designs):
    rc, _, err = run_cli(capsys, "secondary-structure", "--designs-dir", bad_designs, "--designs",
                         tmp_path / "nope.parquet", "--out", tmp_path / "ss.parquet")
    error_line(rc, err, "secondary-structure", "designs table", "nope.parquet", "does not exist")


@pytest.mark.slow
def test_proteinmpnn_refuses_a_non_finite_backbone_given_directly():
    from superdiff.proteins.evaluation.inverse_folding import design_sequences, load_mpnn

    backbone = Backbone(with_value(helix(), np.nan).astype(np.float32), "G" * 40, source="direct")
    with pytest.raises(ValueError, match=r"non-finite coordinates .* in direct"):
        design_sequences(load_mpnn("ca"), backbone, n=2)
