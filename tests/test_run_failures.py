"""How a run ends when something goes wrong: a second run into the same folder, a damaged store
shard, a full disk, a stop request. One line that says what happened and what to do."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT

from experiments.cli import main

DEMO = ROOT / "data" / "caltech101_demo"

CONFIG = """
name = "tiny"
[data]
classes = ["butterfly", "dolphin", "watch"]
n_train = 6
n_test = 4
seeds = [0]
max_side = 160
[features]
kind = "dsift"
step = 8
bin_size = 6
magnif = 0
samples_per_image = 100
[encoding]
n_words = 16
max_descriptors = 2000
[classifier]
feature_map = "hellinger"
C = [1.0]
epochs = 2
validation_images = 0
[run]
n_jobs = 1
"""


def _config(tmp_path, extra: str = "") -> list:
    path = tmp_path / "tiny.toml"
    path.write_text(CONFIG + f'cache = "{tmp_path / "cache"}"\nstore_dir = "{tmp_path / "store"}"\n' + extra)
    return ["run", str(path), "--data", str(DEMO), "--output", str(tmp_path / "runs"), "--quiet"]


def test_a_second_run_into_the_same_folder_stops_at_once(tmp_path, capsys):
    from experiments.runners.common import output_lock

    argv = _config(tmp_path)
    with output_lock(tmp_path / "runs" / "tiny"):              # as if another run held it
        start = time.perf_counter()
        assert main(argv) == 2
        assert time.perf_counter() - start < 5
    err = capsys.readouterr().err
    assert "another run (pid" in err and "is writing into this folder" in err and "--output" in err
    assert not (tmp_path / "cache").exists()                    # it did none of the work
    assert main(argv) == 0                                       # released: the run goes ahead


def test_a_damaged_store_shard_is_named_with_the_command_that_repairs_it(tmp_path, capsys):
    argv = _config(tmp_path, 'store = "float32"\nshard_size = 4\n')
    assert main(argv) == 0
    shard = sorted((tmp_path / "store").rglob("shard-*.npz"))[0]
    shard.write_bytes(b"PK\x03\x04 damaged")
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert shard.name in err and "damaged feature-store shard" in err and "store verify" in err and "--repair" in err
    assert "Traceback" not in err
    assert main(["store", "verify", str(tmp_path / "store"), "--repair"]) == 0
    assert main(argv) == 0                                       # the dropped shard's images are recomputed
    assert main(["store", "verify", str(tmp_path / "store")]) == 0


def test_a_full_disk_names_the_file_being_written(tmp_path, monkeypatch, capsys):
    from ilsvrc import files

    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    assert main(_config(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(tmp_path / "cache") in err and ".npz" in err
    monkeypatch.setattr(files.os, "fsync", real_fsync)
    assert not list((tmp_path / "cache").rglob(".tmp-*"))        # no half-written files left behind


def test_sigterm_ends_a_run_with_one_line_and_status_143(tmp_path):
    # a run long enough to be caught in the middle, on a busy machine too
    argv = _config(tmp_path, 'store = "float16"\nshard_size = 2\n')
    config = tmp_path / "tiny.toml"
    config.write_text(config.read_text().replace("n_test = 4", "n_test = 0").replace("step = 8", "step = 3"))
    child = subprocess.Popen([sys.executable, "-m", "experiments.cli", *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 60
    while time.time() < deadline and child.poll() is None and not list((tmp_path / "cache").rglob("*.npz")):
        time.sleep(0.05)
    assert child.poll() is None, "the run ended before it could be stopped"
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    text = err.decode()
    assert "stopped (SIGTERM)" in text and "run the same command again to resume" in text
    assert "Traceback" not in text
    # what was finished is kept: resuming computes the rest and leaves the finished entries untouched
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npz")}
    assert main(argv) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    assert len(list((tmp_path / "cache").rglob("*.npz"))) > len(kept)
