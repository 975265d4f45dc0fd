"""Where the bundled files live, so that no other module guesses paths.

They are the top-level `resources/` folder, installed as the package `studio.resources`
(pyproject.toml maps it), so they are found the same way from an editable install, a
wheel and the PyInstaller bundle; a bare source checkout on PYTHONPATH finds the
folder beside the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _root() -> Path:
    spec = importlib.util.find_spec("studio.resources")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    here = Path(__file__).resolve()
    installed, checkout = here.parents[1] / "resources", here.parents[2] / "resources"
    return installed if installed.is_dir() else checkout


RESOURCES = _root()
DEMO_MODEL = RESOURCES / "demo" / "digits_cnn.keras"
DEMO_DATA = RESOURCES / "demo" / "digits.npz"
RECIPES = RESOURCES / "recipes"
ICON = RESOURCES / "icons" / "tflite-studio.svg"
STYLE = RESOURCES / "styles" / "studio.qss"
DEMO = "demo"  # the word that stands for the bundled model or data on the command line


def is_demo_model(source: str) -> bool:
    """The bundled model, named by its word or by its path (dropped on the window)."""
    return source == DEMO or Path(source) == DEMO_MODEL


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
