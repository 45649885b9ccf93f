"""Image to local descriptors to image vectors: no datasets, no classifiers.

Main entry points: :func:`features.dsift.dense_sift`, :func:`features.dsift.phow`,
:func:`features.spm_sift.spatial_pyramid_sift`, :func:`features.keypoints.sift_keypoints`,
:func:`features.image_io.load_image`, and the scikit-learn transformers of :mod:`features.local`.
"""
from .dsift import dense_sift, phow, smooth_gaussian, to_vlfeat_uint8
from .image_io import ImageReadError, load_gray, load_image
from .spm_sift import spatial_pyramid_sift
from .local import (
           PHOW,
           DenseSIFT,
           DescriptorPCA,
           LocalFeatures,
           RootSIFT,
           SpatialAugmentation,
           SpatialPyramidSIFT,
)

__all__ = ["dense_sift", "phow", "smooth_gaussian", "to_vlfeat_uint8", "ImageReadError", "load_gray", "load_image",
           "PHOW", "DenseSIFT", "DescriptorPCA", "LocalFeatures", "RootSIFT", "SpatialAugmentation",
           "SpatialPyramidSIFT", "spatial_pyramid_sift"]
