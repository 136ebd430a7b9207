"""The course in a real JupyterLab: open the notebooks in headless Chromium, run them, move the slider.

nbval proves that the kernels run the notebooks; this proves what a person sees. It starts ``jupyter lab`` on
a free localhost port with a token, serving a copy of ``notebooks/`` and ``images/`` (so that nothing
committed is touched), drives the system's Chromium with Playwright (no browser is downloaded), runs
``01_attacking_a_network`` (the notebook with a widget; nbval runs every notebook) with "Run All Cells",
checks that no cell failed, that its pictures and the FGSM widget rendered, drags the slider and checks
that the displayed prediction changed. Screenshots go to
``build/browser-test/`` (reported at the end of the pytest run). Skipped, with the reason, when Chromium or
Playwright is missing: ``apt-get install chromium`` (``.ci/run`` does).

``COURSE_UPDATE_SCREENSHOT=1 pytest tests/test_browser.py`` also refreshes ``images/jupyterlab.png``, the
screenshot in the README.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "browser-test"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = [  # as root, offline, headless: no sandbox, no background calls home
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
]
RUN_TIMEOUT_S = int(os.environ.get("COURSE_BROWSER_TIMEOUT", 600))

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")


def _chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    pytest.skip("no Chromium on this machine: `apt-get install chromium` (Debian) to run the browser test")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_settings(folder: Path, extension: str, plugin: str, values: dict) -> None:
    path = folder / "@jupyterlab" / extension / f"{plugin}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on localhost serving a copy of the course: yields (base_url, token)."""
    chromium = _chromium()
    home = tmp_path_factory.mktemp("jupyterlab")
    for folder in ("notebooks", "images"):
        shutil.copytree(ROOT / folder, home / folder)
    _write_settings(home / ".settings", "apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False})
    # Render every cell (JupyterLab 4 otherwise drops cells scrolled out of view from the page).
    _write_settings(home / ".settings", "notebook-extension", "tracker", {"windowingMode": "none"})
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / ".config"), JUPYTER_DATA_DIR=str(home / ".data"),
        JUPYTER_RUNTIME_DIR=str(home / ".runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / ".settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / ".workspaces"),
    )
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}", "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; its log:\n{(home / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "chromium": chromium}
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser(jupyterlab):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=jupyterlab["chromium"], args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{menu}$")).click()
    page.locator(".lm-Menu-item", has_text=re.compile(rf"^{item}")).first.click()


def _open_and_run_all(browser, jupyterlab, notebook: str):
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.set_default_timeout(120_000)
    page.goto(f"{jupyterlab['base']}/lab/tree/notebooks/{notebook}?token={jupyterlab['token']}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function("document.querySelector('#jp-main-statusbar')?.innerText.includes('Idle')")
    _menu(page, "Edit", "Clear Outputs of All Cells")  # so that the committed prompts cannot pass for new ones
    page.wait_for_function("![...document.querySelectorAll('.jp-InputPrompt')].some(p => /\\d/.test(p.innerText))")
    _menu(page, "Run", "Run All Cells")
    code_cells = page.locator(".jp-Notebook .jp-CodeCell").count()
    # Finished when every code cell shows an execution count and the kernel is idle again.
    try:
        page.wait_for_function(
            """(n) => {
                const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
                const done = prompts.filter(p => /\\[\\d+\\]/.test(p.innerText)).length;
                const busy = prompts.some(p => p.innerText.includes('*'));
                return done === n && !busy && document.querySelector('#jp-main-statusbar').innerText.includes('Idle');
            }""",
            arg=code_cells, timeout=RUN_TIMEOUT_S * 1000,
        )
    except playwright_api.TimeoutError:
        page.screenshot(path=str(SCREENSHOTS / f"{notebook}-timeout.png"))
        raise
    return page


def _errors_shown(page) -> list[str]:
    """Tracebacks in the output areas, and widgets that failed to render."""
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    problems = [t[:500] for t in texts if "Traceback (most recent call last)" in t or re.search(r"^\w+Error\b", t, re.M)]
    problems += [t for t in texts if "Error displaying widget" in t or "model not found" in t]
    return problems


def test_01_fgsm_slider_renders_and_moving_it_changes_the_prediction(browser, jupyterlab):
    page = _open_and_run_all(browser, jupyterlab, "01_attacking_a_network.ipynb")
    try:
        assert _errors_shown(page) == []
        assert page.locator(".jp-OutputArea-output img").count() >= 3  # the fooled noise, the cat, the curves
        slider = page.locator(".widget-slider").filter(has_text="eps x 255").first
        slider.wait_for()
        label = page.locator(".widget-label", has_text="eps = ").first
        slider.scroll_into_view_if_needed()
        before = label.inner_text()
        assert before.startswith("eps = 8/255: "), before  # the notebook's own cell moved it to 8
        page.screenshot(path=str(SCREENSHOTS / "01_slider_at_8.png"))

        handle = slider.locator(".noUi-handle")
        track = slider.locator(".noUi-base").bounding_box()
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] - 20, box["y"] + box["height"] / 2, steps=10)  # drag to eps = 0
        page.mouse.up()
        page.wait_for_function(
            "(old) => [...document.querySelectorAll('.widget-label')].some(l => l.innerText.startsWith('eps = ') && l.innerText !== old)",
            arg=before,
        )
        after = label.inner_text()
        assert after.startswith("eps = 0/255: Egyptian cat"), after
        assert after.split(": ")[1].split(" (")[0] != before.split(": ")[1].split(" (")[0]
        page.wait_for_timeout(1000)  # let the redrawn figure paint
        assert _errors_shown(page) == []
        page.screenshot(path=str(SCREENSHOTS / "01_slider_at_0.png"))
        if os.environ.get("COURSE_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(SCREENSHOTS / "01_slider_at_8.png", ROOT / "images" / "jupyterlab.png")
    finally:
        page.close()
