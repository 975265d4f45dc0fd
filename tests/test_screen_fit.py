"""The window fits the screen it opens on: the first launch on a small laptop screen,
and a geometry remembered from a larger screen (issue 32)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QRect

from studio.ui.main_window import FRAME, clamped, first_geometry


def test_the_first_window_takes_the_preferred_size_only_where_it_fits():
    big = QRect(0, 0, 1920, 1050)
    assert first_geometry(big).size().toTuple() == (1440, 900)
    assert big.contains(first_geometry(big))
    laptop = QRect(0, 27, 1366, 741)  # a top panel of 27 pixels
    shown = first_geometry(laptop)
    assert laptop.contains(shown)
    assert shown.height() <= laptop.height() - FRAME.height()


def test_a_remembered_geometry_is_clamped_to_the_screen_it_opens_on():
    laptop = QRect(0, 0, 1280, 720)
    from_big_screen = QRect(500, 200, 1800, 1000)
    fitted = clamped(from_big_screen, laptop)
    assert laptop.contains(fitted) and fitted.width() <= 1280 - FRAME.width()
    off_screen = QRect(3000, 1500, 800, 600)  # a second monitor that is gone
    assert laptop.contains(clamped(off_screen, laptop))
    inside = QRect(100, 50, 800, 600)
    assert clamped(inside, laptop) == inside  # a window that fits is left where it was


WINDOW = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from fakes import StandIns
    from studio.jobs.inprocess import InProcessBackend
    from studio.ui.app import build
    app = QApplication([])
    app.setOrganizationName("tflite-studio-test")
    window = build(QSettings(), sessions_root={root!r},
                   backend=InProcessBackend(StandIns().handlers()))
    window.ask_quit = lambda: True
    window.show()
    window.start()
    def report():
        screen = window.screen().availableGeometry()
        frame = window.frameGeometry()
        status = window.statusBar()
        jobs = window.bottom
        print(json.dumps({{
            "screen": screen.getRect(), "frame": frame.getRect(),
            "status_visible": status.isVisible() and status.visibleRegion().boundingRect().height() > 0,
            "status_bottom": status.mapTo(window, status.rect().bottomLeft()).y(),
            "window_height": window.height(),
            "candidates_visible": jobs.isVisible() and jobs.visibleRegion().boundingRect().height() > 0,
        }}))
        window.close()
        app.quit()
    QTimer.singleShot(1500, report)
    app.exec()
""")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb not installed (Debian xvfb)")
@pytest.mark.parametrize("size", ["1366x768", "1280x720"])
def test_the_first_launch_fits_a_real_x_screen(tmp_path, size):
    """On a real X display with no window manager, from a fresh home folder."""
    display = f":{90 + (size == '1280x720')}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        home = tmp_path / "home"
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "DISPLAY": display,
            "QT_QPA_PLATFORM": "xcb",
        }
        script = WINDOW.format(tests=str(Path(__file__).parent), root=str(tmp_path / "sessions"))
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        xvfb.terminate()
        xvfb.wait()
    assert done.returncode == 0, done.stderr[-2000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    screen, frame = QRect(*shown["screen"]), QRect(*shown["frame"])
    assert screen.size().toTuple() == tuple(int(n) for n in size.split("x"))
    assert screen.contains(frame), (frame, screen)
    assert shown["status_visible"] and shown["candidates_visible"], shown
