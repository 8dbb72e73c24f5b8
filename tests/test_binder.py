"""binder/: pins the same dependencies as pyproject.toml and opens notebooks that exist."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (pyproject allows it): the same parser as a package
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
# extras binder installs besides the core dependencies (the notebooks need all three)
EXTRAS = ("jupyter", "compare", "dask")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def _requirements(path: Path) -> tuple[dict[str, Requirement], list[str]]:
    reqs: dict[str, Requirement] = {}
    options: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("--") else raw.strip()
        if not line:
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        req = Requirement(line)
        assert req.name.lower() not in reqs, f"{req.name} listed twice in {path.name}"
        reqs[req.name.lower()] = req
    return reqs, options


def _expected() -> dict[str, Requirement]:
    project = _pyproject()["project"]
    lines = list(project["dependencies"])
    for extra in EXTRAS:
        lines += project["optional-dependencies"][extra]
    return {Requirement(s).name.lower(): Requirement(s) for s in lines}


def _pins() -> dict[str, Requirement]:
    reqs, _ = _requirements(ROOT / "constraints.txt")
    return reqs


def test_binder_files_present():
    for name in ("requirements.txt", "postBuild", "runtime.txt"):
        assert (BINDER / name).is_file(), f"binder/{name} missing"
    assert os.access(BINDER / "postBuild", os.X_OK), "binder/postBuild must be executable"
    subprocess.run(["bash", "-n", str(BINDER / "postBuild")], check=True)


def test_runtime_matches_requires_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert m, f"runtime.txt should read python-X.Y, got {runtime!r}"
    from packaging.specifiers import SpecifierSet

    assert f"{m[1]}.{m[2]}" in SpecifierSet(_pyproject()["project"]["requires-python"])


def test_requirements_pin_pyproject_dependencies():
    got, _ = _requirements(BINDER / "requirements.txt")
    want = _expected()
    pins = _pins()
    assert sorted(got) == sorted(want), "binder/requirements.txt and pyproject list different packages"
    for name, req in want.items():
        b = got[name]
        assert b.extras == req.extras, f"{name}: extras {b.extras} != pyproject {req.extras}"
        if name in pins and pins[name].specifier != req.specifier and str(pins[name].specifier).startswith("=="):
            # an exact pin from constraints.txt (torch): binder uses the same pin, and it must
            # satisfy pyproject's range
            assert b.specifier == pins[name].specifier, f"{name}: binder {b.specifier} != constraints {pins[name].specifier}"
            version = str(pins[name].specifier).removeprefix("==")
            assert req.specifier.contains(version, prereleases=True), f"{name} pin {version} outside {req.specifier}"
        else:
            assert b.specifier == req.specifier, f"{name}: binder {b.specifier} != pyproject {req.specifier}"


def test_cpu_index_only_in_binder():
    _, options = _requirements(BINDER / "requirements.txt")
    assert options == [f"--extra-index-url {CPU_INDEX}"]
    # our own machines have no internet: the index must not leak into what CI installs
    assert CPU_INDEX not in (ROOT / "constraints.txt").read_text()
    assert CPU_INDEX not in (ROOT / "pyproject.toml").read_text()


def test_postbuild_installs_sckit_and_opens_notebooks():
    text = (BINDER / "postBuild").read_text()
    assert re.search(r"pip install .*--no-deps \.\s*$", text, re.M), "postBuild must install sckit"
    assert (ROOT / "notebooks").is_dir()
    # every notebook path binder names must exist (today it names only the folder)
    named = set(re.findall(r"\bnotebooks\b/?[\w./-]*", text))
    assert named, "postBuild should open the notebooks folder"
    for ref in named:
        assert (ROOT / ref).exists(), f"binder references {ref}, which does not exist"


@pytest.mark.parametrize("name", ["requirements.txt", "postBuild"])
def test_no_gpu_builds_in_binder(name):
    # binder has no GPU: a CUDA wheel or pycuda would only slow the build
    text = (BINDER / name).read_text().lower()
    assert "pycuda" not in text and "cu1" not in text
