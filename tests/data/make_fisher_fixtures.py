"""Regenerate tests/data/vlfeat_fisher_golden.npz: VLFeat's own ``vl_fisher`` outputs.

Run with VLFeat installed (``make reference`` installs Debian's libvlfeat-dev and cyvlfeat
into .venv):

    .venv/bin/python tests/data/make_fisher_fixtures.py

Inputs, stored in the archive itself so that a change of our dense SIFT, PCA or GMM cannot
move the golden values: 400 dense-SIFT descriptors (step 3, bin size 6) of
tests/data/images/dolphin_0001.jpg, PCA-projected to 32 dimensions (float32), and two
diagonal GMMs fitted on all the image's projected descriptors:

* ``broad``: K = 8, one component's prior set to 1e-7 (renormalised), which ``vl_fisher``
  skips; its posteriors are dense;
* ``tight``: K = 128 with variances shrunk 4x, so that most posteriors fall below 1e-6
  (the sparse, pair-by-pair path of our float32 encoder).

Outputs: ``vl_fisher`` of the descriptors under each GMM, in float32 and float64 (the GMM
cast to the same dtype, as VLFeat requires), improved and not.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from features import DenseSIFT, DescriptorPCA  # noqa: E402
from features.codebook import fit_gmm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_vlfeat_fixtures import write_with_manifest  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "vlfeat_fisher_golden.npz"
IMAGE = HERE / "images" / "dolphin_0001.jpg"
N_DESCRIPTORS, DIM = 400, 32


def main() -> int:
    from cyvlfeat.fisher import fisher

    feats = DenseSIFT(step=3, bin_size=6).transform([IMAGE])
    pca = DescriptorPCA(n_components=DIM, random_state=0).fit(feats)
    projected = pca.transform(feats)[0].descriptors
    rng = np.random.default_rng(0)
    x = projected[np.sort(rng.choice(len(projected), N_DESCRIPTORS, replace=False))].astype(np.float32)
    broad = fit_gmm(projected.astype(np.float64), 8, max_iter=10, random_state=0)
    priors = broad.priors.copy()
    priors[5] = 1e-7
    tight = fit_gmm(projected.astype(np.float64), 128, max_iter=10, random_state=0)
    gmms = {"broad": (broad.means, broad.covariances, priors / priors.sum()),
            "tight": (tight.means, tight.covariances / 4, tight.priors)}
    arrays = {"descriptors": x}
    for name, (means, covs, pis) in gmms.items():
        arrays[f"{name}/means"], arrays[f"{name}/covariances"], arrays[f"{name}/priors"] = means, covs, pis
        for dtype in (np.float32, np.float64):
            for improved in (True, False):
                fv = fisher(x.astype(dtype), means.astype(dtype), covs.astype(dtype), pis.astype(dtype),
                            improved=improved)
                arrays[f"{name}/{np.dtype(dtype).name}/{'improved' if improved else 'plain'}"] = np.ravel(fv)
    write_with_manifest(OUT, arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
