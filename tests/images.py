"""Test image generators shared by the PDQ, pHash and video tests: deterministic
(H, W, 3) uint8 images of a few kinds (noise, gradients, flat, text, checker, blobs),
as grey, RGB or RGBA, optionally mapped onto PDQ's safe palette (pdq_helpers)."""

from __future__ import annotations

import numpy as np
from pdq_helpers import to_safe_rgb

KINDS = ("noise", "grad_h", "grad_v", "grad_diag", "flat", "text", "checker", "blobs")


def _colourise(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float in [0, 1] -> (H, W, 3) uint8 through a random affine colour ramp."""
    c0 = rng.uniform(0, 255, 3)
    c1 = rng.uniform(0, 255, 3)
    img = c0 + v[..., None] * (c1 - c0)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_rgb(kind: str, h: int, w: int, seed: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 image of the given kind (unrestricted colours)."""
    rng = np.random.default_rng([seed, h, w, KINDS.index(kind)])
    y = np.linspace(0.0, 1.0, h)[:, None]
    x = np.linspace(0.0, 1.0, w)[None, :]
    if kind == "noise":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == "grad_h":
        return _colourise(np.broadcast_to(x, (h, w)), rng)
    if kind == "grad_v":
        return _colourise(np.broadcast_to(y, (h, w)), rng)
    if kind == "grad_diag":
        return _colourise((x + y) / 2.0, rng)
    if kind == "flat":
        c = rng.integers(0, 256, 3, dtype=np.uint8)
        return np.broadcast_to(c, (h, w, 3)).copy()
    if kind == "text":
        img = np.full((h, w, 3), 255, dtype=np.uint8)
        n = max(3, (h * w) // 400)
        for _ in range(n):
            y0 = int(rng.integers(0, h))
            x0 = int(rng.integers(0, w))
            if rng.random() < 0.5:  # a horizontal or vertical stroke
                ln = int(rng.integers(1, max(2, w // 3)))
                th_ = int(rng.integers(1, max(2, h // 40 + 2)))
                img[y0:y0 + th_, x0:x0 + ln] = 0
            else:
                ln = int(rng.integers(1, max(2, h // 3)))
                th_ = int(rng.integers(1, max(2, w // 40 + 2)))
                img[y0:y0 + ln, x0:x0 + th_] = 0
        return img
    if kind == "checker":
        cell = int(rng.integers(1, max(2, min(h, w) // 4 + 1)))
        yy = np.arange(h)[:, None] // cell
        xx = np.arange(w)[None, :] // cell
        v = ((yy + xx) % 2).astype(float)
        c0 = rng.integers(0, 256, 3)
        c1 = rng.integers(0, 256, 3)
        return np.where(v[..., None] > 0, c1, c0).astype(np.uint8)
    if kind == "blobs":  # smooth, photo-like: a sum of coloured Gaussian blobs
        img = np.zeros((h, w, 3))
        for _ in range(int(rng.integers(3, 9))):
            cy, cx = rng.uniform(0, 1, 2)
            s = rng.uniform(0.05, 0.4)
            g = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
            img += g[..., None] * rng.uniform(-120, 200, 3)
        img += rng.uniform(0, 80, 3)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)
    raise ValueError(kind)


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """A grey (H, W) uint8 plane from an RGB image (any deterministic choice works)."""
    return np.clip(np.rint(rgb.astype(np.float64) @ [0.3, 0.5, 0.2]), 0, 255).astype(np.uint8)


def with_channels(rgb: np.ndarray, channels: int, seed: int = 0) -> np.ndarray:
    """1 -> (H, W) grey, 3 -> the RGB image, 4 -> RGBA with a random alpha channel."""
    if channels == 1:
        return rgb_to_grey(rgb)
    if channels == 3:
        return np.ascontiguousarray(rgb)
    if channels == 4:
        rng = np.random.default_rng([seed, 4, *rgb.shape[:2]])
        alpha = rng.integers(0, 256, rgb.shape[:2] + (1,), dtype=np.uint8)
        return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=-1))
    raise ValueError(channels)


def make_image(kind: str, h: int, w: int, channels: int = 3, seed: int = 0,
               safe: bool = False) -> np.ndarray:
    """An image of `kind`, with `channels` channels; with `safe`, RGB content is
    mapped onto the safe palette (grey planes need no mapping)."""
    rgb = make_rgb(kind, h, w, seed)
    img = with_channels(rgb, channels, seed)
    if safe and channels != 1:
        img = to_safe_rgb(img)
    return img

