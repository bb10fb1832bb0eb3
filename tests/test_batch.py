"""Batches (issue 12): `vqcodec encode DIR... -o OUTDIR/` mirrors the tree, -j processes, a
manifest with one true line per input, a bad file reported while the rest go on, --resume,
and a batch killed at any moment and resumed ending as an uninterrupted one."""

import contextlib
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
from PIL import Image

from vqcodec import batch
from vqcodec.cli import main

MANIFEST = batch.MANIFEST_NAME


def make_tree(root, count=6, side=40):
    """count small photos-like PNGs and JPEGs in root/ and root/sub/, a hidden file, a file
    that is no image and a text file Pillow does not open by extension."""
    rng = np.random.default_rng(5)
    y, x = np.mgrid[:side, :side]
    for i in range(count):
        folder = root / ("sub" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        image = np.stack([(x * (i + 2) + y * 3) % 256, (y * 5 + i * 40) % 256, x ^ y], -1)
        image = (image + rng.integers(0, 12, image.shape)).clip(0, 255).astype(np.uint8)
        name = f"p{i}.png" if i % 3 else f"p{i}.jpg"
        Image.fromarray(image).save(folder / name, quality=95)
    Image.fromarray(image).save(root / ".hidden.png")  # an image, but hidden
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "notes.txt").write_text("not an image")
    return root


def records(out):
    lines = (out / MANIFEST).read_text().splitlines()
    return [json.loads(line) for line in lines]


def without_seconds(rows):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]


def outputs(out):
    return {
        str(path.relative_to(out)): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def run_cli(*args, cwd):
    """The CLI in a process of its own (-j N forks workers; signals need a process)."""
    return subprocess.run(
        [sys.executable, "-m", "vqcodec", *args], cwd=cwd, capture_output=True, text=True
    )


def test_a_folder_mirrors_into_the_output_folder(tmp_path, capsys):
    """Each image becomes OUT/<its path under the folder>.vq; the hidden file, the text file
    and nothing else are left out; the broken image is one error line and exit 1, the rest
    written; the manifest has one sorted record per input and a summary line follows."""
    src = make_tree(tmp_path / "src")
    out = tmp_path / "out"
    assert main(["encode", str(src), "-o", f"{out}/", "--bits", "3", "-j", "1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"vqcodec: error: {src / 'sub' / 'broken.png'}: cannot read image: not an " \
        "image format Pillow reads"  # fmt: skip
    assert err[1].startswith("vqcodec: 7 files: 6 done, 0 skipped, 1 failed; ")
    assert sorted(outputs(out)) == [
        "p0.vq", "p2.vq", "p4.vq", "sub/p1.vq", "sub/p3.vq", "sub/p5.vq"
    ]  # fmt: skip
    rows = records(out)
    assert [row["input"] for row in rows] == sorted(row["input"] for row in rows)
    assert len(rows) == 7 and [row["status"] for row in rows].count("ok") == 6
    for row in rows:
        assert list(row) == list(batch.FIELDS)
        if row["status"] == "ok":
            data = pathlib.Path(row["output"]).read_bytes()
            assert row["bytes_out"] == len(data) and row["bits"] == 3
            assert row["coding"] == "entropy2" and row["psnr"] > 15
            assert row["bytes_in"] == os.path.getsize(row["input"]) and row["error"] is None
        else:
            assert row["error"].startswith(row["input"]) and row["bytes_out"] is None


def comparable(out):
    """The manifest of the batch that wrote out/, outputs named under out/, no seconds."""
    rows = [{**row, "output": row["output"].split("/", 1)[1]} for row in records(out)]
    return without_seconds(rows)


def test_processes_make_the_same_bytes_and_manifest(tmp_path):
    """-j 2 (worker processes) and -j 1 (this process): the same outputs, byte for byte, and
    the same manifest but for the seconds."""
    make_tree(tmp_path / "src", count=8)
    one = run_cli("encode", "src", "-o", "one/", "-j", "1", "-q", cwd=tmp_path)
    two = run_cli("encode", "src", "-o", "two/", "-j", "2", "-q", cwd=tmp_path)
    assert one.returncode == two.returncode == 1, (one.stderr, two.stderr)
    assert one.stderr.count("error") == two.stderr.count("error") == 1
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    assert comparable(tmp_path / "one") == comparable(tmp_path / "two")


def test_a_quoted_glob_and_decode_batches(tmp_path, capsys, monkeypatch):
    """'src/**/*.png' is expanded by vqcodec (PNGs only, at any depth); decoding that output
    folder makes NAME.vq.png files beside a manifest of its own."""
    make_tree(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    assert main(["encode", "src/**/*.png", "--out-dir", "vq", "-q", "-j", "1"]) == 1
    assert sorted(outputs(tmp_path / "vq")) == ["p2.vq", "p4.vq", "sub/p1.vq", "sub/p5.vq"]
    assert main(["decode", "vq", "--out-dir", "png", "-q", "-j", "1"]) == 0
    assert sorted(outputs(tmp_path / "png")) == [
        "p2.vq.png", "p4.vq.png", "sub/p1.vq.png", "sub/p5.vq.png"
    ]  # fmt: skip
    assert {row["status"] for row in records(tmp_path / "png")} == {"ok"}
    capsys.readouterr()


def test_usage_errors(tmp_path, capsys):
    """A batch needs an output folder and files (not stdin); an existing manifest is kept
    unless --resume goes on or --force starts afresh."""
    src = make_tree(tmp_path / "src", count=2)
    with pytest.raises(SystemExit) as exit_info:
        main(["encode", str(src)])
    assert exit_info.value.code == 2
    assert "writes into a folder: give --out-dir DIR or -o DIR/" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["encode", "-", "-j", "2", "-o", f"{tmp_path}/x/"])
    assert exit_info.value.code == 2
    out = tmp_path / "out"
    assert main(["encode", str(src), "-o", f"{out}/", "-q"]) == 1
    assert main(["encode", str(src), "-o", f"{out}/", "-q"]) == 1
    assert "earlier batch's manifest" in capsys.readouterr().err
    assert main(["encode", str(src), "-o", f"{out}/", "-q", "--force"]) == 1


def test_resume_skips_what_is_done_and_redoes_the_rest(tmp_path, capsys):
    """--resume: done files are not done again (their records kept, seconds and all); an
    output removed, and an error whose cause is gone, are done again; an output changed
    since is someone's file: refused without --force, replaced with it."""
    src = make_tree(tmp_path / "src")
    out = tmp_path / "out"
    main(["encode", str(src), "-o", f"{out}/", "-q", "-j", "1"])
    first = {row["input"]: row for row in records(out)}
    (out / "p0.vq").unlink()
    (out / "sub" / "p1.vq").write_bytes(b"changed")
    (src / "sub" / "broken.png").unlink()
    capsys.readouterr()
    assert main(["encode", str(src), "-o", f"{out}/", "--resume", "-j", "1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"vqcodec: error: {out / 'sub' / 'p1.vq'}: exists; use --force to overwrite"
    assert "4 of them by an earlier run (--resume)" in err[1]
    assert (out / "sub" / "p1.vq").read_bytes() == b"changed"
    again = {row["input"]: row for row in records(out)}
    assert again[str(src / "p0.jpg")] | {"seconds": 0} == first[str(src / "p0.jpg")] | {
        "seconds": 0
    }
    for name in (src / "p2.png", src / "p4.png", src / "sub" / "p3.jpg", src / "sub" / "p5.png"):
        assert again[str(name)] == first[str(name)]  # not done again: the very same record
    assert str(src / "sub" / "broken.png") in again  # the record of an input gone is kept
    assert main(["encode", str(src), "-o", f"{out}/", "--resume", "--force", "-q"]) == 0
    assert outputs(out)["sub/p1.vq"] != b"changed"
    assert {
        row["status"] for name, row in records_by_input(out).items() if "broken" not in name
    } == {"ok"}


def records_by_input(out):
    return {row["input"]: row for row in records(out)}


def test_a_killed_batch_resumed_ends_as_an_uninterrupted_one(tmp_path):
    """Law (issue 12): whatever moments a batch is killed at (SIGKILL, so nothing of its own
    runs), resuming until it finishes gives the same outputs, byte for byte, and the same
    manifest but for the seconds, as a run never stopped; no temp file is left. Five
    batches, each killed three times at random moments within the length of a whole run,
    then resumed to the end."""
    make_tree(tmp_path / "src", count=10, side=120)
    command = [sys.executable, "-m", "vqcodec", "encode", "src", "-j", "2", "-q"]
    started = time.monotonic()
    whole = subprocess.run([*command, "-o", "whole/"], cwd=tmp_path, capture_output=True)
    span = time.monotonic() - started
    assert whole.returncode == 1  # the broken image
    expected = comparable(tmp_path / "whole")
    rng = random.Random(12)
    for attempt in range(5):
        out = f"killed{attempt}/"
        for _ in range(3):
            process = subprocess.Popen(
                [*command, "-o", out, "--resume"],
                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(rng.uniform(0, span))
            # Its workers (children of its fork server) end when they see it go; the law
            # is about what the next run finds, so wait for them.
            family = []
            with contextlib.suppress(psutil.NoSuchProcess):
                family = psutil.Process(process.pid).children(recursive=True)
            process.send_signal(signal.SIGKILL)
            process.wait()
            psutil.wait_procs(family, timeout=30)
        assert subprocess.run([*command, "-o", out, "--resume"], cwd=tmp_path).returncode == 1
        got = comparable(tmp_path / out)
        assert got == expected, (attempt, [row for row in got if row not in expected])
        made, whole = outputs(tmp_path / out), outputs(tmp_path / "whole")
        assert made == whole, (attempt, sorted(set(made) ^ set(whole)))
        leftovers = [path.name for path in (tmp_path / out).rglob("*") if ".tmp" in path.name]
        assert not leftovers, (attempt, leftovers)


def _jobs_processed_twice(dask_scheduler):
    counts = {}
    for key, _start, finish, *_ in dask_scheduler.transition_log:
        if finish == "processing":
            counts[key] = counts.get(key, 0) + 1
    return sorted(str(key) for key, count in counts.items() if count > 1)


def test_a_dask_cluster_losing_a_worker_writes_each_file_once(tmp_path):
    """--scheduler ADDRESS on a real LocalCluster of two worker processes on loopback, one
    of them killed (SIGKILL) once the batch is under way, so that the scheduler runs its
    job again elsewhere (checked in its transition log): the batch ends with every file
    written exactly once (each output's inode, first seen while the batch runs, is the one
    at the end: a rewrite would be a new file), the same bytes and manifest as -j 1, and no
    temp file but one the killed worker may have left under its hidden name."""
    from distributed import Client, LocalCluster

    make_tree(tmp_path / "src", count=24, side=160)
    local = run_cli("encode", "src", "-o", "local/", "-j", "1", "-q", cwd=tmp_path)
    assert local.returncode == 1
    out = tmp_path / "dask"
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        pids = client.run(os.getpid)
        process = subprocess.Popen(
            [sys.executable, "-m", "vqcodec", "encode", "src", "-o", "dask/", "-q",
             "--scheduler", cluster.scheduler_address],
            cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        inodes, killed = {}, False
        while process.poll() is None:
            for path in out.rglob("*.vq"):
                with contextlib.suppress(FileNotFoundError):
                    inodes.setdefault(path, path.stat().st_ino)
            if not killed and len(inodes) >= 3:
                os.kill(next(iter(pids.values())), signal.SIGKILL)
                killed = True
            time.sleep(0.01)
        stderr = process.stderr.read()
        # Jobs the scheduler sent to a worker more than once: the killed worker's.
        rerun = client.run_on_scheduler(_jobs_processed_twice)
    assert killed, ("the batch ended before a worker could be killed", stderr)
    assert rerun, "the killed worker held no job: nothing was run again"
    assert process.returncode == 1, stderr  # the broken image only
    assert stderr.count("vqcodec: error:") == 1 and "broken.png" in stderr
    # A worker killed outright while it wrote leaves its hidden temp file (.NAME.XXXX.tmp,
    # the atomic writer's, never the output's own name): only the re-run jobs may have one.
    temps = {path for path in out.rglob(".*.tmp")}
    rerun_outputs = {key.split("-", 2)[2] for key in rerun}
    for temp in temps:
        assert str(temp.parent / temp.name[1:].rsplit(".", 2)[0]) in rerun_outputs, temp
    made = {name: data for name, data in outputs(out).items() if out / name not in temps}
    assert made == outputs(tmp_path / "local")
    assert comparable(out) == comparable(tmp_path / "local")
    for path, inode in inodes.items():
        assert path.stat().st_ino == inode, f"{path} was written twice"


def killing_work(job, settings):
    """batch._work, but the worker dies (SIGKILL) right after it wrote p2's output, once (a
    marker file beside it says it did): the pool breaks with that output complete and
    unrecorded."""
    outcome = batch._work(job, settings)
    marker = job.output + ".died"
    if job.output.endswith("p2.vq") and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return outcome


def test_a_job_run_again_after_its_worker_died_keeps_its_complete_output(
    tmp_path, monkeypatch, capsys
):
    """A worker dies after writing its output but before reporting it: the pool is rebuilt,
    the job runs again, finds its own bytes already there and keeps them (no 'exists'
    error), and the batch ends as one that never broke."""
    src = make_tree(tmp_path / "src")
    (src / "sub" / "broken.png").unlink()
    monkeypatch.chdir(tmp_path)
    settings = batch.Settings(command="encode", encode_options={"bits": 3})
    (tmp_path / "out").mkdir()
    plan = batch.make_plan(["src"], "out", ".vq", batch.image_extensions())
    status = batch.run_batch(plan, settings, "out", jobs=2, quiet=True, work=killing_work)
    assert (tmp_path / "out" / "p2.vq.died").exists()  # the worker did die
    assert status == 0, capsys.readouterr().err
    assert {row["status"] for row in records(tmp_path / "out")} == {"ok"}
    assert main(["encode", "src", "-o", "again/", "-q", "-j", "1", "--bits", "3"]) == 0
    made = {name: data for name, data in outputs(tmp_path / "out").items() if name[-3:] == ".vq"}
    assert made == outputs(tmp_path / "again")


def test_a_glob_skips_the_output_folder(tmp_path, capsys, monkeypatch):
    """Outputs of an earlier batch inside the tree a glob spans are not inputs again."""
    src = make_tree(tmp_path / "src", count=2)
    monkeypatch.chdir(tmp_path)
    assert main(["decode", "src", "-o", "src/out/", "-q", "-j", "1"]) == 0  # no .vq: nothing
    assert main(["encode", "src/*.jpg", "-o", "src/out/", "-q", "-j", "1", "-f"]) == 0
    assert main(["decode", "src/out", "-o", "src/out/", "-q", "-j", "1", "-f"]) == 0
    assert sorted(outputs(src / "out")) == ["p0.vq", "p0.vq.png"]
    assert main(["encode", "src/**/*.png", "-o", "src/out/", "-q", "-j", "1", "-f"]) == 1
    made = sorted(outputs(src / "out"))
    assert made == ["p0.vq", "p0.vq.png", "sub/p1.vq"], made  # not out/p0.vq.vq
    capsys.readouterr()


def test_a_glob_spanning_its_base_plans_each_file_once(tmp_path, monkeypatch):
    """'src/**' matches src/ itself too: its files are planned once, under the names the
    folder src gives them (they were planned twice, once as OUT/./NAME, and the second run
    of each file failed on the first's output)."""
    make_tree(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    extensions = batch.image_extensions()
    globbed = batch.make_plan(["src/**"], "out", ".vq", extensions)
    assert globbed.jobs == batch.make_plan(["src"], "out", ".vq", extensions).jobs
    assert not globbed.refused and not globbed.problems


def test_a_wrong_scheduler_leaves_no_manifest(tmp_path, monkeypatch, capsys):
    """--scheduler with nothing listening: one error line, exit 1, and no manifest left to
    refuse the next run."""
    make_tree(tmp_path / "src", count=2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(batch, "DASK_CONNECT_SECONDS", 1)
    assert main(["encode", "src", "-o", "out/", "--scheduler", "tcp://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("vqcodec: error: tcp://127.0.0.1:9: no Dask")
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_resume_refuses_a_file_that_is_no_manifest(tmp_path, capsys):
    """A vqcodec-manifest.jsonl that is not one is neither read nor cut."""
    src = make_tree(tmp_path / "src", count=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text("hello")
    assert main(["encode", str(src), "-o", f"{out}/", "--resume", "-q"]) == 1
    assert "is not a vqcodec manifest" in capsys.readouterr().err
    assert (out / MANIFEST).read_text() == "hello"


def test_an_output_made_meanwhile_with_the_same_bytes_is_kept(tmp_path, monkeypatch):
    """Two runs of one job racing (a killed batch's worker still finishing while --resume
    starts): the one that finds the output made meanwhile keeps it if it holds its very
    bytes, and otherwise reports that it exists."""
    output = tmp_path / "a.vq"
    job = batch.Job(str(tmp_path / "a.png"), str(output))

    def other_run_first(job, data, settings):
        output.write_bytes(made)
        raise FileExistsError(17, "File exists", job.output)

    monkeypatch.setattr(batch, "_write_now", other_run_first)
    adopt = batch.Settings(command="encode", adopt=True)
    made = b"the bytes"
    batch._write(job, b"the bytes", adopt)
    assert output.read_bytes() == b"the bytes"
    output.unlink()
    made = b"other bytes"
    with pytest.raises(FileExistsError):
        batch._write(job, b"the bytes", adopt)
    output.unlink()
    made = b"the bytes"
    with pytest.raises(FileExistsError):  # without --resume or a cluster: not ours to keep
        batch._write(job, b"the bytes", batch.Settings(command="encode"))


_FAULTS_PROBE = """
import resource, sys
import numpy as np
from vqcodec import batch

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        np.ones(1 << 20, np.uint8)  # 1 MiB: past the 128 KiB mmap threshold Dask's setting fixes
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

outside = faults()
with batch._malloc_kept():
    faults()  # the first round may map the block
    inside = faults()
after = faults()
print(outside, inside, after)
"""


@pytest.mark.skipif(batch._glibc() is None, reason="glibc's mallopt only")
def test_dask_jobs_keep_the_memory_they_free_and_leave_the_worker_as_it_was():
    """Law: in a process started as Dask starts its workers (MALLOC_TRIM_THRESHOLD_=65536),
    a block freed and allocated again inside ``_malloc_kept`` is not mapped afresh (its pages
    fault in at most once), and after it the environment's thresholds hold again (every
    allocation faults in its pages again). Counted in page faults, not time."""
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    probe = subprocess.run(
        [sys.executable, "-c", _FAULTS_PROBE], env=env, capture_output=True, text=True, check=True
    )
    outside, inside, after = map(int, probe.stdout.split())
    pages = 100 * (1 << 20) // 4096
    assert outside >= pages // 2, (outside, inside, after)  # fresh pages at every allocation
    assert inside < pages // 20, (outside, inside, after)
    assert after >= pages // 2, (outside, inside, after)


def test_without_malloc_variables_the_process_is_left_alone(monkeypatch):
    """glibc's own dynamic thresholds already keep reused memory: nothing is changed."""
    for name in batch._MALLOC_ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(batch, "_glibc", lambda: pytest.fail("mallopt touched"))
    with batch._malloc_kept():
        pass


def test_the_malloc_policy_is_glibc_s_alone(monkeypatch):
    """Elsewhere than Linux (Windows Dask workers set MALLOC_TRIM_THRESHOLD_ too) there is no
    glibc: nothing is done, and the job runs."""
    batch._glibc.cache_clear()
    monkeypatch.setattr(batch.sys, "platform", "win32")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    try:
        assert batch._glibc() is None
        with batch._malloc_kept():
            pass
    finally:
        batch._glibc.cache_clear()
