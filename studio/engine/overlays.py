"""A candidate's `.tflite` as Model Explorer overlays (node-data JSON files).

The figures are read back from the file itself (`tflite_file.weight_figures`, one per
weight tensor, with the index of the operator that reads it), so every key names an
operator of the graph Model Explorer draws.  What each overlay shows and how it is
coloured is the table in `studio.values.overlays`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from studio.engine.tflite_file import graph_id, read_checked, weight_figures
from studio.values import atomic
from studio.values.overlays import OVERLAYS


def node_data(data: bytes) -> dict[str, dict[str, Any]]:
    """Every overlay of `OVERLAYS` for this file, by key."""
    figures = weight_figures(data)
    graph = graph_id(data)
    return {o.key: o.node_data(figures, graph) for o in OVERLAYS}


def write(model: str | Path, out: str | Path) -> list[Path]:
    """Write KEY.json for each overlay of `model` into `out`; their paths, in table order."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [
        atomic.write_json(out / f"{key}.json", data)
        for key, data in node_data(read_checked(Path(model))).items()
    ]


if __name__ == "__main__":  # `python -m studio.engine.overlays MODEL OUT` (jobs/explorer.py)
    write(sys.argv[1], sys.argv[2])
