"""The library API: what it accepts, what it refuses, and how it writes."""

import os

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import container

GRADIENT = np.arange(256, dtype=np.uint8).reshape(16, 16)


def test_public_names():
    assert set(vqcodec.__all__) == {
        "encode",
        "train",
        "Codebook",
        "decode",
        "read",
        "write",
        "info",
        "VQError",
        "FormatError",
        "TargetError",
    }
    assert issubclass(vqcodec.FormatError, vqcodec.VQError)
    assert issubclass(vqcodec.VQError, ValueError)


@pytest.mark.parametrize(
    ("mode", "shape"),
    [
        ("L", (5, 7)),
        ("RGB", (5, 7, 3)),
        ("RGBA", (5, 7, 4)),
        ("1", (5, 7)),
        ("P", (5, 7, 3)),
        ("LA", (5, 7, 4)),
        ("I;16", (5, 7)),
    ],
)
def test_pil_modes_are_converted(mode, shape):
    rng = np.random.default_rng(1)
    source = Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)).convert(mode)
    decoded = vqcodec.decode(vqcodec.encode(source, bits=8))
    assert decoded.shape == shape


def test_pil_palette_with_transparency_keeps_alpha():
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.info["transparency"] = 1
    decoded = vqcodec.decode(vqcodec.encode(image, bits=1))
    assert decoded.shape == (4, 4, 4) and (decoded[..., 3] == 0).all()


def test_sixteen_bit_gray_keeps_the_high_byte():
    wide = np.array([[0, 255, 256, 65535]], np.uint16)
    source = Image.fromarray(wide)
    assert source.mode.startswith("I;16")
    decoded = vqcodec.decode(vqcodec.encode(source, bits=2))
    np.testing.assert_array_equal(decoded, [[0, 0, 1, 255]])


def test_array_with_one_channel_axis_decodes_as_gray():
    assert vqcodec.decode(vqcodec.encode(GRADIENT[:, :, None], 8)).shape == (16, 16)


@pytest.mark.parametrize(
    ("image", "error", "text"),
    [
        (GRADIENT.astype(np.float32), TypeError, "dtype uint8"),
        (GRADIENT.astype(bool), TypeError, "dtype uint8"),
        (np.zeros((4, 4, 2), np.uint8), ValueError, "shape"),
        (np.zeros((4,), np.uint8), ValueError, "shape"),
        (np.zeros((0, 4), np.uint8), vqcodec.VQError, "empty"),
        ([[1, 2], [3, 4]], TypeError, "numpy array or a PIL image"),
        (Image.new("HSV", (2, 2)), vqcodec.VQError, "mode 'HSV'"),
        (Image.new("F", (2, 2)), vqcodec.VQError, "mode 'F'"),
        (Image.new("I", (2, 2)), vqcodec.VQError, "mode 'I'"),
        (Image.new("L", (0, 3)), vqcodec.VQError, "empty"),
    ],
)
def test_bad_images_are_refused_clearly(image, error, text):
    with pytest.raises(error, match=text):
        vqcodec.encode(image, 4)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"bits": 0}, ValueError),
        ({"bits": 9}, ValueError),
        ({"bits": 2.0}, TypeError),
        ({"bits": True}, TypeError),
        ({"coding": "zstd"}, ValueError),
        ({"seed": "x"}, TypeError),
    ],
)
def test_bad_options_are_refused(options, error):
    with pytest.raises(error):
        vqcodec.encode(GRADIENT, **options)


def test_decode_refuses_non_bytes():
    with pytest.raises(TypeError):
        vqcodec.decode("not bytes")


def test_decode_accepts_bytearray_and_memoryview():
    data = vqcodec.encode(GRADIENT, 3)
    expected = vqcodec.decode(data)
    np.testing.assert_array_equal(vqcodec.decode(bytearray(data)), expected)
    np.testing.assert_array_equal(vqcodec.decode(memoryview(data)), expected)


def test_write_read_and_info_by_path(tmp_path):
    path = tmp_path / "gradient.vq"
    vqcodec.write(path, GRADIENT, bits=5, coding="packed")
    np.testing.assert_array_equal(vqcodec.read(path), vqcodec.decode(vqcodec.encode(GRADIENT, 5)))
    meta = vqcodec.info(path)
    assert meta == vqcodec.info(path.read_bytes())
    assert meta["file_bytes"] == os.path.getsize(path)
    assert (meta["width"], meta["height"], meta["channels"], meta["bits"], meta["coding"]) == (
        16,
        16,
        1,
        5,
        "packed",
    )
    assert os.listdir(tmp_path) == ["gradient.vq"]  # no temp file left behind


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "keep.vq"
    vqcodec.write(path, GRADIENT, bits=2)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        vqcodec.write(path, GRADIENT, bits=12)
    with pytest.raises(TypeError):
        vqcodec.write(path, "not an image")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.vq"]


def test_pixel_limit_is_checked_before_decoding(monkeypatch):
    data = vqcodec.encode(GRADIENT, 2)
    monkeypatch.setattr(container, "MAX_IMAGE_PIXELS", 255)
    with pytest.raises(vqcodec.FormatError, match="limit of 255"):
        vqcodec.decode(data)
    monkeypatch.setattr(container, "MAX_IMAGE_PIXELS", None)
    assert vqcodec.decode(data).shape == (16, 16)


def test_written_files_get_normal_permissions(tmp_path):
    """A new file gets the umask's default mode; an overwritten one keeps its mode."""
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.vq"
        vqcodec.write(fresh, GRADIENT, bits=2)
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.vq"
        kept.write_bytes(b"old")
        kept.chmod(0o640)
        vqcodec.write(kept, GRADIENT, bits=2)
        assert kept.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
