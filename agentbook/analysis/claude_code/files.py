"""Where the transcripts are: the `.jsonl` files under a path, and what a file's place implies.

Claude Code keeps one folder per project under `~/.claude/projects`, one file per session, and
(2.x) a `<session>/subagents/agent-<id>.jsonl` per subagent.  `scan.py` reads the files this
module lists, each with the `FileContext` its path gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileContext", "file_defaults", "transcript_files"]


@dataclass(frozen=True, slots=True)
class FileContext:
    """What a line's file says about it: its project, and its session and agent if unnamed."""

    file: str
    project: str
    session_id: str
    agent_id: str | None  # set for a subagent file: every line of it belongs to that agent


def transcript_files(path: str | Path) -> list[tuple[Path, str]]:
    """The `.jsonl` files under `path`, each with its project name, in a stable order.

    `path` is a `~/.claude` folder, a `projects` tree (one folder per project), one project folder
    (session files, maybe `<session>/subagents/`), or one `.jsonl` file.  Raises
    `FileNotFoundError` if it does not exist and `ValueError` if it holds no `.jsonl` file.
    """
    root = Path(path).expanduser()
    if root.is_file():
        return [(root, _project_of_file(root))]
    if not root.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if (root / "projects").is_dir():
        root = root / "projects"
    files = sorted(root.rglob("*.jsonl"))
    if not files:
        raise ValueError(f"no .jsonl transcripts under {path}")
    if _is_project_folder(root):
        return [(file, root.name) for file in files]
    return [(file, file.relative_to(root).parts[0]) for file in files]


def _is_project_folder(folder: Path) -> bool:
    # A project folder holds session files, or (when only subagent files survive) session folders
    # with a `subagents` folder; a projects tree holds only project folders.
    if any(folder.glob("*.jsonl")):
        return True
    return any(folder.glob("*/subagents"))


def _project_of_file(file: Path) -> str:
    if file.parent.name == "subagents":
        return file.parents[2].name
    return file.parent.name


def file_defaults(file: Path) -> tuple[str, str | None]:
    """The session id and subagent id a file's name implies (a line's own fields win)."""
    agent = file.stem.removeprefix("agent-") if file.stem.startswith("agent-") else None
    session = file.parents[1].name if file.parent.name == "subagents" else file.stem
    return session, agent
