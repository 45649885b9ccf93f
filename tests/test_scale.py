"""Scale: Dask execution, the crash-safe feature store, streaming SGD in bounded memory."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from baselines.streaming import StreamingSGDClassifier
from experiments.scale.extract import encode_into_store, signature_job
from experiments.scale.parallel import Execution, map_images
from experiments.scale.store import FeatureStore, PQCodec, open_store

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "caltech101_demo"
sys.path.insert(0, str(Path(__file__).parent))
from store_jobs import digest_vector  # noqa: E402


@dataclass
class Item:
    path: str
    label: int


def _demo_items(n_per_class=2, classes=("butterfly", "dolphin", "watch")):
    items = []
    for label, c in enumerate(classes):
        files = sorted((DEMO / c).glob("*.jpg"))[:n_per_class]
        items += [Item(str(f), label) for f in files]
    return items


def _tiny_pipeline():
    from baselines.pipeline import ImagePipeline
    from features.encoding import BagOfWords
    from features.local import DenseSIFT

    pipe = ImagePipeline(DenseSIFT(step=8, bin_size=6, max_side=160))
    feats = [pipe.local_features(i.path) for i in _demo_items(1)]
    pipe.encoder = BagOfWords(n_words=16, layout="1x1+2x2", max_descriptors=3000, random_state=0).fit(feats)
    return pipe


# --------------------------------------------------------------------------- execution backends
def test_dask_local_cluster_gives_bit_identical_signatures(tmp_path):
    """... and leaves the environment as it found it (Dask's nannies set OMP_NUM_THREADS=1 and
    the like in the starting process, which later processes would inherit)."""
    import os

    pipe = _tiny_pipeline()
    items = _demo_items(3)
    stores = {}
    environment = dict(os.environ)
    for backend in ("local", "dask"):
        store = FeatureStore(tmp_path / backend, {"pipeline": "tiny"}, shard_size=4)
        stats = encode_into_store(store, items, signature_job, lambda s: (pipe, s.path),
                                  Execution(backend=backend, n_jobs=2, batch_size=2), progress=False)
        assert stats["computed"] == len(items) and stats["failed"] == 0
        keys, labels, rows = store.read_all()
        order = np.argsort(keys)
        stores[backend] = (keys[order], labels[order], rows[order])
    assert np.array_equal(stores["local"][0], stores["dask"][0])
    assert np.array_equal(stores["local"][1], stores["dask"][1])
    assert stores["local"][2].tobytes() == stores["dask"][2].tobytes()
    assert dict(os.environ) == environment


def test_a_dask_run_does_not_pin_this_process_to_one_thread_while_it_runs():
    """Processes started during a Dask run (a store writer, loky workers) inherit this
    process's environment: the nannies' settings must not be in it."""
    from store_jobs import digest_vector

    paths = sorted(str(p) for p in (DEMO / "watch").glob("*.jpg"))[:4]
    before = dict(os.environ)
    during = []
    for _ in map_images(digest_vector, [(p,) for p in paths], Execution(backend="dask", n_jobs=1, batch_size=1)):
        during.append(dict(os.environ))
    assert during and all(env == before for env in during)
    assert dict(os.environ) == before


def test_map_images_reports_bad_images_and_stops_on_programming_errors():
    from store_jobs import broken_job
    from store_jobs import digest_vector as job

    args = [(str(DEMO / "watch" / "image_0001.jpg"),), ("/nonexistent.jpg",)]
    for n_jobs in (1, 2):
        out = sorted(map_images(job, args, Execution(n_jobs=n_jobs, batch_size=1)))
        assert out[0][2] is None and out[0][1].shape == (64,)
        assert out[1][1] is None and "/nonexistent.jpg: cannot read image" in out[1][2]
        # a programming error is not an image's failure: it stops the run with its traceback
        with pytest.raises(ZeroDivisionError):
            list(map_images(broken_job, args, Execution(n_jobs=n_jobs, batch_size=1)))
    with pytest.raises(ValueError, match="backend"):
        Execution(backend="spark")


def test_a_worker_that_dies_on_an_image_fails_that_image_only(caplog):
    """SIGKILL of the worker computing one image (what the out-of-memory killer does on a
    huge picture): that image is reported failed, every other image's value comes back,
    equal to a clean run's, and the run goes on."""
    from functools import partial

    from store_jobs import dies_on, digest_vector

    paths = sorted(str(p) for p in (DEMO / "watch").glob("*.jpg"))[:14]
    fatal = Path(paths[9]).name
    args = [(p,) for p in paths]
    clean = dict((i, v) for i, v, _ in map_images(digest_vector, args, Execution(n_jobs=1, batch_size=3)))
    with caplog.at_level("WARNING"):
        out = sorted(map_images(partial(dies_on, fatal=fatal), args, Execution(n_jobs=2, batch_size=3)),
                     key=lambda r: r[0])
    assert [i for i, _, _ in out] == list(range(len(paths)))          # each image exactly once
    failed = [(i, e) for i, v, e in out if e is not None]
    assert failed == [(9, failed[0][1])] and "worker process died" in failed[0][1]
    for i, v, e in out:
        if i != 9:
            np.testing.assert_array_equal(v, clean[i])
    assert "a worker process died" in caplog.text


def test_a_worker_that_dies_sending_its_results_back_does_not_loop():
    """The worker dies after its last image, while its batch's results are pickled: the image
    is still named (the journal keeps a batch's last image), reported failed, and the run ends."""
    import signal
    from functools import partial

    from store_jobs import dies_sending

    paths = sorted(str(p) for p in (DEMO / "watch").glob("*.jpg"))[:9]
    fatal = Path(paths[5]).name                        # last of the second batch of 3

    def too_long(signum, frame):
        raise TimeoutError("map_images did not finish: a worker death loop")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(120)
    try:
        out = sorted(map_images(partial(dies_sending, fatal=fatal), [(p,) for p in paths],
                                Execution(n_jobs=2, batch_size=3)), key=lambda r: r[0])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [i for i, _, _ in out] == list(range(len(paths)))
    assert [i for i, _, e in out if e is not None] == [5]
    assert all(v is not None for i, v, _ in out if i != 5)


# --------------------------------------------------------------------------- the store
def test_killed_run_resumes_without_losing_or_recomputing(tmp_path):
    paths = [i.path for i in _demo_items(4)]            # 12 images, 2 per shard
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).parent)])}
    child = subprocess.Popen([sys.executable, str(Path(__file__).parent / "store_jobs.py"), "2", str(tmp_path),
                              "0.15", *paths], env=env)
    store_dir = None
    deadline = time.time() + 60
    while time.time() < deadline:
        manifests = list(tmp_path.glob("*/manifest.json"))
        if manifests:
            store_dir = manifests[0].parent
            if len(open_store(store_dir).shards) >= 2:
                break
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before = open_store(store_dir)
    assert 2 <= len(before.shards) < 6, "the child should have been killed midway"
    assert before.verify() == []
    stored_before = set(before.done_keys())

    @dataclass
    class S:
        path: str
        label: int

    store = FeatureStore(tmp_path, {"test": "kill"}, shard_size=2)
    stats = encode_into_store(store, [S(p, 0) for p in paths], digest_vector, lambda s: (s.path, 0.0),
                              Execution(n_jobs=1, batch_size=1), progress=False)
    assert stats["reused"] == len(stored_before)
    assert stats["computed"] == len(paths) - len(stored_before)
    keys, _, rows = store.read_all()
    assert len(keys) == len(set(keys.tolist())) == len(paths)
    assert store.verify() == []
    # the vectors written before the kill are the right ones
    for key, row, path in zip(*_by_path(store, paths)):
        assert np.array_equal(row, digest_vector(path))


def _by_path(store, paths):
    from ilsvrc.files import file_digest

    keys, _, rows = store.read_all()
    index = {k: i for i, k in enumerate(keys.tolist())}
    ks = [file_digest(p) for p in paths]
    return ks, [rows[index[k]] for k in ks], paths


def test_verify_detects_a_corrupt_shard_and_repair_recomputes_it(tmp_path):
    items = _demo_items(2)
    store = FeatureStore(tmp_path, {"c": 1}, shard_size=2)
    encode_into_store(store, items, digest_vector, lambda s: (s.path,), Execution(n_jobs=1), progress=False)
    assert store.verify() == []
    victim = store.dir / store.shards[1].name
    original = victim.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    problems = store.verify()
    assert len(problems) == 1 and store.shards[1].name in problems[0] and "SHA-256" in problems[0]
    # the command line says so too, with a non-zero status
    from experiments.cli import main

    assert main(["store", "verify", str(store.dir)]) == 1
    # repairing takes the store's writer lock: not while another writer (here: this test's) holds it
    assert main(["store", "verify", str(tmp_path), "--repair"]) == 2
    store.close()
    assert main(["store", "verify", str(tmp_path), "--repair"]) == 0      # repaired: success
    repaired = open_store(store.dir, writer=True)
    assert repaired.verify() == [] and len(repaired) == len(items) - 2
    assert victim.name not in {s.name for s in repaired.shards}
    stats = encode_into_store(repaired, items, digest_vector, lambda s: (s.path,), Execution(n_jobs=1),
                              progress=False)
    assert stats["computed"] == 2 and len(repaired) == len(items)
    # the recomputed shard is the original, byte for byte (shard files follow their content)
    assert victim.read_bytes() == bytes(original) and repaired.verify() == []


def test_failures_are_recorded_and_retried(tmp_path):
    items = _demo_items(1) + [Item(str(tmp_path / "broken.jpg"), 1)]
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    pipe = _tiny_pipeline()
    store = FeatureStore(tmp_path / "s", {"c": 2})
    stats = encode_into_store(store, items, signature_job, lambda s: (pipe, s.path), Execution(n_jobs=1),
                              progress=False)
    assert stats["failed"] == 1 and len(store) == len(items) - 1
    assert list(open_store(store.dir).failures.values())[0]["path"].endswith("broken.jpg")
    again = encode_into_store(store, items, signature_job, lambda s: (pipe, s.path), Execution(n_jobs=1),
                              progress=False)
    assert again["computed"] == 0 and again["failed"] == 1 and again["reused"] == len(items) - 1


def test_float16_and_pq_storage(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 64)).astype(np.float32)
    x = (centres[rng.integers(0, 20, 600)] + 0.05 * rng.standard_normal((600, 64))).astype(np.float32)
    codec = PQCodec(sub_dim=8, seed=0).fit(x)
    err = np.abs(codec.decode(codec.encode(x)) - x).mean()
    assert err < 0.1 * np.abs(x).mean()
    sizes = {}
    for name, kw in (("float32", {}), ("float16", {"dtype": "float16"}), ("pq", {"codec": codec})):
        store = FeatureStore(tmp_path / name, {"c": name}, shard_size=300, **kw)
        for i, row in enumerate(x):
            store.add(f"k{i}", row, label=i % 3)
        store.flush()
        keys, labels, rows = open_store(store.dir).read_all()
        assert len(rows) == 600 and rows.dtype == np.float32
        assert np.abs(rows - x).max() < (1e-6 if name == "float32" else 2e-3 if name == "float16" else 2.0)
        sizes[name] = store.bytes_per_image()
    assert sizes["float16"] < 0.6 * sizes["float32"] and sizes["pq"] < 0.25 * sizes["float32"]
    with pytest.raises(ValueError, match="divide"):
        PQCodec(sub_dim=7).fit(x)


# --------------------------------------------------------------------------- streaming SGD
def _synthetic_store(root, n, d=256, n_classes=8, shard_size=500, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_classes, d)).astype(np.float32)
    store = FeatureStore(root, {"synthetic": n}, shard_size=shard_size)
    for i in range(n):
        c = i % n_classes
        store.add(f"{n}-{i}", means[c] + rng.standard_normal(d).astype(np.float32), label=c)
    store.flush()
    return store


def test_streamed_and_in_memory_training_agree_bit_for_bit(tmp_path):
    store = _synthetic_store(tmp_path, 1800)
    streamed = StreamingSGDClassifier(alpha=1e-3, epochs=3).fit_shards(store.shard_loaders(), np.arange(8))
    _, labels, rows = store.read_all()
    in_memory = StreamingSGDClassifier(alpha=1e-3, epochs=3).fit(rows, labels, shard_size=500)
    assert streamed.coef_.tobytes() == in_memory.coef_.tobytes()
    assert np.array_equal(streamed.predict(rows), in_memory.predict(rows))
    assert (streamed.predict(rows) == labels).mean() > 0.9


def test_streamed_training_resumes_from_its_checkpoint_to_the_same_model_bit_for_bit(tmp_path, monkeypatch):
    store = _synthetic_store(tmp_path / "store", 1800, shard_size=300)
    loaders = store.shard_loaders()
    counts = np.bincount(store.read_all()[1])
    settings = dict(alpha=1e-3, epochs=4, average_from=1, mix=2)
    whole = StreamingSGDClassifier(**settings).fit_shards(loaders, np.arange(8), class_counts=counts)

    # an interruption in the third epoch: the first two epochs are on disk
    reads = {"n": 0}

    def failing(load):
        def read():
            reads["n"] += 1
            if reads["n"] > 2 * len(loaders) + 1:
                raise KeyboardInterrupt
            return load()
        return read

    path = tmp_path / "sgd" / "split.npz"
    with pytest.raises(KeyboardInterrupt):
        StreamingSGDClassifier(**settings).fit_shards([failing(f) for f in loaders], np.arange(8),
                                                      class_counts=counts, checkpoint=path)
    with np.load(path) as z:
        assert int(z["epoch"]) == 2 and bool(z["has_carry"])        # 1,800 rows are not whole batches of 64
    reads["n"] = 0
    resumed = StreamingSGDClassifier(**settings).fit_shards([failing(f) for f in loaders], np.arange(8),
                                                            class_counts=counts, checkpoint=path)
    assert reads["n"] == 2 * len(loaders)                          # only the last two epochs were read
    assert resumed.coef_.tobytes() == whole.coef_.tobytes()
    assert resumed.intercept_.tobytes() == whole.intercept_.tobytes()
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in whole.history_]

    # after the last epoch nothing is read again; other settings start afresh and replace the file
    reads["n"] = 0
    again = StreamingSGDClassifier(**settings).fit_shards([failing(f) for f in loaders], np.arange(8),
                                                          class_counts=counts, checkpoint=path)
    assert reads["n"] == 0 and again.coef_.tobytes() == whole.coef_.tobytes()
    other = StreamingSGDClassifier(**{**settings, "alpha": 2e-3}).fit_shards(loaders, np.arange(8),
                                                                            class_counts=counts, checkpoint=path)
    assert other.coef_.tobytes() != whole.coef_.tobytes()
    assert other.coef_.tobytes() == StreamingSGDClassifier(**{**settings, "alpha": 2e-3}).fit_shards(
        loaders, np.arange(8), class_counts=counts).coef_.tobytes()
    with np.load(path) as z:
        assert '"alpha": 0.002' in str(z["identity"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["split.npz"]     # every write renamed into place

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    kept = path.read_bytes()
    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space left on device.*split.npz"):
        StreamingSGDClassifier(**settings).fit_shards(loaders, np.arange(8), class_counts=counts,
                                                      checkpoint=tmp_path / "sgd" / "split.npz")
    assert path.read_bytes() == kept and sorted(p.name for p in path.parent.iterdir()) == ["split.npz"]
    monkeypatch.undo()
    good = path.read_bytes()
    for damaged in (b"not an npz", b"", good[: len(good) // 2], None):    # unreadable checkpoints: trained again
        if damaged is None:
            np.save(path.with_suffix(".npy"), np.zeros(3))          # an .npy under the checkpoint's name
            path.with_suffix(".npy").replace(path)
        else:
            path.write_bytes(damaged)
        assert StreamingSGDClassifier(**settings).fit_shards(
            loaders, np.arange(8), class_counts=counts, checkpoint=path).coef_.tobytes() == whole.coef_.tobytes()
    # a checkpoint after epoch 2, resumed with rows of another width: an error that names it
    reads["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        StreamingSGDClassifier(**settings).fit_shards([failing(f) for f in loaders], np.arange(8),
                                                      class_counts=counts, checkpoint=path.with_name("b.npz"))
    narrow = [lambda f=f: (f()[0][:, :128], f()[1]) for f in loaders]
    with pytest.raises(ValueError, match=r"rows of shape \(300, 128\), expected \(n, 256\): the width of the "
                                         r"model resumed from .*b\.npz"):
        StreamingSGDClassifier(**settings).fit_shards(narrow, np.arange(8), class_counts=counts,
                                                      checkpoint=path.with_name("b.npz"))
    with pytest.raises(ValueError, match=r"rows of shape \(300, (128|256)\), expected \(n, (256|128)\): the width of the rows read before"):
        StreamingSGDClassifier(**settings).fit_shards(loaders[:1] + narrow[1:], np.arange(8), class_counts=counts)


def test_streamed_training_resumes_with_string_labels(tmp_path):
    """Labels of any kind come back from a checkpoint (object arrays are saved without pickling)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((250, 16)).astype(np.float32)
    names = np.array(["cat", "dog", "eel"], dtype=object)
    y = names[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1)]
    shards = [(lambda s=s: (x[s:s + 50], y[s:s + 50])) for s in range(0, 250, 50)]
    settings = dict(alpha=1e-3, epochs=3, batch_size=32)
    whole = StreamingSGDClassifier(**settings).fit_shards(shards, names)
    path = tmp_path / "labels.npz"
    StreamingSGDClassifier(**settings).fit_shards(shards, names, checkpoint=path)
    with np.load(path, allow_pickle=False) as z:                  # readable without pickle, a carry included
        assert bool(z["has_carry"]) and z["carry_y"].dtype.kind == "U"
    reads = {"n": 0}

    def counted(load):
        def read():
            reads["n"] += 1
            return load()
        return read

    again = StreamingSGDClassifier(**settings).fit_shards([counted(f) for f in shards], names, checkpoint=path)
    assert reads["n"] == 0 and again.coef_.tobytes() == whole.coef_.tobytes()


def test_streamed_training_memory_does_not_grow_with_the_image_count(tmp_path):
    peaks = {}
    for n in (2000, 8000):
        store = _synthetic_store(tmp_path / str(n), n)
        loaders = store.shard_loaders()
        tracemalloc.start()
        StreamingSGDClassifier(alpha=1e-3, epochs=1).fit_shards(loaders, np.arange(8))
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    data_bytes_8000 = 8000 * 256 * 4
    assert peaks[8000] < 1.25 * peaks[2000]
    assert peaks[8000] < 0.5 * data_bytes_8000


def test_streaming_sgd_every_argument_matters():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 16)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    base = dict(alpha=1e-3, epochs=2, batch_size=32, positive_weight="balanced", t0=100.0, average=True,
                random_state=0)
    ref = StreamingSGDClassifier(**base).fit(x, y).coef_
    for key, value in (("alpha", 1e-2), ("epochs", 3), ("batch_size", 16), ("positive_weight", 1.0),
                       ("t0", 10.0), ("average", False), ("random_state", 1)):
        assert not np.array_equal(StreamingSGDClassifier(**{**base, key: value}).fit(x, y).coef_, ref), key


def test_store_flushes_on_time_as_well_as_on_size(tmp_path):
    store = FeatureStore(tmp_path, {"c": "time"}, shard_size=1000, flush_seconds=0.0)
    for i in range(3):
        store.add(f"k{i}", np.full(4, i, np.float32))
    assert len(store.shards) == 3 and len(open_store(store.dir)) == 3
    slow = FeatureStore(tmp_path, {"c": "size"}, shard_size=1000, flush_seconds=3600.0)
    for i in range(3):
        slow.add(f"k{i}", np.full(4, i, np.float32))
    assert len(slow.shards) == 0


def test_sigterm_flushes_the_finished_images(tmp_path):
    """A polite stop (SIGTERM, as schedulers send) writes what is done before exiting."""
    paths = [i.path for i in _demo_items(4)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).parent)])}
    child = subprocess.Popen([sys.executable, str(Path(__file__).parent / "store_jobs.py"), "100", str(tmp_path),
                              "0.3", *paths], env=env, stderr=subprocess.DEVNULL)
    progress = tmp_path / "progress.txt"
    deadline = time.time() + 60
    while time.time() < deadline and (not progress.exists() or len(progress.read_text().splitlines()) < 3):
        time.sleep(0.02)
    done_at_signal = len(progress.read_text().splitlines())
    child.send_signal(signal.SIGTERM)                 # 3+ images done, none flushed (100 per shard)
    child.wait(timeout=30)
    store = open_store(next(tmp_path.glob("*/manifest.json")).parent)
    assert done_at_signal - 1 <= len(store) < len(paths) and store.verify() == []


def test_streamed_sgd_on_a_class_ordered_store_learns_like_an_in_memory_svm(tmp_path):
    """ILSVRC lists its training images class by class.  A store written in that order, read
    shard by shard, must still give SGD an i.i.d.-like stream: on 100 classes, the streamed
    classifier's top-5 error is within 0.02 of liblinear's on the same signatures."""
    import warnings

    from sklearn.svm import LinearSVC
    from store_jobs import synthetic_signature

    n_classes, per_class, n_test = 100, 30, 10
    train = [Item(f"{c}-{i}", c) for c in range(n_classes) for i in range(per_class)]      # class by class
    store = FeatureStore(tmp_path, {"synthetic": "class-ordered"}, shard_size=256)
    encode_into_store(store, train, synthetic_signature, lambda s: (s.label, int(s.path.split("-")[1])),
                      Execution(n_jobs=1, batch_size=64), keys=[s.path for s in train], progress=False)
    # every shard holds most classes, whatever the order the images were listed in
    assert min(len(np.unique(store.read_labels(s))) for s in store.shards) > 0.8 * n_classes
    x_test = np.stack([synthetic_signature(c, 1000 + i) for c in range(n_classes) for i in range(n_test)])
    y_test = np.repeat(np.arange(n_classes), n_test)

    def top5_error(scores, classes):
        top = classes[np.argsort(-scores, axis=1, kind="stable")[:, :5]]
        return float(np.mean(~(top == y_test[:, None]).any(axis=1)))

    alpha = 1e-3
    _, labels, rows = store.read_all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svm = LinearSVC(C=1 / (alpha * len(rows)), loss="hinge", dual=True, max_iter=5000).fit(rows, labels)
    reference = top5_error(svm.decision_function(x_test), svm.classes_)
    streamed = StreamingSGDClassifier(alpha=alpha, epochs=20, batch_size=16).fit_shards(
        store.shard_loaders(), np.arange(n_classes), class_counts=np.full(n_classes, per_class))
    ours = top5_error(streamed.decision_function(x_test), streamed.classes_)
    assert reference < 0.2 and ours <= reference + 0.02, (ours, reference)


def test_image_digests_are_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import shutil

    from experiments.scale import cache
    from ilsvrc.files import file_digest

    images = []
    for i, f in enumerate(sorted((DEMO / "watch").glob("*.jpg"))[:3]):
        images.append(tmp_path / f"{i}.jpg")
        shutil.copy(f, images[-1])
    first = cache.image_digests(images, tmp_path / "cache")
    assert first == [file_digest(p) for p in images]

    def no_reading(path, chunk=0):
        raise AssertionError("read again")

    monkeypatch.setattr(cache, "file_digest", no_reading)
    assert cache.image_digests(images, tmp_path / "cache") == first        # remembered: no file is read
    monkeypatch.undo()
    images[1].write_bytes(images[1].read_bytes() + b"\0")                  # changed (size and time)
    again = cache.image_digests(images, tmp_path / "cache")
    assert again[0] == first[0] and again[2] == first[2] and again[1] == file_digest(images[1]) != first[1]
