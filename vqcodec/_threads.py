"""A map over a thread pool, for the C kernels that release the GIL (tiles, the colour
quantizer's passes over the pixels). The results are in the items' order, so they do not
depend on how many threads ran."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers(threads: int | None) -> int:
    """``threads``, or every core when None."""
    return threads if threads is not None else os.cpu_count() or 1


def check_threads(threads: object) -> int | None:
    """``threads`` as None (every core) or an int >= 1: TypeError or ValueError otherwise."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int or None, not {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1 (None: every core), not {threads}")
    return threads


def parallel_map(function: Callable[[T], R], items: Iterable[T], threads: int | None) -> list[R]:
    """``[function(item) for item in items]`` on ``threads`` threads (None: every core).

    One task a thread, each taking every n-th item (not a future an item: thousands of small
    tiles would cost more in futures than in work); once an item raises, the others stop at
    their next item, and the error is raised here.
    """
    items = list(items)
    count = min(workers(threads), len(items))
    if count <= 1:
        return [function(item) for item in items]
    results: list = [None] * len(items)
    failed = threading.Event()

    def run(first: int) -> None:
        for number in range(first, len(items), count):
            if failed.is_set():
                return
            try:
                results[number] = function(items[number])
            except BaseException:
                failed.set()
                raise

    with ThreadPoolExecutor(max_workers=count) as pool:
        tasks = [pool.submit(run, first) for first in range(count)]
    for task in tasks:
        task.result()
    return results
