"""Images in as a viewer shows them, decoded images out as users want them (vqcodec.images).

In: EXIF orientation, ICC profiles and CMYK to sRGB, animated files refused. Out:
``save_decoded`` per format and channel count, read back with Pillow. Every image here is
made in the test, so that nothing depends on files outside the repository.
"""

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

import vqcodec
from vqcodec import codec, images
from vqcodec.images import open_image, save_decoded, to_array

# An image whose every pixel differs, so that any turn or flip shows.
ASYMMETRIC = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3) * 2

# What a viewer shows for each EXIF orientation (EXIF 2.32, tag 274), written with numpy
# alone so that a mistake in the code's table cannot hide in the same table here.
VIEWED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),  # row 0 is the left side, column 0 the top
    6: lambda a: np.rot90(a, -1),  # row 0 is the right side: turn clockwise
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def exif_with(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


# --- EXIF orientation ---------------------------------------------------------------------


@pytest.mark.parametrize("orientation", sorted(VIEWED))
def test_exif_orientation_is_applied_to_files_and_pil_images(tmp_path, orientation):
    path = tmp_path / "turned.png"
    Image.fromarray(ASYMMETRIC).save(path, exif=exif_with(orientation))
    expected = VIEWED[orientation](ASYMMETRIC)
    opened = open_image(path)
    np.testing.assert_array_equal(to_array(opened), expected)  # turned once, not twice
    with Image.open(path) as image:  # a PIL image given to encode() is turned the same way
        np.testing.assert_array_equal(to_array(image), expected)


def test_exif_orientation_of_a_jpeg_turns_the_encoded_image(tmp_path):
    # Left half dark, right half light: JPEG's loss cannot blur which side is which.
    array = np.zeros((16, 32, 3), np.uint8)
    array[:, 16:] = 255
    path = tmp_path / "camera.jpg"
    Image.fromarray(array).save(path, exif=exif_with(6), quality=95)
    decoded = vqcodec.decode(vqcodec.encode(open_image(path), bits=1))
    assert decoded.shape == (32, 16, 3)  # upright: portrait, as a viewer shows it
    assert decoded[:16].mean() < 30 and decoded[16:].mean() > 225  # the left went to the top


def test_exif_orientation_of_a_tiff_is_applied_once(tmp_path):
    """Pillow turns a TIFF by its orientation tag as it opens it, and drops the tag; the
    image must not be turned a second time."""
    path = tmp_path / "scan.tif"
    Image.fromarray(ASYMMETRIC).save(path, tiffinfo={0x0112: 8})
    np.testing.assert_array_equal(to_array(open_image(path)), VIEWED[8](ASYMMETRIC))
    with Image.open(path) as image:
        np.testing.assert_array_equal(to_array(image), VIEWED[8](ASYMMETRIC))


def test_upright_image_is_left_as_it_is():
    image = Image.fromarray(ASYMMETRIC)
    assert images.upright(image) is image


# --- colour: CMYK and ICC profiles to sRGB ------------------------------------------------


def test_cmyk_without_a_profile_becomes_rgb_by_pillows_formula(tmp_path):
    cmyk = Image.frombytes(
        "CMYK", (4, 1), bytes([0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 0, 128, 255, 0])
    )
    expected = [[[255, 255, 255], [0, 255, 255], [0, 0, 0], [255, 127, 0]]]
    np.testing.assert_array_equal(to_array(cmyk), expected)
    path = tmp_path / "print.jpg"
    cmyk.resize((32, 8)).save(path, quality=95)
    assert vqcodec.decode(vqcodec.encode(open_image(path), bits=2)).shape == (8, 32, 3)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def make_profile(space: bytes, tags: dict[bytes, bytes], device_class: bytes = b"mntr") -> bytes:
    """A minimal ICC v2 profile (ICC.1:2001-04): header, tag table, tag data."""
    table, data = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for signature, body in tags.items():
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    d50 = _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + device_class
        + space
        + b"XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + d50
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _gamma(value: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(value * 256))


def _desc(text: str) -> bytes:
    ascii_text = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + b"\0" * 79


WHITE = _xyz(0.9642, 1.0, 0.8249)
# sRGB's primaries adapted to D50 (as LittleCMS's built-in sRGB has them), red and blue
# swapped: in this profile, (255, 0, 0) means sRGB's blue.
SWAPPED_RGB = make_profile(
    b"RGB ",
    {
        b"desc": _desc("red and blue swapped"),
        b"wtpt": WHITE,
        b"rXYZ": _xyz(0.1431, 0.0606, 0.7141),
        b"gXYZ": _xyz(0.3851, 0.7169, 0.0971),
        b"bXYZ": _xyz(0.4361, 0.2225, 0.0139),
        b"rTRC": _gamma(2.2),
        b"gTRC": _gamma(2.2),
        b"bTRC": _gamma(2.2),
    },
)
# Gray with a linear tone curve: the value 128 is half the light, which sRGB encodes as 188.
LINEAR_GRAY = make_profile(
    b"GRAY", {b"desc": _desc("linear gray"), b"wtpt": WHITE, b"kTRC": _gamma(1.0)}
)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_an_rgb_profile_is_converted_to_srgb(tmp_path):
    pixels = np.array([[[255, 0, 0], [0, 0, 255], [0, 255, 0], [255, 255, 255]]], np.uint8)
    path = tmp_path / "tagged.png"
    Image.fromarray(pixels).save(path, icc_profile=SWAPPED_RGB)
    converted = to_array(open_image(path)).astype(int)
    np.testing.assert_allclose(converted[0, 0], [0, 0, 255], atol=3)  # red means blue here
    np.testing.assert_allclose(converted[0, 1], [255, 0, 0], atol=3)
    np.testing.assert_allclose(converted[0, 2], [0, 255, 0], atol=3)
    np.testing.assert_allclose(converted[0, 3], [255, 255, 255], atol=1)


def test_rgba_keeps_its_alpha_through_the_profile():
    pixels = np.array([[[255, 0, 0, 7], [9, 9, 9, 200]]], np.uint8)
    image = Image.fromarray(pixels)
    image.info["icc_profile"] = SWAPPED_RGB
    converted = to_array(image)
    np.testing.assert_array_equal(converted[..., 3], pixels[..., 3])
    assert converted[0, 0, 2] > 250 and converted[0, 0, 0] < 5


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_a_gray_profile_is_converted_and_gray_stays_gray(mode):
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    image = Image.fromarray(ramp).convert(mode)
    image.info["icc_profile"] = LINEAR_GRAY
    converted = to_array(image)
    gray = converted[..., 0]
    assert converted.shape == ((16, 16, 1) if mode == "L" else (16, 16, 4))
    assert gray.flat[0] == 0 and gray.flat[255] == 255
    assert abs(int(gray.flat[128]) - 188) <= 2  # linear light, sRGB-encoded
    assert np.all(np.diff(gray.ravel().astype(int)) >= 0)  # the order of grays is kept
    if mode == "LA":
        assert np.all(converted[..., 0] == converted[..., 2])
        assert np.all(converted[..., 3] == 255)


def test_an_srgb_profile_changes_nothing():
    image = Image.fromarray(ASYMMETRIC)
    image.info["icc_profile"] = SRGB
    np.testing.assert_array_equal(to_array(image), ASYMMETRIC)


def test_a_profile_for_another_colour_space_is_ignored_as_libpng_does():
    image = Image.fromarray(ASYMMETRIC)
    image.info["icc_profile"] = LINEAR_GRAY  # a gray profile on an RGB image
    np.testing.assert_array_equal(to_array(image), ASYMMETRIC)


@pytest.mark.parametrize(
    ("icc", "text"),
    [
        (b"not a profile at all", "cannot be read"),
        (make_profile(b"RGB ", {b"wtpt": WHITE}, device_class=b"link"), "is a 'link' profile"),
    ],
)
def test_an_unusable_profile_is_a_clear_error(tmp_path, icc, text):
    path = tmp_path / "broken.png"
    Image.fromarray(ASYMMETRIC).save(path, icc_profile=icc)
    with pytest.raises(vqcodec.VQError, match=f"ICC profile is unusable: it {text}.*without"):
        vqcodec.encode(open_image(path))


# --- animated and multi-page files ---------------------------------------------------------


def _frames(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (8, 6), (40 * i, 255 - 40 * i, 7)) for i in range(count)]


@pytest.mark.parametrize(
    ("name", "fmt", "count"), [("a.gif", "GIF", 3), ("a.png", "PNG", 4), ("a.tif", "TIFF", 2)]
)
def test_animated_and_multi_page_files_are_refused_naming_the_frames(tmp_path, name, fmt, count):
    path = tmp_path / name
    first, *rest = _frames(count)
    first.save(path, fmt, save_all=True, append_images=rest)
    with pytest.raises(vqcodec.VQError, match=rf"{fmt} image with {count} frames.*frame"):
        open_image(path)


def test_a_still_gif_is_taken():
    buffer = io.BytesIO()
    _frames(1)[0].save(buffer, "GIF")
    buffer.seek(0)
    assert to_array(open_image(buffer)).shape == (6, 8, 3)


def test_a_pil_image_of_several_frames_is_taken_at_its_current_frame(tmp_path):
    path = tmp_path / "a.gif"
    first, *rest = _frames(3)
    first.save(path, save_all=True, append_images=rest)
    with Image.open(path) as image:
        image.seek(2)
        np.testing.assert_array_equal(to_array(image)[0, 0], [80, 175, 7])


# --- out: save_decoded ---------------------------------------------------------------------


def make_codebook(channels: int, entries: int = 16, *, alpha: str = "partial") -> np.ndarray:
    rng = np.random.default_rng(channels * 100 + entries)
    codebook = rng.integers(0, 256, (entries, channels), dtype=np.uint8)
    if channels == 4:
        codebook[:, 3] = {
            "partial": np.linspace(0, 255, entries).astype(np.uint8),
            "binary": np.where(np.arange(entries) % 4 == 0, 0, 255),
            "opaque": 255,
        }[alpha]
    return codebook


def make_labels(entries: int, shape: tuple[int, int] = (23, 37)) -> np.ndarray:
    rng = np.random.default_rng(entries)
    labels = rng.integers(0, entries, shape, dtype=np.uint8)
    labels.flat[:entries] = np.arange(entries)  # every entry used
    return labels


def read_back(data: bytes | io.BytesIO, channels: int) -> np.ndarray:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    source.seek(0)
    with Image.open(source) as image:
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        if channels == 1 and image.mode not in ("L", "P"):  # WebP has no gray: R = G = B
            rgb = np.asarray(image.convert("RGB"))
            assert (rgb == rgb[..., :1]).all()
            return rgb[..., 0]
        return np.asarray(image.convert(mode))


LOSSLESS = [("png", 1), ("png", 3), ("png", 4), ("gif", 1), ("gif", 3), ("tif", 1)]
LOSSLESS += [("tif", 3), ("tif", 4), ("webp", 1), ("webp", 3), ("webp", 4), ("bmp", 1)]
LOSSLESS += [("bmp", 3), ("ppm", 1), ("ppm", 3), ("tga", 4)]


@pytest.mark.parametrize(("extension", "channels"), LOSSLESS)
@pytest.mark.parametrize("entries", [1, 2, 16, 256])
def test_lossless_outputs_hold_the_decoded_pixels_exactly(tmp_path, extension, channels, entries):
    codebook = make_codebook(channels, entries)
    labels = make_labels(entries)
    path = tmp_path / f"out.{extension}"
    save_decoded(path, codebook, labels)
    expected = codebook[labels]
    got = read_back(path.read_bytes(), channels)
    np.testing.assert_array_equal(got, expected[..., 0] if channels == 1 else expected)


def test_gif_keeps_binary_alpha_as_one_transparent_entry():
    codebook = make_codebook(4, alpha="binary")  # entries 0, 4, 8, 12 are transparent
    labels = make_labels(16)
    buffer = io.BytesIO()
    save_decoded(buffer, codebook, labels, format="GIF")
    got = read_back(buffer, 4)
    expected = codebook[labels]
    visible = expected[..., 3] == 255
    np.testing.assert_array_equal(got[visible], expected[visible])
    np.testing.assert_array_equal(got[..., 3], expected[..., 3])  # transparency kept
    with Image.open(buffer) as image:
        assert isinstance(image.info["transparency"], int)  # one entry, as GIF has it


def test_gif_refuses_partial_alpha_naming_the_fix():
    with pytest.raises(vqcodec.VQError, match=r"GIF keeps only on/off.*\.png or \.webp"):
        save_decoded(io.BytesIO(), make_codebook(4), make_labels(16), format="GIF")


@pytest.mark.parametrize("extension", ["jpg", "bmp", "ppm"])
def test_alpha_to_a_format_without_alpha_names_the_fix(tmp_path, extension):
    path = tmp_path / f"out.{extension}"
    with pytest.raises(vqcodec.VQError, match=r"has no alpha.*use \.png, \.webp or \.tif"):
        save_decoded(path, make_codebook(4), make_labels(16))
    assert not path.exists()


def test_opaque_rgba_goes_to_formats_without_alpha_as_rgb(tmp_path):
    codebook = make_codebook(4, alpha="opaque")
    labels = make_labels(16)
    save_decoded(tmp_path / "out.bmp", codebook, labels)
    np.testing.assert_array_equal(
        read_back((tmp_path / "out.bmp").read_bytes(), 3), codebook[labels][..., :3]
    )
    save_decoded(tmp_path / "out.jpg", codebook, labels)
    with Image.open(tmp_path / "out.jpg") as image:
        assert image.mode == "RGB"


def test_png_is_a_palette_image_with_one_alpha_per_entry():
    codebook, labels = make_codebook(4), make_labels(16)
    buffer = io.BytesIO()
    save_decoded(buffer, codebook, labels, format="PNG")
    data = buffer.getvalue()
    assert data[24:26] == bytes([4, 3])  # IHDR: bit depth 4 (16 entries), colour type 3 (palette)
    trns = data.index(b"tRNS")
    length = struct.unpack(">I", data[trns - 4 : trns])[0]
    assert data[trns + 4 : trns + 4 + length] == codebook[:, 3].tobytes()


@pytest.mark.parametrize("channels", [3, 4])
def test_palette_png_is_smaller_than_full_colour(channels):
    """A smooth image quantized to 16 colours, as vqcodec decodes it."""
    y, x = np.mgrid[0:96, 0:128]
    planes = [x * 2, y * 2, (x + y), 255 - y * 2][:channels]
    source = np.stack(planes, axis=-1).astype(np.uint8)
    header, codebook, labels = codec.decode_parts(vqcodec.encode(source, bits=4))
    labels = labels.reshape(header.height, header.width)
    palette = io.BytesIO()
    save_decoded(palette, codebook, labels, format="PNG")
    full = io.BytesIO()
    Image.fromarray(codebook[labels].squeeze()).save(full, "PNG", optimize=True)
    assert palette.tell() < full.tell()
    np.testing.assert_array_equal(read_back(palette, channels), codebook[labels].squeeze())


def test_tiff_is_a_palette_read_exactly_by_readers_that_scale_by_257():
    """Pillow writes colormap values as v * 256; ImageMagick's v / 257 then reads v - 1."""
    codebook = make_codebook(3)
    buffer = io.BytesIO()
    save_decoded(buffer, codebook, make_labels(16), format="tiff")
    buffer.seek(0)
    with Image.open(buffer) as image:
        assert image.mode == "P"
        assert image.info["compression"] == "tiff_adobe_deflate"
        colormap = np.array(image.tag_v2[320]).reshape(3, -1)[:, :16].T
    np.testing.assert_array_equal(colormap, codebook.astype(int) * 257)
    np.testing.assert_array_equal(np.round(colormap / 257), codebook)


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (4, "RGBA")])
def test_tiff_of_gray_or_alpha_is_not_a_palette(channels, mode):
    buffer = io.BytesIO()
    save_decoded(buffer, make_codebook(channels), make_labels(16), format="TIFF")
    buffer.seek(0)
    with Image.open(buffer) as image:
        assert image.mode == mode


def test_gray_png_is_the_smaller_of_palette_and_gray():
    """16 entries or fewer: a palette (4 bits a pixel). More: whichever is smaller; on a
    smooth 8-bit ramp, gray (Pillow filters gray rows, not palette rows)."""
    y, x = np.mgrid[0:64, 0:256]
    ramp = ((x + y) % 256).astype(np.uint8)
    codebook = np.arange(256, dtype=np.uint8)[:, None]
    sizes = {}
    for entries in (16, 256):
        buffer = io.BytesIO()
        labels = ramp // (256 // entries)
        save_decoded(buffer, codebook[:: 256 // entries], labels, format="PNG")
        buffer.seek(0)
        with Image.open(buffer) as image:
            sizes[entries] = image.mode
        gray, palette = io.BytesIO(), io.BytesIO()
        Image.fromarray(codebook[:: 256 // entries][labels, 0]).save(gray, "PNG")
        images._palette_image(codebook[:: 256 // entries], labels).save(palette, "PNG")
        written = len(buffer.getvalue())
        assert written == (palette.tell() if entries == 16 else min(gray.tell(), palette.tell()))
    assert sizes == {16: "P", 256: "L"}


def test_webp_is_lossless_by_default_and_lossy_with_a_quality():
    codebook, labels = make_codebook(3), make_labels(16, (64, 64))
    lossless, lossy = io.BytesIO(), io.BytesIO()
    save_decoded(lossless, codebook, labels, format="WEBP")
    save_decoded(lossy, codebook, labels, format="WEBP", quality=50)
    assert lossless.getvalue()[12:16] == b"VP8L"  # the lossless bitstream
    assert lossy.getvalue()[12:16] == b"VP8 "  # the lossy one
    np.testing.assert_array_equal(read_back(lossless, 3), codebook[labels])


def _jpeg_tables(quality: int | None, codebook: np.ndarray, labels: np.ndarray) -> dict:
    buffer = io.BytesIO()
    save_decoded(buffer, codebook, labels, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return image.quantization


def _pillow_tables(quality: int, pixels: np.ndarray) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return image.quantization


def test_jpeg_quality_is_90_by_default_and_can_be_given():
    codebook, labels = make_codebook(3), make_labels(16)
    pixels = codebook[labels]
    assert images.JPEG_QUALITY == 90
    assert _jpeg_tables(None, codebook, labels) == _pillow_tables(90, pixels)
    assert _jpeg_tables(40, codebook, labels) == _pillow_tables(40, pixels)
    assert _jpeg_tables(None, codebook, labels) != _pillow_tables(75, pixels)


@pytest.mark.parametrize(
    ("destination", "options", "error", "text"),
    [
        ("out.png", {"quality": 80}, vqcodec.VQError, "quality applies to lossy"),
        ("out.jpg", {"quality": 101}, ValueError, "0..100"),
        ("out.nosuchformat", {}, vqcodec.VQError, "extension '.nosuchformat'"),
        ("out.png", {"format": "NOSUCH"}, vqcodec.VQError, "format 'NOSUCH'"),
        (None, {}, ValueError, "format= is needed"),
    ],
)
def test_bad_output_requests_are_refused_before_writing(
    tmp_path, destination, options, error, text
):
    target = io.BytesIO() if destination is None else tmp_path / destination
    with pytest.raises(error, match=text):
        save_decoded(target, make_codebook(3), make_labels(16), **options)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("codebook", "labels", "error", "text"),
    [
        (np.zeros((4, 3), np.uint8), np.full((2, 2), 4, np.uint8), ValueError, "label 4"),
        (np.zeros((4, 2), np.uint8), np.zeros((2, 2), np.uint8), ValueError, r"\(K, C\)"),
        (np.zeros((257, 3), np.uint8), np.zeros((2, 2), np.uint8), ValueError, "1..256"),
        (np.zeros((4, 3), np.int32), np.zeros((2, 2), np.uint8), TypeError, "codebook"),
        (np.zeros((4, 3), np.uint8), np.zeros(4, np.uint8), ValueError, r"\(H, W\)"),
        (np.zeros((4, 3), np.uint8), np.zeros((2, 2), np.int64), TypeError, "labels"),
    ],
)
def test_bad_codebooks_and_labels_are_caller_errors(codebook, labels, error, text):
    with pytest.raises(error, match=text):
        save_decoded(io.BytesIO(), codebook, labels, format="PNG")


def test_a_path_is_written_atomically_and_kept_without_overwrite(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        save_decoded(path, make_codebook(3), make_labels(16), overwrite=False)
    assert path.read_bytes() == b"precious"
    save_decoded(str(path), make_codebook(3), make_labels(16))
    assert path.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp file left


def test_format_may_be_an_extension_and_wins_over_the_path(tmp_path):
    path = tmp_path / "out.png"
    save_decoded(path, make_codebook(3), make_labels(16), format="jpg")
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"


# --- through the command line ---------------------------------------------------------------


def test_the_cli_encodes_upright_and_refuses_animation_naming_the_file(tmp_path, capsys):
    from vqcodec.cli import main

    photo = tmp_path / "camera.png"
    Image.fromarray(ASYMMETRIC).save(photo, exif=exif_with(6))
    animation = tmp_path / "anim.gif"
    first, *rest = _frames(3)
    first.save(animation, save_all=True, append_images=rest)
    assert main(["encode", str(photo), str(animation), "-q", "--bits", "8"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vqcodec: error: {animation}: GIF image with 3 frames")
    np.testing.assert_array_equal(vqcodec.read(tmp_path / "camera.vq"), VIEWED[6](ASYMMETRIC))
    assert not (tmp_path / "anim.vq").exists()


@pytest.mark.parametrize("extension", [".ico", ".icns"])
def test_icon_formats_are_refused_because_their_writers_resize(tmp_path, extension):
    """Pillow's ICO and ICNS writers rescale to icon sizes: the output would not be the
    decoded image, so they are refused and nothing is written."""
    codebook = np.array([[0, 0, 0], [255, 128, 0]], np.uint8)
    labels = np.zeros((30, 40), np.uint8)
    labels[10:20] = 1
    target = tmp_path / f"x{extension}"
    with pytest.raises(vqcodec.VQError, match="resized icons"):
        save_decoded(target, codebook, labels)
    assert not target.exists()


def test_a_format_that_is_not_a_string_is_a_type_error():
    with pytest.raises(TypeError, match="format must be a str"):
        images.output_format(io.BytesIO(), 123)  # type: ignore[arg-type]
