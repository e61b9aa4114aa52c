"""The notebook edge lowers the interpreter's switch interval while agents work in a kernel
(`agentbook.notebook.switching`), and puts back what it found once none works."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from agentbook.events import AgentEnded, AgentEvent, AgentStarted
from agentbook.messages import Usage
from agentbook.notebook import switching


class FakeRun:
    """What `switching.track` uses of a run: `on_event`."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def on_event(self, callback: Any) -> None:
        self.listeners.append(callback)

    def emit(self, event: AgentEvent) -> None:
        for listener in self.listeners:
            listener(event)


def started(name: str) -> AgentStarted:
    return AgentStarted(agent=name, model="m", prompt=None, system="", cwd=".")


def ended(name: str) -> AgentEnded:
    return AgentEnded(agent=name, state="done", turns=1, usage=Usage(), result="")


@pytest.fixture(autouse=True)
def interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(before)


def test_lowered_while_any_agent_of_any_run_works_then_restored() -> None:
    one, two = FakeRun(), FakeRun()
    switching.track(one)  # type: ignore[arg-type]
    switching.track(two)  # type: ignore[arg-type]
    one.emit(started("a"))
    two.emit(started("a"))  # the same name in another run is another agent
    assert sys.getswitchinterval() == pytest.approx(switching.SWITCH_INTERVAL_S, abs=2e-6)
    one.emit(ended("a"))
    assert sys.getswitchinterval() == pytest.approx(switching.SWITCH_INTERVAL_S, abs=2e-6)
    two.emit(ended("a"))
    assert sys.getswitchinterval() == pytest.approx(0.005, abs=2e-6)
    assert switching.working() == 0
    two.emit(started("a"))  # a resume lowers it again
    assert sys.getswitchinterval() == pytest.approx(switching.SWITCH_INTERVAL_S, abs=2e-6)
    two.emit(ended("a"))
    assert sys.getswitchinterval() == pytest.approx(0.005, abs=2e-6)


def test_an_end_without_a_start_changes_nothing_and_a_lower_setting_is_kept() -> None:
    run = FakeRun()
    switching.track(run)  # type: ignore[arg-type]
    run.emit(ended("never-started"))
    assert sys.getswitchinterval() == pytest.approx(0.005, abs=2e-6)
    sys.setswitchinterval(0.0002)  # someone wants it lower still: never raised
    run.emit(started("a"))
    assert sys.getswitchinterval() == pytest.approx(0.0002, abs=2e-6)
    run.emit(ended("a"))
    assert sys.getswitchinterval() == pytest.approx(0.0002, abs=2e-6)


def test_a_value_set_meanwhile_is_not_overwritten() -> None:
    run = FakeRun()
    switching.track(run)  # type: ignore[arg-type]
    run.emit(started("a"))
    sys.setswitchinterval(0.01)
    run.emit(ended("a"))
    assert sys.getswitchinterval() == pytest.approx(0.01, abs=2e-6)
