"""Forged succinct structures and RAS tensors: FormatError naming the field, never a crash.

Loads that could crash run in a subprocess, so a segfault fails the test instead of killing
pytest. The seeded fuzz runs a few hundred cases of ``benchmarks/fuzz_structures.py`` (the full
run, >= 20,000 cases, is that script's job).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sckit.errors import FormatError
from sckit.succinct import BitVector, HuffmanWaveletMatrix, WaveletMatrix

ROOT = Path(__file__).resolve().parents[1]


def _run_batch(body: str, timeout: float = 300) -> dict:
    """Run ``body`` (defines ``cases``: name -> callable) in a fresh interpreter; each case's
    outcome is 'ok', 'FormatError: <msg>' or '<OtherType>: <msg>'. A crash fails here."""
    script = textwrap.dedent('''
        import json, sys
        import numpy as np
        from sckit.errors import FormatError
        from sckit.succinct import BitVector, WaveletMatrix, HuffmanWaveletMatrix, _serial
        from sckit import ras
        def forged(obj, kind, edit):
            meta, arrays = obj.to_arrays()
            arrays = {k: np.array(v) for k, v in arrays.items()}
            edit(meta, arrays)
            return _serial.pack(kind, meta, arrays)
        cases = {}
    ''') + textwrap.dedent(body) + textwrap.dedent('''
        out = {}
        for name, fn in cases.items():
            try:
                fn()
                out[name] = "ok"
            except FormatError as e:
                out[name] = "FormatError: " + str(e)
            except Exception as e:
                out[name] = type(e).__name__ + ": " + str(e)
        print("RESULT " + json.dumps(out))
    ''')
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    assert p.returncode == 0, f"subprocess died (rc {p.returncode}): {p.stderr[-2000:]}"
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


FORGED = '''
rng = np.random.default_rng(0)
bv = BitVector((rng.random(70000) < 0.3).astype(np.uint8))
wm = WaveletMatrix(rng.integers(0, 200, 9000), 200)
hwm = HuffmanWaveletMatrix(np.minimum(rng.geometric(0.2, 9000), 40))
r = ras.encode((rng.standard_normal((32, 3, 3, 3)) * 0.05).astype(np.float32), kind="block")
def setv(name, i, delta):
    def edit(meta, arrays):
        a = arrays[name].reshape(-1)
        v = int(a[i]) + delta
        a[i] = v % (1 << (8 * a.itemsize)) if a.dtype.kind == "u" else v
    return edit
def setmeta(key, value):
    def edit(meta, arrays):
        m = meta
        for k in key[:-1]:
            m = m[k]
        m[key[-1]] = value
    return edit
def load(cls, obj, kind, edit):
    return lambda: cls.from_bytes(forged(obj, kind, edit))
def use(cls, obj, kind, edit, fn):
    return lambda: fn(cls.from_bytes(forged(obj, kind, edit)))
B, W, H, R = "BitVector", "WaveletMatrix", "HuffmanWaveletMatrix", "sckit.ras"
cases.update({
    "bv.rank_dir+1": load(BitVector, bv, B, setv("rank_dir", 5, 1)),
    "bv.rank_dir.sub": load(BitVector, bv, B, setv("rank_dir", 3, 1 << 34)),
    "bv.rank_dir.total": load(BitVector, bv, B, setv("rank_dir", -1, 4096)),
    "bv.sel1": load(BitVector, bv, B, setv("sel1", 1, 7)),
    "bv.sel0": load(BitVector, bv, B, setv("sel0", 2, -1)),
    "bv.tail": load(BitVector, BitVector(np.ones(70, np.uint8)), B, setv("words", 1, 1 << 40)),
    "bv.n_bits<0": load(BitVector, bv, B, setmeta(("n_bits",), -1)),
    "bv.n_bits.str": load(BitVector, bv, B, setmeta(("n_bits",), "70000")),
    "wm.rank_dir": load(WaveletMatrix, wm, W, setv("rank_dir", 3, 1)),
    "wm.zeros": load(WaveletMatrix, wm, W, setv("zeros", 2, 1)),
    "wm.sel": load(WaveletMatrix, wm, W, setv("sel", 0, 1)),
    "wm.sel_off": load(WaveletMatrix, wm, W, setv("sel_off", 3, 1)),
    "wm.n<0": load(WaveletMatrix, wm, W, setmeta(("n",), -5)),
    "wm.sigma<0": load(WaveletMatrix, wm, W, setmeta(("sigma",), -200)),
    "wm.levels": load(WaveletMatrix, wm, W, setmeta(("levels",), 9)),
    "wm.sigma_small": load(WaveletMatrix, wm, W, setmeta(("sigma",), 129)),
    "hwm.rank_dir": load(HuffmanWaveletMatrix, hwm, H, setv("rank_dir", 1, 1)),
    "hwm.lengths": load(HuffmanWaveletMatrix, hwm, H, setv("lengths", 0, 1)),
    "hwm.level_sizes": load(HuffmanWaveletMatrix, hwm, H, setv("level_sizes", 1, -1)),
    "hwm.n<0": load(HuffmanWaveletMatrix, hwm, H, setmeta(("n",), -1)),
    "hwm.n_bits<0": load(HuffmanWaveletMatrix, hwm, H, setmeta(("n_bits",), -64)),
    "hwm.symbols_as": load(HuffmanWaveletMatrix, hwm, H, setmeta(("symbols_as",), ["values"])),
    "hwm.max_code_length": load(HuffmanWaveletMatrix, hwm, H, setmeta(("max_code_length",), 2)),
    "ras.wm.rank_dir": load(ras.RAS, r, R, setv("wm.rank_dir", 0, 1 << 34)),
    "ras.n_stream<0": load(ras.RAS, r, R, setmeta(("n_stream",), -1)),
    "ras.n_entries": load(ras.RAS, r, R, setmeta(("n_entries",), 10**12)),
    "ras.shape<0": load(ras.RAS, r, R, setmeta(("shape",), [-32, 3, 3, -3])),
    "ras.shape.type": load(ras.RAS, r, R, setmeta(("shape",), "32")),
    "ras.shape.huge": load(ras.RAS, r, R, setmeta(("shape",), [2**40, 2**40])),
    "ras.h0.type": load(ras.RAS, r, R, setmeta(("h0_total_bits",), [1])),
    "ras.sparse.type": load(ras.RAS, r, R, setmeta(("sparse",), "no")),
    "ras.codebook.type": load(ras.RAS, r, R, setmeta(("codebook",), 0)),
    "ras.wm.n<0": load(ras.RAS, r, R, setmeta(("wm", "n"), -3)),
})
# the kernels clamp even where validation is skipped ("fast"): wrong answers, no crash
def fast_select(obj, kind, edit, fn):
    return lambda: fn(type(obj).from_bytes(forged(obj, kind, edit), validate="fast"))
cases.update({
    "fast.bv.select0": fast_select(bv, B, setv("rank_dir", 7, -(1 << 33)),
                                   lambda b: (b.select0_many(np.arange(len(b) - b.n_ones)),
                                              b.select1_many(np.arange(b.n_ones)),
                                              b.rank1_many(np.arange(len(b) + 1)))),
    "fast.wm.decode": fast_select(wm, W, setv("rank_dir", 2, 1 << 20),
                                  lambda w: (w.to_numpy(), w.access_many(np.arange(len(w))),
                                             w.select_many(7, np.arange(w.count(7))))),
    "fast.hwm.decode": fast_select(hwm, H, setv("rank_dir", 2, 1 << 12),
                                   lambda h: (h.to_numpy(), h.access_many(np.arange(50)))),
})
'''

NAMED = {
    "bv.rank_dir+1": "rank directory", "bv.rank_dir.sub": "rank directory",
    "bv.rank_dir.total": "rank directory", "bv.sel1": "sel1", "bv.sel0": "sel0",
    "bv.tail": "past n_bits", "bv.n_bits<0": "n_bits", "bv.n_bits.str": "n_bits",
    "wm.rank_dir": "rank directory", "wm.zeros": "zeros", "wm.sel": "select samples",
    "wm.sel_off": "sel_off", "wm.n<0": "'n'", "wm.sigma<0": "sigma", "wm.levels": "levels",
    "wm.sigma_small": "sigma", "hwm.rank_dir": "rank directory", "hwm.lengths": "code",
    "hwm.level_sizes": "level", "hwm.n<0": "'n'", "hwm.n_bits<0": "n_bits",
    "hwm.symbols_as": "symbols_as", "hwm.max_code_length": "max_code_length", "ras.wm.rank_dir": "rank directory",
    "ras.n_stream<0": "n_stream", "ras.n_entries": "n_entries", "ras.shape<0": "shape",
    "ras.shape.type": "shape", "ras.shape.huge": "shape", "ras.h0.type": "h0_total_bits",
    "ras.sparse.type": "sparse", "ras.codebook.type": "codebook", "ras.wm.n<0": "'n'",
}


@functools.lru_cache(maxsize=1)
def _forged_results() -> dict:
    return _run_batch(FORGED)


def test_forged_fields_raise_format_error_naming_the_field() -> None:
    res = _forged_results()
    for name, needle in NAMED.items():
        assert res[name].startswith("FormatError: "), (name, res[name])
        assert needle in res[name], (name, res[name])


def test_fast_validation_keeps_the_kernels_in_bounds() -> None:
    res = _forged_results()  # a crash in the subprocess fails the test (returncode)
    for name in ("fast.bv.select0", "fast.wm.decode", "fast.hwm.decode"):
        assert res[name] == "ok" or res[name].startswith("FormatError"), (name, res[name])


def test_validate_modes() -> None:
    wm = WaveletMatrix([3, 1, 4, 1, 5], 8)
    b = wm.to_bytes()
    assert np.array_equal(WaveletMatrix.from_bytes(b, validate="fast").to_numpy(), [3, 1, 4, 1, 5])
    assert np.array_equal(WaveletMatrix.from_bytes(b, validate="full").to_numpy(), [3, 1, 4, 1, 5])
    with pytest.raises(ValueError, match="validate"):
        WaveletMatrix.from_bytes(b, validate="none")
    hw = HuffmanWaveletMatrix([3, 3, 3, 9])
    assert HuffmanWaveletMatrix.from_bytes(hw.to_bytes(), validate="fast").to_numpy().tolist() == [3, 3, 3, 9]
    bv = BitVector([1, 0, 1])
    assert BitVector.from_bytes(bv.to_bytes(), validate="fast").to_numpy().tolist() == [1, 0, 1]


def test_symbols_beyond_sigma_are_refused() -> None:
    # every bit matrix is the wavelet matrix of some sequence: the levels of a sigma = 8 matrix
    # holding a 7, relabelled sigma = 5 (also 3 levels), would decode a 7 >= sigma
    meta, arrays = WaveletMatrix([7, 1, 2, 3, 4, 4, 3], 8).to_arrays()
    with pytest.raises(FormatError, match="sigma"):
        WaveletMatrix.from_arrays({**meta, "sigma": 5}, arrays)
    meta, arrays = WaveletMatrix([4, 1, 2, 3, 4, 4, 3], 8).to_arrays()
    assert WaveletMatrix.from_arrays({**meta, "sigma": 5}, arrays).to_numpy().max() == 4


def test_wide_alphabet_decode_is_bounded() -> None:
    # 2 symbols up to 2**32 - 1: 32 levels; the cursor decode would want 2**32 nodes
    assert WaveletMatrix([0, 2**32 - 1]).to_numpy().tolist() == [0, 2**32 - 1]
    script = textwrap.dedent('''
        import resource, numpy as np
        from sckit.succinct import WaveletMatrix
        x = np.array([5, 2**27 - 1, 3, 2**27 - 7] * 4)
        wm = WaveletMatrix(x)
        wm.decode(0, 2)  # compile / warm up
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for a in range(0, 15):
            assert np.array_equal(wm.decode(a, a + 2), x[a:a + 2])
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print("GREW_KB", grew)
    ''')
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    grew = int(p.stdout.split("GREW_KB")[-1])
    assert grew < 64 * 1024, f"decoding 2 symbols grew the peak RSS by {grew} KiB"


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fuzz_structures",
                                                  ROOT / "benchmarks" / "fuzz_structures.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_seeded_fuzz_no_crash_hang_or_other_exception() -> None:
    fuzz = _fuzz_module()
    counts, bad = fuzz.run(400, seed=20260101, timeout=60.0)
    assert sum(counts.values()) == 400
    assert counts["crash"] == 0 and counts["hang"] == 0 and counts["other"] == 0, bad[:10]
    # the cases do reach both outcomes: refused forgeries and self-consistent ones that decode
    assert counts["format_error"] > 200 and counts["ok"] > 5, dict(counts)
