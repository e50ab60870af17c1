"""Shared helpers of the reliability probes: run a command, check that it failed in one clear line.

Every probe asserts the exit status, one line ``superdiff COMMAND: error: <message>`` naming the field or file, the
value and what was expected, and no traceback. Probes of anything that hung once run in a subprocess with a
timeout, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from superdiff.cli import main
from superdiff.proteins.structure import ca_pdb_text

#: seconds a probe of a former hang may take before it counts as hanging (the work itself takes ~5 s)
HANG_TIMEOUT = 120


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``superdiff ARGV`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def error_line(rc: int, err: str, command: str, *needles: str) -> str:
    """Assert a clean failure of ``command``: exit 2, exactly one error line containing every needle, no traceback.

    Returns the message after ``error: ``.
    """
    assert rc == 2, f"exit status {rc}, expected 2; stderr:\n{err}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("superdiff ")]
    assert len(lines) == 1, f"expected one error line, got {lines}"
    prefix = f"superdiff {command}: error: "
    assert lines[0].startswith(prefix), lines[0]
    message = lines[0][len(prefix):]
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


def run_with_timeout(argv: list[str], timeout: float = HANG_TIMEOUT, cwd: str | None = None):
    """``python -m superdiff.cli ARGV`` in its own process group, killed (with any children) after ``timeout``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "superdiff.cli", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"superdiff {' '.join(map(str, argv))} did not finish within {timeout} s (a hang)")
    return proc.returncode, out, err


def helix(n: int = 40, rise: float = 1.5, phase: float = 0.0) -> np.ndarray:
    """An ideal α-helix Cα trace ``[n, 3]`` (Å): 3.8 Å between neighbours, 100° per residue."""
    t = np.arange(n) * np.deg2rad(100.0) + phase
    return np.stack([2.3 * np.cos(t), 2.3 * np.sin(t), rise * np.arange(n)], axis=1)


def write_pdb(path: Path, ca: np.ndarray) -> Path:
    """A Cα PDB written as text, NaN / inf included (the package's writer refuses them)."""
    lines = []
    for i, (x, y, z) in enumerate(np.asarray(ca, dtype=float)):
        lines.append(f"ATOM  {i + 1:5d}  CA  ALA A{i + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           C")
    path.write_text("\n".join([*lines, "TER", "END", ""]))
    return path


def with_value(ca: np.ndarray, value: float, index: int = 5) -> np.ndarray:
    out = np.array(ca, dtype=float)
    out[index, 0] = value
    return out


@pytest.fixture
def good_pdb_text() -> str:
    return ca_pdb_text(helix(40))


# --------------------------------------------------------------------------------------------- local HTTP server
class Routes(http.server.BaseHTTPRequestHandler):
    """Serves ``Routes.table[path] = (status, body, announced length or None)``; unknown paths are 404."""

    table: ClassVar[dict[str, tuple[int, bytes, int | None]]] = {}
    hits: ClassVar[dict[str, int]] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        Routes.hits[self.path] = Routes.hits.get(self.path, 0) + 1
        status, body, length = Routes.table.get(self.path, (404, b"", None))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if length is not None and length != len(body):
            self.close_connection = True  # a truncated body: fewer bytes than announced, then the socket closes


@pytest.fixture(scope="session")
def http_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def routes(http_server):
    """The server's routing table, emptied for each probe; yields (base URL, table)."""
    Routes.table.clear()
    Routes.hits.clear()
    yield http_server, Routes.table
    Routes.table.clear()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """Downloads of in-process commands go to a temporary cache, never resources/cache."""
    import superdiff.files.download as download

    folder = tmp_path / "cache"
    monkeypatch.setattr(download, "CACHE_DIR", folder)
    return folder


# --------------------------------------------------------------------------------------------- tiny score models
MODELS_SOURCE = '''
import torch


def gauss(device=None):
    def score(x, t):
        return -x
    score.coord_scale = 1.0
    return score


def nan_scores(device=None):
    def score(x, t):
        return torch.full_like(x, float("nan"))
    score.coord_scale = 1.0
    return score


def nan_when_long(device=None):
    """Finite for chains shorter than 10 residues, NaN from 10 on (a later batch fails, an earlier one does not)."""
    def score(x, t):
        return -x if x.shape[1] < 10 else torch.full_like(x, float("nan"))
    score.coord_scale = 1.0
    return score
'''


@pytest.fixture(scope="session")
def score_models(tmp_path_factory):
    """The module ``reliability_models`` (gauss, nan_scores, nan_when_long) importable by ``--model``."""
    folder = tmp_path_factory.mktemp("models")
    (folder / "reliability_models.py").write_text(MODELS_SOURCE)
    sys.path.insert(0, str(folder))
    yield "reliability_models"
    sys.path.remove(str(folder))
    sys.modules.pop("reliability_models", None)
