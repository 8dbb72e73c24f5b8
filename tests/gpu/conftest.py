"""Fixtures for the CUDA tests: nvcc availability and a host build of the kernels' primitives."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "kernels_cu"

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")


def _gpu_reason() -> str:
    from sckit.gpu import status

    st = status()
    return "" if st.usable else st.reason


@pytest.fixture(scope="session")
def gpu_available():
    reason = _gpu_reason()
    if reason:
        pytest.skip(f"no usable CUDA backend: {reason}")


@pytest.fixture(scope="session")
def host_kernels(tmp_path_factory):
    """The __host__ __device__ primitives of kernels_cu/*.cuh compiled as a host shared library."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not on PATH")
    out = tmp_path_factory.mktemp("host") / "libsckit_host.so"
    cmd = ["nvcc", "-shared", "-Xcompiler", "-fPIC", "-O2", "-std=c++17", "-I", str(KERNELS),
           "-o", str(out), str(Path(__file__).parent / "host_harness.cu")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(out))


def ptr(a: np.ndarray) -> ctypes.c_void_p:
    assert a.flags.c_contiguous
    return ctypes.c_void_p(a.ctypes.data)
