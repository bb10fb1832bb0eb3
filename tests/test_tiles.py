"""Tiles (spec §13): a tiled file decodes to its untiled twin, any thread count gives the same
bytes, a region is the crop of the whole, and a region read touches only its tiles."""

import contextlib
import os
import pathlib
import struct
import threading
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import vqcodec
from vqcodec import _io, codec, container, tiles
from vqcodec.cli import main


@st.composite
def tiled_cases(draw):
    height, width = draw(st.integers(1, 160)), draw(st.integers(1, 160))
    channels = draw(st.sampled_from([1, 3, 4]))
    shape = (height, width) if channels == 1 else (height, width, channels)
    if draw(st.booleans()):
        image = draw(hnp.arrays(np.uint8, shape))
    else:  # flat areas, where entropy2 tiles are tiny and small tiles go packed
        palette = draw(hnp.arrays(np.uint8, (3, channels)))
        index = (np.arange(height)[:, None] // 7 + np.arange(width)[None, :] // 11) % 3
        image = palette[index].reshape(shape)
    block = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (3, 1)]))
    bits = draw(st.integers(1, 8 if block == (1, 1) else 10))
    coding = draw(st.sampled_from(["entropy2", "packed", "entropy"]))
    return image, block, bits, coding, draw(st.sampled_from([64, 128]))


@settings(max_examples=30, deadline=None)
@given(tiled_cases(), st.data())
def test_tiled_files_decode_to_their_untiled_twin(case, data):
    """Laws: a tiled file decodes to exactly the image of the same file without tiles; 1 or
    3 threads give the same bytes; any region decodes to that crop of the whole; a packed
    tiled file is 36 + codebook + 8 per tile + 8 + every tile packed + 4 bytes."""
    image, block, bits, coding, tile = case
    plain = vqcodec.encode(image, bits, block=block, coding=coding)
    tiled = vqcodec.encode(image, bits, block=block, coding=coding, tile=tile, threads=3)
    assert vqcodec.encode(image, bits, block=block, coding=coding, tile=tile, threads=1) == tiled
    whole = vqcodec.decode(tiled, threads=2)
    np.testing.assert_array_equal(whole, vqcodec.decode(plain))
    header = container.parse_header(memoryview(tiled))
    # Tiles, unless the label grid is thinner than a tile (spec §13: no slivers).
    columns, rows = -(-image.shape[1] // block[0]), -(-image.shape[0] // block[1])
    fits = -(-columns // tile) * -(-rows // tile) <= 1 + 4 * columns * rows // tile**2
    assert header.tiled == fits and (not fits or header.tile == tile)
    if header.coding == "packed" and header.tiled:
        per_tile = sum(header.tile_packed_bytes(n) for n in range(header.tile_count))
        assert len(tiled) == (36 + header.codebook_bytes + 8 * header.tile_count + 8 + per_tile + 4)
    height, width = image.shape[:2]
    x, y = data.draw(st.integers(0, width - 1)), data.draw(st.integers(0, height - 1))
    w, h = data.draw(st.integers(1, width - x)), data.draw(st.integers(1, height - y))
    region = vqcodec.decode(tiled, region=(x, y, w, h))
    np.testing.assert_array_equal(region, whole[y : y + h, x : x + w])
    np.testing.assert_array_equal(vqcodec.decode(plain, region=(x, y, w, h)), region)


def big_tiled(tmp_path, tile=64, coding="entropy2"):
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:200, :260]
    image = np.stack([x, y, (x ^ y) & 255], axis=-1).astype(np.uint8)
    image[40:90, 50:150] = rng.integers(0, 256, (50, 100, 3), dtype=np.uint8)
    data = vqcodec.encode(image, 5, tile=tile, coding=coding)
    path = tmp_path / "big.vq"
    path.write_bytes(data)
    return image, data, path


def test_a_region_read_reads_only_its_tiles(tmp_path, monkeypatch):
    _, data, path = big_tiled(tmp_path)
    header = container.parse_header(memoryview(data))
    reads = []
    real = _io.os.pread

    def counted(descriptor, size, offset):
        reads.append((offset, size))
        return real(descriptor, size, offset)

    monkeypatch.setattr(_io.os, "pread", counted)
    region = (40, 35, 30, 20)  # inside tiles 0 and 1: x 0..63 and 64..127, y 0..63
    got = vqcodec.read(path, region=region)
    np.testing.assert_array_equal(got, vqcodec.decode(data)[35:55, 40:70])
    wanted = tiles.touched(header, region)
    assert len(wanted) == 2
    entries = tiles.read_index(
        data[36 + header.codebook_bytes : 36 + header.codebook_bytes + header.index_bytes],
        header,
        data[36 : 36 + header.codebook_bytes],
    )
    assert sorted(size for _, size in reads) == sorted(
        [header.index_bytes] + [entries[n][1] for n in wanted]
    )
    assert len(entries) == header.tile_count


def corrupt(data: bytes, header: container.Header, position: int) -> bytes:
    """``data`` with one payload byte flipped and data_crc recomputed (so the tile's own
    check is what finds it)."""
    out = bytearray(data)
    out[36 + header.codebook_bytes + position] ^= 0x40
    return container.seal(out)


def test_tile_crcs_find_damage_and_a_region_checks_only_its_tiles(tmp_path):
    _, data, path = big_tiled(tmp_path, coding="packed")
    header = container.parse_header(memoryview(data))
    entries = tiles.read_index(
        data[36 + header.codebook_bytes : 36 + header.codebook_bytes + header.index_bytes],
        header,
        data[36 : 36 + header.codebook_bytes],
    )
    last = header.tile_count - 1
    broken = corrupt(data, header, entries[last][0])
    with pytest.raises(vqcodec.FormatError, match=f"tile {last}: checksum mismatch"):
        vqcodec.decode(broken)
    path.write_bytes(broken)
    corner = vqcodec.read(path, region=(0, 0, 10, 10))  # tile 0: untouched damage, by design
    np.testing.assert_array_equal(corner, vqcodec.decode(data)[:10, :10])
    with pytest.raises(vqcodec.FormatError, match=f"tile {last}"):
        vqcodec.read(path, region=(259, 199, 1, 1))
    with pytest.raises(vqcodec.FormatError, match="checksum mismatch over the tile index"):
        vqcodec.decode(corrupt(data, header, 3))
    with pytest.raises(vqcodec.FormatError, match="checksum mismatch over the codebook"):
        bad = bytearray(data)
        bad[36] ^= 1  # the codebook, with data_crc recomputed
        vqcodec.decode(container.seal(bad))


def with_index(data: bytes, header: container.Header, sizes: list[int]) -> bytes:
    """``data`` with the tile index's sizes replaced (both index CRCs valid)."""
    start = 36 + header.codebook_bytes
    index = bytearray(data[start : start + header.index_bytes])
    for number, size in enumerate(sizes):
        struct.pack_into("<I", index, 8 * number, size)
    struct.pack_into("<I", index, len(index) - 4, zlib.crc32(index[:-4]))
    return container.seal(data[:start] + bytes(index) + data[start + len(index) :])


def test_hostile_indexes_are_refused(tmp_path):
    _, data, _ = big_tiled(tmp_path)
    header = container.parse_header(memoryview(data))
    sizes = tiles.read_index(
        data[36 + header.codebook_bytes : 36 + header.codebook_bytes + header.index_bytes],
        header, data[36 : 36 + header.codebook_bytes],
    ).sizes.tolist()  # fmt: skip
    moved = sizes.copy()
    moved[0], moved[1] = moved[0] + 2, moved[1] - 2  # same sum, tiles shifted
    with pytest.raises(vqcodec.FormatError, match=r"tile [01]: "):
        vqcodec.decode(with_index(data, header, moved))
    grown = sizes.copy()
    grown[-1] += 2
    with pytest.raises(vqcodec.FormatError, match=r"tile \d+: \d+ bytes|adds up to"):
        vqcodec.decode(with_index(data, header, grown))
    packed = sizes.copy()
    packed[5] = header.tile_packed_bytes(5) + 1
    with pytest.raises(vqcodec.FormatError, match="tile 5"):
        vqcodec.decode(with_index(data, header, packed))
    flagless = bytearray(data)
    flagless[5] = 0  # tile_log2 stays: refused by name
    with pytest.raises(vqcodec.FormatError, match="tile_log2: 6, must be 0 without tiles"):
        vqcodec.decode(container.seal(flagless))
    small = bytearray(data)
    small[21] = 5
    with pytest.raises(vqcodec.FormatError, match=r"tile_log2: 5, must be 6\.\.12"):
        vqcodec.decode(container.seal(small))
    odd = sizes.copy()  # an entropy2 tile of an odd length (2-byte words, spec §4.3)
    coded = next(n for n, size in enumerate(sizes) if size < header.tile_packed_bytes(n))
    odd[coded], odd[coded + 1] = odd[coded] - 1, odd[coded + 1] + 1
    with pytest.raises(vqcodec.FormatError, match=rf"tile {coded}: "):
        vqcodec.decode(with_index(data, header, odd))


def test_a_header_of_billions_of_tiles_is_refused_at_once():
    header = container.Header(
        2**32 - 1, 2**32 - 1, 1, 1, 2, 12345, container.LabelCoding.ENTROPY2,
        flags=container.FLAG_TILED, tile_log2=6,
    )  # fmt: skip
    data = container.build(header, b"\0\1", b"")
    with pytest.raises(vqcodec.FormatError, match="payload_bytes: 12345, but"):
        container.parse_header(memoryview(data), max_pixels=0)


def test_tile_and_region_arguments_are_checked():
    image = np.zeros((40, 40), np.uint8)
    for bad in (32, 100, 8192):
        with pytest.raises(ValueError, match="power of two"):
            vqcodec.encode(image, 2, tile=bad)
    for threads, error in ((0, ValueError), (2.5, TypeError), ("2", TypeError)):
        with pytest.raises(error, match="threads"):
            vqcodec.encode(image, 2, threads=threads)  # type: ignore[arg-type]
    data = vqcodec.encode(image, 2, tile=64)
    for region in ((0, 0, 41, 1), (-1, 0, 1, 1), (0, 0, 0, 1), (39, 39, 2, 1)):
        with pytest.raises(ValueError, match="region"):
            vqcodec.decode(data, region=region)
    with pytest.raises(TypeError):
        vqcodec.decode(data, region=(0, 0, 1))  # type: ignore[arg-type]


def test_cli_tile_and_crop(tmp_path, capsys):
    image, _, _ = big_tiled(tmp_path)
    Image.fromarray(image).save(tmp_path / "in.png")
    assert (
        main(["encode", str(tmp_path / "in.png"), "--tile", "64", "-o", str(tmp_path / "t.vq")])
        == 0
    )
    assert vqcodec.info(tmp_path / "t.vq")["tile"] == 64
    out = tmp_path / "crop.png"
    assert main(["decode", str(tmp_path / "t.vq"), "--crop", "10,20,100,50", "-o", str(out)]) == 0
    full = vqcodec.read(tmp_path / "t.vq")
    np.testing.assert_array_equal(np.asarray(Image.open(out)), full[20:70, 10:110])
    capsys.readouterr()
    assert (
        main(
            [
                "decode",
                str(tmp_path / "t.vq"),
                "--crop",
                "250,0,20,5",
                "-o",
                str(tmp_path / "x.png"),
            ]
        )
        == 1
    )
    assert "is not inside the 260x200 image" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["encode", str(tmp_path / "in.png"), "--tile", "48", "-o", str(tmp_path / "y.vq")])
    assert "power of two" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["decode", str(tmp_path / "t.vq"), str(tmp_path / "t.vq"), "--crop", "0,0,1,1"])
    assert "--crop decodes one file" in capsys.readouterr().err


def test_tiles_with_a_shared_codebook(tmp_path):
    image, _, _ = big_tiled(tmp_path)
    book = vqcodec.train([image], 6, (2, 2))
    book.save(tmp_path / "b.vqb")
    vqcodec.write(tmp_path / "s.vq", image, codebook=book, tile=64)
    whole = vqcodec.decode((tmp_path / "s.vq").read_bytes(), codebook=book)
    region = vqcodec.read(tmp_path / "s.vq", region=(33, 17, 70, 40))  # finds the book beside
    np.testing.assert_array_equal(region, whole[17:57, 33:103])
    assert codec.info(tmp_path / "s.vq")["tile"] == 64


def test_review_fixes_slivers_pipes_budgets_and_info(tmp_path, capsys):
    """Review findings: an image thinner than a tile is written without tiles (slivers
    would cost a coder and an index entry every few labels); a region read of a FIFO does
    not hang; max_bytes holds with tiles; info checks the tile index; --tile parses
    strictly."""
    row = np.random.default_rng(3).integers(0, 256, (1, 5000, 3), dtype=np.uint8)
    assert vqcodec.info(vqcodec.encode(row, 4, tile=64))["tile"] == 0
    image, data, _ = big_tiled(tmp_path)
    fifo = tmp_path / "pipe.vq"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    got = vqcodec.read(fifo, region=(5, 6, 7, 8))
    writer.join(timeout=10)
    np.testing.assert_array_equal(got, vqcodec.decode(data)[6:14, 5:12])
    for budget in (9000, 12000, 20000):
        with contextlib.suppress(vqcodec.TargetError):
            assert len(vqcodec.encode(image, tile=64, max_bytes=budget)) <= budget
    examples = pathlib.Path(__file__).parents[1] / "spec" / "examples" / "invalid"
    for name in ("tiles-index-crc", "tiles-tile-crc", "tiles-shifted"):
        with pytest.raises(vqcodec.FormatError, match="payload"):
            vqcodec.info(examples / f"{name}.vq")
    Image.fromarray(image).save(tmp_path / "in.png")
    for bad in ("-64", "+64", " 64"):
        with pytest.raises(SystemExit):
            main(["encode", str(tmp_path / "in.png"), "--tile", bad, "-o", str(tmp_path / "x.vq")])
        assert "a tile is a power of two" in capsys.readouterr().err


# Untiled packed files: labels at fixed bit offsets (spec §4.1), so a region read needs no tiles.


@st.composite
def packed_regions(draw):
    height, width = draw(st.integers(1, 90)), draw(st.integers(1, 90))
    channels = draw(st.sampled_from([1, 3, 4]))
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = draw(hnp.arrays(np.uint8, shape))
    block = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (3, 1), (1, 4)]))
    bits = draw(st.integers(1, 8 if block == (1, 1) else 12))
    x, y = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
    w, h = draw(st.integers(1, width - x)), draw(st.integers(1, height - y))
    return image, block, bits, (x, y, w, h)


@settings(max_examples=40, deadline=None)
@given(case=packed_regions())
def test_a_region_of_an_untiled_packed_file_is_the_crop_and_reads_only_its_label_rows(
    case, tmp_path_factory
):
    """Law: read(path, region) of an untiled packed file equals the crop of the whole decode,
    and it reads the payload once a label row the region touches, each read spanning exactly
    the bytes that hold the labels from the region's first column of blocks to its last."""
    image, block, bits, region = case
    data = vqcodec.encode(image, bits, coding="packed", block=block)
    header = container.parse_header(memoryview(data))
    assert not header.tiled and header.coding == "packed"
    path = tmp_path_factory.mktemp("packed") / "image.vq"
    path.write_bytes(data)
    reads = []
    real = _io.os.pread

    def counted(descriptor, size, offset):
        reads.append((offset, size))
        return real(descriptor, size, offset)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(_io.os, "pread", counted)
        got = vqcodec.read(path, region=region)
    x, y, w, h = region
    np.testing.assert_array_equal(got, vqcodec.decode(data)[y : y + h, x : x + w])
    (bw, bh), base = block, 36 + header.codebook_bytes
    first, end = x // bw, -(-(x + w) // bw)
    wanted = []
    for row in range(y // bh, -(-(y + h) // bh)):
        start = (row * header.columns + first) * bits
        stop = (row * header.columns + end) * bits
        wanted.append((base + start // 8, -(-stop // 8) - start // 8))
    assert reads == wanted


def test_a_packed_region_read_checks_what_it_reads_and_not_the_rest(tmp_path):
    """What a region of an untiled packed file checks (spec §13): the header CRC, the file's
    length and the labels it reads (each inside the codebook); not data_crc, which covers
    the codebook and the payload it does not read."""
    image = np.arange(40 * 30, dtype=np.uint8).reshape(30, 40) % 6  # 6 gray levels, 3 bits
    data = vqcodec.encode(image, 3, coding="packed")
    header = container.parse_header(memoryview(data))
    assert header.codebook_entries == 6
    path = tmp_path / "image.vq"
    last = 36 + header.codebook_bytes + header.payload_bytes - 1  # the last row's labels
    damaged = bytearray(data)
    damaged[last] ^= 0x80  # a changed label in the bottom row: data_crc no longer matches
    path.write_bytes(damaged)
    np.testing.assert_array_equal(vqcodec.read(path, region=(0, 0, 40, 2)), image[:2])
    with pytest.raises(vqcodec.FormatError, match="checksum mismatch over codebook and payload"):
        vqcodec.read(path)
    outside = bytearray(data)
    outside[36 + header.codebook_bytes] = 0xFF  # labels 7, 7, ...: past the 6 codewords
    path.write_bytes(container.seal(outside))
    with pytest.raises(vqcodec.FormatError, match="outside the codebook"):
        vqcodec.read(path, region=(0, 0, 3, 1))
    path.write_bytes(data[:-1])
    with pytest.raises(vqcodec.FormatError, match="file"):
        vqcodec.read(path, region=(0, 0, 3, 1))
