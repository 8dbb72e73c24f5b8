"""Recurrent layers' MACs against hand counts: sum over layers and directions of
tokens * gate_rows * (input features + hidden/projection features), plus LSTM projections."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from sckit.inspection import inspect
from sckit.macs import count_macs


def rnn_macs(tokens: int, inp: int, hidden: int, gates: int, layers: int = 1,
             directions: int = 1, proj: int = 0) -> int:
    """Hand count for a stacked recurrent layer over ``tokens`` (time steps x batch rows)."""
    out = proj or hidden
    total = 0
    for layer in range(layers):
        fin = inp if layer == 0 else out * directions
        per_dir = tokens * gates * hidden * (fin + out) + tokens * hidden * proj
        total += directions * per_dir
    return total


T, B = 5, 2


@pytest.mark.parametrize(
    "module,x,expected",
    [
        (nn.LSTM(4, 3), torch.randn(T, B, 4), T * B * 12 * (4 + 3)),
        (nn.LSTM(4, 3, num_layers=2, bidirectional=True, batch_first=True),
         torch.randn(B, T, 4), rnn_macs(T * B, 4, 3, 4, layers=2, directions=2)),
        (nn.LSTM(4, 3, bias=False), torch.randn(T, 4), T * 12 * 7),  # unbatched
        (nn.LSTM(4, 6, proj_size=2, num_layers=2), torch.randn(T, B, 4),
         rnn_macs(T * B, 4, 6, 4, layers=2, proj=2)),
        (nn.RNN(4, 3), torch.randn(T, B, 4), T * B * 3 * 7),
        (nn.RNN(4, 3, nonlinearity="relu", num_layers=3, bidirectional=True),
         torch.randn(T, B, 4), rnn_macs(T * B, 4, 3, 1, layers=3, directions=2)),
        (nn.GRU(4, 3, num_layers=2, batch_first=True), torch.randn(B, T, 4),
         rnn_macs(T * B, 4, 3, 3, layers=2)),
        (nn.LSTMCell(4, 3), torch.randn(B, 4), B * 12 * 7),
        (nn.GRUCell(4, 3), torch.randn(B, 4), B * 9 * 7),
        (nn.RNNCell(4, 3), torch.randn(B, 4), B * 3 * 7),
    ],
    ids=["lstm", "lstm-2layer-bidir-batch-first", "lstm-unbatched-nobias", "lstm-proj",
         "rnn-tanh", "rnn-relu-3layer-bidir", "gru-2layer", "lstmcell", "grucell", "rnncell"],
)
def test_recurrent_macs_by_hand(module, x, expected):
    assert count_macs(module, x) == expected


def test_packed_sequence_counts_only_live_rows():
    lengths = [5, 3]
    x = pack_padded_sequence(torch.randn(5, 2, 4), lengths)
    tokens = sum(lengths)
    for module, gates in ((nn.LSTM(4, 3), 4), (nn.GRU(4, 3), 3), (nn.RNN(4, 3), 1)):
        assert count_macs(module, x) == tokens * gates * 3 * (4 + 3), type(module).__name__


def test_lstm_row_gets_its_fpr():
    """FPr of an LSTM row = 2 MACs per token per weight: 2 * T * B over all its matrices."""
    m = nn.LSTM(8, 16, num_layers=2)
    df = inspect(m, torch.randn(T, B, 8), encode=False)
    (row,) = df.itertuples()
    weights = sum(p.numel() for n, p in m.named_parameters() if "weight" in n)
    assert row.macs == T * B * weights
    assert row.fpr == pytest.approx(2 * row.macs / sum(p.numel() for p in m.parameters()))
    assert row.fpr > 0


def test_lstm_counted_fpr_drives_compress_and_stays_bit_exact():
    """With its MACs counted, a 2-layer bidirectional LSTM over 20 steps reads each weight 40
    times: block-wise RAS (it used to get FPr 0, element-wise); outputs bit-identical."""
    import sckit

    torch.manual_seed(0)
    m = nn.LSTM(32, 64, num_layers=2, bidirectional=True, batch_first=True).eval()
    x = torch.randn(2, 20, 32)
    df = sckit.inspect(m, x, encode=False)
    assert df.ras.iloc[0] == "block"
    sm = sckit.compress(m, x)
    assert sm.ras["weight_ih_l0"].kind == "block"
    assert torch.equal(sm(x)[0].view(torch.int32), m(x)[0].view(torch.int32))
