"""vPDQ: PDQ hashes of video frames, with the frame selection of Meta's vPDQ.

Decoding is PyAV's (FFmpeg). Everything that decides which pixels are hashed
follows Meta's C++ ``hashVideoFile`` (vpdq/cpp/hashing/filehasher.cpp):

* the first video stream; frames numbered 0, 1, ... in decoder output order;
* frame rate = ``avg_frame_rate``, or ``r_frame_rate`` when its num or den is 0;
* frame ``n`` is hashed iff ``n % frame_mod == 0``, ``frame_mod =
  int(seconds_per_hash * fps)`` (0 -> 1): ``seconds_per_hash = 0`` hashes every frame;
* timestamp = ``float32(n) / float32(fps)``, not the packet's time stamp;
* conversion to RGB24 at the frame's own size by swscale with ``SWS_AREA``, the
  BT.601 matrix whatever the stream's colour tags say, and full range only for
  the ``yuvj*`` and grey formats (the legacy ``sws_getContext`` defaults the
  reference relies on);
* the reference drains the decoder at the end only when the video stream is stream
  0 of the file (its flush packet carries stream index 0); frames still buffered in
  the decoder are otherwise never hashed. tidehash reproduces that, so its output
  equals the reference line by line, and reports the frames left out in
  ``VPDQHashes.frames_not_flushed``.

Decoding runs in the calling thread while a small pool hashes the sampled frames:
swscale and the PDQ kernel both run with the GIL released, and so does FFmpeg's
decoder.
"""

from __future__ import annotations

import io
import math
import os
import stat
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _native
from ._checks import max_pixels_limit, positive_count
from .cpu import current_isa
from .errors import DecodeError
from .hashes import VPDQFeature
from .image import DEFAULT_MAX_PIXELS, Source, open_stream, source_name

MIN_FRAME_SIDE = 5  # the reference's MIN_HASHABLE_DIM
TIMESTAMP_DECIMALS = 3
MAX_CONSECUTIVE_DECODE_ERRORS = 64
# Formats that PyAV opens as one-picture "videos": images, not videos.
_IMAGE_DEMUXERS = ("image2", "image2pipe")
# FFmpeg renders any text file as a "video" through these (ANSI art, binary text).
_TEXT_DEMUXERS = ("tty", "bintext", "xbin", "adf", "idf")
_TEXT_CODECS = ("ansi", "bintext", "xbin", "idf")


class VideoError(DecodeError):
    """A file could not be hashed as a video (not a video, no video stream, no frames,
    unusable frame rate or frame size)."""


class VPDQHashes(list):
    """The features of one video (a list of VPDQFeature, by frame number) and how
    decoding went. ``error`` is None when the whole stream decoded; otherwise it says
    what went wrong and the list holds the frames hashed before (and after) it."""

    def __init__(self, features=(), *, error: str | None = None, frame_rate: float = 0.0,
                 frames_decoded: int = 0, frames_not_flushed: int = 0,
                 width: int = 0, height: int = 0):
        super().__init__(features)
        self.error = error
        self.frame_rate = frame_rate
        self.frames_decoded = frames_decoded
        self.frames_not_flushed = frames_not_flushed
        self.width = width
        self.height = height

    @property
    def ok(self) -> bool:
        return self.error is None

    def __repr__(self):
        state = "ok" if self.error is None else f"error={self.error!r}"
        return (f"VPDQHashes({len(self)} features, {self.frames_decoded} frames decoded, "
                f"fps={self.frame_rate:g}, {state})")


# ----------------------------------------------------------------------------- hashing
def frame_mod(seconds_per_hash: float, fps: float) -> int:
    """Hash every frame_mod-th frame: int(seconds_per_hash * fps) truncated, 0 -> 1."""
    product = seconds_per_hash * fps
    if not math.isfinite(product) or product >= 2**31:
        return 2**31 - 1  # the reference's int would overflow; only frame 0 is hashed
    return int(product) or 1


def frame_timestamp(frame_number: int, fps: float) -> float:
    """The reference computes the timestamp in float: (float)n / (float)fps."""
    return float(np.float32(frame_number) / np.float32(fps))


def check_seconds_per_hash(seconds_per_hash) -> float:
    """``seconds_per_hash`` as a finite float >= 0 (TypeError / ValueError otherwise)."""
    if isinstance(seconds_per_hash, (bool, np.bool_)):
        raise TypeError(f"seconds_per_hash must be a number, not {seconds_per_hash!r}")
    try:
        value = float(seconds_per_hash)
    except (TypeError, ValueError):
        raise TypeError(f"seconds_per_hash must be a number, not {seconds_per_hash!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"seconds_per_hash must be finite and >= 0, got {seconds_per_hash!r}")
    return value


def _frame_rate(stream) -> float:
    """avg_frame_rate, else r_frame_rate (PyAV returns None when num or den is 0)."""
    rate = stream.average_rate or stream.base_rate
    if rate is None:
        return 0.0
    return float(rate.numerator) / float(rate.denominator)


def _open(source: Source, name: str):
    import av  # PyAV is imported on first use: image-only users never load FFmpeg

    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        source = os.fspath(source)
        if not _is_regular(source):
            # a pipe or FIFO: read once into memory (MP4 needs to seek), by the
            # same rule as images (a FIFO with no writer waits for one, like cat)
            try:
                source, _ = open_stream(source, name)
            except DecodeError as exc:
                raise VideoError(name, exc.reason) from None
    try:
        container = av.open(source, mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        what = ("truncated or damaged video" if _has_container_signature(source)
                else "not a readable video")
        raise VideoError(name, f"{what} ({_reason(exc)})") from None
    return container


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # av.open reports it


#: the first bytes of the video containers tidehash reads (MP4 / MOV / 3GP start with
#: a box whose type is at offset 4; Matroska and WebM with EBML; AVI with RIFF)
_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def _has_container_signature(source) -> bool:
    """Whether ``source`` starts like a video container: a file that does and still
    cannot be opened is a truncated or damaged video, not some other kind of file."""
    try:
        if isinstance(source, str):
            with open(source, "rb") as f:
                head = f.read(12)
        elif hasattr(source, "seek"):
            pos = source.tell()
            source.seek(0)
            head = source.read(12)
            source.seek(pos)
        else:
            return False
    except (OSError, ValueError):
        return False
    return (head[4:8] in _BOX_TYPES or head.startswith(b"\x1a\x45\xdf\xa3")
            or (head[:4] == b"RIFF" and head[8:12] == b"AVI ") or head.startswith(b"FLV"))


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without the errno and the file name the caller already has."""
    if getattr(exc, "strerror", None):  # OSError and FFmpegError
        text = exc.strerror
    else:
        text = str(exc).strip() or type(exc).__name__
    return text.replace("'<none>'", "").rstrip(": ")


class _FrameHasher:
    """Converts a decoded frame to RGB24 the reference's way and hashes it. One
    swscale context per worker thread, reused from frame to frame."""

    def __init__(self):
        self._local = threading.local()

    def __call__(self, frame, frame_number: int, fps: float, isa: int) -> VPDQFeature:
        from av.video.reformatter import VideoReformatter

        fmt = frame.format.name
        reformatter = getattr(self._local, "reformatter", None)
        if reformatter is None:
            reformatter = self._local.reformatter = VideoReformatter()
        full_range = fmt.startswith(("yuvj", "gray", "ya"))
        rgb = reformatter.reformat(
            frame, format="rgb24", interpolation="AREA", src_colorspace="ITU601",
            src_color_range="JPEG" if full_range else "MPEG")
        plane = rgb.planes[0]
        raw, quality = _native.pdq_hash_strided(
            plane, rgb.height, rgb.width, plane.line_size, 3, isa)
        return VPDQFeature(frame_number, quality, raw.hex(),
                           frame_timestamp(frame_number, fps))


def _default_workers(seconds_per_hash: float) -> int:
    # At one frame a second hashing is a small fraction of decoding: one worker keeps
    # up. Hashing every frame costs about as much as decoding it: use every core.
    if seconds_per_hash == 0:
        return max(1, min(os.cpu_count() or 1, 4))
    return 1


def vpdq_hash(source: Source, seconds_per_hash: float = 1.0, *, workers: int | None = None,
              max_pixels: int | None = DEFAULT_MAX_PIXELS,
              strict: bool = False) -> VPDQHashes:
    """vPDQ of a video (path, bytes or binary file object): one VPDQFeature per
    sampled frame, in frame order, equal line by line to Meta's vPDQ.

    A stream that is truncated or corrupt part-way returns the frames hashed so far
    with ``.error`` set (``strict=True`` raises VideoError instead). Raises
    VideoError when nothing can be hashed: not a video, no video stream, no frame
    decoded, a frame rate of 0 or unknown, frames under 5 px on a side or over
    ``max_pixels`` pixels."""
    seconds = check_seconds_per_hash(seconds_per_hash)
    if workers is not None:
        workers = positive_count("workers", workers)
    max_pixels = max_pixels_limit(max_pixels)
    name = source_name(source)
    container = _open(source, name)
    try:
        result = _hash_container(container, name, seconds, workers or _default_workers(seconds),
                                 max_pixels)
    finally:
        container.close()
    if strict and result.error is not None:
        raise VideoError(name, result.error)
    return result


def _video_stream(container, name: str):
    fmt = container.format.name
    if any(part in _IMAGE_DEMUXERS or part.endswith("_pipe") for part in fmt.split(",")):
        raise VideoError(name, f"not a video: an image ({fmt})")
    if any(part in _TEXT_DEMUXERS for part in fmt.split(",")):
        raise VideoError(name, f"not a video: text ({fmt})")
    streams = container.streams.video
    if not streams:
        raise VideoError(name, f"no video stream ({fmt})")
    codec = streams[0].codec_context
    if codec is None:  # FFmpeg has no decoder for it (or the header is damaged)
        raise VideoError(name, f"no decoder for the video stream ({fmt})")
    if codec.name in _TEXT_CODECS:
        raise VideoError(name, f"not a video: text ({codec.name})")
    return streams[0]


def _check_frame_size(name: str, width: int, height: int, max_pixels: int | None) -> None:
    if width < MIN_FRAME_SIDE or height < MIN_FRAME_SIDE:
        raise VideoError(name, f"frames of {width}x{height} are too small to hash "
                               f"(under {MIN_FRAME_SIDE} px on a side)")
    if max_pixels is not None and width * height > max_pixels:
        raise VideoError(name, f"frames of {width}x{height} exceed the limit of "
                               f"{max_pixels} pixels (max_pixels)")


def _hash_container(container, name: str, seconds: float, workers: int,
                    max_pixels: int | None) -> VPDQHashes:
    import av

    stream = _video_stream(container, name)
    fps = _frame_rate(stream)
    if not (math.isfinite(fps) and fps > 0):
        raise VideoError(name, "the video's frame rate is 0 or unknown")
    codec = stream.codec_context
    width, height = codec.width, codec.height
    if width == 0 or height == 0:
        raise VideoError(name, "the video stream declares no frame size")
    _check_frame_size(name, width, height, max_pixels)
    # The reference's decoder set-up: slice threads only. Frame threads would change no
    # frame but lengthen the decoder's delay, i.e. which frames the reference leaves
    # undrained (module docstring); measured here they were no faster either.
    drains = stream.index == 0
    codec.thread_count = 0
    codec.thread_type = "SLICE"

    mod = frame_mod(seconds, fps)
    time_base = stream.time_base
    isa = current_isa()
    hasher = _FrameHasher()
    features: list[VPDQFeature] = []
    pending: deque = deque()
    errors: list[str] = []
    frame_number = 0
    not_flushed = 0
    last_time = None

    def collect(block_until: int) -> None:
        while len(pending) > block_until:
            features.append(pending.popleft().result())

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tidehash-vpdq") as pool:
        packets = container.demux(stream)
        consecutive_errors = 0
        flushing = False
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:  # the demuxer gave up part-way
                errors.append(f"stream ended early: {_reason(exc)}")
                packet = None  # drain what the decoder holds
            if packet is None or packet.size == 0:
                flushing = True
            try:
                frames = codec.decode(None if packet is None or packet.size == 0 else packet)
                consecutive_errors = 0
            except av.error.EOFError:
                frames = []
            except (av.error.FFmpegError, MemoryError) as exc:
                errors.append(f"frame after #{frame_number - 1}: {_reason(exc)}")
                consecutive_errors += 1
                if consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    errors.append("too many consecutive decoding errors; stopped")
                    break
                frames = []
            for frame in frames:
                if flushing and not drains:
                    not_flushed += 1
                    continue
                if frame.width != width or frame.height != height:
                    try:
                        _check_frame_size(name, frame.width, frame.height, max_pixels)
                    except VideoError as exc:
                        errors.append(f"frame {frame_number}: {exc.reason}")
                        frame_number += 1
                        continue
                if frame.pts is not None and time_base is not None:
                    last_time = float(frame.pts * time_base)
                if frame_number % mod == 0:
                    pending.append(pool.submit(hasher, frame, frame_number, fps, isa))
                    collect(2 * workers)
                frame_number += 1
            if packet is None:
                break
        collect(0)

    if frame_number == 0 and not_flushed == 0:
        detail = f": {errors[0]}" if errors else ""
        raise VideoError(name, f"no video frame could be decoded{detail}")
    error = "; ".join(errors[:3]) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
    short = _truncation(container, stream, frame_number + not_flushed, last_time, fps)
    if short and not errors:
        error = short
    return VPDQHashes(features, error=error or None, frame_rate=fps,
                      frames_decoded=frame_number + not_flushed,
                      frames_not_flushed=not_flushed, width=width, height=height)


def _truncation(container, stream, decoded: int, last_time, fps: float) -> str | None:
    """Some demuxers end a truncated file without an error (Matroska, WebM): compare
    what was decoded with what the container declares."""
    declared = stream.frames
    if declared and decoded < declared:
        return f"stream ended early: {decoded} of {declared} frames decoded (truncated?)"
    duration = _declared_duration(container, stream)
    if duration and last_time is not None:
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        covered = last_time - start + 1.0 / fps
        if covered < duration - max(3.0 / fps, 0.02 * duration, 0.1):
            return (f"stream ended early: frames up to {covered:.3f} s of "
                    f"{duration:.3f} s decoded (truncated?)")
    return None


def _declared_duration(container, stream) -> float | None:
    """The video stream's own duration: its header field, Matroska's per-track
    DURATION tag, or the file's duration when the video is its only stream."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION")
    if tag:
        try:
            h, m, sec = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            pass
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / 1_000_000
    return None


#: vPDQ text / JSON I/O lives in tidehash.formats.vpdq; these names keep old imports from
#: this module working.
_MOVED_TO_FORMATS = ("format_vpdq", "iter_vpdq", "parse_vpdq", "read_vpdq", "vpdq_from_json",
                     "vpdq_to_json", "write_vpdq")


def __getattr__(name: str):
    if name in _MOVED_TO_FORMATS:
        from .formats import vpdq

        return getattr(vpdq, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
