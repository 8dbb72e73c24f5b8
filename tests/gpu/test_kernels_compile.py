"""Every CUDA source compiles, standalone and with the options its launcher uses (issue 6)."""

from __future__ import annotations

import subprocess

import pytest
from sckit.kernels_cu import list_sources, source

from sckit.backends.cuda_compile import CompileError, compile_kernel
from tests.gpu.conftest import KERNELS, needs_nvcc

# The -D sets each launcher passes (kept next to the launchers' own constants).
LAUNCH_DEFINES = {
    "wm_decode": [{"OUT_T": 0, "BLOCK": 256}, {"OUT_T": 1, "BLOCK": 256}, {"OUT_T": 2, "BLOCK": 256}],
    "wm_query": [{"BLOCK": 256}],
    # hwm_decode.launch_defines(sigma) for sigma <= 2**8, <= 2**16, larger (and the RAS pipeline)
    "hwm_decode": [{"OUT_T": t, "BLOCK": 256} for t in range(3)],
    # float_fields.launch_defines(itemsize) for 1, 2, 4, 8-byte outputs
    "float_fields": [{"OUT_T": t, "BLOCK": 256} for t in range(4)],
}


def test_every_source_has_a_launcher_and_a_header():
    import importlib

    assert list_sources(), "no .cu files shipped"
    for stem in list_sources():
        text = source(stem)
        assert text.lstrip().startswith(f"// {stem}.cu"), f"{stem}.cu must open with its header"
        assert "launcher:" in text.split("#")[0], f"{stem}.cu header must name its launcher"
        importlib.import_module(f"sckit.backends.{stem}")  # pairs with a launcher of the same stem
        assert stem in LAUNCH_DEFINES, f"add {stem}'s launch options to LAUNCH_DEFINES"


@needs_nvcc
@pytest.mark.parametrize("stem", list_sources())
def test_compiles_standalone(stem, tmp_path):
    # every -D constant has an #ifndef default, so the file compiles on its own
    proc = subprocess.run(["nvcc", "-cubin", "-arch=sm_90", "-o", str(tmp_path / "k.cubin"),
                           str(KERNELS / f"{stem}.cu")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@needs_nvcc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("stem", list_sources())
def test_compiles_with_launcher_options(stem, arch, tmp_path, monkeypatch):
    monkeypatch.setenv("SCKIT_CACHE_DIR", str(tmp_path))
    for defines in LAUNCH_DEFINES[stem]:
        k = compile_kernel(stem, arch=arch, defines=defines)
        assert k.image[:4] == b"\x7fELF" and not k.cached
        again = compile_kernel(stem, arch=arch, defines=defines)
        assert again.cached and again.image == k.image and again.key == k.key


@needs_nvcc
def test_compile_error_carries_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("SCKIT_CACHE_DIR", str(tmp_path))
    with pytest.raises(CompileError) as err:
        compile_kernel("wm_decode", arch="sm_90", defines={"BLOCK": -1})
    assert err.value.log


def test_bad_arguments():
    with pytest.raises(ValueError, match="arch"):
        compile_kernel("wm_decode", arch="90")
    with pytest.raises(ValueError, match="no CUDA source"):
        compile_kernel("nope")
    with pytest.raises(ValueError, match="fmt"):
        compile_kernel("wm_decode", fmt="fatbin")


@needs_nvcc
def test_cache_key_covers_included_headers(tmp_path, monkeypatch):
    # a .cu #includes shared .cuh headers: editing one must recompile, not serve a stale cubin
    import sckit.backends.cuda_compile as cc

    src_dir = tmp_path / "k"
    src_dir.mkdir()
    (src_dir / "toy.cu").write_text('#include "toy.cuh"\nextern "C" __global__ void k(int* o) { *o = V; }\n')
    (src_dir / "toy.cuh").write_text("#define V 1\n")
    monkeypatch.setattr(cc, "source", lambda stem: (src_dir / f"{stem}.cu").read_text())
    monkeypatch.setattr(cc, "source_path", lambda stem: src_dir / f"{stem}.cu")
    monkeypatch.setenv("SCKIT_CACHE_DIR", str(tmp_path / "cache"))
    first = compile_kernel("toy", arch="sm_90")
    assert compile_kernel("toy", arch="sm_90").cached
    (src_dir / "toy.cuh").write_text("#define V 2\n")
    second = compile_kernel("toy", arch="sm_90")
    assert not second.cached and second.key != first.key and second.image != first.image
