"""The package as a user installs it: cheap import, shipped data, README/CI agreement."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_cheap_and_lazy():
    # torch, numba, pycuda and ipywidgets must not load on `import sckit` (issue 2).
    code = (
        "import sys, sckit\n"
        "heavy = [m for m in ('torch', 'numba', 'pycuda', 'ipywidgets', 'pandas', 'plotly')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_attribute_is_an_attribute_error():
    import sckit

    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        sckit.nonexistent  # noqa: B018


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no bash block"
    lines = [ln for ln in blocks[0].splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 2, "README must open with exactly two commands"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[1] in ci, ".ci/run must run the README's test command verbatim"
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()


@pytest.mark.slow
def test_wheel_ships_widgets_and_kernels(tmp_path):
    # A wheel (not only an editable install) must carry sckit.widgets and the .cu sources.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("sckit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "sckit/widgets/__init__.py" in names
    assert "sckit/kernels_cu/__init__.py" in names
    assert "sckit/py.typed" in names
    cu_repo = sorted(p.name for p in (ROOT / "kernels_cu").glob("*.cu"))
    assert all(f"sckit/kernels_cu/{n}" in names for n in cu_repo)
    # every package directory in the source tree made it into the wheel
    for init in (ROOT / "sckit").rglob("__init__.py"):
        rel = init.relative_to(ROOT).as_posix()
        assert rel in names, f"{rel} missing from the wheel: add it to pyproject packages"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    code = ("import sckit.widgets, sckit.kernels_cu as k; "
            "print(sckit.widgets.__file__); print(len(k.list_sources()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    first, count = out.stdout.split()
    assert first.startswith(str(target))
    assert int(count) == len(cu_repo)
