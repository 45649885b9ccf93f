"""From an image file to its signature: the per-image work of a classification baseline.

:class:`ImagePipeline` bundles a local-feature extractor (:class:`features.DenseSIFT` or
:class:`features.PHOW`), the descriptor post-processing (RootSIFT, PCA, spatial
augmentation) and an encoder (:mod:`features.encoding`).  Its methods are plain
functions of one image (a path or an archive member), so that they can run in worker
processes; an unreadable image raises :class:`features.image_io.ImageReadError`, which a
long run records as that image's failure (the runners' failure policy).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from features.local import PHOW, DenseSIFT, LocalFeatures, SpatialPyramidSIFT
from features.postprocess import append_spatial, root_sift


def make_extractor(kind: str, *, step, sizes, bin_size, color, fast, window_size, magnif, contrast_threshold,
                   max_side):
    """A DenseSIFT (``kind="dsift"``), PHOW (``"phow"``) or SpatialPyramidSIFT (``"spm_sift"``,
    patches of ``4 bin_size`` pixels) transformer with these settings."""
    max_side = max_side or None
    if kind == "phow":
        return PHOW(sizes=tuple(sizes), step=step, color=color, fast=fast, window_size=window_size, magnif=magnif,
                    contrast_threshold=contrast_threshold, max_side=max_side)
    if kind == "dsift":
        return DenseSIFT(step=step, bin_size=bin_size, fast=fast, window_size=window_size,
                         contrast_threshold=contrast_threshold or None, magnif=magnif or None, max_side=max_side)
    if kind == "spm_sift":
        return SpatialPyramidSIFT(step=step, bin_size=bin_size, max_side=max_side)
    raise ValueError(f"kind: expected 'phow', 'dsift' or 'spm_sift', got {kind!r}")


@dataclass
class ImagePipeline:
    """Image path -> local features -> (post-processed) -> signature.

    Attributes
    ----------
    extractor : DenseSIFT, PHOW or SpatialPyramidSIFT
    root_sift : bool
    pca : features.DescriptorPCA or None (fitted)
    spatial : bool
    encoder : fitted encoder from :mod:`features.encoding`, or None
    """

    extractor: object
    root_sift: bool = False
    pca: object = None
    spatial: bool = False
    encoder: object = None
    _fingerprint: str = field(default="", repr=False)

    def local_features(self, path) -> LocalFeatures:
        """Descriptors of one image after RootSIFT (PCA and spatial augmentation not applied)."""
        feats = self.extractor.extract(path)
        if self.root_sift:
            feats = replace(feats, descriptors=root_sift(feats.descriptors))
        return feats

    def finish(self, feats: LocalFeatures) -> LocalFeatures:
        """Apply the fitted PCA and the spatial augmentation."""
        desc = feats.descriptors
        if self.pca is not None:
            desc = self.pca.project(desc)
        if self.spatial:
            desc = append_spatial(desc, feats.frames, feats.image_size)
        return replace(feats, descriptors=desc)

    def sample(self, path, n: int, seed: int) -> LocalFeatures:
        """A seeded random subset of ``n`` descriptors (and frames) of one image, for learning
        the PCA and the vocabulary."""
        feats = self.local_features(path)
        if len(feats) > n:
            keep = np.sort(np.random.default_rng(seed).choice(len(feats), n, replace=False))
            feats = replace(feats, frames=feats.frames[keep], descriptors=feats.descriptors[keep])
        return feats

    def encode(self, path) -> np.ndarray:
        """The image's signature (1-D)."""
        return self.encoder.transform([self.finish(self.local_features(path))])[0]

    def fingerprint(self) -> str:
        """Hash of everything learned (PCA, vocabulary or GMM) and of the settings."""
        if not self._fingerprint:
            h = hashlib.sha256(repr(self.extractor.get_params()).encode())
            h.update(repr((self.root_sift, self.spatial)).encode())
            for model in (self.pca, self.encoder):
                if model is None:
                    continue
                h.update(repr(model.get_params()).encode())
                for name in sorted(vars(model)):
                    if name.endswith("_") and isinstance(getattr(model, name), np.ndarray):
                        h.update(np.ascontiguousarray(getattr(model, name)).tobytes())
            self._fingerprint = h.hexdigest()[:20]
        return self._fingerprint
