import pytest

from superdiff.proteins.evaluation.secondary_structure import dssp_available, resolve_ss_method, secondary_structure
from superdiff.proteins.structure import Backbone, read_backbone

from .conftest import PDB_2GTL


@pytest.fixture(scope="module")
def globin():
    return read_backbone(PDB_2GTL, "A")  # an all-α globin


def test_psea_on_calpha_finds_the_helices(globin):
    ss = secondary_structure(Backbone(globin.ca, globin.sequence), "auto")
    fractions = ss.fractions()
    assert ss.method == "psea" and len(ss.states) == len(globin)
    assert fractions["helix_fraction"] > 0.6 and fractions["strand_fraction"] < 0.05
    assert sum(fractions.values()) == pytest.approx(1.0)


@pytest.mark.skipif(not dssp_available(), reason="mkdssp is not installed")
def test_dssp_on_a_full_backbone_agrees_with_psea(globin):
    dssp = secondary_structure(globin, "auto")
    psea = secondary_structure(globin, "psea")
    assert dssp.method == "dssp"
    assert dssp.fractions()["helix_fraction"] == pytest.approx(psea.fractions()["helix_fraction"], abs=0.15)


def test_dssp_needs_a_full_backbone(globin):
    ca_only = Backbone(globin.ca, globin.sequence)
    assert resolve_ss_method("auto", ca_only) == "psea"
    with pytest.raises(ValueError, match=r"N-CA-C-O|mkdssp"):
        resolve_ss_method("dssp", ca_only)
    with pytest.raises(ValueError, match="one of"):
        resolve_ss_method("stride", globin)
