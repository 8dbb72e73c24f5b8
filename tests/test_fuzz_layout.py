"""Forged layout JSON in packed checkpoints (benchmarks/fuzz_layout.py): every change to it is
refused with a FormatError when the file is opened or unpacked, or reads back consistently;
never a TypeError, KeyError or numpy error from a value of the wrong type or size."""

from __future__ import annotations

from tests.benchmark_modules import load_benchmark


def _fuzz():  # noqa: ANN202 - a module loaded by path
    return load_benchmark("fuzz_layout")


def test_forged_layouts_are_format_errors_or_read_back() -> None:
    counts, bad = _fuzz().run(400, seed=0)
    assert sum(counts.values()) == 400
    assert counts["other"] == 0, "\n".join(bad[:20])
    # most changes break the layout; some (a shard name, the order reversed...) are harmless
    assert counts["format_error"] > 250 and counts["ok"] > 0, dict(counts)
