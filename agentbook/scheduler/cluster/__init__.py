"""Agents on a Dask cluster (`run_parallel(..., cluster=...)`): the same `Run`, its agents elsewhere.

The notebook keeps the `Run` handle, its records, its transcripts (the run folder) and its board;
the agents run in the workers' processes, many per worker, each worker with its own model clients.
Who does what:

- `connect`: a `distributed.Client` from the `cluster` option (a Client, an address, `"local"`),
  or a clear error before anything starts.
- `host.AgentHost` (a Dask actor, one per worker and run handle): drives its share of the agents
  on a run of its own in the worker's process, in the worker's local folder.
- `forwarding`: the worker's events go back to the notebook in batches through Dask's event topics
  (`Worker.log_event` is fire-and-forget; the batches go by the scheduler's `log_event` call, whose
  answer says they arrived).  A tool call with side effects waits until its "tool started" record
  has arrived, so a worker lost mid-call never makes it run twice.
- `remote.RemoteAgents` (the notebook's side): turns those batches into the run's own events (the
  board, frames and transcripts follow them as in-process), and resumes a lost worker's agents
  on the others from their transcripts in the run folder.
- `gate`: one rate gate per model for the whole cluster, hosted by an actor.
- `files`: a repository shipped to the workers as a git bundle where they do not share a
  filesystem with the notebook, and the agents' branches fetched back the same way.
"""

from agentbook.scheduler.cluster.connect import ClusterUnavailable, client_for, cluster_client

__all__ = ["ClusterUnavailable", "client_for", "cluster_client"]
