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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from studio.values import atomic
from studio.values.errors import StudioError
from studio.values.recipe import Recipe
from studio.values.session import Session
from studio.values.sweep import flag


class ReportError(StudioError):
    """A folder that is neither a studio session nor a sweep."""


@dataclass(frozen=True)
class ReportData:
    title: str
    source: str  # model and data, as the user gave them
    baseline: dict[str, Any]
    budget: float
    rows: list[dict[str, Any]]  # name, label, recipe, status, metrics, error + flags
    recommended: dict[str, str | None]


def collect(folder: str | Path) -> ReportData:
    """Read a session folder (session.json) or a sweep folder (results.json)."""
    folder = Path(folder)
    if (folder / "session.json").is_file():
        return _from_session(folder)
    if (folder / "results.json").is_file():
        return _from_sweep(folder)
    raise ReportError(
        f"{folder} is neither a studio session (session.json) nor a sweep (results.json)"
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ReportError(f"cannot read {path}: {err}") from err


def _from_session(folder: Path) -> ReportData:
    session = Session.open(folder)
    if session.baseline is None:
        raise ReportError(f"session {folder} has no measured float baseline yet")
    rows = [
        {
            "name": c.name,
            "label": c.label,
            "recipe": c.recipe.to_dict(),
            "status": c.status,
            "metrics": dict(c.metrics) if c.metrics else None,
            "error": c.message or None,
        }
        for c in session.candidates.values()
    ]
    return _judged(
        f"Session {folder.name}",
        f"model {session.model}, data {session.data}",
        session.baseline,
        session.budget,
        rows,
    )


def _from_sweep(folder: Path) -> ReportData:
    results = _read_json(folder / "results.json")
    summary = _read_json(folder / "sweep.json") if (folder / "sweep.json").is_file() else {}
    baseline = summary.get("baseline") or _read_json(folder / "baseline.json")
    rows = [
        {
            "name": r["name"],
            "label": Recipe.from_dict(r["recipe"]).describe(),
            "recipe": r["recipe"],
            "status": "failed" if r.get("error") else "done",
            "metrics": r.get("metrics"),
            "error": r.get("error"),
        }
        for r in results
    ]
    return _judged(f"Sweep {folder.name}", str(folder), baseline, summary.get("budget", 1.0), rows)


def _judged(title, source, baseline, budget, rows) -> ReportData:
    flagged, chosen = flag(rows, baseline, budget)
    return ReportData(title, source, baseline, budget, flagged, chosen)


# -- CSV --------------------------------------------------------------------------------

CSV_FIELDS = [
    "name",
    "recipe",
    "status",
    "size_bytes",
    "gzip_bytes",
    "times_smaller_gzip",
    "metric",
    "accuracy",
    "change_vs_float",
    "agreement",
    "output_rmse",
    "latency_median_ms",
    "latency_p90_ms",
    "threads",
    "peak_memory_bytes",
    "pareto",
    "pareto_latency",
    "recommended",
    "error",
]


def _accuracy(m: dict | None) -> float | None:
    return None if not m or m.get("accuracy") is None else m["accuracy"]


def csv_rows(data: ReportData) -> list[dict[str, Any]]:
    base = data.baseline
    out = []
    for r in [
        {
            "name": "float baseline",
            "label": "float",
            "status": "done",
            "metrics": base,
            "error": None,
            "pareto": "",
            "pareto_latency": "",
            "recommended": [],
        },
        *data.rows,
    ]:
        m = r["metrics"] or {}
        acc, base_acc = _accuracy(m), _accuracy(base)
        out.append(
            {
                "name": r["name"],
                "recipe": r["label"],
                "status": r["status"],
                "size_bytes": m.get("size_bytes", ""),
                "gzip_bytes": m.get("gzip_bytes", ""),
                "times_smaller_gzip": round(base["gzip_bytes"] / m["gzip_bytes"], 2) if m else "",
                "metric": m.get("metric", ""),
                "accuracy": "" if acc is None else acc,
                "change_vs_float": ""
                if acc is None or base_acc is None
                else round(acc - base_acc, 6),
                "agreement": "" if m.get("agreement") is None else m["agreement"],
                "output_rmse": "" if m.get("output_rmse") is None else m["output_rmse"],
                "latency_median_ms": m["latency_ms"]["median"] if m else "",
                "latency_p90_ms": m["latency_ms"]["p90"] if m else "",
                "threads": m["latency_ms"]["threads"] if m else "",
                "peak_memory_bytes": m.get("peak_memory_bytes", ""),
                "pareto": r.get("pareto", ""),
                "pareto_latency": r.get("pareto_latency", ""),
                "recommended": " ".join(r.get("recommended", [])),
                "error": r["error"] or "",
            }
        )
    return out


def write_csv(path: str | Path, data: ReportData) -> Path:
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


def plots(data: ReportData) -> dict[str, bytes]:
    done = [r for r in data.rows if r["metrics"] and _accuracy(r["metrics"]) is not None]
    top1 = data.baseline.get("metric", "top1") == "top1"
    acc_label = "top-1 accuracy (%)" if top1 else "MAE"

    def acc(m: dict) -> float:
        return 100 * m["accuracy"] if top1 else m["accuracy"]

    def kind(r: dict, flag_name: str) -> str:
        return "recommended" if r.get("recommended") else "front" if r.get(flag_name) else "other"

    base = data.baseline
    has_base = _accuracy(base) is not None
    return {
        "size": scatter_png(
            "Size vs accuracy",
            "gzip size (KB)",
            acc_label,
            [
                (r["metrics"]["gzip_bytes"] / 1024, acc(r["metrics"]), kind(r, "pareto"))
                for r in done
            ],
            (base["gzip_bytes"] / 1024, acc(base)) if has_base else None,
        ),
        "latency": scatter_png(
            "Latency vs accuracy",
            "median latency (ms)",
            acc_label,
            [
                (r["metrics"]["latency_ms"]["median"], acc(r["metrics"]), kind(r, "pareto_latency"))
                for r in done
            ],
            (base["latency_ms"]["median"], acc(base)) if has_base else None,
        ),
    }


def write_html(path: str | Path, data: ReportData) -> Path:
    images = plots(data)
    rows = csv_rows(data)
    e = html.escape
    shown_fields = [
        "name",
        "recipe",
        "status",
        "gzip_bytes",
        "times_smaller_gzip",
        "accuracy",
        "change_vs_float",
        "agreement",
        "latency_median_ms",
        "peak_memory_bytes",
        "pareto",
        "recommended",
    ]
    head = "".join(f"<th>{e(f.replace('_', ' '))}</th>" for f in shown_fields)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(row[f]))}</td>" for f in shown_fields) + "</tr>"
        for row in rows
    )
    recipes = "".join(
        f"<details><summary>{e(r['name'])}: {e(r['label'])} ({e(r['status'])})</summary>"
        f"<pre>{e(json.dumps(r['recipe'], indent=2))}</pre>"
        + (f"<p class=err>{e(r['error'])}</p>" if r["error"] else "")
        + "</details>"
        for r in data.rows
    )
    chosen = data.recommended
    base = data.baseline
    acc = _accuracy(base)
    base_text = (
        f"{base['size_bytes'] / 1024:.1f} KB ({base['gzip_bytes'] / 1024:.1f} KB gzipped), "
        + ("no labels" if acc is None else f"{base.get('metric', 'top1')} {acc:.4f}")
        + f", median latency {base['latency_ms']['median']:.4g} ms on "
        f"{base['latency_ms']['threads']} thread(s)"
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
<b>{e(chosen["smallest"] or "none")}</b>, fastest <b>{e(chosen["fastest"] or "none")}</b>.</p>
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


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)


def write(folder: str | Path, out: str | Path) -> tuple[Path, Path]:
    """The HTML report at `out` and its CSV beside it (same name, .csv)."""
    data = collect(folder)
    out = Path(out)
    html_path = write_html(out, data)
    return html_path, write_csv(out.with_suffix(".csv"), data)
