"""Image signatures from local descriptors: one module per encoding, estimators above them.

Pure functions of one image's descriptors ``(n, D)`` and a learned vocabulary or GMM
(:mod:`features.codebook`):

- :mod:`~features.encoding.histograms`: bag of words (hard) and the kernel codebook (soft);
- :mod:`~features.encoding.vlad`: VLAD;
- :mod:`~features.encoding.llc`: locality-constrained linear coding (max pooling);
- :mod:`~features.encoding.super_vector`: super-vector coding;
- :mod:`~features.encoding.fisher`: the improved Fisher vector, equal to VLFeat's ``vl_fisher``;
- :mod:`~features.encoding.pyramid`: spatial-pyramid cells (whole images);
- :mod:`~features.encoding.regions`: word histograms of many boxes of one image (integral histograms);
- :mod:`~features.encoding.estimators`: scikit-learn transformers over all of them.
"""
from .estimators import BagOfWords, FisherVectorEncoder, HellingerMap, LLCEncoder, SuperVectorEncoder, VLADEncoder
from .fisher import fisher_vector, fisher_vector_pyramid, from_skimage_layout
from .histograms import bow_histogram, soft_assignments, soft_histogram
from .llc import llc_codes, llc_max_pool, llc_pyramid, llc_weights
from .normalize import CELL_NORMALIZATIONS, normalize_cells
from .pyramid import n_pyramid_cells, parse_layout, pyramid_cells, spatial_pyramid
from .super_vector import (
    SV_ASSIGNMENTS,
    pool_super_vector,
    super_vector,
    super_vector_assignments,
    super_vector_pyramid,
)
from .vlad import vlad

__all__ = ["BagOfWords", "FisherVectorEncoder", "HellingerMap", "LLCEncoder", "SuperVectorEncoder", "VLADEncoder",
           "fisher_vector", "fisher_vector_pyramid", "from_skimage_layout", "bow_histogram", "soft_assignments",
           "soft_histogram", "llc_codes", "llc_max_pool", "llc_pyramid", "llc_weights", "CELL_NORMALIZATIONS",
           "normalize_cells", "n_pyramid_cells", "parse_layout", "pyramid_cells", "spatial_pyramid", "SV_ASSIGNMENTS",
           "pool_super_vector", "super_vector", "super_vector_assignments", "super_vector_pyramid", "vlad"]
