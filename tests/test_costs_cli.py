"""`agentbook costs` on agentbook's own runs (issue 15, point 8): agents by task name, the offline
model at $0, and runs against a local server (a fake API) left out of the totals unless asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

import agentbook as ab
from agentbook.scheduler import manifest
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, Reply

KEY = "sk-ant-test-costs-cli-0123456789"


def costs(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "agentbook.cli", "costs", *args], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def answer(request: FakeRequest) -> Reply:
    return MessageReply("done")


def test_agentbook_runs_by_task_name_offline_at_zero_and_local_servers_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_gates()
    runs = tmp_path / "runs"
    ab.run_parallel({"survey": "look"}, model="offline", cwd=tmp_path, run_dir=runs / "offline").wait(30)
    with FakeAnthropic(answer, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        ab.run_parallel({"paid": "look"}, model="haiku", cwd=tmp_path, run_dir=runs / "fake").wait(30)
    assert manifest.read(runs / "fake").api == fake.base_url and manifest.read(runs / "offline").api is None

    done = costs(str(runs))
    assert done.returncode == 0, done.stderr
    assert "survey" in done.stdout and "paid" not in done.stdout, done.stdout  # the fake API's run left out
    assert "left out: 1 calls of 1 run(s) against a local server" in done.stderr
    total = next(line for line in done.stdout.splitlines() if line.startswith("total as recorded"))
    assert total.rstrip().endswith("$0.0000"), total  # the offline model: no API billed it

    without = json.loads(costs(str(runs), "--json").stdout)
    counted = json.loads(costs(str(runs), "--json", "--include-local").stdout)
    assert {a["name"] for a in counted["agents"]} == {"survey", "paid"}
    assert counted["totals"]["calls"] == without["totals"]["calls"] + 1
