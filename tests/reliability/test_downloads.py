"""Items 4 and 5: downloads fail in one line (file, URL, what happened); the manifest cache cannot be poisoned.

Everything runs against a threaded ``http.server`` on 127.0.0.1 (never the internet). Before: the manifest beside
downloaded weights was fetched straight into the cache (a truncated transfer left partial JSON that failed every
later run), never verified, keyed by the weights' hash only (a bad manifest from one URL served every URL), and
``manifest:../../x`` read any JSON on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket

import pytest

from superdiff.files.download import manifest_cache_path
from superdiff.proteins.builtin import BUILTIN_DIR
from superdiff.proteins.registry import MANIFEST_DIR, load_model, parse_spec, weights_fingerprint

from .conftest import Routes, error_line, run_cli

WEIGHTS = (BUILTIN_DIR / "helix.safetensors").read_bytes()
W_SHA = hashlib.sha256(WEIGHTS).hexdigest()
MANIFEST = (BUILTIN_DIR / "helix.json").read_bytes()
M_SHA = hashlib.sha256(MANIFEST).hexdigest()
SAMPLE = ["--length", "20", "--num", "1", "--steps", "2"]


def sample(capsys, tmp_path, spec: str, out: str = "out"):
    return run_cli(capsys, "sample-backbones", "--model", spec, *SAMPLE, "--out", tmp_path / out)


def cached_files(cache) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


# ------------------------------------------------------------------------------------------------ failures, one line
def test_http_404_names_file_url_and_status(capsys, tmp_path, routes, cache):
    base, _ = routes
    url = f"{base}/w/helix.safetensors"
    rc, _, err = sample(capsys, tmp_path, f"weights:{url}#sha256={W_SHA}")
    error_line(rc, err, "sample-backbones", "cannot download helix.safetensors", url, "HTTP 404", "not retried")
    assert not (tmp_path / "out").exists() and not cached_files(cache)


def test_http_500_is_retried_then_one_line(capsys, tmp_path, routes, cache):
    base, table = routes
    table["/w/helix.safetensors"] = (500, b"boom", None)
    rc, _, err = sample(capsys, tmp_path, f"weights:{base}/w/helix.safetensors#sha256={W_SHA}")
    error_line(rc, err, "sample-backbones", "helix.safetensors", f"{base}/w/helix.safetensors", "HTTP 500",
               "(after 3 attempts)")
    assert not cached_files(cache)


def test_truncated_body_is_one_line_and_leaves_nothing(capsys, tmp_path, routes, cache):
    base, table = routes
    table["/w/helix.safetensors"] = (200, WEIGHTS[:1000], len(WEIGHTS))  # announces more than it sends
    rc, _, err = sample(capsys, tmp_path, f"weights:{base}/w/helix.safetensors#sha256={W_SHA}")
    error_line(rc, err, "sample-backbones", "helix.safetensors", "truncated body", f"of {len(WEIGHTS)} bytes",
               "(after 3 attempts)")
    assert not cached_files(cache)


def test_connection_refused_is_one_line(capsys, tmp_path, cache):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/w/helix.safetensors"
    rc, _, err = sample(capsys, tmp_path, f"weights:{url}#sha256={W_SHA}")
    error_line(rc, err, "sample-backbones", "helix.safetensors", url, "connection refused")


def test_missing_manifest_is_one_line(capsys, tmp_path, routes, cache):
    base, table = routes
    table["/w/helix.safetensors"] = (200, WEIGHTS, None)
    rc, _, err = sample(capsys, tmp_path, f"weights:{base}/w/helix.safetensors#sha256={W_SHA}")
    error_line(rc, err, "sample-backbones", "no model manifest given and none found at", f"{base}/w/helix.json",
               "HTTP 404")


# ------------------------------------------------------------------------------------------------ the manifest cache
def serve(table, prefix: str = "/w", manifest: bytes = MANIFEST) -> None:
    table[f"{prefix}/helix.safetensors"] = (200, WEIGHTS, None)
    table[f"{prefix}/helix.json"] = (200, manifest, None)


def test_truncated_manifest_never_poisons_the_cache(capsys, tmp_path, routes, cache):
    base, table = routes
    serve(table)
    table["/w/helix.json"] = (200, MANIFEST[:100], len(MANIFEST))
    spec = f"weights:{base}/w/helix.safetensors#sha256={W_SHA}"
    rc, _, err = sample(capsys, tmp_path, spec)
    error_line(rc, err, "sample-backbones", "cannot download helix.json", "truncated body")
    assert not [f for f in cached_files(cache) if f.endswith(".json")]  # no partial JSON left behind
    serve(table)  # the server recovers; so does the next run, with nobody deleting anything
    rc, _, err = sample(capsys, tmp_path, spec)
    assert rc == 0, err
    assert (tmp_path / "out" / "designs.parquet").exists()


def test_damaged_cached_manifest_is_fetched_again(capsys, tmp_path, routes, cache):
    base, table = routes
    serve(table)
    spec = f"weights:{base}/w/helix.safetensors#sha256={W_SHA}"
    assert sample(capsys, tmp_path, spec, "a")[0] == 0
    cached = manifest_cache_path(f"{base}/w/helix.json", W_SHA, cache)
    cached.write_bytes(b'{"model_conf')  # a damaged cache entry
    before = Routes.hits["/w/helix.json"]
    rc, _, err = sample(capsys, tmp_path, spec, "b")
    assert rc == 0, err
    assert json.loads(cached.read_bytes()) == json.loads(MANIFEST)  # whole again, with nobody deleting it
    assert Routes.hits["/w/helix.json"] == before + 1


def test_manifest_cache_is_keyed_by_its_source(capsys, tmp_path, routes, cache):
    base, table = routes
    foreign = json.dumps({**json.loads(MANIFEST), "sha256": "0" * 64}).encode()
    serve(table, "/a")
    serve(table, "/b", manifest=foreign)
    rc, _, err = sample(capsys, tmp_path, f"weights:{base}/b/helix.safetensors#sha256={W_SHA}", "b")
    error_line(rc, err, "sample-backbones", f"{base}/b/helix.json", f"describes weights with sha256 {'0' * 64}",
               f"not {W_SHA}")
    rc, _, err = sample(capsys, tmp_path, f"weights:{base}/a/helix.safetensors#sha256={W_SHA}", "a")
    assert rc == 0, err  # b's refused manifest is not a's
    assert manifest_cache_path(f"{base}/a/helix.json", W_SHA, cache) != manifest_cache_path(
        f"{base}/b/helix.json", W_SHA, cache)


def test_manifest_without_model_config_is_refused_and_not_cached(capsys, tmp_path, routes, cache):
    base, table = routes
    serve(table, manifest=b'{"name": "helix"}')
    rc, _, err = sample(capsys, tmp_path, f"weights:{base}/w/helix.safetensors#sha256={W_SHA}")
    error_line(rc, err, "sample-backbones", f"{base}/w/helix.json", "no 'model_config' object",
               "expected the manifest written by superdiff train-backbone")
    assert not [f for f in cached_files(cache) if f.endswith(".json")]


def test_pinned_manifest_sha256_mismatch_is_refused(capsys, tmp_path, routes, cache):
    base, table = routes
    serve(table)
    wrong = "1" * 64
    rc, _, err = sample(capsys, tmp_path, f"weights:{base}/w/helix.safetensors#sha256={W_SHA}&manifest_sha256={wrong}")
    error_line(rc, err, "sample-backbones", f"checksum mismatch for {base}/w/helix.json", f"expected sha256 {wrong}",
               f"got {M_SHA}")
    assert not [f for f in cached_files(cache) if f.endswith(".json")]


def test_pinned_manifest_sha256_in_dict_form_loads(tmp_path, routes):
    base, table = routes
    serve(table)
    model = load_model({"kind": "weights", "url": f"{base}/w/helix.safetensors", "sha256": W_SHA,
                        "manifest_sha256": M_SHA}, cache_dir=tmp_path / "cache")
    assert model.manifest["sha256"] == W_SHA


def test_inline_manifest_is_never_written_beside_the_cached_weights(tmp_path, routes):
    """An inline manifest used to be written next to the cached weights, where a later spec without one found it."""
    base, table = routes
    table["/w/helix.safetensors"] = (200, WEIGHTS, None)
    cache = tmp_path / "cache"
    load_model({"kind": "weights", "url": f"{base}/w/helix.safetensors", "sha256": W_SHA,
                "manifest": json.loads(MANIFEST)}, cache_dir=cache)
    assert not [f for f in cached_files(cache) if f.endswith(".json")]
    with pytest.raises(FileNotFoundError, match="no model manifest given and none found"):
        load_model(f"weights:{base}/w/helix.safetensors#sha256={W_SHA}", cache_dir=cache)


# ------------------------------------------------------------------------------------------------ specs
def test_bad_manifest_pin_in_a_spec_is_refused_when_parsed():
    with pytest.raises(ValueError, match=r"manifest_sha256 must be 64 hexadecimal characters, got 'abc'"):
        parse_spec(f"weights:http://x/w.safetensors#sha256={W_SHA}&manifest_sha256=abc")
    with pytest.raises(ValueError, match="unknown or empty 'md5=00' after '#'"):
        parse_spec(f"weights:http://x/w.safetensors#sha256={W_SHA}&md5=00")


def test_manifest_pin_changes_the_weights_fingerprint():
    plain = weights_fingerprint(f"weights:/w.safetensors#sha256={W_SHA}")
    pinned = weights_fingerprint(f"weights:/w.safetensors#sha256={W_SHA}&manifest_sha256={M_SHA}")
    assert plain == W_SHA and pinned != plain and M_SHA in pinned


@pytest.mark.parametrize("name", ["PATH_TO_EVIL", "/etc/passwd", "sub/name", ".."])
def test_manifest_names_are_plain_names_never_paths(capsys, tmp_path, name):
    evil = tmp_path / "evil.json"
    evil.write_text(json.dumps({"kind": "builtin-ca", "name": "helix"}))  # a spec the old code would have loaded
    if name == "PATH_TO_EVIL":
        name = os.path.relpath(evil.with_suffix(""), MANIFEST_DIR)  # manifest:../../../tmp/.../evil
    rc, _, err = sample(capsys, tmp_path, f"manifest:{name}")
    error_line(rc, err, "sample-backbones", f"manifest name {name!r}", "expected a plain name", "not a path")
    assert not (tmp_path / "out").exists()
