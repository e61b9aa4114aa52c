"""The world of tests/test_attack_sandbox.py: the root, the canaries around it, and how it is watched.

`World` lays out tmp_path (the fake home, a folder beside the root, the run folder, the user's
repository or checkout, every attack's files) and gives the values an attack's template names
(`World.values`).  `snapshot` and `git_state` take what the host sees before and after a run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from attack_catalogue import Attack, fill
from support import new_repo

__all__ = ["PROJECT", "Listener", "World", "blame", "git_state", "snapshot"]

CANARIES = ("HOME", "SSH", "SECRET", "NAME", "UNTRACKED", "RUN", "HARDLINK", "KEY", "TOKEN", "HIDDEN")
CANARIES += ("TILDE", "REL", "CRED")
PROJECT = {"README.md": "project readme\n", "notes.txt": "EDITME notes\n", ".gitignore": ".agentbook/\n"}
# What agentbook and the agents' own branches change in the user's .git, never compared (git
# writes packed-refs when agentbook deletes a branch; `git_state` compares the refs).
OWN_GIT = re.compile(r"repo/\.git/(worktrees|(logs/)?refs/heads/agentbook|packed-refs)(/|$)|run(/|$)")
# In a plain folder the root's repository (and the one in vendor/) is the agent's, all but the
# config and hooks.
KEPT = r"\.git(/|$)|vendor(/\.git(/(config|hooks)(/.*)?)?)?$"
ROOT_GIT = re.compile(rf"root/(?!{KEPT})|root/\.git/(objects|refs|logs|info|index|[A-Z_]+$|packed-refs)")


class World:
    """tmp_path as the attacks find it: the root (`plain`: `root/`, a checkout of its own;
    `worktree`: worktrees of `repo/`; `home`: the fake home), canaries all around it."""

    def __init__(
        self, tmp: Path, monkeypatch: pytest.MonkeyPatch, kind: str, attacks: Sequence[Attack]
    ) -> None:
        t = self.t = tmp.resolve()
        self.kind, self.attacks, self.uid, self.port = kind, attacks, uuid.uuid4().hex[:12], 0
        self.socket: list[str] = []
        self.secrets = {name: f"cnry{uuid.uuid4().hex}" for name in CANARIES}
        self.secrets["KEY"] = "sk-ant-api03-" + self.secrets["KEY"]
        if os.access("/etc/shadow", os.R_OK) and (shadow := Path("/etc/shadow").read_text().split("\n")[0]):
            self.secrets["SHADOW"] = shadow  # the host's, hidden in the box
        self.home, self.out, self.run_dir = t / "home", t / "outside", t / "run"
        monkeypatch.setenv("HOME", str(self.home))
        monkeypatch.setenv("AGENTBOOK_HOME", str(t / "run" / "home"))
        monkeypatch.setenv("ANTHROPIC_API_KEY", self.secrets["KEY"])
        monkeypatch.setenv("AGENTBOOK_ATTACK_TOKEN", self.secrets["TOKEN"])
        self._canaries()
        if kind == "worktree":
            self.cwd = self.checkout = new_repo(t / "repo", monkeypatch, PROJECT)
            self.wts = self.cwd / ".agentbook" / "worktrees" / "atk"
        else:
            self.cwd = new_repo(t / "root", monkeypatch, PROJECT) if kind == "plain" else self.home
            if kind == "plain":
                new_repo(self.cwd / "vendor", monkeypatch, PROJECT)
            self.checkout, self.wts = new_repo(t / "other", monkeypatch, PROJECT), t / "no-worktrees"
        (self.checkout / "untracked.txt").write_text(self.secrets["UNTRACKED"] + "\n")
        self.gitdir = self.cwd / ".git"
        for attack in attacks:
            v = self.values(attack.id) | {f"C_{k}": s for k, s in self.secrets.items()}
            for path, content in attack.files.items():
                Path(fill(path, v)).parent.mkdir(parents=True, exist_ok=True)
                Path(fill(path, v)).write_text(fill(content, v))

    def _canaries(self) -> None:
        s = self.secrets
        files = {
            "home/x": s["HOME"], "home/.ssh/id_rsa": s["SSH"], f"home/.ssh/{s['NAME']}.pub": "k",
            f"home/{s['NAME']}.txt": "n", "home/.git-credentials": s["CRED"],
            "home/private/secret.txt": s["HIDDEN"], "home/tilde-hidden.txt": s["TILDE"],
            "home/rel-hidden.txt": s["REL"], "outside/secret.txt": s["SECRET"],
            f"outside/names/{s['NAME']}.txt": "n", "run/canary.txt": s["RUN"],
            "home/bin/tool": f"#!/bin/sh\ncat {self.out / 'secret.txt'}",
        }  # fmt: skip
        for rel, text in files.items():
            (self.t / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.t / rel).write_text(text + "\n")
        (self.t / "home/bin/tool").chmod(0o755)

    def root_of(self, aid: str) -> Path:
        return self.wts / aid if self.kind == "worktree" else self.cwd

    def values(self, aid: str) -> dict[str, str]:
        """What an attack's `@NAME@`s stand for, for the agent `aid`."""
        secret, dev = str(self.out / "secret.txt"), os.stat(self.t).st_dev
        return {
            "ID": aid, "UP": os.path.relpath(self.t, self.root_of(aid)), "HOME": str(self.home),
            "OUT": str(self.out), "SECRET": secret, "RUN": str(self.run_dir), "CHECKOUT": str(self.checkout),
            "GITDIR": str(self.gitdir), "WTS": str(self.wts), "PID": str(os.getpid()), "PORT": str(self.port),
            "B64": base64.b64encode(secret.encode()).decode(),
            "HEXPATH": "".join(f"\\x{b:02x}" for b in secret.encode()),
            "TMP": f"/tmp/agentbook-attack-{self.uid}",
            "VENVMARK": f"{sys.prefix}/agentbook-attack-{self.uid}",
            "FSREL": fs_relative(self.t), "MAJ": str(os.major(dev)), "MIN": str(os.minor(dev)),
        }  # fmt: skip

    def prepare(self, attack: Attack) -> None:
        """The links the user left in the root for this attack (made when its agent starts)."""
        v = self.values(attack.id)
        for name, (kind, target) in attack.links.items():
            path = self.root_of(attack.id) / fill(name, v)
            if not os.path.lexists(path):
                (os.symlink if kind == "sym" else os.link)(fill(target, v), path)

    def strays(self) -> list[str]:
        """What the attacks left in /tmp and the Python environment (removed)."""
        mark = f"agentbook-attack-{self.uid}*"
        found = [*Path("/tmp").glob(mark), *Path(sys.prefix).glob(mark)]
        for path in found:
            path.unlink()
        return [f"{path} created on the host{blame(self, path.name)}" for path in found]


def fs_relative(path: Path) -> str:
    """`path` below the root of the filesystem holding it (the mount's root plus the rest)."""
    best = ("/", "/")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if (str(path) + "/").startswith(fields[4].rstrip("/") + "/") and len(fields[4]) >= len(best[1]):
            best = (fields[3], fields[4])
    return os.path.join(best[0], os.path.relpath(path, best[1])).lstrip("/")


def blame(world: World, text: str) -> str:
    """` (by <attacks>)`: the attacks whose id `text` names."""
    ids = [a.id for a in world.attacks if re.search(rf"(?<!\w){re.escape(a.id)}(?![\w-])", text)]
    return f" (by {', '.join(ids)})" if ids else ""


class Listener:
    """A Unix socket beside the root, recording what connects to it (`received`)."""

    def __init__(self, path: Path) -> None:
        self.received: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX)
        if len(str(path)) < 100:  # sun_path's limit; a longer tmp_path goes without the socket
            self.sock.bind(str(path))
            self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                self.received.append(conn.recv(200).decode(errors="replace"))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def snapshot(world: World) -> dict[str, tuple[Any, ...]]:
    """Every file and link under tmp_path outside the roots: its content's hash and mtime."""
    state: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(world.t):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            rel = path.relative_to(world.t).as_posix()
            ours = OWN_GIT.match(rel) or rel.startswith("repo/.agentbook")
            if ours or (world.kind == "plain" and ROOT_GIT.match(rel)):
                dirs[:] = [d for d in dirs if d != name]
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                state[rel] = ("link", os.readlink(path), info.st_mtime_ns)
            elif stat.S_ISREG(info.st_mode):  # git refreshes the mtime of objects it writes again,
                # and agentbook's own git rewrites config (same content) when it drops a branch
                mtime = 0 if "/.git/objects/" in rel or rel == "repo/.git/config" else info.st_mtime_ns
                state[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), mtime)
    return state


def git_state(world: World) -> dict[str, Any]:
    """The user's repository as git on the host reads it: its config, hooks path and refs."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}

    def out(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=world.cwd, env=env, capture_output=True, text=True)
        return done.stdout + done.stderr

    refs = out("for-each-ref", "--format=%(refname) %(objectname) %(symref)").splitlines()
    return {
        "config": out("config", "--list", "--show-origin"),
        "paths": out("rev-parse", "--git-path", "hooks", "--git-common-dir"),
        "refs": {line.split(" ")[0]: line.split(" ")[1:] for line in refs if line.startswith("refs/")},
        "warnings": [line for line in refs if not line.startswith("refs/")],
    }
