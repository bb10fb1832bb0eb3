"""Block vector quantization (spec §4.4): round trips at every block shape and label width,
the size law, every decoded block a codeword, lossless when the blocks are few enough."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import vqcodec
import vqcodec.pillow
from vqcodec import _core, blocks, codec, container
from vqcodec.cli import main

from .strategies import images

BLOCKS = st.tuples(st.integers(1, 8), st.integers(1, 8)).filter(lambda block: block != (1, 1))


def as_hwc(image: np.ndarray) -> np.ndarray:
    return image[..., None] if image.ndim == 2 else image


def reference_paint(width, height, block, codebook, labels):
    """Spec §4.4 literally, in numpy: the label grid's code vectors laid out block by block,
    row-major pixels within a block, then cut to width x height."""
    bw, bh = block
    columns, rows = -(-width // bw), -(-height // bh)
    channels = codebook.shape[1] // (bw * bh)
    tiles = codebook[labels.reshape(rows, columns)].reshape(rows, columns, bh, bw, channels)
    full = tiles.transpose(0, 2, 1, 3, 4).reshape(rows * bh, columns * bw, channels)
    return full[:height, :width]


def reference_pack(labels: np.ndarray, bits: int) -> bytes:
    """Spec §4.1 for any width: each label's low bits, MSB first, concatenated, zero-padded."""
    wide = labels.astype(">u2").view(np.uint8).reshape(-1, 2)
    return np.packbits(np.unpackbits(wide, axis=1)[:, 16 - bits :].ravel()).tobytes()


@given(st.integers(1, 16), st.data())
def test_wide_packing_is_the_spec_bit_order_and_inverts(bits, data):
    """Law: pack_wide == the spec's bit order (and == pack for bits <= 8); unpack inverts."""
    labels = data.draw(
        hnp.arrays(np.uint16, data.draw(st.integers(1, 200)), elements=st.integers(0, 2**bits - 1))
    )
    payload = _core.pack_wide(labels, bits)
    assert payload == reference_pack(labels, bits)
    if bits <= 8:
        assert payload == _core.pack(labels.astype(np.uint8), bits)
    out = np.empty_like(labels)
    _core.unpack_wide(payload, bits, out)
    np.testing.assert_array_equal(out, labels)


@settings(max_examples=60, deadline=None)
@given(
    images(max_side=20),
    BLOCKS,
    st.integers(1, 16),
    st.sampled_from(["packed", "entropy2", "entropy"]),
)
def test_block_round_trip_laws(image, block, bits, coding):
    """Laws, for any image, block shape, label width and coding:
    - decode(file) == the spec's painting of the file's codebook and labels (every decoded
      block is a codeword, cut at the edges);
    - each label is a nearest codeword of its block (edges repeated), by brute force;
    - lossless when the image has no more distinct blocks than 2**bits;
    - packed files obey the size law exactly; no file is larger than packed;
    - the same input gives the same bytes."""
    data = vqcodec.encode(image, bits, block=block, coding=coding)
    header, codebook, labels = codec.decode_parts(data)
    height, width = image.shape[:2]
    assert header.block == block and header.bits == bits
    decoded = vqcodec.decode(data)
    assert decoded.shape == image.shape
    painted = reference_paint(width, height, block, codebook, labels)
    np.testing.assert_array_equal(as_hwc(decoded), painted)
    vectors = blocks.to_vectors(as_hwc(image), block).astype(np.int64)
    distances = ((vectors[:, None, :] - codebook[None, :, :].astype(np.int64)) ** 2).sum(axis=2)
    np.testing.assert_array_equal(distances[np.arange(len(labels)), labels], distances.min(axis=1))
    if len(np.unique(vectors, axis=0)) <= 2**bits:
        np.testing.assert_array_equal(decoded, image)
    channels = as_hwc(image).shape[2]
    packed_law = (
        container.HEADER_BYTES
        + len(codebook) * block[0] * block[1] * channels
        + -(-header.labels * bits // 8)
        + container.TRAILER_BYTES
    )
    assert header.labels == -(-width // block[0]) * -(-height // block[1])
    if header.coding == "packed":
        assert len(data) == packed_law
    assert len(data) <= packed_law
    assert vqcodec.encode(image, bits, block=block, coding=coding) == data


def test_wider_labels_are_packed_and_entropy_codes_the_label_grid():
    y, x = np.mgrid[:64, :64]
    image = np.stack([x * 4, y * 4, (x ^ y) % 8 * 32], axis=-1).astype(np.uint8)
    wide = vqcodec.info(vqcodec.encode(image, 10, block=(2, 2)))
    assert wide["coding"] == "packed" and wide["bits"] == 10
    narrow = vqcodec.encode(image, 6, block=(4, 4))
    assert vqcodec.info(narrow)["coding"] == "entropy2"
    assert len(narrow) < len(vqcodec.encode(image, 6, block=(4, 4), coding="packed"))


def test_a_photo_like_image_goes_below_one_bit_a_pixel_and_beats_pixels_at_two():
    """The point of blocks: 4x4 blocks at 8 bits take 0.5 bit a pixel (+ codebook); at 2
    bits a pixel, 2x2 blocks of 256 codewords beat 4 colours a pixel."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[:96, :128]
    smooth = np.stack([x * 2, y * 2, (x + y)], axis=-1) + rng.normal(0, 4, (96, 128, 3))
    image = np.clip(smooth, 0, 255).astype(np.uint8)
    data = vqcodec.encode(image, 8, block=(4, 4), coding="packed")
    header = container.parse_header(memoryview(data))
    assert header.payload_bytes * 8 / header.pixels == 0.5
    pixels = vqcodec.decode(vqcodec.encode(image, 2, coding="packed"))
    blocky = vqcodec.decode(vqcodec.encode(image, 8, block=(2, 2), coding="packed"))
    assert codec.psnr(image, blocky) > codec.psnr(image, pixels) + 3


def test_block_options_are_checked():
    image = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match=r"bits must be 1\.\.8, not 9"):
        vqcodec.encode(image, 9)
    with pytest.raises(ValueError, match=r"bits must be 1\.\.16 with 2x2 blocks, not 17"):
        vqcodec.encode(image, 17, block=(2, 2))
    with pytest.raises(ValueError, match=r"block sides must be 1\.\.8"):
        vqcodec.encode(image, 2, block=(9, 1))
    with pytest.raises(TypeError, match="block must be a"):
        vqcodec.encode(image, 2, block=4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dither works on pixels"):
        vqcodec.encode(image, 2, block=(2, 2), dither=1.0)


def test_target_psnr_and_max_bytes_search_block_bits():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    image[:, :12] = 40
    data = vqcodec.encode(image, block=(2, 2), target_psnr=20)
    assert codec.psnr(image, vqcodec.decode(data)) >= 20
    fewer = vqcodec.info(data)["bits"] - 1
    assert codec.psnr(image, vqcodec.decode(vqcodec.encode(image, fewer, block=(2, 2)))) < 20
    small = vqcodec.encode(image, block=(2, 2), max_bytes=2000)
    assert len(small) <= 2000


def test_the_glue_checks_block_lengths():
    codebook = bytes(12)  # one 2x2 gray... of 3 channels
    for call in [
        lambda: _core.paint(np.zeros(4, np.uint16), 4, 4, 2, 2, codebook, 3, bytearray(47)),
        lambda: _core.paint(np.zeros(3, np.uint16), 4, 4, 2, 2, codebook, 3, bytearray(48)),
        lambda: _core.paint(np.zeros(4, np.uint16), 4, 4, 9, 2, codebook, 3, bytearray(48)),
        lambda: _core.paint(np.zeros(4, np.uint16), 4, 4, 2, 2, bytes(11), 3, bytearray(48)),
        lambda: _core.pack_wide(b"\0\0\0", 9),
        lambda: _core.pack_wide(b"\0\0", 17),
        lambda: _core.unpack_wide(b"\0\0", 9, np.zeros(2, np.uint16)),
        lambda: _core.block_nearest(
            bytes(8), 4, np.zeros((1, 3), np.float32), np.zeros(2, np.uint16), None
        ),
        lambda: _core.block_nearest(
            bytes(8), 4, np.zeros((1, 4), np.float32), np.zeros(3, np.uint16), None
        ),
    ]:
        with pytest.raises(ValueError):
            call()


def test_paint_reports_labels_outside_the_codebook():
    out = bytearray(16)
    status = _core.paint(np.array([0, 1, 0, 0], np.uint16), 4, 4, 2, 2, bytes(4), 1, out)
    assert status == _core.ERR_LABEL


def test_cli_block_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)
    source = tmp_path / "in.png"
    Image.fromarray(image).save(source)
    assert (
        main(["encode", str(source), "-o", str(tmp_path / "a.vq"), "--block", "4x2", "-b", "12"])
        == 0
    )
    assert main(["decode", str(tmp_path / "a.vq"), "-o", str(tmp_path / "a.png")]) == 0
    expected = vqcodec.read(tmp_path / "a.vq")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), expected)
    assert vqcodec.info(tmp_path / "a.vq")["block_width"] == 4
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["encode", str(source), "-o", str(tmp_path / "b.vq"), "-b", "12"])
    assert "bits must be 1..8 without --block" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["encode", str(source), "-o", str(tmp_path / "b.vq"), "--block", "4"])
    assert "a block is WxH" in capsys.readouterr().err
    assert not (tmp_path / "b.vq").exists()


def test_pillow_opens_block_files_in_full_colour():
    image = np.random.default_rng(2).integers(0, 256, (10, 9, 3), dtype=np.uint8)
    data = vqcodec.encode(image, 5, block=(2, 2))
    opened = Image.open(io.BytesIO(data))
    assert opened.info["block"] == (2, 2)
    opened.draft("P", None)  # no palette form for blocks: stays RGB
    assert opened.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(opened), vqcodec.decode(data))


def test_a_block_file_with_more_than_256_colours_is_no_gif(tmp_path):
    image = np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    parts = codec.decode_parts(vqcodec.encode(image, 8, block=(2, 2)))
    with pytest.raises(vqcodec.VQError, match="GIF holds at most 256 colours"):
        codec.save_parts(tmp_path / "x.gif", *parts)
    codec.save_parts(tmp_path / "x.webp", *parts)
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "x.webp").convert("RGB")),
        vqcodec.decode(vqcodec.encode(image, 8, block=(2, 2))),
    )


def test_ties_go_to_the_lower_index_even_when_the_spread_bound_is_tight():
    """Review finding: a codeword at exactly the best distance must not be pruned by the
    spread bound's rounding (two codewords at distance 4140 of a block, parallel deviations;
    the previous block's codeword, index 1, is tried first)."""
    half, steps = 2070, []
    for size in range(7, 0, -1):
        while half >= size * size and len(steps) < 256:
            steps += [size, -size]
            half -= size * size
    e = np.array(steps + [0] * (256 - len(steps)))
    x, c0, c1 = 128 + 15 * e, 128 + 16 * e, 128 + 14 * e
    book = vqcodec.Codebook.build(np.stack([c0, c1]).astype(np.uint8), 4, (8, 8), 1)
    image = np.concatenate([c1.reshape(8, 8, 4), x.reshape(8, 8, 4)], axis=1).astype(np.uint8)
    labels = codec.decode_parts(vqcodec.encode(image, codebook=book), codebook=book)[2]
    assert labels.tolist() == [1, 0]


def test_the_glue_refuses_misaligned_and_non_finite_buffers():
    with pytest.raises(ValueError, match="aligned"):
        _core.paint(memoryview(bytearray(5))[1:], 1, 2, 1, 1, bytes([1]), 1, bytearray(2))
    with pytest.raises(ValueError, match="finite"):
        codebook = np.full((1, 4), np.nan, np.float32)
        _core.block_nearest(bytes(4), 4, codebook, np.zeros(1, np.uint16), None)
