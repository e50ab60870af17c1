"""Devices: a ``--device`` string checked against this machine before any work, for every entry point.

CUDA on a CPU-only build, an index beyond the visible GPUs or an unknown device type is refused with one clear
message instead of failing inside the first model call. The code never assumes CPU: every entry point takes a
device and passes it on.
"""

from __future__ import annotations

import torch

DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(device: str | torch.device) -> torch.device:
    """The ``torch.device`` a ``--device`` string names, checked against this machine before any work.

    Raises:
        ValueError: not ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; CUDA or MPS not available in this torch build or
            on this machine; a CUDA index beyond the visible GPUs.
    """
    text = str(device).strip()
    try:
        parsed = torch.device(text)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"--device {device!r}: not a torch device; expected one of 'cpu', 'cuda', 'cuda:N', 'mps'"
                         ) from err
    if parsed.type not in DEVICE_TYPES:
        raise ValueError(f"--device {device!r}: unsupported device type {parsed.type!r}; expected one of 'cpu', "
                         "'cuda', 'cuda:N', 'mps'")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise ValueError(f"--device {device!r}: CUDA is not available (torch {torch.__version__} is {build}, "
                             "or no GPU is visible); expected --device cpu on this machine")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"--device {device!r}: this machine has {count} visible GPU(s) (cuda:0 .. "
                             f"cuda:{count - 1})")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device!r}: MPS (Apple GPU) is not available on this machine; expected "
                         "--device cpu")
    return parsed
