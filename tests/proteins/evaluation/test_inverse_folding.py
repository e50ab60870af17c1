import hashlib

import numpy as np
import pytest

from superdiff.proteins.evaluation.inverse_folding import (
    ALPHABET,
    DesignedSequence,
    decoding_order,
    design_sequences,
    load_mpnn,
    resolve_variant,
    teacher_forced_log_probs,
    unique_sequences,
    weights_file,
)
from superdiff.proteins.structure import Backbone, read_backbone

from .conftest import PDB_2GTL

RANDOM_RECOVERY = 0.05  # one residue in twenty


@pytest.fixture(scope="module")
def chain():
    return read_backbone(PDB_2GTL, "A")


@pytest.fixture(scope="module")
def ca_model():
    return load_mpnn("ca")


def test_weights_are_the_packaged_files_and_recorded(ca_model):
    path = weights_file("ca", "v_48_020")
    assert ca_model.weights_path == str(path)
    assert ca_model.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ca_model.describe()["mpnn_model"] == "proteinmpnn/ca/v_48_020"
    assert load_mpnn("ca") is ca_model  # loaded once per process
    with pytest.raises(FileNotFoundError, match="available"):
        weights_file("ca", "v_48_999")


@pytest.fixture(scope="module")
def four_ca(chain, ca_model):
    return design_sequences(ca_model, chain, n=4, temperature=0.1, seed=11)


@pytest.mark.parametrize("variant", ["ca", "vanilla"])
def test_recovery_on_a_real_chain_is_far_above_random(chain, variant, four_ca):
    designed = four_ca if variant == "ca" else design_sequences(load_mpnn(variant), chain, n=2, temperature=0.1,
                                                                 seed=3)
    recovery = np.mean([d.recovery for d in designed])
    assert recovery > 5 * RANDOM_RECOVERY, recovery
    assert all(len(d.sequence) == len(chain) and "X" not in d.sequence for d in designed)
    assert all(0 < d.nll < np.log(20) for d in designed)


def test_sequences_do_not_depend_on_the_batch(chain, ca_model, four_ca):
    four = four_ca
    two = design_sequences(ca_model, chain, n=2, temperature=0.1, seed=11)
    assert [d.sequence for d in two] == [d.sequence for d in four[:2]]
    assert len({d.sequence for d in four}) > 1  # distinct draws per sequence index


def test_sampler_decodes_the_models_own_conditionals(chain, ca_model):
    """The batched sampler's log-likelihood equals ProteinMPNN's own teacher-forced forward pass."""
    designed = design_sequences(ca_model, chain, n=2, temperature=0.1, seed=5)[1]
    log_probs = teacher_forced_log_probs(ca_model, chain, designed.sequence, decoding_order(5, 1, len(chain)))
    nll = -np.mean(log_probs[np.arange(len(chain)), [ALPHABET.index(c) for c in designed.sequence]])
    assert nll == pytest.approx(designed.nll, abs=1e-4)


def test_duplicates_map_to_their_first_occurrence():
    designed = [DesignedSequence(i, s, 1.0, 0.3) for i, s in enumerate(["ACD", "ACE", "ACD", "ACE", "GGG"])]
    assert unique_sequences(designed) == {"ACD": 0, "ACE": 1, "GGG": 4}


def test_variant_resolution(chain):
    ca_only = Backbone(chain.ca, chain.sequence)
    assert resolve_variant("auto", chain) == "vanilla"
    assert resolve_variant("auto", ca_only) == "ca"
    with pytest.raises(ValueError, match="only Cα"):
        resolve_variant("vanilla", ca_only)
    with pytest.raises(ValueError, match="temperature"):
        design_sequences(load_mpnn("ca"), chain, n=1, temperature=0.0)


def test_recovery_on_chains_of_the_builtin_reference_set(ca_model):
    reference = pytest.importorskip("superdiff.proteins.reference")
    try:
        chains = reference.load_reference_set()
    except (FileNotFoundError, OSError) as err:
        pytest.skip(f"built-in reference set not built: {err}")
    picked = sorted(chains, key=lambda c: (abs(len(c.sequence) - 100), c.id))[:2]
    recoveries = []
    for i, chain in enumerate(picked):
        backbone = Backbone(chain.ca, chain.sequence)
        recoveries += [d.recovery for d in design_sequences(ca_model, backbone, n=2, temperature=0.1, seed=i)]
    assert np.mean(recoveries) > 5 * RANDOM_RECOVERY, recoveries


def test_vanilla_model_designs_an_ideal_full_backbone_helix():
    from superdiff.proteins.ideal import ideal_chain

    atoms = ideal_chain("helix", 40).astype(np.float32)
    backbone = Backbone(atoms[:, 1], "G" * 40, atoms=atoms)  # poly-Gly: as full-backbone experts write it
    assert resolve_variant("auto", backbone) == "vanilla"
    designed = design_sequences(load_mpnn("vanilla"), backbone, n=2, temperature=0.1, seed=0)
    assert all(len(d.sequence) == 40 and np.isfinite(d.nll) and 0 < d.nll < np.log(20) for d in designed)
    assert all(np.isnan(d.recovery) for d in designed)  # no native sequence to recover
    helix_formers = np.mean([c in "AELKMQR" for d in designed for c in d.sequence])
    assert helix_formers > 0.7, [d.sequence for d in designed]
