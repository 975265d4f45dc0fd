"""Which backend runs the jobs: chosen here, for the window and the CLI alike.

Two kinds: the pool of worker processes on this machine (every session has one), and a
Ray cluster attached beside it for candidates (`cluster_backend`, through
`Orchestrator.connect_cluster`/`use_cluster`).  Both have the `studio.jobs.pool.Backend`
interface and put their events into the pool's queue, so one reader sees both; nothing
above the orchestrator changes.
"""

from __future__ import annotations

import queue

from studio.jobs.pool import IDLE_TIMEOUT_S, Backend, ProcessPool
from studio.values.cluster import Cluster, ClusterInfo


def make_backend(
    workers: int | None = None,
    *,
    idle_timeout_s: float | None = IDLE_TIMEOUT_S,
    ship_inputs: bool = False,
) -> Backend:
    """`workers` jobs at once (default: from cores and memory); `ship_inputs`: jobs'
    files travel by value, as for workers that cannot see this disk."""
    return ProcessPool(workers, idle_timeout_s=idle_timeout_s, ship_inputs=ship_inputs)


def cluster_backend(cluster: Cluster, events: queue.Queue) -> Backend:
    """Candidates as Ray tasks on `cluster`, their events into `events` (the local
    pool's queue).  Connects now (seconds); raises `StudioError` saying what failed."""
    from studio.jobs.ray_backend import RayBackend

    return RayBackend(cluster, events=events)


def cluster_info(cluster: Cluster) -> ClusterInfo:
    """Connect, read the cluster's nodes, CPUs and versions, disconnect (the dialogs'
    "Test connection"); raises `StudioError` saying what failed."""
    from studio.jobs.ray_backend import RayBackend

    backend = RayBackend(cluster)
    try:
        return backend.info
    finally:
        backend.shutdown()
