import shutil

import numpy as np
import pytest

from superdiff.proteins.evaluation.novelty import (
    ReferenceSet,
    foldseek_available,
    load_reference_folder,
    max_tm_score,
    novelty_rows,
    novelty_scores,
    novelty_summary,
    resolve_method,
)
from superdiff.proteins.structure import read_backbone

from .conftest import PDB_2GTL, TMTOOLS_DATA


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> ReferenceSet:
    folder = tmp_path_factory.mktemp("reference")
    shutil.copy(PDB_2GTL, folder / "2gtl.pdb")
    (folder / "broken.pdb").write_text("garbage\n")
    return load_reference_folder(folder)


def test_reference_folder_holds_every_chain(reference):
    assert len(reference) == 15  # 2gtl: 15 protein chains
    assert reference.skipped_files and reference.skipped_files[0].endswith("broken.pdb")
    with pytest.raises(FileNotFoundError, match="reference folder"):
        load_reference_folder("/nonexistent/folder")


def test_a_reference_chain_is_not_novel_against_its_own_set(reference):
    chain = read_backbone(PDB_2GTL, "M")
    result = max_tm_score(chain.ca, chain.sequence, reference.chains)
    assert result.max_tm == pytest.approx(1.0, abs=1e-6)
    assert result.best_reference == "2gtl.pdb:M"


def test_length_bound_never_changes_the_maximum(reference):
    """The pruned search returns exactly the maximum over all pairs (and does prune)."""
    short = read_backbone(PDB_2GTL, "D").ca[:60]  # a 60-residue piece: every reference can beat it
    long = np.concatenate([read_backbone(PDB_2GTL, c).ca for c in "MN"])  # 437 residues, short references prune
    for ca in (short, long):
        pruned = max_tm_score(ca, None, reference.chains, use_bound=True)
        full = max_tm_score(ca, None, reference.chains, use_bound=False)
        assert pruned.max_tm == full.max_tm
        assert full.n_aligned == len(reference)
    assert max_tm_score(long, None, reference.chains).n_skipped_by_bound > 0


def test_workers_give_the_same_answer(reference):
    designs = [(read_backbone(PDB_2GTL, c).ca, None) for c in "AEM"]
    one = novelty_scores(designs, reference, workers=1)
    two = novelty_scores(designs, reference, workers=2)
    assert [r.max_tm for r in one] == [r.max_tm for r in two]
    split = novelty_scores(designs[:1], reference, workers=2)  # one design: references split over 2 workers
    assert split[0].max_tm == one[0].max_tm and split[0].best_reference == one[0].best_reference


def test_builtin_reference_set_contains_its_own_chains():
    pytest.importorskip("superdiff.proteins.reference")
    from superdiff.proteins.evaluation.novelty import default_reference_set

    try:
        reference = default_reference_set()
    except (FileNotFoundError, OSError) as err:
        pytest.skip(f"built-in reference set not built: {err}")
    chain = reference.chains[len(reference) // 2]
    rows = novelty_rows(["ref"], [(chain.ca, chain.sequence)], reference, workers=1)
    assert rows[0]["max_tm"] == pytest.approx(1.0, abs=1e-6) and rows[0]["best_reference"] == chain.name
    assert rows[0]["novel_tm_lt_0_5"] is False


def test_summary_fractions():
    summary = novelty_summary([0.2, 0.4, 0.6, 0.25])
    assert summary["fraction_tm_lt_0_5"] == 0.75 and summary["fraction_tm_lt_0_3"] == 0.5


def test_method_resolution():
    assert resolve_method("tmalign") == "tmalign"
    assert resolve_method("auto") == ("foldseek" if foldseek_available() else "tmalign")
    with pytest.raises(ValueError, match="one of"):
        resolve_method("dali")


@pytest.mark.skipif(not foldseek_available(), reason="foldseek is not on PATH")
def test_foldseek_candidates_rescored_with_tmalign(reference):
    chain = read_backbone(PDB_2GTL, "M")
    rows = novelty_rows(["m"], [(chain.ca, chain.sequence)], reference, method="foldseek", workers=1)
    assert rows[0]["method"] == "foldseek" and rows[0]["max_tm"] == pytest.approx(1.0, abs=1e-6)


def test_mmcif_references_are_read(tmp_path):
    shutil.copy(TMTOOLS_DATA / "7ok9.cif", tmp_path / "7ok9.cif")
    reference = load_reference_folder(tmp_path, min_length=400)
    assert len(reference) == 12 and all(len(c.ca) >= 400 for c in reference.chains)
