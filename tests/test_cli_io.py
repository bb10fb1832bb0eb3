"""The command line with pipes, output folders, --suffix, --skip-if-larger, --target-psnr,
--max-bytes and --quality (issue 9), through main([...]); and the library's target_psnr= and
max_bytes=.

stdin is replaced by an object whose ``buffer`` is the stream under test (the CLI reads
only ``sys.stdin.buffer``); stdout is pytest's binary capture.
"""

import io
import math
import os
import struct
import sys
import types
import zlib

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import _io, codec, container
from vqcodec.cli import main
from vqcodec.coding import entropy2

GRADIENT = np.add.outer(np.arange(24), np.arange(32)).astype(np.uint8) * 4  # 24x32 gray


def colour_photo(height=24, width=32, seed=3):
    """Smooth colour with a little noise: many colours, PSNR that climbs with bits."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    smooth = np.stack([x * 7, y * 9, (x + y) * 4], axis=-1)
    return np.clip(smooth + rng.integers(0, 12, smooth.shape), 0, 255).astype(np.uint8)


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(colour_photo()))
    return path


@pytest.fixture
def stdin(monkeypatch):
    """Make ``stream`` (a binary file object, or bytes) the CLI's stdin."""

    def feed(stream):
        if isinstance(stream, bytes):
            stream = io.BytesIO(stream)
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=stream))
        return stream

    return feed


def error_lines(captured):
    err = captured.err.decode() if isinstance(captured.err, bytes) else captured.err
    assert "Traceback" not in err
    return err.splitlines()


class Counting(io.RawIOBase):
    """``head`` then zeros forever (``/dev/zero`` after a header), counting bytes read. A
    reader that goes on past ``most`` bytes fails the test there, not after gigabytes."""

    def __init__(self, head=b"", most=8 << 20):
        self.head, self.count, self.most = head, 0, most

    def readable(self):
        return True

    def readinto(self, buffer):
        assert self.count <= self.most, f"{self.count:,} bytes read: unbounded"
        size = len(buffer)
        part = self.head[self.count : self.count + size]
        buffer[: len(part)] = part
        buffer[len(part) : size] = bytes(size - len(part))
        self.count += size
        return size


# --- pipes -----------------------------------------------------------------------------


def test_encode_stdin_to_stdout(stdin, capsysbinary):
    """`vqcodec encode - < photo.png > photo.vq`: stdout holds the .vq and nothing else."""
    image = colour_photo()
    stdin(png_bytes(image))
    assert main(["encode", "-", "--bits", "3"]) == 0
    captured = capsysbinary.readouterr()
    assert captured.out == vqcodec.encode(image, 3)
    assert error_lines(captured) == [
        f"<stdin> -> <stdout>: 32x24, 3 channel(s), bits 3, 8 codewords, entropy2, "
        f"{len(captured.out)} bytes ({len(captured.out) * 8 / 768:.3f} bits/pixel)"
    ]


def test_encode_file_to_dash_o_dash_and_stdin_to_a_file(photo, tmp_path, stdin, capsysbinary):
    expected = vqcodec.encode(colour_photo(), 2)
    assert main(["encode", str(photo), "-o", "-", "-b", "2", "-q"]) == 0
    captured = capsysbinary.readouterr()
    assert captured.out == expected and captured.err == b""
    stdin(photo.read_bytes())
    output = tmp_path / "from-stdin.vq"
    assert main(["encode", "-", "-o", str(output), "-b", "2"]) == 0
    assert output.read_bytes() == expected
    assert capsysbinary.readouterr().out.startswith(f"<stdin> -> {output}: ".encode())


def test_decode_stdin_to_stdout_needs_a_format(stdin, capsysbinary):
    data = vqcodec.encode(colour_photo(), 3)
    stdin(data)
    assert main(["decode", "-", "--format", "png"]) == 0
    captured = capsysbinary.readouterr()
    assert captured.err == b""
    with Image.open(io.BytesIO(captured.out)) as decoded:
        assert decoded.format == "PNG"
        np.testing.assert_array_equal(np.asarray(decoded.convert("RGB")), vqcodec.decode(data))
    for argv in (["decode", "-"], ["decode", "x.vq", "-o", "-"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
        assert b"needs --format" in capsysbinary.readouterr().err


def test_decode_stdin_to_a_file_and_a_file_to_stdout(tmp_path, stdin, capsysbinary):
    data = vqcodec.encode(GRADIENT, 2)
    source = tmp_path / "g.vq"
    source.write_bytes(data)
    stdin(data)
    output = tmp_path / "g.webp"
    assert main(["decode", "-", "-o", str(output)]) == 0
    with Image.open(output) as decoded:
        assert decoded.format == "WEBP"
        np.testing.assert_array_equal(np.asarray(decoded.convert("L")), vqcodec.decode(data))
    assert main(["decode", str(source), "-o", "-", "--format", "tif"]) == 0
    with Image.open(io.BytesIO(capsysbinary.readouterr().out)) as decoded:
        assert decoded.format == "TIFF"


def test_info_reads_stdin(stdin, capsysbinary):
    stdin(vqcodec.encode(GRADIENT, 5))
    assert main(["info", "-", "--json"]) == 0
    assert b'"bits": 5' in capsysbinary.readouterr().out


@pytest.mark.parametrize("command", [["info", "-"], ["decode", "-", "--format", "png"]])
def test_a_vq_from_stdin_is_read_bounded_by_its_header(command, stdin, capsysbinary):
    """Endless zeros cost one header; a valid file followed by more is one byte too many."""
    zeros = stdin(Counting())
    assert main(command) == 1
    assert error_lines(capsysbinary.readouterr()) == [
        "vqcodec: error: <stdin>: magic: not a .vq file (starts with b'\\x00\\x00\\x00\\x00')"
    ]
    assert zeros.count == container.HEADER_BYTES
    data = vqcodec.encode(GRADIENT, 2)
    runs_on = stdin(Counting(data))
    assert main(command) == 1
    assert "trailing data" in error_lines(capsysbinary.readouterr())[0]
    assert runs_on.count == len(data) + 1


def png_header(width, height):
    """The start of a gray PNG that announces ``width`` x ``height``, up to its pixel data
    (an IDAT chunk of 1 GB, which is where Pillow's header reading ends)."""

    def chunk(kind, body):
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + struct.pack(">I", 1 << 30) + b"IDAT"


def test_an_image_from_stdin_is_refused_from_its_header(stdin, capsysbinary):
    """A header over the pixel limit is refused after the first MiB, not after the stream."""
    stream = stdin(Counting(png_header(13000, 13000)))
    assert main(["encode", "-", "-o", "-"]) == 1
    (line,) = error_lines(capsysbinary.readouterr())
    assert line.startswith("vqcodec: error: <stdin>: 13000x13000 = 169000000 pixels exceeds")
    assert stream.count == 1 << 20


def test_an_image_stream_that_runs_on_is_cut_off(stdin, capsysbinary, monkeypatch):
    """A small image's header, then zeros forever: cut off past 32 bytes a pixel plus the
    metadata allowance (made 1 MiB here). Zeros alone: refused once the allowance holds no
    header."""
    monkeypatch.setattr(_io, "_IMAGE_METADATA_BYTES", 1 << 20)
    stream = stdin(Counting(png_header(100, 100)))
    assert main(["encode", "-", "-o", "-"]) == 1
    most = 100 * 100 * 32 + (1 << 20)
    assert error_lines(capsysbinary.readouterr()) == [
        f"vqcodec: error: <stdin>: more than {most:,} bytes, more than any file of the 100x100 "
        "image its header announces"
    ]
    assert most < stream.count <= 2 * most
    stream = stdin(Counting())
    assert main(["encode", "-", "-o", "-"]) == 1
    assert error_lines(capsysbinary.readouterr()) == [
        "vqcodec: error: <stdin>: no image header Pillow can read in the first 1,048,576 bytes "
        "(give the image as a file rather than on stdin if it is one)"
    ]
    assert stream.count <= (1 << 20) + 1


def test_an_image_whose_header_comes_late_is_read_from_stdin(stdin, capsysbinary):
    """A TIFF whose directory follows 1.5 MB of pixels (as libtiff writes them)."""
    image = np.random.default_rng(1).integers(0, 256, (700, 750, 3), np.uint8)
    pixels = image.tobytes()
    entries = [  # tag, type (3 SHORT, 4 LONG), count, value
        (256, 3, 1, 750),
        (257, 3, 1, 700),
        (258, 3, 3, 8 + len(pixels)),  # BitsPerSample 8,8,8, stored after the pixels
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 1, 8),
        (277, 3, 1, 3),
        (278, 3, 1, 700),
        (279, 4, 1, len(pixels)),
    ]
    bits_per_sample = struct.pack("<3H", 8, 8, 8)
    directory = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        inline = kind == 3 and count == 1  # one SHORT sits in the entry, padded to 4 bytes
        directory += struct.pack(
            "<HHI" + ("HH" if inline else "I"), tag, kind, count, value, *[0] * inline
        )
    directory += struct.pack("<I", 0)  # no next directory
    offset = 8 + len(pixels) + len(bits_per_sample)
    tiff = b"II*\0" + struct.pack("<I", offset) + pixels + bits_per_sample + directory
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(tiff))), image)
    stdin(tiff)
    assert main(["encode", "-", "-b", "2", "-q"]) == 0
    assert capsysbinary.readouterr().out == vqcodec.encode(image, 2)


def test_binary_data_is_not_written_to_a_terminal(photo, stdin, monkeypatch, capsysbinary):
    class Terminal(io.TextIOWrapper):
        def isatty(self):
            return True

    terminal = Terminal(io.BytesIO())
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["encode", str(photo), "-o", "-"]) == 1
    stdin(photo.read_bytes())
    assert main(["encode", "-"]) == 1
    assert (
        error_lines(capsysbinary.readouterr())
        == [
            "vqcodec: error: <stdout>: is a terminal; refusing to write binary data to it "
            "(redirect it, or give -o)"
        ]
        * 2
    )
    terminal.flush()
    assert terminal.buffer.getvalue() == b""


def test_a_closed_pipe_on_binary_stdout_ends_quietly(photo, monkeypatch, capsysbinary):
    class ClosedPipe(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(ClosedPipe())))
    assert main(["encode", str(photo), "-o", "-", "-q"]) == 128 + 13
    assert capsysbinary.readouterr().err == b""


def test_stdin_usage_errors(photo, capsysbinary):
    for argv, text in [
        (["info", "-", "-"], "only once"),
        (["encode", "-", str(photo)], "the only input"),
        (["encode", "-", "--out-dir", "out"], "stdin has no name"),
        (["decode", "-", "--suffix", ".png", "--format", "png"], "stdin has no name"),
    ]:
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
        assert text in capsysbinary.readouterr().err.decode()


# --- output folders and --suffix -------------------------------------------------------


def several_images(tmp_path, count=2):
    paths = []
    for index in range(count):
        path = tmp_path / f"in{index}.png"
        Image.fromarray(GRADIENT + index).save(path)
        paths.append(path)
    return paths


def test_dash_o_folder_slash_is_created_and_takes_several_inputs(tmp_path, capsysbinary):
    sources = several_images(tmp_path)
    folder = tmp_path / "out"
    assert main(["encode", *map(str, sources), "-o", f"{folder}/", "-q"]) == 0
    assert sorted(os.listdir(folder)) == ["in0.vq", "in1.vq"]
    for source in sources:
        expected = vqcodec.encode(np.asarray(Image.open(source)), 4)
        assert (folder / f"{source.stem}.vq").read_bytes() == expected
    # An existing folder without the slash is a folder too (it used to be refused as "exists").
    decoded = tmp_path / "decoded"
    decoded.mkdir()
    vq_files = [str(folder / "in0.vq"), str(folder / "in1.vq")]
    assert main(["decode", *vq_files, "-o", str(decoded)]) == 0
    assert sorted(os.listdir(decoded)) == ["in0.vq.png", "in1.vq.png"]
    assert capsysbinary.readouterr().err == b""


def test_out_dir_option(tmp_path, capsysbinary):
    sources = several_images(tmp_path)
    assert main(["encode", *map(str, sources), "--out-dir", str(tmp_path / "vq"), "-q"]) == 0
    assert sorted(os.listdir(tmp_path / "vq")) == ["in0.vq", "in1.vq"]
    vq_files = sorted(str(path) for path in (tmp_path / "vq").iterdir())
    assert main(["decode", *vq_files, "--out-dir", str(tmp_path / "png"), "--format", "gif"]) == 0
    assert sorted(os.listdir(tmp_path / "png")) == ["in0.vq.gif", "in1.vq.gif"]


def test_output_folder_errors_name_the_folder(photo, tmp_path, capsysbinary):
    missing_parent = tmp_path / "no" / "out"
    assert main(["encode", str(photo), "-o", f"{missing_parent}/"]) == 1
    assert error_lines(capsysbinary.readouterr()) == [
        f"vqcodec: error: {missing_parent}/: cannot create this folder: No such file or directory"
    ]
    assert main(["encode", str(photo), "-o", f"{photo}/"]) == 1
    assert error_lines(capsysbinary.readouterr()) == [
        f"vqcodec: error: {photo}/: exists and is not a folder"
    ]
    assert sorted(os.listdir(tmp_path)) == ["photo.png"]  # no temp files, nothing made


def test_two_inputs_with_one_name_do_not_overwrite_each_other(tmp_path, capsysbinary):
    """`encode a/x.png b/x.png -o out/ -f`: b's result would replace a's."""
    for folder, shade in (("a", 10), ("b", 200)):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((4, 4), shade, np.uint8)).save(tmp_path / folder / "x.png")
    argv = ["encode", str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")]
    assert main([*argv, "-o", str(tmp_path / "out") + "/", "-f", "-q"]) == 1
    output = tmp_path / "out" / "x.vq"
    assert error_lines(capsysbinary.readouterr()) == [
        f"vqcodec: error: {output}: was written from {tmp_path / 'a' / 'x.png'} in this run; "
        "refusing to replace it"
    ]
    assert vqcodec.read(output).max() == 10


def test_suffix(photo, tmp_path, capsysbinary):
    assert main(["encode", str(photo), "--suffix", ".small.vq", "-b", "2", "-q"]) == 0
    vq = tmp_path / "photo.small.vq"
    assert vqcodec.info(vq)["bits"] == 2
    assert main(["decode", str(vq), "--suffix=-fs8.png"]) == 0  # pngquant's naming
    with Image.open(tmp_path / "photo.small-fs8.png") as decoded:
        assert decoded.format == "PNG"
    assert main(["decode", str(vq), "--format", "webp"]) == 0  # default name follows --format
    with Image.open(tmp_path / "photo.small.vq.webp") as decoded:
        assert decoded.format == "WEBP"
    assert main(["decode", str(vq), "--suffix", ".out", "--format", "png"]) == 0
    with Image.open(tmp_path / "photo.small.out") as decoded:
        assert decoded.format == "PNG"
    for argv in (
        ["encode", str(photo), "-o", str(tmp_path / "x.vq"), "--suffix", ".vq"],
        ["encode", str(photo), "--suffix", "/x.vq"],
        ["encode", str(photo), "--suffix", ""],
        ["encode", str(photo), "-o", f"{tmp_path}/", "--out-dir", str(tmp_path)],
        ["encode", str(photo), str(photo), "-o", str(tmp_path / "x.vq")],
    ):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
    assert error_lines(capsysbinary.readouterr())[-1].endswith(
        "-o FILE takes a single input; for several, -o DIR/ or --out-dir DIR"
    )


def test_the_suffix_does_not_let_decode_overwrite_its_source_image(photo, capsysbinary):
    before = photo.read_bytes()
    assert main(["encode", str(photo), "-q"]) == 0
    vq = photo.with_suffix(".vq")
    assert main(["decode", str(vq), "--suffix", ".png"]) == 1  # photo.png exists
    assert "exists; use --force" in error_lines(capsysbinary.readouterr())[0]
    assert photo.read_bytes() == before


# --- --skip-if-larger --------------------------------------------------------------------


def test_skip_if_larger(tmp_path, capsysbinary):
    """A gradient PNG compresses far below 8 bits packed; noise does not go below 2 bits."""
    small = tmp_path / "small.png"
    Image.fromarray(GRADIENT).save(small)
    argv = ["encode", str(small), "--skip-if-larger", "-b", "8", "-c", "packed"]
    assert main(argv) == 98
    codebook = len(np.unique(GRADIENT))  # fewer values than 256: each is a codeword
    packed = container.HEADER_BYTES + codebook + 24 * 32 + container.TRAILER_BYTES
    assert error_lines(capsysbinary.readouterr()) == [
        f"vqcodec: {small}: skipped: the .vq would take {packed:,} bytes, the input "
        f"{small.stat().st_size:,} (--skip-if-larger)"
    ]
    assert not small.with_suffix(".vq").exists()
    assert main([*argv, "-q"]) == 98
    assert capsysbinary.readouterr().err == b""
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40), np.uint8)).save(noise)
    assert main(["encode", str(noise), "--skip-if-larger", "-b", "2", "-q"]) == 0
    assert noise.with_suffix(".vq").stat().st_size < noise.stat().st_size
    # Several: skipped beats written, an error beats both.
    both = ["encode", str(small), str(noise), "--skip-if-larger", "-b", "8", "-f", "-q"]
    assert main([*both, "-c", "packed"]) == 98
    assert main([*both[:3], str(tmp_path / "missing.png"), *both[3:]]) == 1


def test_skip_if_larger_from_stdin_writes_nothing_to_stdout(stdin, capsysbinary):
    stdin(png_bytes(GRADIENT))
    assert main(["encode", "-", "--skip-if-larger", "-b", "8", "-c", "packed"]) == 98
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    assert error_lines(captured)[0].startswith("vqcodec: <stdin>: skipped: ")


# --- target_psnr= and max_bytes= (library) ------------------------------------------------


def psnr_at(image, bits):
    array = image if image.ndim == 3 else image[:, :, None]
    header, codebook, labels = codec.decode_parts(vqcodec.encode(image, bits))
    return codec.quantized_psnr(array.reshape(-1, header.channels), codebook, labels)


@pytest.mark.parametrize("image", [GRADIENT, colour_photo()], ids=["gray", "colour"])
def test_target_psnr_takes_the_fewest_bits_that_reach_it(image):
    every = {bits: psnr_at(image, bits) for bits in range(1, 9)}
    for target in (10.0, 20.0, 25.0, 30.0, 33.3, 38.0, 45.0):
        if target > max(every.values()):
            with pytest.raises(codec.TargetError):
                vqcodec.encode(image, target_psnr=target)
            continue
        data = vqcodec.encode(image, target_psnr=target)
        bits = vqcodec.info(data)["bits"]
        assert bits == min(b for b, value in every.items() if value >= target), target
        assert data == vqcodec.encode(image, bits)  # the same bytes as asking for those bits


def test_target_psnr_inf_is_the_fewest_lossless_bits():
    four_colours = np.array([[0, 80], [160, 240]], np.uint8).repeat(3, 0).repeat(3, 1)
    data = vqcodec.encode(four_colours, target_psnr=math.inf)
    assert vqcodec.info(data)["bits"] == 2
    np.testing.assert_array_equal(vqcodec.decode(data), four_colours)


def test_colours_under_transparent_pixels_do_not_count():
    """A sprite of 3 visible colours hiding noise under alpha 0 is lossless at 2 bits: the
    hidden colours show nowhere, and the quantizer keeps none of them."""
    rng = np.random.default_rng(4)
    sprite = rng.integers(0, 256, (16, 16, 4), np.uint8)
    sprite[..., 3] = 0
    visible = np.zeros((16, 16), bool)
    visible[4:12, 4:12] = True
    sprite[visible] = np.array([[200, 10, 10, 255], [10, 200, 10, 255], [10, 10, 200, 128]])[
        np.arange(64) % 3
    ]
    data = vqcodec.encode(sprite, target_psnr=math.inf)
    assert vqcodec.info(data)["bits"] == 2
    np.testing.assert_array_equal(vqcodec.decode(data)[visible], sprite[visible])
    assert (vqcodec.decode(data)[~visible] == 0).all()


@pytest.mark.parametrize("coding", ["entropy2", "entropy", "packed"])
@pytest.mark.parametrize("image", [GRADIENT, colour_photo()], ids=["gray", "colour"])
def test_max_bytes_takes_the_most_bits_that_fit(image, coding):
    sizes = {bits: len(vqcodec.encode(image, bits, coding=coding)) for bits in range(1, 9)}
    for limit in [*sorted(set(sizes.values())), sizes[1] + 1, sizes[8] - 1]:
        if limit < sizes[1]:
            continue
        data = vqcodec.encode(image, coding=coding, max_bytes=limit)
        bits = vqcodec.info(data)["bits"]
        assert len(data) <= limit
        assert bits == max(b for b, size in sizes.items() if size <= limit), limit
        assert data == vqcodec.encode(image, bits, coding=coding)


def test_bits_is_the_most_the_search_may_take():
    assert vqcodec.info(vqcodec.encode(GRADIENT, 5, max_bytes=10**9))["bits"] == 5
    assert vqcodec.info(vqcodec.encode(GRADIENT, 3, target_psnr=1))["bits"] == 1
    with pytest.raises(codec.TargetError) as caught:
        vqcodec.encode(GRADIENT, 3, target_psnr=40)
    reached = psnr_at(GRADIENT, 3)
    assert str(caught.value) == (
        f"no bits reach 40 dB of PSNR (3 bits, the most allowed, give {reached:.2f} dB)"
    )


def test_targets_no_bits_can_meet():
    with pytest.raises(codec.TargetError) as caught:
        vqcodec.encode(colour_photo(), target_psnr=math.inf)
    assert isinstance(caught.value, vqcodec.VQError)
    assert str(caught.value).startswith("no bits reach a lossless result (8 bits, the most")
    smallest = len(vqcodec.encode(GRADIENT, 1))
    with pytest.raises(codec.TargetError) as caught:
        vqcodec.encode(GRADIENT, max_bytes=smallest - 1)
    assert str(caught.value) == (
        f"no bits fit in {smallest - 1:,} bytes (1 bit gives {smallest:,} bytes)"
    )


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"target_psnr": 30, "max_bytes": 1000}, ValueError, "not both"),
        ({"target_psnr": 0}, ValueError, "above 0"),
        ({"target_psnr": -3.0}, ValueError, "above 0"),
        ({"target_psnr": math.nan}, ValueError, "above 0"),
        ({"target_psnr": "30"}, TypeError, "a number"),
        ({"target_psnr": True}, TypeError, "a number"),
        ({"max_bytes": 0}, ValueError, "> 0"),
        ({"max_bytes": 100.5}, TypeError, "an int"),
    ],
)
def test_target_arguments_are_checked(options, error, text):
    with pytest.raises(error, match=text):
        vqcodec.encode(GRADIENT, **options)


def test_the_search_bisects_and_codes_the_labels_once(monkeypatch):
    """3 or 4 quantizations for 8 candidates; target_psnr codes only the chosen labels;
    max_bytes whose bound fits all 8 bits takes 8 without trying."""
    fits, codings = [], []
    quantize, code = codec.quantize, entropy2.encode
    monkeypatch.setattr(codec, "quantize", lambda *a: fits.append(a[1]) or quantize(*a))
    monkeypatch.setattr(entropy2, "encode", lambda *a: codings.append(1) or code(*a))
    image = colour_photo()
    for target in (10.0, 25.0, 30.0, 36.0):
        fits.clear(), codings.clear()
        vqcodec.encode(image, target_psnr=target)
        assert 3 <= len(fits) <= 4 and len(set(fits)) == len(fits) and len(codings) == 1
    sizes = [len(vqcodec.encode(image, bits)) for bits in range(1, 9)]
    fits.clear()
    vqcodec.encode(image, max_bytes=sizes[4])
    assert len(fits) <= 4
    fits.clear()
    vqcodec.encode(image, max_bytes=10**9)
    assert fits == [256]


def test_the_search_is_deterministic_and_write_takes_it(tmp_path):
    image = colour_photo()
    first = vqcodec.encode(image, target_psnr=31, seed=5)
    assert first == vqcodec.encode(image, target_psnr=31, seed=5)
    vqcodec.write(tmp_path / "x.vq", image, target_psnr=31, seed=5)
    assert (tmp_path / "x.vq").read_bytes() == first


# --- the CLI's --target-psnr and --max-bytes -------------------------------------------------


def test_cli_target_psnr_says_what_it_chose(photo, tmp_path, capsysbinary):
    output = tmp_path / "p.vq"
    assert main(["encode", str(photo), "-o", str(output), "--target-psnr", "30"]) == 0
    bits = vqcodec.info(output)["bits"]
    captured = capsysbinary.readouterr()
    reached = psnr_at(colour_photo(), bits)
    assert error_lines(captured) == [
        f"vqcodec: {photo}: bits {bits}, the fewest that reach 30 dB ({reached:.2f} dB)"
    ]
    assert f"bits {bits}," in captured.out.decode()
    assert reached >= 30 > psnr_at(colour_photo(), bits - 1)


def test_cli_max_bytes_says_what_it_chose(photo, tmp_path, capsysbinary):
    limit = len(vqcodec.encode(colour_photo(), 5))
    output = tmp_path / "p.vq"
    assert main(["encode", str(photo), "-o", str(output), "--max-bytes", str(limit)]) == 0
    size = output.stat().st_size
    assert error_lines(capsysbinary.readouterr()) == [
        f"vqcodec: {photo}: bits 5, the most that fit in {limit:,} bytes ({size:,} bytes)"
    ]
    assert main(["encode", str(photo), "-o", "-", "--max-bytes", str(limit), "-b", "3"]) == 0
    captured = capsysbinary.readouterr()
    assert vqcodec.info(captured.out)["bits"] == 3
    assert len(error_lines(captured)) == 2  # the choice and the summary, both on stderr


def test_cli_target_not_met_is_exit_99(photo, tmp_path, capsysbinary):
    output = tmp_path / "p.vq"
    assert main(["encode", str(photo), "-o", str(output), "--max-bytes", "50"]) == 99
    (line,) = error_lines(capsysbinary.readouterr())
    assert line.startswith(f"vqcodec: error: {photo}: no bits fit in 50 bytes (1 bit gives ")
    assert not output.exists()
    gray = tmp_path / "gray.png"
    Image.fromarray(GRADIENT).save(gray)
    options = ["--target-psnr", "inf", "-q", "-f"]
    assert main(["encode", str(photo), str(gray), *options]) == 99  # the photo has no lossless bits
    assert vqcodec.info(gray.with_suffix(".vq"))["bits"] == 6  # 55 values
    assert main(["encode", str(photo), str(tmp_path / "missing.png"), *options]) == 1


@pytest.mark.parametrize(
    "options",
    [
        ["--target-psnr", "30", "--max-bytes", "1000"],
        ["--target-psnr", "nan"],
        ["--target-psnr", "0"],
        ["--target-psnr", "loud"],
        ["--max-bytes", "0"],
        ["--max-bytes", "1e3"],
    ],
)
def test_cli_target_usage_errors(photo, options, capsysbinary):
    with pytest.raises(SystemExit) as caught:
        main(["encode", str(photo), *options])
    assert caught.value.code == 2


# --- --quality ------------------------------------------------------------------------


def test_quality_for_lossy_outputs(tmp_path, capsysbinary):
    data = vqcodec.encode(colour_photo(96, 128), 6)
    source = tmp_path / "p.vq"
    source.write_bytes(data)
    sizes = {}
    for quality in ("20", "95"):
        output = tmp_path / f"q{quality}.jpg"
        assert main(["decode", str(source), "-o", str(output), "--quality", quality]) == 0
        sizes[quality] = output.stat().st_size
    assert sizes["20"] < sizes["95"]
    lossy, lossless = tmp_path / "lossy.webp", tmp_path / "lossless.webp"
    assert main(["decode", str(source), "-o", str(lossy), "--quality", "50"]) == 0
    assert main(["decode", str(source), "-o", str(lossless)]) == 0
    with Image.open(lossless) as exact, Image.open(lossy) as approximate:
        np.testing.assert_array_equal(np.asarray(exact.convert("RGB")), vqcodec.decode(data))
        assert not np.array_equal(np.asarray(approximate.convert("RGB")), vqcodec.decode(data))
    png = tmp_path / "x.png"
    assert main(["decode", str(source), "-o", str(png), "--quality", "50"]) == 1
    (line,) = error_lines(capsysbinary.readouterr())
    assert line.startswith(f"vqcodec: error: {png}: quality applies to lossy outputs")
    assert not png.exists()
    with pytest.raises(SystemExit) as caught:
        main(["decode", str(source), "--quality", "101"])
    assert caught.value.code == 2


def test_decode_errors_name_the_output(tmp_path, capsysbinary):
    rgba = tmp_path / "rgba.vq"
    alpha = np.zeros((4, 4, 4), np.uint8)
    alpha[..., 3] = 100
    vqcodec.write(rgba, alpha, 1)
    jpeg = tmp_path / "x.jpg"
    assert main(["decode", str(rgba), "-o", str(jpeg)]) == 1
    (line,) = error_lines(capsysbinary.readouterr())
    assert line.startswith(f"vqcodec: error: {jpeg}: JPEG has no alpha")
    assert main(["decode", str(rgba), "-o", "-", "--format", "jpeg"]) == 1
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    assert error_lines(captured)[0].startswith("vqcodec: error: <stdout>: JPEG has no alpha")
    unknown = tmp_path / "x.nosuchformat"
    assert main(["decode", str(rgba), "-o", str(unknown)]) == 1
    assert "give --format NAME" in error_lines(capsysbinary.readouterr())[0]
    with pytest.raises(SystemExit) as caught:
        main(["decode", str(rgba), "--format", "nosuchformat"])
    assert caught.value.code == 2
    assert sorted(os.listdir(tmp_path)) == ["rgba.vq"]


def test_an_unreadable_image_from_stdin_is_named_plainly(stdin, capsysbinary):
    """Pillow's own message names a BytesIO object (a different address each run)."""
    stdin(b"not an image at all")
    assert main(["encode", "-", "-o", "-"]) == 1
    (line,) = error_lines(capsysbinary.readouterr())
    assert line == "vqcodec: error: <stdin>: cannot read image: not an image format Pillow reads"
