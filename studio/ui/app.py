"""Start the window: `tflite-studio [MODEL] [--data D] [--session DIR]`.

Nothing here imports TensorFlow: the worker processes load it while the window is
already on screen.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from studio.jobs.pool import Backend
from studio.orchestrator.backends import make_backend
from studio.ui import self_test, style
from studio.ui.main_window import MainWindow
from studio.ui.settings import Settings
from studio.ui.workbench import Workbench
from studio.values.resources import ICON

ORGANIZATION = "tflite-studio"
APPLICATION = "TFLite Optimization Studio"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tflite-studio",
        description="Open the studio window. Commands for headless use: "
        "tflite-studio optimize|evaluate --help.",
    )
    p.add_argument(
        "model", nargs="?", help="a .keras/.h5 file or SavedModel folder (default: demo)"
    )
    p.add_argument("--data", help="a .npz file, an image folder, or 'demo'")
    p.add_argument("--session", help="reopen this session folder")
    p.add_argument("--workers", type=int, help="worker processes (default: from cores and memory)")
    p.add_argument("--sessions-root", help="where new sessions are created")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation: run one int8 candidate on the demo offscreen, "
        "exit 0 if it works",
    )
    return p


def build(
    settings: QSettings,
    *,
    workers: int | None = None,
    sessions_root: Path | None = None,
    backend: Backend | None = None,
) -> MainWindow:
    """The window with its workbench and worker pool (also what tests and benchmarks
    build; a benchmark may hand in a pool configured as it wants to compare)."""
    remembered = Settings(settings)
    if backend is None:
        backend = make_backend(
            workers or remembered.workers(), idle_timeout_s=remembered.idle_timeout_s()
        )
    workbench = Workbench(backend, sessions_root=sessions_root)
    workbench.threads = remembered.threads()
    style.apply(QApplication.instance())
    return MainWindow(workbench, settings)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.self_test:
        self_test.prepare_environment()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName("io.github.tflite_studio.TFLiteStudio")
    app.setWindowIcon(QIcon(str(ICON)))
    if args.self_test:
        return self_test.run(app, build)
    settings = QSettings()
    root = Path(args.sessions_root) if args.sessions_root else None
    window = build(settings, workers=args.workers, sessions_root=root)
    window.show()
    first_view(window, args)
    return app.exec()


def first_view(window: MainWindow, args: argparse.Namespace) -> None:
    """The session given, else the model given, else the last session, else the demo.
    A session that cannot be opened is explained, and the window still gets one."""
    if not (args.session and window.open_session(args.session)):
        window.start(args.model, args.data)
