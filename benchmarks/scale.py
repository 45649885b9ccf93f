"""``make bench-scale``: throughput of the full Fisher-vector extraction on one core, and what
ILSVRC2012 (1.28M training images) would cost.

Per image: decode the JPEG, resize to 500 px longest side, dense SIFT (flat window, step
4, bin 8), PCA to 64 dimensions, improved Fisher vector with K = 256 (32,768 floats),
written to a feature store.  The PCA and GMM are learned first from a sample (not timed).
Reported: milliseconds per image and stage, images per second per core, peak resident
memory, store bytes per image in float32, float16 and product-quantised form, and the
projected wall time of ILSVRC2012 training-set extraction on 32 cores.  With ``--data``
pointing at a folder-per-class collection of at least 30 classes (e.g. Caltech-101), it
also measures the accuracy that float16 and PQ storage cost: linear SVMs on 15 training
images per class, tested on 15 others, from each storage form.
"""
from __future__ import annotations

from pathlib import Path

from .common import ROOT, single_threaded

single_threaded()

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

ILSVRC2012_TRAIN = 1_281_167


def _resize_longest(image: np.ndarray, longest: int) -> np.ndarray:
    import cv2

    scale = longest / max(image.shape[:2])
    size = (int(round(image.shape[1] * scale)), int(round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


class FVPipeline:
    """decode -> 500 px -> dense SIFT -> PCA 64 -> FV K=256, timed per stage."""

    def __init__(self, longest: int = 500, step: int = 4, bin_size: int = 8, pca_dim: int = 64, k: int = 256):
        self.longest, self.step, self.bin_size, self.pca_dim, self.k = longest, step, bin_size, pca_dim, k
        self.times = {"decode+resize": 0.0, "dense SIFT": 0.0, "PCA": 0.0, "Fisher vector": 0.0}

    def descriptors(self, path):
        from features.color import rgb_to_gray
        from features.dsift import dense_sift
        from features.image_io import load_image

        t0 = time.perf_counter()
        gray = rgb_to_gray(_resize_longest(load_image(path), self.longest))
        t1 = time.perf_counter()
        _, desc = dense_sift(gray, step=self.step, bin_size=self.bin_size)
        t2 = time.perf_counter()
        self.times["decode+resize"] += t1 - t0
        self.times["dense SIFT"] += t2 - t1
        return desc

    def fit(self, paths, seed: int = 0):
        from features.codebook import fit_gmm

        rng = np.random.default_rng(seed)
        sample = np.concatenate([d[rng.choice(len(d), min(len(d), 2000), replace=False)]
                                 for d in (self.descriptors(p) for p in paths)])
        self.mean_ = sample.mean(axis=0)
        _, _, vt = np.linalg.svd(sample - self.mean_, full_matrices=False)
        self.components_ = vt[: self.pca_dim].T.astype(np.float32)
        projected = (sample - self.mean_) @ self.components_
        self.gmm_ = fit_gmm(projected.astype(np.float32), self.k, max_iter=10, random_state=seed)
        for key in self.times:
            self.times[key] = 0.0
        return self

    def encode(self, path) -> np.ndarray:
        from features.encoding import fisher_vector

        desc = self.descriptors(path)
        t0 = time.perf_counter()
        x = ((desc - self.mean_) @ self.components_).astype(np.float32)
        t1 = time.perf_counter()
        fv = fisher_vector(x, self.gmm_.means, self.gmm_.covariances, self.gmm_.priors)
        t2 = time.perf_counter()
        self.times["PCA"] += t1 - t0
        self.times["Fisher vector"] += t2 - t1
        return fv


def _images(folder: Path, per_class: int, n_classes: int | None = None):
    from experiments.datasets import ImageFolderDataset

    data = ImageFolderDataset(folder)
    classes = data.classes[:n_classes] if n_classes else data.classes
    out = []
    for label, c in enumerate(classes):
        files = sorted(p for p in (folder / c).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        out += [(str(f), label) for f in files[:per_class]]
    return out


def bench_throughput(n_images: int, seed: int = 0) -> list[str]:
    from experiments.scale.store import FeatureStore, PQCodec

    demo = ROOT / "data" / "caltech101_demo"
    items = _images(demo, 30)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))
    fit_paths = [items[i][0] for i in order[:20]]
    timed = [items[i][0] for i in order[20: 20 + n_images]]
    pipe = FVPipeline().fit(fit_paths, seed)
    start = time.perf_counter()
    vectors = [pipe.encode(p) for p in timed]
    wall = time.perf_counter() - start
    per_image = wall / len(timed)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [f"Full FV extraction, {len(timed)} embedded Caltech-101 images resized to 500 px, one core:",
            "  " + ", ".join(f"{k} {1000 * v / len(timed):.1f} ms" for k, v in pipe.times.items()),
            f"  total {1000 * per_image:.1f} ms per image = {1 / per_image:.1f} images/s per core "
            f"(target >= 15); peak resident memory {peak_mb:.0f} MB",
            f"  ILSVRC2012 training set ({ILSVRC2012_TRAIN:,} images) on 32 cores: "
            f"{ILSVRC2012_TRAIN * per_image / 32 / 3600:.1f} h"]
    x = np.stack(vectors)
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        codec = PQCodec(sub_dim=8, seed=seed)          # code size only: any centroids will do
        codec.centroids_ = rng.standard_normal((x.shape[1] // 8, 256, 8)).astype(np.float32)
        for name, kw in (("float32", {}), ("float16", {"dtype": "float16"}), ("pq (8 dims/byte)", {"codec": codec})):
            store = FeatureStore(tmp, {"bench": name}, shard_size=len(x), **kw)
            for i, v in enumerate(x):
                store.add(str(i), v)
            store.flush()
            sizes[name] = store.bytes_per_image()
    rows.append("  store bytes per image: " + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in sizes.items())
                + f"; ILSVRC2012 in float16: {ILSVRC2012_TRAIN * sizes['float16'] / 1e9:.0f} GB, "
                  f"PQ: {ILSVRC2012_TRAIN * sizes['pq (8 dims/byte)'] / 1e9:.0f} GB")
    return rows


def bench_storage_accuracy(folder: Path, n_classes: int, seed: int = 0) -> list[str]:
    """Mean per-class accuracy of linear SVMs trained on float32, float16 and PQ-decoded FVs."""
    from baselines.classification import LinearSVMClassifier
    from experiments.scale.store import PQCodec
    from ilsvrc.metrics.classification import mean_per_class_accuracy

    items = _images(folder, 30, n_classes)
    labels = np.array([l for _, l in items])
    rng = np.random.default_rng(seed)
    train = np.zeros(len(items), bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        train[rng.choice(members, min(15, len(members) - 1), replace=False)] = True
    pipe = FVPipeline().fit([items[i][0] for i in np.flatnonzero(train)[::3]], seed)
    x = np.stack([pipe.encode(p) for p, _ in items])
    codec = PQCodec(sub_dim=8, seed=seed).fit(x[train])
    forms = {"float32": x, "float16": x.astype(np.float16).astype(np.float32),
             "pq (8 dims/byte)": codec.decode(codec.encode(x))}
    rows = [f"Storage accuracy cost: {len(np.unique(labels))} classes of {folder.name}, 15 train / up to 15 test "
            f"per class, FV K=256 D=64 at 500 px, linear SVM (C=10):"]
    for name, xs in forms.items():
        clf = LinearSVMClassifier(C=(10.0,), random_state=seed).fit(xs[train], labels[train])
        test = ~train
        acc = mean_per_class_accuracy(clf.predict(xs[test]), labels[test], int(labels.max()) + 1)
        rows.append(f"  {name:<18} mean per-class accuracy {acc:.4f}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="images timed (default 100)")
    parser.add_argument("--data", type=Path, help="folder-per-class images for the storage accuracy cost")
    parser.add_argument("--classes", type=int, default=30, help="classes used from --data")
    args = parser.parse_args(argv)
    print("\n".join(bench_throughput(args.images)))
    if args.data:
        print("\n".join(bench_storage_accuracy(args.data, args.classes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
