"""File-level fuzz of the container (benchmarks/fuzz_container.py): a few hundred damaged and
forged files (truncations, bit flips, overwrites, header edits and forged arrays with their
checksums recomputed, prefix edits), each loaded in a worker subprocess so a crash or hang fails
this test instead of killing pytest. Wanted: FormatError or a clean load, nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.benchmark_modules import load_benchmark


def _fuzz():  # noqa: ANN202 - a module loaded by path
    return load_benchmark("fuzz_container")


@pytest.mark.skipif(sys.platform == "win32", reason="select() on pipes")
def test_container_fuzz_no_crash_hang_or_stray_exception() -> None:
    fuzz = _fuzz()
    counts, bad, by_kind = fuzz.run(300, seed=0, timeout=30.0, start_timeout=300.0)
    assert sum(counts.values()) == 300
    assert counts["crash"] == counts["hang"] == counts["other"] == 0, "\n".join(bad[:20])
    # every byte is under a checksum or checked (prefix): damage not fixed up never loads
    for kind in ("truncate", "flip", "overwrite", "prefix"):
        assert by_kind[(kind, "ok")] == 0 and by_kind[(kind, "format_error")] > 0, (kind, dict(by_kind))
    # the damage reaches the checks: most cases are refused, and some forged files load
    assert counts["format_error"] > 150 and counts["ok"] > 0, dict(counts)


def test_every_damage_kind_is_generated(tmp_path: Path) -> None:
    fuzz = _fuzz()
    seeds = fuzz.build_seeds(tmp_path)
    loaded = [(n, how, (tmp_path / n).read_bytes()) for n, how in seeds]
    assert {how for _, how in seeds} >= {"model", "checkpoint", "v1"}
    kinds = {fuzz.make_case(0, i, loaded)[0].split()[1] for i in range(120)}
    assert kinds == set(fuzz.KINDS)
