import json
import os

import numpy as np
import pandas as pd
import pytest

from superdiff.cli import main

from .test_folding import oracle_command

EXPECTED_FAILURES = {
    "empty": "empty file",
    "not_protein": "cannot parse",
    "water": "no protein chain",
    "no_ca": "no protein chain with Cα",
    "chain_break": "chain break",
    "huge": "file too large",
}
LIMITS = ["--max-bytes", "1000000"]


def check_failures(frame: pd.DataFrame) -> None:
    failed = frame[frame["status"] == "failed"].drop_duplicates("design_id").set_index("design_id")["reason"]
    assert set(failed.index) == set(EXPECTED_FAILURES)
    for design_id, text in EXPECTED_FAILURES.items():
        assert text in failed[design_id], (design_id, failed[design_id])


def test_inverse_fold_and_refold(designs_dir, tmp_path):
    out = tmp_path / "sequences.parquet"
    args = ["inverse-fold", "--designs-dir", str(designs_dir), "--out", str(out), "--n-sequences", "2",
            "--no-progress", *LIMITS]
    assert main(args) == 0
    frame = pd.read_parquet(out)
    check_failures(frame)
    ok = frame[frame["status"] == "ok"]
    assert set(ok["design_id"]) == {"good_full", "good_ca"} and len(ok) == 4
    assert set(ok.groupby("design_id")["mpnn_model"].first()) == {"proteinmpnn/vanilla/v_48_020",
                                                                   "proteinmpnn/ca/v_48_020"}
    assert json.loads(frame["settings"].iloc[0])["n_sequences"] == 2
    assert (tmp_path / "sequences.parquet.provenance.json").is_file()

    stamp = os.stat(out).st_mtime_ns
    assert main(args) == 0  # resume: nothing left to do, same rows
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)
    assert os.stat(out).st_mtime_ns >= stamp

    refolds = tmp_path / "refold.parquet"
    assert main(["refold", "--sequences", str(out), "--out", str(refolds), "--folding", "external",
                 "--command", oracle_command(tmp_path, designs_dir / "good_full.pdb", 75.0),
                 "--fold-dir", str(tmp_path / "folds"), "--no-progress"]) == 0
    table = pd.read_parquet(refolds)
    by_design = table.set_index("design_id")
    # the oracle answers with good_full's structure: right for good_full, a length mismatch for good_ca
    assert (by_design.loc["good_full", "status"] == "ok").all()
    assert (by_design.loc["good_full", "plddt"] == 75.0).all()
    assert (by_design.loc["good_ca", "status"] == "failed").all()


def test_self_consistency_with_refolding_off(designs_dir, tmp_path):
    out = tmp_path / "sc.parquet"
    assert main(["self-consistency", "--designs-dir", str(designs_dir), "--out", str(out), "--preset", "genie2",
                 "--n-sequences", "2", "--folding", "none", "--fold-dir", str(tmp_path / "f"), "--no-progress",
                 *LIMITS]) == 0
    frame = pd.read_parquet(out)
    check_failures(frame)
    ok = frame[frame["status"] == "ok"]
    assert len(ok) == 2 and ok["designable"].isna().all() and (ok["designable_reason"] == "refolding off").all()
    assert (frame["preset"] == "genie2+custom").all()
    preset = json.loads(frame["preset_json"].iloc[0])
    assert preset["min_plddt"] == 70.0 and preset["n_sequences"] == 2
    sequences = pd.read_parquet(tmp_path / "sc.sequences.parquet")
    assert len(sequences) == 4 and sequences["sc_rmsd"].isna().all()
    assert (sequences["preset"] == "genie2+custom").all()


def test_self_consistency_designable_with_an_oracle(designs_dir, tmp_path):
    out = tmp_path / "sc.parquet"
    assert main(["self-consistency", "--designs-dir", str(designs_dir), "--designs", str(_table(tmp_path)),
                 "--out", str(out), "--n-sequences", "2", "--folding", "external",
                 "--command", oracle_command(tmp_path, designs_dir / "good_full.pdb", 90.0),
                 "--fold-dir", str(tmp_path / "f"), "--no-progress"]) == 0
    frame = pd.read_parquet(out).set_index("design_id")
    assert list(frame.index) == ["good_full", "missing_one"]
    assert bool(frame.loc["good_full", "designable"]) is True
    assert frame.loc["good_full", "min_sc_rmsd"] == pytest.approx(0.0, abs=1e-3)
    assert frame.loc["missing_one", "status"] == "failed" and "no structure file" in frame.loc["missing_one", "reason"]


def _table(tmp_path):
    path = tmp_path / "designs.parquet"
    pd.DataFrame({"design_id": ["good_full", "missing_one"]}).to_parquet(path)
    return path


def test_novelty_diversity_secondary_structure(designs_dir, tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "a.pdb").write_text((designs_dir / "good_full.pdb").read_text())
    out = tmp_path / "novelty.parquet"
    assert main(["novelty", "--designs-dir", str(designs_dir), "--out", str(out), "--reference", str(reference),
                 "--workers", "1", "--no-progress", *LIMITS]) == 0
    frame = pd.read_parquet(out)
    check_failures(frame)
    ok = frame[frame["status"] == "ok"].set_index("design_id")
    assert ok.loc["good_full", "max_tm"] == pytest.approx(1.0, abs=1e-6)
    assert ok.loc["good_ca", "max_tm"] < 0.5
    summary = json.loads((tmp_path / "novelty.summary.json").read_text())
    assert summary["fraction_tm_lt_0_5"] == 0.5 and summary["n_failed"] == len(EXPECTED_FAILURES)

    out = tmp_path / "diversity.parquet"
    assert main(["diversity", "--designs-dir", str(designs_dir), "--out", str(out), "--threshold", "0.6",
                 "--workers", "1", "--no-progress", *LIMITS]) == 0
    check_failures(pd.read_parquet(out))
    summary = json.loads((tmp_path / "diversity.summary.json").read_text())
    assert summary["n_clusters"] == 2 and summary["settings"]["tm_threshold"] == 0.6
    assert np.load(tmp_path / "diversity.tm_matrix.npy").shape == (2, 2)

    out = tmp_path / "ss.parquet"
    assert main(["secondary-structure", "--designs-dir", str(designs_dir), "--out", str(out), *LIMITS]) == 0
    frame = pd.read_parquet(out)
    check_failures(frame)
    ok = frame[frame["status"] == "ok"].set_index("design_id")
    assert ok.loc["good_ca", "ss_method"] == "psea" and ok.loc["good_full", "helix_fraction"] > 0.6
    assert ok.loc["good_full", "ss_method"] == "dssp"
    assert ok.loc["good_full", "geom_full_backbone"] and not ok.loc["good_ca", "geom_full_backbone"]
    assert ok.loc["good_full", "geom_c_n_ok"] > 0.95 and np.isnan(ok.loc["good_ca", "geom_c_n_ok"])
    assert ok.loc["good_full", "geom_clash_free"] and ok.loc["good_ca", "geom_ca_ca_ok"] > 0.95


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert main(["novelty", "--designs-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "x.parquet"),
                 "--reference", str(tmp_path)]) == 2
    assert "reference" in capsys.readouterr().err


def test_a_designs_sequences_do_not_depend_on_its_batch(designs_dir, tmp_path):
    """good_full gets the same sequences alone as within the whole folder (per-design seeds)."""
    table = tmp_path / "one.parquet"
    pd.DataFrame({"design_id": ["good_full"]}).to_parquet(table)
    common = ["--n-sequences", "2", "--no-progress", "--seed", "7", *LIMITS]
    assert main(["inverse-fold", "--designs-dir", str(designs_dir), "--out", str(tmp_path / "all.parquet"),
                 *common]) == 0
    assert main(["inverse-fold", "--designs-dir", str(designs_dir), "--designs", str(table),
                 "--out", str(tmp_path / "alone.parquet"), *common]) == 0
    everything = pd.read_parquet(tmp_path / "all.parquet")
    alone = pd.read_parquet(tmp_path / "alone.parquet")
    assert list(alone["sequence"]) == list(everything[everything["design_id"] == "good_full"]["sequence"])


def test_novelty_of_the_refolded_structures(designs_dir, tmp_path):
    sc = tmp_path / "sc.parquet"
    assert main(["self-consistency", "--designs-dir", str(designs_dir), "--designs", str(_table(tmp_path)),
                 "--out", str(sc), "--n-sequences", "1", "--folding", "external",
                 "--command", oracle_command(tmp_path, designs_dir / "good_full.pdb", 90.0),
                 "--fold-dir", str(tmp_path / "f"), "--no-progress"]) == 0
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "a.pdb").write_text((designs_dir / "good_full.pdb").read_text())
    out = tmp_path / "novelty.parquet"
    assert main(["novelty", "--designs-dir", str(designs_dir), "--designs", str(_table(tmp_path)),
                 "--refolded", str(tmp_path / "sc.sequences.parquet"), "--reference", str(reference),
                 "--workers", "1", "--out", str(out), "--no-progress"]) == 0
    frame = pd.read_parquet(out).set_index("design_id")
    assert frame.loc["good_full", "max_tm"] == pytest.approx(1.0, abs=1e-6)
    assert frame.loc["good_full", "path"] == str(tmp_path / "f" / "good_full_seq0.pdb")
    assert frame.loc["missing_one", "status"] == "failed"
    assert "refolded" in json.loads(frame["settings"].iloc[0])["structures"]


def test_duplicate_design_ids_are_reported(tmp_path, real_chain):
    folder = tmp_path / "dups"
    folder.mkdir()
    (folder / "x.pdb").write_text(real_chain.read_text())
    (folder / "x.pdb.gz").write_bytes(b"")
    from superdiff.proteins.evaluation.inputs import load_designs

    first, second = load_designs(folder)
    assert first.ok and first.design_id == "x" and first.path.endswith("x.pdb")
    assert not second.ok and second.design_id == "x.pdb.gz" and "duplicate design_id 'x'" in second.reason


def test_full_backbones_go_to_dssp_and_vanilla_mpnn_calpha_to_psea_and_ca_mpnn(tmp_path):
    from superdiff.proteins.ideal import ideal_chain
    from superdiff.proteins.structure import write_ca_pdb

    from .conftest import write_full_backbone

    folder = tmp_path / "designs"
    folder.mkdir()
    helix = ideal_chain("helix", 30)
    write_full_backbone(folder / "full.pdb", helix)
    write_ca_pdb(folder / "ca.pdb", helix[:, 1])
    sequences, ss = tmp_path / "sequences.parquet", tmp_path / "ss.parquet"
    common = ["--designs-dir", str(folder), "--no-progress"]
    assert main(["inverse-fold", *common, "--out", str(sequences), "--n-sequences", "1"]) == 0
    assert main(["secondary-structure", *common, "--out", str(ss)]) == 0
    models = pd.read_parquet(sequences).set_index("design_id")["mpnn_model"]
    assert models.to_dict() == {"full": "proteinmpnn/vanilla/v_48_020", "ca": "proteinmpnn/ca/v_48_020"}
    table = pd.read_parquet(ss).set_index("design_id")
    assert table["ss_method"].to_dict() == {"full": "dssp", "ca": "psea"}
    assert table.loc["full", "ss_states"] == "C" + "H" * 28 + "C"
    assert table.loc["full", "geom_n_ca_ok"] == pytest.approx(1.0, abs=0) and table.loc["full", "geom_clash_free"]
