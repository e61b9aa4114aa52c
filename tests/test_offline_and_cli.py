"""The offline model on real code nobody here wrote, and the `agentbook explore` command."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentbook.cli import main
from agentbook.scheduler.explore import explore
from agentbook.scheduler.transcripts import read_transcript

# PyYAML's own source, as installed from PyPI: a real package this project did not write.
PYYAML = Path(yaml.__file__).parent


def python_truth(root: Path) -> dict[str, tuple[int, list[str]]]:
    """file -> (line count, top-level definition names), computed independently of agentbook."""
    truth = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        text = path.read_text()
        names = [n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        truth[str(path.relative_to(root))] = (len(text.splitlines()), names)
    return truth


def test_offline_explore_summarises_a_real_package_correctly(tmp_path: Path) -> None:
    found = explore(PYYAML, run_dir=tmp_path / "run")
    result = found.result
    assert result.state == "done", result.error
    answer = result.text
    truth = python_truth(PYYAML)
    for file, (lines, _) in truth.items():
        assert f"| `{file}` | {lines:,} |" in answer, file
    total_files = sum(1 for p in PYYAML.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert f"{total_files} files ({len(truth)} of them text)" in answer
    # The largest modules' definitions are listed with their first docstring line.
    assert re.search(r"def `safe_load` \(line \d+\): Parse the first YAML document in a stream", answer)
    assert re.search(
        r"class `YAMLObject` \(line \d+\): An object that can dump itself to a YAML stream", answer
    )
    largest = max(truth, key=lambda f: truth[f][0])
    assert f"### `{largest}`" in answer
    assert all(f"`{name}`" in answer for name in truth[largest][1])
    # Tokens are estimates and the model costs nothing.
    assert result.usage.estimated and result.usage.input_tokens > 0 and found.cost_usd == 0.0
    assert "estimates" in answer


def test_offline_explore_follows_the_paths_a_prompt_names(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "m.py").write_text('"""Module m."""\n\n\ndef f():\n    """Do f."""\n')
    (tmp_path / "other.py").write_text("def g():\n    pass\n")
    found = explore(tmp_path, prompt="Summarise pkg/sub please.", run_dir=tmp_path / "run")
    assert "### `pkg/sub/m.py` (5 lines): Module m." in found.result.text
    assert "- def `f` (line 4): Do f." in found.result.text
    assert "other.py" not in found.result.text


def test_offline_transcript_reads_back_with_its_tool_calls(tmp_path: Path) -> None:
    found = explore(PYYAML, run_dir=tmp_path)
    back = read_transcript(found.transcript)
    assert back.messages == found.result.messages
    tools = [c.name for m in back.messages for c in m.tool_uses]
    assert tools[:2] == ["Glob", "Grep"] and "Read" in tools
    assert back.end["state"] == "done"


def test_cli_explore_prints_answer_usage_cost_and_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["explore", str(PYYAML), "--run-dir", str(tmp_path), "--max-turns", "5"])
    out, err = capsys.readouterr()
    assert code == 0
    assert f"# Summary of `{PYYAML.name}`" in out
    assert "usage (estimated):" in out and "input_tokens" in out and "cost: $0.0000" in out
    transcript = Path(out.strip().splitlines()[-1].removeprefix("transcript: "))
    assert transcript.is_file() and transcript.parent == tmp_path
    assert "offline model" in err


def test_cli_max_turns_too_low_gives_a_partial_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explore", str(PYYAML), "--run-dir", str(tmp_path), "--max-turns", "1"]) == 0
    assert "state: partial after 1 turn(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explore", "/no/such/folder"], "not a folder"),
        (["explore", ".", "--max-turns", "0"], "must be at least 1"),
        (["explore", ".", "--max-turns", "x"], "not a whole number"),
    ],
)
def test_cli_bad_input_is_a_clear_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        code = main(args)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_installed_command_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["AGENTBOOK_HOME"] = str(tmp_path)
    command = [sys.executable, "-m", "agentbook.cli", "explore", str(PYYAML)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    transcript = Path(proc.stdout.strip().splitlines()[-1].removeprefix("transcript: "))
    assert tmp_path in transcript.parents
    assert json.loads(transcript.read_text().splitlines()[0])["type"] == "system"
