"""The Qt binding itself: PySide6 6.12.0 dropped a reference to True/False on every
Signal.emit, so a window aborted ("bool_dealloc") after a few thousand signals on
Python 3.11.  pyproject.toml excludes it; this fails if a bad release slips back in."""

import subprocess
import sys
import textwrap


def test_emitting_many_signals_does_not_corrupt_reference_counts():
    script = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QCoreApplication, QObject, Signal
        class Source(QObject):
            changed = Signal()
        app = QCoreApplication([])
        source = Source()
        before = sys.getrefcount(True), sys.getrefcount(False)
        for _ in range(20000):
            source.changed.emit()
        after = sys.getrefcount(True), sys.getrefcount(False)
        print(before, after)
        sys.exit(0 if after >= before else 1)
    """)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
