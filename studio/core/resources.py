"""Where the bundled files live, so that no other module guesses paths."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEMO_MODEL = RESOURCES / "demo" / "digits_cnn.keras"
DEMO_DATA = RESOURCES / "demo" / "digits.npz"
DEMO = "demo"  # the word that stands for the bundled model or data on the command line
