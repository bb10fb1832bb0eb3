"""The entropy2 coding (spec §4.3): lossless on any label map, never larger than packed,
deterministic, exact about where its bytes end, and refusing what no encoder writes."""

import hashlib
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec import _core, container, tiles
from vqcodec.codec import decode_parts
from vqcodec.coding import entropy2
from vqcodec.compare import sample_image
from vqcodec.container import Header, LabelCoding, packed_size

from . import reference_entropy2
from .strategies import images
from .test_entropy import SHAPES, label_maps

ROOT = pathlib.Path(__file__).resolve().parent.parent


def encode_labels(labels, width, height, bits, limit, chunk=0, mode=0):
    """The C encoder with an explicit byte budget (the coding module's is the packed size);
    mode 1 (bits > 4) codes literals as residuals."""
    return _core.entropy2_encode(
        np.ascontiguousarray(labels), width, height, bits, limit, chunk, mode
    )


def reference_entropy2_refuses(payload, width, height, bits):
    """The spec's reading of a bad payload: the reason it refuses it."""
    with pytest.raises(ValueError) as refused:
        reference_entropy2.decode(payload, width, height, bits)
    return str(refused.value)


def decode_labels(payload, width, height, bits, entries=None):
    header = Header(
        width, height, 1, bits, entries or 1 << bits, len(payload), LabelCoding.ENTROPY2
    )
    return entropy2.decode(payload, header)


@pytest.fixture(scope="module")
def sample():
    return np.asarray(sample_image())


@given(label_maps(), st.booleans())
def test_labels_round_trip(case, residual):
    """Law: decode_labels(encode_labels(L)) == L for every label map, every bits 1..8 (noise,
    constant, stripes, blocks, ramps; 1x1, 1xN and Nx1 included by SHAPES), in both literal
    modes where bits > 4."""
    grid, bits = case
    height, width = grid.shape
    mode = int(residual and bits > 4)
    coded = encode_labels(grid.ravel(), width, height, bits, 4 * grid.size + 64, mode=mode)
    assert coded is not None
    assert len(coded) >= 8 and len(coded) % 2 == 0
    np.testing.assert_array_equal(decode_labels(coded, width, height, bits), grid.ravel())


@pytest.mark.parametrize("shape", [(1, 1), (1, 300), (300, 1), (3, 700), (2, 257)])
@pytest.mark.parametrize("bits", [1, 4, 5, 8])
def test_degenerate_and_long_runs_round_trip(shape, bits):
    """Constant maps and rows longer than a run's 256-pixel cap, flat and striped."""
    height, width = shape
    y, x = np.mgrid[:height, :width]
    for grid in (np.zeros(shape), np.full(shape, (1 << bits) - 1), (x // 300 + y) % 2):
        labels = grid.astype(np.uint8).ravel()
        coded = encode_labels(labels, width, height, bits, limit=4 * labels.size + 64)
        np.testing.assert_array_equal(decode_labels(coded, width, height, bits), labels)


@given(label_maps(), st.integers(1, 64), st.booleans())
def test_chunks_do_not_change_the_bytes(case, chunk, residual):
    """Law: the encoder's chunking (bounded memory) is invisible in its output, in both
    literal modes (chunk 1 ends a chunk right after the mode symbol)."""
    grid, bits = case
    height, width = grid.shape
    mode, limit = int(residual and bits > 4), 4 * grid.size + 64
    whole = encode_labels(grid.ravel(), width, height, bits, limit, mode=mode)
    assert encode_labels(grid.ravel(), width, height, bits, limit, chunk, mode) == whole


def test_chunks_on_a_photo(sample):
    labels = np.ascontiguousarray(sample[..., 1] >> 2)
    height, width = labels.shape
    whole = encode_labels(labels, width, height, 6, 10**6)
    for chunk in (1, 1000, 30_000):
        assert encode_labels(labels, width, height, 6, 10**6, chunk) == whole


@given(label_maps())
def test_limit_is_a_hard_cap(case):
    """Law: with a byte budget, the encoder returns bytes within it, or None."""
    grid, bits = case
    height, width = grid.shape
    full = encode_labels(grid.ravel(), width, height, bits, limit=4 * grid.size + 64)
    assert encode_labels(grid.ravel(), width, height, bits, limit=len(full) - 1) is None
    assert encode_labels(grid.ravel(), width, height, bits, limit=len(full)) == full


@given(images(max_side=24), st.integers(1, 8))
def test_entropy2_decodes_exactly_as_packed(image, bits):
    """Law: coding="entropy2" gives the same decoded array and labels as "packed", in a file
    no larger; when it keeps the entropy2 coding, strictly smaller."""
    packed = vqcodec.encode(image, bits, coding="packed")
    coded = vqcodec.encode(image, bits, coding="entropy2")
    np.testing.assert_array_equal(vqcodec.decode(coded), vqcodec.decode(packed))
    np.testing.assert_array_equal(decode_parts(coded)[2], decode_parts(packed)[2])
    assert len(coded) <= len(packed)
    if vqcodec.info(coded)["coding"] == "entropy2":
        assert len(coded) < len(packed)
    else:
        assert coded == packed


def test_a_photo_is_several_times_smaller(sample):
    for bits in (2, 4, 6):
        packed = vqcodec.encode(sample, bits, coding="packed")
        coded = vqcodec.encode(sample, bits, coding="entropy2")
        assert vqcodec.info(coded)["coding"] == "entropy2"
        assert len(coded) < len(packed) / 2
        np.testing.assert_array_equal(vqcodec.decode(coded), vqcodec.decode(packed))


def test_noise_falls_back_to_packed():
    noise = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    data = vqcodec.encode(noise, 8, coding="entropy2")
    assert vqcodec.info(data)["coding"] == "packed"
    assert data == vqcodec.encode(noise, 8, coding="packed")


def test_deterministic(sample):
    assert vqcodec.encode(sample, 5, coding="entropy2") == vqcodec.encode(
        sample, 5, coding="entropy2"
    )


@pytest.mark.parametrize("bits", range(1, 9))
def test_whole_bytes_are_consumed(bits):
    """The decoder reads exactly the encoder's bytes: a word fewer or more is an error."""
    grid = (np.add.outer(np.arange(20), np.arange(30)) // 3 % (1 << bits)).astype(np.uint8)
    coded = encode_labels(grid.ravel(), 30, 20, bits, limit=1000)
    with pytest.raises(vqcodec.FormatError, match="payload: 2 bytes left"):
        decode_labels(coded + b"\0\0", 30, 20, bits)
    with pytest.raises(vqcodec.FormatError, match="need bytes past its end"):
        decode_labels(coded[:-2], 30, 20, bits)
    with pytest.raises(vqcodec.FormatError, match="need bytes past its end"):
        decode_labels(coded[:-1], 30, 20, bits)


@given(st.binary(min_size=8, max_size=64), SHAPES, st.integers(1, 8))
def test_any_payload_decodes_or_is_refused(payload, shape, bits):
    """Law: any bytes decode to labels below 2**bits or raise FormatError naming the payload."""
    height, width = shape
    try:
        labels = decode_labels(payload, width, height, bits)
    except vqcodec.FormatError as error:
        assert str(error).startswith("payload: ")
    else:
        assert labels.shape == (height * width,)
        assert int(labels.max()) < 1 << bits


def test_each_refusal_is_reachable():
    """Each status the decoder returns has its payload and its message."""
    run = b"\x00\x01\x7f\xff\x00\x01\x00\x00\x00\x00"  # first run symbol e = 15: L >= 2**13
    with pytest.raises(vqcodec.FormatError, match="a run is as long as its span"):
        decode_labels(run, 8, 8, 2)
    with pytest.raises(vqcodec.FormatError, match="need bytes past its end"):
        decode_labels(run[:8], 8, 8, 2)  # the run symbol's renormalisation needs a word
    with pytest.raises(vqcodec.FormatError, match="state does not start or end"):
        decode_labels(b"\x00\x00\xff\xff\x00\x01\x00\x00", 8, 8, 2)  # a state below 2**16
    coded = encode_labels(np.zeros(64, np.uint8), 8, 8, 2, 100)
    broken = coded[:4] + bytes([coded[4] ^ 0x01]) + coded[5:]
    with pytest.raises(vqcodec.FormatError, match="state does not start or end"):
        decode_labels(broken, 8, 8, 2)
    outside = encode_labels(np.full(64, 3, np.uint8), 8, 8, 2, 100)
    with pytest.raises(vqcodec.FormatError, match="outside the codebook"):
        decode_labels(outside, 8, 8, 2, entries=3)
    pixels = np.empty((64, 3), np.uint8)
    codebook = np.zeros((3, 3), np.uint8)
    assert _core.entropy2_decode(outside, 8, 8, 2, pixels, codebook, 3) == _core.ERR_LABEL
    # Residual mode, 2x1 at bits 5 (found by a search of random payloads): the first pixel's
    # literal excludes label 0, so its largest rank, 31, would be label 32.
    past_last = bytes.fromhex("95e6f3d1b90f116861c4ab0a")
    with pytest.raises(vqcodec.FormatError, match="outside the codebook"):
        decode_labels(past_last, 2, 1, 5)
    assert reference_entropy2_refuses(past_last, 2, 1, 5) == "label"


@pytest.mark.parametrize(
    ("pixels", "payload_bytes", "valid"),
    [
        (64, 8, True),
        (64, 6, False),  # below the two states
        (64, 9, False),  # odd: the coder reads 2-byte words
        (64, 16, False),  # not smaller than packed (64 x 2 bits = 16 bytes)
        (2**27, 8, True),  # 4 + 2**27 // 2**25 = 8
        (2**27 + 2**25, 8, False),  # 4 + 5 = 9 bytes at least
        (2**27 + 2**25, 10, True),
    ],
)
def test_header_refuses_a_payload_too_short_for_its_pixels(pixels, payload_bytes, valid):
    """Spec §4.3: the minimum payload, from the header alone, before any allocation."""
    width, height = (8, 8) if pixels == 64 else (pixels // 2**10, 2**10)
    header = Header(width, height, 1, 2, 4, payload_bytes, LabelCoding.ENTROPY2)
    data = container.build(header, bytes(4), bytes(payload_bytes))
    if valid:
        assert container.parse_header(memoryview(data), max_pixels=0) == header
    else:
        with pytest.raises(vqcodec.FormatError) as refused:
            container.parse_header(memoryview(data), max_pixels=0)
        assert refused.value.field == "payload_bytes"


def test_min_payload_rule_holds_on_the_flattest_image():
    """The rule is a bound, not a guess: a constant image of a million pixels still takes
    more bytes than it asks for (each run symbol covers 256 pixels)."""
    labels = np.zeros(1024 * 1024, np.uint8)
    coded = encode_labels(labels, 1024, 1024, 1, 10**6)
    assert len(coded) >= container.min_entropy2_payload(labels.size)
    np.testing.assert_array_equal(decode_labels(coded, 1024, 1024, 1), labels)


def test_packed_size_is_the_budget_in_encode(sample):
    """The encoder's cap is the packed size: entropy2 is chosen only when strictly smaller."""
    data = vqcodec.encode(sample[:1, :1], 1, coding="entropy2")
    assert vqcodec.info(data)["coding"] == "packed"
    assert vqcodec.info(data)["payload_bytes"] == packed_size(1, 1)


def test_cli_and_library_name_the_coding():
    assert container.CODING_NAMES["entropy2"] == LabelCoding.ENTROPY2 == 2
    assert container.CODING_NAMES["entropy"] == LabelCoding.ENTROPY == 1


def test_the_coder_bytes_are_pinned(sample):
    """The entropy2 coder's exact bytes on real and noise label maps at every bits, pinned by
    a digest taken from the coder that wrote the spec's examples (which the spec's text
    decodes, test_spec_text_decodes_what_the_encoder_writes): a change to a model, a context
    or the rANS coder, however small, fails here before it makes old files unreadable."""
    digest = hashlib.sha256()
    rng = np.random.default_rng(7)
    for bits in range(1, 9):
        labels = np.ascontiguousarray(sample[..., bits % 3] >> (8 - bits))
        height, width = labels.shape
        noise = rng.integers(0, 2**bits, (97, 131), dtype=np.uint8)
        for mode in (0, 1) if bits > 4 else (0,):
            digest.update(encode_labels(labels, width, height, bits, 10**7, mode=mode))
            digest.update(encode_labels(noise, 131, 97, bits, 10**7, mode=mode))
    assert digest.hexdigest() == "2ecab47029a3ce10c6281a5c8ef90e61bcca21d04ede04dbcd307b20f9fd020f"


def test_spec_text_decodes_the_examples():
    """Spec §4.3, read literally in Python (reference_entropy2.py), decodes each entropy2
    example to the labels the C decoder gives: the spec says what the code does."""
    examples = sorted((ROOT / "spec" / "examples").glob("*-entropy2.vq"))
    assert len(examples) >= 2
    for path in examples:
        header, _codebook, labels = decode_parts(path.read_bytes())
        payload = path.read_bytes()[-4 - header.payload_bytes : -4]
        if not header.tiled:
            spec_labels = reference_entropy2.decode(
                payload, header.columns, header.rows, header.bits
            )
            assert spec_labels == labels.tolist(), path.name
            continue
        # Spec §13: each tile shorter than its labels packed is an entropy2 payload of its own.
        grid = labels.reshape(header.rows, header.columns)
        section = path.read_bytes()[36 : 36 + header.codebook_bytes]
        index = tiles.read_index(payload[: header.index_bytes], header, section)
        for number in range(len(index)):
            offset, size, _ = index[number]
            column, row, columns, rows = header.tile_box(number)
            if size == header.tile_packed_bytes(number):
                continue
            got = reference_entropy2.decode(
                payload[offset : offset + size], columns, rows, header.bits
            )
            assert got == grid[row : row + rows, column : column + columns].ravel().tolist()


@settings(max_examples=80, deadline=None)
@given(label_maps(), st.booleans())
def test_spec_text_decodes_what_the_encoder_writes(case, residual):
    """The same on label maps of every bits 1..8 and both literal modes (runs, nibbles,
    residuals, raw bits): reference decode(C encode(L)) == L."""
    grid, bits = case
    height, width = grid.shape
    mode = int(residual and bits > 4)
    coded = encode_labels(grid.ravel(), width, height, bits, 4 * grid.size + 64, mode=mode)
    assert reference_entropy2.decode(coded, width, height, bits) == grid.ravel().tolist()


@pytest.mark.parametrize("bits", range(1, 9))
def test_the_writer_takes_residuals_for_gray_and_nibbles_for_colour(sample, bits):
    """Spec §10: the literal mode (symbol 0, the top bit of the first state's slot) is 1 for
    gray at bits > 4 and 0 for colour; for bits <= 4 there is no mode symbol."""
    for image, gray in ((sample[..., 0], True), (sample, False)):
        data = vqcodec.encode(image, bits)
        header, _codebook, _labels = decode_parts(data)
        assert header.label_coding == LabelCoding.ENTROPY2
        payload = data[-4 - header.payload_bytes : -4]
        slot = int.from_bytes(payload[:4], "big") & 0x7FFF
        if bits > 4:
            assert slot >> 14 == int(gray)
        with pytest.raises(ValueError, match="mode must be 0"):
            _core.entropy2_encode(_labels, header.width, header.height, bits, 10**7, 0, 2)
    with pytest.raises(ValueError, match="mode must be 0"):
        _core.entropy2_encode(np.zeros(4, np.uint8), 2, 2, 4, 100, 0, 1)
    with pytest.raises(ValueError, match="mode must be 0"):
        _core.entropy_encode(np.zeros(4, np.uint8), 2, 2, 6, 100, 0, 1)


def test_residuals_are_smaller_on_a_gray_photo_and_nibbles_on_a_colour_one(sample):
    """The reason for the writer's rule, on the bundled photo at 6 bits (on the corpus at
    bits 5-8: every gray file 3-13% smaller with residuals, every RGB file 1-8% larger)."""
    sizes = {}
    for name, image in (("gray", sample[..., 0]), ("colour", sample)):
        header, _codebook, labels = decode_parts(vqcodec.encode(image, 6, coding="packed"))
        sizes[name] = [
            len(encode_labels(labels, header.width, header.height, 6, 10**7, mode=mode))
            for mode in (0, 1)
        ]
    assert sizes["gray"][1] < sizes["gray"][0]
    assert sizes["colour"][0] < sizes["colour"][1]
