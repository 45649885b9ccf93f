"""ImageNet as users have it: the official ILSVRC layout (folders, tars read in place, devkit
folder or archive), class subsets, and classification runs on it end to end."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from conftest import ROOT
from ilsvrc_layout import DEVKIT_IDS, make_classification_layout

from experiments.cli import main
from ilsvrc.archives import ArchiveMember, index_tar
from ilsvrc.datasets import ILSVRCDataset, find_layout
from ilsvrc.errors import InputError


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    out = {}
    for form, devkit in (("folders", "folder"), ("class-tars", "folder"), ("tar", "tar.gz"), ("short", "folder")):
        root = tmp_path_factory.mktemp(form)
        out[form] = (root, make_classification_layout(root, form=form, devkit=devkit))
    return out


def _bytes(source) -> bytes:
    return source.read_bytes() if isinstance(source, ArchiveMember) else open(source, "rb").read()


def test_every_form_of_the_distribution_gives_the_same_images(layouts, tmp_path, caplog):
    listings = {}
    for form, (root, written) in layouts.items():
        layout = find_layout(root, extract_dir=tmp_path / "devkit")
        with caplog.at_level(logging.WARNING, logger="ilsvrc.datasets"):
            caplog.clear()
            data = ILSVRCDataset(layout, index_dir=tmp_path / "index")
        # one line says how many of meta.mat's classes have no images, and what to do
        assert "990 of the 1000 classes of meta.mat have no training images" in caplog.text
        assert "running on the 10 that do" in caplog.text
        assert data.classes == tuple(sorted(written["wnids"], key=lambda w: DEVKIT_IDS[written["wnids"].index(w)]))
        assert list(data.devkit_ids) == sorted(DEVKIT_IDS)
        train = data.train_samples()
        val = data.val_samples()
        assert len(train) == 180 and len(val) == 60
        assert [str(s.path).rsplit("/", 1)[-1] for s in val] == [n for n, _ in written["val"]]
        assert [data.synsets.id_of(s.class_name) for s in val] == [g for _, g in written["val"]]
        assert list(data.val_ground_truth) == [g for _, g in written["val"]]
        listings[form] = ([_bytes(s.path) for s in train], [s.label for s in train], [_bytes(s.path) for s in val])
    first = listings["folders"]
    for form, listing in listings.items():
        assert listing == first, form          # the same image bytes, labels and order in every form


def test_archive_members_are_read_in_place(layouts):
    root, written = layouts["tar"]
    names, offsets, sizes = index_tar(root / "ILSVRC2012_img_train.tar")
    assert len(names) == 180 and all(n.count("/") == 1 and n.endswith(".JPEG") for n in names)
    wnid = written["wnids"][0]
    i = list(names).index(f"{wnid}.tar/{wnid}_1.JPEG")
    member = ArchiveMember(str(root / "ILSVRC2012_img_train.tar"), int(offsets[i]), int(sizes[i]), str(names[i]))
    folders_root, _ = layouts["folders"]
    assert member.read_bytes() == (folders_root / "ILSVRC2012_img_train" / wnid / f"{wnid}_1.JPEG").read_bytes()
    from features.image_io import load_image

    assert load_image(member).shape[2] == 3


def test_a_subset_of_the_validation_images_keeps_its_ground_truth(layouts, tmp_path):
    root, written = layouts["folders"]
    copy = tmp_path / "subset"
    shutil.copytree(root, copy)
    keep = {n for n, _ in written["val"][10:20]}
    for f in (copy / "ILSVRC2012_img_val").iterdir():
        if f.name not in keep:
            f.unlink()
    data = ILSVRCDataset(find_layout(copy))
    val = data.val_samples()
    assert [data.synsets.id_of(s.class_name) for s in val] == [g for _, g in written["val"][10:20]]


def test_class_subsets_and_missing_pieces_are_explained(layouts, tmp_path):
    root, written = layouts["folders"]
    layout = find_layout(root)
    data = ILSVRCDataset(layout, classes=written["wnids"][:3])
    assert len(data.classes) == 3 and len(data.train_samples()) == 54
    val = data.val_samples()
    assert sum(s.label >= 0 for s in val) == 18 and sum(s.label < 0 for s in val) == 42
    with pytest.raises(InputError, match="1 class\\(es\\) not in meta.mat: \\['n99999999'\\]"):
        ILSVRCDataset(layout, classes=["n99999999"])
    with pytest.raises(InputError, match="without training images"):
        ILSVRCDataset(layout, classes=["n01440764"])          # a class of meta.mat with no images here
    empty = tmp_path / "empty"
    (empty / "ILSVRC2012_img_train").mkdir(parents=True)
    (empty / "ILSVRC2012_img_val").mkdir()
    with pytest.raises(InputError, match="no devkit meta.mat found: looked for .*ILSVRC2012_devkit_t12/data/meta.mat"
                                         ".*set data.meta"):
        find_layout(empty)
    with pytest.raises(InputError, match="no training images found: looked for ILSVRC2012_img_train, "
                                         "ILSVRC2012_img_train.tar.*train; set --data"):
        find_layout(tmp_path)
    # explicit paths are relative to the data folder
    assert find_layout(root, meta="ILSVRC2012_devkit_t12/data/meta.mat").meta == \
        root / "ILSVRC2012_devkit_t12/data/meta.mat"
    with pytest.raises(InputError, match="data.meta: devkit meta file not found"):
        find_layout(root, meta="elsewhere/meta.mat")


QUICK = """
name = "imagenet_tiny"
[data]
layout = "ilsvrc"
train_per_class = 12
seeds = [0]
max_side = 160
[features]
kind = "dsift"
step = 6
bin_size = 6
magnif = 0
samples_per_image = 100
[encoding]
kind = "bow"
n_words = 48
layout = "1x1+2x2"
max_descriptors = 5000
[classifier]
feature_map = "hellinger"
C = [10.0]
[run]
n_jobs = 1
"""


def _config(tmp_path, text, name="imagenet_tiny.toml"):
    path = tmp_path / name
    path.write_text(text + f'cache = "{tmp_path / "cache"}"\nstore_dir = "{tmp_path / "store"}"\n')
    return path


def test_a_run_on_the_tar_distribution_writes_a_submission_in_devkit_ids(layouts, tmp_path, capsys):
    root, written = layouts["tar"]
    cfg = _config(tmp_path, QUICK)
    assert main(["run", str(cfg), "--data", str(root), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    out = tmp_path / "runs" / "imagenet_tiny"
    lines = (out / "split_0" / "submission.txt").read_text().splitlines()
    assert len(lines) == 60
    guesses = np.array([[int(t) for t in line.split()] for line in lines])
    assert set(guesses.ravel()) <= set(DEVKIT_IDS)            # devkit ids, the run's classes only
    truth = np.array([g for _, g in written["val"]])
    top1 = float(np.mean(guesses[:, 0] != truth))
    metrics = json.loads((out / "metrics.json").read_text())
    split = metrics["variants"][0]["splits"][0]
    assert split["top_k_error"][0] == pytest.approx(top1)    # the runner's score is the submission's
    assert top1 < 0.6                                          # chance is 0.9
    # the submission scores against the devkit's own ground truth with the CLI evaluator
    gt = tmp_path / "gt.txt"
    shutil.copy(next(tmp_path.glob("cache/devkit/*/ILSVRC2012_validation_ground_truth.txt")), gt)
    assert main(["evaluate", "cls", str(out / "split_0" / "submission.txt"), "--ground-truth", str(gt),
                 "--bootstrap", "0", "--json", str(tmp_path / "scored.json")]) == 0
    assert json.loads((tmp_path / "scored.json").read_text())["top_k_error"][0] == pytest.approx(top1)
    report = (out / "report.md").read_text()
    assert "10 classes (990 classes of the devkit's meta.mat have no training images here)" in report
    assert "120 training images (up to 12 per class) and 60 validation images" in report
    assert "linear SVM, one-vs-rest (liblinear), feature map hellinger" in report
    assert "## Beside the ILSVRC leaderboards" in report and (out / "leaderboard.png").exists()
    assert "NEC-UIUC" in report and "How this run differs: 10 classes" in report


def test_validation_images_of_classes_outside_the_run_count_as_errors(layouts, tmp_path):
    root, written = layouts["folders"]
    chosen = written["wnids"][:5]
    (root / "five.txt").write_text("# five classes\n" + "\n".join(chosen) + "\n")
    cfg = _config(tmp_path, QUICK.replace("[data]\n", '[data]\nclasses_file = "five.txt"\n'))
    assert main(["run", str(cfg), "--data", str(root), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    out = tmp_path / "runs" / "imagenet_tiny"
    guesses = np.array([[int(t) for t in line.split()]
                        for line in (out / "split_0" / "submission.txt").read_text().splitlines()])
    truth = np.array([g for _, g in written["val"]])
    chosen_ids = {DEVKIT_IDS[written["wnids"].index(w)] for w in chosen}
    assert set(guesses.ravel()) <= chosen_ids
    outside = ~np.isin(truth, list(chosen_ids))
    assert outside.sum() == 30
    errors = json.loads((out / "metrics.json").read_text())["variants"][0]["splits"][0]["top_k_error"]
    # the 30 images of the other classes are errors at every k, as the official evaluator counts them
    assert errors[4] >= 0.5 and errors[4] == pytest.approx(np.mean(~(guesses == truth[:, None]).any(axis=1)))


STORED = QUICK.replace("train_per_class = 12", "train_per_class = 5\nval_images = 24").replace(
    "n_jobs = 1", 'n_jobs = 2\nbatch_size = 2\nstore = "float16"\nshard_size = 6').replace(
    "[classifier]\n", "[classifier]\nepochs = 4\nvalidation_images = 8\n")


def _store_files(store_dir) -> dict:
    return {p.relative_to(store_dir).as_posix(): p.read_bytes() for p in sorted(store_dir.rglob("*")) if p.is_file()}


def _run_store_backed(root, tmp_path, tag: str, extra=()):
    work = tmp_path / tag
    cfg = work / "imagenet_tiny.toml"
    work.mkdir()
    cfg.write_text(STORED + f'cache = "{work / "cache"}"\nstore_dir = "{work / "store"}"\n')
    argv = ["run", str(cfg), "--data", str(root), "--output", str(work / "runs"), "--quiet", *extra]
    return work, cfg, argv


def test_store_and_submission_are_the_same_whatever_the_backend_or_interruptions(layouts, tmp_path):
    """Local processes, a Dask LocalCluster, and runs killed (SIGKILL) or interrupted (SIGINT)
    midway and resumed give the same store files, byte for byte, and the same submission."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root, _ = layouts["tar"]
    results = {}
    for tag, extra in (("local", ()), ("dask", ("--scheduler", "local"))):
        work, _, argv = _run_store_backed(root, tmp_path, tag, extra)
        assert main(argv) == 0
        results[tag] = (_store_files(work / "store"),
                        (work / "runs" / "imagenet_tiny" / "split_0" / "submission.txt").read_bytes())
    for tag, sig in (("killed", signal.SIGKILL), ("interrupted", signal.SIGINT)):
        work, _, argv = _run_store_backed(root, tmp_path, tag)
        child = subprocess.Popen([sys.executable, "-m", "experiments.cli", *argv], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.time() + 120
        while time.time() < deadline and child.poll() is None:
            manifests = list((work / "store").glob("*/manifest.json"))
            if any(json.loads(m.read_text())["shards"] for m in manifests if m.stat().st_size):
                break
            time.sleep(0.05)
        assert child.poll() is None, "the run ended before it could be interrupted"
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
        if sig == signal.SIGINT:
            assert child.returncode == 130
            assert b"Traceback" not in err and b"interrupted" in err and b"run the same command again" in err
        assert main(argv) == 0                                  # resume
        results[tag] = (_store_files(work / "store"),
                        (work / "runs" / "imagenet_tiny" / "split_0" / "submission.txt").read_bytes())
    reference_store, reference_submission = results["local"]
    assert len([n for n in reference_store if "/shard-" in n]) >= 4
    for tag, (store, submission) in results.items():
        assert store == reference_store, tag
        assert submission == reference_submission, tag


def _descendants(pid: int) -> set:
    """Every process whose parent chain reaches ``pid`` (from /proc)."""
    from pathlib import Path

    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - out
        out |= frontier
    return out


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not __import__("os").path.isdir("/proc"), reason="needs /proc to find the worker processes")
def test_workers_do_not_outlive_a_killed_driver(layouts, tmp_path):
    """SIGKILL of the driver (no chance to clean up): its worker processes exit within 10 s."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root, _ = layouts["folders"]
    work, _, argv = _run_store_backed(root, tmp_path, "orphans")
    child = subprocess.Popen([sys.executable, "-m", "experiments.cli", *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers = set()
    while time.time() < deadline and child.poll() is None:
        workers = _descendants(child.pid)
        if len(workers) >= 2 and list((work / "cache").rglob("*.npz")):      # workers busy with images
            break
        time.sleep(0.05)
    assert child.poll() is None and workers, "the run ended before its workers could be seen"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    killed_at = time.time()
    while time.time() - killed_at < 10 and any(_alive(p) for p in workers):
        time.sleep(0.2)
    survivors = [p for p in workers if _alive(p)]
    for p in survivors:
        os.kill(p, signal.SIGKILL)
    assert not survivors, f"{len(survivors)} worker process(es) outlived the driver by 10 s"


def test_localization_baseline_on_the_official_layout(tmp_path):
    """Training boxes from ILSVRC2012_bbox_train_v2 (0-based XML), a CLS-LOC submission in devkit
    ids scored by the official rules against ILSVRC2012_bbox_val_v3."""
    from ilsvrc_layout import make_localization_layout

    from ilsvrc.ground_truth import load_clsloc_boxes
    from ilsvrc.metrics.localization import localization_error, localization_errors
    from ilsvrc.submissions import read_loc_submission
    from ilsvrc.synsets import SynsetTable

    root = tmp_path / "data"
    written = make_localization_layout(root, n_train=14, n_val=5)
    cfg = tmp_path / "loc.toml"
    cfg.write_text(f'extends = "{(ROOT / "experiments/configs/ilsvrc2012_loc_quick.toml").as_posix()}"\n'
                   'name = "loc_tiny"\n[data]\nn_train = 14\nmax_side = 200\n'
                   '[features]\nsamples_per_image = 200\n[encoding]\nn_words = 64\nmax_descriptors = 10000\n'
                   '[detection]\nmode = "single"\ntrain_proposals = 150\ntest_proposals = 300\n'
                   f'[run]\nn_jobs = 2\ncache = "{tmp_path / "cache"}"\n')
    assert main(["run", str(cfg), "--data", str(root), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    out = tmp_path / "runs" / "loc_tiny" / "split_0"
    synsets = SynsetTable.from_file(root / "ILSVRC2012_devkit_t12/data/meta.mat")
    sub = read_loc_submission(out / "loc_submission.txt", len(written["val"]), synsets.n_classes)
    assert set(sub.labels.ravel()) - {0} == set(written["devkit_ids"])   # devkit ids (3 guesses, padded by 0)
    # scored again, independently, with the official validation boxes (0-based XML, as written)
    objects = load_clsloc_boxes(root / "ILSVRC2012_bbox_val_v3" / "val", synsets, len(written["val"]))
    truth = np.array([[cid] for _, cid, _ in written["val"]])
    ours = localization_error(localization_errors(sub.labels, sub.boxes, truth, objects))
    metrics = json.loads((tmp_path / "runs" / "loc_tiny" / "metrics.json").read_text())
    assert metrics["splits"][0]["loc"]["top_k_error"] == pytest.approx(ours.tolist())
    assert ours[-1] < 1.0                                   # something is localized (accuracy: the detection tests)
