"""Version-2 container files stay readable, bit-exactly, after the format moved on.

``tests/fixtures/v2_*.sck`` were written by the version-2 writer with :func:`make_v2_fixtures`
(kept here so the files can be traced to their source; never rewrite them): the model of the
version-1 fixtures, compressed, and a checkpoint holding one tensor of each RAS layout
(byte-grouped, sparse wavelet matrix, codebook, bfloat16) beside raw ones.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch

from tests.test_container_v1 import FIXTURES, V1_INPUT, V1Net, _bits, _expected, check_fixture_model


def v2_tensors() -> dict[str, torch.Tensor]:
    """The checkpoint fixture's tensors (numpy's legacy RandomState: stable across releases)."""
    rng = np.random.RandomState(2024)
    t = torch.from_numpy
    gauss = (rng.standard_normal((64, 64)) * 0.05).astype(np.float32)
    sparse = gauss.copy()
    sparse[rng.uniform(size=sparse.shape) < 0.8] = 0.0
    levels = rng.standard_normal(16).astype(np.float32)
    return {
        "gauss": t(gauss),
        "sparse": t(sparse),
        "codebook": t(levels[rng.randint(0, 16, size=(32, 48))]),
        "bf16": t(rng.standard_normal((32, 32)).astype(np.float32)).to(torch.bfloat16),
        "ids": t(rng.randint(-(2**40), 2**40, size=7).astype(np.int64)),
        "scalar": torch.tensor(0.25, dtype=torch.float64),
    }


def make_v2_fixtures(folder: Path = FIXTURES) -> None:  # pragma: no cover - run once, by hand
    import sckit
    from sckit.container import Writer
    from sckit.tensor_io import encode_tensor

    m = _expected()
    sckit.save(sckit.compress(m, V1_INPUT, decode_ahead=False), folder / "v2_succinct.sck")
    with Writer(folder / "v2_checkpoint.sck", kind="checkpoint", metadata={"made": "v2"}) as w:
        for name, x in v2_tensors().items():
            if x.dtype in (torch.float32, torch.bfloat16):
                w.add_tensor(name, ras=encode_tensor(x))
            else:
                w.add_tensor(name, x)


def _version(path: Path) -> int:
    return struct.unpack_from("<I", path.read_bytes(), 8)[0]


def test_v2_fixtures_are_version_2() -> None:
    assert _version(FIXTURES / "v2_succinct.sck") == 2
    assert _version(FIXTURES / "v2_checkpoint.sck") == 2


def test_v2_succinct_fixture_loads_bit_exactly() -> None:
    import sckit

    for mmap in (False, True):
        check_fixture_model(sckit.load(FIXTURES / "v2_succinct.sck", model=V1Net(), mmap=mmap))


def test_v2_checkpoint_fixture_reads_every_layout_bit_exactly() -> None:
    from sckit.container import Reader

    want = v2_tensors()
    for mmap in (False, True):
        with Reader(FIXTURES / "v2_checkpoint.sck", mmap=mmap) as r:
            assert r.version == 2 and r.metadata == {"made": "v2"}
            assert list(r.names) == list(want)
            for k, v in want.items():
                got = r.tensor(k)
                assert got.dtype == v.dtype and got.shape == v.shape, k
                assert np.array_equal(_bits(got), _bits(v)), k
            kinds = {k: (getattr(r.ras(k), "layout_name", "wm"), r.ras(k).sparse,
                         r.ras(k).codebook is not None) for k in ("gauss", "sparse", "codebook", "bf16")}
    # the fixture holds what it claims: both layouts, a sparse stream and a codebook
    assert {lay for lay, _, _ in kinds.values()} == {"bytegroup", "wm"}
    assert kinds["sparse"][1] and any(cb for _, _, cb in kinds.values())
