"""``ilsvrc-classic explain``: pictures of every stage, drawn by the suite's own code for any image.

Each ``explain_*`` function writes PNG files into ``out_dir`` and returns a dict with the
paths (``"files"``) and the numbers it drew, so that a test (or a curious reader) can
check that a picture shows what the code computes: a glyph's segment lengths are its
descriptor's values, the per-patch evidence sums to the classifier's score, and so on.

The word, Fisher-vector and evidence pictures draw the model a classification run
trained and saved (``split_<seed>/model.npz``): its extractor, PCA, vocabulary or GMM and
classifier, loaded by :func:`experiments.runners.classification.load_classifier`.  By
default the demo run's (``make demo`` writes ``runs/demo``; the Fisher-vector picture uses
``runs/demo_fisher``, from ``experiments/configs/demo_fisher.toml``); ``--run DIR`` draws any
other run's.  The detection pictures use the detector saved by a detection run
(``runs/demo_detection``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ilsvrc.errors import InputError

from ..reports.plotting import colormap, save_figure, subplots

ROOT = Path(__file__).resolve().parents[2]
RUNS = Path("runs")
"""Where runs are written by default (``run.output``, relative to the working folder)."""
DEFAULT_RUNS = {"words": RUNS / "demo", "evidence": RUNS / "demo", "fisher": RUNS / "demo_fisher",
                "detections": RUNS / "demo_detection", "ap": RUNS / "demo_detection"}
"""The run each model-dependent picture draws by default."""

STEP, BIN_SIZE, MAX_SIDE = 4, 8, 300
"""The dense SIFT of the descriptor pictures (gradients, sift, phow): images at most 300 px."""
MIN_SIDE = 16
"""The smallest image side the pictures explain (one descriptor's support and more)."""


def _gray_image(path, max_side: int | None = MAX_SIDE):
    from features.color import rgb_to_gray
    from features.image_io import load_image

    rgb = load_image(path, max_side=max_side)
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise InputError(f"the image is {rgb.shape[1]}x{rgb.shape[0]} pixels: too small to explain (at least "
                         f"{MIN_SIDE} pixels on each side)", path=str(path))
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
    frames, desc = dense_sift(gray, step=STEP, bin_size=BIN_SIZE)
    order = np.argsort(-frames[:, 2], kind="stable")[:1]
    path = plot_descriptors(rgb, frames, desc, Path(out_dir) / "dense_sift.png", max_descriptors=8,
                            title=f"dense SIFT, step {STEP}, bin {BIN_SIZE}: "
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


# --------------------------------------------------------------------------- a run's model
def run_model(run_dir, what: str = "words"):
    """The classification model a run saved (see the module docstring)."""
    from ..runners.classification import load_classifier

    return load_classifier(run_dir if run_dir is not None else DEFAULT_RUNS[what])


def _image_features(image_path, model):
    """The image as the run saw it: ``(rgb, features after PCA)``."""
    from features.image_io import load_image

    pipeline = model.pipeline
    max_side = getattr(pipeline.extractor, "max_side", None)
    rgb = load_image(image_path, max_side=max_side)
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise InputError(f"the image is {rgb.shape[1]}x{rgb.shape[0]} pixels: too small to explain (at least "
                         f"{MIN_SIDE} pixels on each side)", path=str(image_path))
    feats = pipeline.finish(pipeline.local_features(rgb))
    if not len(feats):
        raise InputError("the run's extractor finds no descriptor in this image", path=str(image_path))
    return rgb, feats


def _vocabulary(model):
    vocabulary = getattr(model.pipeline.encoder, "vocabulary_", None)
    if vocabulary is None:
        raise InputError(f"the run encodes with {model.config.encoding.kind}, which has no visual words; draw a "
                         "bag-of-words run (--run runs/demo)", field="--run")
    return vocabulary


def explain_words(image_path, out_dir, model=None, *, run_dir=None) -> dict:
    """Visual-word map, example patches of the most frequent words, and the pyramid histograms."""
    from features.codebook import assign_nearest
    from features.encoding.pyramid import pyramid_cells

    model = model or run_model(run_dir, "words")
    vocabulary = _vocabulary(model)
    rgb, feats = _image_features(image_path, model)
    frames = feats.frames
    words = assign_nearest(feats.descriptors, vocabulary)
    k = len(vocabulary)
    gray = rgb.mean(axis=2) / 255
    files = []
    # word map: one descriptor size (the smallest), coloured by word
    sizes = np.unique(frames[:, 3])
    shown = frames[:, 3] == sizes[0]
    colors = colormap("tab20")(np.arange(k) % 20)[:, :3] * (0.55 + 0.45 * (np.arange(k) // 20 % 2))[:, None]
    fig, axes = subplots(1, 2, figsize=(12, 5))
    axes[0].imshow(rgb)
    axes[0].set(title="image", xlabel="x (pixels)", ylabel="y (pixels)")
    axes[1].imshow(rgb, alpha=0.35)
    axes[1].scatter(frames[shown, 0], frames[shown, 1], c=colors[words[shown]], s=9, marker="s", linewidths=0)
    axes[1].set(title=f"patches of bin size {sizes[0]:g} coloured by visual word ({k} words, "
                      f"{len(np.unique(words))} used in this image)", xlabel="x (pixels)", ylabel="y (pixels)")
    fig.tight_layout()
    files.append(save_figure(fig, Path(out_dir) / "word_map.png"))
    # patches of the most frequent words, each tile the descriptor's whole support, padded at the border
    counts = np.bincount(words, minlength=k)
    top = np.argsort(-counts, kind="stable")[:6]
    fig, axes = subplots(len(top), 6, figsize=(9, 1.6 * len(top)), squeeze=False)
    supports = set()
    for r, word in enumerate(top):
        members = np.flatnonzero(words == word)[:6]
        for c in range(6):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(members):
                x, y, _, b = frames[members[c]]
                half = int(round(2 * b))
                supports.add(2 * half)
                padded = np.pad(gray, half, mode="constant", constant_values=0.5)
                xi, yi = int(round(x)) + half, int(round(y)) + half
                ax.imshow(padded[yi - half: yi + half, xi - half: xi + half], cmap="gray", vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(f"word {word}\n({counts[word]} patches)", fontsize=8)
    span = sorted(supports)
    side = f"{span[0]} x {span[0]}" if len(span) == 1 else f"{span[0]} to {span[-1]} pixels square"
    fig.suptitle(f"patches of the six most frequent words in this image\n(each the descriptor's support: {side}; "
                 "grey beyond the image border)")
    fig.tight_layout()
    files.append(save_figure(fig, Path(out_dir) / "word_patches.png"))
    # histograms of the pyramid cells
    layout = model.config.encoding.layout
    cells = pyramid_cells(frames, feats.image_size, layout)
    from features.encoding.pyramid import parse_layout

    parts = parse_layout(layout)
    fig, axes = subplots(1, 2, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1, 2.2]})
    axes[0].imshow(rgb)
    h, w = feats.image_size
    rows, cols = max(parts, key=lambda rc: rc[0] * rc[1])
    for i in range(1, cols):
        axes[0].axvline(w * i / cols - 0.5, color="yellow")
    for i in range(1, rows):
        axes[0].axhline(h * i / rows - 0.5, color="yellow")
    axes[0].set(title=f"spatial pyramid {layout} ({len(cells)} cells; finest shown)", xlabel="x (pixels)",
                ylabel="y (pixels)")
    for c, idx in enumerate(cells):
        axes[1].bar(np.arange(k) + c * k, np.bincount(words[idx], minlength=k), width=1.0, color=f"C{c % 10}")
    axes[1].set(title="word histograms of every cell, concatenated (cell by cell, layout by layout)",
                xlabel=f"cell x {k} + visual word", ylabel="patches")
    fig.tight_layout()
    files.append(save_figure(fig, Path(out_dir) / "bow_pyramid.png"))
    return {"files": files, "words": words, "counts": counts, "frames": frames}


def explain_fisher(image_path, out_dir, model=None, *, run_dir=None) -> dict:
    """Energy of the improved Fisher vector per Gaussian, beside each Gaussian's posterior mass."""
    from features.codebook import posteriors
    from features.encoding.fisher import fisher_vector

    model = model or run_model(run_dir, "fisher")
    encoder = model.pipeline.encoder
    if getattr(encoder, "means_", None) is None:
        raise InputError(f"the run encodes with {model.config.encoding.kind}; draw a Fisher-vector run "
                         "(ilsvrc-classic run experiments/configs/demo_fisher.toml, then --run runs/demo_fisher)",
                         field="--run")
    _, feats = _image_features(image_path, model)
    desc = feats.descriptors
    means, covariances, priors = encoder.means_, encoder.covariances_, encoder.priors_
    k, d = means.shape
    fv = fisher_vector(desc, means, covariances, priors)
    u, v = fv[: k * d].reshape(k, d), fv[k * d:].reshape(k, d)
    energy = (u.astype(np.float64) ** 2).sum(axis=1) + (v.astype(np.float64) ** 2).sum(axis=1)
    mass = posteriors(desc, means, covariances, priors).sum(axis=0) / len(desc)
    fig, ax = subplots(figsize=(10, 4))
    idx = np.arange(k)
    ax.bar(idx - 0.2, energy, width=0.4, label="FV energy ||u_k||^2 + ||v_k||^2 (sums to 1)")
    ax.bar(idx + 0.2, mass, width=0.4, label="share of patches (mean posterior)")
    ax.set(xlabel="Gaussian k", ylabel="share", title=f"Fisher vector of {len(desc)} descriptors, K = {k}: "
                                                        "where the signature's energy lies")
    ax.legend()
    fig.tight_layout()
    return {"files": [save_figure(fig, Path(out_dir) / "fisher_energy.png")], "energy": energy, "mass": mass}


def dimension_contributions(model, signature: np.ndarray, cls: int) -> np.ndarray:
    """Each signature dimension's share of class ``cls``'s score (before the bias).

    The feature maps here are additive (none, Hellinger, the additive chi2 map): the mapped
    vector is ``[phi_1(x), ..., phi_B(x)]``, B blocks of the signature's length, each a
    function of one dimension at a time, so ``w . phi(x) = sum_j sum_b w_bj phi_b(x_j)``:
    dimension ``j`` contributes ``sum_b w_bj phi_b(x_j)``, zero where ``x_j = 0``.
    """
    x = np.asarray(signature, np.float32)[None]
    mapped = x if model.feature_map is None else model.feature_map.fit_transform(x).astype(np.float32)
    n = x.shape[1]
    blocks = mapped.reshape(-1, n)
    weights = np.asarray(model.coef[cls], np.float64).reshape(-1, n)
    return (weights * blocks).sum(axis=0)


def patch_evidence(model, feats, cls: int) -> tuple[np.ndarray, float]:
    """Each patch's share of class ``cls``'s score, and the score.

    A bag-of-words dimension is a cell and a word; its contribution
    (:func:`dimension_contributions`) is shared equally by the patches of that word in that
    cell.  The shares plus the bias equal the classifier's score exactly.
    """
    from features.codebook import assign_nearest
    from features.encoding.pyramid import pyramid_cells

    encoder = model.pipeline.encoder
    if model.config.encoding.kind != "bow" or getattr(encoder, "assignment", "hard") != "hard":
        raise InputError("the evidence picture needs a run with hard-assignment bag of words (a signature that "
                         "is a sum over patches); draw --run runs/demo", field="--run")
    signature = encoder.transform([feats])[0]
    contributions = dimension_contributions(model, signature, cls)
    k = len(encoder.vocabulary_)
    words = assign_nearest(feats.descriptors, encoder.vocabulary_)
    out = np.zeros(len(words))
    for c, idx in enumerate(pyramid_cells(feats.frames, feats.image_size, encoder.layout)):
        counts = np.bincount(words[idx], minlength=k)
        share = contributions[c * k: (c + 1) * k] / np.maximum(counts, 1)
        out[idx] += share[words[idx]]
    return out, float(model.scores(signature)[cls])


def explain_evidence(image_path, out_dir, model=None, *, run_dir=None) -> dict:
    """Top-5 classes with scores, and each patch's contribution to the winner's score."""
    model = model or run_model(run_dir, "evidence")
    rgb, feats = _image_features(image_path, model)
    scores = model.scores(model.pipeline.encoder.transform([feats])[0])
    top = np.argsort(-scores, kind="stable")[:5]
    evidence, score = patch_evidence(model, feats, int(top[0]))
    frames = feats.frames
    # patches at the same centre (PHOW's sizes) are drawn as one square: their evidence summed
    keys, inverse = np.unique(frames[:, :2], axis=0, return_inverse=True)
    at_centre = np.bincount(inverse.ravel(), weights=evidence, minlength=len(keys))
    classes = model.class_names
    fig, axes = subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.3, 1]})
    lim = float(np.abs(at_centre).max()) or 1.0
    axes[0].imshow(rgb, alpha=0.4)
    sc = axes[0].scatter(keys[:, 0], keys[:, 1], c=at_centre, cmap="coolwarm", vmin=-lim, vmax=lim, s=10,
                         marker="s", linewidths=0)
    fig.colorbar(sc, ax=axes[0], fraction=0.046, label="contribution to the score")
    rejected = scores[top[0]] < 0
    axes[0].set(title=f"evidence for '{classes[top[0]]}': red patches vote for it, blue against",
                xlabel="x (pixels)", ylabel="y (pixels)")
    axes[1].barh(range(len(top))[::-1], scores[top], color=["tab:gray" if rejected else "tab:green"]
                 + ["tab:gray"] * (len(top) - 1))
    axes[1].set_yticks(range(len(top))[::-1], [classes[i] for i in top])
    axes[1].axvline(0, color="black", lw=0.8)
    title = "top-5 guesses (an ILSVRC submission line)"
    if rejected:
        title = (f"every score is below 0: the model knows {len(classes)} classes\n"
                 f"({', '.join(classes[:6])}{', ...' if len(classes) > 6 else ''}) and rejects them all")
    axes[1].set(xlabel="linear SVM score", title=title)
    fig.tight_layout()
    return {"files": [save_figure(fig, Path(out_dir) / "evidence.png")], "evidence": evidence, "scores": scores,
            "top5": top, "bias": float(model.intercept[top[0]]), "score": score, "rejected": bool(rejected)}


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


def known_boxes(image_path) -> np.ndarray:
    """The annotated boxes of ``image_path`` when it is one of the embedded boxed images
    (matched by content, wherever the file lies); else an empty (0, 4) array."""
    from ilsvrc.files import file_digest

    from ..datasets import BoxedImageDataset

    boxed = ROOT / "data" / "caltech101_boxes" / "boxes.csv"
    if not boxed.exists():
        return np.zeros((0, 4))
    digest = file_digest(image_path)
    for sample in BoxedImageDataset(boxed).samples():
        if Path(sample.path).stat().st_size == Path(image_path).stat().st_size and file_digest(sample.path) == digest:
            return sample.boxes
    return np.zeros((0, 4))


def explain_proposals(image_path, out_dir, *, mode: str = "fast", n_top: int = 20) -> dict:
    """Selective search: one hierarchy's segmentation at four levels, and the top proposals
    (with the ground truth, for the embedded boxed images)."""
    from baselines.graph_segmentation import graph_segmentation
    from baselines.selective_search import (
        MODES,
        as_rgb_image,
        convert_color,
        selective_search,
        selective_search_hierarchies,
    )

    from ..reports.detection import plot_proposals


    rgb = as_rgb_image(_gray_image(image_path, max_side=None)[0])
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
    plot_proposals(rgb, boxes, known_boxes(image_path), path, n=n_top,
                   title=f"selective search ({mode}): {len(boxes)} boxes, the first {n_top}")
    files.append(str(path))
    return {"files": files, "boxes": boxes, "n_initial": n, "levels": levels}


def explain_detections(image_path, out_dir, run_dir=DEFAULT_RUNS["detections"]) -> dict:
    """Detections of the detector saved by a detection run, on one image."""
    from ..reports.detection import plot_detections
    from ..runners.detection import load_detector

    detector, regions_of, classes = load_detector(run_dir)
    from features.image_io import load_image

    image = load_image(image_path)
    regions, shapes = regions_of(image)
    labels, scores, boxes = detector.detect(regions)
    boxes = shapes.to_original(boxes)
    path = Path(out_dir) / "detections.png"
    plot_detections([(image, labels, scores, boxes, known_boxes(image_path), Path(image_path).name)], classes, path,
                    per_image=3)
    return {"files": [str(path)], "labels": labels, "scores": scores, "boxes": boxes}


def explain_ap(out_dir, run_dir=DEFAULT_RUNS["ap"], split: int | None = None) -> dict:
    """Precision/recall of each class of a detection run, with the area that is its AP shaded."""
    from ilsvrc.metrics.average_precision import average_precision

    from ..runners.detection import rescore_split

    result, classes = rescore_split(run_dir, split)
    shown = min(len(classes), 6)                       # the first six classes (all of them in the demo)
    fig, axes = subplots(1, shown, figsize=(5 * shown, 4.2), squeeze=False)
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
    fig.suptitle("AP: area under the precision envelope (precision made monotone from the right)"
                 + (f"; the first {shown} of {len(classes)} classes" if shown < len(classes) else ""))
    fig.tight_layout()
    return {"files": [save_figure(fig, Path(out_dir) / "ap_area.png")], "ap": np.array(aps), "result_ap": result.ap}


EXPLAINERS = {"gradients": explain_gradients, "sift": explain_sift, "phow": explain_phow, "words": explain_words,
              "fisher": explain_fisher, "evidence": explain_evidence, "proposals": explain_proposals,
              "detections": explain_detections}
