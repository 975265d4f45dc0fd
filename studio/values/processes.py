"""How the studio starts helper processes of its own (job workers, the memory probe).

From Python that is `python -m MODULE ARGS`.  Inside the PyInstaller bundle,
`sys.executable` is the studio's own program, which has no `-m`; there the helper is the
program itself with `--run-module MODULE ARGS`, which `studio.cli.main` hands to
`run_module`.  Every helper is started through `command`, so both cases stay in one place.
"""

from __future__ import annotations

import runpy
import sys

RUN_MODULE = "--run-module"


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
