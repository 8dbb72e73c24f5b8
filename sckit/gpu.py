"""What CUDA can do on this machine, said plainly, without importing torch or pycuda.

The probe talks to the driver through ctypes (``libcuda.so.1``: ``cuInit``, ``cuDeviceGetCount``,
``cuDeviceGetName``, compute capability attributes), looks for pycuda with
``importlib.util.find_spec`` (importing ``pycuda.driver`` raises without a driver), and for nvcc on
PATH. ``status()`` never raises: it reports why the CUDA backend is unavailable instead.
"""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from sckit.backends.cuda_compile import CompiledKernel, CompileError, compile_kernel

__all__ = ["CompileError", "CompiledKernel", "GpuStatus", "compile_kernel", "cuda_usable",
           "nvcc_version", "status"]

# CUdevice_attribute values from cuda.h (stable across CUDA 11-13).
_ATTR_CC_MAJOR = 75
_ATTR_CC_MINOR = 76


@dataclass(frozen=True)
class GpuStatus:
    """Result of :func:`status`. ``usable`` is True only when sckit can launch its kernels."""

    driver_version: str | None
    n_devices: int
    device_name: str | None
    capability: tuple[int, int] | None
    pycuda_installed: bool
    torch_cuda: bool | None
    nvcc: str | None
    usable: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __str__(self) -> str:
        dev = (f"{self.device_name} (sm_{self.capability[0]}{self.capability[1]})"
               if self.device_name and self.capability else "none")
        lines = [
            f"CUDA backend: {'usable' if self.usable else 'unavailable'}"
            + ("" if self.usable else f" - {self.reason}"),
            f"  driver:  {self.driver_version or 'not found (no libcuda.so.1)'}",
            f"  devices: {self.n_devices}; first: {dev}",
            f"  pycuda:  {'installed' if self.pycuda_installed else 'not installed (pip install sckit[cuda])'}",
            f"  torch.cuda: {self.torch_cuda}",
            f"  nvcc:    {self.nvcc or 'not on PATH'}",
        ]
        return "\n".join(lines)


def _probe_driver() -> tuple[str | None, int, str | None, tuple[int, int] | None, str]:
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return None, 0, None, None, f"no NVIDIA driver: {exc}"
    version = ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None, 0, None, None, "cuDriverGetVersion failed"
    drv = f"{version.value // 1000}.{version.value % 1000 // 10}"
    rc = lib.cuInit(0)
    if rc != 0:
        # 100 = CUDA_ERROR_NO_DEVICE, 999 = unknown (often a container without /dev/nvidia*)
        return drv, 0, None, None, f"cuInit failed with CUresult {rc} (no usable CUDA device)"
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return drv, 0, None, None, "driver present but no CUDA device"
    dev = ctypes.c_int(0)
    lib.cuDeviceGet(ctypes.byref(dev), 0)
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, dev)
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDeviceGetAttribute(ctypes.byref(major), _ATTR_CC_MAJOR, dev)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), _ATTR_CC_MINOR, dev)
    return drv, count.value, name.value.decode(), (major.value, minor.value), ""


@lru_cache(maxsize=1)
def nvcc_version() -> str | None:
    """``'<path> (release X.Y)'`` for the nvcc on PATH, or None."""
    path = shutil.which("nvcc")
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return f"{path} (version unknown)"
    release = next((ln.split("release")[1].split(",")[0].strip()
                    for ln in out.stdout.splitlines() if "release" in ln), "unknown")
    return f"{path} (release {release})"


def status() -> GpuStatus:
    """Probe driver, device, pycuda and nvcc; never raises.

    >>> s = status()
    >>> isinstance(s.usable, bool) and isinstance(s.reason, str)
    True
    """
    drv, n, name, cc, reason = _probe_driver()
    has_pycuda = importlib.util.find_spec("pycuda") is not None
    torch_cuda: bool | None = None
    if importlib.util.find_spec("torch") is not None and n > 0:
        import torch  # only worth importing when a device exists

        torch_cuda = bool(torch.cuda.is_available())
    if not reason and not has_pycuda:
        reason = "pycuda is not installed (pip install sckit[cuda])"
    if not reason and torch_cuda is False:
        reason = "torch was built without CUDA, so decoded weights could not live on the GPU"
    return GpuStatus(drv, n, name, cc, has_pycuda, torch_cuda, nvcc_version(), not reason,
                     reason or "ok")


def cuda_usable() -> bool:
    """True when ``backend="auto"`` should pick the CUDA backend."""
    return status().usable
