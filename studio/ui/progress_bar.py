"""A progress bar that repaints with the rest of the window, not on every value.

`QProgressBar.setValue` repaints the bar at once, synchronously, whenever the change is
visible.  The status bar's and each job row's bars take every progress event of every
worker: those immediate paints cost ~2 ms each on a busy machine, on top of the paint
pass that follows anyway (benchmarks/ui_responsiveness.py).
"""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar


class ProgressBar(QProgressBar):
    def setValue(self, value: int) -> None:  # noqa: N802 (Qt's name)
        """The new value, drawn by the next paint pass (`update`, not `repaint`)."""
        if value == self.value():
            return
        self.setUpdatesEnabled(False)  # makes QProgressBar's own repaint() a no-op
        super().setValue(value)
        self.setUpdatesEnabled(True)  # ...and this schedules the ordinary update()
