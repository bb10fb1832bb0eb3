"""Quantizers: fit a codebook of at most K code vectors and label every pixel with one.

Input is an (N, C) uint8 array of pixels; output is ``(codebook, labels)`` with codebook a
(K', C) uint8 array, K' <= K, its rows distinct and in ascending lexicographic order, and
labels an (N,) uint8 array of row indices. Codewords are stored as uint8, so every quantizer
here optimises over *integer* codewords, the form the decoder will see.

- Fewer distinct pixel values than K: the codebook is those values, the result lossless.
- Gray (C == 1): exact. 1-D k-means over the 256-bin histogram is solved to its global
  optimum over integer codewords by dynamic programming (``_optimal_gray``).
- Colour (C == 3; RGBA below): weighted k-means on the *distinct* colours (a photo has
  2-35x fewer than pixels), in the C core (``csrc/kmeans.c``): variance-split seeding and Lloyd on
  5- or 6-bit-per-channel bins, Lloyd on the exact colours (pruned search: Hamerly's bounds
  and sort-means), and for K > 16 one round of split and merge past Lloyd's local minimum.
  Centres are rounded to uint8, and every distinct colour goes to its nearest rounded
  codeword (exact integer search, ties to the lower index). Single-threaded; the same
  pixels and seed give the same bytes on any platform.
- RGBA (straight alpha) is quantized as *premultiplied* colour, (r a, g a, b a, a) / 255:
  colour error counts in proportion to alpha, so the visible pixels get the codewords, and
  every fully transparent pixel is the one colour (0, 0, 0, 0) whatever it hides, with a
  codeword of its own (transparent stays exactly transparent). k-means fits the other
  K - 1 to the premultiplied visible colours rounded to uint8; each centre becomes the
  straight codeword (r 255 / a, g 255 / a, b 255 / a, a), rounded, alpha within
  OPAQUE_SNAP of 255 made 255 (opaque stays opaque); the final mapping is the exact integer
  premultiplied distance (``_core.nearest(premultiplied=True)``). An image with at most K
  distinct pixels stays lossless, hidden colours included; else, if it has at most K once
  its transparent pixels are (0, 0, 0, 0), it is exactly that.

``dither_labels`` relabels pixels against a codebook with Floyd-Steinberg error diffusion
(``csrc/dither.c``: serpentine, integer arithmetic, alpha not diffused).
"""

from __future__ import annotations

import itertools

import numpy as np

from . import _core
from ._threads import parallel_map, workers

_SEED_MASK = (1 << 64) - 1  # the C core's generator takes 64 bits of the seed
# A codeword whose alpha comes out within this of opaque is made opaque. A cluster of a
# sprite's opaque body takes in a few antialiased edge pixels, and its mean alpha, 250-254,
# would show the background faintly through the whole body; measured on soft-edged sprites
# at 4 and 6 bits, snapping keeps every opaque pixel opaque for < 0.02 dB of premultiplied
# PSNR.
OPAQUE_SNAP = 8


def quantize(
    pixels: np.ndarray, k: int, seed: int = 0, threads: int | None = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a codebook of at most ``k`` entries to ``pixels`` (N, C) and label each pixel.
    ``threads`` (None: every core) share the colour passes over the pixels; the result
    does not depend on them."""
    if pixels.shape[1] == 1:
        return _quantize_gray(pixels[:, 0], k)
    if pixels.shape[1] == 4:
        return _quantize_rgba(pixels, k, seed)
    return _quantize_colour(pixels, k, seed, threads)


# Pixels a thread takes at least: below that, a thread costs more than it saves; and
# distinct colours, whose nearest-codeword search costs about 60x a pixel's labelling.
_PART_PIXELS = 1 << 20
_PART_COLOURS = 1 << 14
_PRESENCE_BYTES = (1 << 24) // 8  # the index's presence map: a bit per RGB colour
# Past this many distinct colours the histogram is counted in one part: every part returns
# the whole colour list and counts (11 bytes a colour), 185 MB a part at 2**24 colours.
_MANY_COLOURS = 1 << 20


def _ranges(count: int, threads: int | None, least: int = _PART_PIXELS) -> list[tuple[int, int]]:
    """(start, stop) of the parts ``count`` items are cut in: one a thread, each of at
    least ``least`` items (a whole small image is one part)."""
    parts = max(1, min(workers(threads), count // least))
    cuts = [count * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(cuts))


def _parts(pixels: np.ndarray, threads: int | None) -> list[np.ndarray]:
    return [pixels[start:stop] for start, stop in _ranges(len(pixels), threads)]


def rgb_histogram(
    pixels: np.ndarray, threads: int | None = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct colours of (N, 3) ``pixels`` in ascending order, their counts (uint64),
    and the index ``_core.rgb_labels`` takes. Parts of the pixels are marked into separate
    indexes on separate threads, the presence maps OR-ed, and counted part by part."""
    parts = _parts(pixels, threads)
    indexes = [np.zeros(_core.RGB_INDEX_BYTES, np.uint8) for _ in parts]
    parallel_map(lambda i: _core.rgb_mark(parts[i], indexes[i]), range(len(parts)), threads)
    index = indexes[0]
    present = index[:_PRESENCE_BYTES].view(np.uint64)
    for other in indexes[1:]:
        np.bitwise_or(present, other[:_PRESENCE_BYTES].view(np.uint64), out=present)
    colours = _core.rgb_rank(index)
    if colours > _MANY_COLOURS:  # each part's list would be colours x 11 bytes: count once
        parts = [pixels]
    counted = parallel_map(lambda part: _core.rgb_histogram(part, index, colours), parts, threads)
    counts = np.frombuffer(counted[0][1], np.uint64).copy()
    for _, more in counted[1:]:
        counts += np.frombuffer(more, np.uint64)
    return index, np.frombuffer(counted[0][0], np.uint8).reshape(-1, 3), counts


# --- dithering: error diffusion onto a fitted codebook ----------------------------------


def check_dither(strength: object) -> float:
    """``strength`` as a float in [0, 1], or TypeError / ValueError saying what is wrong."""
    if isinstance(strength, bool) or not isinstance(
        strength, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"dither must be a number, not {type(strength).__name__}")
    value = float(strength)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ValueError(f"dither must be 0..1 (0 off, 1 full Floyd-Steinberg), not {value}")
    return value


def dither_labels(image: np.ndarray, codebook: np.ndarray, strength: float) -> np.ndarray:
    """Labels of ``image`` (H, W, C) on ``codebook`` (K, C) by Floyd-Steinberg error
    diffusion, the diffused error scaled by ``strength`` (0..1, in steps of 1/256; 0 is each
    pixel's nearest codeword). Gray and colour are diffused per channel; RGBA diffuses colour
    (alpha-weighted) and never alpha, and matches pixels as ``quantize`` does
    (premultiplied). Same inputs, same labels, on any platform (integer arithmetic).
    """
    height, width, channels = image.shape
    steps = round(check_dither(strength) * _core.DITHER_FULL)
    labels = np.empty(height * width, np.uint8)
    _core.dither(
        np.ascontiguousarray(image, dtype=np.uint8),
        width,
        height,
        channels,
        np.ascontiguousarray(codebook, dtype=np.uint8),
        steps,
        labels,
    )
    return labels


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


# --- colour: weighted k-means in the C core (RGB, RGBA) --------------------------------


def _quantize_colour(
    pixels: np.ndarray, k: int, seed: int, threads: int | None = 1
) -> tuple[np.ndarray, np.ndarray]:
    """RGB: k-means on the distinct colours, from the C core's presence-map histogram (3 MiB
    a thread whatever the image size)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    index, colours, counts = rgb_histogram(pixels, threads)

    def label_pixels(colour_labels: np.ndarray) -> np.ndarray:
        labels = np.empty(len(pixels), np.uint8)

        def one(part: tuple[int, int]) -> None:
            start, stop = part
            status = _core.rgb_labels(pixels[start:stop], index, colour_labels, labels[start:stop])
            _checked(status)

        parallel_map(one, _ranges(len(pixels), threads), threads)
        return labels

    if len(colours) <= k:
        return colours, label_pixels(np.arange(len(colours), dtype=np.uint8))
    centres = np.empty((k, 3), np.float64)
    clusters = np.empty(len(colours), np.uint8)
    _core.kmeans(colours, counts, 3, k, seed & _SEED_MASK, centres, clusters)
    rounded = np.clip(np.rint(centres), 0, 255).astype(np.uint8)
    keys, codeword_of_cluster = np.unique(_row_keys(rounded), return_inverse=True)
    codebook = _rows_from_keys(keys, 3)
    # Each colour's search starts at its cluster's codeword: the nearest one, or near it.
    hint = codeword_of_cluster.ravel().astype(np.uint8)[clusters]
    colour_labels = np.empty(len(colours), np.uint8)

    def search(part: tuple[int, int]) -> None:
        start, stop = part
        _checked(
            _core.nearest(
                colours[start:stop], 3, codebook, hint[start:stop], colour_labels[start:stop]
            )
        )

    parallel_map(search, _ranges(len(colours), threads, _PART_COLOURS), threads)
    return codebook, label_pixels(colour_labels)


def _quantize_rgba(pixels: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """RGBA: premultiplied k-means (module docstring). RGBA's 2**32 colours do not fit a
    presence map, so it sorts (np.unique)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    keys, inverse, counts = np.unique(_row_keys(pixels), return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    if len(keys) <= k:  # lossless, hidden colours included
        return _rows_from_keys(keys, 4), inverse.astype(np.uint8)
    # Every fully transparent pixel becomes (0, 0, 0, 0), the smallest key: order is kept.
    keys, merged = np.unique(
        np.where(keys & np.uint32(0xFF), keys, np.uint32(0)), return_inverse=True
    )
    counts = np.bincount(merged, weights=counts).astype(np.uint64)  # exact: below 2**53
    inverse = merged.ravel()[inverse]
    colours = _rows_from_keys(keys, 4)
    if len(colours) <= k:
        return colours, inverse.astype(np.uint8)
    # k-means on the premultiplied colours. round(v a / 255) is (v a + 127) // 255 exactly:
    # v a / 255 is never an odd multiple of 1/2.
    wide = colours.astype(np.uint32)
    premultiplied = wide.copy()
    premultiplied[:, :3] = (wide[:, :3] * wide[:, 3:] + 127) // 255
    pm_keys, pm_of_colour = np.unique(_row_keys(premultiplied), return_inverse=True)
    pm_of_colour = pm_of_colour.ravel()
    points = _rows_from_keys(pm_keys, 4)
    weights = np.bincount(pm_of_colour, weights=counts).astype(np.uint64)
    # Fully transparent pixels keep a codeword of their own, (0, 0, 0, 0), so that they stay
    # fully transparent: k-means fits the other k - 1 to the visible pixels. (Left to itself
    # it would merge them with the faintest visible pixels into a codeword of alpha 2 or 3,
    # hidden colour showing faintly over the whole background.)
    reserved = int(pm_keys[0] == 0 and k > 1)  # (0, 0, 0, 0), the smallest key: points[0]
    clusters = np.zeros(len(points), np.uint8)
    visible, fit = points[reserved:], k - reserved
    if len(visible) <= fit:
        centres = visible.astype(np.float64)
        clusters[reserved:] = np.arange(len(visible))
    else:
        centres = np.empty((fit, 4), np.float64)
        _core.kmeans(
            visible, weights[reserved:], 4, fit, seed & _SEED_MASK, centres, clusters[reserved:]
        )
    rounded = _straight_codewords(centres)
    if reserved:
        rounded = np.vstack([np.zeros((1, 4), np.uint8), rounded])
        clusters[reserved:] += 1
    keys, codeword_of_cluster = np.unique(_row_keys(rounded), return_inverse=True)
    codebook = _rows_from_keys(keys, 4)
    hint = codeword_of_cluster.ravel().astype(np.uint8)[clusters][pm_of_colour]
    colour_labels = np.empty(len(colours), np.uint8)
    _checked(_core.nearest(colours, 4, codebook, hint, colour_labels, True))
    return codebook, colour_labels[inverse]


def _straight_codewords(centres: np.ndarray) -> np.ndarray:
    """Premultiplied centres (K, 4) as straight-alpha uint8 codewords. Colour is
    premultiplied / (a / 255) with a the codeword's own rounded alpha: for a cluster with
    mean premultiplied colour m, the straight colour minimising the premultiplied error at
    alpha a is m 255 / a. Alpha 0 gives (0, 0, 0, 0); alpha 255 - OPAQUE_SNAP or more, 255."""
    alpha = np.clip(np.rint(centres[:, 3:]), 0, 255)
    alpha[alpha >= 255 - OPAQUE_SNAP] = 255
    safe = np.where(alpha > 0, alpha, 1.0)
    colour = np.where(alpha > 0, np.clip(np.rint(centres[:, :3] * 255.0 / safe), 0, 255), 0)
    return np.hstack([colour, alpha]).astype(np.uint8)


def _checked(status: int) -> None:
    if status != 0:  # the arguments come from this module, so this is a bug
        raise RuntimeError(f"colour kernel failed ({status})")


def _row_keys(rows: np.ndarray) -> np.ndarray:
    """One uint32 per row whose order is the rows' lexicographic order (C <= 4 bytes)."""
    keys = np.zeros(len(rows), np.uint32)
    for channel in range(rows.shape[1]):
        keys = (keys << np.uint32(8)) | rows[:, channel].astype(np.uint32)
    return keys


def _rows_from_keys(keys: np.ndarray, channels: int) -> np.ndarray:
    shifts = np.arange(channels - 1, -1, -1, dtype=np.uint32) * np.uint32(8)
    return ((keys[:, None] >> shifts) & np.uint32(0xFF)).astype(np.uint8)
