"""Claude Code's `Bash` tool: run a shell command in the agent's root.

The command runs as `bash -c COMMAND` with the root as working directory, in a process group of its
own, with stdin closed and stdout+stderr combined.  With `ctx.sandbox` (the default where
bubblewrap works) it runs inside the sandbox (`agentbook.tools.sandbox`): a PID namespace of its
own that dies with the call, the root the only writable folder, the user's other files not there.
When it finishes, times out or the agent is cancelled, the whole process group is terminated
(SIGTERM, then SIGKILL after a short grace), so no child or grandchild outlives the tool call
(in the sandbox, `setsid` ones included).  `run_in_background` is not supported.

Without a sandbox (an explicit `sandbox=False`), a path guard reads the command first: every word
(split by the shell reader the Bash permission rules use, `_shellwords`, also inside `a=b` and
`--opt=value` words) is resolved against the root, and the command is refused if one leaves it:
absolute paths elsewhere, `..` climbing out, `~`, symlinks pointing out, except a few harmless
devices and executables in command position.  That guard catches the model's mistakes, NOT an
attack: variables, substitutions, `cd` without an argument or a program opening paths by itself
get through.  Only the sandbox confines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agentbook.redact import secret_values
from agentbook.tools._pathguard import ALLOWED_DEVICES, check_command_paths
from agentbook.tools.base import ToolContext, ToolError, validate_input
from agentbook.tools.sandbox import Launch, Sandbox, sandbox_env

__all__ = [
    "ALLOWED_DEVICES",
    "DRAIN_GRACE_S",
    "KILL_GRACE_S",
    "Bash",
    "OutputBuffer",
    "check_command_paths",
    "kill_all",
    "run_command",
    "shell_env",
]
# Seconds to wait, after the shell exits, for background jobs still holding the output pipe.
DRAIN_GRACE_S = 0.2
# Seconds between SIGTERM and SIGKILL when stopping the process group.
KILL_GRACE_S = 1.0
# How often a sandbox whose set-up failed (a race with another agent's git) is tried again.
SETUP_ATTEMPTS = 3
STALE_SETUP = "bwrap: the root changed while the call was set up (a masked file or a repository moved)\n"
T = TypeVar("T")
R = TypeVar("R")
# The process groups of the commands running now, for `kill_all`.
LIVE_GROUPS: set[int] = set()
_BASH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The command to execute"},
        "timeout": {
            "type": "number",
            "minimum": 1,
            "description": "Optional timeout in milliseconds (max 600000)",
        },
        "description": {
            "type": "string",
            "description": "Clear, concise description of what this command does in 5-10 words",
        },
        "run_in_background": {
            "type": "boolean",
            "description": "Not supported here: must be false or omitted",
        },
    },
    "required": ["command"],
    "additionalProperties": False,
}


class Bash:
    """Run a shell command in the agent's root and return its combined output."""

    name: str = "Bash"
    description: str = (
        "Executes a bash command in the agent's root directory and returns its output (stdout and "
        "stderr combined).\n\n"
        "Usage:\n"
        "- Each call is a fresh `bash -c`: no state (cd, variables) carries over between calls.\n"
        "- timeout is in milliseconds (default 120000, max 600000); on timeout the command and all "
        "its children are killed.\n"
        "- Output longer than 30000 characters is truncated in the middle. A non-zero exit code is "
        "reported after the output.\n"
        "- Only the root is writable and only its files (plus the operating system's) are there; "
        "/tmp is private, and there may be no network.\n"
        "- Background jobs are stopped when the command returns; run_in_background is not supported.\n"
        "- Prefer the Read, Write, Edit, Glob and Grep tools over cat, echo >, sed, find and grep; "
        "quote paths containing spaces."
    )
    input_schema: dict[str, Any] = _BASH_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        """The command's output, with `Exit code N` appended when non-zero.

        Raises `ToolError` (nothing run) for a refused command, and `ToolError` carrying the output
        so far when it times out.  On cancellation the process group is killed before re-raising.
        """
        args = validate_input(self.input_schema, input)
        command: str = args["command"]
        if args.get("run_in_background"):
            raise ToolError("run_in_background is not supported; run the command in the foreground")
        if "\x00" in command:
            raise ToolError("command contains a NUL byte")
        if not command.strip():
            raise ToolError("command is empty")
        timeout_s = min(float(args.get("timeout", ctx.bash_timeout_s * 1000)) / 1000, ctx.bash_max_timeout_s)
        if ctx.sandbox is None:
            env = shell_env(ctx)
            check_command_paths(command, ctx, env)
            launch = Launch(["bash", "-c", command], ())
            returncode, output = await run_command(launch, ctx.root, env, timeout_s, ctx.max_output_chars)
            return _report(output, returncode)
        env = sandbox_env(ctx.env or os.environ, secret_values())
        for _ in range(SETUP_ATTEMPTS):
            launch = await _launch(ctx.sandbox, ["bash", "-c", command])
            try:
                returncode, output = await run_command(launch, ctx.root, env, timeout_s, ctx.max_output_chars)
            finally:
                await _settle(ctx.sandbox, launch)  # also after a timeout or a cancel: what it made is kept
            if not _setup_failed(returncode, output):
                break
        return _report(output, returncode)


def _setup_failed(returncode: int, output: str) -> bool:
    """Whether bwrap failed before the command ran: one `bwrap:` line and exit status 1, as when a
    file it was binding (another agent's ref) was replaced meanwhile."""
    return returncode == 1 and output.startswith("bwrap: ") and output.count("\n") <= 1


async def _launch(sandbox: Sandbox, program: list[str]) -> Launch:
    """`sandbox.launch(program)` on a worker thread (it walks the root for hard links and copies
    git refs); cancelled meanwhile, what it made is undone once it is done, and the cancel goes on."""
    job = asyncio.ensure_future(_off_loop(sandbox.launch, program))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        while not job.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({job})
        if not job.cancelled() and job.exception() is None:
            await _settle(sandbox, job.result())
        raise


async def _settle(sandbox: Sandbox, launch: Launch) -> None:
    """`launch`'s descriptors closed and `sandbox.settle(launch)` run on a worker thread."""
    launch.close()
    await asyncio.shield(_off_loop(sandbox.settle, launch))


async def _off_loop(work: Callable[[T], R], arg: T) -> R:
    """`work(arg)` on a worker thread; on this one at interpreter exit, when no new worker thread
    may start."""
    try:
        return await asyncio.to_thread(work, arg)
    except RuntimeError as exc:
        if "cannot schedule new futures" not in str(exc):
            raise
        return work(arg)


def _report(output: str, returncode: int) -> str:
    text = output.rstrip("\n")
    if returncode == 0:
        return text or "(no output)"
    if returncode < 0:
        try:
            status = f"Killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            status = f"Killed by signal {-returncode}"
    else:
        status = f"Exit code {returncode}"
    return f"{text}\n\n{status}" if text else status


def shell_env(ctx: ToolContext) -> dict[str, str]:
    """The environment the command sees: `ctx.env`, or a minimal one, never with ANTHROPIC_* keys."""
    if ctx.env:
        env = dict(ctx.env)
    else:
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", str(ctx.root)),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
    return {k: v for k, v in env.items() if not k.startswith("ANTHROPIC_")}


# ---------------------------------------------------------------------------------------------
# Running


class OutputBuffer:
    """Keeps the first and last `limit_bytes` of a stream, counting what falls in between.

    Memory stays bounded however much a command prints; the middle is what gets cut because the
    start (what ran) and the end (the error, the summary) are what the model needs.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        room = self.limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        excess = len(self.tail) - self.limit
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self, limit_chars: int) -> str:
        """The output as text, at most `limit_chars` of it plus a note saying how much was cut."""
        if not self.dropped:
            full = (self.head + self.tail).decode("utf-8", errors="replace")
            if len(full) <= limit_chars:
                return full
            head_text, tail_text = full, full
        else:
            head_text = self.head.decode("utf-8", errors="replace")
            tail_text = self.tail.decode("utf-8", errors="replace")
        keep_head = limit_chars // 2
        keep_tail = limit_chars - keep_head
        if self.dropped:
            cut = len(head_text) - keep_head + self.dropped + max(0, len(tail_text) - keep_tail)
        else:
            cut = len(head_text) - limit_chars
        start = head_text[:keep_head]
        end = tail_text[max(0, len(tail_text) - keep_tail) :] if keep_tail else ""
        return f"{start}\n\n[... output truncated: {cut} characters cut ...]\n\n{end}"


class _Collector(asyncio.SubprocessProtocol):
    """Feeds the child's output to a buffer and signals its exit and the pipe's closing."""

    def __init__(self, buffer: OutputBuffer) -> None:
        loop = asyncio.get_running_loop()
        self.buffer = buffer
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.buffer.feed(data.encode() if isinstance(data, str) else data)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        # Called once the process has exited and every pipe is closed.
        if not self.closed.done():
            self.closed.set_result(None)


async def run_command(
    launch: Launch, cwd: Path, env: dict[str, str], timeout_s: float, max_chars: int
) -> tuple[int, str]:
    """Run `launch` (`bash -c ...`, or bwrap around it); return (returncode, output text capped at
    `max_chars`).  A sandboxed call first waits for its root's turn (`agentbook.tools._rootgate`);
    one whose set-up went stale meanwhile runs nothing and returns a `bwrap:` set-up failure.

    Raises `ToolError` on timeout.  Whatever happens (normal exit, timeout, cancellation), the
    command's whole process group is stopped and the child reaped before this returns or raises.
    """
    if launch.admission is None:
        return await _run(launch, cwd, env, timeout_s, max_chars)
    async with launch.admission.admitted() as current:
        if not current:
            return 1, STALE_SETUP
        return await _run(launch, cwd, env, timeout_s, max_chars)


async def _run(
    launch: Launch, cwd: Path, env: dict[str, str], timeout_s: float, max_chars: int
) -> tuple[int, str]:
    """`run_command` once admitted."""
    loop = asyncio.get_running_loop()
    buffer = OutputBuffer(max_chars * 4)  # 4 bytes per character at most in UTF-8
    spawn = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: _Collector(buffer),
            *launch.argv,
            pass_fds=launch.fds,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the group can be killed as a whole
        )
    )
    try:
        # Shielded: cancelled mid-spawn, asyncio would SIGKILL the leader alone, orphaning what it
        # had just forked (bwrap's sandbox init); the whole group is killed once it exists instead.
        transport, protocol = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        await _kill_when_spawned(spawn)
        raise
    pgid = transport.get_pid()
    LIVE_GROUPS.add(pgid)
    try:
        # Not asyncio.subprocess.Process.wait(): it also waits for the pipe to close, which a
        # background job holding it (`sleep 100 &`) delays until the timeout.
        done, _ = await asyncio.wait({protocol.exited}, timeout=timeout_s)
        if not done:
            raise ToolError(
                f"Command timed out after {timeout_s:g} s; it and its child processes were killed.\n"
                f"Output before the timeout:\n{buffer.text(max_chars).rstrip()}"
            )
        await asyncio.wait({protocol.closed}, timeout=DRAIN_GRACE_S)
    finally:
        await _stop_group(pgid, protocol)
        transport.close()
        LIVE_GROUPS.discard(pgid)
    returncode = transport.get_returncode()
    return (returncode if returncode is not None else -1), buffer.text(max_chars)


async def _kill_when_spawned(spawn: asyncio.Future[tuple[asyncio.SubprocessTransport, _Collector]]) -> None:
    """Let a cancelled spawn finish (milliseconds; further cancels wait too), then kill its group."""
    while not spawn.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({spawn})
    if spawn.cancelled() or spawn.exception() is not None:
        return
    transport, protocol = spawn.result()
    _signal_group(transport.get_pid(), signal.SIGKILL)
    await asyncio.wait({protocol.exited}, timeout=KILL_GRACE_S)
    transport.close()


def kill_all() -> None:
    """SIGKILL every command still running (at interpreter exit, after the agents had their grace)."""
    for pgid in list(LIVE_GROUPS):
        _signal_group(pgid, signal.SIGKILL)


async def _stop_group(pgid: int, protocol: _Collector) -> None:
    """SIGTERM the process group, give it a short grace, then SIGKILL what is left; reap the leader."""
    if not _signal_group(pgid, signal.SIGTERM):
        return  # the group is empty: the shell has exited and left nothing behind
    try:
        await asyncio.wait({protocol.closed}, timeout=KILL_GRACE_S)
    finally:
        # Also reached if we are cancelled again while waiting: SIGKILL needs no await.
        _signal_group(pgid, signal.SIGKILL)
    # Let the event loop reap the shell so the transport closes cleanly.
    await asyncio.wait({protocol.exited}, timeout=KILL_GRACE_S)


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send `sig` to the process group; False if it has no process left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Cannot happen for our own children; if the pgid was somehow reused, leave it alone.
        return False
    return True
