"""Running ripgrep for Grep: finding the binary, a minimal environment, a time limit, and no
process left behind.

Grep (`agentbook.tools.grep`) builds the arguments and reads the output; this module only runs
`rg`.  Why a subprocess rather than Python's `re`: ripgrep's regex engine matches in linear time,
and it runs outside the interpreter, so a search can neither backtrack catastrophically (`(a+)+$`
on a line of `a`s) nor hold the GIL that every agent of the process shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from agentbook.tools.base import ToolError

__all__ = ["RG_ENV", "RgExit", "find_rg", "run_rg"]

_RG_NAME = "rg.exe" if os.name == "nt" else "rg"
_CHUNK = 64 * 1024
_STDERR_CAP = 8 * 1024

# ripgrep reads no variable that changes what a search finds except these: RIPGREP_CONFIG_PATH (a
# config file of extra flags; `--no-config` refuses it too) and HOME / XDG_CONFIG_HOME (the global
# gitignore).  An empty environment keeps the user's settings from changing results and keeps
# secrets (ANTHROPIC_API_KEY and the like) out of a process that needs none of them.
RG_ENV: dict[str, str] = {}


@dataclass(frozen=True)
class RgExit:
    """How rg ended: its exit status (0 matches, 1 none, 2 an error) and the start of stderr."""

    returncode: int
    stderr: str


def find_rg() -> str:
    """The path of the `rg` executable, or a `ToolError` saying how to install it.

    Looked for next to the interpreter first (a virtual environment's `bin`, where `pip install
    ripgrep` puts it, is often not on PATH when a notebook kernel runs), then in the scripts
    directory of this installation, then on PATH.
    """
    for folder in (os.path.dirname(sys.executable), sysconfig.get_path("scripts")):
        if folder:
            candidate = os.path.join(folder, _RG_NAME)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which(_RG_NAME)
    if found is None:
        raise ToolError(
            "Grep needs ripgrep (rg), which is not installed next to the Python interpreter, in its "
            "scripts directory or on PATH; install it with `pip install ripgrep`"
        )
    return found


async def run_rg(
    args: Sequence[str], cwd: Path, timeout_s: float, consume: Callable[[bytes], None]
) -> RgExit:
    """Run `rg args` in `cwd`, handing its stdout to `consume` chunk by chunk as it arrives.

    Contract: when this returns or raises, rg has been killed if need be and reaped.  Past
    `timeout_s` seconds it raises `ToolError` (the model can narrow the search); on cancellation,
    or if `consume` raises, the exception propagates once rg is gone.
    """
    loop = asyncio.get_running_loop()
    proc = await _spawn(loop, [find_rg(), *args], cwd)
    pipes: list[asyncio.ReadTransport] = []
    stderr_task: asyncio.Future[bytes] | None = None
    try:
        async with asyncio.timeout(timeout_s):
            stdout = await _connect(loop, proc.stdout, pipes)
            stderr_task = asyncio.ensure_future(_read_capped(await _connect(loop, proc.stderr, pipes)))
            while chunk := await stdout.read(_CHUNK):
                consume(chunk)
            stderr = await stderr_task
            returncode = await _reaped(proc)  # rg closed its output: it is exiting
    except TimeoutError:
        await _stop(proc, pipes, stderr_task)
        raise ToolError(
            f"the search took too long (over {timeout_s:g} s) and was stopped; narrow it with path, "
            "glob or type, or a more specific pattern"
        ) from None
    except BaseException:
        await _stop(proc, pipes, stderr_task)
        raise
    return RgExit(returncode, stderr.decode("utf-8", errors="replace").strip())


async def _spawn(loop: asyncio.AbstractEventLoop, argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start rg from a worker thread: starting a process blocks until it has exec'd, which on a
    busy machine (twenty searches on two cores) takes long enough to stall every agent's loop.
    If this task is cancelled meanwhile, the process is still waited for, killed and reaped."""
    future = loop.run_in_executor(None, _popen, argv, cwd)
    try:
        return await asyncio.shield(future)
    except OSError as err:  # e.g. the search directory vanished since it was checked
        raise ToolError(f"cannot run ripgrep in {cwd}: {err.strerror or err}") from err
    except asyncio.CancelledError as cancelled:
        try:
            proc = await future  # the start is under way and quick
        except asyncio.CancelledError:
            future.add_done_callback(_stop_when_started)  # cancelled again: stop it once started
            raise
        except OSError:
            raise cancelled from None  # it never started
        await _stop(proc, [], None)
        raise


def _popen(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, cwd=cwd, env=RG_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


# Stops started after their caller was gone; kept here so the tasks are not garbage-collected.
_BACKGROUND: set[asyncio.Task[None]] = set()


def _stop_when_started(future: asyncio.Future[subprocess.Popen[bytes]]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    task = asyncio.ensure_future(_stop(future.result(), [], None))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _connect(
    loop: asyncio.AbstractEventLoop, pipe: IO[bytes] | None, pipes: list[asyncio.ReadTransport]
) -> asyncio.StreamReader:
    """A stream reading `pipe` on the loop (its transport noted in `pipes` for closing)."""
    assert pipe is not None
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    pipes.append(transport)
    return reader


async def _read_capped(stream: asyncio.StreamReader) -> bytes:
    """All of `stream`, keeping the first `_STDERR_CAP` bytes (reading on, so rg never blocks)."""
    kept = b""
    while chunk := await stream.read(_CHUNK):
        kept += chunk[: max(0, _STDERR_CAP - len(kept))]
    return kept


async def _reaped(proc: subprocess.Popen[bytes]) -> int:
    """rg's exit status once it has exited, polled (`waitpid` without blocking) so that no
    thread is held waiting for it."""
    delay = 0.001
    while (returncode := proc.poll()) is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return returncode


async def _kill_and_reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await _reaped(proc)


async def _stop(
    proc: subprocess.Popen[bytes],
    pipes: list[asyncio.ReadTransport],
    stderr_task: asyncio.Future[bytes] | None,
) -> None:
    """Kill rg and reap it, and close its pipes."""
    if stderr_task is not None:
        stderr_task.cancel()
    for transport in pipes:
        transport.close()
    for pipe in (proc.stdout, proc.stderr):  # those not yet handed to a transport
        if pipe is not None:
            pipe.close()
    # Shielded: if this task is cancelled again meanwhile, the reaping still completes.
    await asyncio.shield(_kill_and_reap(proc))
