"""Every notebook in a real browser: JupyterLab on 127.0.0.1, headless Debian Chromium via Playwright.

For each notebook: Run All, then check what a user sees. Every plotly figure (native output or
widget) is drawn at least 300 px tall, no cell shows an error or a JSON record tree, and the
browser console logged no error. Notebook 05 also moves the WhatIfPanel's amount slider, presses
Apply and checks that the shown size changes. Screenshots go to artifacts/ (ignored by git; CI
keeps them). Needs Debian's chromium (.ci/run installs it) and the playwright Python package (dev
extra); never `playwright install`. Runs in about 5 minutes on 2 cores (the notebooks' own
execution is most of it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MIN_PLOT_PX = 300
# smaller work than the defaults (tests/test_notebooks.py runs those and checks their numbers):
# here only what the page shows is checked, and every notebook runs a second time
QUICK = {
    "00_quickstart": {"prune_amounts": [0.8], "repeats": 1},
    "01_inspect": {"encode": False},
    "02_succinct_basics": {"n": 100_000},
    "04_lossless_inference": {"image_size": 32, "batch_size": 2, "repeats": 1},
    "05_whatif": {"repeats": 1},
    "07_pareto": {"prune_amounts": [0.9], "repeats": 1},
    "08_paper_tables": {"resnet50_size": 64, "run_vgg16": False, "fine_tune_epochs": 1,
                        "speed_size": 32, "speed_repeats": 1, "speed_configs": ["magnitude 95%"]},
}
# JupyterLab settings for the test server: render every cell (no windowing, so off-screen plots
# have a size to measure) and no news fetched from the internet (no network here)
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    root = tmp_path_factory.mktemp("lab")
    for path in NOTEBOOKS:
        nb = load_notebook_node(str(path))
        if path.stem in QUICK:  # an injected-parameters cell after the parameters cell
            nb = parameterize_notebook(nb, QUICK[path.stem], kernel_name="python3", language="python")
        nbformat.write(nb, root / path.name)
    settings = tmp_path_factory.mktemp("lab-settings")
    for name, value in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    port, token = _free_port(), "sckit-browser-test"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.open_browser=False", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('lab-workspaces')}"]
    log = open(root / "lab.log", "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield url, token, root
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _api(url: str, token: str, path: str, method: str = "GET") -> object:
    req = urllib.request.Request(f"{url}{path}", method=method,
                                 headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _run_all(page, url: str, token: str, name: str) -> None:
    """Open ``name``, wait for its kernel, Run All and wait until the run ends."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # ?reset: a fresh workspace, not the tabs of the notebooks run before
    page.goto(f"{url}/lab/tree/{name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    # JupyterLab sometimes asks which kernel to start (a race with the session restore)
    try:
        page.locator(".jp-Dialog button", has_text="Select").click(timeout=10_000)
    except PlaywrightTimeout:
        pass
    # a run sent before the kernel is connected is dropped: wait for an idle kernel
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]"
        ".some(e => e.getAttribute('data-status') === 'idle')"
        " && document.body.innerText.includes('Python 3 (ipykernel) | Idle')", timeout=90_000)
    page.click("text=Run", timeout=10_000)
    page.click("text=Run All Cells", timeout=10_000)
    prompts = ("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
               ".map(e => e.textContent.trim())")
    page.wait_for_function(f"() => ({prompts})().some(t => /\\[(\\*|\\d+)\\]/.test(t))",
                           timeout=60_000)  # the run has started
    # done when no cell is queued or running ([*]) and the kernel is idle: after an error
    # JupyterLab leaves the rest unqueued, which the checks then report (no 10-minute wait)
    page.wait_for_function(
        f"() => !({prompts})().some(t => t.includes('*'))"
        " && document.body.innerText.includes('Python 3 (ipykernel) | Idle')", timeout=600_000)


def _what_the_user_sees(page) -> dict:
    """Plots with their heights, error outputs, JSON trees and renderer failures on the page."""
    page.wait_for_timeout(1500)  # plotly draws after the output is attached
    heights = []
    for plot in page.locator(".js-plotly-plot").all():
        plot.scroll_into_view_if_needed()
        box = plot.bounding_box()
        heights.append(0 if box is None else round(box["height"]))
    return {
        "plot_heights": heights,
        "errors": page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error'],"
                               " .jp-OutputArea-output .ansi-red-fg").all_inner_texts(),
        "json_trees": page.locator(".jp-RenderedJSON").count(),
        "body": page.inner_text("body"),
    }


def _size_text(page) -> str:
    return page.locator("text=/compressed size: [0-9,]+ bytes/").last.inner_text()


def _check_whatif_panel(page) -> None:
    """Notebook 05: less pruning through the amount slider's readout, Apply, a bigger model."""
    page.wait_for_selector("text=/compressed size: [0-9,]+ bytes/", timeout=60_000)
    before = _size_text(page)
    amount = page.locator(".widget-slider", has=page.locator("label", has_text="amount")).first
    amount.locator(".widget-readout").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("0.30")
    page.keyboard.press("Enter")
    page.locator("button", has_text="Apply").first.click()
    page.wait_for_function(
        "(old) => { const e = [...document.querySelectorAll('*')].filter(n =>"
        " n.childElementCount === 0 && /compressed size: [0-9,]+ bytes/.test(n.textContent));"
        " return e.length && e[e.length - 1].textContent.trim() !== old.trim(); }",
        arg=before, timeout=120_000)
    after = _size_text(page)
    size = lambda t: int(re.search(r"compressed size: ([0-9,]+) bytes", t).group(1).replace(",", ""))  # noqa: E731
    assert size(after) > size(before), (before, after)  # less pruning -> a bigger model


# notebooks whose figures are all behind a widget interaction or absent (checked: no plot expected)
NO_PLOT = {"02_succinct_basics", "03_ras_formats", "04_lossless_inference", "06_gpu_kernels",
           "08_paper_tables"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_in_jupyterlab(lab, browser, path):
    url, token, root = lab
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(f"uncaught: {e}"))
    try:
        _run_all(page, url, token, path.name)
        if path.stem == "05_whatif":
            _check_whatif_panel(page)
        seen = _what_the_user_sees(page)
        page.keyboard.press("Control+s")  # save, to read the outputs' types back from disk
        page.wait_for_timeout(2000)
        page.screenshot(path=str(ARTIFACTS / f"browser_{path.stem}.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"browser_{path.stem}_failure.png"), full_page=True)
        raise
    finally:
        page.close()
        for s in _api(url, token, "/api/sessions"):  # one kernel at a time on a small machine
            _api(url, token, f"/api/sessions/{s['id']}", method="DELETE")
    saved = json.loads((root / path.name).read_text())
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in saved["cells"] if c["cell_type"] == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    not_run = [i for i, c in enumerate(saved["cells"]) if c["cell_type"] == "code"
               and c["source"] and c.get("execution_count") is None]
    assert not not_run, f"cells {not_run} did not run"
    assert not seen["errors"], seen["errors"]
    assert "Traceback" not in seen["body"] and "Error displaying widget" not in seen["body"]
    assert seen["json_trees"] == 0, "a record (or other JSON) shows as a tree"
    assert "No renderer could be found" not in seen["body"]
    if path.stem not in NO_PLOT:
        assert seen["plot_heights"], "no plotly figure on the page"
    assert all(h >= MIN_PLOT_PX for h in seen["plot_heights"]), seen["plot_heights"]
    assert not console, console
