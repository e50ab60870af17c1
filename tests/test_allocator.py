"""The allocator setting every ``superdiff`` command applies: freed large blocks are reused, not faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from superdiff.allocator import keep_freed_memory

#: a child process that runs 200 steps of a network-like pattern (two temporaries of 3.2 MB per step, freed when
#: the next step allocates), optionally after keep_freed_memory(), and prints the page faults the steps cost
FAULTS = """
import resource, sys, torch
from superdiff.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
def step(x):
    pair = x[:, None] * x[None, :200]
    hidden = torch.relu(pair) + 1.0
    return (hidden.sum(1) / 200).mul(0.5).add(x * 0.5)
x = torch.rand(4000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    x = step(x)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _loop_faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True).stdout
    applied, faults = out.split()
    return applied == "True", int(faults)


def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    applied, kept = _loop_faults("keep")
    if not applied:
        pytest.skip("not glibc: the allocator setting does not apply here")
    _, default = _loop_faults("default")
    # glibc's default maps and unmaps (or trims) the temporaries' pages every step and faults them in again
    assert kept * 10 < default


def test_it_reports_whether_it_applied():
    assert isinstance(keep_freed_memory(), bool)
