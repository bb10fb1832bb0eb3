"""Files, streams and outputs as an attacker or a careless user would give them (issue 14,
and issue 9's outputs): reads bounded by the header, the pixel limit checked before any pixel
is decoded, no-overwrite that holds under a race, and names that print whatever they hold.

Memory is measured with tracemalloc (Python's and numpy's allocations) under an
address-space limit, so that a regression fails with MemoryError instead of exhausting the
machine; work is measured in bytes read, never in wall-clock time.
"""

import contextlib
import errno
import io
import multiprocessing
import os
import resource
import stat
import struct
import subprocess
import sys
import threading
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

import vqcodec
from vqcodec import _atomic, container, images
from vqcodec.cli import main

MB = 1 << 20
GRADIENT = np.add.outer(np.arange(16), np.arange(16)).astype(np.uint8) * 8


@pytest.fixture
def vq_bytes():
    return vqcodec.encode(GRADIENT, 3)


@contextlib.contextmanager
def bounded_address_space(extra=1024 * MB):
    """At most ``extra`` more address space for the block: a reader that reads /dev/zero or
    a 6 GB file whole gets a MemoryError rather than the out-of-memory killer."""
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def peak_memory(limit):
    """Fail if the block's tracemalloc peak is over ``limit`` bytes."""
    tracemalloc.start()
    try:
        with bounded_address_space():
            yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= limit, f"peak {peak / MB:.1f} MB"


class Counting(io.RawIOBase):
    """A binary stream over another one that counts the bytes read through it."""

    def __init__(self, inner, *, hide_fileno=False):
        self.inner, self.hide_fileno, self.count = inner, hide_fileno, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = self.inner.readinto(buffer)
        self.count += count or 0
        return count

    def fileno(self):
        if self.hide_fileno:
            raise io.UnsupportedOperation("fileno")
        return self.inner.fileno()

    def tell(self):
        return self.inner.tell()


class Endless(io.RawIOBase):
    """``head`` then zeros forever, like a device or a writer that never stops."""

    def __init__(self, head=b""):
        self.head, self.count = head, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        size = len(buffer)
        start = min(self.count, len(self.head))
        part = self.head[start : start + size]
        buffer[: len(part)] = part
        buffer[len(part) : size] = bytes(size - len(part))
        self.count += size
        return size


# --- 1. reads bounded by the header ------------------------------------------------------


@pytest.mark.parametrize("function", [vqcodec.read, vqcodec.info])
def test_dev_zero_is_refused_after_its_header(function):
    with peak_memory(20 * MB), pytest.raises(vqcodec.FormatError) as caught:
        function("/dev/zero")
    assert caught.value.field == "magic"
    with open("/dev/zero", "rb", buffering=0) as raw:
        stream = Counting(raw)
        with pytest.raises(vqcodec.FormatError, match="magic"):
            function(stream)
    assert stream.count == container.HEADER_BYTES


@pytest.mark.parametrize("function", [vqcodec.read, vqcodec.info])
def test_a_6gb_sparse_file_is_refused_after_its_header(tmp_path, function):
    sparse = tmp_path / "sparse.vq"
    sparse.touch()
    os.truncate(sparse, 6 << 30)
    with peak_memory(20 * MB), pytest.raises(vqcodec.FormatError) as caught:
        function(sparse)
    assert caught.value.field == "magic"


@pytest.mark.parametrize("function", [vqcodec.read, vqcodec.info])
def test_a_valid_file_followed_by_6gb_is_trailing_data(tmp_path, vq_bytes, function):
    """The file's size settles it before the sections are read."""
    path = tmp_path / "long.vq"
    path.write_bytes(vq_bytes)
    os.truncate(path, 6 << 30)
    with open(path, "rb", buffering=0) as raw:
        stream = Counting(raw)
        with peak_memory(20 * MB), pytest.raises(vqcodec.FormatError) as caught:
            function(stream)
    assert caught.value.field == "file"
    assert f"trailing data: {(6 << 30) - len(vq_bytes)} bytes" in str(caught.value)
    assert stream.count == container.HEADER_BYTES


@pytest.mark.parametrize("function", [vqcodec.read, vqcodec.info])
def test_a_stream_that_runs_on_is_read_one_byte_past_its_size(vq_bytes, function):
    stream = Endless(vq_bytes)
    with peak_memory(20 * MB), pytest.raises(vqcodec.FormatError, match="trailing data"):
        function(stream)
    assert stream.count == len(vq_bytes) + 1


@pytest.mark.parametrize("function", [vqcodec.read, vqcodec.info])
def test_a_stream_that_ends_early_is_truncated(vq_bytes, function):
    with pytest.raises(vqcodec.FormatError, match=f"truncated: 50 bytes.*{len(vq_bytes)}"):
        function(io.BytesIO(vq_bytes[:50]))
    with pytest.raises(vqcodec.FormatError, match="header: file is truncated"):
        function(io.BytesIO(vq_bytes[:20]))


def test_a_header_announcing_81_mb_over_a_short_stream_costs_what_arrived():
    """A stream has no size to check first: the reads grow with what arrives."""
    header = container.Header(
        width=9000, height=9000, channels=1, bits=8, codebook_entries=256, payload_bytes=81_000_000
    )
    crafted = container.build(header, bytes(256), b"")[: container.HEADER_BYTES] + bytes(100)
    for hide_fileno in (False, True):
        stream = Counting(io.BytesIO(crafted), hide_fileno=hide_fileno)
        with peak_memory(20 * MB), pytest.raises(vqcodec.FormatError, match="truncated"):
            vqcodec.read(stream)


def test_the_same_file_through_a_fifo_a_pipe_and_a_file_object(tmp_path, vq_bytes):
    expected = vqcodec.decode(vq_bytes)
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    for extra in (b"", b"more"):
        writer = threading.Thread(target=(fifo).write_bytes, args=(vq_bytes + extra,))
        writer.start()
        try:
            if extra:
                with pytest.raises(vqcodec.FormatError, match="trailing data"):
                    vqcodec.read(fifo)
            else:
                np.testing.assert_array_equal(vqcodec.read(fifo), expected)
        finally:
            writer.join(timeout=10)
    read_end, write_end = os.pipe()
    os.write(write_end, vq_bytes)
    os.close(write_end)
    with open(read_end, "rb") as pipe:
        assert vqcodec.info(pipe) == vqcodec.info(vq_bytes)
    handle = io.BytesIO(b"prefix" + vq_bytes)
    handle.seek(6)
    np.testing.assert_array_equal(vqcodec.read(handle), expected)
    assert not handle.closed  # the caller's file is left open


def test_file_objects_for_write_read_and_info(tmp_path):
    """Issue 9: read, write and info take binary file objects."""
    buffer = io.BytesIO()
    vqcodec.write(buffer, GRADIENT, bits=2)
    assert buffer.getvalue() == vqcodec.encode(GRADIENT, 2)
    buffer.seek(0)
    assert vqcodec.info(buffer)["bits"] == 2
    path = tmp_path / "g.vq"
    with open(path, "wb") as handle:
        vqcodec.write(handle, GRADIENT, bits=2)
        assert not handle.closed
    with open(path, "rb") as handle:
        np.testing.assert_array_equal(vqcodec.read(handle), vqcodec.decode(buffer.getvalue()))
    with open(path, encoding="latin-1") as text, pytest.raises(TypeError, match="binary"):
        vqcodec.info(text)


@pytest.mark.parametrize("function", [vqcodec.read, vqcodec.info])
@pytest.mark.parametrize("source", [3, True, None, 2.5])
def test_a_number_is_no_file_descriptor(tmp_path, function, source):
    """info(3) used to read and close descriptor 3."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        with pytest.raises(TypeError, match="bytes, a path or a binary file"):
            function(fd if source == 3 else source)
        os.fstat(fd)  # still open
    finally:
        os.close(fd)
    with pytest.raises(TypeError, match="path or a binary file"):
        vqcodec.write(3, GRADIENT)


@pytest.mark.parametrize("function", [vqcodec.read, vqcodec.info])
def test_a_folder_is_a_clean_error(tmp_path, function):
    with pytest.raises(IsADirectoryError) as caught:
        function(tmp_path)
    assert caught.value.filename == str(tmp_path)


def test_strided_memoryviews_work_or_are_refused_clearly(vq_bytes):
    doubled = bytes(byte for pair in zip(vq_bytes, vq_bytes, strict=True) for byte in pair)
    strided = memoryview(doubled)[::2]
    assert not strided.c_contiguous
    assert vqcodec.info(strided) == vqcodec.info(vq_bytes)
    np.testing.assert_array_equal(vqcodec.read(strided), vqcodec.decode(vq_bytes))
    with pytest.raises(TypeError, match="numpy array or a PIL image"):
        vqcodec.encode(memoryview(GRADIENT.tobytes())[::2], 2)


def test_decode_takes_a_strided_memoryview(vq_bytes):
    doubled = bytes(byte for pair in zip(vq_bytes, vq_bytes, strict=True) for byte in pair)
    np.testing.assert_array_equal(
        vqcodec.decode(memoryview(doubled)[::2]), vqcodec.decode(vq_bytes)
    )


def test_cli_info_and_decode_on_dev_zero_are_one_line(tmp_path, capsys):
    with peak_memory(20 * MB):
        assert main(["info", "/dev/zero"]) == 1
        assert main(["decode", "/dev/zero", "-o", str(tmp_path / "x.png")]) == 1
    lines = capsys.readouterr().err.splitlines()
    zeros = "b'" + "\\x00" * 4 + "'"
    assert lines == [f"vqcodec: error: /dev/zero: magic: not a .vq file (starts with {zeros})"] * 2


# --- 2. the pixel limit from the input's header ------------------------------------------


def png_header_only(path, width, height):
    """A PNG whose IHDR claims ``width`` x ``height`` gray pixels, with a token IDAT: enough
    for Image.open, which reads only the header."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(width + 1)))
        + chunk(b"IEND", b"")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            assert image.size == (width, height)
    return path


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Fail the test if Pillow decodes pixels of a file."""

    def load(self):
        raise AssertionError(f"pixels of a {self.size} image decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_cli_refuses_a_13000x13000_png_from_its_header(tmp_path, capsys, no_pixel_decoding):
    source = png_header_only(tmp_path / "huge.png", 13000, 13000)
    output = tmp_path / "huge.vq"
    with warnings.catch_warnings(record=True) as caught, peak_memory(50 * MB):
        warnings.simplefilter("always")
        assert main(["encode", str(source), "-o", str(output)]) == 1
        assert main(["encode", str(source), "-o", str(output), "-q"]) == 1
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0] == (
        f"vqcodec: error: {source}: 13000x13000 = 169000000 pixels exceeds the limit of "
        f"{container.MAX_IMAGE_PIXELS} (max_pixels=, or --max-pixels on the command line, "
        "changes it)"
    )
    assert not output.exists()


def test_max_pixels_option_and_pillows_own_limit(tmp_path, capsys, monkeypatch):
    """--max-pixels is the only limit: Pillow's (here 100 pixels, so that a 30x20 image is a
    'bomb' to Pillow) neither warns nor refuses, and is as it was afterwards."""
    source = tmp_path / "small.png"
    Image.fromarray(GRADIENT[:15].repeat(2, axis=1)[:, :30].repeat(1, axis=0)).save(source)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    output = tmp_path / "small.vq"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["encode", str(source), "-o", str(output), "--max-pixels", "449"]) == 1
        assert "--max-pixels" in capsys.readouterr().err
        assert main(["encode", str(source), "-o", str(output), "--max-pixels", "450", "-q"]) == 0
        assert main(["info", str(output), "--max-pixels", "449"]) == 1
        assert "exceeds the limit of 449" in capsys.readouterr().err
        assert main(["info", str(output), "--max-pixels", "0"]) == 0
        decoded = tmp_path / "back.png"
        assert main(["decode", str(output), "-o", str(decoded), "--max-pixels", "449"]) == 1
        assert main(["decode", str(output), "-o", str(decoded), "--max-pixels", "450"]) == 0
    assert Image.MAX_IMAGE_PIXELS == 100
    with pytest.raises(SystemExit):
        main(["encode", str(source), "--max-pixels", "-1"])


def test_a_lazy_pil_image_over_the_limit_is_not_decoded(tmp_path, no_pixel_decoding):
    source = png_header_only(tmp_path / "huge.png", 9459, 9460)  # just past 89,478,485
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(source)
    with image, pytest.raises(vqcodec.VQError, match="--max-pixels"):
        vqcodec.encode(image, 2)


def test_the_encoder_refuses_arrays_its_reader_would_refuse(tmp_path, monkeypatch):
    """encode(np.zeros((9000, 10000), np.uint8), 1) returned bytes decode rejects."""
    with pytest.raises(vqcodec.VQError, match="9000 = 90000000 pixels exceeds the limit"):
        vqcodec.encode(np.zeros((9000, 10000), np.uint8), 1)
    monkeypatch.setattr(container, "MAX_IMAGE_PIXELS", 255)
    with pytest.raises(vqcodec.VQError, match="limit of 255"):
        vqcodec.write(tmp_path / "x.vq", GRADIENT, 2)
    assert not (tmp_path / "x.vq").exists()
    with pytest.raises(vqcodec.VQError, match="limit of 255"):
        images.to_array(Image.fromarray(GRADIENT))
    images.check_pixels(16, 16, 256)
    images.check_pixels(16, 16, 0)  # 0: no limit


def test_max_pixels_lifts_the_limit_for_encode(monkeypatch, photo, tmp_path):
    monkeypatch.setattr(container, "MAX_IMAGE_PIXELS", 255)
    data = vqcodec.encode(GRADIENT, 2, max_pixels=256)
    assert vqcodec.decode(data, max_pixels=256).shape == (16, 16)
    assert main(["encode", str(photo), "-o", str(tmp_path / "p.vq"), "--max-pixels", "0"]) == 0


# --- 3. no-overwrite holds under a race --------------------------------------------------


def racing_encode(barrier, source, output, results):
    stderr = io.StringIO()
    sys.stderr = stderr
    barrier.wait()
    code = main(["encode", str(source), "-o", str(output), "-q", "--bits", "8"])
    results.send((code, stderr.getvalue()))


def test_two_concurrent_writers_exactly_one_wins(tmp_path):
    """Issue 14: `encode A -o same.vq & encode B -o same.vq` both exited 0, one output
    silently replacing the other. Two processes released together by a barrier."""
    rng = np.random.default_rng(2)
    sources = []
    for name in "AB":
        path = tmp_path / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (256, 256), dtype=np.uint8)).save(path)
        sources.append(path)
    expected = [vqcodec.encode(np.asarray(Image.open(path)), 8) for path in sources]
    context = multiprocessing.get_context("fork")
    for trial in range(20):
        output = tmp_path / f"same{trial}.vq"
        barrier = context.Barrier(2)
        pipes = [context.Pipe(duplex=False) for _ in sources]
        workers = [
            context.Process(target=racing_encode, args=(barrier, source, output, sending))
            for source, (_, sending) in zip(sources, pipes, strict=True)
        ]
        for worker in workers:
            worker.start()
        results = [receiving.recv() for receiving, _ in pipes]
        for worker in workers:
            worker.join(timeout=30)
        codes = sorted(code for code, _ in results)
        assert codes == [0, 1], (trial, results)
        message = next(err for code, err in results if code == 1)
        assert message == f"vqcodec: error: {output}: exists; use --force to overwrite\n"
        assert output.read_bytes() in expected
        assert sorted(os.listdir(tmp_path)) == sorted(
            ["A.png", "B.png", *(f"same{n}.vq" for n in range(trial + 1))]
        )


def appear_meanwhile(path, strategy, monkeypatch):
    """Write ``path`` without overwrite while another program creates it meanwhile."""
    if strategy != "link":
        monkeypatch.setattr(os, "link", no_links)
    if strategy == "exclusive-create":
        monkeypatch.setattr(_atomic, "_rename_noreplace", lambda temp, target: False)
    with _atomic.atomic_output(path, overwrite=False) as handle:
        handle.write(b"ours")
        path.write_bytes(b"theirs")


def no_links(source, target):
    raise PermissionError(errno.EPERM, "Operation not permitted", source, None, target)


@pytest.mark.parametrize("strategy", ["link", "renameat2", "exclusive-create"])
def test_the_last_step_keeps_a_file_that_appeared_meanwhile(tmp_path, monkeypatch, strategy):
    """link-then-unlink; renameat2(RENAME_NOREPLACE) where there are no hard links; an
    O_EXCL claim where neither works."""
    path = tmp_path / "out.vq"
    with pytest.raises(FileExistsError) as caught:
        appear_meanwhile(path, strategy, monkeypatch)
    assert caught.value.filename == str(path)
    assert path.read_bytes() == b"theirs"
    assert os.listdir(tmp_path) == ["out.vq"]
    fresh = tmp_path / "fresh.vq"
    with _atomic.atomic_output(fresh, overwrite=False) as handle:
        handle.write(b"ours")
    assert fresh.read_bytes() == b"ours"
    assert sorted(os.listdir(tmp_path)) == ["fresh.vq", "out.vq"]


# --- 4. the smaller items ----------------------------------------------------------------


def test_negative_seed_is_a_clean_error(tmp_path, capsys):
    source = tmp_path / "c.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (8, 8, 3), np.uint8)).save(source)
    with pytest.raises(SystemExit) as caught:
        main(["encode", str(source), "--seed", "-1"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "seed must be >= 0, not -1" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="seed must be >= 0"):
        vqcodec.encode(np.zeros((4, 4, 3), np.uint8), 2, seed=-1)


@pytest.mark.parametrize("kind", [np.uint8, np.uint16, np.uint32, np.uint64, np.int64])
def test_numpy_integers_for_bits_and_seed(kind):
    data = vqcodec.encode(GRADIENT, kind(4), seed=kind(3))
    assert vqcodec.info(data)["bits"] == 4


def test_modes_of_spec_section_10():
    gray, alpha = np.array([[10, 200, 77]], np.uint8), np.array([[255, 128, 0]], np.uint8)
    la = Image.frombytes("LA", (3, 1), np.dstack([gray, alpha]).tobytes())
    expected = np.dstack([gray, gray, gray, alpha])
    np.testing.assert_array_equal(images.to_array(la), expected)
    # La is premultiplied: Pillow's un-premultiplication, then as LA (spec §10)
    premultiplied = Image.frombytes("La", (3, 1), np.dstack([gray, alpha]).tobytes())
    np.testing.assert_array_equal(
        images.to_array(premultiplied), images.to_array(premultiplied.convert("LA"))
    )
    assert vqcodec.decode(vqcodec.encode(premultiplied, 8)).shape == (1, 3, 4)
    palette = Image.new("PA", (3, 1))
    assert images.to_array(palette).shape == (1, 3, 4)
    for mode in ("I;16", "I;16B", "I;16L"):
        order = ">" if mode == "I;16B" else "<"
        wide = Image.frombytes(mode, (2, 1), struct.pack(order + "HH", 0x1234, 0xFF00))
        np.testing.assert_array_equal(images.to_array(wide)[..., 0], [[0x12, 0xFF]])


def run_cli(*args):
    """The CLI in a fresh process whose stdout and stderr refuse anything but UTF-8."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    return subprocess.run([sys.executable, "-m", "vqcodec", *args], capture_output=True, env=env)


def test_a_name_with_byte_ff_under_a_strict_utf8_stdout(tmp_path):
    """The name is not UTF-8: printing it raw failed after the file was written."""
    folder = os.fsencode(tmp_path)
    source = os.path.join(folder, b"caf\xff.png")
    Image.fromarray(GRADIENT).save(os.fsdecode(source), "PNG")
    result = run_cli("encode", source)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert b"caf\\xff.png -> " in result.stdout
    assert os.path.exists(os.path.join(folder, b"caf\xff.vq"))
    result = run_cli("info", os.path.join(folder, b"gone\xff.vq"))
    assert result.returncode == 1
    assert result.stderr.endswith(b"gone\\xff.vq: No such file or directory\n")


# --- issue 9: outputs that cannot destroy, errors that name the file, closed pipes --------


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(GRADIENT).save(path)
    return path


@pytest.fixture
def null_device(tmp_path):
    """A private twin of /dev/null (character device 1, 3). Never the real one: a regression
    would replace it with a regular file for the whole machine, as the old code did."""
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        path.write_bytes(b"probe")
    except OSError as error:  # no CAP_MKNOD, or a file system mounted nodev
        pytest.skip(f"cannot make a device node here: {error}")
    return path


@pytest.mark.parametrize("force", [[], ["-f"]])
def test_a_device_output_is_written_through_not_replaced(photo, null_device, force):
    """`-o /dev/null -f` replaced /dev/null with a regular file."""
    device = os.stat(null_device).st_rdev
    assert main(["encode", str(photo), "-o", str(null_device), "-q", *force]) == 0
    vqcodec.write(null_device, GRADIENT, 2)
    after = os.stat(null_device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == device


def test_a_fifo_output_is_written_through(photo, tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert main(["encode", str(photo), "-o", str(fifo), "-q"]) == 0
    reader.join(timeout=10)
    assert received == [vqcodec.encode(GRADIENT, 4)]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_symlink_output_replaces_its_target_and_stays_a_link(photo, tmp_path, capsys):
    target = tmp_path / "real.vq"
    target.write_bytes(b"old")
    link = tmp_path / "link.vq"
    link.symlink_to(target.name)
    assert main(["encode", str(photo), "-o", str(link), "-q"]) == 1
    assert "exists; use --force" in capsys.readouterr().err
    assert main(["encode", str(photo), "-o", str(link), "-q", "-f"]) == 0
    assert link.is_symlink() and os.readlink(link) == "real.vq"
    assert target.read_bytes() == vqcodec.encode(GRADIENT, 4)


def test_an_input_of_the_same_run_is_never_an_output(photo, tmp_path, capsys):
    """`encode photo.png photo.vq -f`: photo.png's output is photo.vq, an input."""
    kept = tmp_path / "photo.vq"
    kept.write_bytes(b"an input of this run")
    assert main(["encode", str(photo), str(kept), "-f", "-q"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"vqcodec: error: {kept}: is an input of this run; refusing to write over it"
    assert kept.read_bytes() == b"an input of this run"


def test_every_error_line_names_its_file(photo, tmp_path, capsys, vq_bytes):
    good = tmp_path / "good.vq"
    good.write_bytes(vq_bytes)
    truncated = tmp_path / "trunc.vq"
    truncated.write_bytes(vq_bytes[:-1])
    assert main(["info", str(good), str(photo), str(truncated)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"vqcodec: error: {photo}: magic: not a .vq file (starts with b'\\x89PNG')",
        f"vqcodec: error: {truncated}: file: truncated: {len(vq_bytes) - 1} bytes, the header "
        f"announces {len(vq_bytes)}",
    ]
    missing_folder = tmp_path / "no" / "x.vq"
    assert main(["encode", str(photo), "-o", str(missing_folder)]) == 1
    err = capsys.readouterr().err
    assert err == f"vqcodec: error: {missing_folder}: No such file or directory\n"
    wide = tmp_path / "int32.tif"
    Image.new("I", (2, 2)).save(wide)
    assert main(["encode", str(wide), "-o", str(tmp_path / "c.vq")]) == 1
    assert capsys.readouterr().err.startswith(f"vqcodec: error: {wide}: image mode 'I'")
    under_a_file = tmp_path / "photo.png" / "x.png"  # -o DIR/ and folders: tests/test_cli_io.py
    assert main(["decode", str(good), "-o", str(under_a_file)]) == 1
    assert capsys.readouterr().err == f"vqcodec: error: {under_a_file}: Not a directory\n"
    rgba = tmp_path / "rgba.vq"
    vqcodec.write(rgba, np.zeros((2, 2, 4), np.uint8), 1)
    assert main(["decode", str(rgba), "-o", str(tmp_path / "x.jpg")]) == 1
    assert capsys.readouterr().err.startswith(
        f"vqcodec: error: {tmp_path / 'x.jpg'}: JPEG has no alpha"
    )
    assert ".tmp" not in "".join(os.listdir(tmp_path))


def test_a_failed_write_names_the_output_not_the_input(photo, tmp_path):
    """A file-size limit (RLIMIT_FSIZE) makes the write fail with EFBIG, an error that
    names no file: the output is the one at fault."""
    output = tmp_path / "out.vq"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    result = subprocess.run(
        [sys.executable, "-m", "vqcodec", "encode", str(photo), "-o", str(output), "-c", "packed"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
    )
    assert result.returncode == 1
    assert result.stderr == f"vqcodec: error: {output}: File too large\n"
    assert os.listdir(tmp_path) == ["photo.png"]


class ClosedPipe(io.StringIO):
    """stdout after its reader went away: the first write fails with EPIPE."""

    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_a_closed_pipe_ends_quietly(vq_bytes, tmp_path, monkeypatch, capsys):
    path = tmp_path / "a.vq"
    path.write_bytes(vq_bytes)
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["info", str(path), str(path), str(path)]) == 128 + 13
    assert capsys.readouterr().err == ""


def test_info_piped_into_head_ends_quietly(vq_bytes, tmp_path):
    """`vqcodec info *.vq | head -1` printed one Errno 32 line per file and exited 1. The
    output (~150 KB) is larger than a pipe's buffer, so writes fail after the close."""
    path = tmp_path / "a.vq"
    path.write_bytes(vq_bytes)
    process = subprocess.Popen(
        [sys.executable, "-m", "vqcodec", "info", *[str(path)] * 300],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout.readline() == f"{path}:\n".encode()
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 128 + 13
    assert stderr == b""
