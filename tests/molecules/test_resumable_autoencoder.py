"""The resumable autoencoder trainer: a stopped-and-resumed run equals an uninterrupted one, settings are pinned,
and completion records the weights with the command that reproduces them."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from superdiff.molecules.resumable_autoencoder import ResumableSettings, batch_indices, train_resumable
from superdiff.molecules.weights import read_manifest, verified_file

TINY = ResumableSettings(steps=12, batch_size=16, warmup=2, latent_dim=4, hidden_dim=16, embed_dim=8,
                         n_moses=200, activity_repeats=1, all_moleculeace=False)


def _run(out, cache, **kwargs):
    return train_resumable(out, TINY, checkpoint_every=5, eval_every=100, eval_molecules=20,
                           final_eval_molecules=20, cache_dir=cache, progress=False, **kwargs)


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "autoencoder.safetensors"))


def test_batches_depend_on_seed_and_step_only_and_cover_the_corpus():
    lengths = np.random.default_rng(0).integers(5, 60, size=300)
    first = [batch_indices(s, 300, lengths, 16, seed=3) for s in range(64)]
    again = [batch_indices(s, 300, lengths, 16, seed=3) for s in reversed(range(64))][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], batch_indices(0, 300, lengths, 16, seed=4))
    # one pool of 16 batches is 16 distinct slices of one sorted draw: no row served twice more than drawn
    pool = np.concatenate(first[:16])
    assert len(pool) == 256 and all(len(b) == 16 for b in first)


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(tmp_path):
    cache = tmp_path / "cache"
    straight = _run(tmp_path / "straight", cache)
    assert straight["step"] == 12 and "final" in straight
    partial = _run(tmp_path / "resumed", cache, stop_after=5)
    assert partial["step"] == 5 and not (tmp_path / "resumed" / "autoencoder.safetensors").exists()
    resumed = _run(tmp_path / "resumed", cache)
    assert resumed["step"] == 12
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["ce"] for r in straight["log"]] == [r["ce"] for r in resumed["log"]]
    entry = read_manifest(tmp_path / "straight")["artefacts"]["autoencoder"]
    assert "--resumable" in entry["command"] and "--steps 12" in entry["command"]
    assert verified_file(tmp_path / "straight", "autoencoder", "autoencoder.safetensors").exists()
    progress = json.loads((tmp_path / "straight" / "autoencoder.progress.json").read_text())
    assert progress["step"] == 12 and 0.0 <= progress["final"]["reconstruction_held_out"] <= 1.0


@pytest.mark.slow
def test_resume_with_other_settings_is_refused(tmp_path):
    _run(tmp_path / "run", tmp_path / "cache", stop_after=2)
    with pytest.raises(ValueError, match="same settings"):
        train_resumable(tmp_path / "run", replace(TINY, lr=5e-4), cache_dir=tmp_path / "cache", progress=False)


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("steps", 0, "> 0"), ("lr", -1e-3, "> 0"), ("kl_anneal", 1.5, r"in \[0, 1\]"), ("kl_weight", -0.1, ">= 0"),
    ("n_moses", 0, "> 0"), ("batch_size", -4, "> 0")])
def test_bad_settings_name_the_field_the_value_and_what_was_expected(field, value, expected):
    with pytest.raises(ValueError, match=rf"ResumableSettings\.{field} is {value!r}, expected {expected}"):
        replace(TINY, **{field: value})
