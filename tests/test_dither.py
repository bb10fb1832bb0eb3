"""Dithering (issue 9): Floyd-Steinberg error diffusion in the final mapping, so that on a
smooth gradient the local means of the output follow the original's instead of banding."""

import hashlib
import math

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import _core
from vqcodec.cli import main
from vqcodec.compare import sample_image
from vqcodec.quantize import dither_labels, quantize

from .test_alpha import sprite
from .test_quantize import lifted

SIDE = 256


def gradient(kind: str) -> np.ndarray:
    """Smooth SIDE x SIDE test images: a gray ramp, a colour ramp along one line of colour
    space, and a 2-D colour gradient (red across, green down, blue diagonal)."""
    y, x = np.mgrid[:SIDE, :SIDE] / (SIDE - 1)
    if kind == "gray":
        planes = [255 * x]
    elif kind == "colour line":
        planes = [20 + 220 * x, 60 + 140 * x, 140 - 100 * x]
    else:
        planes = [255 * x, 255 * y, 255 * (x + y) / 2]
    return np.rint(np.dstack(planes)).astype(np.uint8)


def block_means(image: np.ndarray, size: int = 8) -> np.ndarray:
    h, w, c = image.shape
    blocks = image.astype(np.float64).reshape(h // size, size, w // size, size, c)
    return blocks.mean(axis=(1, 3))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def fit_and_map(image: np.ndarray, bits: int, strength: float) -> np.ndarray:
    channels = image.shape[2]
    codebook, labels = quantize(image.reshape(-1, channels), 2**bits)
    if strength:
        labels = dither_labels(image, codebook, strength)
    return codebook[labels].reshape(image.shape)


# Measured (256 x 256), mean absolute error of the 8 x 8 block means, plain -> dithered:
#                  bits 2              bits 3              bits 4
#   gray           15.00 -> 4.57 (3.3x) 6.03 -> 1.34 (4.5x) 2.03 -> 0.46 (4.4x)
#   colour line     9.18 -> 2.83 (3.2x) 4.06 -> 0.86 (4.7x) 1.58 -> 0.33 (4.8x)
#   colour 2-D     26.86 -> 15.80 (1.7x) 18.56 -> 9.07 (2.0x) 12.39 -> 4.49 (2.8x)
# Over the blocks whose mean lies in the codebook's range per channel (what any mix of
# codewords can reach): 7.7x to 19x for all three. What is left is out of reach: levels
# below the darkest codeword or above the lightest, which k-means fits without dithering.
# PSNR drops by 1.6-2.6 dB: dithering trades pixel error for local-mean error.
@pytest.mark.parametrize("kind", ["gray", "colour line", "colour 2-D"])
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_dithering_makes_block_means_track_the_original(kind, bits):
    image = gradient(kind)
    plain, dithered = fit_and_map(image, bits, 0.0), fit_and_map(image, bits, 1.0)
    original = block_means(image)
    plain_error = np.abs(block_means(plain) - original)
    dithered_error = np.abs(block_means(dithered) - original)
    if kind != "colour 2-D":  # a line in colour space: the codebook spans nearly all of it
        assert dithered_error.mean() * 3 <= plain_error.mean()
    else:
        assert dithered_error.mean() * 1.5 <= plain_error.mean()
    codebook = np.unique(plain.reshape(-1, image.shape[2]), axis=0)
    reachable = ((original >= codebook.min(0)) & (original <= codebook.max(0))).all(-1)
    assert dithered_error[reachable].mean() * 5 <= plain_error[reachable].mean()
    # The price, said honestly: more error per pixel.
    assert psnr(image, plain) - 3.0 < psnr(image, dithered) < psnr(image, plain)


def test_strength_scales_the_diffusion():
    image = gradient("gray")
    errors = [
        np.abs(block_means(fit_and_map(image, 2, s)) - block_means(image)).mean()
        for s in (0.0, 0.5, 1.0)
    ]
    assert errors[0] > errors[1] > errors[2]


CORNERS = [[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)]


@pytest.mark.parametrize(
    "colour, codebook",
    [
        ([100], [[0], [255]]),
        ([60, 128, 200], CORNERS),
        ([60, 128, 200, 255], [[0, 0, 0, 0]] + [[*corner, 255] for corner in CORNERS]),
    ],
)
def test_a_flat_colour_comes_out_right_on_average(colour, codebook):
    """Law: diffusion neither loses nor makes error (but at the borders), so a flat patch
    between codewords comes out with the patch's mean, where nearest mapping snaps it."""
    image = np.full((64, 64, len(colour)), colour, np.uint8)
    codebook = np.array(codebook, np.uint8)
    out = codebook[dither_labels(image, codebook, 1.0)]
    np.testing.assert_allclose(out.mean(axis=0), colour, atol=1.0)


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize(
    "bits, digests",
    [
        (2, {"L": "e5108aa6c7d11673777f8dc01fde29e604a7439dc25ca93d5a693e63dc308d40",
             "RGB": "97b763580203e5b4deb647bdc1fdac05b614764c144ce01481ac17ad6dcefac2"}),
        (4, {"L": "420686706c8f319b351746b44f674047fb1ad33e1cff4459fa6f275b1e102a2b",
             "RGB": "8e3747bd79885df82d26638e0490734830ec113b4d7dc209dbf5360e44dcfa92"}),
    ],
)  # fmt: skip
def test_dither_zero_gives_the_bytes_of_before(mode, bits, digests):
    """dither=0 (the default) is the encoder as it was: the same files, byte for byte (the
    digests were taken before dithering existed)."""
    image = np.asarray(sample_image().convert(mode))
    for data in (
        vqcodec.encode(image, bits, coding="entropy"),
        vqcodec.encode(image, bits, coding="entropy", dither=0),
    ):
        assert hashlib.sha256(data).hexdigest() == digests[mode]


def test_strength_zero_is_the_nearest_mapping():
    """The kernel at strength 0 labels each pixel with its nearest codeword (ties to the
    lower index), by the metric quantize uses: plain for gray and RGB, premultiplied RGBA."""
    rng = np.random.default_rng(4)
    for channels in (1, 3, 4):
        image = rng.integers(0, 256, (20, 30, channels), dtype=np.uint8)
        codebook = rng.integers(0, 256, (40, channels), dtype=np.uint8)
        points = image.reshape(-1, channels)
        distances = ((lifted(points)[:, None, :] - lifted(codebook)[None, :, :]) ** 2).sum(-1)
        np.testing.assert_array_equal(dither_labels(image, codebook, 0.0), distances.argmin(axis=1))


def test_dithering_is_deterministic_and_the_same_everywhere():
    """Integer arithmetic only: the same labels on every platform (a deliberate change of the
    kernel changes this digest; update it with the change)."""
    image = np.asarray(sample_image().convert("RGB"))
    codebook, _ = quantize(image.reshape(-1, 3), 16)
    first = dither_labels(image, codebook, 1.0)
    again = dither_labels(image.copy(), codebook.copy(), 1.0)
    np.testing.assert_array_equal(first, again)
    half = dither_labels(image, codebook, 0.5)
    digest = hashlib.sha256(first.tobytes() + half.tobytes()).hexdigest()
    assert digest == "7d78ab62df80dafabd2e877fd79b35586aaa196b08c550a4d46570f2165c7c3f"
    data = vqcodec.encode(image, 4, dither=1.0)
    assert data == vqcodec.encode(image.copy(), 4, dither=1.0)
    np.testing.assert_array_equal(vqcodec.decode(data).reshape(-1, 3), codebook[first])


def test_rgba_dithers_colour_not_alpha():
    """On the sprite: the mask survives exactly, every transparent pixel keeps (0, 0, 0, 0),
    and the visible blocks' means track the original better than without dithering."""
    image = sprite()
    for bits in (2, 4):
        plain, dithered = fit_and_map(image, bits, 0.0), fit_and_map(image, bits, 1.0)
        np.testing.assert_array_equal(dithered[..., 3], image[..., 3])
        assert (dithered[image[..., 3] == 0] == 0).all()
        inside = block_means(image[..., 3:])[..., 0] == 255
        original = block_means(image[..., :3])[inside]
        plain_error = np.abs(block_means(plain[..., :3])[inside] - original).mean()
        assert np.abs(block_means(dithered[..., :3])[inside] - original).mean() < plain_error
    soft = sprite(edge=20.0)
    dithered = fit_and_map(soft, 4, 1.0)
    assert (dithered[soft[..., 3] == 0] == 0).all()
    plain = fit_and_map(soft, 4, 0.0)
    alpha_error = [
        np.abs(out[..., 3].astype(int) - soft[..., 3]).mean() for out in (plain, dithered)
    ]
    assert alpha_error[1] <= alpha_error[0] + 0.5


@pytest.mark.parametrize("strength", [-0.1, 1.5, math.nan, math.inf, -math.inf])
def test_invalid_strengths_are_a_clear_error(strength):
    with pytest.raises(ValueError, match=r"dither must be 0\.\.1"):
        vqcodec.encode(np.zeros((4, 4), np.uint8), 2, dither=strength)


@pytest.mark.parametrize("strength", ["0.5", None, True, [1.0]])
def test_strengths_of_the_wrong_type_are_a_type_error(strength):
    with pytest.raises(TypeError, match="dither must be a number"):
        vqcodec.encode(np.zeros((4, 4), np.uint8), 2, dither=strength)


def test_kernel_checks_its_arguments():
    """The glue checks every length and shape before it allocates or runs the kernel."""
    image = np.zeros((4, 5, 3), np.uint8)
    codebook = np.zeros((2, 3), np.uint8)
    out = np.empty(20, np.uint8)
    assert _core.dither(image, 5, 4, 3, codebook, 256, out) == 0  # the valid call
    bad_calls = [
        (image[:3], 5, 4, 3, codebook, 256, out),  # pixels too short
        (image, 5, 4, 3, codebook, 256, out[:19]),  # out too short
        (image, 5, 4, 3, np.zeros((257, 3), np.uint8), 256, out),  # > 256 codewords
        (image, 5, 4, 3, np.zeros((0, 3), np.uint8), 256, out),  # no codewords
        (image, 5, 4, 3, np.zeros(5, np.uint8), 256, out),  # not whole codewords
        (image, 5, 4, 2, codebook, 256, out),  # channels
        (image, 0, 4, 3, codebook, 256, out),  # width
        (image, 5, -1, 3, codebook, 256, out),  # height
        (image, 5, 4, 3, codebook, -1, out),  # strength below 0
        (image, 5, 4, 3, codebook, _core.DITHER_FULL + 1, out),  # strength above full
    ]
    for args in bad_calls:
        with pytest.raises(ValueError):
            _core.dither(*args)
    with pytest.raises(OverflowError):
        _core.dither(image, 2**31, 2**31, 3, codebook, 256, out)


@pytest.fixture
def ramp(tmp_path):
    path = tmp_path / "ramp.png"
    Image.fromarray(gradient("gray")[..., 0]).save(path)
    return path


def test_cli_dither(ramp, tmp_path):
    """--dither alone is full strength; --dither=S sets it; the default is off."""
    outputs = {}
    for name, flags in [
        ("off", []),
        ("full", ["--dither"]),
        ("one", ["--dither=1"]),
        ("half", ["--dither=0.5"]),
    ]:
        out = tmp_path / f"{name}.vq"
        assert main(["encode", str(ramp), "-o", str(out), "-b", "2", "-q", *flags]) == 0
        outputs[name] = out.read_bytes()
    image = np.asarray(Image.open(ramp))
    assert outputs["off"] == vqcodec.encode(image, 2)
    assert outputs["full"] == outputs["one"] == vqcodec.encode(image, 2, dither=1.0)
    assert outputs["half"] == vqcodec.encode(image, 2, dither=0.5)
    assert len({outputs["off"], outputs["full"], outputs["half"]}) == 3


def test_cli_dither_before_the_input_leaves_the_input_alone(ramp, tmp_path):
    """A strength needs "=": `--dither ramp.png` is full strength and the input ramp.png, not
    a strength "ramp.png" (as an optional value would read it)."""
    out = tmp_path / "x.vq"
    assert main(["encode", "--dither", str(ramp), "-o", str(out), "-b", "2", "-q"]) == 0
    image = np.asarray(Image.open(ramp))
    assert out.read_bytes() == vqcodec.encode(image, 2, dither=1.0)


@pytest.mark.parametrize("value", ["2", "-0.5", "nan", "abc"])
def test_cli_refuses_invalid_strengths(ramp, tmp_path, capsys, value):
    out = tmp_path / "x.vq"
    with pytest.raises(SystemExit) as caught:
        main(["encode", str(ramp), "-o", str(out), f"--dither={value}"])
    assert caught.value.code == 2
    assert "--dither" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_a_strength_after_a_space(ramp, tmp_path, capsys):
    """`--dither 0.5 ramp.png` meant a strength: refused as usage (it would encode at full
    strength and take 0.5 for an input), and nothing is written."""
    with pytest.raises(SystemExit) as caught:
        main(["encode", "--dither", "0.5", str(ramp), "-b", "2"])
    assert caught.value.code == 2
    assert "--dither=0.5" in capsys.readouterr().err
    assert not (tmp_path / "ramp.vq").exists()


def test_cli_takes_no_abbreviated_options(ramp, tmp_path, capsys):
    """`--dith` is not --dither: a bare abbreviation would escape the `=` rule above."""
    with pytest.raises(SystemExit) as caught:
        main(["encode", "--dith=0.5", str(ramp), "-o", str(tmp_path / "x.vq")])
    assert caught.value.code == 2
    assert not (tmp_path / "x.vq").exists()


def test_dithering_keeps_an_exact_image_exact():
    """Law: an image with no more distinct pixels than codewords decodes to itself, hidden
    colours under alpha 0 included, with or without dithering (there is no error to diffuse,
    and the dither's ties would merge the transparent entries)."""
    image = np.zeros((4, 4, 4), np.uint8)
    image[:2, :, :3] = (10, 20, 30)  # alpha 0, a hidden colour
    image[2:] = (200, 100, 50, 255)
    image[3, 3] = 0
    for strength in (0.0, 0.5, 1.0):
        np.testing.assert_array_equal(
            vqcodec.decode(vqcodec.encode(image, 2, dither=strength)), image
        )
