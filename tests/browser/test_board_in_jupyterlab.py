"""The live board in a real browser: JupyterLab in Debian's headless chromium, driven by Playwright.

The test starts `jupyter lab` from this Python environment on a free loopback port, in a copy of
`board_demo.ipynb`'s folder, with no Anthropic variables and no update, news or extension-manager
calls.  Playwright (sync API) drives `/usr/bin/chromium` (never a downloaded browser): it runs all
cells, waits until the kernel is idle, and then checks what a user would see:

* the board shows one row per agent and a totals row;
* rows change state *after* the cell has finished and the kernel is idle (the agents run on
  agentbook's background loop and the board updates itself);
* a row's Transcript button opens that agent's conversation;
* the `writer` agent waits on its `Write` call with Approve / Always / Deny buttons, its elapsed
  clock running while it waits, and Approve lets it continue to `done` (and the file is written);
* the board fits 1024, 1280 and 1920 px windows, while the writer waits and once all are done:
  every cell of every row inside the output cell's box, each row one line, columns under their
  headers, the totals' states whole (`board_layout`, from element boxes);

and saves screenshots to `test-artifacts/` (`board-running.png`, `board-approve.png`,
`board-done.png` of the board, `board-done-page.png` of the whole page; `board-failure.png` when
it fails) and the server's log (`jupyter-lab.log`), and the page at each width to the test's tmp
folder (`board-waiting-1024.png` ... `board-done-1920.png`).

Without `/usr/bin/chromium` or the `playwright` package the test skips, except under CI (`$CI`
set), where it fails: CI installs both (`.ci/run`).
"""

from __future__ import annotations

import contextlib
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
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from board_layout import BOARD_BOXES_JS, layout_problems

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARTIFACTS = REPO / "test-artifacts"
NOTEBOOK = "board_demo.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AGENTS = ("reader-fast", "reader-steady", "reader-slow", "writer")
ENDED = ("done", "partial", "failed", "cancelled")
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
}
SERVER_START_S = 90.0
UI_TIMEOUT_S = 60.0  # JupyterLab's first load and the kernel's start
STEP_S = 30.0  # one click's effect
WIDTHS = (1024, 1280, 1920)  # the windows the board must fit
VIEWPORT = {"width": 1400, "height": 1200}
AGENT_S = 30.0  # an agent's whole run (the slowest takes 8 s)

pytestmark = pytest.mark.timeout(300)


def _require_browser() -> None:
    """Skip (or, under CI, fail) when the browser or Playwright is missing."""
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install playwright)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason}; CI must run it (.ci/run installs both)", pytrace=False)
        pytest.skip(reason)


# ---- the JupyterLab server


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def api(self, method: str, path: str, timeout: float = 5.0) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method in ("POST", "PATCH") else None,
        )
        with _DIRECT.open(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_env(tmp: Path) -> dict[str, str]:
    """The environment minus anything that could send a kernel to the network, with Jupyter's
    config, runtime files, JupyterLab's settings and workspaces, IPython's profile and agentbook's
    home in `tmp`, so the user's own never leak in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "JUPYTER", "JPY_")) and k not in ("AGENTBOOK_MODEL", "IPYTHONDIR")
    }
    dirs = {
        "JUPYTER_CONFIG_DIR": "jupyter-config",
        "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
        "AGENTBOOK_HOME": "agentbook-home",
    }
    for name, folder in dirs.items():
        (tmp / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(tmp / folder)
    # JupyterLab's own settings: never fetch news nor check for updates (no "Would you like to be
    # notified" toast over the board), and start the notebook's kernel without asking.
    for plugin, values in LAB_SETTINGS.items():
        path = tmp / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _processes() -> dict[int, tuple[int, str]]:
    """Every process as {pid: (parent pid, start time)}, from Linux's /proc."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            found[int(entry.name)] = (int(fields[1]), fields[19])
    return found


def _descendants(pid: int) -> dict[int, str]:
    """The processes under `pid` (its kernels and theirs) as {pid: start time}."""
    table = _processes()
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, started) in table.items():
            if ppid == parent and child not in found:
                found[child] = started
                todo.append(child)
    return found


def _stop(process: subprocess.Popen[bytes], lab: Lab) -> None:
    """Shut the server down through its API (which stops its kernels), then make sure."""
    leftovers = _descendants(process.pid)
    if process.poll() is None:
        try:
            for kernel in lab.api("GET", "/api/kernels"):
                lab.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=15)
            lab.api("POST", "/api/shutdown")
        except (OSError, urllib.error.URLError, ValueError):
            pass
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    alive = _processes()
    for (
        pid,
        started,
    ) in leftovers.items():  # a kernel the shutdown missed (the same process, not a reused pid)
        if alive.get(pid, (0, ""))[1] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """`jupyter lab` from this environment, serving a copy of this folder's notebooks."""
    _require_browser()
    root = tmp_path / "root"
    root.mkdir()
    for notebook in HERE.glob("*.ipynb"):
        shutil.copy(notebook, root / notebook.name)
    port = _free_port()
    token = secrets.token_hex(24)
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = tmp_path / "jupyter.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=_server_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status", timeout=2)
                break
            except (OSError, urllib.error.URLError, ValueError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {SERVER_START_S:.0f} s:\n{server.log_tail()}")
                time.sleep(0.25)
        yield server
    finally:
        _stop(process, server)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(log, ARTIFACTS / "jupyter-lab.log")


# ---- the browser

# The board as {agent: state}, read from the DOM: each row's `agentbook-state-*` class.
ROW_STATES_JS = """() => {
    const states = {};
    for (const row of document.querySelectorAll('.agentbook-board .agentbook-row')) {
        const name = row.querySelector('.agentbook-agent');
        const cls = [...row.classList].find(c => c.startsWith('agentbook-state-'));
        if (name) states[name.textContent.trim()] = cls ? cls.slice('agentbook-state-'.length) : '';
    }
    return states;
}"""

# Whether the notebook's kernel is connected and idle.  The execution indicator alone says
# `idle` before there is a kernel; the status bar names the kernel once it is connected.
KERNEL_READY_JS = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const indicator = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
    const status = [...document.querySelectorAll('#jp-main-statusbar span')]
        .some(s => /^(?!No Kernel).+ \\| Idle$/.test(s.textContent.trim()));
    return !!indicator && indicator.dataset.status === 'idle' && status;
}"""

# The code cells' prompts (`[1]: [2]:`) when the kernel is idle and every code cell has run
# (none shows `[*]:` or `[ ]:`); otherwise null.
KERNEL_IDLE_JS = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    if (!panel) return null;
    const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
    const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
        .map(p => p.textContent.trim());
    const idle = !!indicator && indicator.dataset.status === 'idle'
        && prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p));
    return idle ? prompts.join(' ') : null;
}"""


def _wait_for(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)
    return value


def test_board_updates_live_and_approves_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("board-*.png"):
        old.unlink()
    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 2)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=UI_TIMEOUT_S * 1000
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(STEP_S * 1000)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            try:
                _drive(page, lab, mark, tmp_path)
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(ARTIFACTS / "board-failure.png"))
                print("timings (s):", timings)
                print("browser errors:", "\n".join(errors[-30:]) or "none")
                print("jupyter lab log:\n" + lab.log_tail())
                raise
        finally:
            browser.close()
    print("timings (s):", timings, "window screenshots in", tmp_path)


def _drive(page: Any, lab: Lab, mark: Callable[[str], None], shots: Path) -> None:
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?reset&token={lab.token}", timeout=UI_TIMEOUT_S * 1000)
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=UI_TIMEOUT_S * 1000)

    def kernel_ready() -> bool:
        accept = page.locator(".jp-Dialog .jp-mod-accept")
        if accept.count():  # "Select Kernel", should JupyterLab ask after all: take its default
            accept.first.click()
        return bool(page.evaluate(KERNEL_READY_JS))

    _wait_for(kernel_ready, UI_TIMEOUT_S, "the notebook's kernel to be connected and idle")
    mark("kernel ready")

    # Run > Run All Cells, as a user would.
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    board = page.locator(".agentbook-board")
    rows = board.locator(".agentbook-row")
    rows.first.wait_for(timeout=UI_TIMEOUT_S * 1000)
    mark("board shown")
    _wait_for(lambda: rows.count() == len(AGENTS), STEP_S, f"{len(AGENTS)} rows")
    assert board.count() == 1, f"{board.count()} boards: the run's display should hold exactly one"
    assert board.locator(".agentbook-totals").count() == 1, "no totals row"

    # The cell is done and the kernel idle while agents still work ...
    prompts = _wait_for(lambda: page.evaluate(KERNEL_IDLE_JS), STEP_S, "the kernel to be idle")
    at_idle: dict[str, str] = page.evaluate(ROW_STATES_JS)
    mark("kernel idle after Run All")
    board.screenshot(path=str(ARTIFACTS / "board-running.png"))
    assert set(at_idle) == set(AGENTS), f"rows on the board: {at_idle}"
    working = [n for n, state in at_idle.items() if state not in ENDED and n != "writer"]
    assert "reader-slow" in working, f"reader-slow ended before the kernel went idle: {at_idle}"

    # ... so rows change with nothing running in the notebook: the board updates itself.
    def ended_since() -> list[str]:
        states = page.evaluate(ROW_STATES_JS)
        return [n for n in working if states.get(n) == "done"]

    finished = _wait_for(ended_since, AGENT_S, f"one of {working} to change to done while idle")
    mark(f"{', '.join(finished)} done while idle")
    assert page.evaluate(KERNEL_IDLE_JS) == prompts, "a cell ran again: the change was not live"

    # A Transcript button opens that agent's conversation.
    steady = _row(page, "reader-steady")
    _wait_for(lambda: _state(steady) == "done", AGENT_S, "reader-steady to be done")
    steady.locator(".agentbook-transcript-button").click()
    transcript = board.locator(".agentbook-transcript").first
    transcript.wait_for()

    def conversation_shown() -> bool:
        text = transcript.inner_text()
        return all(part in text for part in ("List this folder four times", "Glob", "Finished after 4 turns"))

    _wait_for(conversation_shown, STEP_S, "reader-steady's prompt, tool calls and answer in its transcript")
    mark("transcript open")

    # The writer waits on its Write; Approve lets it go on to done, and the file is written.
    writer = _row(page, "writer")
    _wait_for(lambda: _state(writer) == "waiting", AGENT_S, "the writer to wait for permission")
    approve = writer.locator("button.agentbook-approve")
    approve.wait_for()
    assert writer.locator("button.agentbook-always").is_visible(), "no Always button"
    assert writer.locator("button.agentbook-deny").is_visible(), "no Deny button"
    prompt = writer.inner_text()
    assert "Write" in prompt and "notes.txt" in prompt, f"the permission prompt names no call: {prompt}"
    board.screenshot(path=str(ARTIFACTS / "board-approve.png"))
    _fits_every_width(page, shots, "waiting")
    mark("fits while waiting")
    # With every other agent ended nothing else changes: the writer's clock must still run.
    _wait_for(lambda: _state(_row(page, "reader-slow")) == "done", AGENT_S, "reader-slow to be done")
    clock = writer.locator(".agentbook-elapsed")
    waited = clock.inner_text()
    _wait_for(lambda: clock.inner_text() != waited, 3.0, f"the writer's clock to move on from {waited}")
    mark(f"writer's clock moved on from {waited} to {clock.inner_text()}")
    approve.click()
    mark("Approve clicked")
    _wait_for(lambda: _state(writer) == "done", STEP_S, "the writer to be done after Approve")
    mark("writer done")
    assert approve.count() == 0, "Approve still shown after it was answered"
    assert (lab.root / "work" / "notes.txt").read_text(encoding="utf-8") == "approved in the browser\n"
    assert page.evaluate(KERNEL_IDLE_JS) == prompts, "a cell ran again"

    # Everything ends, and the totals row says so.
    _wait_for(lambda: set(page.evaluate(ROW_STATES_JS).values()) == {"done"}, AGENT_S, "every agent done")
    totals = board.locator(".agentbook-totals")
    _wait_for(lambda: "4 done" in totals.inner_text(), STEP_S, "the totals row to say '4 done'")
    mark("all done")
    board.screenshot(path=str(ARTIFACTS / "board-done.png"))
    page.screenshot(path=str(ARTIFACTS / "board-done-page.png"))
    _fits_every_width(page, shots, "done")
    mark("fits when done")


def _fits_every_width(page: Any, shots: Path, moment: str) -> None:
    """At each of `WIDTHS`, the board fits (`layout_problems` finds nothing, read again for up to
    5 s: a row and the totals change in separate messages); a screenshot of the page each."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        problems: list[str] = []

        def fits() -> bool:
            nonlocal problems
            problems = layout_problems(page.evaluate(BOARD_BOXES_JS))
            return not problems

        with contextlib.suppress(AssertionError):
            _wait_for(fits, 5.0, "the board to fit")
        page.locator(".agentbook-board .agentbook-totals").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"board-{moment}-{width}.png"))
        assert not problems, f"at {width} px ({moment}):\n" + "\n".join(problems)
    page.set_viewport_size(VIEWPORT)


def _row(page: Any, name: str) -> Any:
    """The board row of agent `name` (matched on its whole agent cell)."""
    exact = re.compile(f"^{re.escape(name)}$")
    return page.locator(".agentbook-board .agentbook-row").filter(
        has=page.locator(".agentbook-agent", has_text=exact)
    )


def _state(row: Any) -> str:
    """A row's state, from its `agentbook-state-*` class ('' if it has none)."""
    classes = (row.get_attribute("class") or "").split()
    return next((c.removeprefix("agentbook-state-") for c in classes if c.startswith("agentbook-state-")), "")
