"""Adversarial tests of agents on a Dask cluster (`run_parallel(..., cluster=client)`).

Each `xfail(strict=True)` test is a confirmed defect: the mark goes once it is fixed.  A
`LocalCluster` of two worker processes, the real Anthropic SDK in them talking HTTP to the local
fake Messages API, as in tests/test_cluster.py.
"""

from __future__ import annotations

import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from support import dask_client, fake_api, first_prompt

import agentbook as ab
from agentbook.testing import ErrorReply, FakeRequest, MessageReply, Reply, ToolUseBlock

distributed = pytest.importorskip("distributed")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # its functions run on the workers

KEY = "sk-ant-test-attack16-0123456789abcdef"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with dask_client(tmp_path_factory) as dask:
        yield dask


def serving(handler: Callable[[FakeRequest], Reply], monkeypatch: pytest.MonkeyPatch) -> Any:
    return fake_api(handler, monkeypatch, KEY)


def name_of(request: FakeRequest) -> str:
    return first_prompt(request).split()[-1]


def wait_until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.01)


class Appender:
    """Turn 1: Bash appends the agent's name to calls.log (then sleeps); turn 2: the answer."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        self.sleep_s = sleep_s
        self.lock, self.results = threading.Lock(), {}

    def __call__(self, request: FakeRequest) -> Reply:
        name = name_of(request)
        messages = request.json["messages"]
        if len(messages) == 1:
            command = f"echo {name} >> calls.log" + (f" && sleep {self.sleep_s}" if self.sleep_s else "")
            return MessageReply([ToolUseBlock("Bash", {"command": command})])
        with self.lock:
            self.results[name] = messages[-1]["content"]
        return MessageReply(f"{name} is done")


def agents(n: int) -> dict[str, str]:
    return {f"a{i}": f"Append your name: a{i}" for i in range(n)}


BASH = {"tools": ["Bash"], "permission_mode": "bypassPermissions"}


# ---- the concurrency option


def test_concurrency_one_runs_one_agent_at_a_time_across_the_cluster(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def handler(request: FakeRequest) -> Reply:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.8)
        with lock:
            state["now"] -= 1
        return MessageReply("done")

    with serving(handler, monkeypatch):
        run = ab.run_parallel({"a0": "say a0", "a1": "say a1"}, model="haiku", cwd=tmp_path,
                              cluster=client, concurrency=1)  # fmt: skip
        run.wait(60)
    assert {r.state for r in run.records.values()} == {"done"}
    assert state["most"] == 1  # one agent at a time, as in-process


# ---- bad input: a clear error before anything starts


class LockedModelHolder:
    """A hook holding a lock: it cannot be pickled to a worker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> None:
        with self.lock:
            pass


def _refuse_to_load() -> None:
    raise RuntimeError("this hook cannot be loaded on a worker")


class UnloadableHook:
    """A hook that pickles here and fails to load on the worker: its share fails there."""

    def __call__(self, *args: Any) -> None:
        return None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_refuse_to_load, ())


def test_an_unpicklable_hook_is_refused_before_anything_starts(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(Appender(), monkeypatch):
        run = None
        try:
            with pytest.raises((TypeError, ValueError, pickle.PicklingError)):
                run = ab.run_parallel(agents(2), model="haiku", cwd=tmp_path, cluster=client,
                                      run_dir=tmp_path / "run", **BASH,
                                      hooks=ab.Hooks(on_tool_start=[LockedModelHolder()]))  # fmt: skip
        finally:
            if run is not None:
                run.cancel()  # its agents never end by themselves (see the test below)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "calls.log").exists()


def test_a_closed_client_is_refused_before_anything_starts(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = distributed.Client(client.scheduler.address, set_as_default=False)
    other.close()
    with serving(Appender(), monkeypatch), pytest.raises(ab.scheduler.cluster.ClusterUnavailable):
        ab.run_parallel(agents(1), model="haiku", cwd=tmp_path, cluster=other, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_empty_cluster_string_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cluster is empty"):
        ab.run_parallel(agents(1), model="offline", cwd=tmp_path, cluster="  ", run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ---- cancel


def test_cancel_before_the_share_reaches_its_worker_runs_nothing(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(Appender(), monkeypatch):
        run = ab.run_parallel(agents(2), model="haiku", cwd=tmp_path, cluster=client, **BASH)
        remote = run.remote
        dealt = remote.mirror.where
        wait_until(lambda: dealt.get("a0", ("",))[0] != "", 10)  # dealt out, not yet on its worker
        assert not remote._hosts
        run.cancel("a0")
        run.wait(60)
    assert run.records["a1"].state == "done"
    assert run.records["a0"].state == "cancelled"
    assert "a0" not in (tmp_path / "calls.log").read_text().split()


def test_cancelling_one_agent_lets_the_others_finish(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(Appender(sleep_s=4), monkeypatch):
        run = ab.run_parallel(agents(4), model="haiku", cwd=tmp_path, cluster=client, **BASH)
        log = tmp_path / "calls.log"
        wait_until(lambda: log.exists() and len(log.read_text().split()) == 4, 30)
        run.cancel("a1")
        run.wait(60)
    assert {n: r.state for n, r in run.records.items()} == {
        "a0": "done",
        "a1": "cancelled",
        "a2": "done",
        "a3": "done",
    }


# ---- resume


def test_resuming_an_ended_cluster_agent_goes_on_with_its_conversation(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[Any]] = []

    def handler(request: FakeRequest) -> Reply:
        seen.append(request.json["messages"])
        return MessageReply(f"answer {len(request.json['messages'])}")

    with serving(handler, monkeypatch):
        run = ab.run_parallel({"a0": "say a0"}, model="haiku", cwd=tmp_path, cluster=client)
        run.wait(60)
        run.resume("a0", prompt="and again")
        run.wait(60)
        run.resume("a0", prompt="and once more")
        run.wait(60)
    assert run.records["a0"].state == "done"
    assert [len(m) for m in seen] == [1, 3, 5]
    assert run.records["a0"].text == "answer 5"
    loaded = ab.load_run(run.run_dir).records["a0"]
    assert loaded.text == "answer 5"


def test_a_loaded_cluster_run_resumes_on_the_cluster(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler(request: FakeRequest) -> Reply:
        return MessageReply("pid")

    with serving(handler, monkeypatch):
        run = ab.run_parallel({"a0": "say a0"}, model="haiku", cwd=tmp_path, cluster=client,
                              run_dir=tmp_path / "run")  # fmt: skip
        run.wait(60)
        loaded = ab.load_run(tmp_path / "run")
        loaded.resume("a0", prompt="again")
        loaded.wait(60)
    assert loaded.records["a0"].state == "done"
    assert loaded.remote is not None  # its agents go to the cluster again


# ---- sub-agents


def test_a_sub_agent_on_a_worker_is_a_record_here_with_its_transcript(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler(request: FakeRequest) -> Reply:
        prompt, messages = first_prompt(request), request.json["messages"]
        if prompt.startswith("child"):
            return MessageReply("child done")
        if len(messages) == 1:
            return MessageReply([ToolUseBlock("Agent", {"description": "c", "prompt": "child of p"})])
        return MessageReply("parent done")

    with serving(handler, monkeypatch):
        run = ab.run_parallel({"p": "parent p"}, model="haiku", cwd=tmp_path, cluster=client, tools=["Agent"])
        run.wait(60)
    children = [r for r in run.records.values() if r.parent is not None]
    assert run.records["p"].state == "done" and run.records["p"].text == "parent done"
    assert len(children) == 1 and children[0].state == "done" and children[0].text == "child done"
    assert children[0].transcript.is_file()
    loaded = ab.load_run(run.run_dir)
    assert any(r.parent is not None and r.state == "done" for r in loaded.records.values())


# ---- secrets


def test_the_api_key_is_in_neither_the_run_folder_nor_the_schedulers_event_log(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "note.txt").write_text(f"the key is {KEY}\n")

    def handler(request: FakeRequest) -> Reply:
        if len(request.json["messages"]) == 1:
            return MessageReply([ToolUseBlock("Bash", {"command": "cat note.txt"})])
        return MessageReply("read it")

    with serving(handler, monkeypatch):
        run = ab.run_parallel({"a0": "read a0"}, model="haiku", cwd=tmp_path, cluster=client, **BASH)
        run.wait(60)
    assert run.records["a0"].state == "done"
    for path in run.run_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    logged = client.get_events(run.remote.topic)
    assert logged
    assert all(KEY.encode() not in message["items"] for _, message in logged)
    assert all(KEY not in text for _, message in logged for text in message["lines"].values())
    assert any(b"*" * len(KEY) in message["items"] for _, message in logged)  # masked, not dropped


# ---- the rate gate


def test_a_429_on_one_worker_pauses_the_other_workers_agents(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, times, first = threading.Lock(), {}, []

    def handler(request: FakeRequest) -> Reply:
        name, messages = name_of(request), request.json["messages"]
        with lock:
            times.setdefault(name, []).append(time.monotonic())
            if not first:
                first.append(name)
                return ErrorReply(429, retry_after=3, headers={"anthropic-ratelimit-requests-remaining": "0"})
        if len(messages) == 1:
            return MessageReply([ToolUseBlock("Bash", {"command": "sleep 1"})])
        return MessageReply("done")

    with serving(handler, monkeypatch):
        run = ab.run_parallel({f"a{i}": f"say a{i}" for i in range(8)}, model="haiku", cwd=tmp_path,
                              cluster=client, **BASH)  # fmt: skip
        run.wait(60)
    assert {r.state for r in run.records.values()} == {"done"}
    where = {n: w for n, (_, w) in run.remote.mirror.where.items()}
    limited, t429 = first[0], times[first[0]][0]
    others = [n for n in where if where[n] != where[limited]]
    assert others  # agents on the other worker
    for name in others:  # their second request came ~1 s after the first: it waited out the 429
        assert times[name][-1] >= t429 + 2.5, (name, times[name][-1] - t429)


def test_agents_started_one_at_a_time_are_spread_over_the_workers(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(lambda request: MessageReply("ok"), monkeypatch):
        run = ab.run_parallel(agents(4), model="haiku", cwd=tmp_path, cluster=client)
        run.wait(60)
        workers = set()
        for name in agents(4):
            run.resume(name, prompt="again")
            run.wait(60)
            workers.add(run.remote.mirror.where[name][1])
    assert {r.state for r in run.records.values()} == {"done"}
    assert len(workers) == 2  # four resumes, one after the other: both workers get some


def test_a_share_that_fails_on_its_worker_ends_the_run(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(Appender(), monkeypatch):
        run = ab.run_parallel(agents(2), model="haiku", cwd=tmp_path, cluster=client, **BASH,
                              hooks=ab.Hooks(on_tool_start=[UnloadableHook()]))  # fmt: skip
        wait_until(lambda: all(r.state == "failed" for r in run.records.values()), 20)
        try:
            run.wait(10)
        except TimeoutError:
            run.cancel()
            raise
    assert run.done


def test_a_cluster_left_without_workers_fails_its_agents_instead_of_hanging(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.scheduler.cluster.remote import RemoteAgents

    def no_workers(self: Any) -> list[str]:
        raise RuntimeError("the Dask cluster has no workers left")

    monkeypatch.setattr(RemoteAgents, "_workers", no_workers)
    run = ab.run_parallel(agents(2), model="offline", cwd=tmp_path, cluster=client)
    run.wait(20)
    assert {r.state for r in run.records.values()} == {"failed"}
    assert all("no workers left" in (r.error or "") for r in run.records.values())
