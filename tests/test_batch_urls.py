"""Batches on fsspec URLs (the scale issue): inputs and the output folder may be URLs
(file://, memory://, s3://, ...). Laws: a URL batch makes the bytes and the manifest a batch
on plain paths makes; a URL folder or glob plans the jobs a local one plans, in that order,
under those names; no output is replaced without --force or left half-written; --resume,
after a stop at any point, ends as an uninterrupted run; errors are one line naming the URL.
Real fsspec file systems only: file:// (seen by every process) and memory:// (this one's)."""

import json
import os
import subprocess
import sys
import uuid

import pytest

from vqcodec import _urls, batch
from vqcodec.cli import main

from .test_batch import MANIFEST, make_tree, outputs, records, run_cli

fsspec = pytest.importorskip("fsspec", reason="fsspec is the dask extra; URLs need it")


@pytest.fixture
def memory():
    """A fresh folder of fsspec's memory file system, as (URL, fs, path); removed after."""
    fs = fsspec.filesystem("memory")
    root = f"/vqtest-{uuid.uuid4().hex}"
    yield f"memory://{root}", fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def upload(tree, fs, root):
    """Copy the local folder ``tree`` to ``root`` on ``fs``, hidden files and all."""
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{root}/{path.relative_to(tree).as_posix()}", path.read_bytes())


def memory_outputs(fs, root):
    return {
        name[len(root) + 1 :]: fs.cat_file(name)
        for name in sorted(fs.find(root))
        if not name.endswith(MANIFEST)
    }


def memory_records(fs, root):
    lines = fs.cat_file(f"{root}/{MANIFEST}").decode().splitlines()
    return [json.loads(line) for line in lines]


def named_under(rows, inputs, outs):
    """Manifest rows with the input and output folders' names cut off (and no seconds), so
    that a batch on URLs and one on paths compare."""
    cut = []
    for row in rows:
        row = dict(row, seconds=None)
        row["input"] = row["input"].removeprefix(inputs)
        row["output"] = row["output"].removeprefix(outs)
        if row["error"]:
            row["error"] = row["error"].removeprefix(inputs)
        cut.append(row)
    return cut


def test_file_urls_with_processes_make_the_bytes_and_manifest_of_paths(tmp_path):
    """Law: `encode file:///abs/src/ -o file:///abs/out/ -j 2` (worker processes opening the
    URLs themselves) writes the outputs, byte for byte, and the manifest (names aside) of
    `encode src -o out/ -j 1`; the broken image is the same one error line."""
    make_tree(tmp_path / "src", count=8)
    local = run_cli("encode", "src", "-o", "local/", "-j", "1", "-q", cwd=tmp_path)
    url = f"file://{tmp_path}"
    there = run_cli("encode", f"{url}/src/", "-o", f"{url}/there/", "-j", "2", "-q", cwd=tmp_path)
    assert local.returncode == there.returncode == 1, (local.stderr, there.stderr)
    assert there.stderr == f"vqcodec: error: {url}/src/sub/broken.png: cannot read image: " \
        "not an image format Pillow reads\n"  # fmt: skip
    assert outputs(tmp_path / "there") == outputs(tmp_path / "local")
    assert named_under(records(tmp_path / "there"), f"{url}/src/", f"{url}/there/") == named_under(
        records(tmp_path / "local"), "src/", "local/"
    )


def test_memory_urls_make_the_bytes_and_manifest_of_paths(tmp_path, memory, capsys):
    """Law: a batch from and to memory:// (this process's file system, so run in it whatever
    -j says) gives the outputs and manifest of the same batch on paths; decoding them back
    too, and a URL input with a local output folder as well."""
    url, fs, root = memory
    make_tree(tmp_path / "src")
    upload(tmp_path / "src", fs, f"{root}/src")
    assert main(["encode", str(tmp_path / "src"), "-o", f"{tmp_path}/local/", "-q", "-j", "1"]) == 1
    assert main(["encode", f"{url}/src", "-o", f"{url}/vq/", "-q", "-j", "2"]) == 1
    assert memory_outputs(fs, f"{root}/vq") == outputs(tmp_path / "local")
    assert named_under(memory_records(fs, f"{root}/vq"), f"{url}/src/", f"{url}/vq/") == (
        named_under(records(tmp_path / "local"), f"{tmp_path}/src/", f"{tmp_path}/local/")
    )
    assert main(["encode", f"{url}/src", "-o", f"{tmp_path}/mixed/", "-q", "-j", "1"]) == 1
    assert outputs(tmp_path / "mixed") == outputs(tmp_path / "local")
    assert main(["decode", str(tmp_path / "local"), "-o", f"{tmp_path}/png/", "-q", "-j", "1"]) == 0
    assert main(["decode", f"{url}/vq/", "-o", f"{url}/png/", "-q"]) == 0
    assert memory_outputs(fs, f"{root}/png") == outputs(tmp_path / "png")
    capsys.readouterr()


def make_awkward_tree(root):
    """A tree with what walks and globs must skip or take: hidden files and folders, a
    symlinked folder (skipped) and a symlinked file (taken), a FIFO named like an image, an
    earlier output folder inside, deep folders and names that sort around their folders."""
    make_tree(root, count=6)
    (root / "sub" / "deep" / "er").mkdir(parents=True)
    for name in ("sub/deep/a.png", "sub/deep/er/b.png", "sub.png", "sub-b/c.png", ".hid/d.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes((root / "p2.png").read_bytes())
    (root / "linked").symlink_to(root / "sub")
    (root / "alias.png").symlink_to(root / "p2.png")
    os.mkfifo(root / "fifo.png")
    (root / "out").mkdir()
    (root / "out" / "old.png").write_bytes((root / "p2.png").read_bytes())
    return root


PATTERNS = [
    "{}",
    "{}/",
    "{}/*.png",
    "{}/**/*.png",
    "{}/**",
    "{}/*",
    "{}/*/",
    "{}/s*/**/*.png",
    "{}/sub/deep/*/b.png",
    "{}/p[0-2].*",
    "{}/*.nothing",
    "{}/missing",
    "{}/.*",
    "{}/sub/.*.png",
    "{}/.hid/*.png",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_url_folders_and_globs_plan_what_paths_plan(tmp_path, pattern, memory):
    """Law: for a folder or a glob, `file://` + its absolute path plans the same jobs, in the
    same order, with the same outputs under the output folder, and the same problems, as the
    path itself, but that a URL glob never enters a symlinked folder (as no walk does; Python's
    glob does); so does the same tree copied to memory:// (no symlinks or FIFOs there: the
    files they stand for are left out of the comparison)."""
    tree = make_awkward_tree(tmp_path / "tree")
    extensions = batch.image_extensions()
    local = batch.make_plan([pattern.format(tree)], str(tree / "out"), ".vq", extensions)
    there = batch.make_plan(
        [pattern.format(f"file://{tree}")], f"file://{tree}/out", ".vq", extensions
    )

    def cut(plan, inputs, outs):
        jobs = [
            (job.input.removeprefix(inputs), job.output.removeprefix(outs)) for job in plan.jobs
        ]
        problems = [problem.removeprefix(inputs) for problem in plan.problems]
        return jobs, problems

    expected = cut(local, str(tree), f"{tree}/out")
    expected = ([job for job in expected[0] if "/linked/" not in job[0]], expected[1])
    assert expected[0] or expected[1], "the pattern plans nothing: a useless case"
    assert cut(there, f"file://{tree}", f"file://{tree}/out") == expected
    url, fs, root = memory
    for path in sorted(tree.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.is_fifo():
            fs.pipe_file(f"{root}/{path.relative_to(tree).as_posix()}", b"")
    fs.mkdir(f"{root}/out")
    in_memory = batch.make_plan([pattern.format(url)], f"{url}/out", ".vq", extensions)
    expected_jobs = [job for job in expected[0] if "linked" not in job[0] and "alias" not in job[0]]
    assert cut(in_memory, url, f"{url}/out") == (expected_jobs, expected[1])


def test_no_output_is_replaced_without_force(tmp_path, memory, capsys, monkeypatch):
    """Law: an output that exists at a URL is refused without --force and kept as it was,
    replaced with it, on a file system written by temp file and move and on one written
    by a single put (an object store); --skip-if-larger writes nothing for a file that
    would not shrink, as it does for paths."""
    url, fs, root = memory
    make_tree(tmp_path / "src", count=2)
    (tmp_path / "src" / "sub" / "broken.png").unlink()
    upload(tmp_path / "src", fs, f"{root}/src")
    for store in (False, True):
        if store:
            monkeypatch.setattr(_urls, "_OBJECT_STORES", _urls._OBJECT_STORES | {"memory"})
        out = f"{root}/out{int(store)}"
        fs.pipe_file(f"{out}/p0.vq", b"someone's")
        assert main(["encode", f"{url}/src", "-o", f"memory://{out}/", "-q"]) == 1
        err = capsys.readouterr().err
        assert err == f"vqcodec: error: memory://{out}/p0.vq: exists; use --force to overwrite\n"
        assert fs.cat_file(f"{out}/p0.vq") == b"someone's"
        argv = ["encode", f"{url}/src", "-o", f"memory://{out}/", "-q", "--force"]
        assert main(argv) == 0
        assert memory_outputs(fs, out)["p0.vq"] != b"someone's"
        assert not [name for name in fs.find(out) if name.endswith(".tmp")]
    argv = ["encode", f"{url}/src", "-o", f"{url}/skip/", "-q", "--skip-if-larger", "-b", "8"]
    big = main(argv)
    local = main(["encode", str(tmp_path / "src"), "-o", f"{tmp_path}/skip/", "-q",
                  "--skip-if-larger", "-b", "8"])  # fmt: skip
    assert big == local
    assert sorted(memory_outputs(fs, f"{root}/skip")) == sorted(outputs(tmp_path / "skip"))
    assert [row["status"] for row in memory_records(fs, f"{root}/skip")] == [
        row["status"] for row in records(tmp_path / "skip")
    ]


def test_a_failed_move_leaves_neither_output_nor_temp(memory, monkeypatch):
    """Law: on a file system written by temp file and move, a write that fails at the move
    leaves no output and no temp file, and says which output it was."""
    url, fs, root = memory

    def broken_move(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(fs), "mv", broken_move)
    with pytest.raises(OSError, match="No space left") as error:
        _urls.write(f"{url}/a.vq", b"bytes", overwrite=False)
    assert error.value.filename == f"{url}/a.vq"
    assert not fs.exists(root) or fs.find(root) == []


def test_resume_of_a_stopped_url_batch_ends_as_an_uninterrupted_one(tmp_path, memory, monkeypatch):
    """Law: a batch writing to a URL stopped after some files, whether its records of them
    were written (a stop it sees: Ctrl-C) or lost (killed outright, before a checkpoint),
    resumed with --resume, ends with the outputs and manifest of a batch never stopped; the
    files recorded are not done again."""
    url, fs, root = memory
    make_tree(tmp_path / "src", count=6)
    upload(tmp_path / "src", fs, f"{root}/src")
    assert main(["encode", f"{url}/src", "-o", f"{url}/whole/", "-q"]) == 1
    expected = named_under(memory_records(fs, f"{root}/whole"), "", f"{url}/whole/")
    done, work = [], batch._work

    def stopping(job, settings):
        if len(done) == 3:
            raise KeyboardInterrupt
        done.append(job.input)
        return work(job, settings)

    for lost in (False, True):
        out = f"{url}/stopped{int(lost)}/"
        done.clear()
        with monkeypatch.context() as patch:
            patch.setattr(batch, "_work", stopping)
            if lost:  # killed outright: no record reaches the URL after the first, empty one
                patch.setattr(batch.Snapshots, "__exit__", lambda *args: None)
            assert main(["encode", f"{url}/src", "-o", out, "-q"]) == 128 + 2  # SIGINT
        folder = out.removeprefix("memory://").rstrip("/")
        kept = memory_records(fs, folder)
        assert len(kept) == (0 if lost else 3)
        again = []
        with monkeypatch.context() as patch:
            patch.setattr(batch, "_work", counting(again))
            assert main(["encode", f"{url}/src", "-o", out, "-q", "--resume"]) == 1
        assert len(again) == (7 if lost else 4)  # the broken image is tried again
        assert memory_outputs(fs, folder) == memory_outputs(fs, f"{root}/whole")
        assert named_under(memory_records(fs, folder), "", out) == expected


def counting(done, work=batch._work):
    """batch._work, noting each job's input in ``done``."""

    def counted(job, settings):
        done.append(job.input)
        return work(job, settings)

    return counted


def test_a_manifest_is_written_while_the_batch_runs(tmp_path, memory, monkeypatch):
    """Law: with a URL output folder, the manifest there is rewritten whole as the batch
    goes (every CHECKPOINT_SECONDS; here always), each time the sorted records so far."""
    url, fs, root = memory
    make_tree(tmp_path / "src", count=4)
    (tmp_path / "src" / "sub" / "broken.png").unlink()
    upload(tmp_path / "src", fs, f"{root}/src")
    monkeypatch.setattr(batch.Snapshots, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(batch.Snapshots, "SPENT_FACTOR", 0)  # not 10x a slow write
    seen, work = [], batch._work

    def watching(job, settings):
        seen.append(len(memory_records(fs, f"{root}/out")))
        return work(job, settings)

    monkeypatch.setattr(batch, "_work", watching)
    assert main(["encode", f"{url}/src", "-o", f"{url}/out/", "-q"]) == 0
    assert seen == [0, 1, 2, 3]
    rows = memory_records(fs, f"{root}/out")
    assert [row["input"] for row in rows] == sorted(row["input"] for row in rows)


def test_decode_finds_the_codebook_beside_a_url(tmp_path, memory, capsys):
    """A .vq file naming a shared codebook, decoded from a URL, finds the .vqb beside it
    there, as beside a path; without one it is one error line naming the hash."""
    url, fs, root = memory
    make_tree(tmp_path / "src", count=2)
    (tmp_path / "src" / "sub" / "broken.png").unlink()
    book = tmp_path / "book.vqb"
    assert main(["train", str(tmp_path / "src"), "-o", str(book), "--block", "2x2", "-q"]) == 0
    argv = ["encode", str(tmp_path / "src"), "-o", f"{url}/vq/", "-q", "--codebook", str(book)]
    assert main(argv) == 0
    assert main(["decode", f"{url}/vq", "-o", f"{url}/png/", "-q"]) == 1
    assert "sha256" in capsys.readouterr().err
    for folder in ("vq", "vq/sub"):  # beside each file, as for paths
        fs.pipe_file(f"{root}/{folder}/book.vqb", book.read_bytes())
    assert main(["decode", f"{url}/vq", "-o", f"{url}/png/", "-q", "--resume"]) == 0
    assert len(memory_outputs(fs, f"{root}/png")) == 2


def test_url_errors_are_one_line_naming_the_url(tmp_path, capsys, monkeypatch, memory):
    """A protocol fsspec does not know; fsspec missing (its import hidden); a memory:// URL
    with --scheduler (no worker sees this process's memory): each one error line naming the
    URL, exit 1, never a traceback."""
    make_tree(tmp_path / "src", count=2)
    monkeypatch.chdir(tmp_path)
    assert main(["encode", "nosuch://bucket/photos/", "-o", "out/", "-q"]) == 1
    assert capsys.readouterr().err == (
        "vqcodec: error: nosuch://bucket/photos/: fsspec knows no protocol nosuch://\n"
    )
    assert main(["encode", "src", "-o", "nosuch://bucket/out/", "-q"]) == 1
    assert capsys.readouterr().err == (
        "vqcodec: error: nosuch://bucket/out/: fsspec knows no protocol nosuch://\n"
    )
    url = memory[0]
    assert main(["encode", "src", "-o", f"{url}/out/", "--scheduler", "tcp://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err == (
        f"vqcodec: error: {url}/out/: is in this process's memory: no Dask worker sees it\n"
    )
    monkeypatch.setitem(sys.modules, "fsspec", None)  # import fsspec raises ImportError
    monkeypatch.setitem(sys.modules, "fsspec.core", None)
    assert main(["encode", "src", "-o", "s3://bucket/out/", "-q"]) == 1
    assert capsys.readouterr().err == (
        "vqcodec: error: s3://bucket/out/: a URL needs fsspec: pip install 'vqcodec[dask]' "
        "(s3://, gcs://, ... need s3fs, gcsfs, ...)\n"
    )


def test_a_dask_cluster_opens_file_urls_itself(tmp_path):
    """Law: --scheduler on a real LocalCluster (two worker processes, loopback) with
    file:// inputs and output folder makes the bytes and manifest of -j 1 on paths: the
    workers get the URLs and open them themselves."""
    distributed = pytest.importorskip("distributed")
    make_tree(tmp_path / "src", count=6)
    local = run_cli("encode", "src", "-o", "local/", "-j", "1", "-q", cwd=tmp_path)
    url = f"file://{tmp_path}"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:  # fmt: skip
        there = subprocess.run(
            [sys.executable, "-m", "vqcodec", "encode", f"{url}/src/", "-o", f"{url}/dask/",
             "-q", "--scheduler", cluster.scheduler_address],
            cwd="/", capture_output=True, text=True,
        )  # fmt: skip
    assert local.returncode == there.returncode == 1, there.stderr
    assert outputs(tmp_path / "dask") == outputs(tmp_path / "local")
    assert named_under(records(tmp_path / "dask"), f"{url}/src/", f"{url}/dask/") == named_under(
        records(tmp_path / "local"), "src/", "local/"
    )


def test_limits_hold_for_urls(tmp_path, memory, capsys):
    """An image at a URL over --max-pixels is refused from its header, and a .vq file with
    bytes after its trailer is refused, each as one error line naming the URL, as for paths;
    a missing file named alone is one line too."""
    url, fs, root = memory
    make_tree(tmp_path / "src", count=2, side=40)
    fs.pipe_file(f"{root}/big/p0.jpg", (tmp_path / "src" / "p0.jpg").read_bytes())
    assert main(["encode", f"{url}/big", "-o", f"{url}/out/", "-q", "--max-pixels", "1000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vqcodec: error: {url}/big/p0.jpg: 40x40 = 1600 pixels exceeds the ")
    assert main(["encode", f"{url}/big", "-o", f"{url}/vq/", "-q"]) == 0
    fs.pipe_file(f"{root}/vq/p0.vq", fs.cat_file(f"{root}/vq/p0.vq") + b"\0")
    assert main(["decode", f"{url}/vq", "-o", f"{url}/png/", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vqcodec: error: {url}/vq/p0.vq: file: trailing data"), err
    assert main(["encode", f"{url}/nothing.png", "-o", f"{url}/none/", "-q"]) == 1
    assert capsys.readouterr().err == (
        f"vqcodec: error: {url}/nothing.png: No such file or directory\n"
    )


def test_relative_file_urls_reach_other_processes_absolute(tmp_path, monkeypatch):
    """A worker elsewhere (Dask's, in another folder) gets a relative file:// URL made
    absolute, as a relative path is; other URLs go as they are."""
    monkeypatch.chdir(tmp_path)
    assert batch._there("file://src/a.png") == f"file://{tmp_path}/src/a.png"
    assert batch._there("file:///abs/a.png") == "file:///abs/a.png"
    assert batch._there("memory://bucket/a.png") == "memory://bucket/a.png"
    assert batch._there("src/a.png") == str(tmp_path / "src" / "a.png")


def test_a_chained_url_is_one_error_line_naming_it(tmp_path, capsys):
    """fsspec's chains (zip://inner::file:///a.zip) put the inner path first, which the walk
    and the globs would break: refused, naming the URL as given."""
    chained = f"zip://*.png::file://{tmp_path}/a.zip"
    assert main(["encode", chained, "-o", str(tmp_path / "out") + "/", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[0]
        == f"vqcodec: error: {chained}: chained URLs (with ::) are not supported; give one PROTO://"
    )


def test_a_url_glob_lists_only_the_levels_its_pattern_needs(memory, monkeypatch):
    """As Python's glob: 'base/*.png' lists base alone, 'base/d1*/e/*.png' the folders
    that can lead to a match; '**' the whole tree (on an object store, each listing is a
    request)."""
    url, fs, root = memory
    for n in range(12):
        fs.pipe(f"{root}/d{n}/e/f/x{n}.png", b"")
    fs.pipe(f"{root}/top.png", b"")
    listed = []
    real = type(fs).ls

    def counted(self, path, *args, **kwargs):
        listed.append(path.rstrip("/").removeprefix(root))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(type(fs), "ls", counted)

    def plan(pattern):
        listed.clear()
        jobs = batch.make_plan([pattern], f"{url}/out", ".vq", {".png"}).jobs
        return [job.input.removeprefix(url) for job in jobs]

    assert plan(f"{url}/*.png") == ["/top.png"]
    assert listed == [""]
    assert plan(f"{url}/d1*/e/f/*.png") == [
        "/d1/e/f/x1.png",
        "/d10/e/f/x10.png",
        "/d11/e/f/x11.png",
    ]
    assert sorted(set(listed)) == sorted(
        {""} | {f"/d{n}{tail}" for n in (1, 10, 11) for tail in ("", "/e", "/e/f")}
    )
    assert len(plan(f"{url}/**/*.png")) == 13


def test_crop_of_a_url_and_a_folder_over_a_file_say_what_is_wrong(tmp_path, memory, capsys):
    """--crop reads a path (its region reads are positional); a folder that cannot be made
    because a file has its name is named with the reason, not a bare path."""
    url, fs, root = memory
    with pytest.raises(SystemExit) as stop:
        main(["decode", f"{url}/a.vq", "--crop", "0,0,1,1", "-o", "part.png"])
    assert stop.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("--crop reads a .vq file on this machine: give its path, not a URL")
    )
    make_tree(tmp_path / "src", count=2)
    upload(tmp_path / "src", fs, f"{root}/src")
    fs.pipe(f"{root}/file", b"not a folder")
    assert main(["encode", f"{url}/src", "-o", f"{url}/file/sub/", "-q"]) == 1
    assert capsys.readouterr().err == (
        f"vqcodec: error: {url}/file/sub/: cannot create this folder: Not a directory\n"
    )
