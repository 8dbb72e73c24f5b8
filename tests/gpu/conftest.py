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


# --- the Python launchers run against host builds of the kernels (no GPU needed) --------------
_C_SIZES = {"uint8_t": 1, "uint16_t": 2, "uint32_t": 4, "int32_t": 4, "uint64_t": 8,
            "int64_t": 8}
_OUT_T_SIZES = {0: 1, 1: 2, 2: 4, 3: 8}


def kernel_signatures(stem: str) -> dict[str, list[tuple[str, bool]]]:
    """``{kernel: [(C type, is_pointer), ...]}`` parsed from the ``extern "C" __global__``
    definitions of ``kernels_cu/<stem>.cu``."""
    import re

    text = (KERNELS / f"{stem}.cu").read_text()
    sigs = {}
    for m in re.finditer(r'extern "C" __global__ void(?: __launch_bounds__\(\w+\))?\s+(\w+)'
                         r"\(([^)]*)\)", text):
        params = []
        for p in m.group(2).split(","):
            p = " ".join(p.replace("const", "").split())
            ctype = p.split()[0].rstrip("*")
            params.append((ctype, "*" in p))
        sigs[m.group(1)] = params
    assert sigs, f"no kernels found in {stem}.cu"
    return sigs


@pytest.fixture
def emulated_kernels(host_kernels, monkeypatch):
    """Replace ``KernelModule`` by a double that runs each launch through the host harness's
    ``emu_<kernel>_<OUT_T>`` (same argument list as the kernel) on CPU tensors, after checking
    the launcher's arguments against the kernel's parsed signature: count, scalar types, and
    the element size of every pointer argument. Returns the list of launches made."""
    import torch

    import sckit.backends.cuda_runtime as rt

    launches: list[tuple[str, str, dict[str, int]]] = []

    class EmulatedModule:
        device = torch.device("cpu")

        def __init__(self, stem: str, *, defines=None, device_index=None) -> None:
            self.stem, self.defines, self.device_index = stem, dict(defines or {}), 0
            self.signatures = kernel_signatures(stem)

        def launch(self, name: str, args: tuple, *, n_items: int, block: int) -> None:
            assert block == self.defines["BLOCK"] and n_items > 0
            sig = self.signatures[name]
            assert len(args) == len(sig), f"{name}: {len(args)} arguments, kernel takes {len(sig)}"
            conv = []
            for k, (a, (ctype, is_ptr)) in enumerate(zip(args, sig, strict=True)):
                if is_ptr:
                    assert isinstance(a, torch.Tensor) and a.is_contiguous(), (name, k)
                    size = (_OUT_T_SIZES[self.defines["OUT_T"]] if ctype == "out_t"
                            else _C_SIZES[ctype])
                    assert a.element_size() == size, f"{name} arg {k}: {a.dtype} for {ctype}*"
                    conv.append(ctypes.c_void_p(a.data_ptr()))
                else:  # pycuda needs sized numpy scalars of exactly the kernel's type
                    assert type(a) is getattr(np, ctype[:-2]), f"{name} arg {k}: {type(a)}"
                    conv.append(getattr(ctypes, "c_" + ctype[:-2])(int(a)))
            getattr(host_kernels, f"emu_{name}_{self.defines['OUT_T']}")(*conv)
            launches.append((self.stem, name, self.defines))

    monkeypatch.setattr(rt, "KernelModule", EmulatedModule)
    return launches
