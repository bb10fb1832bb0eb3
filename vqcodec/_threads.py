"""A map over a thread pool, for the C kernels that release the GIL (tiles, the colour
quantizer's passes over the pixels). The results are in the items' order, so they do not
depend on how many threads ran."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers(threads: int | None) -> int:
    """``threads``, or every core when None."""
    return threads if threads is not None else os.cpu_count() or 1


def parallel_map(function: Callable[[T], R], items: Iterable[T], threads: int | None) -> list[R]:
    """``[function(item) for item in items]`` on ``threads`` threads (None: every core)."""
    items = list(items)
    count = workers(threads)
    if count <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(count, len(items))) as pool:
        return list(pool.map(function, items))
