"""Verified weight downloads: sha256 check, atomic write, retries, and a cache under ``resources/cache/``.

:func:`fetch` accepts ``http://``, ``https://`` and ``file://`` URLs and plain paths. A download goes to a temporary
file beside its destination and is renamed into place only after its sha256 matched; a mismatch raises
:class:`ChecksumError` naming the file, the expected and the actual hash, and leaves nothing in the cache. Files
already in the cache are re-verified before use.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from superdiff.files.atomic import atomic_path
from superdiff.files.resources import resource_path

CACHE_DIR = resource_path("cache")
CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's sha256 differs from the expected one."""

    def __init__(self, name: str, expected: str, actual: str):
        super().__init__(f"checksum mismatch for {name}: expected sha256 {expected}, got {actual}")
        self.name, self.expected, self.actual = name, expected, actual


class DownloadError(OSError):
    """A download failed after all retries."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(value: str) -> str:
    value = value.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"sha256 must be 64 hexadecimal characters, got {value!r}")
    return value


def verify(path: str | os.PathLike, expected: str, name: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path``'s sha256 equals ``expected``."""
    actual = sha256_file(path)
    if actual != _check_sha256(expected):
        raise ChecksumError(name or str(path), expected, actual)


def _copy_url(url: str, dest: Path, timeout: float) -> None:
    """Copy ``url`` (http, https or file) into ``dest``, checking Content-Length when the server sends it."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        expected_len = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        shutil.copyfileobj(response, out, CHUNK)
    if expected_len is not None and dest.stat().st_size != int(expected_len):
        raise DownloadError(f"{url}: truncated download ({dest.stat().st_size} of {expected_len} bytes)")


def _as_url(source: str | os.PathLike) -> str:
    text = str(source)
    scheme = urllib.parse.urlparse(text).scheme
    if scheme in ("http", "https", "file"):
        return text
    if scheme and len(scheme) > 1:
        raise ValueError(f"unsupported URL scheme {scheme!r} in {text!r}: use http://, https://, file:// or a path")
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"weights file not found: {path}")
    return path.as_uri()


def cache_path(url: str, sha256: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``url`` with ``sha256`` lives in the cache: ``<cache>/<sha256[:16]>/<file name>``."""
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "download"
    return Path(cache_dir or CACHE_DIR) / _check_sha256(sha256)[:16] / name


def fetch(source: str | os.PathLike, sha256: str, cache_dir: str | os.PathLike | None = None, retries: int = 3,
          timeout: float = 30.0, backoff: float = 0.5) -> Path:
    """Download ``source`` into the cache and return the verified local path.

    Args:
        source: ``http(s)://`` or ``file://`` URL, or a local path.
        sha256: expected hex digest (64 characters).
        cache_dir: cache folder (default ``resources/cache``).
        retries: attempts for network errors and truncated transfers (a checksum mismatch is not retried:
            the server sent the whole file and it is the wrong one).
        timeout: seconds per connection attempt.
        backoff: seconds before the second attempt, doubled after each failure.

    Raises:
        ChecksumError: the downloaded (or cached) file's sha256 differs from ``sha256``.
        DownloadError: every attempt failed (unreachable host, HTTP error, truncated transfer).
        FileNotFoundError: a local path that does not exist.
    """
    sha256 = _check_sha256(sha256)
    if retries < 1:
        raise ValueError(f"retries must be >= 1, got {retries}")
    url = _as_url(source)
    dest = cache_path(url, sha256, cache_dir)
    if dest.exists():
        try:
            verify(dest, sha256, str(dest))
            return dest
        except ChecksumError:
            dest.unlink()  # a corrupted cache entry: fetch again
    last_error: Exception | None = None
    for attempt in range(retries):
        try:
            with atomic_path(dest) as tmp:
                _copy_url(url, tmp, timeout)
                actual = sha256_file(tmp)
                if actual != sha256:
                    raise ChecksumError(url, sha256, actual)
            return dest
        except ChecksumError:
            raise
        except (urllib.error.URLError, OSError, http.client.HTTPException, DownloadError) as err:
            if isinstance(err, urllib.error.HTTPError) and 400 <= err.code < 500 and err.code != 429:
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
            last_error = err
            if attempt + 1 < retries:
                time.sleep(backoff * 2**attempt)
    raise DownloadError(f"{url}: download failed after {retries} attempts ({last_error})") from last_error
