"""The command line, through main([...]) as a user would type it."""

import json

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec.cli import main


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(path)
    return path


def test_encode_decode_info(photo, tmp_path, capsys):
    vq = tmp_path / "photo.vq"
    assert main(["encode", str(photo), "-o", str(vq), "--bits", "3"]) == 0
    assert "bits 3" in capsys.readouterr().out
    assert vqcodec.info(vq)["bits"] == 3
    out = tmp_path / "back.png"
    assert main(["decode", str(vq), "-o", str(out)]) == 0
    with Image.open(out) as back:  # a palette PNG, the codebook its palette
        assert back.mode == "P"
        np.testing.assert_array_equal(np.asarray(back.convert("RGB")), vqcodec.read(vq))
    assert main(["info", str(vq), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    for key in (
        "width",
        "height",
        "channels",
        "bits",
        "coding",
        "header_bytes",
        "codebook_bytes",
        "payload_bytes",
        "file_bytes",
    ):
        assert key in meta
    assert meta["file_bytes"] == vq.stat().st_size
    assert main(["info", str(vq)]) == 0
    assert "payload_bytes" in capsys.readouterr().out


def test_default_output_names(photo, tmp_path):
    """encode: NAME.vq; decode: NAME.vq.png, never the NAME.png the file came from
    (issue 9: `decode *.vq -f` overwrote every original with its lossy decode)."""
    original = photo.read_bytes()
    assert main(["encode", str(photo), "-q"]) == 0
    assert (tmp_path / "photo.vq").exists()
    assert main(["decode", str(tmp_path / "photo.vq"), "--force"]) == 0
    assert (tmp_path / "photo.vq.png").exists()
    assert photo.read_bytes() == original


def test_refuses_to_overwrite_without_force(photo, tmp_path, capsys):
    vq = tmp_path / "photo.vq"
    vq.write_bytes(b"precious")
    assert main(["encode", str(photo), "-o", str(vq)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert vq.read_bytes() == b"precious"
    assert main(["encode", str(photo), "-o", str(vq), "--force", "-q"]) == 0
    assert vqcodec.info(vq)["width"] == 10


def test_refuses_to_write_over_its_input_even_with_force(photo, capsys):
    before = photo.read_bytes()
    assert main(["decode", str(photo), "-o", str(photo), "--force"]) == 1
    assert "input" in capsys.readouterr().err
    assert photo.read_bytes() == before


@pytest.mark.parametrize(
    ("make", "argv", "text"),
    [
        (lambda p: p.write_bytes(b"garbage"), ["decode", "{f}", "-o", "{d}/x.png"], "magic"),
        (
            lambda p: p.write_bytes(b"garbage"),
            ["encode", "{f}", "-o", "{d}/x.vq"],
            "not an image format Pillow reads",
        ),
        (lambda p: None, ["decode", "{f}", "-o", "{d}/x.png"], "No such file"),
        (lambda p: None, ["info", "{f}"], "No such file"),
        (lambda p: p.write_bytes(b"\x89VQ\n"), ["info", "{f}"], "header: file is truncated"),
        (
            lambda p: Image.new("I", (2, 2)).save(p, "TIFF"),
            ["encode", "{f}", "-o", "{d}/x.vq"],
            "mode 'I'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, capsys, make, argv, text):
    target = tmp_path / "input.bin"
    make(target)
    code = main([a.format(f=target, d=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("vqcodec: error: ") and err.count("\n") == 1 and text in err
    assert "Traceback" not in err


def test_decode_to_unknown_extension_is_refused(photo, tmp_path, capsys):
    vq = tmp_path / "p.vq"
    vqcodec.write(vq, np.asarray(Image.open(photo)), bits=2)
    assert main(["decode", str(vq), "-o", str(tmp_path / "out.nosuchformat")]) == 1
    assert "format" in capsys.readouterr().err
    assert not (tmp_path / "out.nosuchformat").exists()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["encode"],
        ["encode", "x.png", "--bits", "9"],
        ["compare", "--bits", "0,2"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


def test_compare_on_the_bundled_sample_json(capsys):
    assert main(["compare", "--bits", "2,4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "bundled sample" in report["input"]
    assert [row["bits"] for row in report["rows"]] == [2, 4]
    first, second = report["rows"]
    assert first["vq_bytes"] < second["vq_bytes"] and first["psnr"] < second["psnr"]
    for row in report["rows"]:
        assert row["tutorial_rate"] == 100 * (8 - row["bits"]) / 8
        assert row["jpeg_psnr"] >= row["psnr"] or not row["jpeg_reached"]
        assert row["png8_bytes"] > 0 and row["jpeg_bytes"] > 0


def test_compare_table_and_plot(tmp_path, capsys):
    rng = np.random.default_rng(5)
    source = tmp_path / "gray.png"
    Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(source)
    figure = tmp_path / "fig.png"
    assert main(["compare", str(source), "--bits", "1-3", "--plot", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "30x20, 1 channel(s)" in out and "PNG of the original" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 3
    with Image.open(figure) as plotted:
        assert plotted.format == "PNG" and plotted.width > 300
    assert main(["compare", str(source), "--bits", "1", "--plot", str(figure)]) == 1  # exists


def test_several_inputs_one_bad_the_others_still_done(tmp_path, capsys):
    good = []
    for index in range(3):
        path = tmp_path / f"good{index}.png"
        Image.fromarray(np.full((4, 6), index * 50, np.uint8)).save(path)
        good.append(path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    missing = tmp_path / "missing.png"
    argv = ["encode", str(good[0]), str(bad), str(good[1]), str(missing), str(good[2]), "-q"]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "bad.png" in err[0] and "missing.png" in err[1]
    for path in good:
        assert vqcodec.info(path.with_suffix(".vq"))["width"] == 6
    assert not (tmp_path / "bad.vq").exists()
    vq_files = [str(path.with_suffix(".vq")) for path in good]
    assert main(["info", *vq_files, str(bad), "--json"]) == 1
    listed = json.loads(capsys.readouterr().out)
    assert [entry["file"] for entry in listed] == vq_files
    assert main(["decode", *vq_files, "--force"]) == 0


def test_output_option_with_several_inputs_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as caught:
        main(["encode", "a.png", "b.png", "-o", str(tmp_path / "x.vq")])
    assert caught.value.code == 2


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"", "not an image format Pillow reads"),
        (b"GIF89a\x01\x00", "cannot read image"),
        ("truncated-png", "cannot read image"),
    ],
)
def test_unreadable_images_are_one_clear_line(tmp_path, capsys, content, text):
    source = tmp_path / "in.img"
    if content == "truncated-png":
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(noise).save(tmp_path / "full.png")
        full = (tmp_path / "full.png").read_bytes()
        content = full[: len(full) // 2]
    source.write_bytes(content)
    assert main(["encode", str(source), "-o", str(tmp_path / "out.vq")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and text in err
    assert not (tmp_path / "out.vq").exists()


def test_a_folder_as_input_is_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 1
    assert "Is a directory" in capsys.readouterr().err
