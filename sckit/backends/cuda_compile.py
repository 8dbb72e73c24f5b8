"""Compile ``kernels_cu/<stem>.cu`` with nvcc on demand, cached by (source, options, arch).

We shell out to nvcc for a cubin instead of using ``pycuda.compiler.SourceModule`` because
SourceModule imports ``pycuda.driver`` and so needs a GPU driver even to *compile*
(../shared/ENVIRONMENT.md); this way the same code path compile-checks every kernel on CPU-only
machines and CI, and a GPU machine loads the cached cubin with ``module_from_buffer``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sckit.kernels_cu import source, source_path

__all__ = ["CompiledKernel", "CompileError", "cache_dir", "compile_kernel", "nvcc_options"]


class CompileError(RuntimeError):
    """nvcc failed; ``log`` holds its output."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(f"{message}\n{log}")
        self.log = log


@dataclass(frozen=True)
class CompiledKernel:
    """A compiled source: the cubin (or PTX) bytes plus what produced them."""

    stem: str
    arch: str
    options: tuple[str, ...]
    image: bytes = field(repr=False)
    log: str
    compile_s: float
    cached: bool
    key: str


def cache_dir() -> Path:
    """``$SCKIT_CACHE_DIR/cuda`` or ``~/.cache/sckit/cuda``."""
    base = os.environ.get("SCKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sckit")
    return Path(base) / "cuda"


def nvcc_options(defines: dict[str, int] | None = None) -> tuple[str, ...]:
    """The -D options for compile-time constants, in a stable order (part of the cache key)."""
    opts = ["-O3", "-std=c++17"]
    for name, value in sorted((defines or {}).items()):
        if not name.isidentifier():
            raise ValueError(f"bad macro name {name!r}")
        opts.append(f"-D{name}={int(value)}")
    return tuple(opts)


def compile_kernel(stem: str, *, arch: str = "sm_90", defines: dict[str, int] | None = None,
                   fmt: str = "cubin", use_cache: bool = True) -> CompiledKernel:
    """Compile ``kernels_cu/<stem>.cu`` for ``arch`` (e.g. ``"sm_80"``) to a cubin or PTX.

    The result is cached on disk under a key hashing the source text, nvcc version, options,
    arch and format; a cache hit costs one file read. Raises :class:`CompileError` with nvcc's log
    on failure and ``RuntimeError`` when nvcc is not on PATH.
    """
    if fmt not in ("cubin", "ptx"):
        raise ValueError(f"fmt must be 'cubin' or 'ptx', got {fmt!r}")
    if not (arch.startswith("sm_") and arch[3:].isdigit()):
        raise ValueError(f"arch must look like 'sm_90', got {arch!r}")
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise RuntimeError("nvcc is not on PATH: install the CUDA toolkit to compile sckit kernels")
    from sckit.gpu import nvcc_version

    text = source(stem)
    options = nvcc_options(defines)
    include = Path(str(source_path(stem))).parent
    # the .cu files #include the shared .cuh headers: they are part of what gets compiled, so
    # they are part of the cache key (editing a header must not serve a stale cubin)
    headers = [p.read_text(encoding="utf-8") for p in sorted(include.glob("*.cuh"))]
    key = hashlib.blake2b(
        "\0".join([text, *headers, nvcc_version() or "", arch, fmt, *options]).encode(),
        digest_size=16,
    ).hexdigest()
    target = cache_dir() / f"{stem}-{arch}-{key}.{fmt}"
    if use_cache and target.is_file():
        return CompiledKernel(stem, arch, options, target.read_bytes(), "", 0.0, True, key)
    with tempfile.TemporaryDirectory(prefix="sckit-nvcc-") as tmp:
        src = Path(tmp) / f"{stem}.cu"
        src.write_text(text, encoding="utf-8")
        out = Path(tmp) / f"{stem}.{fmt}"
        cmd = [nvcc, f"-{fmt}", f"-arch={arch}", *options, "-I", str(include), "-o", str(out), str(src)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        log = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            raise CompileError(f"nvcc failed for {stem}.cu ({arch}): {' '.join(cmd)}", log)
        image = out.read_bytes()
    if use_cache:
        target.parent.mkdir(parents=True, exist_ok=True)
        from sckit.atomic import atomic_open

        with atomic_open(target) as fh:  # a crash never leaves a half-written cubin
            fh.write(image)
    return CompiledKernel(stem, arch, options, image, log, seconds, False, key)
