"""sckit.gpu.status() says what is there and never raises (issue 6)."""

from __future__ import annotations

import pytest

from sckit.gpu import GpuStatus, status


def test_status_is_plain_and_consistent():
    st = status()
    assert isinstance(st, GpuStatus)
    text = str(st)
    assert text.startswith("CUDA backend: ")
    assert "driver:" in text and "pycuda:" in text and "nvcc:" in text
    if st.usable:
        assert st.n_devices > 0 and st.device_name and st.capability and st.pycuda_installed
        assert st.reason == "ok"
    else:
        assert st.reason and st.reason != "ok"
        assert "unavailable" in text and st.reason in text


def test_status_without_driver_explains(monkeypatch):
    import ctypes

    def no_driver(name, *a, **k):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_driver)
    st = status()
    assert not st.usable and "no NVIDIA driver" in st.reason and st.n_devices == 0


def test_cuda_runtime_refuses_cleanly_without_gpu():
    st = status()
    if st.usable:
        pytest.skip("a GPU is present")
    from sckit.backends.cuda_runtime import KernelModule

    with pytest.raises(RuntimeError, match="CUDA backend is unavailable"):
        KernelModule("wm_decode")
