"""The README's Model Explorer screenshots: candidates' graphs with one overlay shown.

    python docs/explorer_screenshot.py

1. `explorer-sparsity.png`: the demo pruned to 80 % + int8 (sparse storage), the zeros
   overlay.
2. `explorer-sensitivity.png`: a model we did not tune for (the zoo's small CNN, Keras 3)
   in int8, in a session whose sensitivity pass ran: what pruning each layer alone costs,
   on the operators the converter made of it.
3. `explorer-compare.png`: the demo in int8 beside the same pruned and stored sparse, in
   Model Explorer's split view, as the comparison dialog opens them.

Each runs through the studio's own pipeline, starts Model Explorer's server the way the
window does (`studio.jobs.explorer`, its overlays from `studio.engine.overlays`), loads
the page in headless Chromium (Debian's `chromium`) through the DevTools protocol
(`pip install websocket-client`), shows the chosen overlay and writes the PNG to
`resources/screens/`.  The page flattens the layers itself (every operator drawn); the
one click is on the chosen overlay's eye, where Model Explorer 0.1.34 draws it (a row
each).
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
sys.path.insert(0, str(ROOT / "tests"))  # the zoo
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
SCREENS = ROOT / "resources" / "screens"
WIDTH, HEIGHT = 1100, 1160
DEVTOOLS_PORT = 9333
LOAD_S = 15  # the page converts the model through the server, then lays the graph out
FIRST_OVERLAY_EYE = (WIDTH - 37, 185)  # show the first node-data provider on the graph
ROW = 20  # the next provider's eye is a row lower


def screenshot(url: str, out: Path, overlay: int = 0) -> None:
    """The page at `url` with overlay number `overlay` (0: the first; -1: as the page
    opens, the last) shown on the graph."""
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
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{DEVTOOLS_PORT}/json", timeout=1
                ) as r:
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
        eye = (FIRST_OVERLAY_EYE[0], FIRST_OVERLAY_EYE[1] + ROW * overlay)
        for x, y in [eye] if overlay >= 0 else []:
            for kind in ("mousePressed", "mouseReleased"):
                call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
            time.sleep(3)
        out.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
    finally:
        chrome.kill()


def show(models: list[tuple[Path, str]], out: Path, key: str = "") -> None:
    """The page of `models` (each with its graph id when several, "" for one) with the
    overlay `key` shown ("": as the page opens), written to `out`."""
    from studio.jobs.explorer import Explorer, prepare

    server = Explorer()
    try:
        shown = [
            prepare(model, model.parent / "overlays" / ("beside" if graph else ""), graph)
            for model, graph in models
        ]
        url = server.show(shown)
        screenshot(url, out, [f.stem for f in shown[0][1]].index(key) if key else -1)
    finally:
        server.stop()
    print(f"wrote {out}")


def main() -> None:
    import zoo

    from studio.engine.pipeline import optimize, sensitivity
    from studio.values import sensitivity as saved
    from studio.values.recipe import Pruning, Quantization, Recipe
    from studio.values.sensitivity import LayerSensitivity

    with tempfile.TemporaryDirectory() as tmp:
        int8 = Quantization(mode="int8")
        sparse = Recipe(pruning=Pruning(target_sparsity=0.8, sparse_format=True), quantization=int8)
        demo = Path(tmp) / "demo"
        optimize("demo", "demo", sparse, demo / "c002")
        show([(demo / "c002" / "model.tflite", "")], SCREENS / "explorer-sparsity.png", "sparsity")

        optimize("demo", "demo", Recipe(quantization=int8), demo / "c001")
        pair = [(demo / c / "model.tflite", c) for c in ("c001", "c002")]
        show(pair, SCREENS / "explorer-compare.png")

        session = Path(tmp) / "zoo"
        model, data = zoo.saved("small_cnn", "keras3", session / "model")
        saved.save(session, [LayerSensitivity.from_dict(r) for r in sensitivity(model, data)])
        optimize(model, data, Recipe(quantization=int8), session / "c001")
        show([(session / "c001" / "model.tflite", "")], SCREENS / "explorer-sensitivity.png",
             "prune_sensitivity")  # fmt: skip


if __name__ == "__main__":
    main()
