"""How the studio is installed: a wheel that works on its own, the desktop entry and
AppStream metadata a Linux desktop reads, and the icons."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from studio.values.resources import ICON

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.github.tflite_studio.TFLiteStudio"
DESKTOP = ROOT / "packaging" / f"{APP_ID}.desktop"
METAINFO = ROOT / "packaging" / f"{APP_ID}.metainfo.xml"


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate not installed (Debian package desktop-file-utils)",
)
def test_desktop_entry_is_valid():
    done = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in (done.stdout + done.stderr).lower()


def test_desktop_entry_has_what_a_menu_needs():
    entry = dict(line.split("=", 1) for line in DESKTOP.read_text().splitlines() if "=" in line)
    assert entry["Type"] == "Application" and entry["Exec"].startswith("tflite-studio")
    assert entry["Icon"] == "tflite-studio" and entry["Name"]


def test_metainfo_is_valid_xml_with_the_required_appstream_fields():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    for field in (
        "id",
        "metadata_license",
        "project_license",
        "name",
        "summary",
        "description",
        "launchable",
    ):
        assert root.find(field) is not None and (root.find(field).text or len(root.find(field)))
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == DESKTOP.name


def test_icon_in_svg_and_png_sizes():
    icons = ICON.parent
    ET.parse(icons / "tflite-studio.svg")  # well-formed
    for size in (16, 32, 48, 64, 128, 256):
        with Image.open(icons / f"tflite-studio-{size}.png") as image:
            assert image.size == (size, size)


GIB = 2**30


def _need_disk(path: Path, gib: int) -> None:
    """TensorFlow is big: a venv takes 2.6 GB and the bundle 1.8 GB."""
    free = shutil.disk_usage(path).free
    if free < gib * GIB:
        pytest.skip(f"needs {gib} GB free disk in {path}, has {free / GIB:.1f} GB")


@pytest.mark.slow
def test_built_wheel_works_in_a_fresh_virtual_environment(tmp_path):
    """`pip install` of the wheel alone (no source tree) gives a studio that really runs."""
    _need_disk(tmp_path, 6)
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)])
    (wheel,) = dist.glob("tflite_studio-*.whl")
    _run([sys.executable, "-m", "venv", str(venv)])
    python, studio = venv / "bin" / "python", venv / "bin" / "tflite-studio"
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], timeout=1200)

    # the package and its data come from the venv, not from this checkout
    where = _run(
        [str(python), "-c", "from studio.values import resources as r; print(r.DEMO_MODEL)"]
    )
    demo_model = Path(where.stdout.strip())
    assert demo_model.is_file() and venv in demo_model.parents, where.stdout

    test = _run([str(studio), "--self-test"], timeout=900)
    assert "self-test passed" in test.stdout, test.stdout + test.stderr
    assert "top-1" in test.stdout
    usage = _run([str(python), "-m", "studio", "optimize", "--help"])
    assert "--recipe" in usage.stdout


@pytest.mark.slow
def test_bundle_builds_and_passes_its_self_test(tmp_path):
    """packaging/build.sh: the one-folder bundle, its desktop files, and its self-test."""
    _need_disk(tmp_path, 5)
    env = {**os.environ, "DIST": str(tmp_path / "dist"), "WORK": str(tmp_path / "work")}
    done = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "self-test passed" in done.stdout, done.stdout[-3000:]
    bundle = tmp_path / "dist" / "tflite-studio"
    assert (bundle / "tflite-studio").is_file()
    assert (bundle / "share" / "applications" / DESKTOP.name).is_file()
    assert (
        bundle / "share" / "icons" / "hicolor" / "256x256" / "apps" / "tflite-studio.png"
    ).is_file()
    assert not any(bundle.rglob("studio/cli.py")), "the bundle ships bytecode, not the checkout"


def _run(cmd: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run outside the checkout, with nothing of this environment on the import path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/", env=env)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done
