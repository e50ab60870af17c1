"""The resumable latent-diffusion trainer: exact resume, pinned settings, and a stored model that loads through the
latent-model contract together with the autoencoder it was trained on."""

import json

import numpy as np
import pytest
import torch

from superdiff.molecules.latent_model import load_latent_model
from superdiff.molecules.resumable_autoencoder import ResumableSettings, train_resumable
from superdiff.molecules.resumable_diffusion import DiffusionRunSettings, latent_table, train_resumable_diffusion
from superdiff.molecules.weights import default_weights_dir, read_manifest

AE = ResumableSettings(steps=4, batch_size=16, warmup=2, latent_dim=4, hidden_dim=16, embed_dim=8, n_moses=150,
                       activity_repeats=1, all_moleculeace=False)
RUN = DiffusionRunSettings(steps=8, batch_size=32, warmup=2, hidden=16, blocks=1, n_moses=150, all_moleculeace=False,
                           labels=("gsk3b", "druglike"))


@pytest.fixture(scope="module")
def autoencoder_dir(tmp_path_factory):
    """A tiny autoencoder trained by the resumable trainer, and the cache folder both trainers share."""
    root = tmp_path_factory.mktemp("faithful")
    train_resumable(root / "ae", AE, eval_every=100, eval_molecules=10, final_eval_molecules=10,
                    cache_dir=root / "cache", progress=False)
    return root


def _copy_ae(root, name):
    folder = root / name
    folder.mkdir()
    for file in ("autoencoder.safetensors", "autoencoder.json", "manifest.json"):
        (folder / file).write_bytes((root / "ae" / file).read_bytes())
    return folder


def _train(folder, root, **kwargs):
    return train_resumable_diffusion(folder, RUN, default_weights_dir(), checkpoint_every=3,
                                     cache_dir=root / "cache", progress=False, **kwargs)


@pytest.mark.slow
def test_latent_table_is_labelled_and_cached(autoencoder_dir):
    root = autoencoder_dir
    table = latent_table(RUN, root / "ae", default_weights_dir(), root / "cache", progress=False)
    assert table.mu.shape == table.log_std.shape and table.mu.shape[1] == 4
    assert table.y.shape == (len(table.mu), 2) and set(np.unique(table.y)) <= {0, 1}
    assert table.y[:, 1].sum() > 0  # some corpus molecules are drug-like
    # the GSK3β oracle's measured half (and its decoys) never reach the diffusion model's corpus
    assert table.report["n_left_out_for_oracles"] >= 250
    again = latent_table(RUN, root / "ae", default_weights_dir(), root / "cache", progress=False)
    assert np.array_equal(again.mu, table.mu)  # read back from the cache
    assert len(list((root / "cache").glob("latents-*.npz"))) == 1


@pytest.mark.slow
def test_resumed_diffusion_equals_uninterrupted_and_loads_as_latent_model(autoencoder_dir):
    root = autoencoder_dir
    straight = _train(_copy_ae(root, "straight"), root)
    resumed_dir = _copy_ae(root, "resumed")
    assert _train(resumed_dir, root, stop_after=3)["step"] == 3
    resumed = _train(resumed_dir, root)
    assert straight["step"] == resumed["step"] == 8 and "stored" in resumed
    from safetensors.torch import load_file

    a = load_file(str(root / "straight" / "latent_diffusion.safetensors"))
    b = load_file(str(resumed_dir / "latent_diffusion.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    entry = read_manifest(resumed_dir)["artefacts"]["latent_diffusion"]
    assert "--resumable" in entry["command"] and "--labels gsk3b druglike" in entry["command"]
    model = load_latent_model("builtin", torch.device("cpu"), weights=resumed_dir)
    assert model.conditions == ["gsk3b", "druglike"] and model.latent_shape == (4,)
    x = torch.randn(3, 4)
    assert model.denoise(x, torch.full((3,), 0.5), ("gsk3b",)).shape == (3, 4)
    assert len(model.decode(x)) == 3
    progress = json.loads((resumed_dir / "latent_diffusion.progress.json").read_text())
    assert progress["natural_label_frequency"]["druglike"] > 0


@pytest.mark.slow
def test_resume_with_other_settings_is_refused(autoencoder_dir):
    root = autoencoder_dir
    folder = _copy_ae(root, "refuse")
    _train(folder, root, stop_after=1)
    with pytest.raises(ValueError, match="same settings"):
        train_resumable_diffusion(folder, RUN.__class__(**{**RUN.__dict__, "lr": 1e-4}), default_weights_dir(),
                                  cache_dir=root / "cache", progress=False)


@pytest.mark.parametrize(("change", "message"), [
    ({"labels": ("gsk3b", "jnk9")}, r"labels is \['gsk3b', 'jnk9'\], expected distinct names"),
    ({"labels": ()}, "labels is"), ({"positive_share": 1.0}, r"positive_share is 1.0, expected in \(0, 1\)"),
    ({"ema": 2.0}, r"ema is 2.0, expected in \[0, 1\]"), ({"hidden": 0}, "hidden is 0, expected > 0")])
def test_bad_settings_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        DiffusionRunSettings(**{**RUN.__dict__, **change})
