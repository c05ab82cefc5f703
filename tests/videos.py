"""Small test videos made with PyAV, and an independent vPDQ oracle.

The oracle follows /work/shared/PDQ.md's vPDQ section on its own: it decodes with
PyAV's plain send/receive loop (draining the decoder only when the video is stream
0, as Meta's hashVideoFile does), numbers frames in output order, samples them with
its own frame-rate and modulo arithmetic, converts each sampled frame the way the
reference's swscale context does, and hashes the RGB array with pip ``pdqhash``
(Meta's C++ core). pdqhash computes luma in float64 and so differs from the C++
reference on near-ties; where it does, the float32 NumPy oracle of tests/oracles.py
(the reference's arithmetic) decides.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import oracles
import pdqhash


# ----------------------------------------------------------------------------- making
def _content(kind: str, i: int, h: int, w: int, rng) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == "black":
        return np.zeros((h, w, 3), np.uint8)
    if kind == "scene":  # objects over a gradient, moving slowly: what filmed video is like
        img = np.empty((h, w, 3), np.uint8)
        img[...] = ((xx * 120 // w + yy * 100 // h)[..., None] + np.array([20, 40, 60]))
        boxes = np.random.default_rng(99)  # the same objects in every frame
        for _ in range(12):
            x0, y0 = int(boxes.integers(0, w)), int(boxes.integers(0, h))
            bw, bh = int(boxes.integers(w // 10, w // 3)), int(boxes.integers(h // 10, h // 3))
            color = boxes.integers(0, 256, 3)
            x0 = (x0 + i // 2) % w
            img[y0:y0 + bh, x0:x0 + bw] = color
        return img
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (xx * 3 + i * 7) % 256
    img[..., 1] = (yy * 2 + i * 5) % 256
    img[..., 2] = ((xx // 8 + yy // 8 + i // 4) % 2) * 180
    noise = rng.integers(0, 24, img.shape)
    return np.clip(img.astype(np.int64) + noise, 0, 255).astype(np.uint8)


def make_video(path, *, codec="libx264", width=96, height=64, rate=25, frames=30,
               pix_fmt="yuv420p", options=None, audio_first=False, script=None,
               pts=None, time_base=None, seed=0) -> str:
    """Encode `frames` frames. `script(i)` names the content of frame i ("move",
    "black", "still"); `pts` gives explicit presentation times (variable frame rate)."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        if audio_first:
            out.add_stream("aac", rate=48000)
        stream = out.add_stream(codec, rate=Fraction(rate))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if options:
            stream.options = options
        if time_base is not None:
            stream.time_base = time_base
        still = None
        for i in range(frames):
            kind = script(i) if script else "move"
            if kind == "still":
                if still is None:
                    still = _content("move", i, height, width, rng)
                img = still
            else:
                img = _content(kind, i, height, width, rng)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


# ----------------------------------------------------------------------------- oracle
def _pdq_of_rgb(rgb: np.ndarray) -> tuple[str, int]:
    h, w = rgb.shape[:2]
    if h < 5 or w < 5:
        raise ValueError("frame too small")
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    hex_ = oracles.bits_to_hex(np.asarray(bits, dtype=np.uint8))
    return hex_, int(quality)


def oracle_vpdq(path: str, seconds_per_hash: float) -> list[tuple[int, int, str, str]]:
    """(frame_number, quality, hex, "%.3f" timestamp) per sampled frame."""
    out = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        if rate is None:
            rate = stream.base_rate
        fps = float(rate.numerator) / float(rate.denominator)
        mod = int(seconds_per_hash * fps)
        if mod == 0:
            mod = 1
        ctx = stream.codec_context
        n = 0
        for packet in container.demux(stream):
            if packet.size == 0 and stream.index != 0:
                break  # the reference's flush packet goes to stream 0 only
            for frame in ctx.decode(packet if packet.size else None):
                if n % mod == 0:
                    fmt = frame.format.name
                    rgb = frame.reformat(
                        format="rgb24", interpolation="AREA", src_colorspace="ITU601",
                        src_color_range="JPEG" if fmt.startswith(("yuvj", "gray")) else "MPEG",
                    ).to_ndarray()
                    hex_, quality = _pdq_of_rgb(rgb)
                    ts = np.float32(n) / np.float32(fps)
                    out.append((n, quality, hex_, f"{float(ts):.3f}", rgb))
                n += 1
    return out
