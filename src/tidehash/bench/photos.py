"""Synthetic photo-like test images for the benchmarks, and the files made from them.

Pure noise would decode unrealistically slowly, so the images have what photographs
have: smooth gradients, blurred blobs at two scales, soft-edged shapes with shading,
per-pixel sensor grain, textured regions and text-like strokes. The scene is laid out
relative to the frame, so every size shows the same picture. ``prepare_images`` writes
each as JPEG (quality 90, 4:2:0 as cameras do) and PNG (Pillow's default level 6).

``--sizes`` strings: megapixels of a 4:3 frame (0.25 -> 577x433, 1 -> 1155x866,
12 -> 4000x3000) or explicit WxH (``500x500``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .args import image_sizes

GENERATOR_VERSION = 1  # bump when the synthetic images change (cached --image-dir files)
GRAIN_LUMA, GRAIN_CHROMA, TEXTURE, LENS_BLUR = 6.0, 3.0, 24.0, 0.4


# '0.25,1,12' (megapixels, 4:3) or '500x500,4000x3000' -> [(width, height), ...]
parse_sizes = image_sizes(min_side=16)


def mp_label(w: int, h: int) -> str:
    mp = w * h / 1e6
    return f"{mp:.2f} MP" if mp < 10 else f"{mp:.1f} MP"


def _smooth_field(rng: np.random.Generator, w: int, h: int, cells: int,
                  channels: int = 3) -> np.ndarray:
    """Random values on a coarse grid (`cells` across), bicubic-upscaled: smooth blobs in [0, 1]."""
    gw = max(2, cells)
    gh = max(2, round(cells * h / w))
    small = rng.integers(0, 256, (gh, gw, channels), dtype=np.uint8)
    mode = "RGB" if channels == 3 else "L"
    im = Image.fromarray(small if channels == 3 else small[:, :, 0], mode)
    big = im.resize((w, h), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 255.0


def make_photo_like(w: int, h: int, seed: int) -> np.ndarray:
    """A deterministic photo-like RGB image, (h, w, 3) uint8.

    The scene is laid out relative to the frame (the same picture at every size);
    the grain is per pixel, as in a camera image."""
    rng = np.random.default_rng([seed, 0x9D9])
    scale = math.sqrt(w * h / 1e6)  # 1.0 at 1 MP

    # 1. Smooth background: vertical sky-to-ground gradient, a horizontal tint, a vignette.
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    top = np.array([120, 170, 225], np.float32)
    bottom = np.array([95, 120, 70], np.float32)
    img = top + y * (bottom - top) + (x - 0.5) * np.array([30, 10, -20], np.float32)
    img *= 1.0 - 0.35 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)  # vignette

    # 2. Blurred blobs at two scales (clouds, foliage, out-of-focus background).
    blobs = _smooth_field(rng, w, h, 6)
    blobs -= 0.5
    blobs *= 90.0
    img += blobs
    blobs = _smooth_field(rng, w, h, 24)
    blobs -= 0.5
    blobs *= 45.0
    img += blobs
    del blobs
    np.clip(img, 0, 255, out=img)
    img = img.astype(np.uint8)

    # 3. Objects: soft-edged ellipses and polygons composited over the background.
    base = Image.fromarray(img, "RGB")
    layer = Image.new("RGB", (w, h))
    mask = Image.new("L", (w, h), 0)
    dl, dm = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    for _ in range(14):
        cx, cy = rng.uniform(0, w), rng.uniform(0.25 * h, h)
        rx, ry = rng.uniform(0.03, 0.16) * w, rng.uniform(0.03, 0.16) * h
        colour = tuple(int(c) for c in rng.integers(20, 236, 3))
        if rng.random() < 0.5:
            box = [cx - rx, cy - ry, cx + rx, cy + ry]
            dl.ellipse(box, fill=colour)
            dm.ellipse(box, fill=255)
        else:
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            pts = [(float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in ang]
            dl.polygon(pts, fill=colour)
            dm.polygon(pts, fill=255)
    layer = layer.filter(ImageFilter.GaussianBlur(1.2 * scale))
    mask = mask.filter(ImageFilter.GaussianBlur(1.5 * scale))
    base = Image.composite(layer, base, mask)
    img = np.asarray(base, dtype=np.float32)  # a fresh, writable array

    # Shading inside the objects so they are not flat.
    shade = _smooth_field(rng, w, h, 40, channels=1)
    shade *= 0.3
    shade += 0.85
    img *= shade[:, :, None]
    del shade

    # 4. Texture: per-pixel grain everywhere (as from a camera sensor), plus stronger
    #    texture in some regions (grass, fabric), modulated by a smooth mask so the
    #    sky stays smooth.
    img += rng.standard_normal((h, w, 1), dtype=np.float32) * GRAIN_LUMA
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * GRAIN_CHROMA
    tex = rng.integers(0, 256, (h, w), dtype=np.uint8)
    tex_im = Image.fromarray(tex, "L").filter(ImageFilter.GaussianBlur(0.9))
    tex_f = np.asarray(tex_im, dtype=np.float32)
    tex_f -= float(tex_f.mean())
    tex_f *= TEXTURE / max(1.0, float(tex_f.std()))
    region = _smooth_field(rng, w, h, 8, channels=1)
    region *= 2.2
    region -= 0.8
    np.clip(region, 0, 1, out=region)
    region *= y[:, :, 0]
    tex_f *= region
    img += tex_f[:, :, None]
    del tex_f, region
    np.clip(img, 0, 255, out=img)
    img = img.astype(np.uint8)

    # 5. Text-like strokes: a few "signs" with lines of glyphs (random short strokes).
    base = Image.fromarray(img, "RGB")
    draw = ImageDraw.Draw(base)
    for _ in range(3):
        bw, bh = rng.uniform(0.18, 0.32) * w, rng.uniform(0.08, 0.16) * h
        bx, by = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        paper = tuple(int(c) for c in rng.integers(200, 250, 3))
        ink = tuple(int(c) for c in rng.integers(10, 70, 3))
        draw.rectangle([bx, by, bx + bw, by + bh], fill=paper)
        glyph_h = max(6.0, bh / 6)
        glyph_w = glyph_h * 0.6
        stroke = max(1, round(glyph_h / 9))
        line_y = by + glyph_h * 0.6
        while line_y + glyph_h < by + bh:
            gx = bx + glyph_w * 0.5
            while gx + glyph_w < bx + bw:
                if rng.random() < 0.16:  # space between words
                    gx += glyph_w
                    continue
                for _s in range(int(rng.integers(2, 5))):
                    x0, x1 = gx + rng.uniform(0, glyph_w, 2)
                    y0, y1 = line_y + rng.uniform(0, glyph_h, 2)
                    draw.line([(x0, y0), (x1, y1)], fill=ink, width=stroke)
                gx += glyph_w * 1.15
            line_y += glyph_h * 1.5
    # A light optical blur, as a lens would give; then back to an array.
    base = base.filter(ImageFilter.GaussianBlur(LENS_BLUR))
    return np.ascontiguousarray(np.asarray(base, dtype=np.uint8))


@dataclass
class BenchImage:
    width: int
    height: int
    array: np.ndarray
    files: dict[str, str] = field(default_factory=dict)  # format -> path

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"


def prepare_images(sizes: Sequence[tuple[int, int]], seed: int, directory: str,
                   log: Callable[[str], None]) -> list[BenchImage]:
    images = []
    for w, h in sizes:
        stem = os.path.join(directory, f"photo_v{GENERATOR_VERSION}_s{seed}_{w}x{h}")
        jpg, png = stem + ".jpg", stem + ".png"
        if os.path.exists(jpg) and os.path.exists(png):
            # Reuse cached files; the array is the exact PNG content (lossless).
            with Image.open(png) as im:
                arr = np.ascontiguousarray(np.asarray(im.convert("RGB")))
            log(f"  reused {w}x{h} images from {directory}")
        else:
            t0 = time.perf_counter()
            arr = make_photo_like(w, h, seed)
            im = Image.fromarray(arr, "RGB")
            im.save(jpg, format="JPEG", quality=90)  # Pillow default 4:2:0, like cameras
            im.save(png, format="PNG")  # Pillow default compress_level=6
            log(f"  generated {w}x{h} ({mp_label(w, h)}) in {time.perf_counter() - t0:.1f} s")
        images.append(BenchImage(w, h, arr, {"JPEG": jpg, "PNG": png}))
    return images

