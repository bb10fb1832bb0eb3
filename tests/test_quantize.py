"""The quantizers: the gray DP is the exact optimum over integer codebooks; colour k-means
runs in the C core (vqcodec._core), whose kernels are checked here against plain numpy."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vqcodec.quantize as quantizing
from vqcodec import _core
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


# --- colour ---------------------------------------------------------------------------


def brute_nearest(points, codebook):
    """Index of the nearest codeword per point, ties to the lower index (argmin's rule)."""
    distances = ((points[:, None, :].astype(int) - codebook[None, :, :].astype(int)) ** 2).sum(-1)
    return distances.argmin(axis=1)


def lifted(rows):
    """Coordinates in which quantize's metric is squared Euclidean: the bytes for gray and
    RGB; for RGBA 255 times the premultiplied colour, (r a, g a, b a, 255 a)."""
    rows = rows.astype(np.int64)
    if rows.shape[-1] != 4:
        return rows
    return np.concatenate([rows[..., :3] * rows[..., 3:], 255 * rows[..., 3:]], axis=-1)


def assert_codebook_contract(pixels, codebook, labels, k, check=None):
    """Spec of quantize: at most k distinct rows in ascending order, uint8; labels uint8,
    each pixel's label a nearest codeword (checked on the first ``check`` pixels) by
    quantize's metric (RGBA: premultiplied, since the alpha change)."""
    assert codebook.dtype == np.uint8 and labels.dtype == np.uint8
    assert 1 <= len(codebook) <= k and labels.shape == (len(pixels),)
    keys = [tuple(row) for row in codebook]
    assert keys == sorted(set(keys))
    pixels, labels = pixels[:check], labels[:check]
    distances = ((lifted(pixels)[:, None, :] - lifted(codebook)[None, :, :]) ** 2).sum(-1)
    got = distances[np.arange(len(pixels)), labels]
    np.testing.assert_array_equal(got, distances.min(axis=1))


def colour_mse(pixels, codebook, labels):
    return float(np.mean((codebook[labels].astype(float) - pixels) ** 2))


@st.composite
def nearest_cases(draw):
    """Points and codebooks from a few values, so that equal distances (ties) are common;
    the codebook may repeat rows; hints anywhere in the codebook, or none."""
    channels = draw(st.sampled_from([3, 4]))
    values = st.sampled_from([0, 1, 2, 3, 127, 128, 254, 255])
    n = draw(st.integers(1, 60))
    entries = draw(st.integers(1, 40))
    points = draw(hnp.arrays(np.uint8, (n, channels), elements=values))
    codebook = draw(hnp.arrays(np.uint8, (entries, channels), elements=values))
    hint = draw(st.none() | hnp.arrays(np.uint8, n, elements=st.integers(0, entries - 1)))
    return points, codebook, hint


@given(nearest_cases())
def test_nearest_equals_brute_force(case):
    """Law: the pruned search gives exactly brute force's answer, ties to the lower index,
    whatever the hints (they only say where to start)."""
    points, codebook, hint = case
    out = np.empty(len(points), np.uint8)
    assert _core.nearest(points, points.shape[1], codebook, hint, out) == 0
    np.testing.assert_array_equal(out, brute_nearest(points, codebook))


def test_nearest_equals_brute_force_on_full_codebooks():
    """256 codewords spread over the cube and points everywhere: the pruning is exercised
    where it matters, with and without hints."""
    rng = np.random.default_rng(3)
    for channels in (3, 4):
        codebook = rng.integers(0, 256, (256, channels), dtype=np.uint8)
        codebook[200:] = codebook[:56]  # repeated rows: ties between codewords
        points = rng.integers(0, 256, (5000, channels), dtype=np.uint8)
        want = brute_nearest(points, codebook)
        for hint in (None, rng.integers(0, 256, 5000, dtype=np.uint8), want.astype(np.uint8)):
            out = np.empty(5000, np.uint8)
            assert _core.nearest(points, channels, codebook, hint, out) == 0
            np.testing.assert_array_equal(out, want)


def test_nearest_reports_a_hint_outside_the_codebook():
    points = np.zeros((3, 3), np.uint8)
    out = np.empty(3, np.uint8)
    status = _core.nearest(
        points, 3, np.zeros((2, 3), np.uint8), np.array([0, 2, 1], np.uint8), out
    )
    assert status == _core.ERR_LABEL


@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 300), st.just(3)),
                  elements=st.sampled_from([0, 1, 7, 128, 255])))  # fmt: skip
def test_rgb_histogram_equals_numpy_unique(pixels):
    """Law: the presence-map histogram is np.unique over the rows: sorted colours, their
    counts, and each pixel's position among them (through rgb_labels), whether the pixels
    are indexed in one part or in several on threads."""
    index, colours, counts = quantizing.rgb_histogram(pixels)
    want, inverse, want_counts = np.unique(pixels, axis=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(colours, want)
    np.testing.assert_array_equal(counts, want_counts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quantizing, "_PART_PIXELS", 7)  # parts of 7 pixels and more, 3 threads
        split_index, split_colours, split_counts = quantizing.rgb_histogram(pixels, threads=3)
    np.testing.assert_array_equal(split_index, index)
    np.testing.assert_array_equal(split_colours, want)
    np.testing.assert_array_equal(split_counts, want_counts)
    positions = np.arange(len(colours), dtype=np.uint8) if len(colours) <= 256 else None
    if positions is not None:
        labels = np.empty(len(pixels), np.uint8)
        assert _core.rgb_labels(pixels, index, positions, labels) == 0
        np.testing.assert_array_equal(labels, inverse.ravel())


def test_rgb_labels_rejects_a_colour_the_index_lacks():
    index, _, _ = quantizing.rgb_histogram(np.array([[1, 2, 3]], np.uint8))
    labels = np.empty(2, np.uint8)
    pixels = np.array([[1, 2, 3], [3, 2, 1]], np.uint8)
    assert _core.rgb_labels(pixels, index, np.zeros(1, np.uint8), labels) < 0


def test_kernels_check_their_arguments():
    """The glue checks every length and shape before it allocates or runs a kernel."""
    colours = np.arange(30, dtype=np.uint8).reshape(10, 3)
    counts = np.ones(10, np.uint64)
    centres, clusters = np.empty((4, 3)), np.empty(10, np.uint8)
    _core.kmeans(colours, counts, 3, 4, 0, centres, clusters)  # the valid call
    bad_calls = [
        (colours, counts[:9], 3, 4, 0, centres, clusters),  # counts too short
        (colours, counts, 3, 11, 0, np.empty((11, 3)), clusters),  # k > colours
        (colours, counts, 3, 0, 0, np.empty((0, 3)), clusters),  # k < 1
        (colours, counts, 3, 257, 0, np.empty((257, 3)), clusters),  # k > 256
        (colours, counts, 2, 4, 0, centres, clusters),  # channels
        (colours[:0], counts[:0], 3, 1, 0, centres[:1], clusters[:0]),  # no colours
        (colours, counts, 3, 4, 0, centres[:3], clusters),  # centres too short
        (colours, counts, 3, 4, 0, centres, clusters[:9]),  # assignment too short
        (colours, counts, 3, 4, 0, np.empty(13).view(np.uint8)[4:100], clusters),  # unaligned
        (colours, np.full(10, 1 << 47, np.uint64), 3, 4, 0, centres, clusters),  # weights sum
    ]
    for args in bad_calls:
        with pytest.raises(ValueError):
            _core.kmeans(*args)
    out = np.empty(10, np.uint8)
    with pytest.raises(ValueError):
        _core.nearest(colours, 3, np.zeros((257, 3), np.uint8), None, out)  # > 256 codewords
    with pytest.raises(ValueError):
        _core.nearest(colours, 3, np.zeros((2, 3), np.uint8), np.zeros(9, np.uint8), out)
    with pytest.raises(ValueError):
        _core.nearest(colours[:, :2].copy(), 3, np.zeros((2, 3), np.uint8), None, out)
    index = np.zeros(_core.RGB_INDEX_BYTES, np.uint8)
    with pytest.raises(ValueError):
        _core.rgb_mark(b"", index)
    with pytest.raises(ValueError):
        _core.rgb_mark(b"\x00" * 4, index)  # not whole pixels
    with pytest.raises(ValueError):
        _core.rgb_mark(colours, index[:-1])
    with pytest.raises(ValueError):
        _core.rgb_rank(index[1:-7])  # short and unaligned
    _core.rgb_mark(colours, index)
    assert _core.rgb_rank(index) == 10
    with pytest.raises(ValueError):
        _core.rgb_histogram(colours, index, 9)  # the index holds 10 colours
    with pytest.raises(ValueError):
        _core.rgb_histogram(np.zeros((1, 3), np.uint8), index, 10)  # a colour it lacks
    with pytest.raises(ValueError):
        _core.rgb_labels(colours, index[:-1], np.zeros(10, np.uint8), out)
    with pytest.raises(ValueError):
        _core.rgb_labels(colours, index, np.zeros(10, np.uint8), out[:9])


def test_kmeans_is_deterministic_and_its_centres_lie_in_the_data():
    rng = np.random.default_rng(5)
    colours = np.unique(rng.integers(0, 256, (4000, 3), dtype=np.uint8), axis=0)
    counts = rng.integers(1, 50, len(colours)).astype(np.uint64)
    for k in (2, 16, 256):
        runs = []
        for _ in range(2):
            centres, clusters = np.empty((k, 3)), np.empty(len(colours), np.uint8)
            _core.kmeans(colours, counts, 3, k, 11, centres, clusters)
            runs.append((centres, clusters))
        assert runs[0][0].tobytes() == runs[1][0].tobytes()  # bit for bit
        np.testing.assert_array_equal(runs[0][1], runs[1][1])
        centres, clusters = runs[0]
        assert (centres >= colours.min(axis=0)).all() and (centres <= colours.max(axis=0)).all()
        assert clusters.max() < k


def test_colour_codebook_is_sorted_unique_and_labels_are_nearest():
    rng = np.random.default_rng(7)
    for channels in (3, 4):
        pixels = rng.integers(0, 256, (500, channels), dtype=np.uint8)
        for k in (2, 16, 200):
            codebook, labels = quantize(pixels, k)
            assert_codebook_contract(pixels, codebook, labels, k)


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_lossless_when_colours_fit(channels):
    """Law: with at most k distinct colours, the codebook is exactly those colours."""
    rng = np.random.default_rng(8)
    palette = rng.integers(0, 256, (40, channels), dtype=np.uint8)
    pixels = palette[rng.integers(0, 40, 3000)]
    codebook, labels = quantize(pixels, 64)
    np.testing.assert_array_equal(codebook, np.unique(palette, axis=0))
    np.testing.assert_array_equal(codebook[labels], pixels)


def test_colour_is_deterministic():
    """Same pixels and seed, same bytes: also from a strided view and a copy."""
    pixels = np.asarray(sample_image().convert("RGB")).reshape(-1, 3)
    for k in (16, 256):
        first = quantize(pixels, k, seed=4)
        again = quantize(pixels.copy(), k, seed=4)
        strided = quantize(np.asarray(sample_image().convert("RGBA"))[..., :3].reshape(-1, 3), k, 4)
        for other in (again, strided):
            np.testing.assert_array_equal(first[0], other[0])
            np.testing.assert_array_equal(first[1], other[1])


@pytest.mark.parametrize(
    "k, digest",
    [
        (16, "c05104babbfbf3f1a7cb2fc9c1eb91c1d0432572c1d4bfb3aa29128a8c0edf62"),
        (256, "b02a2a1588b6af0a39b3e62e55bc04725a556662cd0eccf20813cb78b825fa01"),
    ],
)
def test_colour_gives_the_same_bytes_on_every_platform(k, digest):
    """The k-means fixes the order of every float operation and the build forbids fused
    multiply-adds, so codebook and labels are the same bytes whatever the compiler or CPU.
    (A deliberate change of the algorithm changes these digests: update them with it.)"""
    import hashlib

    pixels = np.asarray(sample_image().convert("RGB")).reshape(-1, 3)
    codebook, labels = quantize(pixels, k)
    assert hashlib.sha256(codebook.tobytes() + labels.tobytes()).hexdigest() == digest


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


def test_colour_at_256_beats_scikit_learn_on_the_sample():
    """At 256 colours, on the bundled photo: MSE no higher than scikit-learn's KMeans
    (k-means++, one run to convergence) on the distinct colours weighted by their counts,
    the same problem our k-means solves."""
    from sklearn.cluster import KMeans

    pixels = np.asarray(sample_image().convert("RGB")).reshape(-1, 3)
    codebook, labels = quantize(pixels, 256)
    assert_codebook_contract(pixels, codebook, labels, 256, check=50000)
    colours, inverse, counts = np.unique(pixels, axis=0, return_inverse=True, return_counts=True)
    kmeans = KMeans(n_clusters=256, n_init=1, random_state=0)
    kmeans.fit(colours.astype(float), sample_weight=counts)
    rounded = np.clip(np.rint(kmeans.cluster_centers_), 0, 255).astype(np.uint8)
    theirs = colour_mse(pixels, rounded, brute_nearest(colours, rounded)[inverse.ravel()])
    assert colour_mse(pixels, codebook, labels) <= theirs


def test_colour_with_more_distinct_colours_than_the_exact_pass_takes():
    """Past 2**18 distinct colours the exact pass runs on bins: the contract still holds,
    and on uniform noise the error is below that of the product grid of 6 x 6 x 7 levels
    (252 codewords), which k-means must beat."""
    rng = np.random.default_rng(6)
    pixels = rng.integers(0, 256, (600 * 600, 3), dtype=np.uint8)
    assert len(np.unique(pixels, axis=0)) > 1 << 18
    codebook, labels = quantize(pixels, 256)
    assert_codebook_contract(pixels, codebook, labels, 256, check=20000)
    axes = [np.rint((np.arange(n) + 0.5) * 256 / n - 0.5) for n in (6, 6, 7)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3).astype(np.uint8)
    grid_labels = np.empty(len(pixels), np.uint8)
    assert _core.nearest(pixels, 3, grid, None, grid_labels) == 0
    assert colour_mse(pixels, codebook, labels) < colour_mse(pixels, grid, grid_labels)
