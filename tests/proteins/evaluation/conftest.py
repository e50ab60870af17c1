"""Real structures for the evaluation tests: chains of the PDB files shipped with tmtools (2gtl, 7ok9)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import biotite.structure as struc
import biotite.structure.io as strucio
import numpy as np
import pytest

from superdiff.proteins.structure import read_backbone, write_ca_pdb

TMTOOLS_DATA = Path(str(importlib.resources.files("tmtools") / "data"))
PDB_2GTL = TMTOOLS_DATA / "2gtl.pdb"


def write_chain(source: Path, chain_id: str, target: Path, backbone_only: bool = True) -> Path:
    """Write one protein chain of ``source`` as a single-chain PDB file."""
    atoms = strucio.load_structure(str(source), model=1)
    atoms = atoms[(atoms.chain_id == chain_id) & struc.filter_amino_acids(atoms) & ~atoms.hetero]
    if backbone_only:
        atoms = atoms[np.isin(atoms.atom_name, ["N", "CA", "C", "O"])]
    strucio.save_structure(str(target), atoms)
    return target


@pytest.fixture(scope="session")
def real_chain(tmp_path_factory) -> Path:
    """2gtl chain A (147 residues, full backbone) as its own PDB file."""
    folder = tmp_path_factory.mktemp("real")
    return write_chain(PDB_2GTL, "A", folder / "2gtl_A.pdb")


@pytest.fixture(scope="session")
def designs_dir(tmp_path_factory, real_chain) -> Path:
    """A designs folder with two good designs and one of each kind of bad input."""
    folder = tmp_path_factory.mktemp("designs")
    write_chain(PDB_2GTL, "A", folder / "good_full.pdb")
    m = read_backbone(PDB_2GTL, "M")
    write_ca_pdb(folder / "good_ca.pdb", m.ca, m.sequence)
    (folder / "empty.pdb").write_text("")
    (folder / "not_protein.pdb").write_text("this is not a structure\nat all\n")
    hetero = "HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\nEND\n"
    (folder / "water.pdb").write_text(hetero)
    lines = [line for line in (folder / "good_full.pdb").read_text().splitlines()
             if not (line.startswith("ATOM") and line[12:16].strip() == "CA")]
    (folder / "no_ca.pdb").write_text("\n".join(lines) + "\n")
    a = read_backbone(PDB_2GTL, "A")
    broken = a.ca.copy()
    broken[70:] += np.array([12.0, 0.0, 0.0], dtype=np.float32)
    write_ca_pdb(folder / "chain_break.pdb", broken, a.sequence)
    (folder / "huge.pdb").write_text((folder / "good_full.pdb").read_text() * 40)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Two shared cores: one intra-op thread keeps the model tests from oversubscribing them."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def write_full_backbone(path: Path, atoms: np.ndarray) -> Path:
    """A poly-Gly PDB with N, CA, C, O of every residue (``atoms [L, 4, 3]``, Å): what full-backbone experts write."""
    length = len(atoms)
    array = struc.AtomArray(length * 4)
    array.coord = np.asarray(atoms, dtype=np.float32).reshape(-1, 3)
    array.chain_id[:] = "A"
    array.res_id = np.repeat(np.arange(1, length + 1), 4)
    array.res_name[:] = "GLY"
    array.atom_name = np.tile(["N", "CA", "C", "O"], length)
    array.element = np.tile(["N", "C", "C", "O"], length)
    array.hetero[:] = False
    strucio.save_structure(str(path), array)
    return path
