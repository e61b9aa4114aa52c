"""The team board in a real browser: JupyterLab in Debian's headless chromium, driven by Playwright
(the server, the browser and the skips are `test_board_in_jupyterlab`'s).

It runs `team_demo.ipynb` (a lead and three teammates on `TeamworkModel`, no network) and checks
what a user sees: one team board with the three status columns and a row per member (the lead
first); the board changes after the cell has finished and the kernel is idle, until every task
is in the completed column and the messages name who did what; the board fits 1024, 1280 and 1920 px
windows (nothing wider than its cell).  Screenshots go to the test's tmp folder (`team-board-*.png`).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
from test_board_in_jupyterlab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    KERNEL_IDLE_JS,
    KERNEL_READY_JS,
    STEP_S,
    UI_TIMEOUT_S,
    Lab,
    _wait_for,
    lab,
)

__all__ = ["lab"]  # the fixture, imported for pytest

NOTEBOOK = "team_demo.ipynb"
MEMBERS = ["lead", "alice", "bob", "carol"]
STATUSES = ("pending", "in_progress", "completed")
TEAM_S = 60.0  # the whole team's work (about 10 s)

pytestmark = pytest.mark.timeout(300)

# The board as the user sees it: cards per column, member rows (name, state), messages, and
# whether anything is wider than the board's cell.
BOARD_JS = """() => {
    const board = document.querySelector('.agentbook-team-board');
    if (!board) return null;
    const cards = {};
    for (const column of board.querySelectorAll('.agentbook-column')) {
        const status = [...column.classList].find(c => c.startsWith('agentbook-column-')).slice(17);
        cards[status] = [...column.querySelectorAll('.agentbook-task')].map(t => t.dataset.task);
    }
    const members = [...board.querySelectorAll('.agentbook-member')].map(m => [
        m.dataset.member, m.querySelector('.agentbook-member-state').textContent.trim()]);
    const messages = [...board.querySelectorAll('.agentbook-message')].map(m => m.textContent.trim());
    const cell = board.closest('.jp-OutputArea-output') || board.parentElement;
    const right = cell.getBoundingClientRect().right + 1;
    const overflow = [...board.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > right)
        .map(e => e.className).slice(0, 5);
    return {cards, members, messages, overflow, width: board.getBoundingClientRect().width,
            cellWidth: cell.getBoundingClientRect().width, boards: document.querySelectorAll(
            '.agentbook-team-board').length};
}"""


def test_team_board_renders_and_updates_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 2)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=UI_TIMEOUT_S * 1000
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(STEP_S * 1000)
            try:
                _drive(page, lab, tmp_path, mark)
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(tmp_path / "team-board-failure.png"))
                print("timings (s):", timings, "\njupyter lab log:\n" + lab.log_tail())
                raise
        finally:
            browser.close()
    print("timings (s):", timings, "screenshots in", tmp_path)


def _drive(page: Any, lab: Lab, tmp_path: Path, mark: Any) -> None:
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?reset&token={lab.token}", timeout=UI_TIMEOUT_S * 1000)
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=UI_TIMEOUT_S * 1000)

    def kernel_ready() -> bool:
        accept = page.locator(".jp-Dialog .jp-mod-accept")
        if accept.count():
            accept.first.click()
        return bool(page.evaluate(KERNEL_READY_JS))

    _wait_for(kernel_ready, UI_TIMEOUT_S, "the notebook's kernel to be connected and idle")
    mark("kernel ready")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    board = page.locator(".agentbook-team-board")
    board.locator(".agentbook-member").first.wait_for(timeout=UI_TIMEOUT_S * 1000)
    mark("board shown")
    for status in STATUSES:
        assert board.locator(f".agentbook-column-{status}").is_visible(), f"no {status} column"
    prompts = _wait_for(lambda: page.evaluate(KERNEL_IDLE_JS), STEP_S, "the kernel to be idle")
    at_idle = page.evaluate(BOARD_JS)
    mark("kernel idle")
    assert at_idle["boards"] == 1, at_idle
    assert [m[0] for m in at_idle["members"]] == MEMBERS, at_idle["members"]
    assert len(at_idle["cards"]["completed"]) < 5, f"the team ended before the kernel was idle: {at_idle}"
    board.screenshot(path=str(tmp_path / "team-board-running.png"))

    # The board moves on with the notebook idle, until every task is completed.
    working = lambda: page.evaluate(BOARD_JS)["cards"]["in_progress"]  # noqa: E731
    _wait_for(working, TEAM_S, "a task in the in-progress column")
    board.screenshot(path=str(tmp_path / "team-board-working.png"))

    def finished() -> Any:
        seen = page.evaluate(BOARD_JS)
        done = {state for _, state in seen["members"]} == {"done"}
        return seen if len(seen["cards"]["completed"]) == 5 and done else None

    final = _wait_for(finished, TEAM_S, "every task in the completed column and every member done")
    mark("team done")
    assert page.evaluate(KERNEL_IDLE_JS) == prompts, "a cell ran again: the change was not live"
    assert final["cards"]["pending"] == [] and final["cards"]["in_progress"] == []
    assert any("→ lead" in m and "done" in m for m in final["messages"]), final["messages"]
    assert final["overflow"] == [], f"wider than the cell: {final}"
    assert final["width"] <= final["cellWidth"] + 1, final
    board.screenshot(path=str(tmp_path / "team-board-done.png"))
    page.screenshot(path=str(tmp_path / "team-board-page.png"))
    for width in (1024, 1920):  # the board fits narrower and wider windows too
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(300)
        seen = page.evaluate(BOARD_JS)
        assert seen["overflow"] == [] and seen["width"] <= seen["cellWidth"] + 1, (width, seen)
        page.screenshot(path=str(tmp_path / f"team-board-page-{width}.png"))
