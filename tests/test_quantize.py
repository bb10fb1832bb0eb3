"""The quantizers: the gray DP is the exact optimum over integer codebooks."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vqcodec.compare import sample_image
from vqcodec.quantize import _interval_costs, _optimal_gray, quantize


def brute_force_cost(values, weights, k):
    """Least cost over every split of the sorted values into k contiguous runs."""
    cost, _ = _interval_costs(values, weights)
    n = len(values)
    best = None
    for cuts in itertools.combinations(range(1, n), k - 1):
        bounds = (0, *cuts, n)
        total = sum(int(cost[bounds[i], bounds[i + 1] - 1]) for i in range(k))
        best = total if best is None else min(best, total)
    return best


def integer_sse(values, weights, centres):
    """Squared error when each value goes to its nearest integer centre (any assignment)."""
    distance = (values[:, None].astype(np.int64) - centres[None, :].astype(np.int64)) ** 2
    return int((distance.min(axis=1) * weights).sum())


@st.composite
def histograms(draw):
    n = draw(st.integers(2, 8))
    values = np.sort(draw(hnp.arrays(np.int64, n, elements=st.integers(0, 255), unique=True)))
    weights = draw(hnp.arrays(np.int64, n, elements=st.integers(1, 1000)))
    k = draw(st.integers(1, n))
    return values, weights, k


@given(histograms())
def test_dp_equals_brute_force(case):
    """Law: the DP's cost is the least over all contiguous partitions (exhaustive search)."""
    values, weights, k = case
    starts, centres = _optimal_gray(values, weights, k)
    assert len(starts) == k and starts[0] == 0 and (np.diff(starts) > 0).all()
    assert integer_sse(values, weights, centres) == brute_force_cost(values, weights, k)


@given(histograms(), st.data())
def test_dp_beats_any_integer_codebook(case, data):
    """Law: no integer codebook of k entries, with nearest assignment, has a lower error."""
    values, weights, k = case
    _, centres = _optimal_gray(values, weights, k)
    other = np.array(data.draw(st.lists(st.integers(0, 255), min_size=k, max_size=k)))
    assert integer_sse(values, weights, centres) <= integer_sse(values, weights, other)


@pytest.mark.parametrize("bits", range(1, 9))
def test_gray_mse_not_above_scikit_learn(bits):
    """On a real photo (the bundled sample, gray), at every bits: MSE <= the tutorial's
    KMeans(n_clusters=2**bits, n_init=4) with centroids rounded to uint8 as they'd be stored."""
    from sklearn.cluster import KMeans

    gray = np.asarray(sample_image().convert("L")).reshape(-1, 1)
    codebook, labels = quantize(gray, 2**bits)
    ours = np.mean((codebook[labels, 0].astype(float) - gray[:, 0]) ** 2)
    kmeans = KMeans(n_clusters=2**bits, n_init=4, random_state=0).fit(gray.astype(float))
    rounded = np.clip(np.rint(kmeans.cluster_centers_[:, 0]), 0, 255)
    theirs = np.mean((rounded[kmeans.labels_] - gray[:, 0]) ** 2)
    assert ours <= theirs


def test_colour_codebook_is_sorted_unique_and_labels_are_nearest():
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    codebook, labels = quantize(pixels, 16)
    keys = [tuple(row) for row in codebook]
    assert keys == sorted(set(keys))
    distances = ((pixels[:, None, :].astype(int) - codebook[None, :, :].astype(int)) ** 2).sum(-1)
    np.testing.assert_array_equal(distances[np.arange(500), labels], distances.min(axis=1))


def test_table_histogram_equals_the_sort(monkeypatch):
    """Large RGB images take the 2**24-table path; it must give exactly the sort's result."""
    from vqcodec import quantize as module

    rng = np.random.default_rng(9)
    pixels = rng.integers(0, 256, (3000, 3), dtype=np.uint8)
    pixels[::3] = pixels[0]  # repeated colours, so counts differ
    by_sort = quantize(pixels, 16, seed=3)
    monkeypatch.setattr(module, "_SORT_PIXELS", 100)
    monkeypatch.setattr(module, "_PIXEL_CHUNK", 512)  # several chunks, one partial
    by_table = quantize(pixels, 16, seed=3)
    np.testing.assert_array_equal(by_sort[0], by_table[0])
    np.testing.assert_array_equal(by_sort[1], by_table[1])
    lossless = quantize(pixels[:40], 256)
    monkeypatch.setattr(module, "_SORT_PIXELS", 10)
    np.testing.assert_array_equal(quantize(pixels[:40], 256)[1], lossless[1])


@pytest.mark.parametrize("bits", [2, 4, 6])
def test_colour_mse_close_to_scikit_learn_on_the_sample(bits):
    """On the bundled photo, colour MSE is within 2% of KMeans(n_init=4) on all pixels."""
    from sklearn.cluster import KMeans

    pixels = np.asarray(sample_image().convert("RGB")).reshape(-1, 3)
    codebook, labels = quantize(pixels, 2**bits)
    ours = np.mean((codebook[labels].astype(float) - pixels) ** 2)
    kmeans = KMeans(n_clusters=2**bits, n_init=4, random_state=0).fit(pixels.astype(float))
    rounded = np.clip(np.rint(kmeans.cluster_centers_), 0, 255)
    theirs = np.mean((rounded[kmeans.labels_] - pixels) ** 2)
    assert ours <= 1.02 * theirs


def test_fine_pass_on_bins_for_many_colours(monkeypatch):
    """Past _FINE_POINTS distinct colours the fine pass runs on bin means; the result stays
    a valid codebook with nearest-codeword labels and an error close to the exact pass."""
    from vqcodec import quantize as module

    pixels = np.asarray(sample_image().convert("RGB")).reshape(-1, 3)
    exact = quantize(pixels, 64)
    monkeypatch.setattr(module, "_FINE_POINTS", 1000)
    binned = quantize(pixels, 64)
    errors = [
        np.mean((book[labels].astype(float) - pixels) ** 2) for book, labels in (exact, binned)
    ]
    assert errors[1] <= 1.05 * errors[0]
    codebook, labels = binned
    distances = ((pixels[:, None, :].astype(int) - codebook[None].astype(int)) ** 2).sum(-1)
    np.testing.assert_array_equal(distances[np.arange(len(pixels)), labels], distances.min(axis=1))
