"""Optional extras (pip extras of tflite-studio): is one installed, and how to install it.

Read by the modes table (a mode's maker, `modes.missing`) and the places table (running
on a cluster, `cluster.missing`), so both say it the same way.
"""

from __future__ import annotations

import importlib.util


def importable(module: str) -> bool:
    """The module can be imported here (False when blocked or broken, not only absent)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module blocked (None in sys.modules) or broken
        return False


def install_command(extra: str) -> str:
    """The pip command that installs the extra."""
    return f'pip install "tflite-studio[{extra}]"'
