"""The C allocator of a ``superdiff`` process: keep freed memory for reuse instead of handing it back at once.

A sampling step allocates and frees the same large tensors (a frame network's pair features, ``[B, L, L, C]``,
are megabytes) hundreds of times. glibc's ``malloc`` serves blocks above its mmap threshold with a fresh
``mmap`` and returns them with ``munmap``, and trims the heap's free top back to the system, so every step
faults its pages in again: a frame-expert sampling job (8 designs of 50 residues) spent ~14 % of its time in the
kernel on 3.3–3.7 M page faults. Raising both limits lets freed blocks be reused: 3 % of the faults, 14 % less wall
time, the same designs, at the cost of holding up to ``TRIM_THRESHOLD`` of freed memory (``benchmarks/allocator.py``,
``benchmarks/out/allocator.json``).

Both limits are needed: a high mmap threshold alone puts the blocks on the heap, which is then trimmed after
every free (more faults than before); a high trim threshold alone does not touch the mmapped blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: glibc ``mallopt`` parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
#: bytes: blocks up to this size come from the heap, where a freed block can be reused (glibc's upper limit on
#: 64-bit systems is 32 MiB)
MMAP_THRESHOLD = 32 * 1024 * 1024
#: bytes of free memory at the heap's top kept before trimming it back to the system
TRIM_THRESHOLD = 256 * 1024 * 1024
#: bytes the heap grows by beyond each request (fewer, larger ``brk`` calls)
TOP_PAD = 64 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set this process's glibc allocator to reuse freed blocks (see the module doc); False, and nothing changed,
    where the C library is not glibc (macOS, musl) or refuses a setting."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    return all(mallopt(param, value) == 1 for param, value in settings)
