"""Parts of a data set's evaluation split, named in the data source itself.

The automatic search (`studio.orchestrator.autotune`) must choose on data it then does
not report on: a winner picked on the same samples it is judged by looks better than it
is.  So its evaluation samples are halved, once, with a fixed shuffle: the search part
("D::search") scores every trial, the held-out part ("D::holdout") re-measures only
the winner and the float model.  The fine-tune and calibration part is the same in
both.  Naming the part in the source string lets every job, session and file that
takes a data source take a part of one, unchanged.  No TensorFlow here.
"""

from __future__ import annotations

SEARCH = "search"
HOLDOUT = "holdout"
PARTS = (SEARCH, HOLDOUT)
SEPARATOR = "::"  # not in file names the studio writes; ':' alone is a Windows drive
SHUFFLE_SEED = 20261203  # fixed: the two parts never depend on a recipe's seed


def with_part(source: str, part: str) -> str:
    """`source` restricted to `part` of its evaluation samples."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; parts are {', '.join(PARTS)}")
    return f"{whole(source)}{SEPARATOR}{part}"


def parse(source: str) -> tuple[str, str | None]:
    """(the data source as the user gave it, its part or None)."""
    text = str(source)
    base, sep, part = text.rpartition(SEPARATOR)
    if sep and part in PARTS:
        return base, part
    return text, None


def whole(source: str) -> str:
    """The data source without a part (what the user gave; what settings remember)."""
    return parse(source)[0]


def halves(n: int) -> tuple[int, int]:
    """How many of `n` evaluation samples the search part and the held-out part get."""
    search = (n + 1) // 2
    return search, n - search
