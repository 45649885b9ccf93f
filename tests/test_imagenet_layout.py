"""ImageNet as users have it: the official ILSVRC layout (folders, tars read in place, devkit
folder or archive), class subsets, and classification runs on it end to end."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
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
