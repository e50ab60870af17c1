"""Verified downloads against a real HTTP server on 127.0.0.1 and file:// URLs."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from superdiff.files.download import ChecksumError, DownloadError, cache_path, fetch

PAYLOAD = bytes(range(256)) * 400  # 100 kB
GOOD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        if self.path == "/good.bin":
            self._send(PAYLOAD)
        elif self.path == "/corrupt.bin":
            data = bytearray(PAYLOAD)
            data[1000] ^= 0xFF
            self._send(bytes(data))
        elif self.path == "/truncated.bin":
            # announce the full length, send half, close the connection
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/flaky.bin":
            if _Handler.hits[self.path] == 1:
                self.send_response(503)
                self.end_headers()
            else:
                self._send(PAYLOAD)
        else:
            self.send_response(404)
            self.end_headers()

    def _send(self, data: bytes):
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_good_download_is_cached_and_verified(server, tmp_path):
    path = fetch(f"{server}/good.bin", GOOD_SHA, cache_dir=tmp_path, backoff=0)
    assert path.read_bytes() == PAYLOAD
    assert path == cache_path(f"{server}/good.bin", GOOD_SHA, tmp_path)
    hits = _Handler.hits.get("/good.bin", 0)
    assert fetch(f"{server}/good.bin", GOOD_SHA, cache_dir=tmp_path) == path
    assert _Handler.hits.get("/good.bin", 0) == hits  # served from the cache


def test_corrupt_download_is_refused_with_both_hashes(server, tmp_path):
    with pytest.raises(ChecksumError) as err:
        fetch(f"{server}/corrupt.bin", GOOD_SHA, cache_dir=tmp_path, backoff=0)
    message = str(err.value)
    assert "corrupt.bin" in message and GOOD_SHA in message and err.value.actual in message
    assert err.value.actual != GOOD_SHA
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing left behind


def test_wrong_sha_is_refused(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=f"expected sha256 {wrong}, got {GOOD_SHA}"):
        fetch(f"{server}/good.bin", wrong, cache_dir=tmp_path, backoff=0)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_truncated_download_is_retried_then_fails(server, tmp_path):
    before = _Handler.hits.get("/truncated.bin", 0)
    with pytest.raises(DownloadError, match=r"truncated|failed after 3 attempts"):
        fetch(f"{server}/truncated.bin", GOOD_SHA, cache_dir=tmp_path, retries=3, backoff=0)
    assert _Handler.hits["/truncated.bin"] - before == 3
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_transient_error_is_retried(server, tmp_path):
    path = fetch(f"{server}/flaky.bin", GOOD_SHA, cache_dir=tmp_path, retries=3, backoff=0)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.hits["/flaky.bin"] == 2


def test_unreachable_host_fails_cleanly(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    message = r"x\.bin from http://127\.0\.0\.1:\d+/x\.bin: connection refused \(after 2 attempts\)"
    with pytest.raises(DownloadError, match=message):
        fetch(f"http://127.0.0.1:{port}/x.bin", GOOD_SHA, cache_dir=tmp_path, retries=2, timeout=2, backoff=0)


def test_missing_file_on_server_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{server}/missing.bin", GOOD_SHA, cache_dir=tmp_path, retries=3, backoff=0)
    assert _Handler.hits["/missing.bin"] == 1


def test_file_url_and_plain_path(tmp_path):
    src = tmp_path / "src" / "w.bin"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    assert fetch(src.as_uri(), GOOD_SHA, cache_dir=cache).read_bytes() == PAYLOAD
    assert fetch(str(src), GOOD_SHA, cache_dir=cache).read_bytes() == PAYLOAD
    with pytest.raises(FileNotFoundError):
        fetch(str(tmp_path / "nope.bin"), GOOD_SHA, cache_dir=cache)


def test_corrupted_cache_entry_is_replaced(tmp_path):
    src = tmp_path / "w.bin"
    src.write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    path = fetch(src.as_uri(), GOOD_SHA, cache_dir=cache)
    path.write_bytes(b"tampered")
    assert fetch(src.as_uri(), GOOD_SHA, cache_dir=cache).read_bytes() == PAYLOAD


def test_bad_sha_string_and_scheme(tmp_path):
    with pytest.raises(ValueError, match="64 hexadecimal"):
        fetch("http://127.0.0.1:1/x", "abc", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unsupported URL scheme 'ftp'"):
        fetch("ftp://127.0.0.1/x", GOOD_SHA, cache_dir=tmp_path)


def test_cache_dir_default_is_git_ignored():
    root = Path(__file__).resolve().parents[2]
    ignore = (root / ".gitignore").read_text() if (root / ".gitignore").exists() else ""
    assert "resources/cache" in ignore
