"""Shared fixtures: paths to the fixtures in tests/data and to the full devkit data."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
# parsed ground-truth caches of this test session go to a folder of its own, not the user's
os.environ.setdefault("ILSVRC_CACHE", tempfile.mkdtemp(prefix="ilsvrc-test-cache-"))
DATA = ROOT / "tests" / "data"
MICRO = DATA / "micro_cases"
DEVKIT = Path(os.environ.get("ILSVRC_DEVKIT_DATA", ROOT.parent / "shared" / "ilsvrc-devkit"))

GT_2012 = DEVKIT / "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"
META_2012 = DEVKIT / "ILSVRC2012_devkit_t12/data/meta.mat"
META_CLSLOC_2015 = DEVKIT / "ILSVRC2015_devkit/data/meta_clsloc.mat"
META_DET_2015 = DEVKIT / "ILSVRC2015_devkit/data/meta_det.mat"
CLSLOC_CACHE = DEVKIT / "ILSVRC2015_devkit/data/ILSVRC2015_clsloc_validation_ground_truth.mat"
CLSLOC_BLACKLIST = DEVKIT / "ILSVRC2015_devkit/data/ILSVRC2015_clsloc_validation_blacklist.txt"
DET_CACHE = DEVKIT / "ILSVRC2015_devkit/data/ILSVRC2015_det_validation_ground_truth.mat"
DET_BLACKLIST = DEVKIT / "ILSVRC2015_devkit/data/ILSVRC2015_det_validation_blacklist.txt"
DET_LIST = DEVKIT / "ILSVRC2014_devkit/data/det_lists/val.txt"
REFERENCE = DEVKIT / "reference/reference_numbers.json"

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def needs_shared(path, what: str):
    """Mark a test that needs a file of the project's shared data: skipped (saying why) where the
    data is absent, but under ``CI=true`` the missing data is an error (CI has it)."""
    if Path(path).exists():
        return pytest.mark.shared_data
    if IN_CI:
        return pytest.mark.usefixtures("_shared_data_missing")
    return pytest.mark.skip(reason=f"needs {what} at {path}; set ILSVRC_DEVKIT_DATA")


@pytest.fixture
def _shared_data_missing(request):
    pytest.fail(f"CI=true but the shared data this test needs is missing ({DEVKIT}): the skip would hide "
                f"{request.node.name}")


needs_devkit = needs_shared(REFERENCE, "the full ILSVRC devkit data (50,000-image ground truth, cached boxes, "
                                       "reference submissions; ~20 MB)")


def devkit_path(relative: str) -> Path:
    """Resolve a path recorded in reference_numbers.json."""
    if relative.startswith("<reference/submissions>/"):
        return DEVKIT / "reference/submissions" / (relative.split(">/", 1)[1] + ".gz")
    return DEVKIT / relative


@pytest.fixture(scope="session")
def micro_expected():
    with open(MICRO / "expected.json") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def reference():
    with open(REFERENCE) as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def clsloc_synsets():
    from ilsvrc.synsets import SynsetTable

    return SynsetTable.from_file(META_CLSLOC_2015)


@pytest.fixture(scope="session")
def clsloc_objects(clsloc_synsets):
    from ilsvrc.ground_truth import load_clsloc_boxes

    return load_clsloc_boxes(CLSLOC_CACHE, clsloc_synsets, 50000)


@pytest.fixture(scope="session")
def det_setup():
    from ilsvrc.ground_truth import (
        load_det_ground_truth,
        read_det_blacklist,
        read_image_list,
    )
    from ilsvrc.synsets import SynsetTable

    synsets = SynsetTable.from_file(META_DET_2015)
    images = read_image_list(DET_LIST)
    objects = load_det_ground_truth(DET_CACHE, images, synsets)
    blacklist = read_det_blacklist(DET_BLACKLIST, synsets, images)
    return synsets, images, objects, blacklist


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
