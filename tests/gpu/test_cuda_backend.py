"""Differential tests of the real CUDA kernels against the CPU structures (marker ``gpu``).

They skip, saying why, on machines without a usable CUDA backend (driver + device + pycuda +
CUDA torch); run them on the lent GPU machine (see docs/benchmarks.md for how).
"""

from __future__ import annotations

import numpy as np
import pytest

from sckit.succinct.wavelet_matrix import WaveletMatrix

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("gpu_available")]

CASES = [(1, 33), (2, 1), (16, 31), (16, 100_003), (256, 65_537), (3000, 4097), (2**20, 1000)]


@pytest.mark.parametrize("sigma,n", CASES)
def test_range_decode_and_access(sigma, n):
    from sckit.backends.wm_decode import CudaWaveletMatrix

    rng = np.random.default_rng(n)
    sym = rng.integers(0, sigma, n).astype(np.uint32)
    wm = WaveletMatrix(sym, sigma=sigma)
    gpu = CudaWaveletMatrix(wm)
    full = gpu.decode().cpu().numpy()
    assert np.array_equal(full.astype(np.uint32), sym)
    for a, b in [(0, 0), (n // 3, n // 3), (1, min(n, 40)), (n // 2, n)]:
        assert np.array_equal(gpu.decode(a, b).cpu().numpy(), wm.decode(a, b))
    pos = rng.integers(0, n, 1000)
    assert np.array_equal(gpu.access_many(pos).cpu().numpy(), wm.access_many(pos))


@pytest.mark.parametrize("sigma,n", CASES[1:5])
def test_rank_select_many(sigma, n):
    from sckit.backends.wm_query import CudaWaveletQueries

    rng = np.random.default_rng(sigma)
    sym = rng.integers(0, sigma, n).astype(np.uint32)
    wm = WaveletMatrix(sym, sigma=sigma)
    gpu = CudaWaveletQueries(wm)
    c = int(sym[0])
    pos = rng.integers(0, n + 1, 1000)
    assert np.array_equal(gpu.rank_many(c, pos).cpu().numpy(), wm.rank_many(c, pos))
    ks = np.arange(int(np.count_nonzero(sym == c)))
    assert np.array_equal(gpu.select_many(c, ks).cpu().numpy(), wm.select_many(c, ks))
    with pytest.raises(IndexError):
        gpu.select_many(c, [len(ks)])


# --- Huffman-shaped wavelet matrix (hwm_decode.cu) ----------------------------------------------
HWM_CASES = [(1, 33), (2, 1), (16, 31), (16, 100_003), (513, 65_537), (3000, 4097), (2**20, 1000),
             (2**32 - 5, 777)]


@pytest.mark.parametrize("sigma,n", HWM_CASES)
def test_hwm_range_decode_and_access(sigma, n):
    from sckit.backends.hwm_decode import CudaHuffmanWaveletMatrix
    from sckit.succinct.huffman_wm import HuffmanWaveletMatrix

    rng = np.random.default_rng(n + 1)
    # skewed symbols (float-exponent-like), spread over the alphabet
    sym = np.minimum(rng.geometric(0.2, n) - 1, sigma - 1).astype(np.uint64)
    sym = (sym * (sigma // max(1, int(sym.max()) + 1))).astype(np.uint32)
    hwm = HuffmanWaveletMatrix(sym)
    gpu = CudaHuffmanWaveletMatrix(hwm)
    assert np.array_equal(gpu.decode().cpu().numpy().astype(np.uint32), sym)
    for a, b in [(0, 0), (n // 3, n // 3), (1, min(n, 40)), (n // 2, n), (n - 1, n)]:
        assert np.array_equal(gpu.decode(a, b).cpu().numpy(), hwm.decode(a, b))
    pos = rng.integers(0, n, 1000)
    assert np.array_equal(gpu.access_many(pos).cpu().numpy(), hwm.access_many(pos))
    with pytest.raises(IndexError):
        gpu.decode(0, n + 1)


# --- RAS decode on the GPU (hwm_decode.cu + float_fields.cu) ----------------------------------
def _zoo_like(dtype, shape, rng):
    import torch

    return torch.from_numpy(rng.normal(0, 0.02, shape).astype(np.float32)).to(
        getattr(torch, dtype))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("kind", ["block", "element"])
@pytest.mark.parametrize("shape", [(64, 3, 7, 7), (1000, 257), (1001,)])
def test_ras_decode_bit_exact(dtype, kind, shape):
    import torch

    from sckit.backends.float_fields import CudaRAS
    from sckit.tensor_io import encode_tensor

    t = _zoo_like(dtype, shape, np.random.default_rng(len(shape)))
    r = encode_tensor(t, kind=kind, sparse=False, codebook=False)
    gpu = CudaRAS(r)
    got = gpu.decode()
    assert got.dtype == t.dtype and tuple(got.shape) == tuple(shape) and got.is_cuda
    iview = {4: torch.int32, 2: torch.int16}[t.element_size()]
    assert torch.equal(got.cpu().view(iview), t.view(iview))
    if len(shape) >= 2:
        a, b = shape[0] // 3, shape[0] - 1
        assert torch.equal(gpu.decode_rows(a, b).cpu().view(iview), t[a:b].view(iview))
        assert gpu.decode_rows(5, 5).numel() == 0


def test_ras_decode_codebook_and_zoo_weights():
    import torch

    from sckit.backends.float_fields import decode_ras, supports
    from sckit.tensor_io import encode_tensor
    from sckit.zoo import create_model

    rng = np.random.default_rng(9)
    centers = torch.from_numpy(rng.normal(0, 0.05, 16).astype(np.float32))
    q = centers[torch.from_numpy(rng.integers(0, 16, (300, 301)))]
    r = encode_tensor(q, sparse=False, codebook=True)
    assert r.codebook is not None
    assert torch.equal(decode_ras(r).cpu().view(torch.int32), q.view(torch.int32))
    model = create_model("resnet18", seed=0)
    checked = 0
    for name, p in model.state_dict().items():
        if not p.is_floating_point() or p.numel() < 2:
            continue
        r = encode_tensor(p, sparse=False, codebook=False)
        assert supports(r)
        got = decode_ras(r).cpu()
        assert torch.equal(got.view(torch.int32), p.view(torch.int32)), name
        checked += 1
    assert checked > 20


# --- the engine on the GPU: compress / SuccinctModel with backend "auto" and "cuda" -----------
@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_compressed_model_on_gpu_bit_identical(name):
    import torch

    import sckit
    from sckit.engine import bit_equal
    from sckit.zoo import create_model, default_input

    model = create_model(name, seed=0).eval().cuda()
    x = default_input(name)
    if name == "resnet18":
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    x = x.cuda()
    with torch.no_grad():
        ref = model(x)
    sm = sckit.compress(model, x)  # auto: a CUDA model with usable kernels takes them
    assert sm.backend == "cuda" and sm.device.type == "cuda"
    assert bit_equal(sm(x), ref)
    assert set(sm.report()["decoded_on"]) - {""} <= {"cuda", "cpu"}
    cpu_route = sckit.compress(model, x, backend="cpu")
    assert cpu_route.backend == "cpu" and bit_equal(cpu_route(x), ref)
    # moving the compressed model keeps it exact on both devices
    sm.cpu()
    assert sm.backend == "cpu" and bit_equal(sm(x.cpu()), model.cpu()(x.cpu()))
    sm.cuda()
    assert sm.backend == "cuda" and bit_equal(sm(x), model.cuda()(x))
