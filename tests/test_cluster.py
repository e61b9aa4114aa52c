"""Agents on a Dask cluster (issue 16): a `LocalCluster` of two worker processes, the real
Anthropic SDK in the workers talking HTTP to the local fake Messages API.

Each agent appends its name to `calls.log` with Bash (a tool with side effects) and then
answers; the handler can hold the answers back, so a test can act while every agent is mid-run.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from support import dask_client, fake_api, first_prompt, git, new_repo

import agentbook as ab
from agentbook.events import AgentEvent, ToolFinished
from agentbook.scheduler.cluster import ClusterUnavailable
from agentbook.testing import FakeRequest, MessageReply, Reply, ToolUseBlock

distributed = pytest.importorskip("distributed")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # its functions run on the workers

KEY = "sk-ant-test-cluster-0123456789abcdef"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two worker processes, each in a folder of its own (not the run's: nothing is shared but
    what agentbook sends)."""
    with dask_client(tmp_path_factory) as dask:
        yield dask


class Appender:
    """Turn 1: Bash appends the agent's name to calls.log (then sleeps `sleep_s`); turn 2: the
    answer, once `release` is set.  Records which process sent each request."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        self.sleep_s, self.release = sleep_s, threading.Event()
        self.release.set()
        self.lock, self.results = threading.Lock(), {}

    def __call__(self, request: FakeRequest) -> Reply:
        name = first_prompt(request).split()[-1]
        messages = request.json["messages"]
        if len(messages) == 1:
            command = f"echo {name} >> calls.log" + (f" && sleep {self.sleep_s}" if self.sleep_s else "")
            return MessageReply([ToolUseBlock("Bash", {"command": command})])
        with self.lock:
            self.results[name] = messages[-1]["content"]
        self.release.wait(60)
        return MessageReply(f"{name} is done")


def serving(handler: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    return fake_api(handler, monkeypatch, KEY)


def logged(log: Path, lines: int) -> Path:
    """`log` once it holds `lines` lines (every agent's Bash call has started), or after 60 s."""
    deadline = time.monotonic() + 60
    while (not log.exists() or len(log.read_text().split()) < lines) and time.monotonic() < deadline:
        time.sleep(0.02)
    return log


def agents(n: int) -> dict[str, str]:
    return {f"a{i}": f"Append your name: a{i}" for i in range(n)}


def worker_transcripts(run: str, dask_worker: Any = None) -> list[str]:
    """(On a worker) the transcripts its run of `run` wrote in its own folder."""
    return sorted(
        p.name for p in Path(dask_worker.local_directory).glob(f"agentbook-runs/{run}/*/subagents/*.jsonl")
    )


def worker_transcript(run: str, agent_id: str, dask_worker: Any = None) -> str | None:
    """(On a worker) its transcript of the agent `agent_id`, if it ran there."""
    found = list(
        Path(dask_worker.local_directory).glob(f"agentbook-runs/{run}/*/subagents/agent-{agent_id}.jsonl")
    )
    return found[0].read_text() if found else None


def worker_pids(client: Any) -> dict[str, int]:
    return client.run(os.getpid)  # type: ignore[no-any-return]


def test_agents_run_in_the_workers_processes_and_their_events_arrive_live(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, seen = Appender(), []
    handler.release.clear()
    live: list[AgentEvent] = []
    with serving(handler, monkeypatch):
        run = ab.run_parallel(agents(6), model="haiku", cwd=tmp_path, cluster=client, tools=["Bash"],
                              permission_mode="bypassPermissions", on_event=live.append)  # fmt: skip
        deadline = time.monotonic() + 60
        while len([e for e in live if isinstance(e, ToolFinished)]) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = [r.state for r in run.records.values()]  # mid-run, as the board reads them
        assert seen == ["running"] * 6 and not run.done
        handler.release.set()
        run.wait(60)
    assert {r.state for r in run.records.values()} == {"done"}
    assert sorted((tmp_path / "calls.log").read_text().split()) == sorted(agents(6))
    assert run.records["a3"].text == "a3 is done" and run.records["a3"].turns == 2
    # The run folder has each agent's transcript, written here from the workers' events ...
    transcript = ab.load_run(run.run_dir).records["a1"]
    assert transcript.state == "done" and transcript.usage.output_tokens > 0
    # ... and the workers wrote theirs in their own folders: the agents ran there.
    here = {os.getpid()}
    ran = client.run(worker_transcripts, run.name)
    assert sum(len(v) for v in ran.values()) == 6 and all(ran.values())  # both workers had a share
    assert here.isdisjoint(worker_pids(client).values())
    record = run.records["a2"]  # the run folder's copy is the worker's, line for line
    copies = [t for t in client.run(worker_transcript, run.name, record.agent_id).values() if t]
    assert copies == [record.transcript.read_text()]
    frame = run.calls_df
    assert len(frame) == 12 and frame["output_tokens"].gt(0).all()


def test_a_worker_killed_mid_call_loses_no_agent_and_runs_no_tool_twice(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Appender(sleep_s=3)
    with serving(handler, monkeypatch):
        run = ab.run_parallel(agents(6), model="haiku", cwd=tmp_path, cluster=client, tools=["Bash"],
                              permission_mode="bypassPermissions")  # fmt: skip
        log = logged(tmp_path / "calls.log", 6)
        worker = run.remote.mirror.where["a0"][1]  # every Bash call is sleeping now: kill a0's worker
        victims = sorted(n for n, (_, w) in run.remote.mirror.where.items() if w == worker)
        os.kill(worker_pids(client)[worker], signal.SIGKILL)
        run.wait(90)
    assert {r.state for r in run.records.values()} == {"done"}, {n: r.error for n, r in run.records.items()}
    assert sorted(log.read_text().split()) == sorted(agents(6))  # each Bash call ran once
    for name in victims:  # resumed elsewhere, told that its call was interrupted
        assert "interrupted" in str(handler.results[name]), name
    for name in set(agents(6)) - set(victims):
        assert "interrupted" not in str(handler.results[name])
    client.wait_for_workers(2, timeout=30)  # the nanny brings a new worker for the next tests


def test_cancel_stops_every_agent_on_every_worker(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Appender(sleep_s=120)
    with serving(handler, monkeypatch):
        run = ab.run_parallel(agents(4), model="haiku", cwd=tmp_path, cluster=client, tools=["Bash"],
                              permission_mode="bypassPermissions")  # fmt: skip
        logged(tmp_path / "calls.log", 4)
        started = time.monotonic()
        run.cancel()
        run.wait(30)
    assert time.monotonic() - started < 15
    assert {r.state for r in run.records.values()} == {"cancelled"}
    assert not handler.results  # no agent got past its Bash call


def test_one_rate_gate_serves_the_whole_cluster(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def admitted(run: Any) -> int:
        with client.as_current():
            return sum(stats.admitted for stats in run.remote.gate_host.stats().result().values())

    with serving(Appender(), monkeypatch):
        first = ab.run_parallel(agents(1), model="haiku", cwd=tmp_path, cluster=client, tools=["Bash"],
                                permission_mode="bypassPermissions")  # fmt: skip
        first.wait(60)
        before = admitted(first)
        run = ab.run_parallel(agents(4), model="haiku", cwd=tmp_path, cluster=client, tools=["Bash"],
                              permission_mode="bypassPermissions")  # fmt: skip
        run.wait(60)
        assert run.remote.gate_host.key == first.remote.gate_host.key  # one host for the client
        assert admitted(run) - before == 8  # every request of both workers went through it


def test_a_cluster_that_cannot_be_reached_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agentbook.scheduler.cluster.connect.CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(
        ClusterUnavailable, match=re.escape("cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'")
    ):
        ab.run_parallel(agents(2), model="offline", cwd=tmp_path, cluster="tcp://127.0.0.1:9",
                        run_dir=tmp_path / "run")  # fmt: skip
    assert not (tmp_path / "run").exists()
    with pytest.raises(TypeError, match=r"cluster must be a distributed\.Client"):
        ab.run_parallel(agents(2), model="offline", cwd=tmp_path, cluster=42)


@pytest.fixture(scope="module")
def apart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two workers that do not share the notebook's files (as on another machine): agentbook
    sends them the repository as a git bundle."""
    with dask_client(tmp_path_factory, AGENTBOOK_CLUSTER_FILES="bundle") as dask:
        yield dask


class Writer:
    """Each agent writes `<name>.txt` with Write, then answers."""

    def __call__(self, request: FakeRequest) -> Reply:
        name = first_prompt(request).split()[-1]
        if len(request.json["messages"]) == 1:
            return MessageReply(
                [ToolUseBlock("Write", {"file_path": f"{name}.txt", "content": f"by {name}\n"})]
            )
        return MessageReply(f"{name} wrote its file")


def test_worktree_branches_come_back_from_workers_that_share_no_files(
    apart: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "repo", monkeypatch, {"README.md": "demo\n"})
    with serving(Writer(), monkeypatch):
        run = ab.run_parallel(agents(4), model="haiku", cwd=repo, cluster=apart, isolation="worktree",
                              tools=["Write"], run_dir=tmp_path / "run")  # fmt: skip
        run.wait(90)
    assert {r.state for r in run.records.values()} == {"done"}, {n: r.error for n, r in run.records.items()}
    for name, record in run.records.items():  # each branch is in the user's repository now
        assert record.branch is not None and record.commit is not None
        assert git(repo, "show", f"{record.branch}:{name}.txt") == f"by {name}"
    assert git(repo, "worktree", "list").count("\n") == 0  # no worker made a worktree here
    report = run.merge("integration")
    assert sorted(report.merged) == sorted(r.branch for r in run.records.values())
    assert sorted(git(repo, "ls-tree", "--name-only", "integration").split()) == sorted(
        ["README.md", *(f"{n}.txt" for n in agents(4))]
    )


def test_teams_and_batches_say_they_do_not_run_on_a_cluster_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.batches import BatchError, Unit, batch
    from agentbook.teams.team import TeamError

    with pytest.raises(TeamError, match="a team does not run on a cluster yet"):
        ab.Team(lead="lead the team", teammates={"t": "help"}, cluster="local")
    planned = batch("x", new_repo(tmp_path / "r", monkeypatch, {"a": "1\n"}), model="offline",
                    units=[Unit(f"u{n}", "do it", [f"f{n}"], None) for n in range(5)])  # fmt: skip
    planned.approve()
    with pytest.raises(BatchError, match="a batch does not run on a cluster yet"):
        planned.start(cluster="local")
    assert planned.run is None
