"""Which candidates are worth a look: the Pareto front of two figures.

A candidate is on the front when no other candidate is at least as good on both figures
and better on one.  Pure Python on plain numbers, so the plots, the sweep's results.json
and the tests all use the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence


def front(points: Sequence[tuple[float, float]], *, maximize_y: bool = True) -> list[int]:
    """Indices of the non-dominated points, ordered by x.

    x is always a cost (size, latency: lower is better); y is accuracy (higher is
    better) or, with `maximize_y=False`, an error such as MAE (lower is better).
    """
    sign = 1.0 if maximize_y else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -sign * points[i][1]))
    kept: list[int] = []
    best = float("-inf")
    for i in order:
        y = sign * points[i][1]
        if y > best:
            kept.append(i)
            best = y
    return kept
