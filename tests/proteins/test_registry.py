"""Model specifications: built-in experts, Python factories, verified weight files."""

from __future__ import annotations

import shutil
import sys
import textwrap

import pytest
import torch

from superdiff.files.download import ChecksumError, sha256_file
from superdiff.proteins.builtin import BUILTIN_DIR
from superdiff.proteins.registry import load_model, parse_spec, weights_fingerprint


def test_parse_spec_forms():
    assert parse_spec("builtin:helix") == {"kind": "builtin-ca", "name": "helix"}
    assert parse_spec("pkg.mod:make") == {"kind": "python", "factory": "pkg.mod:make"}
    assert parse_spec("python:pkg.mod:make") == {"kind": "python", "factory": "pkg.mod:make"}
    assert parse_spec("weights:file:///w.safetensors#sha256=" + "a" * 64)["url"] == "file:///w.safetensors"
    for bad in ("", "nonsense", "a:b:c", {"kind": "frames"}, "weights:/x.safetensors"):
        with pytest.raises(ValueError):
            parse_spec(bad)


def test_weights_fingerprint_follows_the_weights():
    assert weights_fingerprint("builtin:helix") == sha256_file(BUILTIN_DIR / "helix.safetensors")
    assert weights_fingerprint("builtin:helix") != weights_fingerprint("builtin:strand")
    assert weights_fingerprint("weights:/w.safetensors#sha256=" + "c" * 64) == "c" * 64
    assert weights_fingerprint("pkg.mod:make") == "python:pkg.mod:make"
    with pytest.raises(KeyError, match="unknown built-in model 'coil'"):
        weights_fingerprint("builtin:coil")


def test_builtin_models_load_and_score(experts):
    x = torch.randn(2, 40, 3)
    x = x - x.mean(1, keepdim=True)
    for model in experts:
        s = model(x, torch.tensor([0.5, 0.05]))
        assert s.shape == x.shape and torch.isfinite(s).all()
        assert s.mean(1).abs().max() < 1e-4  # scores live in the centred subspace


def test_unknown_builtin_name():
    with pytest.raises(KeyError, match="unknown built-in model 'coil'"):
        load_model("builtin:coil")


def test_unknown_manifest_and_module():
    with pytest.raises(KeyError, match="unknown model manifest"):
        load_model("manifest:does-not-exist")
    with pytest.raises(KeyError, match="cannot import module"):
        load_model("no_such_module_xyz:make")


def test_python_factory_contract(tmp_path, monkeypatch):
    (tmp_path / "my_score_models.py").write_text(textwrap.dedent('''
        import torch
        def make(device, weights=None, width=1.0):
            def score(x, t):
                return -x / width
            score.coord_scale = 1.0
            return score
        def not_callable(device):
            return 3
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    model = load_model({"kind": "python", "factory": "my_score_models:make", "kwargs": {"width": 2.0}})
    x = torch.ones(1, 5, 3)
    assert torch.allclose(model(x, torch.ones(1)), -x / 2)
    with pytest.raises(TypeError, match="not callable"):
        load_model("my_score_models:not_callable")
    sys.modules.pop("my_score_models", None)


def test_weights_by_path_and_url_with_checksum(tmp_path):
    src = tmp_path / "w"
    src.mkdir()
    shutil.copy(BUILTIN_DIR / "helix.safetensors", src / "helix.safetensors")
    shutil.copy(BUILTIN_DIR / "helix.json", src / "helix.json")
    sha = sha256_file(src / "helix.safetensors")
    model = load_model(f"weights:{(src / 'helix.safetensors').as_uri()}#sha256={sha}", cache_dir=tmp_path / "c")
    x = torch.randn(1, 30, 3)
    from superdiff.proteins.builtin import load_expert

    ref = load_expert(BUILTIN_DIR / "helix.safetensors")  # the same network without the built-in inference polish
    assert torch.allclose(model(x, torch.tensor([0.3])), ref(x, torch.tensor([0.3])))
    with pytest.raises(ChecksumError, match=f"expected sha256 {'b' * 64}, got {sha}"):
        load_model(f"weights:{src / 'helix.safetensors'}#sha256={'b' * 64}", cache_dir=tmp_path / "c2")


def test_tampered_builtin_file_is_refused(tmp_path):
    from superdiff.proteins.builtin import load_expert

    shutil.copy(BUILTIN_DIR / "strand.json", tmp_path / "strand.json")
    data = bytearray((BUILTIN_DIR / "strand.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "strand.safetensors").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"strand\.safetensors"):
        load_expert(tmp_path / "strand.safetensors")


def test_manifests_of_builtin_experts_are_complete():
    import json

    for name in ("helix", "strand"):
        manifest = json.loads((BUILTIN_DIR / f"{name}.json").read_text())
        assert manifest["sha256"] == sha256_file(BUILTIN_DIR / f"{name}.safetensors")
        assert manifest["command"].startswith("superdiff train-backbone")
        assert manifest["train_config"]["subset"] == name
        assert len(manifest["training"]["train_ids"]) > 20
        assert (BUILTIN_DIR / f"{name}.safetensors").stat().st_size < 8 * 2**20
    helix_ids = set(json.loads((BUILTIN_DIR / "helix.json").read_text())["training"]["train_ids"])
    strand_ids = set(json.loads((BUILTIN_DIR / "strand.json").read_text())["training"]["train_ids"])
    assert not helix_ids & strand_ids  # disjoint subsets
