"""Claude Code agent files: good ones load, malformed ones name the file and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbook.specs import AgentFileError, AgentSpec, load_agent_file, load_agents

REVIEWER = """\
---
name: code-reviewer
description: Expert code review specialist. Use after writing code.
tools: Read, Grep, Glob, Bash(git diff:*), WebFetch
disallowedTools: [Bash]
model: haiku
maxTurns: 7
permissionMode: acceptEdits
isolation: worktree
color: blue
skills: [review]
memory: project
---
You are a senior code reviewer.

Check style and correctness.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_a_full_agent_file_loads_every_field(tmp_path: Path) -> None:
    agents_dir = tmp_path / ".claude" / "agents"
    write(agents_dir, "reviewer.md", REVIEWER)
    write(agents_dir, "plain.md", "---\nname: plain\ndescription: d\nmodel: inherit\n---\nBody\n")
    write(agents_dir, "notes.txt", "not an agent")
    agents = load_agents(agents_dir)
    assert sorted(agents) == ["code-reviewer", "plain"]
    spec = agents["code-reviewer"]
    assert spec.prompt == "You are a senior code reviewer.\n\nCheck style and correctness."
    assert spec.tools == ("Read", "Grep", "Glob", "Bash")  # WebFetch is Claude Code's, not ours: dropped
    assert spec.disallowed_tools == ("Bash",)
    assert spec.allowed_tools() == ("Read", "Glob", "Grep")
    assert (spec.model, spec.max_turns, spec.permission_mode, spec.isolation) == (
        "haiku",
        7,
        "acceptEdits",
        "worktree",
    )
    plain = agents["plain"]
    assert plain.model is None and plain.tools is None
    assert plain.allowed_tools() == ("Read", "Glob", "Grep", "Bash", "Edit", "Write", "Agent")


def test_tools_as_a_list_and_the_old_task_name(tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", "---\nname: a\ndescription: d\ntools: [Read, Task]\n---\n")
    assert load_agent_file(path).tools == ("Read", "Agent")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no frontmatter here", "no YAML frontmatter"),
        ("---\nname: a\ndescription: d\n", "not closed"),
        ("---\nname: [a\n---\nbody", "not valid YAML"),
        ("---\n- a\n- b\n---\n", "must be a mapping"),
        ("---\ndescription: d\n---\n", "'name' is missing"),
        ("---\nname: a\n---\n", "'description' is missing"),
        ("---\nname: a\ndescription: d\ntools: Read, Raed\n---\n", "unknown tool 'Raed'"),
        ("---\nname: a\ndescription: d\ntools: 5\n---\n", "comma-separated string or a list"),
        ("---\nname: a\ndescription: d\nmaxTurns: 0\n---\n", "maxTurns must be a positive integer"),
        ("---\nname: a\ndescription: d\nmaxTurns: many\n---\n", "maxTurns must be a positive integer"),
        ("---\nname: a\ndescription: d\npermissionMode: yolo\n---\n", "permissionMode 'yolo'"),
        ("---\nname: a\ndescription: d\nisolation: docker\n---\n", "isolation 'docker'"),
        ("---\nname: a\ndescription: d\nmodel: 4\n---\n", "model must be a string"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    write(tmp_path, "bad-agent.md", text)
    with pytest.raises(AgentFileError) as caught:
        load_agents(tmp_path)
    assert "bad-agent.md" in str(caught.value)
    assert problem in str(caught.value)


def test_duplicate_names_and_missing_folder(tmp_path: Path) -> None:
    write(tmp_path, "one.md", "---\nname: same\ndescription: d\n---\n")
    write(tmp_path, "two.md", "---\nname: same\ndescription: d\n---\n")
    with pytest.raises(AgentFileError, match="already defined"):
        load_agents(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_agents(tmp_path / "missing")


def test_specs_made_in_code_are_checked_too() -> None:
    with pytest.raises(AgentFileError, match="unknown tool"):
        AgentSpec("x", tools=("Reed",))
