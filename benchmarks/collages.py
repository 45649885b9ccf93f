"""A reproducible photo set with many small objects: real objects pasted small onto real photos.

Proposal methods behave differently on object-centred photographs (Caltech-101: one
object filling most of the frame) and on photographs of scenes with many small objects
(ILSVRC validation, PASCAL VOC).  Without such a set at hand, this module builds one from
real photographs:

- backgrounds: the ``BACKGROUND_Google`` photographs of Caltech-101 whose longest side is
  at least 400 px, shrunk so that their longest side is uniform in 400..500 px, randomly
  mirrored;
- objects: the 195 boxed Caltech-101 objects of ``data/caltech101_boxes`` (butterfly,
  dalmatian, dolphin), each cropped with a margin of context of 25% of the box's side
  around its box, shrunk so that the object box's longest side is log-uniform in
  20..120 px, randomly mirrored, and pasted with the context fading linearly to the
  background across the margin (the object box itself is pasted opaque, so its box is
  exact; the fade hides the crop's rectangle, which would otherwise be an easy edge);
- 3..8 objects per image, placed uniformly where the new crop covers no object pasted
  before (objects are never occluded; an object with no free place after 50 tries is left
  out).

Image ``i`` of the set with seed ``s`` depends only on ``(s, i)`` (its own generator), so a
set of 100 images is the first 100 of a set of 1,000.  Ground-truth boxes are the pasted
object boxes mapped through the resize with :func:`features.image_io.boxes_to_original`.

``python -m benchmarks.collages OUT --seed 3 --images 100`` writes ``OUT/images/*.png``
and ``OUT/boxes.csv`` (pixels counted from 1), a folder :class:`ilsvrc.datasets.BoxedImageDataset`
and the detection runner read.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .common import ROOT

BACKGROUNDS = Path(os.environ.get("CALTECH101_BACKGROUNDS", ROOT.parent / "shared" / "datasets" / "caltech101"
                                  / "101_ObjectCategories" / "BACKGROUND_Google"))
OBJECTS = ROOT / "data" / "caltech101_boxes" / "boxes.csv"

EVALUATION_SEED = 3
"""The seed of the held-out collage set that the benchmark reports.  (Seed 2 served as a first
held-out check of an earlier ``fast`` setting, which it showed below OpenCV's preset in recall@0.5
at 500 and 1,000 boxes; the soft suppression was then chosen on :data:`TUNING_SETS` and seed 3,
unseen until then, became the held-out set.)"""


@dataclass(frozen=True)
class CollageSettings:
    """How a collage is drawn (see the module docstring)."""

    image_side: tuple = (400, 500)
    objects: tuple = (3, 8)
    object_side: tuple = (20.0, 120.0)
    context: float = 0.25
    tries: int = 50


@dataclass
class Collage:
    """One generated image and its objects.

    Attributes
    ----------
    image : ndarray of shape (H, W, 3), uint8
    boxes : ndarray of shape (n, 4), float64
        Canonical inclusive object boxes, 0-based.
    labels : ndarray of shape (n,), int64
        Class of each object (index into the source classes).
    name : str
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    name: str


class CollageSource:
    """The background photographs and boxed objects a collage set is drawn from.

    Raises
    ------
    FileNotFoundError
        When the background folder holds no photograph of at least 400 px.
    """

    def __init__(self, backgrounds=BACKGROUNDS, objects=OBJECTS, min_background_side: int = 400):
        from PIL import Image

        from experiments.datasets import BoxedImageDataset

        self.backgrounds = []
        for path in sorted(Path(backgrounds).glob("*.jpg")):
            with Image.open(path) as im:                      # reads the header only
                if max(im.size) >= min_background_side:
                    self.backgrounds.append(path)
        if not self.backgrounds:
            raise FileNotFoundError(f"{backgrounds}: no background photograph of at least {min_background_side} px")
        data = BoxedImageDataset(objects)
        self.classes = data.classes
        self.objects = [(s.path, box, int(lab)) for s in data.samples() for box, lab in zip(s.boxes, s.labels)]

    def background(self, rng, settings: CollageSettings) -> np.ndarray:
        from features.image_io import load_image, shrink_to_max_side

        image = load_image(self.backgrounds[rng.integers(len(self.backgrounds))])
        side = int(rng.integers(settings.image_side[0], settings.image_side[1] + 1))
        image = shrink_to_max_side(image, side)
        return np.ascontiguousarray(image[:, ::-1]) if rng.random() < 0.5 else image


def _object_patch(path, box, rng, settings: CollageSettings):
    """The object cropped with context, resized, mirrored at random: (patch, alpha, box in the patch)."""
    import cv2

    from features.image_io import boxes_to_original, load_image

    image = load_image(path)
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = settings.context * (x2 - x1 + 1), settings.context * (y2 - y1 + 1)
    cx1, cy1 = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
    cx2, cy2 = int(min(w - 1, np.ceil(x2 + mx))), int(min(h - 1, np.ceil(y2 + my)))
    crop = image[cy1:cy2 + 1, cx1:cx2 + 1]
    lo, hi = np.log(settings.object_side[0]), np.log(settings.object_side[1])
    scale = float(np.exp(rng.uniform(lo, hi))) / max(x2 - x1 + 1, y2 - y1 + 1)
    size = (max(1, int(round(crop.shape[1] * scale))), max(1, int(round(crop.shape[0] * scale))))
    patch = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    inner = boxes_to_original(np.array([[x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1]]), crop.shape, patch.shape)[0]
    ph, pw = patch.shape[:2]
    if rng.random() < 0.5:
        patch = np.ascontiguousarray(patch[:, ::-1])
        inner = np.array([pw - 1 - inner[2], inner[1], pw - 1 - inner[0], inner[3]])
    # opaque inside the object box, fading linearly to 0 at the crop's border
    xs, ys = np.arange(pw, dtype=np.float32), np.arange(ph, dtype=np.float32)
    fx = np.minimum(np.clip((xs + 1) / (inner[0] + 1), 0, 1), np.clip((pw - xs) / (pw - inner[2]), 0, 1))
    fy = np.minimum(np.clip((ys + 1) / (inner[1] + 1), 0, 1), np.clip((ph - ys) / (ph - inner[3]), 0, 1))
    alpha = np.minimum(fy[:, None], fx[None, :])
    return patch, alpha, inner


def _overlaps(a, b) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


TUNING_SETS = (
    ("small objects", 1, 60, CollageSettings()),
    ("small objects", 11, 120, CollageSettings()),
    ("large objects", 1, 50, CollageSettings(objects=(1, 2), object_side=(150.0, 300.0))),
    ("large objects", 11, 150, CollageSettings(objects=(1, 2), object_side=(150.0, 300.0))),
    ("one object filling the photo", 11, 120, CollageSettings(objects=(1, 1), object_side=(220.0, 330.0),
                                                              context=0.1)),
    ("one object on a ~300 px photo", 21, 120, CollageSettings(image_side=(260, 330), objects=(1, 1),
                                                               object_side=(170.0, 280.0), context=0.1)),
    ("one or two objects on a ~300 px photo", 22, 100, CollageSettings(image_side=(280, 360), objects=(1, 2),
                                                                       object_side=(90.0, 220.0), context=0.2)),
)
"""(name, seed, images, settings) of the sets on which the ``fast`` mode's settings were chosen,
at their own size and shrunk to a longest side of 227 px (where the level ranking of its k = 300
hierarchies was chosen); none uses :data:`EVALUATION_SEED`."""


def make_collage(source: CollageSource, seed: int, index: int, settings: CollageSettings = CollageSettings()
                 ) -> Collage:
    """Image ``index`` of the collage set ``seed`` (see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    canvas = source.background(rng, settings).astype(np.float32)
    h, w = canvas.shape[:2]
    boxes, labels = [], []
    for _ in range(int(rng.integers(settings.objects[0], settings.objects[1] + 1))):
        path, box, label = source.objects[rng.integers(len(source.objects))]
        patch, alpha, inner = _object_patch(path, box, rng, settings)
        ph, pw = patch.shape[:2]
        if ph > h or pw > w:
            continue
        for _ in range(settings.tries):
            y0, x0 = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
            if not any(_overlaps((x0, y0, x0 + pw - 1, y0 + ph - 1), b) for b in boxes):
                break
        else:
            continue
        region = canvas[y0:y0 + ph, x0:x0 + pw]
        region += alpha[:, :, None] * (patch.astype(np.float32) - region)
        boxes.append(inner + [x0, y0, x0, y0])
        labels.append(label)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return Collage(image, np.array(boxes, np.float64).reshape(-1, 4), np.array(labels, np.int64),
                   f"collage_s{seed}_{index:04d}")


def make_collages(n_images: int, seed: int, source: CollageSource | None = None,
                  settings: CollageSettings = CollageSettings()) -> list:
    """The first ``n_images`` images of the collage set ``seed``; list of :class:`Collage`."""
    source = source or CollageSource()
    return [make_collage(source, seed, i, settings) for i in range(n_images)]


def write_collages(collages, out_dir, classes) -> Path:
    """Write ``images/<name>.png`` and ``boxes.csv`` (1-based, the BoxedImageDataset layout); the CSV path."""
    import cv2

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = ["image,class,xmin,ymin,xmax,ymax"]
    for c in collages:
        name = f"{c.name}.png"
        if not cv2.imwrite(str(out / "images" / name), c.image[:, :, ::-1]):
            raise OSError(f"{out / 'images' / name}: cannot write image")
        for box, label in zip(c.boxes, c.labels):
            lines.append(f"{name},{classes[label]}," + ",".join(str(int(v) + 1) for v in box))
    (out / "boxes.csv").write_text("\n".join(lines) + "\n")
    return out / "boxes.csv"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output folder (images/ and boxes.csv)")
    parser.add_argument("--seed", type=int, default=EVALUATION_SEED)
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args(argv)
    source = CollageSource()
    path = write_collages(make_collages(args.images, args.seed, source), args.out, source.classes)
    print(f"{args.images} images, seed {args.seed}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
