"""A Qt-free signal: what the orchestrator tells its listeners.

Listeners are plain callables, called in order on the thread that emits (the
orchestrator's: the window's GUI thread, or the CLI's main thread).  The window connects
each hook to the Qt signal of the same name (`studio.ui.workbench`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self._listeners: list[Callable[..., Any]] = []

    def connect(self, listener: Callable[..., Any]) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Callable[..., Any]) -> None:
        self._listeners.remove(listener)

    def emit(self, *args: Any) -> None:
        for listener in list(self._listeners):
            listener(*args)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, {len(self._listeners)} listener(s))"
