"""The committed full-backbone training set of the frame experts."""

from __future__ import annotations

import numpy as np

from superdiff.proteins import ideal
from superdiff.proteins.backbone_set import BackboneChain, dssp, load_backbone_set, subset


def test_committed_set_holds_unbroken_full_backbones_with_dssp():
    chains = load_backbone_set()
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
