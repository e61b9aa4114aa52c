"""The `%%agent_team` cell magic: start a lead and teammates on a shared task list.

Thin, as the other magics (`agentbook.notebook.magics`): parse the options, read the YAML
body, build one `Team` and start it.  The cell returns the `Team` at once; in a kernel it shows
the live team board (`agentbook.notebook.widgets.team`).  Bad YAML or a team that cannot start
(`TeamError`, `ValueError`, `TypeError`) is a `UsageError` naming the problem, and nothing starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from agentbook.notebook.magics import _parse
from agentbook.tasks import TaskYAML
from agentbook.teams.team import Team, TeamError

__all__ = ["TeamMagics", "parse_team"]

_KEYS = {"lead", "teammates", "tasks"}


@magics_class
class TeamMagics(Magics):
    """`%%agent_team`; see the module docstring."""

    @magic_arguments()
    @argument("--model", help="'offline', an alias (opus, sonnet, haiku) or a model id")
    @argument("--max-turns", type=int, help="most model responses per member")
    @argument("--cwd", help="the folder the team works in (default: the kernel's)")
    @argument("-o", dest="output", help="store the Team in this notebook variable")
    @cell_magic
    def agent_team(self, line: str, cell: str) -> Team:
        """Start an agent team (a lead and teammates sharing a task list); the body is YAML:

            %%agent_team --model sonnet -o team
            lead: Split the work and review what comes back
            teammates:
              backend: builds the API
              tester: writes the tests
            tasks:
              - schema
              - {subject: api, description: the endpoints, blocked_by: [schema]}

        `tasks` are subjects or mappings of subject, description and blocked_by (earlier tasks'
        numbers or subjects).  Returns at once with the live team board; `team.wait()` blocks.
        """
        args = _parse(self.agent_team, line)
        spec = parse_team(cell)
        cwd = Path(args.cwd).expanduser() if args.cwd else Path.cwd()
        if not cwd.is_dir():
            raise UsageError(f"--cwd: not a folder: {cwd}")
        options = {"model": args.model, "max_turns": args.max_turns, "cwd": cwd}
        try:
            team = Team(spec["lead"], spec["teammates"], spec.get("tasks") or (), **options)
            team.start()
        except (TeamError, ValueError, TypeError) as exc:
            raise UsageError(f"%%agent_team: {exc}") from exc
        if args.output and self.shell is not None:
            self.shell.user_ns[args.output] = team
        return team


def parse_team(cell: str) -> dict[str, Any]:
    """The YAML body as {lead, teammates, tasks}; `UsageError` naming what is wrong."""
    try:
        data = yaml.load(cell, Loader=TaskYAML)
    except yaml.YAMLError as exc:
        raise UsageError(f"the cell body is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise UsageError("the cell body must be a YAML mapping with lead, teammates and tasks")
    unknown = set(data) - _KEYS
    if unknown:
        raise UsageError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; use lead, teammates, tasks")
    for key in ("lead", "teammates"):
        if key not in data:
            raise UsageError(f"the cell body needs '{key}:'")
    if not isinstance(data["teammates"], Mapping):
        raise UsageError(f"teammates: a mapping of name to role, not {data['teammates']!r}")
    tasks = data.get("tasks") or []
    if not isinstance(tasks, list):
        raise UsageError(f"tasks: a list of subjects or mappings, not {tasks!r}")
    teammates = {str(name): role for name, role in data["teammates"].items()}
    return {"lead": data["lead"], "teammates": teammates, "tasks": tasks}
