"""Files in every format the engine reads, made for the page's browser tests: JPEG
(baseline 4:2:0 / 4:2:2 / 4:4:4, progressive, odd sizes, 2-4 pixels wide, 12 MP, grey,
CMYK, stored as RGB, restart markers, quality 5 and 100, EXIF orientation, ICC profiles),
PNG (RGB, RGBA with translucent and transparent pixels, grey, grey with a transparent
value, grey+alpha, 1-bit, 16-bit grey / RGB / RGBA, 2 and 4-bit grey and palette, 16-bit
grey+alpha, transparent colours (8 and 16-bit), palette, palette with transparency, EXIF
orientation, ICC profiles, gamma, animated), GIF (palette, grey, transparency, animated, a
first frame smaller than the picture), WebP (lossy, lossless, with alpha, EXIF
orientation, ICC, animated), BMP (RGB, grey, palette, 1-bit, 16-bit, 32-bit, top-down),
TIFF, and an MP4. Each with what the page must do: ``EXACT`` (the engine's record and
pixels) or a refusal whose message contains the given words."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

EXACT = "exact"


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth colour with detail: what a photo gives a JPEG encoder."""
    rng = np.random.default_rng([seed, h, w])
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    img = np.zeros((h, w, 3))
    for _ in range(6):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.1, 0.4) * max(h, w)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img += rng.uniform(0, 200, 3) * blob[..., None]
    img += rng.normal(0, 12, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _alpha(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 7])
    a = rng.integers(0, 256, (h, w, 1), dtype=np.uint8)
    a[: h // 8] = 0      # fully transparent lines (their colour must survive)
    a[h // 8: h // 4] = 255
    return a


def _png(arr: np.ndarray, ctype: int, depth: int, extra: bytes = b"") -> bytes:
    """A PNG written by hand (Pillow writes no 16-bit RGB)."""
    h, w = arr.shape[:2]
    dtype = ">u2" if depth == 16 else "u1"
    raw = b"".join(b"\0" + arr[i].astype(dtype).tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_chunks(png: bytes, chunks: bytes) -> bytes:
    """A PNG with `chunks` inserted right after its header (IHDR ends at byte 33)."""
    return png[:33] + chunks + png[33:]


def _partial_gif(pal: Image.Image) -> bytes:
    """A GIF whose logical screen is larger than its first frame."""
    data = bytearray(_save(pal, "GIF"))
    w, h = struct.unpack("<HH", data[6:10])
    struct.pack_into("<HH", data, 6, w + 10, h + 10)
    return bytes(data)


def _png_rows(rows: list[bytes], w: int, h: int, depth: int, ctype: int,
              extra: bytes = b"") -> bytes:
    """A PNG of already packed rows (any bit depth and colour type)."""
    raw = b"".join(b"\0" + r for r in rows)
    header = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def _pack(values: np.ndarray, depth: int) -> bytes:
    """Samples of `depth` bits (1, 2, 4) packed high bits first, as PNG stores them."""
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(values), per):
        b = 0
        for k, v in enumerate(values[i:i + per]):
            b |= int(v) << (8 - depth * (k + 1))
        out.append(b)
    return bytes(out)


def _low_depth_pngs(rng: np.random.Generator) -> dict[str, bytes]:
    """Grey and palette PNGs of 2 and 4 bits, grey+alpha and RGB of 16 bits (RGB with a
    transparent colour too), RGB 8-bit with a transparent colour."""
    h, w = 50, 70
    out = {}
    for depth in (2, 4):
        g = rng.integers(0, 1 << depth, (h, w))
        out[f"png-grey-{depth}bit.png"] = _png_rows([_pack(r, depth) for r in g], w, h, depth, 0)
        plte = _chunk(b"PLTE", rng.integers(0, 256, (1 << depth) * 3).astype(np.uint8).tobytes())
        out[f"png-palette-{depth}bit.png"] = _png_rows([_pack(r, depth) for r in g], w, h,
                                                       depth, 3, plte)
    la16 = rng.integers(0, 65536, (h, w, 2)).astype(">u2")
    out["png-grey-alpha-16bit.png"] = _png_rows([r.tobytes() for r in la16], w, h, 16, 4)
    rgb16 = rng.integers(0, 65536, (h, w, 3)).astype(">u2")
    rgb16[5:10] = [1000, 2000, 3000]
    out["png-rgb-16bit-transparent-colour.png"] = _png_rows(
        [r.tobytes() for r in rgb16], w, h, 16, 2,
        _chunk(b"tRNS", struct.pack(">HHH", 1000, 2000, 3000)))
    rgb8 = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    rgb8[5:10] = [10, 20, 30]
    out["png-rgb-transparent-colour.png"] = _png_rows(
        [r.tobytes() for r in rgb8], w, h, 8, 2, _chunk(b"tRNS", struct.pack(">HHH", 10, 20, 30)))
    return out


def _bmp_16bit(rng: np.random.Generator) -> bytes:
    """A 16-bit (5-5-5) BMP, which Pillow reads and does not write."""
    h, w = 40, 61
    px = rng.integers(0, 1 << 15, (h, w)).astype("<u2")
    pad = (-(w * 2)) % 4
    data = b"".join(px[h - 1 - i].tobytes() + b"\0" * pad for i in range(h))
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 16, 0, len(data), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54) + info + data


def _bmp_top_down(im: Image.Image) -> bytes:
    """A BMP stored top line first (a negative height)."""
    data = bytearray(_save(im, "BMP"))
    w, h = im.size
    row = (w * 3 + 3) // 4 * 4
    struct.pack_into("<i", data, 22, -h)
    rows = [data[54 + i * row: 54 + (i + 1) * row] for i in range(h)]
    data[54:54 + h * row] = b"".join(reversed(rows))
    return bytes(data)


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def _exif(orientation: int) -> bytes:
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def make_files(folder: Path, videos_module=None) -> dict[str, str]:
    """Writes the files into ``folder``; returns {file name: EXACT or refusal words}."""
    h, w = 120, 160
    rgb = _photo(h, w, 1)
    im = Image.fromarray(rgb)
    rgba = Image.fromarray(np.concatenate([rgb, _alpha(h, w, 1)], -1))
    grey = im.convert("L")
    pal = im.convert("P", palette=Image.ADAPTIVE, colors=60)
    rng = np.random.default_rng(3)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    # an RGB profile far from sRGB (a 3000 K white point): a browser that managed colour
    # would change every pixel
    warm = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB", colorTemp=3000)).tobytes()
    gamma = _chunk(b"gAMA", struct.pack(">I", 100000))  # gamma 1.0
    chrm = _chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000,
                                       15000, 6000))
    files: dict[str, tuple[bytes, str]] = {
        "jpeg-420.jpg": (_save(im, "JPEG", quality=90, subsampling=2), EXACT),
        "jpeg-422.jpg": (_save(im, "JPEG", quality=90, subsampling=1), EXACT),
        "jpeg-444.jpg": (_save(im, "JPEG", quality=90, subsampling=0), EXACT),
        "jpeg-progressive.jpg": (_save(im, "JPEG", quality=85, progressive=True), EXACT),
        "jpeg-progressive-444.jpg": (_save(im, "JPEG", quality=85, progressive=True,
                                           subsampling=0), EXACT),
        "jpeg-odd-size-420.jpg": (_save(Image.fromarray(_photo(97, 131, 2)), "JPEG",
                                        quality=92, subsampling=2), EXACT),
        "jpeg-odd-size-422.jpg": (_save(Image.fromarray(_photo(61, 203, 3)), "JPEG",
                                        quality=75, subsampling=1), EXACT),
        "jpeg-tiny-420.jpg": (_save(Image.fromarray(_photo(40, 3, 5)), "JPEG", quality=90,
                                    subsampling=2), EXACT),
        "jpeg-tiny-422.jpg": (_save(Image.fromarray(_photo(9, 4, 6)), "JPEG", quality=90,
                                    subsampling=1), EXACT),
        "jpeg-4000x3000-420.jpg": (_save(Image.fromarray(_photo(3000, 4000, 7)), "JPEG",
                                         quality=85), EXACT),
        "jpeg-1201x1599-422-progressive.jpg": (
            _save(Image.fromarray(_photo(1201, 1599, 8)), "JPEG", quality=80, subsampling=1,
                  progressive=True), EXACT),
        "jpeg-grey.jpg": (_save(grey, "JPEG", quality=90), EXACT),
        "jpeg-rgb-stored.jpg": (_save(im, "JPEG", quality=90, keep_rgb=True), EXACT),
        "jpeg-restart-markers.jpg": (_save(im, "JPEG", quality=90, restart_marker_blocks=4),
                                     EXACT),
        "jpeg-quality-5.jpg": (_save(im, "JPEG", quality=5), EXACT),
        "jpeg-quality-100.jpg": (_save(im, "JPEG", quality=100), EXACT),
        "jpeg-cmyk-quality-50.jpg": (_save(im.convert("CMYK"), "JPEG", quality=50), EXACT),
        "jpeg-cmyk.jpg": (_save(im.convert("CMYK"), "JPEG", quality=90), EXACT),
        "jpeg-exif-rotate90.jpg": (_save(im, "JPEG", quality=90, exif=_exif(6)), EXACT),
        "jpeg-exif-rotate180.jpg": (_save(im, "JPEG", quality=90, exif=_exif(3)), EXACT),
        "jpeg-exif-mirror.jpg": (_save(im, "JPEG", quality=90, exif=_exif(2)), EXACT),
        "jpeg-icc-srgb.jpg": (_save(im, "JPEG", quality=90, icc_profile=srgb), EXACT),
        "jpeg-icc-warm.jpg": (_save(im, "JPEG", quality=90, icc_profile=warm), EXACT),
        "jpeg-large-photo.jpg": (_save(Image.fromarray(_photo(1200, 1600, 4)), "JPEG",
                                       quality=88), EXACT),
        "png-rgb.png": (_save(im, "PNG"), EXACT),
        "png-rgba-translucent.png": (_save(rgba, "PNG"), EXACT),
        "png-grey.png": (_save(grey, "PNG"), EXACT),
        "png-grey-transparent-value.png": (_save(grey, "PNG", transparency=int(rgb[0, 0, 0])),
                                           EXACT),
        "png-grey-alpha.png": (_save(rgba.convert("LA"), "PNG"), EXACT),
        "png-1bit.png": (_save(im.convert("1"), "PNG"), EXACT),
        "png-grey-16bit.png": (_png(rng.integers(0, 65536, (h, w)), 0, 16), EXACT),
        "png-rgb-16bit.png": (_png(rng.integers(0, 65536, (h, w, 3)), 2, 16), EXACT),
        "png-rgba-16bit.png": (_png(rng.integers(0, 65536, (h, w, 4)), 6, 16), EXACT),
        "png-palette.png": (_save(pal, "PNG"), EXACT),
        "png-palette-transparency.png": (_save(pal, "PNG", transparency=3), EXACT),
        "png-exif-rotate180.png": (_save(im, "PNG", exif=_exif(3)), EXACT),
        "png-icc-srgb.png": (_save(im, "PNG", icc_profile=srgb), EXACT),
        "png-icc-warm.png": (_save(im, "PNG", icc_profile=warm), EXACT),
        "png-rgba-icc-warm.png": (_save(rgba, "PNG", icc_profile=warm), EXACT),
        "png-gamma-1.png": (_with_chunks(_save(im, "PNG"), gamma), EXACT),
        "png-gamma-1-chromaticities.png": (_with_chunks(_save(im, "PNG"), gamma + chrm), EXACT),
        "png-rgba-gamma-1.png": (_with_chunks(_save(rgba, "PNG"), gamma), EXACT),
        "png-animated.png": (_save(im, "PNG", save_all=True, append_images=[rgba, grey],
                                   duration=100), EXACT),
        "png-rgba-exif-rotate90.png": (_save(rgba, "PNG", exif=_exif(6)), EXACT),
        "png-rgba-exif-mirror.png": (_save(rgba, "PNG", exif=_exif(2)), EXACT),
        "gif-palette.gif": (_save(pal, "GIF"), EXACT),
        "gif-grey.gif": (_save(grey, "GIF"), EXACT),
        "gif-transparency.gif": (_save(pal, "GIF", transparency=3), EXACT),
        "gif-animated.gif": (_save(pal, "GIF", save_all=True, duration=100, loop=0,
                                   append_images=[im.rotate(90).convert("P")]), EXACT),
        "gif-first-frame-partial.gif": (_partial_gif(pal), "first frame does not cover"),
        "webp-lossy.webp": (_save(im, "WEBP", quality=80), EXACT),
        "webp-lossless.webp": (_save(im, "WEBP", lossless=True), EXACT),
        "webp-lossy-alpha.webp": (_save(rgba, "WEBP", quality=80), EXACT),
        "webp-lossless-alpha.webp": (_save(rgba, "WEBP", lossless=True), EXACT),
        "webp-exif-rotate90.webp": (_save(im, "WEBP", quality=80, exif=_exif(6)), EXACT),
        "webp-icc-warm.webp": (_save(im, "WEBP", quality=80, icc_profile=warm), EXACT),
        "webp-animated.webp": (_save(im, "WEBP", save_all=True, append_images=[grey.convert("RGB")],
                                     duration=100, quality=80), EXACT),
        "webp-alpha-exif-rotate90.webp": (_save(rgba, "WEBP", lossless=True, exif=_exif(6)),
                                          EXACT),
        "bmp-rgb.bmp": (_save(im, "BMP"), EXACT),
        "bmp-grey.bmp": (_save(grey, "BMP"), EXACT),
        "bmp-palette.bmp": (_save(pal, "BMP"), EXACT),
        "bmp-1bit.bmp": (_save(im.convert("1"), "BMP"), EXACT),
        "bmp-rgba.bmp": (_save(rgba, "BMP"), EXACT),
        "bmp-16bit.bmp": (_bmp_16bit(rng), "16-bit BMP colours are widened"),
        "bmp-top-down.bmp": (_bmp_top_down(im), EXACT),
        "tiff-rgb.tif": (_save(im, "TIFF"), "TIFF images cannot be decoded by a browser"),
    }
    files.update({name: (data, EXACT) for name, data in _low_depth_pngs(rng).items()})
    out = {}
    for name, (data, want) in files.items():
        (folder / name).write_bytes(data)
        out[name] = want
    if videos_module is not None:
        videos_module.make_video(str(folder / "video.mp4"), frames=20)
        out["video.mp4"] = EXACT
    return out
