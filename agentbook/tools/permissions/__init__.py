"""Permission rules in Claude Code's syntax, and the decision (`allow` / `ask` / `deny`) a tool call gets.

    perms = Permissions(allow=["Bash(pytest *)", "Edit(docs/**)"], deny=["Bash(rm *)", "Read(./.env)"])
    perms.decide("Bash", {"command": "pytest -q && rm -rf /"}, root)   # -> deny, by Bash(rm *)

The scheduler gives every agent a `Permissions` and asks it before each tool call; the rule
syntax, the modes and what rules can and cannot see are specified for users in
docs/permissions.md.  The package, one job a module: `rules` (parsing `Tool(specifier)`), `bash`
(Bash specifiers over subcommands), `paths` (gitignore-style path specifiers, protected
directories), `accept_edits` (acceptEdits' Bash auto-approval), `decide` (the mode table, as
data), `suggest` ("always allow"), `call` (the call being judged) and `policy` (`Permissions`).
"""

from __future__ import annotations

from agentbook.tools.permissions.decide import Decision, Verdict
from agentbook.tools.permissions.policy import Permissions
from agentbook.tools.permissions.rules import Rule

__all__ = ["Decision", "Permissions", "Rule", "Verdict"]
