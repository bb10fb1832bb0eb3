"""vqcodec._threads.parallel_map: the map the tiles and the colour quantizer run on."""

import threading

import pytest

from vqcodec._threads import parallel_map


@pytest.mark.parametrize("threads", [None, 1, 2, 3, 8])
def test_results_come_in_the_items_order_whatever_the_threads(threads):
    assert parallel_map(lambda n: n * n, range(23), threads) == [n * n for n in range(23)]


def test_the_calling_thread_takes_a_share_and_no_more_threads_run_than_asked():
    seen = []
    barrier = threading.Barrier(3, timeout=10)  # all three shares run at once

    def work(item):
        if item < 3:
            barrier.wait()
        seen.append(threading.get_ident())
        return item

    assert parallel_map(work, range(9), 3) == list(range(9))
    assert threading.get_ident() in seen
    assert len(set(seen)) == 3


def test_the_first_failing_item_s_error_is_raised_and_the_threads_stop():
    done = []

    def work(item):
        if item < 3:
            raise ValueError(f"item {item}")
        done.append(item)

    # Each of the three shares fails at its first item (0, 1 and 2), whichever thread is
    # quicker: item 0's error is raised, and no thread goes on to a second item.
    with pytest.raises(ValueError, match="item 0"):
        parallel_map(work, range(100), 3)
    assert done == []
