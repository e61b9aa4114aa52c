"""The sandbox attack suite of issue 11: every attack of `attack_catalogue` is one agent, whose one
tool call goes through the real Anthropic SDK and the fake Messages API, in one `run_parallel`
per setting (a plain folder or a git worktree, in the modes default, acceptEdits and
bypassPermissions), with the Bash sandbox on.

The world around the root (`attack_world`) holds canaries: the fake home's `x` and
`.ssh/id_rsa`, a folder beside the root, an untracked file of the user's checkout, the run
folder, a unique API key.  No escape means: (a) no canary, in any encoding, in any request the
fake API received, and nothing else reached it (or a Unix socket outside); (b) no file outside
the root created, changed or touched, nothing in /tmp or the Python environment; (c) the user's
git config, hooks, objects and branches as they were, but for the agents' own branches.  Each
failure names the attacks.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from attack_catalogue import ATTACKS, HARD_LINK_WRITES, HOME_ATTACKS, Attack, encodings, fill
from attack_world import PROJECT, Listener, World, blame, git_state, snapshot
from support import git, new_repo

from agentbook.models import AnthropicModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.testing import ErrorReply, FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock
from agentbook.tools.sandbox import unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"the Bash sandbox cannot run here: {REASON}")
SETTINGS = [(i, m) for i in ("plain", "worktree") for m in ("default", "acceptEdits", "bypassPermissions")]
IDS = [f"{i}-{m}" for i, m in SETTINGS]
# bwrap failing to start (nothing ran): each Bash call binds files of the user's .git one by one
# (packed-refs, config, the worktree's own files), and one replaced or deleted meanwhile (git
# rewriting packed-refs when agentbook deletes a branch) makes bwrap fail ("Can't bind mount
# ..."). The call is made again then: the attack has not run.
RACE = re.compile(r"^bwrap: Can't (bind mount|find source path) \S*/\.git/")


def prompt_of(request: FakeRequest) -> str:
    content = request.messages[0]["content"] if request.messages else ""
    return content if isinstance(content, str) else content[0].get("text", "")


def result_of(request: FakeRequest) -> str:
    """The tool result the request carries back (its last message), as text ("" if none)."""
    blocks = request.messages[-1]["content"] if len(request.messages) > 2 else []
    content = blocks[0].get("content", "") if isinstance(blocks, list) and blocks else ""
    return content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)


def handler_for(world: World, attacks: Sequence[Attack]) -> Any:
    by_id = {a.id: a for a in attacks}

    def again(attack: Attack, calls: int, result: str) -> bool:
        if RACE.match(result):
            return calls <= 20
        if not attack.until or calls >= 10 or result.startswith("<tool_use_error>"):
            return False
        until = Path(fill(attack.until, world.values(attack.id)))
        return not (until.exists() and attack.id in until.read_text())

    def handle(request: FakeRequest) -> Reply:
        aid = prompt_of(request)
        if aid == "victim":  # fails at once: its worktree and branch stay, for others to attack
            return ErrorReply(400, "invalid_request_error", "the victim stops here")
        calls, attack = len(request.messages) // 2, by_id[aid]
        if calls == 0:
            world.prepare(attack)
        elif not again(attack, calls, result_of(request)):
            return MessageReply(f"{aid} done")
        call = ToolUseBlock(attack.tool, fill(dict(attack.input), world.values(aid)))
        return MessageReply([call], delay=0.5 if calls and attack.until else 0.0)

    return handle


def run_attacks(world: World, monkeypatch: pytest.MonkeyPatch, mode: str, **options: Any) -> dict[str, Any]:
    """Every attack of the world as one agent of one run; what the fake API and the socket saw."""
    reset_gates()
    listener = Listener(world.out / "agent.sock")
    try:
        with FakeAnthropic(handler_for(world, world.attacks)) as fake:
            world.port = fake.port
            monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
            tasks = {a.id: a.id for a in world.attacks}
            isolation = "worktree" if world.kind == "worktree" else None
            run = run_parallel(
                {**tasks, "victim": "victim"} if isolation else tasks, model=AnthropicModel("sonnet"),
                cwd=world.cwd, run_dir=world.run_dir, name="atk", permission_mode=mode, interactive=False,
                isolation=isolation, max_turns=50, **options,
            )  # fmt: skip
            run.wait(timeout=120)
            return {"requests": fake.requests, "messages": fake.message_requests, "run": run}
    finally:
        listener.close()
        (world.out / "agent.sock").unlink(missing_ok=True)
        world.socket = listener.received


def failed_agents(seen: dict[str, Any]) -> list[str]:
    """Why agents failed (the victim fails by design): what explains "never got its tool result"."""
    failures = seen["run"].failures
    return [
        f"failed: {n}: {e}" for n, e in zip(failures["name"], failures["error"], strict=True) if n != "victim"
    ]


def leaks(world: World, seen: dict[str, Any]) -> list[str]:
    """(a): canaries, the key, `PWNED` in request bodies; requests not from agentbook; the socket."""
    forms = {name: encodings(value) for name, value in world.secrets.items()}
    found: dict[str, set[str]] = {}
    results: dict[str, str] = {}
    for request in seen["messages"]:
        body, who = request.raw_body.decode("utf-8", "replace"), prompt_of(request)
        found.setdefault(who, set()).update(n for n, fs in forms.items() if any(f in body for f in fs))
        found[who].update(["PWNED"] if "PWNED" in body else [])
        results[who] = result_of(request) or results.get(who, "")
    problems = [f"{who} leaked {', '.join(sorted(names))}: {results.get(who, '')[:300]!r}"
                for who, names in sorted(found.items()) if names]  # fmt: skip
    others = [r for r in seen["requests"] if r not in seen["messages"]]
    problems += [f"a request from inside reached the fake API: {r.path} {r.raw_body[:80]!r}" for r in others]
    problems += [f"{data!r} connected to a Unix socket outside the root" for data in world.socket]
    return problems


def writes(world: World, before: dict[str, tuple[Any, ...]]) -> list[str]:
    """(b): what changed outside the roots; new loose objects in the user's repository are git's."""
    after, problems, touched = snapshot(world), [], {}
    for rel in sorted(before.keys() | after.keys()):
        new = rel not in before
        if before.get(rel) == after.get(rel) or (new and re.fullmatch(r"repo/\.git/objects/../.{38}", rel)):
            continue
        if not new and rel in after and before[rel][:-1] == after[rel][:-1]:
            touched.setdefault(os.path.dirname(rel), []).append(os.path.basename(rel))
            continue
        what = "created" if new else "deleted" if rel not in after else "changed"
        text = (world.t / rel).read_bytes() if rel in after and len(after[rel]) == 2 else b""
        with contextlib.suppress(zlib.error):
            text = zlib.decompress(text) if "/objects/" in rel else text
        problems.append(f"{rel} {what}{blame(world, rel + ' ' + text.decode(errors='replace'))}")
    problems += [f"{folder}/ {', '.join(names)} touched (same content)" for folder, names in touched.items()]
    return problems + world.strays()


def git_changes(world: World, before: dict[str, Any]) -> list[str]:
    """(c): config and hooks unchanged; in a worktree, branches unchanged but the agents' own."""
    after, problems = git_state(world), []
    problems += [f"git on the host: {line}" for line in after["warnings"] if line not in before["warnings"]]
    for key in ("config", "paths"):
        if after[key] != before[key]:
            problems.append(f"the user's git {key} changed{blame(world, after[key])}: {after[key][-300:]!r}")
    if world.kind != "worktree":
        return problems
    mine = {f"refs/heads/agentbook/atk/{a.id}" for a in world.attacks}
    victim, base = "refs/heads/agentbook/atk/victim", before["refs"]["refs/heads/main"][0]
    for ref in sorted(before["refs"].keys() | after["refs"].keys()):
        was, now = before["refs"].get(ref), after["refs"].get(ref)
        if ref not in mine and ref != victim and was != now:
            problems.append(f"ref {ref} went from {was} to {now}{blame(world, ref)}")
        elif now is not None and now[1:] != [""]:
            problems.append(f"branch {ref} became a symbolic ref to {now[1]}")
    if after["refs"].get(victim, [None])[0] != base:
        problems.append(f"another agent's branch {victim} moved: {after['refs'].get(victim)}")
    status = git(world.wts / "victim", "-c", "core.fsmonitor=false", "status", "--porcelain", "--ignored")
    return problems + ([f"another agent's worktree changed: {status!r}"] if status else [])


def attack(world: World, monkeypatch: pytest.MonkeyPatch, mode: str) -> tuple[list[str], dict[str, Any]]:
    before, repo_before = snapshot(world), git_state(world)
    seen = run_attacks(world, monkeypatch, mode)
    answered = {prompt_of(r) for r in seen["messages"] if result_of(r)}
    unfinished = [f"{a.id} never got its tool result back" for a in world.attacks if a.id not in answered]
    return unfinished + leaks(world, seen) + writes(world, before) + git_changes(world, repo_before), seen


@pytest.fixture(autouse=True)
def no_strays(tmp_path: Path) -> Iterator[None]:
    yield
    for stray in [*Path("/tmp").glob("agentbook-attack-*"), *Path(sys.prefix).glob("agentbook-attack-*")]:
        stray.unlink(missing_ok=True)


def test_the_catalogue_holds_the_attacks_the_issue_asks_for() -> None:
    every = [*ATTACKS, *HARD_LINK_WRITES, *HOME_ATTACKS]
    assert len({a.id for a in every}) == len(every) and len(ATTACKS) >= 72
    assert {a.tool for a in ATTACKS} == {"Read", "Glob", "Grep", "Write", "Edit", "Bash"}
    # A canary's value only ever goes into the world's files: one in a request was read.
    assert not [a.id for a in every if "@C_" in repr(a.input) or "@C_" in repr(a.links)]


# A file hard-linked from outside the root is one file with a name inside it: Read and Grep show
# it and say so (tested below); sandboxed Bash finds it masked (b-hardlink-*, b-cp-hardlink,
# b-touch-hardlink: in every setting, as every attack), and a worktree agent's git adds no branch
# (b-git-new-refs: its branch folder is a private copy for each call).
NOTED = frozenset({"r-hardlink", "gr-hardlink"})
CONFINED = tuple(a for a in ATTACKS if a.id not in NOTED)


@pytest.mark.parametrize(("isolation", "mode"), SETTINGS, ids=IDS)
def test_no_attack_escapes_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolation: str, mode: str
) -> None:
    world = World(tmp_path, monkeypatch, isolation, CONFINED)
    escapes, seen = attack(world, monkeypatch, mode)
    control = [result_of(r) for r in seen["messages"] if prompt_of(r) == "b-control"][-1]
    ran = "project readme" in control and "HOME=/tmp" in control
    if ran != (isolation == "worktree" or mode == "bypassPermissions"):
        escapes.append(f"b-control: Bash did not run in the sandbox as this setting says: {control!r}")
    escapes += failed_agents(seen) if escapes else []
    assert not escapes, f"{len(escapes)} escapes ({isolation} folder, {mode} mode):\n" + "\n".join(escapes)


def test_read_and_grep_of_a_hard_linked_file_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(tmp_path, monkeypatch, "plain", tuple(a for a in ATTACKS if a.id in NOTED))
    seen = run_attacks(world, monkeypatch, "default")
    results = {prompt_of(r): result_of(r) for r in seen["messages"] if result_of(r)}
    assert set(results) == NOTED and all("hard link" in text for text in results.values()), results


@pytest.mark.parametrize(("isolation", "mode"), SETTINGS, ids=IDS)
def test_write_and_edit_refuse_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolation: str, mode: str
) -> None:
    world = World(tmp_path, monkeypatch, isolation, HARD_LINK_WRITES)
    escapes, seen = attack(world, monkeypatch, mode)
    escapes += failed_agents(seen) if escapes else []
    assert not escapes, f"{len(escapes)} escapes ({isolation} folder, {mode} mode):\n" + "\n".join(escapes)


def test_secrets_inside_the_root_stay_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The root is the fake home itself: ~/.ssh and the like, and the user's hidden_paths, must stay
    # hidden although their folder is exposed.
    world = World(tmp_path, monkeypatch, "home", HOME_ATTACKS)
    # A relative entry is refused (relative to what?); the file is hidden by its absolute path and
    # read by the attacks through a relative one.
    hidden = [str(world.home / "private"), "~/tilde-hidden.txt", str(world.home / "rel-hidden.txt")]
    seen = run_attacks(world, monkeypatch, "bypassPermissions", hidden_paths=hidden)
    escapes = leaks(world, seen)
    assert not escapes, f"{len(escapes)} secrets read inside the root:\n" + "\n".join(escapes)


DEV = (
    "echo 'VALUE = 2' > mod.py && python -m pytest -q -p no:cacheprovider test_tiny.py && git status --short "
    "&& git diff && git commit -qam 'agent commit' && git log -1 --format=%s"
)


def test_a_worktree_agent_tests_and_commits_in_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "mod.py": "VALUE = 1\n",
        "test_tiny.py": "from mod import VALUE\n\n\ndef test_value():\n    assert VALUE == 2\n",
    }
    repo = new_repo(
        tmp_path / "repo", monkeypatch, {**PROJECT, ".gitignore": ".agentbook/\n__pycache__/\n", **files}
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-sandbox-dev-0000")
    reset_gates()

    def handle(request: FakeRequest) -> Reply:
        if len(request.messages) == 1:
            return MessageReply([ToolUseBlock("Bash", {"command": DEV})])
        return MessageReply("committed")

    with FakeAnthropic(handle) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        run = run_parallel({"dev": "dev"}, model=AnthropicModel("sonnet"), cwd=repo, run_dir=tmp_path / "run",
                           name="atk", isolation="worktree", interactive=False)  # fmt: skip
        run.wait(timeout=60)
        output = result_of(fake.message_requests[-1])
    assert run.status == {"dev": "done"}, output
    assert "1 passed" in output and " M mod.py" in output and "+VALUE = 2" in output, output
    assert output.rstrip().endswith("agent commit"), output
    assert git(repo, "log", "-1", "--format=%s", "agentbook/atk/dev") == "agent commit"
    assert git(repo, "show", "agentbook/atk/dev:mod.py") == "VALUE = 2"
