"""How the studio starts helper processes of its own (job workers, the memory probe),
and how much of the machine each may take.

From Python that is `python -m MODULE ARGS`.  Inside the PyInstaller bundle,
`sys.executable` is the studio's own program, which has no `-m`; there the helper is the
program itself with `--run-module MODULE ARGS`, which `studio.cli.main` hands to
`run_module`.  Every helper is started through `command`, so both cases stay in one place.
"""

from __future__ import annotations

import os
import runpy
import sys

RUN_MODULE = "--run-module"

# Workers run below the window's priority (a niceness of 5 on top of the studio's), so
# when a sweep keeps every core busy the window still gets one the moment it needs it;
# on an idle machine niceness costs nothing.  Not 10: measured (benchmarks/
# ui_responsiveness.py), at +10 a sweep beside one busy program per core took 6.9x as
# long as at +0, while the window's stalls were its own work either way.  Helper
# processes (the memory probe) start from a worker and inherit both this and the thread
# budget below.
NICENESS = 5
NICENESS_ENV = "STUDIO_WORKER_NICENESS"
# Threads a worker's TensorFlow and LiteRT evaluation may use.  Without a budget each
# worker sizes its pools to every core, so two busy workers run four busy threads on two
# cores: they slow each other down and leave the window nothing.
THREADS_ENV = "STUDIO_WORKER_THREADS"


def cores() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """The cores shared out among `workers` busy workers, at least one each."""
    return max(1, cores() // max(1, workers))


def worker_environment(threads: int | None, niceness: int = NICENESS) -> dict[str, str]:
    """What a worker's environment adds: its thread budget (None: as many as TensorFlow
    likes, which is every core) and its niceness.  TensorFlow reads its two variables
    when it starts, before the first operation, which is why they are set here and not
    by the worker after importing it."""
    env = {NICENESS_ENV: str(niceness)}
    if threads:
        n = str(threads)
        env.update({THREADS_ENV: n, "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n})
    return env


def thread_budget() -> int:
    """Threads this process may use for its own parallel work (LiteRT evaluation): the
    budget its pool gave it, or every core outside a worker."""
    try:
        return max(1, int(os.environ[THREADS_ENV]))
    except (KeyError, ValueError):
        return cores()


def frozen() -> bool:
    """True inside the PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def command(module: str, *args: str) -> list[str]:
    """The command line that runs `module` as a script in a new process."""
    if frozen():
        return [sys.executable, RUN_MODULE, module, *args]
    return [sys.executable, "-m", module, *args]


def run_module(module: str, args: list[str]) -> int:
    """Run `module` as `__main__` with `args`, as `python -m module args` would."""
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0
