"""The `cluster` option beyond `run_parallel`: `%%parallel_agents --cluster`, `%%agent --cluster`,
`agentbook run FILE.yaml --cluster` and `Plan.run(cluster=)`, on a
`LocalCluster` of two worker processes and the offline model; an address that cannot be reached
is a clear error (a `UsageError`, exit code 2) before anything starts."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from support import dask_client

import agentbook as ab
from agentbook.cli import main
from agentbook.scheduler.run import all_runs

distributed = pytest.importorskip("distributed")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # `ran_here` runs on the workers

pytestmark = pytest.mark.timeout(180)
UNREACHABLE = "tcp://127.0.0.1:9"
FAN_OUT = "a: Summarise pkg/alpha.py\nb: Summarise pkg/beta.py\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with dask_client(tmp_path_factory) as dask:
        yield dask


@pytest.fixture
def address(client: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The cluster's scheduler address, which `client_for` resolves to the fixture's client (one
    client per process: a second one to the same cluster loses its rate-gate actor at times)."""
    from agentbook.scheduler.cluster import connect

    monkeypatch.setitem(connect._clients, client.scheduler.address, client)
    return client.scheduler.address  # type: ignore[no-any-return]


@pytest.fixture
def ip() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "agentbook")
    return shell


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "alpha.py").write_text('"""Alpha module."""\n\n\ndef a():\n    """Do a."""\n')
    (folder / "pkg" / "beta.py").write_text('"""Beta module."""\n\n\nclass B:\n    """A B."""\n')
    return folder


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agentbook.scheduler.cluster.connect.CONNECT_TIMEOUT_S", 1.0)


def ran_here(run: str, dask_worker: Any = None) -> int:
    """(On a worker) how many transcripts its share of `run` wrote in its own folder."""
    return len(list(Path(dask_worker.local_directory).glob(f"agentbook-runs/{run}/*/subagents/*.jsonl")))


def on_the_workers(client: Any, run: Any) -> int:
    assert os.getpid() not in client.run(os.getpid).values()
    return sum(client.run(ran_here, run.name).values())  # type: ignore[no-any-return]


# ---- an address that cannot be reached: cheap, no cluster


def test_the_magics_refuse_an_unreachable_cluster_before_anything_starts(
    ip: InteractiveShell, code: Path, home: Path, quick: None
) -> None:
    before = all_runs()
    for magic, body in (("parallel_agents", FAN_OUT), ("agent", "Summarise pkg/alpha.py")):
        with pytest.raises(UsageError, match=r"cannot reach a Dask scheduler at 'tcp://127\.0\.0\.1:9'"):
            ip.run_cell_magic(magic, f"--model offline --cwd {code} --cluster {UNREACHABLE}", body)
    with pytest.raises(UsageError, match=r"--cluster is empty"):
        ip.run_cell_magic("parallel_agents", f"--model offline --cwd {code} --cluster ''", FAN_OUT)
    assert all_runs() == before and not (home / "runs").exists()
    assert "--cluster" in (ip.find_cell_magic("parallel_agents").__doc__ or "")


def test_the_cli_refuses_an_unreachable_cluster_with_exit_2_and_no_run_folder(
    tmp_path: Path, home: Path, quick: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fan.yaml").write_text(FAN_OUT)
    (tmp_path / "plan.yaml").write_text(f"options: {{cluster: '{UNREACHABLE}'}}\n{FAN_OUT}"
                                        "c: {prompt: 'after {a}', depends_on: [a]}\n")  # fmt: skip
    assert main(["run", str(tmp_path / "fan.yaml"), "--cluster", UNREACHABLE, "--yes"]) == 2
    err = capsys.readouterr().err
    assert "agentbook: cluster: cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in err
    assert main(["run", str(tmp_path / "plan.yaml")]) == 2  # the file's option, before the approval
    err = capsys.readouterr().err
    assert "cannot reach a Dask scheduler" in err and "needs approval" not in err
    assert main(["run", str(tmp_path / "fan.yaml"), "--cluster", " ", "--yes"]) == 2
    assert "--cluster: cluster is empty" in capsys.readouterr().err
    assert not (home / "runs").exists()


# ---- on a LocalCluster


def test_the_magics_run_their_agents_on_the_cluster_at_an_address(
    client: Any, address: str, ip: InteractiveShell, code: Path
) -> None:
    run = ip.run_cell_magic("parallel_agents", f"--model offline --cwd {code} --cluster {address}", FAN_OUT)
    run.wait(60)
    assert run.status == {"a": "done", "b": "done"} and run.config.cluster == address
    assert on_the_workers(client, run) == 2
    one = ip.run_cell_magic("agent", f"--model offline --cwd {code} --cluster {address} --name solo",
                            "Summarise pkg/beta.py")  # fmt: skip
    one.wait(60)
    assert one.status == {"solo": "done"} and on_the_workers(client, one) == 1


def test_the_magic_takes_local(
    client: Any, ip: InteractiveShell, code: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.scheduler.cluster import connect

    monkeypatch.setitem(connect._clients, "local", client)  # "local" made once per process: this one
    run = ip.run_cell_magic("parallel_agents", f"--model offline --cwd {code} --cluster local", FAN_OUT)
    run.wait(60)
    assert run.status == {"a": "done", "b": "done"} and on_the_workers(client, run) == 2


def test_agentbook_run_takes_the_cluster_for_a_fan_out_and_a_plan(
    client: Any, address: str, code: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (code / "fan.yaml").write_text(FAN_OUT)
    (code / "plan.yaml").write_text(
        FAN_OUT + "c: {prompt: 'Summarise pkg/alpha.py after {a}', depends_on: [a]}\n"
    )
    assert (
        main(["run", str(code / "fan.yaml"), "--cluster", address, "--run-dir", str(tmp_path / "fan")]) == 0
    )
    fan = ab.load_run(tmp_path / "fan")
    assert fan.config.cluster == address and set(fan.status.values()) == {"done"}
    assert sum(client.run(ran_here, fan.name).values()) == 2
    argv = [
        "run",
        str(code / "plan.yaml"),
        "--cluster",
        address,
        "--yes",
        "--run-dir",
        str(tmp_path / "plan"),
    ]
    assert main(argv) == 0
    assert "plan: completed" in capsys.readouterr().out
    for phase, count in (("phase-0", 2), ("phase-1", 1)):
        run = ab.load_run(tmp_path / "plan" / phase)
        assert run.config.cluster == address and sum(client.run(ran_here, run.name).values()) == count


def test_plan_run_forwards_the_cluster(client: Any, code: Path) -> None:
    plan = ab.Plan({"a": "Summarise pkg/alpha.py", "c": {"prompt": "Summarise pkg/beta.py after {a}",
                                                         "depends_on": ["a"]}})  # fmt: skip
    plan.approve()
    outcome = plan.run(model="offline", cwd=code, cluster=client)
    assert outcome.completed and [on_the_workers(client, r) for r in plan.runs] == [1, 1]
