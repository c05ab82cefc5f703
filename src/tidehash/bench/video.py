"""vPDQ benchmark: seconds of video hashed per wall-clock second (x realtime), next to
PyAV decoding alone and, when installed, Meta's pip ``vpdq``.

Run: ``python -m tidehash.bench video [--video PATH] [--seconds 20] [--json out.json]``.
Without ``--video`` a 1080p30 H.264 clip is synthesised with PyAV (panning over
multi-scale noise, x264 preset medium, CRF 23) so every machine measures the same
content."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

from . import args as bench_args

CLIP_FPS = 30
MAX_CLIP_SECONDS = 600.0  # the synthesised scenes are held in memory: about 2 GB at 600 s


def make_clip(path: str, seconds: float = 20.0, width: int = 1920, height: int = 1080,
              fps: int = CLIP_FPS, seed: int = 7) -> None:
    """A deterministic 1080p H.264 clip: a slow pan and zoom over a textured scene,
    with a cut every 5 seconds, so frames change the way filmed video does."""
    import av

    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(int(seconds // 5) + 1):
        big = np.zeros((height + 400, width + 600, 3), np.float32)
        for scale in (256, 64, 16, 4):  # multi-scale noise: photo-like spectrum
            small = rng.random(((height + 400) // scale + 2, (width + 600) // scale + 2, 3))
            up = np.kron(small, np.ones((scale, scale, 1)))[:height + 400, :width + 600]
            big += up.astype(np.float32) * (scale ** 0.5)
        big -= big.min()
        big *= 255.0 / big.max()
        scenes.append(big.astype(np.uint8))
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "medium", "crf": "23"}
        for i in range(int(seconds * fps)):
            scene = scenes[i // (5 * fps)]
            t = (i % (5 * fps)) / (5 * fps)
            x, y = int(500 * t), int(300 * t)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(scene[y:y + height, x:x + width]), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _video_seconds(path: str) -> tuple[float, int]:
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        rate = s.average_rate or s.base_rate
        frames = s.frames or sum(1 for _ in c.decode(s))
    return frames / float(rate), frames


def _pyav_decode(path: str, thread_type: str | None) -> None:
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        if thread_type:
            s.codec_context.thread_type = thread_type
        for _ in c.decode(s):
            pass


def _timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(path: str, repeat: int) -> dict:
    import tidehash
    from tidehash.video import vpdq_hash

    seconds, frames = _video_seconds(path)
    rows: list[tuple[str, float]] = []

    def add(label: str, fn) -> float:
        t = _timed(fn, repeat)
        rows.append((label, t))
        print(f"  {label:<46} {t:8.3f} s  {seconds / t:7.2f}x realtime", flush=True)
        return t

    print(f"clip: {path}: {frames} frames, {seconds:.1f} s of video; "
          f"median of {repeat} runs; {tidehash.cpu_info()['active_isa']}", flush=True)
    decode = add("PyAV decode only (default threads)", lambda: _pyav_decode(path, None))
    add("PyAV decode only (frame+slice threads)", lambda: _pyav_decode(path, "AUTO"))
    th_1 = add("tidehash vpdq_hash, 1 frame/s", lambda: vpdq_hash(path, 1.0))
    th_all = add("tidehash vpdq_hash, every frame", lambda: vpdq_hash(path, 0))
    ref = {}
    try:
        import vpdq
    except ImportError:
        vpdq = None
        print("  (pip vpdq not installed: its columns are left out)")
    if vpdq is not None:
        for sph, label in ((1.0, "1 frame/s"), (0, "every frame")):
            for threads, tl in ((1, "1 thread"), (0, "default threads")):
                ref[(sph, threads)] = add(
                    f"pip vpdq {label}, {tl}",
                    lambda sph=sph, threads=threads: vpdq.computeHash(
                        path, seconds_per_hash=sph, thread_count=threads))
        same = [
            [(f.frame_number, f.quality, f.hex) for f in vpdq.computeHash(path, seconds_per_hash=s)]
            == [(f.frame_number, f.quality, f.hex) for f in vpdq_hash(path, s)]
            for s in (1.0, 0)]
        print(f"  identical output to pip vpdq: 1 frame/s {same[0]}, every frame {same[1]}")
    result = {
        "clip": os.path.basename(path), "frames": frames, "video_seconds": seconds,
        "cpu": tidehash.cpu_info(), "repeat": repeat,
        "seconds": {label: t for label, t in rows},
        "ratios": {
            "tidehash_1fps_over_decode_only": th_1 / decode,
        },
    }
    print(f"  tidehash 1 frame/s time / PyAV decode-only time: {th_1 / decode:.3f} "
          "(target <= 1.15)")
    if ref:
        for threads, tl in ((1, "1 thread"), (0, "default threads")):
            r1 = ref[(1.0, threads)] / th_1
            ra = ref[(0, threads)] / th_all
            result["ratios"][f"speedup_vs_vpdq_1fps_{threads}"] = r1
            result["ratios"][f"speedup_vs_vpdq_every_frame_{threads}"] = ra
            print(f"  speed-up vs pip vpdq ({tl}): 1 frame/s {r1:.2f}x, every frame {ra:.2f}x")
    return result


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tidehash bench video", description=__doc__.splitlines()[0])
    ap.add_argument("--video", help="a video to hash (default: a synthesised 1080p30 clip)")
    ap.add_argument("--seconds", type=bench_args.positive_float(MAX_CLIP_SECONDS, lo=1 / CLIP_FPS),
                    default=20.0, help="length of the synthesised clip")
    ap.add_argument("--repeat", type=bench_args.int_in(1), default=3)
    ap.add_argument("--json", help="write the results here")
    return ap


def main(argv=None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if args.video is not None and not os.path.isfile(args.video):
        ap.error(f"argument --video: no such file: {args.video!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.video
        if path is None:
            path = os.path.join(tmp, "clip-1080p30.mp4")
            print(f"synthesising a {args.seconds:g} s 1080p30 H.264 clip ...", file=sys.stderr)
            make_clip(path, seconds=args.seconds)
        result = run(path, args.repeat)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
