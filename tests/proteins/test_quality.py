import math

import numpy as np
import pytest

from superdiff.proteins import ideal
from superdiff.proteins.quality import backbone_geometry
from superdiff.proteins.structure import read_backbone

from .evaluation.conftest import PDB_2GTL


@pytest.mark.parametrize("kind", ["helix", "strand"])
def test_ideal_chains_pass_every_check(kind):
    atoms = ideal.ideal_chain(kind, 30)
    geometry = backbone_geometry(atoms[:, 1], atoms)
    assert geometry.full_backbone
    assert (geometry.n_ca_ok, geometry.ca_c_ok, geometry.c_n_ok, geometry.ca_ca_ok) == (1.0, 1.0, 1.0, 1.0)
    assert geometry.n_clashes == 0 and geometry.clash_free and geometry.min_distance > 3.0
    row = geometry.to_row()
    assert row["geom_clash_free"] is True and row["geom_n_ca_ok"] == 1.0


def test_a_perturbed_chain_fails_the_bond_checks():
    atoms = ideal.ideal_chain("helix", 30)
    rng = np.random.default_rng(0)
    noisy = atoms + rng.normal(0.0, 0.2, atoms.shape)
    geometry = backbone_geometry(noisy[:, 1], noisy)
    assert max(geometry.n_ca_ok, geometry.ca_c_ok, geometry.c_n_ok) < 0.5
    stretched = atoms.copy()
    peptide = (atoms[11, 0] - atoms[10, 2]) / np.linalg.norm(atoms[11, 0] - atoms[10, 2])
    stretched[11:] += 0.5 * peptide  # one peptide bond C10–N11 pulled apart: one bad C–N and one bad Cα–Cα
    one = backbone_geometry(stretched[:, 1], stretched)
    assert one.n_ca_ok == 1.0 and one.ca_c_ok == 1.0
    assert one.c_n_ok == pytest.approx(28 / 29) and one.ca_ca_ok == pytest.approx(28 / 29)


def test_a_chain_folded_onto_itself_clashes():
    atoms = ideal.ideal_chain("strand", 12)
    atoms[8:] = atoms[:4] + np.array([0.0, 0.0, 1.5])  # residues 8..11 sit 1.5 Å from residues 0..3
    geometry = backbone_geometry(atoms[:, 1], atoms)
    assert geometry.n_clashes >= 16 and not geometry.clash_free and geometry.min_distance <= 1.5 + 1e-9


def test_calpha_traces_get_only_calpha_checks():
    atoms = ideal.ideal_chain("helix", 20)
    geometry = backbone_geometry(atoms[:, 1])
    assert not geometry.full_backbone and math.isnan(geometry.n_ca_ok) and geometry.ca_ca_ok == 1.0
    assert geometry.n_clashes == 0


def test_a_real_crystal_structure_passes():
    globin = read_backbone(PDB_2GTL, "A")
    geometry = backbone_geometry(globin.ca, globin.atoms)
    assert min(geometry.n_ca_ok, geometry.ca_c_ok, geometry.c_n_ok, geometry.ca_ca_ok) > 0.95
    assert geometry.clash_free  # its N···O hydrogen bonds (< 3.0 Å) are not clashes
