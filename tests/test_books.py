"""Shared codebooks (spec §12): .vqb files, .vq files that name them, train, the CLI."""

import numpy as np
import pytest
from PIL import Image

import vqcodec
import vqcodec.pillow  # registers the plugin
from vqcodec import blocks, codec, container
from vqcodec.cli import main


def photos(count=3, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:40, :52]
    out = []
    for i in range(count):
        base = np.stack([x * (2 + i), y * 3, (x + y) * (1 + i)], axis=-1)[..., :channels]
        out.append(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
    return out


def test_train_save_load_and_determinism(tmp_path):
    book = vqcodec.train(photos(), 6, (4, 4), seed=1)
    assert book.block == (4, 4) and book.bits == 6 and book.channels == 3
    assert 1 < len(book.vectors) <= 64
    assert vqcodec.train(photos(), 6, (4, 4), seed=1).data == book.data
    book.save(tmp_path / "b.vqb")
    again = vqcodec.Codebook.load(tmp_path / "b.vqb")
    assert again.data == book.data and again.digest == container.digest(book.data)
    np.testing.assert_array_equal(again.vectors, book.vectors)


def test_a_file_names_its_codebook_and_decodes_with_it():
    """Laws: the file holds the codebook's SHA-256 instead of its entries (size law: 36 +
    32 + packed labels + 4); decoding with the book paints its codewords; each label is a
    nearest codeword of its block (brute force)."""
    train, image = photos(4)[:3], photos(4)[3]
    book = vqcodec.train(train, 10, (2, 2))
    data = vqcodec.encode(image, codebook=book, coding="packed")
    header = container.parse_header(memoryview(data))
    assert header.external and header.bits == 10
    assert data[36:68] == book.digest
    assert len(data) == 36 + 32 + container.packed_size(header.labels, 10) + 4
    header, entries, labels = codec.decode_parts(data, codebook=book)
    np.testing.assert_array_equal(entries, book.vectors)
    decoded = vqcodec.decode(data, codebook=book)
    np.testing.assert_array_equal(decoded, codec.paint(52, 40, (2, 2), book.vectors, labels))
    vectors = blocks.to_vectors(image, (2, 2)).astype(np.int64)
    distances = ((vectors[:, None] - book.vectors[None].astype(np.int64)) ** 2).sum(axis=2)
    np.testing.assert_array_equal(distances[np.arange(len(labels)), labels], distances.min(1))
    small = vqcodec.encode(image, codebook=vqcodec.train(train, 6, (4, 4)))
    assert vqcodec.info(small)["coding"] == "entropy2"


def test_missing_or_wrong_codebooks_are_named():
    book = vqcodec.train(photos(), 5, (2, 2))
    other = vqcodec.train(photos(seed=9), 5, (2, 2))
    data = vqcodec.encode(photos()[0], codebook=book)
    with pytest.raises(vqcodec.FormatError, match=f"sha256 {book.digest.hex()}"):
        vqcodec.decode(data)
    with pytest.raises(vqcodec.FormatError, match=f"the one given is sha256 {other.digest.hex()}"):
        vqcodec.decode(data, codebook=other)


def test_read_finds_the_codebook_beside_the_file(tmp_path):
    book = vqcodec.train(photos(), 5, (2, 2))
    (tmp_path / "unrelated.vqb").write_bytes(vqcodec.train(photos(seed=3), 5, (2, 2)).data)
    (tmp_path / "broken.vqb").write_bytes(b"not a codebook")
    book.save(tmp_path / "mine.vqb")
    vqcodec.write(tmp_path / "a.vq", photos()[1], codebook=book)
    np.testing.assert_array_equal(
        vqcodec.read(tmp_path / "a.vq"),
        vqcodec.decode((tmp_path / "a.vq").read_bytes(), codebook=book),
    )
    assert vqcodec.info(tmp_path / "a.vq")["codebook_sha256"] == book.digest.hex()
    # Image.open finds the book beside the file too.
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "a.vq")), vqcodec.read(tmp_path / "a.vq")
    )
    (tmp_path / "mine.vqb").unlink()
    with pytest.raises(vqcodec.FormatError, match="codebook"):
        vqcodec.read(tmp_path / "a.vq")


def test_encode_refuses_what_the_codebook_cannot_take():
    book = vqcodec.train(photos(), 5, (2, 2))
    gray = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="1 channel"):
        vqcodec.encode(gray, codebook=book)
    with pytest.raises(ValueError, match="bits 6"):
        vqcodec.encode(photos()[0], 6, codebook=book)
    with pytest.raises(ValueError, match="block"):
        vqcodec.encode(photos()[0], block=(4, 4), codebook=book)
    with pytest.raises(ValueError, match="no target_psnr"):
        vqcodec.encode(photos()[0], codebook=book, target_psnr=30)
    with pytest.raises(ValueError, match="one kind"):
        vqcodec.train([photos()[0], gray], 4, (2, 2))


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda b: b[:-1], "file"),
        (lambda b: b + b"\0", "file"),
        (lambda b: b"\x89VQX" + b[4:], "magic"),
        (lambda b: b[:16] + bytes([b[16] ^ 1]) + b[17:], "data_crc"),
        (lambda b: b[:5] + b"\x02" + b[6:], "header_crc"),
        (lambda b: container.build_book(container.BookHeader(3, 2, 2, 17, 4), bytes(48)), "bits"),
        (
            lambda b: container.build_book(container.BookHeader(2, 2, 2, 4, 4), bytes(32)),
            "channels",
        ),
        (
            lambda b: container.build_book(container.BookHeader(3, 9, 2, 4, 4), bytes(216)),
            "block_width, block_height",
        ),
        (
            lambda b: container.build_book(container.BookHeader(3, 2, 2, 2, 5), bytes(60)),
            "codebook_entries",
        ),
        (lambda b: b"", "magic"),
    ],
)
def test_hostile_codebook_files_are_refused_by_field(edit, field):
    book = vqcodec.train(photos(), 4, (2, 2))
    with pytest.raises(vqcodec.FormatError) as caught:
        vqcodec.Codebook(edit(book.data))
    assert caught.value.field == field


def test_cli_train_encode_decode(tmp_path, capsys):
    for i, image in enumerate(photos(3)):
        Image.fromarray(image).save(tmp_path / f"p{i}.png")
    (tmp_path / "train").mkdir()
    for i in (0, 1):
        (tmp_path / f"p{i}.png").rename(tmp_path / "train" / f"p{i}.png")
    book = tmp_path / "b.vqb"
    assert (
        main(["train", str(tmp_path / "train"), "-o", str(book), "--block", "2x2", "-b", "9"]) == 0
    )
    assert "2 images -> " in capsys.readouterr().err
    assert main(["train", str(tmp_path / "train"), "-o", str(book)]) == 1
    assert "exists" in capsys.readouterr().err
    assert (
        main(
            [
                "encode",
                str(tmp_path / "p2.png"),
                "--codebook",
                str(book),
                "-o",
                str(tmp_path / "x.vq"),
            ]
        )
        == 0
    )
    assert (
        main(["decode", str(tmp_path / "x.vq"), "-o", str(tmp_path / "x.png")]) == 0
    )  # found beside
    loaded = vqcodec.Codebook.load(book)
    expected = vqcodec.decode((tmp_path / "x.vq").read_bytes(), codebook=loaded)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "x.png")), expected)
    book.rename(tmp_path / "train" / "elsewhere.vqb")
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "x.vq"), "-o", str(tmp_path / "y.png")]) == 1
    assert "codebook: the file's codebook is kept in a codebook file" in capsys.readouterr().err
    assert not (tmp_path / "y.png").exists()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "g.png")
    book = tmp_path / "train" / "elsewhere.vqb"
    assert (
        main(
            [
                "encode",
                str(tmp_path / "g.png"),
                "--codebook",
                str(book),
                "-o",
                str(tmp_path / "g.vq"),
            ]
        )
        == 1
    )
    assert "1 channel(s), the codebook's blocks 3" in capsys.readouterr().err
    assert main(["encode", str(tmp_path / "g.png"), "--codebook", str(tmp_path / "none.vqb")]) == 1
    assert "none.vqb" in capsys.readouterr().err


def test_rate_distortion_shows_block_modes_and_a_shared_codebook(tmp_path):
    from vqcodec import compare

    image = photos(2)[1]
    book = vqcodec.train(photos(2)[:1], 6, (2, 2))
    curves = compare.rate_distortion(image, [], book)
    blocky = curves["vq blocks (4x4 .. 2x1)"]
    pixels = image.shape[0] * image.shape[1]
    files = [vqcodec.encode(image, bits, block=block) for block, bits in compare.BLOCK_CONFIGS]
    lossy = [data for data in files if not np.array_equal(vqcodec.decode(data), image)]
    assert len(lossy) >= 3  # lossless points are left off the axis
    assert sorted(rate for rate, _ in blocky) == sorted(len(d) * 8 / pixels for d in lossy)
    (rate, quality) = curves["vq blocks, shared codebook (2x2)"][0]
    data = vqcodec.encode(image, codebook=book)
    assert rate == len(data) * 8 / pixels
    assert quality == compare.psnr(image, vqcodec.decode(data, codebook=book))
    Image.fromarray(image).save(tmp_path / "in.png")
    book.save(tmp_path / "b.vqb")
    figure = tmp_path / "rd.png"
    args = ["compare", str(tmp_path / "in.png"), "--bits", "2,4", "--rd", str(figure)]
    assert main([*args, "--codebook", str(tmp_path / "b.vqb")]) == 0
    assert Image.open(figure).size[0] > 100


def test_batches_encode_with_a_codebook_and_decode_with_it(tmp_path, capsys):
    """A folder encoded with --codebook: every file names the book, the manifest has each
    file's PSNR; decoding the folder with --codebook gives the library's pixels."""
    (tmp_path / "in").mkdir()
    images = photos(3)
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / "in" / f"p{i}.png")
    book = vqcodec.train(images[:2], 6, (2, 2))
    book.save(tmp_path / "b.vqb")
    args = ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "out") + "/", "-j", "1", "-q"]
    assert main([*args, "--codebook", str(tmp_path / "b.vqb")]) == 0
    manifest = (tmp_path / "out" / "vqcodec-manifest.jsonl").read_text().splitlines()
    assert len(manifest) == 3 and all('"status": "ok"' in line for line in manifest)
    assert all('"psnr": null' not in line for line in manifest)
    args = ["decode", str(tmp_path / "out"), "-o", str(tmp_path / "back") + "/", "-j", "1", "-q"]
    assert main([*args, "--codebook", str(tmp_path / "b.vqb")]) == 0
    for i in range(len(images)):
        data = (tmp_path / "out" / f"p{i}.vq").read_bytes()
        np.testing.assert_array_equal(
            np.asarray(Image.open(tmp_path / "back" / f"p{i}.vq.png")),
            vqcodec.decode(data, codebook=book),
        )


def test_review_fixes_train_load_and_pillow(tmp_path, capsys):
    """Review findings: train never writes over a training image; a codebook is read
    bounded (/dev/zero); train checks its options before any work and names a bad input;
    a 1x1 file naming a shared codebook has no palette form in Pillow."""
    image = photos(1)[0]
    Image.fromarray(image).save(tmp_path / "p.png")
    before = (tmp_path / "p.png").read_bytes()
    assert main(["train", str(tmp_path / "p.png"), "-o", str(tmp_path / "p.png"), "-f"]) == 1
    assert "input of this run" in capsys.readouterr().err
    assert (tmp_path / "p.png").read_bytes() == before
    with pytest.raises(vqcodec.FormatError, match="more bytes than any codebook"):
        vqcodec.Codebook.load("/dev/zero")
    with pytest.raises(ValueError, match="block sides"):
        vqcodec.train([image], 4, (0, 2))
    with pytest.raises(ValueError, match=r"bits must be 1\.\.8 with 1x1"):
        vqcodec.train([image], 12, (1, 1))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    args = [
        "train",
        str(tmp_path / "p.png"),
        str(tmp_path / "bad.png"),
        "-o",
        str(tmp_path / "b.vqb"),
    ]
    assert main(args) == 1
    assert f"{tmp_path / 'bad.png'}:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                "train",
                str(tmp_path / "p.png"),
                "-o",
                str(tmp_path / "b.vqb"),
                "--block",
                "1x1",
                "-b",
                "12",
            ]
        )
    assert "bits must be 1..8" in capsys.readouterr().err
    book = vqcodec.train([image], 4, (1, 1))
    book.save(tmp_path / "one.vqb")
    vqcodec.write(tmp_path / "one.vq", image, codebook=book)
    opened = Image.open(tmp_path / "one.vq")
    opened.draft("P", None)
    assert opened.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(opened), vqcodec.read(tmp_path / "one.vq"))
    assert main(["compare", str(tmp_path / "p.png"), "--codebook", str(tmp_path / "one.vqb")]) == 1
    assert "give --rd FIG" in capsys.readouterr().err
    with pytest.raises(TypeError, match=r"vqcodec\.Codebook"):
        vqcodec.decode((tmp_path / "one.vq").read_bytes(), codebook="one.vqb")  # type: ignore[arg-type]


def training_set(folder, gray=False):
    """Photos of several sizes in folder/ and folder/sub/: with bits 6 and 2x2 blocks, the
    small ones give all their blocks to the sample and the large ones a drawn share."""
    folder.mkdir()
    (folder / "sub").mkdir()
    for i, side in enumerate((24, 40, 96, 130, 60)):
        image = photos(1, seed=i)[0]
        image = np.resize(image, (side, side + 8, 3))
        if gray and i == 3:
            image = image[..., 0]
        Image.fromarray(image).save(folder / ("sub" if i % 2 else "") / f"t{i}.png")
    return folder


def test_train_on_worker_processes_and_urls_writes_the_local_book(tmp_path, capsys):
    """Law: `train -j 2` (each image read and cut in a worker process, the sample drawn here)
    and train on file:// and memory:// URLs of the same images write the very bytes of the
    local `train`; an unreadable image among them is one error line naming it."""
    fsspec = pytest.importorskip("fsspec", reason="URLs need fsspec (the dask extra)")
    src = training_set(tmp_path / "src")
    options = ["--block", "2x2", "-b", "6", "--seed", "3", "-q"]
    assert main(["train", str(src), "-o", str(tmp_path / "here.vqb"), *options]) == 0
    expected = (tmp_path / "here.vqb").read_bytes()
    assert main(["train", str(src), "-o", str(tmp_path / "j2.vqb"), "-j", "2", *options]) == 0
    assert (tmp_path / "j2.vqb").read_bytes() == expected
    url = f"file://{src}/"
    assert main(["train", url, "-o", str(tmp_path / "url.vqb"), "-j", "2", *options]) == 0
    assert (tmp_path / "url.vqb").read_bytes() == expected
    memory = fsspec.filesystem("memory")
    for path in src.rglob("*.png"):
        memory.pipe_file(f"/train-books/{path.relative_to(src).as_posix()}", path.read_bytes())
    try:
        argv = ["train", "memory://train-books/", "-o", str(tmp_path / "mem.vqb"), *options]
        assert main([*argv, "-j", "2"]) == 0  # this process's memory: read here
        assert (tmp_path / "mem.vqb").read_bytes() == expected
    finally:
        memory.rm("/train-books", recursive=True)
    (src / "sub" / "t1.png").write_bytes(b"not an image")
    assert main(["train", str(src), "-o", str(tmp_path / "bad.vqb"), "-j", "2", *options]) == 1
    assert capsys.readouterr().err == (
        f"vqcodec: error: {src / 'sub' / 't1.png'}: cannot read image: not an image format "
        "Pillow reads\n"
    )
    assert not (tmp_path / "bad.vqb").exists()


def test_train_on_a_dask_cluster_writes_the_local_book(tmp_path, capsys, monkeypatch):
    """Law: `train --scheduler` on a real LocalCluster (two worker processes, loopback),
    each image read and cut on a worker and only its drawn sample sent back, writes the very
    bytes of the local `train`, from paths relative to a working folder the workers do not
    share; an unreadable image is one error line naming it as given, images of two kinds
    one line naming the first of the other kind, and no book is written."""
    distributed = pytest.importorskip("distributed")
    src = training_set(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    options = ["--block", "2x2", "-b", "6", "--seed", "3", "-q"]
    assert main(["train", "src", "-o", "here.vqb", *options]) == 0
    assert main(["train", "src", "-o", "here8.vqb", "-q"]) == 0
    training_set(tmp_path / "mixed", gray=True)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:  # fmt: skip
        address = ["--scheduler", cluster.scheduler_address]
        assert main(["train", "src", "-o", "dask.vqb", *options, *address]) == 0
        assert main(["train", "src", "-o", "dask8.vqb", "-q", *address]) == 0
        assert main(["train", "mixed", "-o", "mixed.vqb", *options, *address]) == 1
        mixed = capsys.readouterr().err
        (src / "sub" / "t1.png").write_bytes(b"not an image")
        assert main(["train", "src", "-o", "bad.vqb", *options, *address]) == 1
        bad = capsys.readouterr().err
    assert (tmp_path / "dask.vqb").read_bytes() == (tmp_path / "here.vqb").read_bytes()
    assert (tmp_path / "dask8.vqb").read_bytes() == (tmp_path / "here8.vqb").read_bytes()
    assert mixed == (
        "vqcodec: error: mixed.vqb: mixed/sub/t3.png: 1 channel(s), the images before it 3: "
        "train a codebook on images of one kind (gray, RGB or RGBA)\n"
    )
    assert bad == (
        "vqcodec: error: src/sub/t1.png: cannot read image: not an image format Pillow reads\n"
    )
    assert not (tmp_path / "bad.vqb").exists() and not (tmp_path / "mixed.vqb").exists()
