"""The desktop entry and AppStream metadata a Linux desktop reads, and the icons."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from studio.core.resources import ICON

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
