"""The `cluster` option as a `distributed.Client`, checked before anything starts.

`"local"` is one `LocalCluster` per process, sized to the machine (a worker process per core) and
kept for later runs; an address is connected to once and kept too; a `Client` is used as given.
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["CONNECT_TIMEOUT_S", "ClusterUnavailable", "client_for", "cluster_client"]

CONNECT_TIMEOUT_S = 10.0
"""How long to wait for a scheduler, and for its first worker, before saying it cannot be reached."""

_clients: dict[str, Any] = {}
_lock = threading.Lock()


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be reached, has no workers, or Dask is not installed."""


def client_for(cluster: Any) -> Any:
    """A running `distributed.Client` for `cluster` with at least one worker;
    `ClusterUnavailable` saying why not."""
    try:
        import distributed
    except ImportError:
        raise ClusterUnavailable("cluster= needs Dask: pip install 'agentbook[dask]'") from None
    client: Any
    if isinstance(cluster, distributed.Client):
        client = cluster
    else:
        with _lock:
            client = _clients.get(cluster)
            if client is None or client.status not in ("running", "connecting", "newly-created"):
                client = _clients[cluster] = _connect(distributed, cluster)
    if client.status != "running":
        raise ClusterUnavailable(f"the Dask client {client!r} is {client.status}, not running")
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except (TimeoutError, OSError) as exc:
        raise ClusterUnavailable(
            f"the Dask cluster at {getattr(client.scheduler, 'address', cluster)} has no worker after "
            f"{CONNECT_TIMEOUT_S:g} s ({exc})"
        ) from None
    return client


def cluster_client(config: Any) -> Any:
    """The Dask client of a run's `RunConfig` (`None` in-process): reachable, and the run's
    options can go to its workers; else a clear error before anything starts."""
    if config.cluster is None:
        return None
    from agentbook.scheduler.cluster.remote import check_shippable

    check_shippable(config)
    return client_for(config.cluster)


def _connect(distributed: Any, cluster: str) -> Any:
    if cluster == "local":
        local = distributed.LocalCluster(
            n_workers=os.cpu_count() or 1,
            threads_per_worker=4,  # agents are asyncio tasks; a share takes one slot while it runs
            processes=True,
            dashboard_address=":0",  # a free port: 8787 may be another notebook's
        )
        return distributed.Client(local, set_as_default=False)
    try:
        return distributed.Client(cluster, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterUnavailable(
            f"cannot reach a Dask scheduler at {cluster!r} within {CONNECT_TIMEOUT_S:g} s: {exc}; "
            "start one (`dask scheduler` and `dask worker ADDRESS`) or pass cluster='local'"
        ) from None
