"""The README's Model Explorer screenshot: a candidate's graph with the sparsity overlay.

    python docs/explorer_screenshot.py

Runs the demo pruned to 80 % + int8 (sparse storage) through the studio's own pipeline,
starts Model Explorer's server the way the window does (`studio.jobs.explorer`, its
overlays from `studio.engine.overlays`), loads the page in headless Chromium (Debian's
`chromium`) through the DevTools protocol (`pip install websocket-client`), expands every
layer, shows the first overlay (zeros, % of the weights) and writes
`resources/screens/explorer-sparsity.png`.  The two clicks are at the places Model
Explorer 0.1.34 draws its "expand all layers" button and the first overlay's eye.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
OUT = ROOT / "resources" / "screens" / "explorer-sparsity.png"
WIDTH, HEIGHT = 1100, 1160
DEVTOOLS_PORT = 9333
LOAD_S = 15  # the page converts the model through the server, then lays the graph out
EXPAND_ALL = (380, 76)  # the toolbar's "expand all layers"
FIRST_OVERLAY_EYE = (WIDTH - 37, 185)  # show the first node-data provider on the graph


def screenshot(url: str, out: Path) -> None:
    import websocket

    chrome = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={WIDTH},{HEIGHT}", f"--remote-debugging-port={DEVTOOLS_PORT}",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        pages = []
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{DEVTOOLS_PORT}/json", timeout=1) as r:
                    pages = [p for p in json.loads(r.read()) if p["type"] == "page"]
                break
            except OSError:
                time.sleep(0.2)
        ws = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        calls = iter(range(1, 1000))

        def call(method: str, **params) -> dict:
            number = next(calls)
            ws.send(json.dumps({"id": number, "method": method, "params": params}))
            while True:
                message = json.loads(ws.recv())
                if message.get("id") == number:
                    return message.get("result", {})

        call("Page.navigate", url=url)
        time.sleep(LOAD_S)
        for x, y in (EXPAND_ALL, FIRST_OVERLAY_EYE):
            for kind in ("mousePressed", "mouseReleased"):
                call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
            time.sleep(3)
        out.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
    finally:
        chrome.kill()


def main() -> None:
    from studio.engine.pipeline import optimize
    from studio.jobs.explorer import Explorer, overlays
    from studio.values.recipe import Pruning, Quantization, Recipe

    recipe = Recipe(
        pruning=Pruning(target_sparsity=0.8, sparse_format=True),
        quantization=Quantization(mode="int8"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "c001"
        optimize("demo", "demo", recipe, folder)
        model = folder / "model.tflite"
        server = Explorer()
        try:
            url = server.show([(model, overlays(model, folder / "overlays"))])
            screenshot(url, OUT)
        finally:
            server.stop()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
