import math

import pytest

from superdiff.proteins.evaluation.folding import EsmFolding, ExternalFolding, NoFolding
from superdiff.proteins.evaluation.inputs import load_design
from superdiff.proteins.evaluation.presets import PRESETS, get_preset
from superdiff.proteins.evaluation.self_consistency import design_seed, designability_fraction, evaluate_design

from .test_folding import oracle_command, tiny_esmfold


@pytest.fixture(scope="module")
def design(real_chain):
    return load_design(real_chain)


def small(name: str):
    return get_preset(name, n_sequences=2)


def test_presets_match_the_published_protocols():
    sd, g2 = PRESETS["superdiff"], PRESETS["genie2"]
    assert (sd.n_sequences, sd.temperature, sd.max_rmsd, sd.min_plddt) == (8, 0.1, 2.0, None)
    assert sd.passes(1.99, math.nan) and not sd.passes(2.0, 99.0)
    assert (g2.n_sequences, g2.temperature, g2.mpnn_variant, g2.min_plddt) == (8, 0.1, "ca", 70.0)
    assert g2.passes(2.0, 70.0) and not g2.passes(2.0, 69.9) and not g2.passes(2.01, 90.0)
    assert get_preset("genie2", n_sequences=8).name == "genie2"
    assert get_preset("genie2", n_sequences=2).name == "genie2+custom"
    with pytest.raises(KeyError, match="superdiff"):
        get_preset("framediff")


@pytest.mark.parametrize(("preset", "plddt", "expected"),
                         [("superdiff", 50.0, True), ("genie2", 50.0, False), ("genie2", 85.0, True)])
def test_a_backbone_refolded_onto_itself_is_designable(tmp_path, real_chain, design, preset, plddt, expected):
    """A predictor that returns the design itself: scRMSD 0, scTM 1, designable subject to the pLDDT rule."""
    folder = ExternalFolding(oracle_command(tmp_path, real_chain, plddt))
    summary, rows = evaluate_design(design, small(preset), folder, tmp_path / "folds", base_seed=1)
    assert summary["status"] == "ok" and summary["preset"] == f"{preset}+custom"
    assert summary["min_sc_rmsd"] == pytest.approx(0.0, abs=1e-3)
    assert summary["max_sc_tm"] == pytest.approx(1.0, abs=1e-4)
    assert summary["plddt_at_min_rmsd"] == pytest.approx(plddt)
    assert summary["designable"] is expected
    assert summary["designable_reason"] == small(preset).rule()
    assert summary["mpnn_variant"] == ("vanilla" if preset == "superdiff" else "ca")
    assert len(rows) == 2 and all(r["sc_rmsd"] == pytest.approx(0.0, abs=1e-3) for r in rows)


def test_refolding_off_gives_na_with_reason(tmp_path, design):
    summary, rows = evaluate_design(design, small("superdiff"), NoFolding(), tmp_path)
    assert summary["status"] == "ok"
    assert summary["designable"] is None and summary["designable_reason"] == "refolding off"
    assert math.isnan(summary["min_sc_rmsd"])
    assert len(rows) == 2 and all(r["sequence"] and r["passes"] is None for r in rows)
    assert math.isnan(designability_fraction([summary]))


def test_esmfold_end_to_end(tmp_path, design):
    folder = EsmFolding(tiny_esmfold(), chunk_size=None, num_recycles=0)
    summary, rows = evaluate_design(design, small("genie2"), folder, tmp_path)
    assert summary["status"] == "ok" and summary["designable"] is False  # a random model folds nothing
    assert summary["min_sc_rmsd"] > 2.0 and 0 < summary["max_sc_tm"] < 0.5
    assert all((tmp_path / f"{r['fold_name']}.pdb").is_file() for r in rows if r["duplicate_of"] is None)


def test_bad_design_and_failing_predictor_give_failure_rows(tmp_path, designs_dir, design):
    bad = load_design(designs_dir / "no_ca.pdb")
    summary, rows = evaluate_design(bad, small("superdiff"), NoFolding(), tmp_path)
    assert summary["status"] == "failed" and "Cα" in summary["reason"] and rows == []
    summary, _ = evaluate_design(design, small("superdiff"), ExternalFolding("false {fasta} {out_dir}"), tmp_path)
    assert summary["status"] == "failed" and "refolding failed" in summary["reason"]


def test_design_seed_is_per_design():
    assert design_seed(0, "a") == design_seed(0, "a") != design_seed(0, "b") != design_seed(1, "a")
