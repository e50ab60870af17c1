"""Network storage as safetensors (tensors only, no pickle) plus a JSON config beside it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn


def save_module(module: nn.Module, config, folder: Path, stem: str) -> list[str]:
    """Write ``<stem>.safetensors`` (the state dict) and ``<stem>.json`` (the dataclass ``config``) atomically."""
    from safetensors.torch import save_file

    from superdiff.files.atomic import atomic_path, write_json_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{stem}.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp))
    write_json_atomic(folder / f"{stem}.json", asdict(config))
    return [f"{stem}.safetensors", f"{stem}.json"]


def load_module(cls, config_cls, weights: Path, config: Path, device: str | torch.device = "cpu"):
    """``cls(config_cls(**json))`` with the safetensors state dict loaded, on ``device``, in eval mode."""
    from safetensors.torch import load_file

    module = cls(config_cls(**json.loads(Path(config).read_text())))
    module.load_state_dict(load_file(str(weights)))
    return module.to(device).eval()
