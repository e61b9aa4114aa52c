"""The team board and `%%agent_team`: the task list by status, member rows and messages, live
(throttled, from the task list's, mailbox's and run's callbacks) and static; the magic through
a real IPython shell (offline model), its errors, and the notebook edge's attachment."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import comm
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import agentbook as ab
from agentbook.notebook import attach, render, team_display, team_render
from agentbook.notebook.widgets.team import team_board_for
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.run import all_runs
from agentbook.testing.teamwork import TeamworkModel

TASKS: list[Any] = [
    "schema",
    {"subject": "api", "description": "endpoints", "blocked_by": ["schema"]},
    "docs",
]
BODY = """\
lead: Split the work and review it
teammates:
  alice: writes the code
  bob: writes the tests
tasks:
  - schema
  - {subject: api, description: the endpoints, blocked_by: [schema]}
  - docs
"""


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


@pytest.fixture
def ip() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "agentbook")
    yield shell


class _Comm:
    """The comm ipywidgets uses, recording the time of every state update (see test_widgets)."""

    kernel = "a kernel"
    _ids = iter(range(1, 10**9))

    def __init__(self, sent: list[float]) -> None:
        self.comm_id, self.sent = f"team-comm-{next(self._ids)}", sent

    def on_msg(self, callback: Callable[..., Any]) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.sent.append(time.monotonic())

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    times: list[float] = []
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: _Comm(times))
    return times


def eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def teamwork(tmp_path: Path, delay: float = 0.1) -> ab.Team:
    return ab.Team("Split the work", {"alice": "code", "bob": "tests"}, TASKS, model=TeamworkModel(delay),
                   cwd=tmp_path, run_dir=tmp_path / "run")  # fmt: skip


# ---- the live board


def test_live_board_follows_the_team_to_its_end_throttled(tmp_path: Path, sent: list[float]) -> None:
    team = teamwork(tmp_path).start()
    board = team_board_for(team, max_rate=10.0)
    assert team_board_for(team) is board
    assert "agentbook-team-board" in board.widget._dom_classes
    assert "#2" in board.columns["pending"].value and "blocked by #1" in board.columns["pending"].value
    members = board.members.value
    assert members.index('data-member="lead"') < members.index('data-member="alice"') < members.index("bob")
    eventually(lambda: "#1" in board.columns["in_progress"].value, what="#1 in progress on the live board")
    eventually(lambda: "#1 schema" in board.members.value, what="a member's current task")
    team.wait(30)
    board.wait_idle()
    assert team.run is not None and set(team.run.status.values()) == {"done"}
    done = board.columns["completed"].value
    assert all(f"#{i}" in done for i in (1, 2, 3)) and "completed (3)" in done
    assert "blocked by" not in done and "in progress (0)" in board.columns["in_progress"].value
    assert "alice" in board.messages.value and "#1 done" in board.messages.value
    assert "kick-off" in board.messages.value and "</b> → <b>all" in board.messages.value
    times = board.flush_times[1:]  # after the first paint, the pump keeps to 10 a second
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 3 and min(gaps) >= 0.1 - 0.005, gaps
    assert sent, "the widgets sent no updates"


def test_static_html_and_text_show_columns_members_and_messages(tmp_path: Path) -> None:
    team = teamwork(tmp_path).start().wait(30)
    page, text = team_render.render_team_html(team), team_render.render_team_text(team)
    for status in ("pending", "in_progress", "completed"):
        assert f"agentbook-column-{status}" in page
    assert "width:" not in page.replace("max-width:100%", "").replace("min-width", "")  # flex only
    assert 'data-member="lead"' in page and "agentbook-state-done" in page
    assert "completed:\n  #1 schema (" in text and "lead: done" in text and "-> lead: #" in text
    bundle = team_display.team_bundle(team, include_widget=True)  # no kernel: no widget
    assert set(bundle) == {"text/plain", "text/html"}


def test_in_a_kernel_a_team_displays_as_its_board_and_wait_publishes_it(
    tmp_path: Path, sent: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    monkeypatch.setattr(team_display, "in_kernel", lambda: True)
    team = teamwork(tmp_path).start()
    bundle = team_display.team_bundle(team, include_widget=True)
    assert bundle[render.WIDGET_VIEW_MIME]["model_id"] == team_board_for(team).widget.model_id
    team.wait(30)
    assert team.run is not None and team_display.team_of(team.run) is team
    attach.waited(team.run)  # what the package root calls after wait() in a kernel
    assert "agentbook-team-static" in shown[-1]["text/html"] and "completed:" in shown[-1]["text/plain"]
    team_board_for(team).wait_idle()


def test_a_team_shows_its_plain_html_outside_a_kernel(tmp_path: Path) -> None:
    team = teamwork(tmp_path)
    assert "Team of lead, alice, bob" in team._repr_html_()
    assert "team (not started)" in team_render.render_team_text(team)


# ---- %%agent_team


def test_agent_team_magic_starts_at_once_and_shows_the_tasks(ip: InteractiveShell, tmp_path: Path) -> None:
    before = len(all_runs())
    team = ip.run_cell_magic("agent_team", f'--model offline --cwd "{tmp_path}" --max-turns 2 -o crew', BODY)
    assert isinstance(team, ab.Team) and ip.user_ns["crew"] is team and len(all_runs()) == before + 1
    assert team.members == ["lead", "alice", "bob"] and team.run is not None and not team.run.done
    page = team_render.render_team_html(team)
    for subject in ("schema", "api", "docs"):
        assert f"</b> {subject}" in page
    assert "blocked by #1" in page and "pending (3)" in page
    # The offline model never claims a task: each teammate is offered the tasks once, the lead
    # is told the team is quiet, and the team ends on its own (or at --max-turns).
    team.wait(30)
    assert team.run.done and set(team.run.status.values()) <= {"done", "partial"}
    assert "agentbook-state-" in team_render.render_team_html(team)


def test_help_names_the_options(ip: InteractiveShell) -> None:
    doc = ip.find_cell_magic("agent_team").__doc__ or ""
    for option in ("--model", "--max-turns", "--cwd", "-o", "YAML", "blocked_by"):
        assert option in doc, option


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("lead: [unclosed", "not valid YAML"),
        ("- a list", "YAML mapping"),
        ("teammates: {a: b}", "needs 'lead:'"),
        ("lead: x\nteammates: [a, b]", "teammates: a mapping"),
        ("lead: x\nteammates: {a: b}\ntasks: one", "tasks: a list"),
        ("lead: x\nteammates: {a: b}\nrole: y", "unknown key(s) role"),
        ("lead: ''\nteammates: {a: b}", "the lead needs instructions"),
        ("lead: x\nteammates: {lead: b}", "the lead's name"),
        ("lead: x\nteammates: {a: b}\ntasks: [{subject: s, blocked_by: [nope]}]", "names no earlier task"),
        ("lead: x\nteammates: {a: b}\ntasks: [{title: s}]", "task 1 must be"),
    ],
)
def test_a_bad_body_is_a_usage_error_and_starts_nothing(
    ip: InteractiveShell, tmp_path: Path, body: str, says: str
) -> None:
    before = len(all_runs())
    with pytest.raises(UsageError, match=None) as caught:
        ip.run_cell_magic("agent_team", f"--model offline --cwd '{tmp_path}'", body)
    assert says in str(caught.value)
    assert len(all_runs()) == before


def test_bad_options_are_usage_errors(ip: InteractiveShell, tmp_path: Path) -> None:
    before = {id(r) for r in all_runs()}  # runs are weakly held: some may go, none may come
    with pytest.raises(UsageError, match="--cwd: not a folder"):
        ip.run_cell_magic("agent_team", f"--cwd '{tmp_path / 'missing'}'", BODY)
    with pytest.raises(UsageError):
        ip.run_cell_magic("agent_team", "--max-turns lots", BODY)
    with pytest.raises(UsageError, match=r"max_turns|max-turns"):
        ip.run_cell_magic("agent_team", f"--model offline --cwd '{tmp_path}' --max-turns 0", BODY)
    assert {id(r) for r in all_runs()} <= before


def test_the_board_rests_between_changes_instead_of_waking_ten_times_a_second(tmp_path: Path) -> None:
    """While members work slowly, the pump wakes for changes and the once-a-second tick only."""
    team = ab.Team("Split the work", {"alice": "code"}, TASKS[:1], model=TeamworkModel(1.5),
                   cwd=tmp_path, run_dir=tmp_path / "run", interactive=False).start()  # fmt: skip
    board = team_board_for(team, max_rate=10.0)
    rounds: list[float] = []
    original = board.pump_round

    def counted(run: Any) -> bool:
        rounds.append(time.monotonic())
        return original(run)

    board.pump_round = counted  # type: ignore[method-assign]
    time.sleep(2.0)
    assert len(rounds) <= 8, f"{len(rounds)} pump rounds in 2 s"
    team.stop()
    team.wait(30)
