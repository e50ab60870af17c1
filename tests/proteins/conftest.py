"""Shared fixtures of the protein tests: the committed built-in experts, loaded once, one CPU thread."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def experts():
    from superdiff.proteins.builtin import load_builtin

    torch.set_num_threads(1)
    return [load_builtin("helix"), load_builtin("strand")]
