"""Agreement of our dense SIFT and PHOW with VLFeat's on a photo collection.

    python -m benchmarks.agreement --data .../101_ObjectCategories --n 500 --sizes native,500

For a seeded random sample of the images under ``--data`` (any folder tree of JPEG/PNG
files), at each size (``native``, or a longest side in pixels: areas for shrinking,
cubic for enlarging), and for each method -- ``flat`` (``vl_dsift`` with the flat window,
step 4, bin 8), ``gauss`` (Gaussian window, step 4, bin 8) and ``phow`` (``vl_phow``,
gray, step 3) -- it checks that the frames are VLFeat's and computes the cosine
similarity of every descriptor pair that is non-zero in both (our descriptors in VLFeat's
byte scale ``min(512 d, 255)``).  Per image it keeps the mean and the 10th percentile;
the table gives, per method and size, the worst image's mean and 10th percentile, how
many images fall below mean 0.9999 or 10th percentile 0.999, the smallest single
cosine, and the descriptors that are zero on one side only.  Needs VLFeat
(``make reference``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .common import resize_longest, sample_images

MEAN_GOAL, P10_GOAL = 0.9999, 0.999
METHODS = ("flat", "gauss", "phow")


def cosine_stats(ours_float, vlfeat_bytes):
    """Per-descriptor agreement of our descriptors with VLFeat's byte descriptors.

    Parameters
    ----------
    ours_float : ndarray of shape (n, d)
        Our descriptors (unit norm or zero); compared in VLFeat's byte scale ``min(512 d, 255)``.
    vlfeat_bytes : ndarray of shape (n, d)
        VLFeat's.

    Returns
    -------
    cosines : ndarray of shape (m,), float64
        Cosine similarity of the m pairs that are non-zero in both.
    zero_mismatch : int
        Descriptors that are zero on one side only.
    """
    a = np.minimum(np.asarray(ours_float, np.float64) * 512, 255)
    b = np.asarray(vlfeat_bytes, np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both = (na > 0) & (nb > 0)
    cos = (a[both] * b[both]).sum(1) / (na[both] * nb[both])
    return cos, int(((na > 0) != (nb > 0)).sum())


def compare(method: str, gray: np.ndarray) -> dict:
    """Our output and VLFeat's for one method on one float32 gray image."""
    from features.dsift import dense_sift, phow

    from . import vlfeat_reference as vl

    if method == "phow":
        frames, desc = phow(gray, step=3)
        ref_frames, ref_desc = vl.vlfeat_phow(gray, step=3)
        same_frames = frames.shape[0] == ref_frames.shape[0] and np.array_equal(frames[:, [0, 1, 3]],
                                                                               ref_frames[:, [0, 1, 3]])
    else:
        fast = method == "flat"
        frames, desc = dense_sift(gray, step=4, bin_size=8, fast=fast)
        ref_frames, ref_desc = vl.vlfeat_dsift(gray, step=4, size=8, fast=fast)
        same_frames = frames.shape[0] == ref_frames.shape[0] and np.array_equal(frames[:, :2], ref_frames[:, :2])
    cos, mismatch = cosine_stats(desc, ref_desc)
    return {"frames_equal": bool(same_frames), "n": int(len(desc)), "mean": float(cos.mean()) if len(cos) else 1.0,
            "p10": float(np.percentile(cos, 10)) if len(cos) else 1.0,
            "min": float(cos.min()) if len(cos) else 1.0, "zero_mismatch": mismatch}


def summarise(records: list[dict]) -> dict:
    """Worst image and counts below the goals, per (method, size)."""
    out = {}
    for key in sorted({(r["method"], r["size"]) for r in records}):
        rs = [r for r in records if (r["method"], r["size"]) == key]
        worst = min(rs, key=lambda r: r["mean"])
        out[f"{key[0]}/{key[1]}"] = {
            "images": len(rs), "frames_differ": sum(not r["frames_equal"] for r in rs),
            "worst_mean": worst["mean"], "worst_mean_image": worst["image"],
            "worst_p10": min(r["p10"] for r in rs), "min_cosine": min(r["min"] for r in rs),
            "below_mean_goal": sum(r["mean"] < MEAN_GOAL for r in rs),
            "below_p10_goal": sum(r["p10"] < P10_GOAL for r in rs),
            "zero_mismatch": sum(r["zero_mismatch"] for r in rs), "descriptors": sum(r["n"] for r in rs)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder tree of photographs")
    parser.add_argument("--n", type=int, default=500, help="images to sample (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="native,500", help="comma-separated: native and/or longest sides in px")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--json", type=Path, help="write per-image records and the summary here")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    from features.image_io import load_gray

    from . import vlfeat_reference

    if not vlfeat_reference.available():
        print("VLFeat is not installed (make reference)", file=sys.stderr)
        return 2
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"--methods: unknown {sorted(unknown)}; expected a subset of {METHODS}")
    sizes = [s for s in args.sizes.split(",") if s]
    images = sample_images(args.data, args.n, args.seed)
    records = []
    for path in tqdm(images, desc="images", unit="img"):
        gray = load_gray(path)
        for size in sizes:
            im = gray if size == "native" else resize_longest(gray, int(size))
            for method in methods:
                rec = compare(method, np.ascontiguousarray(im, np.float32))
                rec.update(image=str(path.relative_to(args.data)), size=size, method=method, shape=list(im.shape))
                records.append(rec)
    summary = summarise(records)
    print(f"Agreement with VLFeat on {len(images)} images of {args.data} (seed {args.seed}); "
          f"goals: per-image mean >= {MEAN_GOAL}, 10th percentile >= {P10_GOAL}")
    print(f"  {'method/size':<14}{'images':>7}{'worst mean':>12}{'worst p10':>11}{'min cos':>9}"
          f"{'<mean goal':>11}{'<p10 goal':>10}{'0-mismatch':>11}{'frames differ':>14}")
    for key, s in summary.items():
        print(f"  {key:<14}{s['images']:>7}{s['worst_mean']:>12.7f}{s['worst_p10']:>11.7f}{s['min_cosine']:>9.4f}"
              f"{s['below_mean_goal']:>11}{s['below_p10_goal']:>10}{s['zero_mismatch']:>11}{s['frames_differ']:>14}")
    for key, s in summary.items():
        print(f"  worst {key}: {s['worst_mean_image']}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "records": records}, indent=1))
    ok = all(s["below_mean_goal"] == 0 and s["below_p10_goal"] == 0 and s["frames_differ"] == 0
             for s in summary.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
