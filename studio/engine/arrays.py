"""Samples for one model input (or output), or for several, handled alike.

A model with one input takes one array; a model with several inputs takes a tuple with
one array per input, in the model's input order (and a model with several outputs gives,
and is trained against, one array per output).  These helpers let the engine count,
slice and pass data on without asking which, so the single-input path is the same code
as the multi-input one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Arrays = np.ndarray | tuple[np.ndarray, ...]


def parts(x: Arrays) -> tuple[np.ndarray, ...]:
    """One array per input (a single array is one part)."""
    return x if isinstance(x, tuple) else (x,)


def pack(items: Sequence[np.ndarray]) -> Arrays:
    """The inverse of `parts`: one array stays an array."""
    return items[0] if len(items) == 1 else tuple(items)


def count(x: Arrays) -> int:
    """Number of samples."""
    return len(parts(x)[0])


def take(x: Arrays, index: Any) -> Arrays:
    """The same samples (an index array, a slice or one position) of every part."""
    return pack([p[index] for p in parts(x)])


def sample(x: Arrays, i: int) -> Arrays:
    """Sample `i` with a batch axis of 1, as a phone runs it."""
    return take(x, slice(i, i + 1))


def for_keras(x: Arrays | None) -> Any:
    """What Keras's fit/predict/call take: the array, or a list with one per input
    (Keras reads a tuple as (x, y, weights))."""
    return list(x) if isinstance(x, tuple) else x
