"""The SELFIES VAE's training pieces: length-bucketed batches, the posterior std floor, the recorded command."""

import shlex

import numpy as np
import pytest
import torch

from superdiff.molecules.autoencoder import AutoencoderConfig, SelfiesVAE, build_vocab, smiles_to_tokens
from superdiff.molecules.train_autoencoder import length_bucketed_batches


def test_bucketed_batches_pad_less_but_draw_every_example_uniformly():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 70, size=500)
    batches = length_bucketed_batches(lengths, 32, np.random.default_rng(1), pool=8)
    drawn = [next(batches) for _ in range(2000)]
    assert all(len(b) == 32 for b in drawn)
    counts = np.bincount(np.concatenate(drawn), minlength=500)
    expected = 2000 * 32 / 500
    # multinomial counts: mean 128, std ~11; a length-biased sampler would skew them far beyond this
    assert abs(counts.mean() - expected) < 1e-9 and counts.std() < 1.5 * np.sqrt(expected)
    assert np.corrcoef(lengths, counts)[0, 1] == pytest.approx(0.0, abs=0.15)
    # a batch spans a narrow slice of lengths: its padded width is far below a random batch's
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in drawn])
    random_spread = np.mean([np.ptp(lengths[rng.integers(0, 500, 32)]) for _ in range(200)])
    assert spread < 0.3 * random_spread


def _tiny_vae(floor: float) -> SelfiesVAE:
    tokens = [smiles_to_tokens(s) for s in ("CCO", "c1ccccc1O", "CC(=O)N")]
    config = AutoencoderConfig(vocab=build_vocab(tokens), max_len=16, embed_dim=8, hidden_dim=16, latent_dim=4,
                               posterior_std_floor=floor)
    model = SelfiesVAE(config)
    with torch.no_grad():
        model.to_logvar.bias.fill_(-30.0)  # the encoder asks for a near-zero posterior std
    return model


@pytest.mark.parametrize("floor", [0.0, 0.3])
def test_posterior_std_floor_bounds_every_std(floor):
    model = _tiny_vae(floor)
    ids, lengths = model.encode_tokens([smiles_to_tokens("CCO"), smiles_to_tokens("c1ccccc1O")])
    _, logvar = model.encode(ids, lengths)
    std = torch.exp(0.5 * logvar)
    if floor:
        torch.testing.assert_close(std, torch.full_like(std, floor))
    else:  # without a floor only the numerical clamp at logvar = -10 applies
        torch.testing.assert_close(std, torch.full_like(std, float(np.exp(-5.0))))


@pytest.mark.slow
def test_training_records_a_command_that_reproduces_its_settings(tmp_path):
    from superdiff.cli import build_parser
    from superdiff.molecules.loading import load_autoencoder
    from superdiff.molecules.train_autoencoder import train_autoencoder
    from superdiff.molecules.weights import read_manifest

    metrics = train_autoencoder(tmp_path, n_moses=100, steps=2, batch_size=16, kl_weight=0.2, hidden_dim=32,
                                posterior_std_floor=0.25, progress=False)
    assert 0.0 <= metrics["reconstruction_held_out"] <= 1.0
    entry = read_manifest(tmp_path)["artefacts"]["autoencoder"]
    args = build_parser().parse_args(shlex.split(entry["command"])[1:])
    settings = entry["config"]
    assert (args.kl_weight, args.posterior_std_floor, args.hidden, args.batch_size, args.steps, args.n_moses) == (
        settings["kl_weight"], settings["posterior_std_floor"], settings["hidden_dim"], settings["batch_size"],
        settings["steps"], settings["n_moses"])
    assert args.all_moleculeace == settings["all_moleculeace"] is False
    assert load_autoencoder(tmp_path).config.posterior_std_floor == 0.25  # sha256-verified load


def test_stepwise_gru_equals_torch_gru_on_packed_and_padded_sequences():
    """The autoencoder's GRU recurrence (superdiff.molecules.gru) gives torch's nn.GRU results and gradients:
    bidirectional final states on the packed sequence, and the decoder's outputs from a given state."""
    from torch import nn

    from superdiff.molecules.gru import bidirectional_final_states, gru_sequence

    torch.manual_seed(0)
    encoder, decoder = nn.GRU(8, 16, batch_first=True, bidirectional=True), nn.GRU(8, 16, batch_first=True)
    x = torch.randn(5, 7, 8, requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1, 6])
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    reference = encoder(packed)[1]
    ours = bidirectional_final_states(encoder, x, lengths)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
    params = [x, encoder.weight_hh_l0, encoder.weight_ih_l0_reverse]
    for a, b in zip(torch.autograd.grad(ours.pow(2).sum(), params),
                    torch.autograd.grad(reference.pow(2).sum(), params), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    h0 = torch.randn(5, 16)
    torch.testing.assert_close(gru_sequence(decoder, x, h0), decoder(x, h0[None])[0], atol=1e-6, rtol=1e-5)
