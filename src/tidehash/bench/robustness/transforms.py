"""The alterations a copy of an image goes through before it is uploaded again.

Each transform is a pure function of (pixels, strength, seed) made with Pillow and
NumPy only, and ends in the encoded file a platform would receive (``bytes``): the
same inputs give the same bytes. Where a transform is not itself about compression
the file is a lossless PNG, so the figures show the transform alone; ``jpeg``,
``jpeg-chain``, ``format`` and ``screenshot`` are about the encoding and say which.

Strengths are in the transform's own unit (``Transform.unit``); sizes that depend on
the image (blur radius, text height, sticker size) scale with its short side, so a
512 px and a 4000 px photo get the same alteration relative to their frame.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

#: PNG level 1: lossless like every level, and the fastest to write
PNG_LEVEL = 1


def encode(im: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        options.setdefault("compress_level", PNG_LEVEL)
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


def rng_for(seed: int, name: str, strength) -> np.random.Generator:
    """The generator of one (transform, strength) for one image: ``seed`` is the
    image's seed, so every image gets its own noise and positions, reproducibly."""
    key = zlib.crc32(f"{name}:{strength!r}".encode())
    return np.random.default_rng([seed, key])


def _scale(im: Image.Image) -> float:
    """Sizes are given for a 512 px short side."""
    return min(im.size) / 512.0


def _rgb(im: Image.Image) -> Image.Image:
    return im if im.mode == "RGB" else im.convert("RGB")


# ------------------------------------------------------------------------------- encodings
def t_identity(im, strength, rng):
    return encode(im)


def t_jpeg(im, quality, rng):
    return encode(_rgb(im), "JPEG", quality=int(quality))


def t_jpeg_chain(im, generations, rng):
    """Saved again and again by apps that each re-compress: a quality drawn in 60..90
    each time, and every third generation a small resize, as a messenger does."""
    cur = _rgb(im)
    data = b""
    for g in range(int(generations)):
        if g % 3 == 2:
            w, h = cur.size
            f = float(rng.uniform(0.85, 0.95))
            cur = cur.resize((max(8, round(w * f)), max(8, round(h * f))),
                             Image.Resampling.BILINEAR)
        data = encode(cur, "JPEG", quality=int(rng.integers(60, 91)))
        cur = Image.open(io.BytesIO(data))
        cur.load()
    return data


def t_format(im, fmt, rng):
    """Another file format: WebP (lossy, quality 80), GIF (256-colour palette), JPEG at
    quality 95 with no chroma subsampling, and BMP (lossless, the same pixels)."""
    if fmt == "webp":
        return encode(_rgb(im), "WEBP", quality=80, method=4)
    if fmt == "gif":
        return encode(_rgb(im).quantize(256, dither=Image.Dither.FLOYDSTEINBERG), "GIF")
    if fmt == "jpeg444":
        return encode(_rgb(im), "JPEG", quality=95, subsampling=0)
    if fmt == "bmp":
        return encode(im, "BMP")
    raise ValueError(f"unknown format {fmt!r}")


# ------------------------------------------------------------------------------- scale
def _resize(im, factor_w, factor_h, resample=Image.Resampling.LANCZOS):
    w, h = im.size
    return im.resize((max(8, round(w * factor_w)), max(8, round(h * factor_h))), resample)


def t_resize(im, factor, rng):
    """Scaled by ``factor`` (0.1 = a thumbnail a tenth as wide, 2 = upscaled)."""
    return encode(_resize(im, factor, factor))


def t_resize_roundtrip(im, factor, rng):
    """Down to ``factor`` and back up to the original size (a thumbnail blown up)."""
    small = _resize(im, factor, factor)
    return encode(small.resize(im.size, Image.Resampling.BICUBIC))


def t_squash(im, factor, rng):
    """The width scaled by ``factor``, the height kept (a wrong aspect ratio)."""
    return encode(_resize(im, factor, 1.0))


# ------------------------------------------------------------------------------- filters
def t_blur(im, radius, rng):
    return encode(im.filter(ImageFilter.GaussianBlur(radius * _scale(im))))


def t_sharpen(im, percent, rng):
    return encode(im.filter(ImageFilter.UnsharpMask(radius=2 * _scale(im), percent=int(percent),
                                                    threshold=2)))


def t_noise(im, sigma, rng):
    """Gaussian noise of standard deviation ``sigma`` grey levels, per pixel and channel."""
    arr = np.asarray(im, dtype=np.float32)
    arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(sigma)
    return encode(Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), im.mode))


# ------------------------------------------------------------------------------- colour
def t_gamma(im, gamma, rng):
    lut = [min(255, max(0, round(255 * (i / 255) ** gamma))) for i in range(256)]
    return encode(im.point(lut * len(im.getbands())))


def t_brightness(im, factor, rng):
    return encode(ImageEnhance.Brightness(im).enhance(factor))


def t_contrast(im, factor, rng):
    return encode(ImageEnhance.Contrast(im).enhance(factor))


def t_greyscale(im, strength, rng):
    return encode(im.convert("L"))


# ------------------------------------------------------------------------------- geometry
def t_rotate(im, degrees, rng):
    """Rotated by ``degrees`` anticlockwise in the same frame (corners black)."""
    return encode(im.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False))


_QUARTERS = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_270}
_FLIPS = {"horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
          "vertical": Image.Transpose.FLIP_TOP_BOTTOM,
          "transpose": Image.Transpose.TRANSPOSE, "transverse": Image.Transpose.TRANSVERSE}


def t_rotate_quarter(im, degrees, rng):
    return encode(im.transpose(_QUARTERS[int(degrees)]))


def t_mirror(im, axis, rng):
    return encode(im.transpose(_FLIPS[axis]))


# ------------------------------------------------------------------------------- crops, borders
def t_crop(im, fraction, rng):
    """``fraction`` of the width and of the height cut off, half on each side."""
    w, h = im.size
    dx, dy = round(w * fraction / 2), round(h * fraction / 2)
    return encode(im.crop((dx, dy, w - dx, h - dy)))


def t_crop_offset(im, fraction, rng):
    """``fraction`` of the width and of the height cut off, split at random between the
    two sides (an off-centre crop: a reframed or partly cut screenshot)."""
    w, h = im.size
    cut_w, cut_h = round(w * fraction), round(h * fraction)
    left = int(rng.integers(0, cut_w + 1))
    top = int(rng.integers(0, cut_h + 1))
    return encode(im.crop((left, top, left + w - cut_w, top + h - cut_h)))


def _fill(im):
    return 0 if im.mode == "L" else (0, 0, 0)


def t_pad(im, fraction, rng):
    """A black border adding ``fraction`` of the width and of the height, half on each
    side (Thorn's "padding")."""
    w, h = im.size
    pw, ph = round(w * fraction / 2), round(h * fraction / 2)
    out = Image.new(im.mode, (w + 2 * pw, h + 2 * ph), _fill(im))
    out.paste(im, (pw, ph))
    return encode(out)


def _fit_into(im, frame_w, frame_h, mode, fill):
    """The image scaled to fit a frame_w x frame_h canvas, centred."""
    w, h = im.size
    s = min(frame_w / w, frame_h / h)
    fitted = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    out = Image.new(mode, (frame_w, frame_h), fill)
    out.paste(fitted, ((frame_w - fitted.size[0]) // 2, (frame_h - fitted.size[1]) // 2))
    return out


def t_letterbox(im, aspect, rng):
    """Fitted into a frame of another aspect ratio (``"16:9"``, ``"1:1"``, ``"9:16"``)
    with black bars, as a video or a square post does."""
    a, b = (int(x) for x in aspect.split(":"))
    w, h = im.size
    if w / h < a / b:
        frame = (round(h * a / b), h)
    else:
        frame = (w, round(w * b / a))
    return encode(_fit_into(im, frame[0], frame[1], im.mode, _fill(im)))


def t_screenshot(im, width_fraction, rng):
    """A phone screenshot: a 1080 x 2340 screen, the photo ``width_fraction`` of its
    width, centred, a status bar and a navigation bar drawn, saved as JPEG quality 85."""
    screen_w, screen_h = 1080, 2340
    screen = Image.new("RGB", (screen_w, screen_h), (18, 18, 18))
    photo = _fit_into(_rgb(im), round(screen_w * width_fraction), round(screen_h * 0.7), "RGB",
                      (18, 18, 18))
    screen.paste(photo, ((screen_w - photo.size[0]) // 2, (screen_h - photo.size[1]) // 2))
    draw = ImageDraw.Draw(screen)
    font = ImageFont.load_default(size=36)
    draw.rectangle((0, 0, screen_w, 90), fill=(0, 0, 0))
    draw.text((40, 25), "12:34", fill=(240, 240, 240), font=font)
    draw.text((screen_w - 200, 25), "87%", fill=(240, 240, 240), font=font)
    draw.rectangle((0, screen_h - 140, screen_w, screen_h), fill=(0, 0, 0))
    draw.rounded_rectangle((screen_w // 2 - 120, screen_h - 80, screen_w // 2 + 120,
                            screen_h - 66), radius=7, fill=(200, 200, 200))
    draw.text((40, 130), "Photo", fill=(240, 240, 240), font=font)
    return encode(screen, "JPEG", quality=85)


# ------------------------------------------------------------------------------- overlays
_WORDS = ("WHEN", "YOU", "SEE", "IT", "LOL", "OMG", "THIS", "IS", "FINE", "MONDAY", "MOOD")


def _caption(rng, n=3) -> str:
    return " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), n))


def t_text(im, height_fraction, rng):
    """Meme captions at the top and bottom: white letters with a black outline, each line
    ``height_fraction`` of the image height."""
    out = im.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    size = max(6, round(h * height_fraction))
    font = ImageFont.load_default(size=size)
    fill, stroke = (255, 0) if out.mode == "L" else ((255, 255, 255), (0, 0, 0))
    for y in (round(h * 0.03), round(h * 0.97) - size):
        text = _caption(rng)
        tw = draw.textlength(text, font=font)
        draw.text(((w - tw) / 2, y), text, fill=fill, font=font,
                  stroke_width=max(1, size // 12), stroke_fill=stroke)
    return encode(out)


def t_sticker(im, area_fraction, rng):
    """An opaque round sticker (a face emoji) covering ``area_fraction`` of the image,
    at a random place."""
    out = _rgb(im).copy()
    w, h = out.size
    d = max(4, round(np.sqrt(area_fraction * w * h * 4 / np.pi)))
    d = min(d, w, h)
    x = int(rng.integers(0, w - d + 1))
    y = int(rng.integers(0, h - d + 1))
    draw = ImageDraw.Draw(out)
    draw.ellipse((x, y, x + d, y + d), fill=(255, 204, 51), outline=(120, 80, 0),
                 width=max(1, d // 30))
    e = d // 8
    draw.ellipse((x + 3 * e, y + 3 * e, x + 3 * e + e, y + 4 * e), fill=(60, 40, 0))
    draw.ellipse((x + 4 * e + e, y + 3 * e, x + 5 * e + e, y + 4 * e), fill=(60, 40, 0))
    draw.arc((x + 2 * e, y + 3 * e, x + 6 * e, y + 6 * e), 20, 160, fill=(60, 40, 0),
             width=max(1, d // 25))
    return encode(out)


def t_watermark(im, opacity, rng):
    """A site's name tiled diagonally over the whole image at ``opacity`` (0..1)."""
    base = _rgb(im).convert("RGBA")
    w, h = base.size
    size = max(8, round(min(w, h) / 10))
    font = ImageFont.load_default(size=size)
    layer = Image.new("RGBA", (2 * w, 2 * h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    alpha = round(255 * opacity)
    step_x, step_y = round(size * 7), round(size * 2.5)
    for row, y in enumerate(range(0, 2 * h, step_y)):
        for x in range(-(row % 2) * step_x // 2, 2 * w, step_x):
            draw.text((x, y), "sharesite.example", fill=(255, 255, 255, alpha), font=font)
    layer = layer.rotate(30, resample=Image.Resampling.BICUBIC)
    layer = layer.crop((w // 2, h // 2, w // 2 + w, h // 2 + h))
    return encode(Image.alpha_composite(base, layer).convert("RGB"))


# ------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Transform:
    name: str
    family: str
    strengths: tuple
    unit: str
    apply: Callable[[Image.Image, object, np.random.Generator], bytes]
    #: strengths whose file holds exactly the original's pixels (not used as distractors:
    #: such a copy's hash is the original's, a duplicate pair, not a new one)
    lossless: tuple = ()

    def __call__(self, im: Image.Image, strength, seed: int) -> bytes:
        return self.apply(im, strength, rng_for(seed, self.name, strength))


TRANSFORMS: dict[str, Transform] = {t.name: t for t in (
    Transform("identity", "encoding", (0,), "lossless PNG of the same pixels", t_identity,
              lossless=(0,)),
    Transform("jpeg", "encoding", (90, 70, 50, 30, 10), "JPEG quality", t_jpeg),
    Transform("jpeg-chain", "encoding", (2, 5, 10), "JPEG generations (quality 60-90)",
              t_jpeg_chain),
    Transform("format", "encoding", ("webp", "gif", "jpeg444", "bmp"), "file format", t_format,
              lossless=("bmp",)),
    Transform("resize", "scale", (0.1, 0.25, 0.5, 2.0), "scale factor", t_resize),
    Transform("resize-roundtrip", "scale", (0.1, 0.25), "down to this factor and back",
              t_resize_roundtrip),
    Transform("squash", "scale", (0.67, 0.8, 1.25), "width factor (height kept)", t_squash),
    Transform("blur", "filter", (1, 2, 4, 8), "Gaussian radius, px at 512 px", t_blur),
    Transform("sharpen", "filter", (100, 300), "unsharp mask percent", t_sharpen),
    Transform("noise", "filter", (5, 10, 20, 40), "Gaussian sigma, grey levels", t_noise),
    Transform("gamma", "colour", (0.5, 0.8, 1.25, 2.0), "gamma", t_gamma),
    Transform("brightness", "colour", (0.6, 0.8, 1.25, 1.6), "factor", t_brightness),
    Transform("contrast", "colour", (0.5, 0.8, 1.3, 2.0), "factor", t_contrast),
    Transform("greyscale", "colour", (1,), "-", t_greyscale),
    Transform("rotate", "rotate", (1, 2, 4, 8), "degrees (same frame)", t_rotate),
    Transform("rotate-quarter", "dihedral", (90, 180, 270), "degrees", t_rotate_quarter),
    Transform("mirror", "dihedral", ("horizontal", "vertical", "transpose", "transverse"),
              "axis", t_mirror),
    Transform("crop", "crop", (0.02, 0.05, 0.1, 0.2), "fraction of each side cut, centred",
              t_crop),
    Transform("crop-offset", "crop", (0.02, 0.05, 0.1, 0.2),
              "fraction of each side cut, off-centre", t_crop_offset),
    Transform("pad", "border", (0.05, 0.1, 0.2, 0.4), "border added, fraction of each side",
              t_pad),
    Transform("letterbox", "border", ("16:9", "1:1", "9:16"), "frame aspect", t_letterbox),
    Transform("screenshot", "border", (1.0, 0.8), "photo width / screen width, JPEG 85",
              t_screenshot),
    Transform("text", "overlay", (0.05, 0.1, 0.15), "caption line height / image height",
              t_text),
    Transform("sticker", "overlay", (0.05, 0.1, 0.2), "fraction of the area covered",
              t_sticker),
    Transform("watermark", "overlay", (0.25, 0.5), "opacity", t_watermark),
)}

FAMILIES = tuple(dict.fromkeys(t.family for t in TRANSFORMS.values()))


def variants(names=None) -> list[tuple[str, object]]:
    """(transform name, strength) for every strength of the named transforms (all by
    default), in table order."""
    chosen = list(TRANSFORMS) if names is None else list(names)
    unknown = [n for n in chosen if n not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown transforms {', '.join(unknown)}; known: {', '.join(TRANSFORMS)}")
    return [(n, s) for n in chosen for s in TRANSFORMS[n].strengths]


def apply(name: str, im: Image.Image, strength, seed: int) -> bytes:
    """The file of ``im`` after transform ``name`` at ``strength``, for the image's seed."""
    return TRANSFORMS[name](im, strength, seed)
