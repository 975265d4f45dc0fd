"""A shareable report of a session or a sweep: one self-contained HTML file and a CSV.

The HTML has everything inside it (plots as base64 PNG drawn with Pillow, styles
inline), so it can be mailed or attached to a ticket and opens in any browser offline.
The CSV has one row per candidate with every figure, for a spreadsheet.  No TensorFlow
and no Qt: the window and the CLI both call `write`.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from studio.values import atomic, figures, tensor_fidelity, units
from studio.values.recipe import Recipe
from studio.values.results import Outcomes, Result, measured, read

# -- CSV --------------------------------------------------------------------------------

CSV_FIELDS = [
    "name",
    "recipe",
    "status",
    *(f.key for f in figures.shown_in(figures.CSV)),
    "pareto",
    "pareto_latency",
    "recommended",
    "error",
]


def csv_rows(data: Outcomes) -> list[dict[str, Any]]:
    base = data.baseline
    float_row = Result("float baseline", Recipe(), base, None, "done")
    out = []
    for r in (float_row, *data.rows):
        row = {"name": r.name, "recipe": "float" if r is float_row else r.label}
        row["status"] = r.status
        row |= {f.key: f.csv(r.metrics, base) for f in figures.shown_in(figures.CSV)}
        row |= {
            "pareto": "" if r is float_row else r.pareto,
            "pareto_latency": "" if r is float_row else r.pareto_latency,
            "recommended": " ".join(r.recommended),
            "error": r.error or "",
        }
        out.append(row)
    return out


def write_csv(path: str | Path, data: Outcomes) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS)
    writer.writeheader()
    writer.writerows(csv_rows(data))
    return atomic.write_text(path, buffer.getvalue())


# -- plots ------------------------------------------------------------------------------

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 560, 360, 64, 48, 34, 16


def scatter_png(
    title: str,
    x_label: str,
    y_label: str,
    points: list[tuple[float, float, str]],
    baseline: tuple[float, float] | None,
) -> bytes:
    """A small scatter plot as PNG bytes.  Point kinds: 'front', 'recommended', 'other'."""
    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    xs = [p[0] for p in points] + ([baseline[0]] if baseline else [])
    ys = [p[1] for p in points] + ([baseline[1]] if baseline else [])
    if not xs:
        draw.text((W // 2 - 60, H // 2), "no finished candidates", fill="#555", font=font)
        return _png(image)
    x0, x1 = _span(min(xs), max(xs))
    y0, y1 = _span(min(ys), max(ys))

    def at(x: float, y: float) -> tuple[float, float]:
        px = PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R)
        py = H - PAD_B - (y - y0) / (y1 - y0) * (H - PAD_B - PAD_T)
        return px, py

    draw.rectangle([PAD_L, PAD_T, W - PAD_R, H - PAD_B], outline="#999")
    for i in range(5):
        gx = x0 + (x1 - x0) * i / 4
        gy = y0 + (y1 - y0) * i / 4
        px, _ = at(gx, y0)
        _, py = at(x0, gy)
        draw.line([px, PAD_T, px, H - PAD_B], fill="#eee")
        draw.line([PAD_L, py, W - PAD_R, py], fill="#eee")
        draw.text((px - 14, H - PAD_B + 4), f"{gx:.3g}", fill="#444", font=font)
        draw.text((4, py - 6), f"{gy:.4g}", fill="#444", font=font)
    draw.text((W // 2 - 4 * len(x_label) // 2, H - 18), x_label, fill="#222", font=font)
    draw.text((PAD_L, 16), y_label, fill="#222", font=font)
    draw.text((W // 2 - 3 * len(title), 2), title, fill="#000", font=font)
    front = sorted((p for p in points if p[2] in ("front", "recommended")), key=lambda p: p[0])
    if len(front) > 1:
        draw.line([at(p[0], p[1]) for p in front], fill=(20, 160, 90), width=2)
    colors = {"front": (20, 160, 90), "recommended": (20, 160, 90), "other": (40, 110, 200)}
    for x, y, kind in points:
        px, py = at(x, y)
        draw.ellipse([px - 5, py - 5, px + 5, py + 5], fill=colors[kind])
        if kind == "recommended":
            draw.ellipse([px - 9, py - 9, px + 9, py + 9], outline="black", width=2)
    if baseline:
        px, py = at(*baseline)
        draw.regular_polygon((px, py, 8), 5, fill=(200, 40, 40), outline="black")
    return _png(image)


def _span(lo: float, hi: float) -> tuple[float, float]:
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.08
    return lo - pad, hi + pad


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- HTML -------------------------------------------------------------------------------


def plots(data: Outcomes) -> dict[str, bytes]:
    done = [r for r in measured(data.rows) if r.metrics.score is not None]
    base = data.baseline

    def kind(r: Result, on_front: bool) -> str:
        return "recommended" if r.recommended else "front" if on_front else "other"

    has_base = base.score is not None
    # The same units as the window and the table: chosen by the largest value shown.
    size_unit, per = units.size_unit(max([base.gzip_bytes] + [r.metrics.gzip_bytes for r in done]))
    time_unit, per_ms = units.time_unit(
        max([base.latency_ms.median] + [r.metrics.latency_ms.median for r in done])
    )
    return {
        "size": scatter_png(
            "Size vs accuracy",
            f"gzip size ({size_unit})",
            units.score_title(base.metric),
            [(r.metrics.gzip_bytes / per, r.metrics.score, kind(r, r.pareto)) for r in done],
            (base.gzip_bytes / per, base.score) if has_base else None,
        ),
        "latency": scatter_png(
            "Latency vs accuracy",
            f"median latency ({time_unit})",
            units.score_title(base.metric),
            [
                (r.metrics.latency_ms.median / per_ms, r.metrics.score, kind(r, r.pareto_latency))
                for r in done
            ],
            (base.latency_ms.median / per_ms, base.score) if has_base else None,
        ),
    }


def write_html(
    path: str | Path, data: Outcomes, fidelity: dict[str, tensor_fidelity.Fidelity] | None = None
) -> Path:
    """`fidelity`: quantized candidates' per-tensor figures by name (`read_fidelity`)."""
    fidelity = fidelity or {}
    images = plots(data)
    rows = csv_rows(data)
    e = html.escape
    shown_fields = [
        "name",
        "recipe",
        "status",
        *(f.key for f in figures.shown_in(figures.HTML)),
        "pareto",
        "recommended",
    ]
    head = "".join(f"<th>{e(f.replace('_', ' '))}</th>" for f in shown_fields)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(row[f]))}</td>" for f in shown_fields) + "</tr>"
        for row in rows
    )
    recipes = "".join(
        f"<details><summary>{e(r.name)}: {e(r.label)} ({e(r.status)})</summary>"
        f"<pre>{e(json.dumps(r.recipe.to_dict(), indent=2))}</pre>"
        + (f"<p class=err>{e(r.error)}</p>" if r.error else "")
        + "".join(f"<p>{e(n)}</p>" for n in (units.speed_notes(r.metrics) if r.metrics else []))
        + _fidelity_html(fidelity.get(r.name))
        + "</details>"
        for r in data.rows
    )
    chosen = data.recommended
    base = data.baseline
    base_text = (
        f"{units.size(base.size_bytes)} ({units.size(base.gzip_bytes)} gzipped), "
        f"{units.score(base)}, {units.latency(base)}"
    )
    pictures = "".join(
        f'<img alt="{e(name)} plot" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for name, png in images.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(data.title)} — TFLite Optimization Studio</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th {{ background: #f0f0f0; }} td:nth-child(2) {{ text-align: left; }}
img {{ margin: 0.5em 1em 0.5em 0; border: 1px solid #ddd; }}
.err {{ color: #b00020; }} .rec {{ background: #eef8ee; padding: 0.5em 1em; }}
</style></head><body>
<h1>{e(data.title)}</h1>
<p>{e(data.source)} — written {time.strftime("%Y-%m-%d %H:%M")} by TFLite Optimization Studio.</p>
<h2>Float baseline</h2><p>{e(base_text)}</p>
<h2>Recommendation</h2>
<p class=rec>Within {data.budget:g} point(s) of the float model: smallest
<b>{e(chosen.smallest or "none")}</b>, fastest <b>{e(chosen.fastest or "none")}</b>.</p>
<h2>Trade-offs</h2>
<p>Red marker: float baseline; green: Pareto front (nothing is both smaller/faster and more
accurate); circled: recommended.</p>
{pictures}
<h2>Candidates</h2>
<table><tr>{head}</tr>{body}</table>
<h2>Recipes</h2>
{recipes}
</body></html>
"""
    return atomic.write_text(path, page)


def _fidelity_html(f: tensor_fidelity.Fidelity | None) -> str:
    """The candidate's per-tensor fidelity: its summary and the five worst tensors."""
    if f is None:
        return ""
    e = html.escape
    worst = "".join(
        f"<tr><td>{e(t.layer)}</td><td>{e(t.name[:80])}</td><td>{t.snr_db:.1f}</td>"
        f"<td>{t.mse:.3g}</td></tr>"
        for t in f.worst(5)
    )
    table = (
        f"<table><tr><th>layer</th><th>tensor</th><th>SNR (dB)</th><th>MSE</th></tr>{worst}</table>"
        if worst
        else ""
    )
    return f"<p>{e(f.summary())}</p>{table}"


def read_fidelity(folder: str | Path, data: Outcomes) -> dict[str, tensor_fidelity.Fidelity]:
    """Each candidate's `fidelity.json` in a session or sweep folder, where there is one."""
    found = {r.name: tensor_fidelity.read(Path(folder) / r.name) for r in data.rows}
    return {name: f for name, f in found.items() if f is not None}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)


def write(folder: str | Path, out: str | Path) -> tuple[Path, Path]:
    """The HTML report at `out` and its CSV beside it (same name, .csv)."""
    data = read(folder)
    out = Path(out)
    html_path = write_html(out, data, read_fidelity(folder, data))
    return html_path, write_csv(out.with_suffix(".csv"), data)
