"""Verified weight downloads: sha256 check, atomic write, retries, and a cache under ``resources/cache/``.

:func:`fetch` accepts ``http://``, ``https://`` and ``file://`` URLs and plain paths. A download goes to a temporary
file beside its destination and is renamed into place only after its sha256 matched; a mismatch raises
:class:`ChecksumError` naming the file, the expected and the actual hash, and leaves nothing in the cache. Files
already in the cache are re-verified before use. Every other failure (HTTP error, refused connection, truncated
body) is a :class:`DownloadError` whose one-line message names the file, the URL and what happened.

:func:`fetch_manifest` fetches the JSON manifest that describes a weights file the same way (temporary file,
parsed and optionally sha256-checked before the rename) and caches it under the weights' hash *and* the
manifest's source, so a damaged or foreign manifest is never reused for another URL.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    """A download failed after all retries; ``status`` is the HTTP status when the server answered with one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


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
        try:
            shutil.copyfileobj(response, out, CHUNK)
        except http.client.IncompleteRead as err:
            out.flush()
            raise DownloadError(f"truncated body ({dest.stat().st_size} of {expected_len or '?'} bytes received)"
                                ) from err
    if expected_len is not None and dest.stat().st_size != int(expected_len):
        raise DownloadError(f"truncated body ({dest.stat().st_size} of {expected_len} bytes received)")


def describe_failure(err: BaseException, timeout: float | None = None) -> str:
    """What went wrong with a transfer, in a few words: ``HTTP 404 Not Found``, ``connection refused``, ..."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}".strip()
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"timed out{f' after {timeout:g} s' if timeout else ''}"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror or reason})"
    if isinstance(reason, ConnectionError):
        return f"connection lost ({type(reason).__name__})"
    if isinstance(reason, http.client.HTTPException):
        return f"bad HTTP response ({type(reason).__name__}: {reason})"
    if isinstance(reason, DownloadError | ValueError):
        return str(reason)
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def _as_url(source: str | os.PathLike, what: str = "weights file") -> str:
    text = str(source)
    scheme = urllib.parse.urlparse(text).scheme
    if scheme in ("http", "https", "file"):
        return text
    if scheme and len(scheme) > 1:
        raise ValueError(f"unsupported URL scheme {scheme!r} in {text!r}: use http://, https://, file:// or a path")
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
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
    return _download(url, dest, retries, timeout, backoff, lambda tmp: _check_download(tmp, url, sha256))


def _check_download(tmp: Path, url: str, sha256: str) -> None:
    actual = sha256_file(tmp)
    if actual != sha256:
        raise ChecksumError(url, sha256, actual)


class _Retry(Exception):
    """A downloaded body that failed a check worth another attempt (e.g. JSON cut short)."""


def _download(url: str, dest: Path, retries: int, timeout: float, backoff: float,
              check: Callable[[Path], None]) -> Path:
    """Fetch ``url`` to a temporary file beside ``dest``, ``check`` it, rename it into place; retry transient
    failures. ``check`` raises ChecksumError / ValueError to refuse (not retried) or :class:`_Retry`."""
    if retries < 1:
        raise ValueError(f"retries must be >= 1, got {retries}")
    last_error: BaseException | None = None
    for attempt in range(retries):
        try:
            with atomic_path(dest) as tmp:
                _copy_url(url, tmp, timeout)
                check(tmp)
            return dest
        except ChecksumError:
            raise
        except (urllib.error.URLError, OSError, http.client.HTTPException, _Retry) as err:
            if isinstance(err, urllib.error.HTTPError) and 400 <= err.code < 500 and err.code != 429:
                raise DownloadError(f"cannot download {dest.name} from {url}: {describe_failure(err)} "
                                    "(not retried)", status=err.code) from err
            last_error = err
            if attempt + 1 < retries:
                time.sleep(backoff * 2**attempt)
    status = last_error.code if isinstance(last_error, urllib.error.HTTPError) else None
    raise DownloadError(f"cannot download {dest.name} from {url}: {describe_failure(last_error, timeout)} "
                        f"(after {retries} attempt{'s' if retries > 1 else ''})", status=status) from last_error


def read_manifest(path: str | os.PathLike, weights_sha256: str, manifest_sha256: str | None = None,
                  name: str | None = None, validate: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Parse and verify a weights manifest: a JSON object, with ``manifest_sha256`` when pinned, describing the
    weights ``weights_sha256`` (its own ``sha256`` field, when it has one, must be that hash), accepted by
    ``validate`` (the loader's own check, raising ValueError).

    Raises:
        ChecksumError: the manifest's bytes differ from the pinned ``manifest_sha256``.
        ValueError: not JSON, not an object, a manifest of other weights, or refused by ``validate``.
    """
    name = name or str(path)
    if manifest_sha256:
        verify(path, manifest_sha256, name)
    try:
        manifest = json.loads(Path(path).read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"manifest {name} is not valid JSON ({err}); expected a JSON object describing the "
                         "weights") from err
    if not isinstance(manifest, dict):
        raise ValueError(f"manifest {name} holds a JSON {type(manifest).__name__}; expected a JSON object "
                         "describing the weights")
    pinned = manifest.get("sha256")
    if pinned is not None and str(pinned).strip().lower() != _check_sha256(weights_sha256):
        raise ValueError(f"manifest {name} describes weights with sha256 {pinned}, not {weights_sha256}; expected "
                         "the manifest of these weights")
    if validate is not None:
        try:
            validate(manifest)
        except ValueError as err:
            raise ValueError(f"manifest {name}: {err}") from err
    return manifest


def manifest_cache_path(url: str, weights_sha256: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the manifest at ``url`` for the weights ``weights_sha256`` is cached: keyed by both, so a manifest
    from one source is never reused for another: ``<cache>/<sha[:16]>/manifests/<sha256(url)[:16]>/<name>``."""
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "manifest.json"
    source_key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(cache_dir or CACHE_DIR) / _check_sha256(weights_sha256)[:16] / "manifests" / source_key / name


def fetch_manifest(source: str | os.PathLike, weights_sha256: str, manifest_sha256: str | None = None,
                   cache_dir: str | os.PathLike | None = None, retries: int = 3, timeout: float = 30.0,
                   backoff: float = 0.5, validate: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Download (or read from the cache) the manifest of the weights ``weights_sha256`` at ``source``.

    The body goes to a temporary file and is renamed into the cache only after :func:`read_manifest` (with the
    loader's ``validate``) accepted it;
    a cached copy is verified again before use and fetched anew when it no longer passes (a damaged cache entry
    never needs a person to delete it). JSON cut short is retried like a truncated transfer.

    Raises:
        ChecksumError: the manifest differs from the pinned ``manifest_sha256``.
        ValueError: not a JSON object, or a manifest of other weights.
        DownloadError: every attempt failed. FileNotFoundError: a local path that does not exist.
    """
    weights_sha256 = _check_sha256(weights_sha256)
    manifest_sha256 = _check_sha256(manifest_sha256) if manifest_sha256 else None
    url = _as_url(source, "model manifest")
    dest = manifest_cache_path(url, weights_sha256, cache_dir)
    if dest.exists():
        try:
            return read_manifest(dest, weights_sha256, manifest_sha256, str(dest), validate)
        except ValueError:  # damaged or stale entry (ChecksumError included): fetch it again
            dest.unlink(missing_ok=True)

    def check(tmp: Path) -> None:
        try:
            read_manifest(tmp, weights_sha256, manifest_sha256, url, validate)
        except ChecksumError:
            raise
        except ValueError as err:
            if "not valid JSON" in str(err):
                raise _Retry(str(err)) from err
            raise

    _download(url, dest, retries, timeout, backoff, check)
    return read_manifest(dest, weights_sha256, manifest_sha256, str(dest), validate)
