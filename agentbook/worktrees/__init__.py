"""Git worktrees for agents: one isolated checkout and branch per agent, then commit, merge, publish.

Who uses it: the scheduler, when a task asks for `isolation="worktree"` (Claude Code's
`isolation: worktree`).  It creates a worktree per agent, confines the agent's tools to it
(`ToolContext(root=worktree.path)`), finishes it when the agent ends, and `batch` merges or
publishes the branches that came out.

Layout.  In run `r`, task `t` works on branch `agentbook/r/t`, checked out at `<root>/r/t`
(`root` defaults to `<repo>/.agentbook/worktrees`).  Every worktree of a run starts from the same
commit: `base` is resolved once, when the `Worktrees` is made.

The user's checkout is never touched.  Nothing runs `checkout`, `reset`, `stash` or `merge` in
it (merges run in a temporary worktree), so its HEAD, index and working files stay as they were.
What does change is shared metadata: branches, `.git/worktrees/`, `extensions.worktreeConfig` in
`.git/config` when `sparse` is used (git's sparse-checkout needs it), and, when the worktrees or
patches live inside the checkout and nothing ignores them yet, one line in `.git/info/exclude`,
so that `git status` in the checkout stays the same.

Concurrency.  Every method may be called from many threads at once (`asyncio.to_thread`
included).  Git commands that write shared state (`worktree add/lock/unlock/remove/prune`,
creating and deleting branches, config) hold one lock per repository in this process.  Checking
files out, copying and deleting them, committing in a worktree (it has its own index) and merging
run outside it, so agents do not wait for each other's disk work.  Another process's git can
still hold one of git's lock files: a command that fails on one is retried a few times.

Errors.  `ValueError` when the caller asked for something wrong (not a repository, a base that
does not resolve, a bad name, a branch that exists or does not); `WorktreeError` when git fails.

The modules, by job: `manager` (`Worktrees`, the facade), `repo` (a run's names, folders, lock
and identity), `create`, `finish`, `merge`, `publish`, `cleanup`, `gitcmd` (running git and
reading its output) and `values` (what the API hands out).
"""

from __future__ import annotations

from agentbook.worktrees.manager import Worktrees
from agentbook.worktrees.repo import check_name
from agentbook.worktrees.values import MergeConflict, MergeReport, Outcome, Worktree, WorktreeError

__all__ = ["MergeConflict", "MergeReport", "Outcome", "Worktree", "WorktreeError", "Worktrees", "check_name"]
