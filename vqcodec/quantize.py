"""Quantizers: fit a codebook of at most K code vectors and label every pixel with one.

Input is an (N, C) uint8 array of pixels; output is ``(codebook, labels)`` with codebook a
(K', C) uint8 array, K' <= K, its rows distinct and in ascending lexicographic order, and
labels an (N,) uint8 array of row indices. Codewords are stored as uint8, so every quantizer
here optimises over *integer* codewords, the form the decoder will see.

- Fewer distinct pixel values than K: the codebook is those values, the result lossless.
- Gray (C == 1): exact. 1-D k-means over the 256-bin histogram is solved to its global
  optimum over integer codewords by dynamic programming (``_optimal_gray``).
- Colour (C in 3, 4): weighted k-means on the *distinct* colours (a photo has 2-8x fewer than
  pixels), coarse to fine: greedy k-means++ and Lloyd on 5-bit-per-channel bin means, then
  Lloyd on the exact colours; centres rounded to uint8, and every distinct colour goes to its
  nearest rounded codeword. Plain numpy with float32 BLAS; deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np

_DISTANCE_CHUNK = 8192  # points per distance block: 8192 x 256 float32 = 8 MiB, in cache
_PIXEL_CHUNK = 1 << 20  # pixels per pass when keying or labelling a colour image
_SORT_PIXELS = 1 << 22  # up to this many pixels, distinct colours come from a sort
_COARSE_ITERATIONS, _FINE_ITERATIONS = 50, 20
_TOLERANCE = 1e-4  # stop when an iteration lowers the weighted error by less than this
_RESTARTS_UP_TO_16 = 4
_FINE_POINTS = 1 << 18  # past this many distinct colours, the fine pass runs on bin means


def quantize(pixels: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fit a codebook of at most ``k`` entries to ``pixels`` (N, C) and label each pixel."""
    if pixels.shape[1] == 1:
        return _quantize_gray(pixels[:, 0], k)
    return _quantize_colour(pixels, k, seed)


# --- gray: exact dynamic programming over the histogram ----------------------------------

# cost[i, j] with i > j is no run at all. A cached mask is 10x faster than np.tril_indices.
_BELOW_DIAGONAL = np.tri(256, k=-1, dtype=bool)


def _quantize_gray(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    histogram = np.bincount(values, minlength=256)
    present = np.flatnonzero(histogram)
    if present.size <= k:
        lut = np.zeros(256, np.uint8)
        lut[present] = np.arange(present.size, dtype=np.uint8)
        return present.astype(np.uint8)[:, None], np.take(lut, values)
    starts, centres = _optimal_gray(present, histogram[present], k)
    # Pixel value -> label: every present value inside interval m gets label m.
    lut = np.zeros(256, np.uint8)
    interval_of_present = np.repeat(np.arange(k), np.diff(np.append(starts, present.size)))
    lut[present] = interval_of_present
    return centres.astype(np.uint8)[:, None], np.take(lut, values)


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
    # Above any real cost (pixels x 255**2 < 2**50 below 2**34 pixels); two still fit int64.
    infinity = np.int64(1) << 60
    np.putmask(cost, _BELOW_DIAGONAL[:n, :n], infinity)  # a run must start at or before its end
    best = cost[0].copy()
    choice = np.zeros((k, n), np.int16)  # choice[m, j]: start of the last run
    candidate = np.empty((n - 1, n), np.int64)
    columns = np.arange(n)
    for m in range(1, k):
        # candidate[i - 1, j] = best[i - 1] + cost[i, j]: runs 0..m-1 cover values[0..i-1] and
        # run m is values[i..j]. Infeasible entries are >= infinity and < 2 * infinity.
        np.add(best[:-1, None], cost[1:, :], out=candidate)
        start = np.argmin(candidate, axis=0)
        best = candidate[start, columns]
        best[:m] = infinity  # m + 1 runs cannot cover fewer than m + 1 values
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


# --- colour: weighted k-means, coarse to fine -------------------------------------------


def _quantize_colour(pixels: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    colours, counts, label_pixels = _colour_histogram(pixels)
    if len(colours) <= k:
        return colours, label_pixels(np.arange(len(colours), dtype=np.uint8))
    centres = _kmeans(colours, counts, k, seed)
    codebook = _sorted_unique_rows(np.clip(np.rint(centres), 0, 255).astype(np.uint8))
    return codebook, label_pixels(_nearest_codeword(colours, codebook))


def _colour_histogram(pixels: np.ndarray):
    """Distinct colours (sorted), their pixel counts, and a function that labels every pixel
    given one label per distinct colour.

    Up to _SORT_PIXELS pixels, a sort (np.unique) is fastest. Past that, for RGB, a 2**24-entry
    int32 table (64 MiB) first marks the colours present, then holds each one's index: no
    sort and no per-pixel index array, so memory stays flat. Its cost is mostly page faults
    on first touch (~0.2 s here), which only pays on large images. RGBA's 2**32 colours do
    not fit a table, so RGBA always sorts.
    """
    if pixels.shape[1] == 3 and len(pixels) > _SORT_PIXELS:
        table = np.zeros(1 << 24, np.int32)
        for chunk in _chunks(pixels):
            table[_row_keys(chunk)] = 1
        keys = np.flatnonzero(table).astype(np.uint32)
        table[keys] = np.arange(len(keys), dtype=np.int32)
        counts = np.zeros(len(keys), np.int64)
        for chunk in _chunks(pixels):
            counts += np.bincount(table[_row_keys(chunk)], minlength=len(keys))

        def label_pixels(colour_labels: np.ndarray) -> np.ndarray:
            labels = np.empty(len(pixels), np.uint8)
            starts = range(0, len(pixels), _PIXEL_CHUNK)
            for start, chunk in zip(starts, _chunks(pixels), strict=True):
                labels[start : start + len(chunk)] = colour_labels[table[_row_keys(chunk)]]
            return labels

        return _rows_from_keys(keys, 3), counts, label_pixels
    keys, inverse, counts = np.unique(_row_keys(pixels), return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    return _rows_from_keys(keys, pixels.shape[1]), counts, lambda labels: labels[inverse]


def _chunks(pixels: np.ndarray):
    for start in range(0, len(pixels), _PIXEL_CHUNK):
        yield pixels[start : start + _PIXEL_CHUNK]


def _kmeans(colours: np.ndarray, counts: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Weighted k-means of the distinct colours: a coarse pass on 5-bit-per-channel bins (each
    bin stands for its pixels' mean colour), then Lloyd on the exact colours from there, or,
    past _FINE_POINTS distinct colours (large images), on the finest bins that fit.

    The coarse pass is cheap, so for K <= 16, where k-means' local minima differ most (0.1 to
    0.4 dB on the corpus photos), it runs from several seeds and keeps the best.
    """
    exact_points = colours.astype(np.float32)
    exact_weights = counts.astype(np.float64)
    coarse, bin_weights = _bin_means(colours, exact_points, exact_weights, 5)
    if len(coarse) > 2 * k:
        restarts = _RESTARTS_UP_TO_16 if k <= 16 else 1
        runs = [
            _lloyd(coarse, bin_weights, _kmeans_plus_plus(coarse, bin_weights, k, seed + run),
                   _COARSE_ITERATIONS)
            for run in range(restarts)
        ]  # fmt: skip
        start = min(runs, key=lambda run: run[1])[0]
    else:
        start = _kmeans_plus_plus(exact_points, exact_weights, k, seed)
    points, weights = exact_points, exact_weights
    for bits in (7, 6):
        if len(points) <= _FINE_POINTS:
            break
        points, weights = _bin_means(colours, exact_points, exact_weights, bits)
    return _lloyd(points, weights, start, _FINE_ITERATIONS)[0]


def _bin_means(
    colours: np.ndarray, points: np.ndarray, weights: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Group colours by their top ``bits`` bits per channel: each occupied bin's weighted mean
    colour and total weight."""
    _, bin_of_colour = np.unique(_row_keys(colours >> (8 - bits)), return_inverse=True)
    bin_of_colour = bin_of_colour.ravel()
    totals = np.bincount(bin_of_colour, weights=weights)
    means = [
        np.bincount(bin_of_colour, weights=weights * points[:, channel]) / totals
        for channel in range(points.shape[1])
    ]
    return np.stack(means, axis=1).astype(np.float32), totals


def _kmeans_plus_plus(points: np.ndarray, weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii): each next centre is the best, by
    total weighted squared distance, of 2 + ln(k) candidates drawn with probability
    proportional to weight x squared distance to the nearest centre so far."""
    rng = np.random.default_rng(seed)
    trials = 2 + int(np.log(k))
    centres = np.empty((k, points.shape[1]), np.float32)
    centres[0] = points[rng.choice(len(points), p=weights / weights.sum())]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    for index in range(1, k):
        mass = np.cumsum(weights * nearest)
        if mass[-1] <= 0:  # every point already is a centre: repeat the last one
            centres[index:] = centres[index - 1]
            break
        picks = np.minimum(np.searchsorted(mass, rng.random(trials) * mass[-1]), len(points) - 1)
        candidates = np.minimum(
            nearest[None, :], ((points[None, :, :] - points[picks][:, None, :]) ** 2).sum(axis=2)
        )
        best = int(np.argmin(candidates @ weights))
        centres[index] = points[picks[best]]
        nearest = candidates[best]
    return centres


def _lloyd(
    points: np.ndarray, weights: np.ndarray, centres: np.ndarray, iterations: int
) -> tuple[np.ndarray, float]:
    """Weighted Lloyd iterations until the weighted error improves by less than _TOLERANCE.
    Returns the centres and their weighted error. An empty cluster is moved to the point
    that costs the most where it is."""
    centres = centres.astype(np.float32).copy()
    weighted = [weights * points[:, channel] for channel in range(points.shape[1])]
    norms = (points * points).sum(axis=1)
    augmented = _augment(points)
    previous = error = np.inf
    for _ in range(iterations):
        labels, partial = _assign(augmented, centres)
        distances = np.maximum(partial + norms, 0)  # float32 rounding can dip below zero
        error = float(distances @ weights)
        sizes = np.bincount(labels, weights=weights, minlength=len(centres))
        filled = sizes > 0
        for channel, values in enumerate(weighted):
            sums = np.bincount(labels, weights=values, minlength=len(centres))
            centres[filled, channel] = sums[filled] / sizes[filled]
        for empty in np.flatnonzero(~filled):
            worst = int(np.argmax(distances * weights))
            centres[empty] = points[worst]
            distances[worst] = 0
        if previous - error <= _TOLERANCE * error:
            break
        previous = error
    return centres, error


def _augment(points: np.ndarray) -> np.ndarray:
    """Points as float32 rows [p, 1], the left factor of :func:`_assign`'s matmul."""
    return np.hstack([points.astype(np.float32), np.ones((len(points), 1), np.float32)])


def _assign(augmented: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre per point (ties to the lower index) and |c|^2 - 2 p.c for it.

    |p - c|^2 = |p|^2 + [p, 1] . [-2c, |c|^2]; |p|^2 is the same for every centre, so the
    comparison leaves it out and a caller that needs distances adds it. One matmul per chunk,
    the chunks small enough to stay in cache (13 ms for 113k points x 256 centres here, 86 ms
    as one big matrix).
    """
    table = np.vstack([-2 * centres.T, (centres * centres).sum(axis=1)[None, :]])
    labels = np.empty(len(augmented), np.intp)
    partial = np.empty(len(augmented), np.float64)
    for start in range(0, len(augmented), _DISTANCE_CHUNK):
        scores = augmented[start : start + _DISTANCE_CHUNK] @ table
        best = scores.argmin(axis=1)
        labels[start : start + len(best)] = best
        partial[start : start + len(best)] = np.take_along_axis(scores, best[:, None], 1)[:, 0]
    return labels, partial


def _row_keys(rows: np.ndarray) -> np.ndarray:
    """One uint32 per row whose order is the rows' lexicographic order (C <= 4 bytes)."""
    keys = np.zeros(len(rows), np.uint32)
    for channel in range(rows.shape[1]):
        keys = (keys << np.uint32(8)) | rows[:, channel].astype(np.uint32)
    return keys


def _sorted_unique_rows(rows: np.ndarray) -> np.ndarray:
    return _rows_from_keys(np.unique(_row_keys(rows)), rows.shape[1])


def _rows_from_keys(keys: np.ndarray, channels: int) -> np.ndarray:
    shifts = np.arange(channels - 1, -1, -1, dtype=np.uint32) * np.uint32(8)
    return ((keys[:, None] >> shifts) & np.uint32(0xFF)).astype(np.uint8)


def _nearest_codeword(points: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codeword (squared Euclidean, ties to the lower index) per point.

    :func:`_assign` in float32 is exact here: points and codewords are integers, so every
    product and partial sum is an integer below 4 * 2 * 255**2 < 2**24.
    """
    book = codebook.astype(np.float32)
    nearest = np.empty(len(points), np.uint8)
    for start in range(0, len(points), _PIXEL_CHUNK):  # bounds the float32 copy of points
        chunk = points[start : start + _PIXEL_CHUNK]
        nearest[start : start + len(chunk)] = _assign(_augment(chunk), book)[0]
    return nearest
