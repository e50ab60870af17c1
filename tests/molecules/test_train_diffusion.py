"""Training-data pieces of the latent diffusion model: oversampling, its importance weights, decoded labels."""

import numpy as np
import pytest
import torch

from superdiff.molecules import conditions
from superdiff.molecules.loading import load_autoencoder
from superdiff.molecules.predictors import PropertyPredictor
from superdiff.molecules.train_diffusion import (
    decoded_labels,
    label_matrix,
    loss_weights,
    oversampling_factors,
    sampling_weights,
)

LABELS = ["gsk3b", "jak2", "druglike"]


def _labels(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gsk = rng.random(n) < 0.01
    jak = (gsk & (rng.random(n) < 0.5)) | (rng.random(n) < 0.03)  # overlapping rare labels
    return np.stack([gsk, jak, rng.random(n) < 0.6], axis=1).astype(np.int64)


def test_oversampling_lifts_rare_positives_to_the_share():
    y = _labels()
    base = np.random.default_rng(1).uniform(0.5, 1.5, len(y))
    probs = sampling_weights(y, LABELS, 0.15, base)
    assert probs.sum() == pytest.approx(1.0)
    # each rare label's positives make up ~15 % of the stream; druglike is left at its natural rate
    assert probs @ y[:, 0] == pytest.approx(0.15, abs=1e-3)
    assert probs @ y[:, 1] == pytest.approx(0.15, abs=1e-3)
    natural = (base * y[:, 2]).sum() / base.sum()
    assert abs(probs @ y[:, 2] - natural) < 0.1


def test_loss_weights_restore_the_natural_distribution_of_unspecified_labels():
    y = _labels()
    base = np.ones(len(y))
    factors = oversampling_factors(y, LABELS, 0.15, base)
    probs = sampling_weights(y, LABELS, 0.15, base)
    unspecified = np.zeros_like(y)  # the unconditional model: no label specified
    w = probs * loss_weights(factors, unspecified)
    w = w / w.sum()
    np.testing.assert_allclose(w, base / base.sum(), rtol=1e-9)  # exactly the un-oversampled corpus
    # specifying gsk3b = 1: within gsk3b positives jak2 keeps its natural share
    only_gsk = np.zeros_like(y)
    only_gsk[:, 0] = 1
    pos = y[:, 0] == 1
    w = (probs * loss_weights(factors, only_gsk))[pos]
    np.testing.assert_allclose(w / w.sum(), base[pos] / base[pos].sum(), rtol=1e-9)


def test_decoded_labels_describe_the_decoded_molecule():
    ae = load_autoencoder()
    predictor = PropertyPredictor()
    x = torch.randn(16, ae.config.latent_dim, generator=torch.Generator().manual_seed(0))
    mean, std = torch.zeros(ae.config.latent_dim), torch.ones(ae.config.latent_dim)
    y, smiles = decoded_labels(ae, x, mean, std, predictor, LABELS, chunk=5, progress=False)
    assert len(smiles) == 16 and y.shape == (16, 3)
    assert smiles == ae.decode_smiles(x)
    np.testing.assert_array_equal(y, label_matrix(smiles, predictor, LABELS))
    assert set(np.unique(y)) <= {0, 1}
    assert conditions.QED_THRESHOLD == 0.6


@pytest.mark.slow
def test_decoder_finetune_keeps_the_latents(tmp_path):
    """Fine-tuning the decoder changes the decoder only: encoder latents (what the diffusion model was trained on)
    are bit-identical, and the manifest records the verified new files and both commands."""
    import shutil

    from superdiff.molecules.train_autoencoder import finetune_decoder
    from superdiff.molecules.weights import default_weights_dir, read_manifest

    for f in default_weights_dir().iterdir():
        shutil.copy(f, tmp_path / f.name)
    before = load_autoencoder(tmp_path)
    finetune_decoder(tmp_path, n_moses=200, steps=2, lr=1e-2, progress=False)
    after = load_autoencoder(tmp_path)  # sha256-verified against the updated manifest
    smiles = ["CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1", "c1ccc2[nH]ccc2c1"]
    torch.testing.assert_close(before.encode_smiles(smiles)[0], after.encode_smiles(smiles)[0], rtol=0, atol=0)
    assert not torch.equal(before.readout.weight, after.readout.weight)
    entry = read_manifest(tmp_path)["artefacts"]["autoencoder"]
    assert "--finetune-decoder --steps 2" in entry["command"] and entry["config"]["decoder_finetune"]["steps"] == 2
