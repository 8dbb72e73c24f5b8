"""Notebook 05 in a real browser: JupyterLab on 127.0.0.1, headless Debian Chromium via Playwright.

Runs all cells, moves the WhatIfPanel's amount slider, presses Apply and checks that the shown
size changes, that the Pareto plot renders and that no widget failed to display. A screenshot
goes to artifacts/ (ignored by git; CI keeps it). Needs Debian's chromium (.ci/run installs it)
and the playwright Python package (dev extra); never `playwright install`.
"""

from __future__ import annotations

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
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

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
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "05_whatif.ipynb", root / "05_whatif.ipynb")
    port, token = _free_port(), "sckit-browser-test"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.open_browser=False"]
    env = dict(os.environ)
    log = open(root / "lab.log", "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
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
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _size_text(page) -> str:
    return page.locator("text=/compressed size: [0-9,]+ bytes/").last.inner_text()


def test_notebook_05_widgets_work_in_jupyterlab(lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    url, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/lab/tree/05_whatif.ipynb?token={token}")
            # a run sent before the kernel is connected is dropped: wait for an idle kernel
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            # JupyterLab sometimes asks which kernel to start (a race with the session restore)
            try:
                page.locator(".jp-Dialog button", has_text="Select").click(timeout=15_000)
            except PlaywrightTimeout:
                pass
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]"
                ".some(e => e.getAttribute('data-status') === 'idle')"
                " && document.body.innerText.includes('Python 3 (ipykernel) | Idle')", timeout=90_000)
            page.click("text=Run", timeout=10_000)
            page.click("text=Run All Cells", timeout=10_000)
            # done when every code cell shows a number and none is queued or running
            page.wait_for_function(
                "() => { const p = [...document.querySelectorAll('.jp-InputArea-prompt')]"
                ".map(e => e.textContent.trim()).filter(t => t.length);"
                " return p.length >= 5 && p.every(t => /\\[\\d+\\]/.test(t)); }",
                timeout=300_000)
            page.wait_for_selector("text=/compressed size: [0-9,]+ bytes/", timeout=60_000)
            before = _size_text(page)
            # move the amount slider (type into its readout, as a user can) and press Apply
            amount = page.locator(".widget-slider", has=page.locator("label", has_text="amount")).first
            readout = amount.locator(".widget-readout")
            readout.click()
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
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "browser_05_whatif.png"), full_page=True)
            body = page.inner_text("body")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_05_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    size = lambda t: int(re.search(r"compressed size: ([0-9,]+) bytes", t).group(1).replace(",", ""))  # noqa: E731
    assert size(after) > size(before), (before, after)  # less pruning -> a bigger model
    assert "Error displaying widget" not in body
    assert "Traceback" not in body
