"""Version-1 container files (written by sckit before format version 2) stay readable, bit-exactly.

The fixtures in tests/fixtures/v1_*.sck were written by the version-1 writer from ``V1Net`` with
the weights of :func:`v1_state` (numpy's legacy RandomState, stable across releases), so the
expected tensors are rebuilt here rather than stored twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

FIXTURES = Path(__file__).parent / "fixtures"


class V1Net(nn.Module):
    """Linear + BatchNorm + Linear, a tied head, an int buffer and a 0-d buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 16)
        self.head = nn.Linear(64, 16, bias=False)
        self.head.weight = self.fc2.weight  # tied
        self.register_buffer("steps", torch.zeros(3, dtype=torch.int64))
        self.register_buffer("scale", torch.tensor(0.5, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.fc1(x)))
        return self.fc2(h) + self.head(h) * self.scale.float()


def v1_state() -> dict[str, torch.Tensor]:
    """The fixture's weights: quantized to 16 levels so RAS pays, plus exact special values."""
    rng = np.random.RandomState(1234)
    levels = rng.standard_normal(16).astype(np.float32)
    w1 = levels[rng.randint(0, 16, size=(64, 8))]
    w1[0, :4] = [np.float32(-0.0), np.inf, -np.inf, np.float32(1e-45)]  # bits that must survive
    w2 = levels[rng.randint(0, 16, size=(16, 64))]
    t = torch.from_numpy
    return {
        "fc1.weight": t(w1),
        "fc1.bias": t(rng.standard_normal(64).astype(np.float32)),
        "bn.weight": t(rng.uniform(0.5, 1.5, 64).astype(np.float32)),
        "bn.bias": t(rng.standard_normal(64).astype(np.float32)),
        "bn.running_mean": t(rng.standard_normal(64).astype(np.float32)),
        "bn.running_var": t(rng.uniform(0.5, 2.0, 64).astype(np.float32)),
        "bn.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "fc2.weight": t(w2),
        "fc2.bias": t(rng.standard_normal(16).astype(np.float32)),
        "head.weight": t(w2),
        "steps": torch.tensor([1, -2, 2**40], dtype=torch.int64),
        "scale": torch.tensor(0.5, dtype=torch.float64),
    }


V1_INPUT = torch.from_numpy(np.random.RandomState(99).standard_normal((4, 8)).astype(np.float32))


def _bits(t: torch.Tensor) -> np.ndarray:
    """A tensor's bytes, for bit-exact comparison (never allclose)."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()


def _expected() -> V1Net:
    m = V1Net()
    m.load_state_dict(v1_state())
    return m.eval()


def test_v1_succinct_fixture_loads_bit_exactly() -> None:
    import sckit
    from sckit.engine import SuccinctModel

    for mmap in (False, True):
        sm = sckit.load(FIXTURES / "v1_succinct.sck", model=V1Net(), mmap=mmap)
        assert isinstance(sm, SuccinctModel)
        assert set(sm.ras) == {"fc1.weight", "fc2.weight"}
        check_fixture_model(sm)


def check_fixture_model(sm: object) -> None:
    """A loaded fixture model holds ``v1_state()`` bit-exactly and computes what it computes."""
    got = sm.to_dense().state_dict()  # type: ignore[attr-defined]
    want = v1_state()
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert np.array_equal(_bits(got[k]), _bits(want[k])), k
    with torch.no_grad():
        assert np.array_equal(_bits(sm(V1_INPUT)), _bits(_expected()(V1_INPUT)))  # type: ignore[operator]


def test_v1_dense_fixture_loads_bit_exactly() -> None:
    import sckit

    m = sckit.load(FIXTURES / "v1_dense.sck", model=V1Net())
    assert type(m) is V1Net and m.head.weight is m.fc2.weight
    want = v1_state()
    for k, v in m.state_dict().items():
        assert np.array_equal(_bits(v), _bits(want[k])), k
