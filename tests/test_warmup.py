"""First-run compile: the progress bar appears only while numba compiles, and `sckit warmup`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sckit import warmup as wu

ROOT = Path(__file__).resolve().parent.parent

# one small kernel under compile_progress, in a fresh process (numba's cache as the env says)
_CHILD = r"""
import json, numpy as np
from sckit.warmup import compile_progress
from sckit.succinct._bitops import select_in_word
with compile_progress("test bar") as log:
    pos = select_in_word(np.uint64(0b101000), 1)
print(json.dumps({"pos": int(pos), "kernels": log.kernels}))
"""


def _child(cache: Path, **env: str) -> tuple[dict, str]:
    e = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), **env)
    out = subprocess.run([sys.executable, "-c", _CHILD], env=e, capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_bar_on_first_compile_then_silent_from_the_cache(tmp_path):
    first, err1 = _child(tmp_path)
    assert first["pos"] == 5
    assert [k for k in first["kernels"] if "select_in_word" in k], first["kernels"]
    assert "test bar" in err1 and "select_in_word" in err1  # tqdm names the kernel in progress
    second, err2 = _child(tmp_path)  # same cache, new process: loaded, not compiled
    assert second == {"pos": 5, "kernels": []}
    assert "test bar" not in err2


def _fresh_kernel():
    """A new njit function counted as an sckit kernel (compiles in well under a second)."""
    from numba import njit

    def twice(x):
        return 2 * x

    twice.__module__ = "sckit._test_kernel"
    return njit(twice)


@pytest.mark.parametrize("setting", ["1", "0"])
def test_bar_follows_the_environment(monkeypatch, capsys, setting):
    monkeypatch.setenv("SCKIT_COMPILE_PROGRESS", setting)
    kernel = _fresh_kernel()
    with wu.compile_progress("test bar") as log:
        assert kernel(21) == 42
    assert [k for k in log.kernels if "twice" in k]  # counted either way
    assert ("test bar" in capsys.readouterr().err) == (setting == "1")


def test_nested_blocks_report_to_the_outer_and_listener_removed():
    from numba.core import event

    before = len(event._registered["numba:compile"])
    with wu.compile_progress(progress=False) as outer:
        assert len(event._registered["numba:compile"]) == before + 1
        with wu.compile_progress() as inner:
            assert inner is outer
            assert len(event._registered["numba:compile"]) == before + 1
    assert len(event._registered["numba:compile"]) == before
    assert outer.seconds > 0


def test_listener_removed_after_an_error():
    from numba.core import event

    before = len(event._registered["numba:compile"])
    with pytest.raises(ZeroDivisionError), wu.compile_progress(progress=False):
        1 / 0  # noqa: B018
    assert len(event._registered["numba:compile"]) == before
    with wu.compile_progress(progress=False) as log:  # a fresh block after the error
        pass
    assert log.kernels == []


def test_compress_runs_under_the_bar():
    import sckit

    assert sckit.compress.__wrapped__.__name__ == "compress"
    assert sckit.compress.__doc__ == sckit.compress.__wrapped__.__doc__


def test_warmup_access_paths():
    rep = wu.warmup(models=(), progress=False)
    assert rep.steps == ["RAS rows and access"]
    assert "kernel signatures compiled" in str(rep)
    again = wu.warmup(models=(), progress=False)
    assert again.kernels == []  # everything is loaded now


def test_cli_warmup_registered(capsys):
    from sckit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["warmup", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--models" in out and "numba" in out
    assert "``" not in out and ":func:" not in out  # plain help text, as the other commands
