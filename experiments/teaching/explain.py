"""``ilsvrc-classic explain``: pictures of every stage, drawn by the suite's own code for any image.

Each ``explain_*`` function writes PNG files into ``out_dir`` and returns a dict with the
paths (``"files"``) and the numbers it drew, so that a test (or a curious reader) can
check that a picture shows what the code computes: a glyph's segment lengths are its
descriptor's values, the per-patch evidence sums to the classifier's score, and so on.

The word, Fisher-vector and evidence pictures need a trained model; the *teaching model*
(:func:`teaching_model`) is learned in seconds from the embedded demo set and cached:
dense SIFT (step 4, bin 8, images at most 300 px), 200 visual words, a 1x1 + 2x2
bag-of-words pyramid normalised to unit L1 norm over the whole image, one-vs-rest linear
SVMs on it (no feature map, so that the score is a sum over patches), and a 32-component
GMM for the Fisher-vector picture.  The detection pictures use the detector saved by a
detection run (``make demo`` writes ``runs/demo_detection/model.npz``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..reports.plotting import colormap, save_figure, subplots

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "caltech101_demo"

TEACHING = {"step": 4, "bin_size": 8, "max_side": 300, "n_words": 200, "layout": "1x1+2x2", "n_components": 32,
            "train_per_class": 15, "samples_per_image": 800, "C": 10.0, "seed": 0}


def _gray_image(path, max_side: int | None = TEACHING["max_side"]):
    from features.color import rgb_to_gray
    from features.image_io import load_image

    rgb = load_image(path, max_side=max_side)
    return rgb, rgb_to_gray(rgb)


# --------------------------------------------------------------------------- pixels and descriptors
def explain_gradients(image_path, out_dir) -> dict:
    """Gradient magnitude, orientation, and the 8 orientation planes dense SIFT bins."""
    from features.dsift import orientation_planes

    rgb, gray = _gray_image(image_path)
    gy, gx = np.gradient(gray.astype(np.float64))
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), 2 * np.pi)
    planes = orientation_planes(gray.astype(np.float32), 8)
    fig, axes = subplots(2, 6, figsize=(18, 6.4))
    axes[0, 0].imshow(rgb)
    axes[0, 0].set_title("image")
    im = axes[0, 1].imshow(magnitude, cmap="magma")
    axes[0, 1].set_title("magnitude |grad I|")
    fig.colorbar(im, ax=axes[0, 1], fraction=0.046)
    im = axes[0, 2].imshow(np.degrees(angle), cmap="hsv", vmin=0, vmax=360)
    axes[0, 2].set_title("orientation (degrees, y down)")
    fig.colorbar(im, ax=axes[0, 2], fraction=0.046)
    top = float(planes.max()) or 1.0
    for t in range(8):
        ax = axes[(t + 3) // 6, (t + 3) % 6]
        ax.imshow(planes[:, :, t], cmap="gray", vmin=0, vmax=top)
        ax.set_title(f"plane {t}: {45 * t} deg")
    axes[1, 5].axis("off")
    for ax in axes.ravel()[:-1]:
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    fig.suptitle("Step 1 of SIFT: gradients, split by orientation into 8 planes (linear interpolation between planes)")
    fig.tight_layout()
    path = save_figure(fig, Path(out_dir) / "gradients.png")
    return {"files": [path], "magnitude": magnitude, "planes": planes}


def explain_sift(image_path, out_dir) -> dict:
    """The dense grid with a few descriptors drawn as 4x4 cells of 8-bin orientation histograms."""
    from features.dsift import dense_sift
    from features.plots import descriptor_glyph, plot_descriptors

    rgb, gray = _gray_image(image_path)
    frames, desc = dense_sift(gray, step=TEACHING["step"], bin_size=TEACHING["bin_size"])
    order = np.argsort(-frames[:, 2], kind="stable")[:1]
    path = plot_descriptors(rgb, frames, desc, Path(out_dir) / "dense_sift.png", max_descriptors=8,
                            title=f"dense SIFT, step {TEACHING['step']}, bin {TEACHING['bin_size']}: "
                                  f"{len(frames)} descriptors of 128 numbers")
    i = int(order[0])
    glyph = descriptor_glyph(desc[i])
    fig, axes = subplots(1, 2, figsize=(11, 4.4))
    from matplotlib.collections import LineCollection

    axes[0].add_collection(LineCollection(glyph, colors="red", linewidths=2))
    for k in range(5):
        axes[0].plot([-2, 2], [k - 2, k - 2], color="gray", lw=0.6)
        axes[0].plot([k - 2, k - 2], [-2, 2], color="gray", lw=0.6)
    axes[0].set(xlim=(-2.1, 2.1), ylim=(2.1, -2.1), aspect="equal", xlabel="x (bins)", ylabel="y (bins)",
                title=f"descriptor {i} at ({frames[i, 0]:.0f}, {frames[i, 1]:.0f}): segment length ~ bin value")
    axes[1].bar(np.arange(128), desc[i], color="tab:red", width=1.0)
    axes[1].set(xlabel="element t + 8 (bx + 4 by)", ylabel="value (unit L2 norm, clamped at 0.2)",
                title="the same descriptor as a vector")
    fig.tight_layout()
    path2 = save_figure(fig, Path(out_dir) / "descriptor.png")
    return {"files": [path, path2], "frames": frames, "descriptors": desc, "index": i, "glyph": glyph}


def explain_phow(image_path, out_dir) -> dict:
    """PHOW: the same centres described at bin sizes 4, 6, 8, 10 on increasingly smoothed images."""
    from features.dsift import smooth_gaussian

    rgb, gray = _gray_image(image_path)
    sizes, magnif = (4, 6, 8, 10), 6.0
    h, w = gray.shape
    cx, cy = w // 2, h // 2
    fig, axes = subplots(1, len(sizes) + 1, figsize=(4 * (len(sizes) + 1), 4))
    axes[0].imshow(gray, cmap="gray")
    colors = ["tab:red", "tab:orange", "tab:green", "tab:blue"]
    for s, c in zip(sizes, colors):
        half = 2 * s
        axes[0].add_patch(_rect(cx - half, cy - half, 4 * s, 4 * s, c))
    axes[0].set(title="one centre, four descriptor sizes (4 x bin size)", xlabel="x (pixels)", ylabel="y (pixels)")
    for ax, s, c in zip(axes[1:], sizes, colors):
        ax.imshow(smooth_gaussian(gray, s / magnif), cmap="gray")
        ax.add_patch(_rect(cx - 2 * s, cy - 2 * s, 4 * s, 4 * s, c))
        ax.set(title=f"bin {s}: smoothed with sigma = {s}/{magnif:g}", xlabel="x (pixels)", ylabel="y (pixels)")
    fig.tight_layout()
    return {"files": [save_figure(fig, Path(out_dir) / "phow_scales.png")], "sizes": sizes}


def _rect(x, y, w, h, color):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, edgecolor=color, lw=2)


# --------------------------------------------------------------------------- the teaching model
@dataclass
class TeachingModel:
    vocabulary: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: tuple
    gmm_means: np.ndarray
    gmm_covariances: np.ndarray
    gmm_priors: np.ndarray
    accuracy: float


def teaching_model(cache_dir=ROOT / "cache" / "explain", data_dir=DEMO) -> TeachingModel:
    """Learn (or load) the teaching model from the demo set (see the module docstring)."""
    from baselines.classification import LinearSVMClassifier
    from features.codebook import fit_gmm, kmeans
    from ilsvrc.metrics.classification import mean_per_class_accuracy

    from ..datasets import ImageFolderDataset

    data = ImageFolderDataset(data_dir)
    listing = hashlib.sha256(json.dumps([TEACHING, [Path(s.path).name for s in data.samples()]]).encode())
    path = Path(cache_dir) / f"teaching-{listing.hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as z:
            return TeachingModel(z["vocabulary"], z["coef"], z["intercept"], tuple(z["classes"].tolist()),
                                 z["gmm_means"], z["gmm_covariances"], z["gmm_priors"], float(z["accuracy"]))
    t = TEACHING
    split = data.split(t["train_per_class"], None, t["seed"])
    rng = np.random.default_rng(t["seed"])
    per_image = {s.path: _dense(s.path) for s in split.train + split.test}
    sample = np.concatenate([d[rng.choice(len(d), min(len(d), t["samples_per_image"]), replace=False)]
                             for _, d in (per_image[s.path] for s in split.train)])
    vocabulary = kmeans(sample, t["n_words"], n_iter=20, random_state=t["seed"])
    gmm = fit_gmm(sample, t["n_components"], max_iter=10, random_state=t["seed"])

    def signature(p):
        frames, desc = per_image[p]
        return bow_signature(frames, desc, vocabulary, _image_size(p))

    x_train = np.stack([signature(s.path) for s in split.train])
    x_test = np.stack([signature(s.path) for s in split.test])
    y_train = np.array([s.label for s in split.train])
    y_test = np.array([s.label for s in split.test])
    clf = LinearSVMClassifier(C=(t["C"],), random_state=t["seed"]).fit(x_train, y_train)
    acc = mean_per_class_accuracy(clf.predict(x_test), y_test, len(data.classes))
    model = TeachingModel(vocabulary, clf.model_.coef_.astype(np.float64), clf.model_.intercept_.astype(np.float64),
                          data.classes, gmm.means, gmm.covariances, gmm.priors, float(acc))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, vocabulary=model.vocabulary, coef=model.coef, intercept=model.intercept,
             classes=np.array(model.classes), gmm_means=model.gmm_means, gmm_covariances=model.gmm_covariances,
             gmm_priors=model.gmm_priors, accuracy=np.array(acc))
    return model


def _dense(path):
    from features.dsift import dense_sift

    _, gray = _gray_image(path)
    return dense_sift(gray, step=TEACHING["step"], bin_size=TEACHING["bin_size"])


def _image_size(path):
    return _gray_image(path)[1].shape


def bow_signature(frames, desc, vocabulary, image_size) -> np.ndarray:
    """The teaching model's signature: word counts per pyramid cell divided by the descriptor count."""
    from features.codebook import assign_nearest
    from features.encoding import pyramid_cells

    words = assign_nearest(desc, vocabulary)
    k = len(vocabulary)
    cells = pyramid_cells(frames, image_size, TEACHING["layout"])
    return np.concatenate([np.bincount(words[idx], minlength=k) for idx in cells]) / max(len(words), 1)


def patch_evidence(frames, desc, model: TeachingModel, image_size, cls: int) -> np.ndarray:
    """Each patch's share of class ``cls``'s score: ``(1/N) sum over the cells holding it of W[cell, word]``.

    The shares plus the bias equal the decision function exactly (the signature is linear
    in the patches).
    """
    from features.codebook import assign_nearest
    from features.encoding import pyramid_cells

    words = assign_nearest(desc, model.vocabulary)
    k = len(model.vocabulary)
    w = model.coef[cls]
    out = np.zeros(len(words))
    for c, idx in enumerate(pyramid_cells(frames, image_size, TEACHING["layout"])):
        out[idx] += w[c * k + words[idx]]
    return out / max(len(words), 1)


# --------------------------------------------------------------------------- words, histograms, Fisher vectors
def explain_words(image_path, out_dir, model: TeachingModel | None = None) -> dict:
    """Visual-word map, example patches of the most frequent words, and the pyramid histograms."""
    from features.codebook import assign_nearest
    from features.encoding import pyramid_cells

    model = model or teaching_model()
    rgb, gray = _gray_image(image_path)
    frames, desc = _dense(image_path)
    words = assign_nearest(desc, model.vocabulary)
    k = len(model.vocabulary)
    files = []
    # word map
    colors = colormap("tab20")(np.arange(k) % 20)[:, :3] * (0.55 + 0.45 * (np.arange(k) // 20 % 2))[:, None]
    fig, axes = subplots(1, 2, figsize=(12, 5))
    axes[0].imshow(rgb)
    axes[0].set(title="image", xlabel="x (pixels)", ylabel="y (pixels)")
    axes[1].imshow(rgb, alpha=0.35)
    axes[1].scatter(frames[:, 0], frames[:, 1], c=colors[words], s=9, marker="s", linewidths=0)
    axes[1].set(title=f"each patch coloured by its visual word ({k} words, {len(np.unique(words))} used here)",
                xlabel="x (pixels)", ylabel="y (pixels)")
    fig.tight_layout()
    files.append(save_figure(fig, Path(out_dir) / "word_map.png"))
    # patches of the most frequent words
    counts = np.bincount(words, minlength=k)
    top = np.argsort(-counts, kind="stable")[:6]
    half = 2 * TEACHING["bin_size"]
    fig, axes = subplots(len(top), 6, figsize=(9, 1.6 * len(top)))
    for r, word in enumerate(top):
        members = np.flatnonzero(words == word)[:6]
        for c in range(6):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(members):
                x, y = frames[members[c], :2].astype(int)
                ax.imshow(gray[max(y - half, 0): y + half, max(x - half, 0): x + half], cmap="gray", vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(f"word {word}\n({counts[word]} patches)", fontsize=8)
    fig.suptitle("patches of the six most frequent words in this image (16 x 16 pixels each)")
    fig.tight_layout()
    files.append(save_figure(fig, Path(out_dir) / "word_patches.png"))
    # histograms of the pyramid cells
    cells = pyramid_cells(frames, gray.shape, TEACHING["layout"])
    fig, axes = subplots(1, 3, figsize=(16, 4.2), gridspec_kw={"width_ratios": [1, 1.4, 1.4]})
    axes[0].imshow(rgb)
    h, w = gray.shape
    axes[0].axvline(w / 2, color="yellow")
    axes[0].axhline(h / 2, color="yellow")
    axes[0].set(title="spatial pyramid: 1x1 + 2x2 cells", xlabel="x (pixels)", ylabel="y (pixels)")
    axes[1].bar(np.arange(k), np.bincount(words[cells[0]], minlength=k), color="gray", width=1.0)
    axes[1].set(title="1x1 cell: word histogram of the whole image", xlabel="visual word", ylabel="patches")
    for c, idx in enumerate(cells[1:]):
        axes[2].bar(np.arange(k) + c * k, np.bincount(words[idx], minlength=k), width=1.0, color=f"C{c}",
                    label=["top left", "top right", "bottom left", "bottom right"][c])
    axes[2].set(title="2x2 cells, concatenated", xlabel="cell x 200 + visual word", ylabel="patches")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    files.append(save_figure(fig, Path(out_dir) / "bow_pyramid.png"))
    return {"files": files, "words": words, "counts": counts}


def explain_fisher(image_path, out_dir, model: TeachingModel | None = None) -> dict:
    """Energy of the improved Fisher vector per Gaussian, beside each Gaussian's posterior mass."""
    from features.codebook import posteriors
    from features.encoding import fisher_vector

    model = model or teaching_model()
    _, desc = _dense(image_path)
    k, d = model.gmm_means.shape
    fv = fisher_vector(desc, model.gmm_means, model.gmm_covariances, model.gmm_priors)
    u, v = fv[: k * d].reshape(k, d), fv[k * d:].reshape(k, d)
    energy = (u.astype(np.float64) ** 2).sum(axis=1) + (v.astype(np.float64) ** 2).sum(axis=1)
    mass = posteriors(desc, model.gmm_means, model.gmm_covariances, model.gmm_priors).sum(axis=0) / len(desc)
    fig, ax = subplots(figsize=(10, 4))
    idx = np.arange(k)
    ax.bar(idx - 0.2, energy, width=0.4, label="FV energy ||u_k||^2 + ||v_k||^2 (sums to 1)")
    ax.bar(idx + 0.2, mass, width=0.4, label="share of patches (mean posterior)")
    ax.set(xlabel="Gaussian k", ylabel="share", title=f"Fisher vector of {len(desc)} descriptors, K = {k}: "
                                                        "where the signature's energy lies")
    ax.legend()
    fig.tight_layout()
    return {"files": [save_figure(fig, Path(out_dir) / "fisher_energy.png")], "energy": energy, "mass": mass}


def explain_evidence(image_path, out_dir, model: TeachingModel | None = None) -> dict:
    """Top-5 classes with scores, and each patch's contribution to the winner's score."""
    model = model or teaching_model()
    rgb, gray = _gray_image(image_path)
    frames, desc = _dense(image_path)
    sig = bow_signature(frames, desc, model.vocabulary, gray.shape)
    scores = model.coef @ sig + model.intercept
    top = np.argsort(-scores, kind="stable")[:5]
    evidence = patch_evidence(frames, desc, model, gray.shape, int(top[0]))
    fig, axes = subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.3, 1]})
    lim = float(np.abs(evidence).max()) or 1.0
    axes[0].imshow(rgb, alpha=0.4)
    sc = axes[0].scatter(frames[:, 0], frames[:, 1], c=evidence, cmap="coolwarm", vmin=-lim, vmax=lim, s=10,
                         marker="s", linewidths=0)
    fig.colorbar(sc, ax=axes[0], fraction=0.046, label="contribution to the score")
    axes[0].set(title=f"evidence for '{model.classes[top[0]]}': red patches vote for it, blue against",
                xlabel="x (pixels)", ylabel="y (pixels)")
    axes[1].barh(range(5)[::-1], scores[top], color=["tab:green"] + ["tab:gray"] * 4)
    axes[1].set_yticks(range(5)[::-1], [model.classes[i] for i in top])
    axes[1].set(xlabel="linear SVM score", title="top-5 guesses (an ILSVRC submission line)")
    fig.tight_layout()
    return {"files": [save_figure(fig, Path(out_dir) / "evidence.png")], "evidence": evidence, "scores": scores,
            "top5": top, "bias": float(model.intercept[top[0]])}


# --------------------------------------------------------------------------- proposals and detections
def partition_after(hierarchy, labels: np.ndarray, n_merges: int) -> np.ndarray:
    """The segmentation after the first ``n_merges`` merges of a hierarchy (labels: initial regions)."""
    parent = np.arange(len(hierarchy.boxes))
    for t, (a, b) in enumerate(hierarchy.parents[:n_merges]):
        parent[a] = parent[b] = hierarchy.n_initial + t

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    roots = np.array([root(i) for i in range(hierarchy.n_initial)])
    return roots[labels]


def explain_proposals(image_path, out_dir, *, mode: str = "fast", n_top: int = 20) -> dict:
    """Selective search: one hierarchy's segmentation at four levels, and the top proposals."""
    from baselines.selective_search import (
        MODES,
        as_rgb_image,
        convert_color,
        graph_segmentation,
        selective_search,
        selective_search_hierarchies,
    )

    from ..reports.detection import plot_proposals

    from features.image_io import load_image

    rgb = as_rgb_image(load_image(image_path))
    config = MODES["single"]
    (_, hierarchy), = selective_search_hierarchies(rgb, config)
    labels = graph_segmentation(convert_color(rgb, "hsv"), config.ks[0], sigma=config.sigma)
    n = hierarchy.n_initial
    levels = [0, int(0.7 * (n - 1)), int(0.9 * (n - 1)), int(0.97 * (n - 1))]
    fig, axes = subplots(1, 4, figsize=(17, 4.2))
    rng = np.random.default_rng(0)
    palette = rng.random((2 * n, 3))
    for ax, m in zip(axes, levels):
        part = partition_after(hierarchy, labels, m)
        ax.imshow(0.35 * rgb / 255 + 0.65 * palette[part])
        ax.set(title=f"after {m} merges: {n - m} regions", xlabel="x (pixels)", ylabel="y (pixels)")
    fig.suptitle("hierarchical grouping (HSV, k = 100, colour + texture + size + fill): "
                 "every region on the way is a proposal")
    fig.tight_layout()
    files = [save_figure(fig, Path(out_dir) / "hierarchy.png")]
    boxes = selective_search(rgb, mode)
    path = Path(out_dir) / "top_proposals.png"
    plot_proposals(rgb, boxes, np.zeros((0, 4)), path, n=n_top,
                   title=f"selective search ({mode}): {len(boxes)} boxes, the first {n_top} in rank order")
    files.append(str(path))
    return {"files": files, "boxes": boxes, "n_initial": n, "levels": levels}


def explain_detections(image_path, out_dir, run_dir=ROOT / "runs" / "demo_detection") -> dict:
    """Detections of the detector saved by a detection run, on one image."""
    from ..reports.detection import plot_detections
    from ..runners.detection import load_detector

    detector, regions_of, classes = load_detector(run_dir)
    from features.image_io import load_image

    image = load_image(image_path)
    regions, scale = regions_of(image)
    labels, scores, boxes = detector.detect(regions)
    boxes = boxes / scale
    path = Path(out_dir) / "detections.png"
    plot_detections([(image, labels, scores, boxes, np.zeros((0, 4)), Path(image_path).name)], classes, path,
                    per_image=3)
    return {"files": [str(path)], "labels": labels, "scores": scores, "boxes": boxes}


def explain_ap(out_dir, run_dir=ROOT / "runs" / "demo_detection", split: int | None = None) -> dict:
    """Precision/recall of each class of a detection run, with the area that is its AP shaded."""
    from ilsvrc.metrics.average_precision import average_precision

    from ..runners.detection import rescore_split

    result, classes = rescore_split(run_dir, split)
    fig, axes = subplots(1, len(classes), figsize=(5 * len(classes), 4.2), squeeze=False)
    aps = []
    for c, ax in enumerate(axes[0]):
        rec, prec = np.nan_to_num(result.recall[c]), np.nan_to_num(result.precision[c])
        envelope = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
        ap = average_precision(result.recall[c], result.precision[c])
        aps.append(ap)
        ax.fill_between(np.r_[0, rec], np.r_[envelope[:1], envelope], step="pre", alpha=0.3,
                        label=f"AP = area = {ap:.3f}")
        ax.plot(rec, prec, lw=1, color="tab:blue", label="precision down the ranked list")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=classes[c])
        ax.legend(loc="lower left", fontsize=8)
    fig.suptitle("AP: area under the precision envelope (precision made monotone from the right)")
    fig.tight_layout()
    return {"files": [save_figure(fig, Path(out_dir) / "ap_area.png")], "ap": np.array(aps), "result_ap": result.ap}


EXPLAINERS = {"gradients": explain_gradients, "sift": explain_sift, "phow": explain_phow, "words": explain_words,
              "fisher": explain_fisher, "evidence": explain_evidence, "proposals": explain_proposals,
              "detections": explain_detections}
