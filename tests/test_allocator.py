"""The allocator setting every ``superdiff`` command applies: large blocks come from the heap and freed ones are kept
for reuse (the page-fault and wall-time effect is measured in ``benchmarks/allocator.py``, not here: the kernel's
transparent huge pages make fault counts depend on the machine's state)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from superdiff.allocator import keep_freed_memory

#: a child process that allocates a 16 MiB tensor, frees it, and reports glibc's accounting (``mallinfo2``) after
#: each step, optionally after keep_freed_memory()
ACCOUNTING = """
import ctypes, ctypes.util, json, sys, torch
from superdiff.allocator import keep_freed_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(ctypes.util.find_library("c"))
if not hasattr(libc, "mallinfo2"):
    print(json.dumps(None)); sys.exit()
libc.mallinfo2.restype = MallInfo2
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
block = torch.ones(4 * 2 ** 20)  # 16 MiB of float32
held = libc.mallinfo2()
del block
freed = libc.mallinfo2()
print(json.dumps({"applied": applied, "mapped_while_held": held.hblkhd, "heap_free_after": freed.fordblks}))
"""
MIB = 2**20


def _accounting(mode: str) -> dict | None:
    out = subprocess.run([sys.executable, "-c", ACCOUNTING, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_large_blocks_come_from_the_heap_and_stay_there_once_freed():
    kept = _accounting("keep")
    if kept is None or not kept["applied"]:
        pytest.skip("not glibc ≥ 2.33: the allocator setting or its accounting does not apply here")
    default = _accounting("default")
    # glibc's default maps a 16 MiB block on its own and unmaps it when freed (the next one faults in again); with
    # the setting it is a heap block, kept (not trimmed) after the free for the next allocation to reuse
    assert default["mapped_while_held"] - kept["mapped_while_held"] >= 16 * MIB
    assert kept["heap_free_after"] >= 16 * MIB > default["heap_free_after"]


def test_it_reports_whether_it_applied():
    assert isinstance(keep_freed_memory(), bool)
