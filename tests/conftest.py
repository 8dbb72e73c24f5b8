"""Fixtures shared across test modules."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch at one intra-op thread for a module: 2 threads on a shared 2-core machine
    oversubscribe (deit_tiny's init took 3.5 s with 2 threads under load, 0.3 s with 1)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
