"""`Permissions`: allow, ask and deny rules plus a permission mode, judging one tool call at a time.

The scheduler builds one per agent (`agentbook.scheduler.wiring`), the manifest saves and restores
it, batches give their agents one.  Evaluation follows Claude Code: deny rules, then ask rules,
then allow rules, and the mode (`decide.MODE_TABLE`) when none matched; Bash is judged
subcommand by subcommand (`bash`).  The whole behaviour is specified for users in
docs/permissions.md.  Pure and synchronous: no I/O beyond `os.path.realpath`, `lstat` and
`scandir` (acceptEdits' Bash check) and `expanduser`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agentbook.specs import EDIT_TOOLS, PERMISSION_MODES, PermissionMode
from agentbook.tools._shellwords import hard_syntax
from agentbook.tools.permissions.accept_edits import accept_edits_command
from agentbook.tools.permissions.bash import (
    MAX_COMMAND_CHARS,
    Segment,
    bash_pattern,
    exact_whole_match,
    segment_matches,
)
from agentbook.tools.permissions.call import Call
from agentbook.tools.permissions.decide import Verdict, asking, by_mode
from agentbook.tools.permissions.rules import Rule, parse_rules
from agentbook.tools.permissions.suggest import suggest_bash, suggest_edit

__all__ = ["Permissions"]


class Permissions:
    """Allow / ask / deny rules plus a permission mode; `decide` judges one tool call.

    Every rule is parsed up front: a malformed one raises `ValueError` naming it and its list, and
    an unknown mode raises `ValueError` listing the valid ones.  `allow_always` is the only
    mutation; `with_mode` returns an independent copy.
    """

    def __init__(
        self,
        allow: Iterable[str | Rule] = (),
        ask: Iterable[str | Rule] = (),
        deny: Iterable[str | Rule] = (),
        mode: PermissionMode = "default",
    ) -> None:
        if mode not in PERMISSION_MODES:
            raise ValueError(f"unknown permission mode {mode!r}; valid modes: {', '.join(PERMISSION_MODES)}")
        self._mode: PermissionMode = mode
        self._allow = parse_rules(allow, "allow")
        self._ask = parse_rules(ask, "ask")
        self._deny = parse_rules(deny, "deny")

    @property
    def mode(self) -> PermissionMode:
        return self._mode

    @property
    def allow(self) -> tuple[Rule, ...]:
        return tuple(self._allow)

    @property
    def ask(self) -> tuple[Rule, ...]:
        return tuple(self._ask)

    @property
    def deny(self) -> tuple[Rule, ...]:
        return tuple(self._deny)

    def with_mode(self, mode: PermissionMode) -> Permissions:
        """A copy with the same rules under `mode` (`ValueError` for an unknown mode)."""
        return Permissions(self._allow, self._ask, self._deny, mode)

    def __repr__(self) -> str:
        def show(rules: list[Rule]) -> list[str]:
            return [str(r) for r in rules]

        return (
            f"Permissions(allow={show(self._allow)}, ask={show(self._ask)}, "
            f"deny={show(self._deny)}, mode={self._mode!r})"
        )

    def decide(self, tool: str, input: Mapping[str, Any], root: Path) -> Verdict:
        """The verdict for `tool(input)` by an agent confined to `root` (docs/permissions.md)."""
        call = Call(tool, input, root)
        if call.tool == "Bash":
            return self._decide_bash(call)
        return self._decide_other(call)

    def _decide_other(self, call: Call) -> Verdict:
        denied = _first_match(self._deny, call)
        if denied:
            return Verdict("deny", f"denied by rule {denied}", denied)
        if self._mode == "plan" and call.tool in EDIT_TOOLS:
            return Verdict("deny", f"plan mode cannot modify files: {call.tool} denied")
        asked = _first_match(self._ask, call)
        if asked:
            return self._asking(f"ask rule {asked} requires approval", asked)
        allowed = _first_match(self._allow, call, for_allow=True)
        if allowed:
            return Verdict("allow", f"allowed by rule {allowed}", allowed)
        return by_mode(call, self._mode)

    def _decide_bash(self, call: Call) -> Verdict:
        if len(call.command) > MAX_COMMAND_CHARS:
            # Reading a huge command against rules costs more than it is worth (it could stall the
            # background thread): without Bash rules the mode decides, with them it asks.
            if not any(r.tool == "Bash" for r in (*self._deny, *self._ask, *self._allow)):
                return by_mode(call, self._mode, f" (a command of {len(call.command):,} characters)")
            return self._asking(f"a command of {len(call.command):,} characters needs approval")
        for rules, kind in ((self._deny, "deny"), (self._ask, "ask")):
            hit = _first_bash_hit(rules, call)
            if hit:
                rule, text = hit
                reason = f"{'denied by' if kind == 'deny' else 'ask'} rule {rule}{_for_part(text, call)}"
                if kind == "deny":
                    return Verdict("deny", reason, rule)
                return self._asking(reason + " requires approval", rule)
        whole = next((r for r in self._allow if _allows_whole(r, call)), None)
        if whole:
            return Verdict("allow", f"allowed by rule {whole}", whole)
        segments = call.segments
        if hard_syntax(call.command):
            segments += call.blind_segments
        allowing = [self._segment_allowed_by(s) for s in segments]
        pending = [s for s, r in zip(segments, allowing, strict=True) if r is None]
        if segments and not pending:
            rules = list(dict.fromkeys(r for r in allowing if r is not None))
            label = "rule" if len(rules) == 1 else "rules"
            return Verdict("allow", f"allowed by {label} {', '.join(map(str, rules))}", rules[0])
        if self._mode == "acceptEdits" and pending and len(pending) == len(segments):
            name = accept_edits_command(call.command, call.segments, call.root)
            if name:
                return Verdict("allow", f"{name} inside the root is allowed in acceptEdits mode")
        detail = f" (no allow rule matches `{pending[0].text}`)" if pending else " (empty command)"
        return by_mode(call, self._mode, detail)

    def _segment_allowed_by(self, segment: Segment) -> Rule | None:
        for rule in self._allow:
            if rule.tool == "Bash" and (
                rule.specifier is None or segment_matches(rule.specifier, segment, for_allow=True)
            ):
                return rule
        return None

    def _asking(self, reason: str, rule: Rule | None = None) -> Verdict:
        return asking(self._mode, reason, rule)

    # --- "always allow" -------------------------------------------------------------------

    def suggest_rule(self, tool: str, input: Mapping[str, Any], root: Path) -> Rule:
        """The rule "always allow" would add for this call, without adding it.

        Bash: a prefix rule of the first subcommand not yet allowed (`Bash(npm test *)`: the program
        plus its sub-command word, e.g. `git commit`, `npm run build`, `python -m pytest`), or an
        exact rule when a prefix rule could not allow it (substitutions, odd first words).  Edit
        and Write: `Edit(./path)` for that one file (absolute `//path` outside the root).  Other
        tools: the bare tool name.  `ValueError` when there is nothing to allow (an empty command,
        no file path) or the tool is unknown.
        """
        call = Call(tool, input, root)
        if call.tool == "Bash":
            return suggest_bash(call, self._segment_allowed_by)
        if call.tool in EDIT_TOOLS:
            return suggest_edit(call)
        return Rule(call.tool)

    def allow_always(self, tool: str, input: Mapping[str, Any], root: Path) -> Rule:
        """Add (once) and return the allow rule Claude Code's "always allow" would add; see `suggest_rule`."""
        rule = self.suggest_rule(tool, input, root)
        if rule not in self._allow:
            self._allow.append(rule)
        return rule


def _first_match(rules: Iterable[Rule], call: Call, *, for_allow: bool = False) -> Rule | None:
    return next((r for r in rules if r.matches_call(call, for_allow=for_allow)), None)


def _first_bash_hit(rules: Iterable[Rule], call: Call) -> tuple[Rule, str] | None:
    """The first rule matching the command or one of its subcommands, with the text it matched."""
    for rule in rules:
        if rule.tool != "Bash":
            continue
        if rule.specifier is None or bash_pattern(rule.specifier).regex.fullmatch(call.command):
            return rule, call.command
        for segment in (*call.segments, *call.blind_segments):
            if segment_matches(rule.specifier, segment, for_allow=False):
                return rule, segment.text
    return None


def _allows_whole(rule: Rule, call: Call) -> bool:
    return (
        rule.tool == "Bash" and rule.specifier is not None and exact_whole_match(rule.specifier, call.command)
    )


def _for_part(text: str, call: Call) -> str:
    return "" if text == call.command else f" (subcommand `{text}`)"
