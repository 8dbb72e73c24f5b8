"""KernelPanel without a browser: status shown, sources listed, compile on demand."""

from __future__ import annotations

import shutil

import pytest
from sckit.widgets import KernelPanel


def test_panel_shows_status_and_sources():
    p = KernelPanel()
    assert "CUDA backend" in p.summary.value
    if not p.gpu.usable:
        assert "CPU path" in p.summary.value
    assert "wm_decode" in p.kernel.options
    p.kernel.value = "wm_query"
    assert "wm_rank_many" in p.source_view.value


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
def test_compile_shows_time_and_log(tmp_path, monkeypatch):
    monkeypatch.setenv("SCKIT_CACHE_DIR", str(tmp_path))
    p = KernelPanel()
    p.kernel.value, p.arch.value = "wm_decode", "sm_80"
    p.compile()
    assert p.last_error is None and p.last is not None and not p.last.cached
    assert "cubin for sm_80" in p.compile_log.value
    p.compile()
    assert p.last.cached and "cache hit" in p.compile_log.value


def test_compile_failure_is_reported(monkeypatch):
    p = KernelPanel()
    import sckit.widgets.kernel_panel as kp

    monkeypatch.setattr(kp, "compile_kernel", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("nvcc is not on PATH")))
    p.compile()
    assert "nvcc is not on PATH" in p.last_error and p.last is None
    # the failure does not leak into the next action: a working compile clears it
    done = type("K", (), {"stem": "wm_decode", "image": b"x" * 8, "arch": "sm_80", "cached": True,
                          "compile_s": 0.0, "options": ["-O3"], "log": ""})()
    monkeypatch.setattr(kp, "compile_kernel", lambda *a, **k: done)
    p.compile()
    assert p.last_error is None and p.last is done and "cache hit" in p.compile_log.value
