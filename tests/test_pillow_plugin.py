"""The Pillow plugin (vqcodec.pillow), tested the way Pillow tests its own format plugins:
open, load and save round trips per mode, sniffing, a header-only open, the ladder of broken
files, save options, file objects, thumbnail, registration."""

import io
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import vqcodec
import vqcodec.pillow
from vqcodec import codec, container

RNG = np.random.default_rng(7)
SAMPLES = {
    "L": RNG.integers(0, 256, (12, 17), dtype=np.uint8),
    "RGB": RNG.integers(0, 256, (12, 17, 3), dtype=np.uint8),
    "RGBA": RNG.integers(0, 256, (12, 17, 4), dtype=np.uint8),
}


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", SAMPLES)
def test_open_and_load_give_what_vqcodec_reads(mode, tmp_path):
    data = vqcodec.encode(SAMPLES[mode], bits=3)
    path = tmp_path / "sample.vq"
    path.write_bytes(data)
    with Image.open(path) as image:
        assert (image.format, image.mode, image.size) == ("VQ", mode, (17, 12))
        assert image.get_format_mimetype() == "image/x-vq"
        assert np.array_equal(np.asarray(image), vqcodec.decode(data))


@pytest.mark.parametrize("mode", SAMPLES)
def test_save_writes_what_vqcodec_encodes(mode, tmp_path):
    image = Image.fromarray(SAMPLES[mode])
    path = tmp_path / "saved.vq"
    image.save(path)  # the format from the extension
    assert path.read_bytes() == vqcodec.encode(image)
    with Image.open(path) as reopened:
        assert reopened.mode == mode
        assert np.array_equal(np.asarray(reopened), vqcodec.read(path))


def test_file_objects_as_source_and_destination():
    destination = io.BytesIO()
    Image.fromarray(SAMPLES["RGB"]).save(destination, format="VQ")
    data = destination.getvalue()
    assert data == vqcodec.encode(SAMPLES["RGB"])
    source = io.BytesIO(data)
    with Image.open(source) as image:
        assert source.tell() == container.HEADER_BYTES  # the open read the header alone
        assert image.format == "VQ"
        assert np.array_equal(np.asarray(image), vqcodec.decode(data))


def test_a_vq_file_is_found_by_its_magic_whatever_its_name(tmp_path):
    data = vqcodec.encode(SAMPLES["L"], bits=2)
    for name in ("image.png", "image.jpg", "no-extension"):
        path = tmp_path / name
        path.write_bytes(data)
        with Image.open(path) as image:
            assert image.format == "VQ"
            assert np.array_equal(np.asarray(image), vqcodec.decode(data))


def test_other_files_are_unaffected(tmp_path):
    png = _png_bytes(SAMPLES["RGB"])
    path = tmp_path / "really-a-png.vq"
    path.write_bytes(png)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert np.array_equal(np.asarray(image), SAMPLES["RGB"])
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(png), formats=["VQ"])
    for junk in (b"", b"\x89V", b"not an image at all, nor a .vq file"):
        with pytest.raises(UnidentifiedImageError):
            Image.open(io.BytesIO(junk))


def test_open_reads_the_header_alone_and_load_reads_the_rest():
    data = vqcodec.encode(SAMPLES["RGB"], bits=5, coding="packed")
    truncated = io.BytesIO(data[: len(data) // 2])
    with Image.open(truncated) as image:
        assert (image.mode, image.size) == ("RGB", (17, 12))
        assert image.info == {"bits": 5, "coding": "packed", "codebook_entries": 32}
        with pytest.raises(vqcodec.FormatError) as caught:
            image.load()
    assert caught.value.field == "file" and "truncated" in str(caught.value)


def _edited(offset: int, value: int, *, sealed: bool) -> bytes:
    data = bytearray(vqcodec.encode(SAMPLES["L"], bits=2))
    data[offset] = value
    return container.seal(data) if sealed else bytes(data)


def _flipped(offset: int) -> bytes:
    data = bytearray(vqcodec.encode(SAMPLES["L"], bits=2))
    data[offset] ^= 0xFF
    return bytes(data)


BROKEN_HEADERS = {
    "magic only": (container.MAGIC, "header"),
    "version 2": (_edited(4, 2, sealed=True), "version"),
    "header_crc": (_edited(8, 99, sealed=False), "header_crc"),
    "bits 9": (_edited(7, 9, sealed=True), "bits"),
}
BROKEN_BODIES = {
    "truncated": (vqcodec.encode(SAMPLES["L"], bits=2)[:-1], "file"),
    "trailing data": (vqcodec.encode(SAMPLES["L"], bits=2) + b"\0", "file"),
    "data_crc": (_flipped(container.HEADER_BYTES), "data_crc"),  # a codebook byte
}


@pytest.mark.parametrize("case", BROKEN_HEADERS)
def test_a_broken_header_raises_format_error_at_open(case):
    data, field = BROKEN_HEADERS[case]
    with pytest.raises(vqcodec.FormatError) as caught:
        Image.open(io.BytesIO(data))
    assert caught.value.field == field


@pytest.mark.parametrize("case", BROKEN_BODIES)
def test_a_broken_body_opens_and_raises_format_error_at_load_and_verify(case):
    data, field = BROKEN_BODIES[case]
    with Image.open(io.BytesIO(data)) as image, pytest.raises(vqcodec.FormatError) as caught:
        image.load()
    assert caught.value.field == field
    with Image.open(io.BytesIO(data)) as image, pytest.raises(vqcodec.FormatError) as caught:
        image.verify()
    assert caught.value.field == field


def test_verify_passes_a_valid_file():
    with Image.open(io.BytesIO(vqcodec.encode(SAMPLES["RGBA"], bits=4))) as image:
        image.verify()


def test_save_options_reach_the_encoder():
    image = Image.fromarray(SAMPLES["RGB"])
    assert vqcodec.encode(image, bits=3, seed=3) != vqcodec.encode(image, bits=3)  # seed shows
    buffer = io.BytesIO()
    image.save(buffer, format="VQ", bits=3, coding="packed", seed=3, quality=90)
    data = buffer.getvalue()
    assert data == vqcodec.encode(image, bits=3, coding="packed", seed=3)
    assert (vqcodec.info(data)["bits"], vqcodec.info(data)["coding"]) == (3, "packed")


def test_save_defaults_are_encodes():
    image = Image.fromarray(SAMPLES["RGB"])
    buffer = io.BytesIO()
    image.save(buffer, format="VQ")
    assert buffer.getvalue() == vqcodec.encode(image)


def test_a_refused_save_raises_and_leaves_no_file(tmp_path):
    path = tmp_path / "refused.vq"
    with pytest.raises(ValueError, match="bits"):
        Image.fromarray(SAMPLES["L"]).save(path, bits=9)
    assert not path.exists()
    with pytest.raises(vqcodec.VQError, match="mode"):
        Image.new("F", (3, 3)).save(path)
    assert not path.exists()


def _palette_with_transparency() -> Image.Image:
    image = Image.frombytes("P", (17, 12), (SAMPLES["L"] >> 6).tobytes())
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.info["transparency"] = 2
    return image


@pytest.mark.parametrize(
    ("make", "opens_as"),
    [
        (lambda: Image.fromarray(SAMPLES["L"]).convert("1"), "L"),
        (lambda: Image.fromarray(SAMPLES["RGBA"]).convert("LA"), "RGBA"),
        (lambda: Image.fromarray(SAMPLES["RGB"]).convert("P"), "RGB"),
        (_palette_with_transparency, "RGBA"),
        (lambda: Image.fromarray(SAMPLES["L"].astype(np.uint16) * 257), "L"),
    ],
    ids=["1", "LA", "P", "P+transparency", "I;16"],
)
def test_other_modes_are_saved_as_vqcodec_converts_them(make, opens_as):
    image = make()
    buffer = io.BytesIO()
    image.save(buffer, format="VQ", bits=8)
    assert buffer.getvalue() == vqcodec.encode(image, bits=8)
    buffer.seek(0)
    with Image.open(buffer) as reopened:
        assert reopened.mode == opens_as


def test_thumbnail_resamples_the_decoded_image(tmp_path):
    path = tmp_path / "astronaut.vq"
    astronaut = resources.files("vqcodec.data") / "astronaut.png"
    with resources.as_file(astronaut) as png, Image.open(png) as source:
        vqcodec.write(path, source, bits=4)
    expected = Image.fromarray(vqcodec.read(path))
    expected.thumbnail((64, 64))
    with Image.open(path) as image:
        image.thumbnail((64, 64))
        assert (image.mode, image.size) == ("RGB", (64, 64))
        assert np.array_equal(np.asarray(image), np.asarray(expected))


@pytest.mark.parametrize("mode", SAMPLES)
def test_draft_p_gives_the_codebook_as_palette_and_the_labels_as_pixels(mode):
    data = vqcodec.encode(SAMPLES[mode], bits=3)
    header, codebook, labels = codec.decode_parts(data)
    with Image.open(io.BytesIO(data)) as image:
        assert image.draft("P", None) == ("P", (0, 0, 17, 12))
        assert image.mode == "P"
        assert np.array_equal(np.asarray(image).ravel(), labels)
        assert image.palette.mode == ("RGBA" if mode == "RGBA" else "RGB")
        assert np.array_equal(np.asarray(image.convert(mode)), vqcodec.decode(data))
        palette = np.frombuffer(bytes(image.getpalette(image.palette.mode)), np.uint8)
    entries = palette.reshape(-1, 4 if mode == "RGBA" else 3)[: header.codebook_entries]
    assert np.array_equal(entries[:, : codebook.shape[1]], codebook)


def test_draft_changes_nothing_but_a_p_request_before_loading():
    data = vqcodec.encode(SAMPLES["RGB"], bits=3)
    with Image.open(io.BytesIO(data)) as image:
        assert image.draft("L", None) is None
        assert image.draft(None, (4, 4)) is None  # what thumbnail asks
        assert image.mode == "RGB"
        image.load()
        assert image.draft("P", None) is None
        assert image.mode == "RGB"


def test_a_palette_draft_saves_as_a_palette_png():
    data = vqcodec.encode(SAMPLES["RGB"], bits=3)
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.draft("P", None)
        image.save(buffer, format="PNG")
    buffer.seek(0)
    with Image.open(buffer) as png:
        assert png.mode == "P"
        assert np.array_equal(np.asarray(png.convert("RGB")), vqcodec.decode(data))


def test_pillows_pixel_limit_applies_and_vqcodecs_does_not_apply_twice(monkeypatch):
    data = vqcodec.encode(SAMPLES["L"], bits=2)  # 17 x 12 = 204 pixels
    monkeypatch.setattr(container, "MAX_IMAGE_PIXELS", 50)  # vqcodec.read would refuse it
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 101)  # Pillow's error limit: 202
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)
    with pytest.warns(Image.DecompressionBombWarning), Image.open(io.BytesIO(data)) as image:
        assert np.array_equal(np.asarray(image), vqcodec.decode(data, max_pixels=0))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Image.open(io.BytesIO(data)) as image:
        image.load()


def test_register_is_idempotent_even_where_pillow_is_not(monkeypatch):
    def appending_register_open(format_id, factory, accept=None):
        # Older Pillows: every call appends the format again.
        Image.ID.append(format_id.upper())
        Image.OPEN[format_id.upper()] = factory, accept

    monkeypatch.setattr(Image, "register_open", appending_register_open)
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != "VQ"])
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "VQ"})
    vqcodec.pillow.register()
    vqcodec.pillow.register()
    assert Image.ID.count("VQ") == 1
    assert Image.OPEN["VQ"][0] is vqcodec.pillow.VqImageFile
    assert Image.SAVE["VQ"] is vqcodec.pillow._save
    assert Image.EXTENSION[".vq"] == "VQ"
    assert Image.MIME["VQ"] == "image/x-vq"
    with Image.open(io.BytesIO(vqcodec.encode(SAMPLES["L"], bits=1))) as image:
        assert image.format == "VQ"


def test_only_importing_vqcodec_pillow_registers_the_format():
    script = (
        "from PIL import Image\n"
        "import vqcodec\n"
        "assert 'VQ' not in Image.ID and '.vq' not in Image.EXTENSION\n"
        "import vqcodec.pillow\n"
        "assert Image.ID.count('VQ') == 1 and Image.EXTENSION['.vq'] == 'VQ'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
