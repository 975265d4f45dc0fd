"""What the studio remembers between runs, and under which keys: one place for both.

A thin typed layer over `QSettings`, so no other module spells a key: the window asks
for `recent_models()` or sets `last_session`, the app reads `workers()` when it builds
the pool.  Values are written when they change (and synced), not only at a clean
close, so a crash forgets nothing the user chose.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from studio.jobs.pool import default_size
from studio.values import splits
from studio.values.autotune import Settings as SearchSettings
from studio.values.cluster import PLACES
from studio.values.resources import DEMO

WORKERS = "jobs/workers"
IDLE_MINUTES = "jobs/idle_minutes"
THREADS = "measure/threads"
RECENT_MODELS = "recent/models"
LAST_SESSION = "session/last"
EXPORT_DIR = "recent/export_dir"
MODEL_DATA = "recent/model_data"  # the data each model was last used with
SWEEP_MODES = "sweep/modes"  # the quantization modes last ticked in the sweep dialog
AUTOTUNE = "autotune/settings"  # the search dialog's last choices (JSON)
RUN_ON = "cluster/run_on"  # where candidates ran last: a name of values.cluster.PLACES
RAY_ADDRESS = "cluster/address"  # the Ray cluster's address last used
WELCOME_DISMISSED = "welcome/dismissed"
GEOMETRY = "window/geometry"
STATE = "window/state"

DEFAULT_IDLE_MINUTES = 10
MAX_RECENT = 8


class Settings:
    def __init__(self, store: QSettings) -> None:
        self.store = store

    # -- jobs (Preferences) ------------------------------------------------------------

    def workers(self) -> int:
        """The chosen pool size, or what the machine's cores and memory allow."""
        return int(self.store.value(WORKERS, 0) or 0) or default_size()

    @staticmethod
    def default_workers() -> int:
        return default_size()

    def idle_minutes(self) -> int:
        return int(self.store.value(IDLE_MINUTES, DEFAULT_IDLE_MINUTES) or 0)

    def idle_timeout_s(self) -> float | None:
        """Seconds after which an idle worker is released (None: never)."""
        minutes = self.idle_minutes()
        return 60.0 * minutes if minutes > 0 else None

    def threads(self) -> int:
        return max(1, int(self.store.value(THREADS, 1) or 1))

    def set_preferences(self, *, workers: int, threads: int, idle_minutes: int) -> None:
        self.store.setValue(WORKERS, workers)
        self.store.setValue(THREADS, threads)
        self.store.setValue(IDLE_MINUTES, idle_minutes)
        self.store.sync()

    # -- what was open -----------------------------------------------------------------

    def recent_models(self) -> list[str]:
        value = self.store.value(RECENT_MODELS, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def remember_model(self, model: str) -> None:
        if model == DEMO:
            return
        recent = [model] + [m for m in self.recent_models() if m != model]
        self.store.setValue(RECENT_MODELS, recent[:MAX_RECENT])

    def start_dir(self) -> str:
        """Where open dialogs start: beside the last model, else home (never the
        shell's working directory, which means nothing to a user who clicked an icon)."""
        recent = self.recent_models()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def export_dir(self) -> str:
        """Where save dialogs start: the folder of the last export, else beside the model."""
        value = self.store.value(EXPORT_DIR)
        if isinstance(value, str) and Path(value).is_dir():
            return value
        return self.start_dir()

    def remember_export(self, path: str) -> None:
        self.store.setValue(EXPORT_DIR, str(Path(path).parent))

    def data_for(self, model: str) -> str | None:
        """The data `model` was last opened with (never another model's)."""
        pairs = self.store.value(MODEL_DATA, {})
        value = pairs.get(model) if isinstance(pairs, dict) else None
        return value if isinstance(value, str) else None

    def remember_data(self, model: str, data: str) -> None:
        if model == DEMO:
            return
        pairs = self.store.value(MODEL_DATA, {})
        pairs = dict(pairs) if isinstance(pairs, dict) else {}
        pairs.pop(model, None)
        pairs[model] = splits.whole(data)  # not a search's half of it
        kept = list(pairs.items())[-4 * MAX_RECENT :]  # the newest pairs
        self.store.setValue(MODEL_DATA, dict(kept))

    def sweep_modes(self) -> list[str] | None:
        """The modes ticked in the sweep dialog last time (None: never used)."""
        value = self.store.value(SWEEP_MODES)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in value]

    def remember_sweep_modes(self, modes: list[str]) -> None:
        self.store.setValue(SWEEP_MODES, list(modes))

    def autotune(self) -> SearchSettings:
        """The automatic search's last settings (defaults if none or unreadable)."""
        try:
            return SearchSettings.from_dict(json.loads(str(self.store.value(AUTOTUNE, "") or "{}")))
        except (ValueError, TypeError, AttributeError):
            return SearchSettings()

    def remember_autotune(self, chosen: SearchSettings) -> None:
        self.store.setValue(AUTOTUNE, json.dumps(chosen.to_dict()))
        self.store.sync()

    def run_on(self) -> tuple[str, str]:
        """Where the sweep and search dialogs last ran candidates, and the Ray address."""
        place = str(self.store.value(RUN_ON, "local") or "local")
        return (place if place in PLACES else "local"), str(
            self.store.value(RAY_ADDRESS, "auto") or "auto"
        )

    def remember_run_on(self, place: str, address: str) -> None:
        self.store.setValue(RUN_ON, place)
        self.store.setValue(RAY_ADDRESS, address)

    @property
    def last_session(self) -> str | None:
        value = self.store.value(LAST_SESSION)
        return value if isinstance(value, str) else None

    @last_session.setter
    def last_session(self, folder: str) -> None:
        self.store.setValue(LAST_SESSION, folder)
        self.store.sync()  # at once: after a crash the studio reopens it

    # -- the window --------------------------------------------------------------------

    @property
    def welcome_dismissed(self) -> bool:
        return self.store.value(WELCOME_DISMISSED) in (True, "true")

    def dismiss_welcome(self) -> None:
        self.store.setValue(WELCOME_DISMISSED, True)

    def window(self) -> tuple[QByteArray | None, QByteArray | None]:
        """Saved geometry and dock/toolbar state, if any."""
        geometry, state = self.store.value(GEOMETRY), self.store.value(STATE)
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue(GEOMETRY, geometry)
        self.store.setValue(STATE, state)
        self.store.sync()
