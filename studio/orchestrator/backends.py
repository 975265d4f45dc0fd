"""Which backend runs the jobs: chosen here, for the window and the CLI alike.

Today one kind, the pool of worker processes on this machine.  Another kind (a cluster)
is one more branch here, a class with the `studio.jobs.pool.Backend` interface, and the
option that picks it; nothing above the orchestrator changes.
"""

from __future__ import annotations

from studio.jobs.pool import IDLE_TIMEOUT_S, Backend, ProcessPool


def make_backend(
    workers: int | None = None,
    *,
    idle_timeout_s: float | None = IDLE_TIMEOUT_S,
    ship_inputs: bool = False,
) -> Backend:
    """`workers` jobs at once (default: from cores and memory); `ship_inputs`: jobs'
    files travel by value, as for workers that cannot see this disk."""
    return ProcessPool(workers, idle_timeout_s=idle_timeout_s, ship_inputs=ship_inputs)
