"""Shared argument checks with messages that name the argument, the expectation and the value."""
from __future__ import annotations

import numbers

import numpy as np


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_positive_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")
    return value


def as_float_image(image, name: str = "image", *, channels: int | None = 1) -> np.ndarray:
    """Return ``image`` as a C-contiguous float32 array with values in [0, 1].

    uint8 input is divided by 255 (so that uint8 and float input give the same descriptors);
    float input is taken as already in [0, 1].  ``channels=1`` requires a 2-D grayscale
    array (a trailing axis of length 1 is dropped); ``channels=3`` requires (H, W, 3);
    ``channels=None`` accepts either.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if channels == 1 and arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D grayscale array (H, W), got shape {arr.shape}; "
                         "convert colour images with features.image_io.to_gray or use phow(color=...)")
    if channels == 3 and (arr.ndim != 3 or arr.shape[2] != 3):
        raise ValueError(f"{name}: expected an RGB array of shape (H, W, 3), got shape {arr.shape}")
    if channels is None and not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"{name}: expected (H, W) or (H, W, 3), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr, dtype=np.float32) / np.float32(255)
    if arr.dtype == np.uint16:
        return np.ascontiguousarray(arr, dtype=np.float32) / np.float32(65535)
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return out
