import numpy as np
import pytest

from superdiff.proteins.evaluation.secondary_structure import dssp_states, resolve_ss_method, secondary_structure
from superdiff.proteins.ideal import ideal_chain
from superdiff.proteins.structure import Backbone, read_backbone

from .conftest import PDB_2GTL


@pytest.fixture(scope="module")
def globin():
    return read_backbone(PDB_2GTL, "A")  # an all-α globin


def antiparallel_pair(length: int = 9, spacing: float = 4.8) -> tuple[np.ndarray, np.ndarray]:
    """Two ideal strands ``[L, 4, 3]``: the second is the first turned 180° about the sheet normal through its
    centre and moved ``spacing`` Å within the sheet plane, on the side its middle residue's C=O points away from
    (odd ``length``: the residues facing each other then point their N-H and C=O at each other)."""
    strand = ideal_chain("strand", length)
    ca = strand[:, 1]
    centre = ca.mean(0)
    axis = (ca[-1] - ca[0]) / np.linalg.norm(ca[-1] - ca[0])
    alternating = (-1.0) ** np.arange(length)
    in_plane = (alternating[:, None] * (strand[:, 3] - strand[:, 2])).mean(0)  # where even residues' C=O point
    in_plane -= axis * (in_plane @ axis)
    in_plane /= np.linalg.norm(in_plane)
    normal = np.cross(axis, in_plane)
    half_turn = 2 * np.outer(normal, normal) - np.eye(3)
    partner = (strand - centre) @ half_turn.T + centre - spacing * in_plane
    return strand, partner


def test_dssp_calls_an_ideal_helix_helix_except_its_ends():
    states = secondary_structure(Backbone(ideal_chain("helix", 20)[:, 1], "A" * 20, atoms=ideal_chain("helix", 20)))
    assert states.method == "dssp"
    assert states.states == "C" + "H" * 18 + "C"


def test_dssp_pairs_two_antiparallel_ideal_strands_as_a_sheet():
    first, second = antiparallel_pair()
    assert np.linalg.norm(first[4, 1] - second[4, 1]) == pytest.approx(4.8, abs=0.5)
    states = dssp_states(np.concatenate([first, second]))
    assert states[:9] == states[9:] == "CCEEEEECC"
    assert dssp_states(first) == "C" * 9  # a lone strand has no partner: no E
    far = antiparallel_pair(spacing=8.0)
    assert "E" not in dssp_states(np.concatenate(far))


def test_dssp_on_a_real_full_backbone_agrees_with_psea(globin):
    dssp = secondary_structure(globin, "auto")
    psea = secondary_structure(globin, "psea")
    assert dssp.method == "dssp" and psea.method == "psea" and len(dssp.states) == len(globin)
    assert dssp.fractions()["helix_fraction"] > 0.6 and dssp.fractions()["strand_fraction"] < 0.05
    assert dssp.fractions()["helix_fraction"] == pytest.approx(psea.fractions()["helix_fraction"], abs=0.15)


def test_psea_on_calpha_finds_the_helices(globin):
    ss = secondary_structure(Backbone(globin.ca, globin.sequence), "auto")
    fractions = ss.fractions()
    assert ss.method == "psea" and len(ss.states) == len(globin)
    assert fractions["helix_fraction"] > 0.6 and fractions["strand_fraction"] < 0.05
    assert sum(fractions.values()) == pytest.approx(1.0)


def test_method_follows_the_atoms(globin):
    ca_only = Backbone(globin.ca, globin.sequence)
    assert resolve_ss_method("auto", ca_only) == "psea"
    assert resolve_ss_method("auto", globin) == "dssp"
    with pytest.raises(ValueError, match="N-CA-C-O"):
        resolve_ss_method("dssp", ca_only)
    with pytest.raises(ValueError, match="one of"):
        resolve_ss_method("stride", globin)


def test_prolines_donate_no_hydrogen_bond():
    helix = ideal_chain("helix", 20)
    assert dssp_states(helix, "A" * 20) == "C" + "H" * 18 + "C"
    assert dssp_states(helix, "P" * 20) == "C" * 20  # no N-H: no helix hydrogen bond at all
