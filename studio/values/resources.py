"""Where the bundled files live, so that no other module guesses paths.

They are package data (`studio/resources/`), so they are found the same way from a
source checkout, an installed wheel and the PyInstaller bundle.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEMO_MODEL = RESOURCES / "demo" / "digits_cnn.keras"
DEMO_DATA = RESOURCES / "demo" / "digits.npz"
RECIPES = RESOURCES / "recipes"
ICON = RESOURCES / "icons" / "tflite-studio.svg"
STYLE = RESOURCES / "styles" / "studio.qss"
DEMO = "demo"  # the word that stands for the bundled model or data on the command line


def json_file(argument: str) -> Path:
    """A recipe or grid argument: a path, or the name of a bundled one (`demo_sweep_grid`).

    Installed users have no source tree to point at, so the bundled examples answer to
    their names; an existing path always wins.
    """
    path = Path(argument)
    if path.exists():
        return path
    bundled = RECIPES / (path.name if path.suffix == ".json" else f"{path.name}.json")
    return bundled if bundled.is_file() else path
