"""A map over a thread pool, for the C kernels that release the GIL (tiles, the colour
quantizer's passes over the pixels). The results are in the items' order, so they do not
depend on how many threads ran."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
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

    One share a thread, this one included, each taking every n-th item (not a future an
    item: thousands of small tiles would cost more in futures than in work). Once an item
    raises, the threads stop at their next item past it; the error raised here is that of
    the first item that fails, whatever the threads' timing.
    """
    items = list(items)
    count = min(workers(threads), len(items))
    if count <= 1:
        return [function(item) for item in items]
    results: list = [None] * len(items)
    errors: dict[int, BaseException] = {}
    earliest = [len(items)]  # the first item known to have failed
    lock = threading.Lock()

    def run(first: int) -> None:
        for number in range(first, len(items), count):
            if number > earliest[0]:
                return
            try:
                results[number] = function(items[number])
            except BaseException as error:
                with lock:
                    errors[number] = error
                    earliest[0] = min(earliest[0], number)
                return

    # This thread takes the first share: a region of four tiles would otherwise pay for a
    # pool and a thread more than the work it shares.
    helpers = [threading.Thread(target=run, args=(first,)) for first in range(1, count)]
    for helper in helpers:
        helper.start()
    try:
        run(0)
    except BaseException:  # Ctrl-C between two items: the others stop at their next
        earliest[0] = -1
        raise
    finally:
        for helper in helpers:
            helper.join()
    if errors:
        raise errors[min(errors)]
    return results
