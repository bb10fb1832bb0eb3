"""Quantizers: fit a codebook of at most K code vectors and label every pixel with one.

Input is an (N, C) uint8 array of pixels; output is ``(codebook, labels)`` with codebook a
(K', C) uint8 array, K' <= K, its rows distinct and in ascending lexicographic order, and
labels an (N,) uint8 array of row indices. Codewords are stored as uint8, so every quantizer
here optimises over *integer* codewords, the form the decoder will see.

- Fewer distinct pixel values than K: the codebook is those values, the result lossless.
- Gray (C == 1): exact. 1-D k-means over the 256-bin histogram is solved to its global
  optimum over integer codewords by dynamic programming (``_optimal_gray``).
- Colour (C in 3, 4): scikit-learn k-means on the *distinct* colours weighted by their counts
  (a photo has ~10x fewer distinct colours than pixels), rounded to uint8; every distinct
  colour then goes to its nearest rounded codeword.
"""

from __future__ import annotations

import numpy as np

_DISTANCE_CHUNK = 1 << 16  # distinct colours per chunk of the nearest-codeword search

# k-means restarts. At K <= 16 a single run sometimes settles in a local minimum 0.1-0.25 dB
# worse than the best of four (measured on the corpus photos), and four cost < 0.5 s; from
# K = 64 on, four runs take 3-4x as long for <= 0.05 dB, so one run.
_RESTARTS_UP_TO_16, _RESTARTS_ABOVE = 4, 1


def quantize(pixels: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fit a codebook of at most ``k`` entries to ``pixels`` (N, C) and label each pixel."""
    if pixels.shape[1] == 1:
        return _quantize_gray(pixels[:, 0], k)
    return _quantize_colour(pixels, k, seed)


# --- gray: exact dynamic programming over the histogram ----------------------------------


def _quantize_gray(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    histogram = np.bincount(values, minlength=256)
    present = np.flatnonzero(histogram)
    if present.size <= k:
        lut = np.zeros(256, np.uint8)
        lut[present] = np.arange(present.size, dtype=np.uint8)
        return present.astype(np.uint8)[:, None], lut[values]
    starts, centres = _optimal_gray(present, histogram[present], k)
    # Pixel value -> label: every present value inside interval m gets label m.
    lut = np.zeros(256, np.uint8)
    interval_of_present = np.repeat(np.arange(k), np.diff(np.append(starts, present.size)))
    lut[present] = interval_of_present
    return centres.astype(np.uint8)[:, None], lut[values]


def _interval_costs(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cost and best integer centre of every interval values[i..j] (i <= j) of the histogram.

    Returns (cost, centre), both (n, n) int64; entries with i > j are meaningless.
    For a weighted set with sums W, S1 = sum w x, S2 = sum w x^2, the integer c minimising
    sum w (x - c)^2 is the integer nearest the mean S1 / W (the cost is a parabola in c);
    ties go up. All arithmetic is exact int64: S2 <= 2**32 * 255**2 fits easily.
    """
    w = weights.astype(np.int64)
    x = values.astype(np.int64)
    cw = np.concatenate(([0], np.cumsum(w)))
    c1 = np.concatenate(([0], np.cumsum(w * x)))
    c2 = np.concatenate(([0], np.cumsum(w * x * x)))
    sum_w = cw[None, 1:] - cw[:-1, None]  # [i, j] = sum over values[i..j]
    sum_1 = c1[None, 1:] - c1[:-1, None]
    sum_2 = c2[None, 1:] - c2[:-1, None]
    safe_w = np.where(sum_w > 0, sum_w, 1)
    centre = (2 * sum_1 + safe_w) // (2 * safe_w)
    cost = sum_2 - 2 * centre * sum_1 + centre * centre * sum_w
    return cost, centre


def _optimal_gray(values: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Globally optimal k-partition of a sorted weighted 1-D set with integer centres.

    Nearest-codeword cells on a line are intervals, so an optimal codebook splits the sorted
    distinct values into k contiguous runs, each with its best integer centre. best[j] after
    round m is the least cost of covering values[0..j] with m + 1 runs:
        best_m[j] = min over 1 <= i <= j of best_{m-1}[i - 1] + cost[i, j].
    Returns the start index of each run and the runs' centres, both ascending.
    """
    n = values.size
    cost, centre = _interval_costs(values, weights)
    infinity = (
        np.int64(1) << 60
    )  # larger than any real cost, small enough that a sum cannot overflow
    upper = np.triu(np.ones((n, n), bool))
    cost = np.where(upper, cost, infinity)
    best = cost[0].copy()
    choice = np.zeros((k, n), np.int16)  # choice[m, j]: start of the last run
    for m in range(1, k):
        # candidate[i, j] = best[i - 1] + cost[i, j] for i >= 1; row 0 is infeasible here.
        candidate = np.minimum(best[:-1, None] + cost[1:, :], infinity)
        start = np.argmin(candidate, axis=0)
        best = candidate[start, np.arange(n)]
        choice[m] = start + 1
    starts = np.empty(k, np.int64)
    end = n - 1
    for m in range(k - 1, -1, -1):  # walk back through the k runs
        begin = int(choice[m, end]) if m > 0 else 0
        starts[m] = begin
        end = begin - 1
    ends = np.append(starts[1:], n) - 1
    centres = centre[starts, ends]
    return starts, centres


# --- colour: weighted k-means on distinct colours ----------------------------------------


def _quantize_colour(pixels: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    colours, inverse, counts = _distinct_colours(pixels)
    if len(colours) <= k:
        return colours, inverse.astype(np.uint8)
    # Imported here: they cost ~0.5 s and gray images never need them.
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    restarts = _RESTARTS_UP_TO_16 if k <= 16 else _RESTARTS_ABOVE
    kmeans = KMeans(n_clusters=k, n_init=restarts, random_state=seed)
    # scikit-learn's Lloyd step adds per-thread partial sums in whatever order threads finish;
    # with 3+ threads the centroids' last bits, and so rarely a rounded codeword, could vary
    # from run to run. One OpenMP thread fixes the order (measured: +20% time at K = 256).
    with threadpool_limits(limits=1, user_api="openmp"):
        kmeans.fit(colours.astype(np.float32), sample_weight=counts.astype(np.float32))
    codebook = np.clip(np.rint(kmeans.cluster_centers_), 0, 255).astype(np.uint8)
    codebook = _sorted_unique_rows(codebook)
    nearest = _nearest_codeword(colours, codebook)
    return codebook, nearest[inverse]


def _row_keys(rows: np.ndarray) -> np.ndarray:
    """One uint32 per row whose order is the rows' lexicographic order (C <= 4 bytes)."""
    keys = np.zeros(len(rows), np.uint32)
    for channel in range(rows.shape[1]):
        keys = (keys << np.uint32(8)) | rows[:, channel].astype(np.uint32)
    return keys


def _distinct_colours(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct rows of ``pixels``, each pixel's index into them, and their counts."""
    keys, inverse, counts = np.unique(_row_keys(pixels), return_inverse=True, return_counts=True)
    return _rows_from_keys(keys, pixels.shape[1]), inverse.ravel(), counts


def _sorted_unique_rows(rows: np.ndarray) -> np.ndarray:
    return _rows_from_keys(np.unique(_row_keys(rows)), rows.shape[1])


def _rows_from_keys(keys: np.ndarray, channels: int) -> np.ndarray:
    shifts = np.arange(channels - 1, -1, -1, dtype=np.uint32) * np.uint32(8)
    return ((keys[:, None] >> shifts) & np.uint32(0xFF)).astype(np.uint8)


def _nearest_codeword(points: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codeword (squared Euclidean, ties to the lower index) per point.

    float32 for BLAS speed (10x int32 here), and still exact: every product and partial sum
    is an integer below 4 * 2 * 255**2 < 2**24, which float32 represents exactly.
    """
    book = codebook.astype(np.float32)
    book_norms = (book * book).sum(axis=1)
    nearest = np.empty(len(points), np.uint8)
    for start in range(0, len(points), _DISTANCE_CHUNK):
        chunk = points[start : start + _DISTANCE_CHUNK].astype(np.float32)
        # |p - c|^2 = |p|^2 - 2 p.c + |c|^2; |p|^2 is the same for every c, so drop it.
        scores = book_norms[None, :] - 2 * (chunk @ book.T)
        nearest[start : start + len(chunk)] = np.argmin(scores, axis=1)
    return nearest
