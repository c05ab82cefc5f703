"""vPDQ on videos (``--videos DIR``): which altered copies of a video still match.

Each video's first ``max_seconds`` are decoded once (PyAV), every frame is altered the
same way (the frame operations below, Pillow only), and the frames are encoded again
as H.264 (yuv420p, CRF 23 unless the transform is the compression itself) at the
original frame rate: the file a platform would receive. The listed hashes are the
vPDQ of the original file's same span, re-encoded losslessly the same way (so the
copy differs by its transform only). A copy matches by python-threatexchange's video
rule (``tidehash.vpdq_match``: frames of quality >= 50, a frame matches within the
frame threshold, the video when >= 80 % of the query's frames do); recall at a
threshold is the fraction of videos whose copy matches at that frame threshold.
Unrelated pairs: each listed video against every other video's original and copies.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import tidehash

from . import metrics

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg")
FRAME_THRESHOLDS = (31, 47, 63, 70)


def _even(x: float) -> int:
    return max(16, int(round(x / 2)) * 2)


def _resize(im, f):
    return im.resize((_even(im.size[0] * f), _even(im.size[1] * f)), Image.Resampling.LANCZOS)


def _crop(im, fraction):
    w, h = im.size
    dx, dy = round(w * fraction / 2), round(h * fraction / 2)
    return im.crop((dx, dy, w - dx, h - dy))


def _pad(im, fraction):
    w, h = im.size
    pw, ph = round(w * fraction / 2), round(h * fraction / 2)
    out = Image.new("RGB", (w + 2 * pw, h + 2 * ph))
    out.paste(im, (pw, ph))
    return out


def _text(im, fraction):
    out = im.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    size = max(6, round(h * fraction))
    font = ImageFont.load_default(size=size)
    text = "WHEN YOU SEE IT"
    tw = draw.textlength(text, font=font)
    draw.text(((w - tw) / 2, round(h * 0.97) - size), text, fill=(255, 255, 255), font=font,
              stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return out


#: name -> (strengths, frame operation, CRF)
VIDEO_TRANSFORMS = {
    "reencode": ((23, 35, 45), lambda im, s: im, None),
    "resize": ((0.5, 0.25), _resize, 23),
    "crop": ((0.05, 0.1), _crop, 23),
    "pad": ((0.1, 0.2), _pad, 23),
    "text": ((0.1,), _text, 23),
    "mirror": (("horizontal",), lambda im, s: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
               23),
    "greyscale": ((1,), lambda im, s: im.convert("L").convert("RGB"), 23),
}


def video_variants() -> list[tuple[str, object]]:
    return [(n, s) for n, (strengths, _, _) in VIDEO_TRANSFORMS.items() for s in strengths]


def read_frames(data: bytes, max_seconds: float) -> tuple[list[Image.Image], Fraction]:
    """The first max_seconds of frames of the first video stream, and its frame rate."""
    import av

    frames = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or Fraction(25)
        limit = max(1, int(float(rate) * max_seconds))
        for frame in container.decode(stream):
            frames.append(frame.to_image())
            if len(frames) >= limit:
                break
    if not frames:
        raise ValueError("no frame decoded")
    return frames, Fraction(rate).limit_denominator(1001)


def encode_frames(frames: Sequence[Image.Image], rate: Fraction, crf: int) -> bytes:
    """H.264, yuv420p, at CRF crf; sizes rounded to even (4:2:0 needs it)."""
    import av

    w, h = _even(frames[0].size[0]), _even(frames[0].size[1])
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for im in frames:
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            frame = av.VideoFrame.from_image(im.convert("RGB"))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def altered(frames, rate, name: str, strength) -> bytes:
    strengths, op, crf = VIDEO_TRANSFORMS[name]
    return encode_frames([op(im, strength) for im in frames], rate,
                         int(strength) if crf is None else crf)


def _video_task(label: str, data: bytes, max_seconds: float) -> dict:
    frames, rate = read_frames(data, max_seconds)
    out = {"label": label, "frames": len(frames), "fps": float(rate),
           "size": list(frames[0].size),
           "listed": _features(encode_frames(frames, rate, 0))}  # CRF 0: lossless
    out["copies"] = [(n, s, _features(altered(frames, rate, n, s)))
                     for n, s in video_variants()]
    return out


def _features(data: bytes):
    return list(tidehash.vpdq_hash(data))


def folder_videos(directory: str) -> list[tuple[str, bytes]]:
    if not os.path.isdir(directory):
        raise ValueError(f"{directory}: not a folder")
    out = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isfile(path) and entry.lower().endswith(VIDEO_SUFFIXES):
            with open(path, "rb") as f:
                out.append((entry, f.read()))
    return out


def run_videos(videos: Sequence[tuple[str, bytes]], workers: int, max_seconds: float,
               log=lambda m: None) -> list[dict]:
    import concurrent.futures

    done = []
    if workers <= 1:
        for label, data in videos:
            try:
                done.append(_video_task(label, data, max_seconds))
            except (ValueError, tidehash.VideoError, OSError) as exc:
                log(f"  left out {label}: {exc}")
        return done
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [(label, pool.submit(_video_task, label, data, max_seconds))
                   for label, data in videos]
        for label, fut in futures:
            try:
                done.append(fut.result())
            except (ValueError, tidehash.VideoError, OSError) as exc:
                log(f"  left out {label}: {exc}")
    return done


def analyse_videos(hashed: list[dict]) -> dict:
    """Rows for ``results`` (hasher "vpdq") and the unrelated-pair figures."""
    rows = []
    for name, strength in video_variants():
        percents, found = [], {t: 0 for t in FRAME_THRESHOLDS}
        for v in hashed:
            copy = next(f for n, s, f in v["copies"] if (n, s) == (name, strength))
            for t in FRAME_THRESHOLDS:
                r = tidehash.vpdq_match(copy, v["listed"], distance_threshold=t)
                found[t] += r.is_match()
                if t == 31:
                    percents.append(r.query_match_percent)
        n = len(hashed)
        rows.append({"hasher": "vpdq", "transform": name, "family": "video",
                     "strength": strength, "pairs": n,
                     "query_match_percent": metrics.summary(np.rint(percents).astype(np.int64))
                     if n else None,
                     "recall_at": {str(t): found[t] / n if n else None
                                   for t in FRAME_THRESHOLDS}})
    impostors = {str(t): 0 for t in FRAME_THRESHOLDS}
    best = 0.0
    pairs = 0
    for i, listed in enumerate(hashed):
        for j, other in enumerate(hashed):
            if i == j:
                continue
            for feats in [other["listed"]] + [f for _, _, f in other["copies"]]:
                pairs += 1
                for t in FRAME_THRESHOLDS:
                    r = tidehash.vpdq_match(feats, listed["listed"], distance_threshold=t)
                    impostors[str(t)] += r.is_match()
                    if t == 31:
                        best = max(best, r.query_match_percent)
    return {"videos": [{k: v[k] for k in ("label", "frames", "fps", "size")} for v in hashed],
            "results": rows,
            "impostors": {"pairs": pairs, "independent_video_pairs":
                          len(hashed) * (len(hashed) - 1) // 2,
                          "false_matches_at": impostors,
                          "upper_bound_at": {t: metrics.fpr_upper_bound(k, pairs)
                                             for t, k in impostors.items()} if pairs else {},
                          "max_query_match_percent_at_31": best}}
