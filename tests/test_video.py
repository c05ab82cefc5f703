"""vPDQ: tidehash.vpdq_hash against an independent oracle (PyAV frames + pip pdqhash +
its own frame selection, tests/videos.py) on videos made here, against pip ``vpdq``
(Meta's C++ vPDQ) when it is installed, the text and JSON formats, the matching
rule, and bad input."""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction

import av
import numpy as np
import oracles
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from videos import make_video, oracle_vpdq

import tidehash
from tidehash import video as tv
from tidehash.errors import HashFormatError
from tidehash.match import VPDQIndex, prepare_vpdq, vpdq_match
from tidehash.video import VideoError, VPDQFeature, vpdq_hash

try:
    import vpdq as pip_vpdq
except ImportError:  # Meta's binding needs FFmpeg headers and cmake to build
    pip_vpdq = None
NO_PIP_VPDQ = ("pip vpdq (Meta's C++ vPDQ, in the test extra) is not installed: it builds "
               "from source against FFmpeg's development libraries (apt: libavcodec-dev "
               "libavformat-dev libavdevice-dev libavfilter-dev libswresample-dev "
               "libswscale-dev libavutil-dev pkg-config cmake); .ci/run installs them")


def _still_then_black(i: int) -> str:
    return "still" if 5 <= i < 20 else ("black" if 20 <= i < 26 else "move")


# name -> (make_video keyword arguments, whether pip vpdq (FFmpeg 5.1 swscale here)
# converts these frames exactly as PyAV's FFmpeg does: odd sizes and 10-bit differ)
VIDEOS = {
    "h264_25": (dict(codec="libx264", width=96, height=64, rate=25, frames=40), True),
    "h264_2997": (dict(codec="libx264", width=128, height=72, rate=Fraction(30000, 1001),
                       frames=45, script=_still_then_black), True),
    "mpeg4_30": (dict(codec="mpeg4", width=80, height=60, rate=30, frames=35), True),
    "vp9_30_webm": (dict(codec="libvpx-vp9", width=64, height=48, rate=30, frames=32,
                         suffix=".webm"), True),
    "mjpeg_full_range": (dict(codec="mjpeg", width=64, height=48, rate=25, frames=20,
                              pix_fmt="yuvj420p", suffix=".mkv"), True),
    "h264_bt709_tagged": (dict(codec="libx264", width=96, height=64, rate=25, frames=20, options={
        "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709"}), True),
    "h264_444_odd": (dict(codec="libx264", width=99, height=67, rate=24, frames=24,
                          pix_fmt="yuv444p"), True),
    "mpeg4_odd_420": (dict(codec="mpeg4", width=75, height=53, rate=25, frames=20), False),
    "audio_first_mkv": (dict(codec="libx264", width=96, height=64, rate=25, frames=30,
                             audio_first=True, suffix=".mkv"), True),
    "low_fps_half": (dict(codec="libx264", width=64, height=48, rate=Fraction(1, 2), frames=6,
                          suffix=".mkv"), True),
    "vfr_mkv": (dict(codec="libx264", width=64, height=48, rate=25, frames=40, suffix=".mkv",
                     time_base=Fraction(1, 1000),
                     pts=[int(1000 * (i / 25 if i < 20 else 0.8 + (i - 20) / 10))
                          for i in range(40)]), True),
}


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def video_path(video_dir):
    cache = {}

    def get(name):
        if name not in cache:
            kwargs = dict(VIDEOS[name][0])
            suffix = kwargs.pop("suffix", ".mp4")
            cache[name] = make_video(video_dir / f"{name}{suffix}", **kwargs)
        return cache[name]
    return get


def _lines(features):
    return [(f.frame_number, f.quality, f.hex, f"{f.timestamp:.3f}") for f in features]


def _check_against_oracle(got, expected):
    assert [g[0] for g in got] == [e[0] for e in expected], "frame selection differs"
    assert [g[3] for g in got] == [e[3] for e in expected], "timestamps differ"
    for g, e in zip(got, expected):
        if (g[1], g[2]) != (e[1], e[2]):
            # pdqhash's float64 luma can tip a near-tie; the reference's float32
            # arithmetic (the NumPy oracle) must then agree with tidehash exactly
            assert (g[2], g[1]) == oracles.pdq(e[4]), f"frame {g[0]} differs from both oracles"


@pytest.mark.parametrize("name", sorted(VIDEOS))
@pytest.mark.parametrize("seconds_per_hash", [0, 1.0, 0.3])
def test_matches_independent_oracle(video_path, name, seconds_per_hash):
    path = video_path(name)
    result = vpdq_hash(path, seconds_per_hash)
    assert result.ok, result.error
    _check_against_oracle(_lines(result), oracle_vpdq(path, seconds_per_hash))


@pytest.mark.parametrize("name", sorted(VIDEOS))
@pytest.mark.parametrize("seconds_per_hash", [0, 1.0])
def test_equals_pip_vpdq_line_by_line(video_path, name, seconds_per_hash):
    if pip_vpdq is None:  # a failure, never a skip (the wheel builds deselect it by name)
        pytest.fail(NO_PIP_VPDQ)
    path = video_path(name)
    ref = [(f.frame_number, f.quality, f.hex, f"{f.timestamp:.3f}")
           for f in pip_vpdq.computeHash(path, seconds_per_hash=seconds_per_hash)]
    got = _lines(vpdq_hash(path, seconds_per_hash))
    assert [g[0] for g in got] == [r[0] for r in ref]
    assert [g[3] for g in got] == [r[3] for r in ref]
    if VIDEOS[name][1]:
        assert got == ref
    else:  # documented: FFmpeg versions convert odd-sized 4:2:0 chroma differently
        assert got != ref


def test_audio_first_is_not_drained_like_the_reference(video_path):
    res = vpdq_hash(video_path("audio_first_mkv"), 0)
    assert res.frames_not_flushed > 0
    assert res.frames_decoded == 30
    assert len(res) == 30 - res.frames_not_flushed
    assert vpdq_hash(video_path("h264_25"), 0).frames_not_flushed == 0


def test_still_and_black_frames(video_path):
    res = vpdq_hash(video_path("h264_2997"), 0)
    by_frame = {f.frame_number: f for f in res}
    assert [by_frame[i].quality for i in range(21, 26)] == [0] * 5  # black: emitted anyway
    assert len({by_frame[i].hex for i in range(8, 19)}) <= 3  # a still segment barely changes
    assert res.frame_rate == pytest.approx(30000 / 1001)


def test_every_frame_and_sampling_counts(video_path):
    res = vpdq_hash(video_path("h264_25"), 0)
    assert [f.frame_number for f in res] == list(range(40))
    assert [f.frame_number for f in vpdq_hash(video_path("h264_25"))] == [0, 25]
    assert [f.frame_number for f in vpdq_hash(video_path("low_fps_half"), 1.0)] == list(range(6))


def test_workers_and_sources_agree(video_path):
    path = video_path("h264_2997")
    base = _lines(vpdq_hash(path, 0, workers=1))
    assert _lines(vpdq_hash(path, 0, workers=3)) == base
    with open(path, "rb") as f:
        assert _lines(vpdq_hash(f, 0)) == base
    with open(path, "rb") as f:
        assert _lines(vpdq_hash(f.read(), 0)) == base
    assert _lines(vpdq_hash(os.fsencode(path).decode(), 0)) == base


def test_isa_does_not_change_hashes(video_path):
    path = video_path("h264_25")
    with tidehash.use_isa("scalar"):
        scalar = _lines(vpdq_hash(path, 0))
    for isa in tidehash.available_isas():
        with tidehash.use_isa(isa):
            assert _lines(vpdq_hash(path, 0)) == scalar


# ----------------------------------------------------------------------------- rules
def test_frame_mod_and_timestamp_rules():
    assert tv.frame_mod(0, 25.0) == 1
    assert tv.frame_mod(1.0, 29.97002997) == 29
    assert tv.frame_mod(0.7, 10.0) == 7  # a double (the CLI's float read gives 6)
    assert tv.frame_mod(1.0, 0.5) == 1
    assert tv.frame_mod(1.0, 1e300) == 2**31 - 1
    # float32 division, not double: 1/3 s frames
    assert tv.frame_timestamp(1, 3.0) == float(np.float32(1) / np.float32(3))
    assert tv.frame_timestamp(1, 3.0) != 1 / 3


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_bad_seconds_per_hash(video_path, bad):
    with pytest.raises(ValueError):
        vpdq_hash(video_path("h264_25"), bad)


def test_seconds_per_hash_type(video_path):
    with pytest.raises(TypeError):
        vpdq_hash(video_path("h264_25"), "fast")
    with pytest.raises(ValueError):
        vpdq_hash(video_path("h264_25"), 1.0, workers=0)


# ----------------------------------------------------------------------------- formats
def test_text_format_round_trip(video_path, tmp_path):
    res = vpdq_hash(video_path("h264_2997"), 0.3)
    text = tidehash.format_vpdq(res)
    lines = text.splitlines()
    assert lines[1] == (f"{res[1].frame_number},{res[1].quality},{res[1].hex},"
                        f"{res[1].timestamp:.3f}")
    assert all(len(line.split(",")[3].split(".")[1]) == 3 for line in lines)
    parsed = tidehash.parse_vpdq(text)
    assert _lines(parsed) == _lines(res)
    tidehash.write_vpdq(res, tmp_path / "v.txt")
    assert _lines(tidehash.read_vpdq(tmp_path / "v.txt")) == _lines(res)
    assert (tmp_path / "v.txt").read_text() == text


def test_pytx_json_form(video_path):
    res = vpdq_hash(video_path("h264_2997"), 0.3)
    # python-threatexchange's VpdqCompactFeature.__str__: f"{hex},{quality},{ts:.3}"
    expected = json.dumps([f"{f.hex},{f.quality},{f.timestamp:.3}" for f in res])
    assert tidehash.vpdq_to_json(res) == expected
    back = tidehash.vpdq_from_json(expected)
    assert [(f.hex, f.quality) for f in back] == [(f.hex, f.quality) for f in res]
    assert [f.timestamp for f in back] == [float(f"{f.timestamp:.3}") for f in res]


@pytest.mark.parametrize("line", [
    "0,100,abc,0.000",                                  # short hash
    "0,100," + "g" * 64 + ",0.000",                     # not hex
    "0,101," + "0" * 64 + ",0.000",                     # quality out of range
    "-1,50," + "0" * 64 + ",0.000",                     # negative frame
    "0,50," + "0" * 64 + ",nan",                        # bad timestamp
    "0,50," + "0" * 64,                                 # missing field
    "x,50," + "0" * 64 + ",0.000",                      # frame not a number
])
def test_malformed_text_lines_name_their_line(line):
    good = "0,100," + "f" * 64 + ",0.000"
    with pytest.raises(HashFormatError, match=":2:"):
        tidehash.parse_vpdq(good + "\n" + line + "\n")


def test_read_vpdq_of_a_binary_file_is_a_format_error(tmp_path):
    """A binary file (here a PNG's first bytes) is a HashFormatError naming the line,
    not a bare UnicodeDecodeError."""
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    with pytest.raises(HashFormatError, match=r"x\.png:1: not vPDQ text \(byte 0x89"):
        tidehash.read_vpdq(tmp_path / "x.png")
    good = "0,100," + "f" * 64 + ",0.000\n"
    (tmp_path / "v.txt").write_bytes(good.encode() + b"1,100,\xff\n")
    with pytest.raises(HashFormatError, match=r"v\.txt:2: .*byte 0xff"):
        tidehash.read_vpdq(tmp_path / "v.txt")


def test_vpdq_from_json_of_binary_bytes_is_a_format_error():
    """Regression (fixed): vpdq_from_json of a binary file's bytes (a JPEG) raised a
    bare UnicodeDecodeError; it is a HashFormatError, as read_vpdq's."""
    with open(os.path.join(os.path.dirname(__file__), "..", "examples", "sample.jpg"), "rb") as fh:
        jpeg = fh.read()
    with pytest.raises(HashFormatError, match=r"not text \(byte 0xff at offset 0 is not UTF-8"):
        tidehash.vpdq_from_json(jpeg)
    with pytest.raises(HashFormatError, match=r"byte 0xff at offset 2"):
        tidehash.vpdq_from_json(b'["\xff"]')
    # bytes that are JSON text read as the str would
    text = json.dumps(["f" * 64 + ",100,0.0", "0" * 64 + ",50,1.0"])
    for data in (text.encode(), text.encode("utf-16")):
        assert tidehash.vpdq_from_json(data) == tidehash.vpdq_from_json(text)


@pytest.mark.parametrize("text", ['{"a": 1}', '["abc,1,0.0"]', "[1]", "not json",
                                  '["' + "f" * 64 + ',x,0.0"]'])
def test_malformed_json(text):
    with pytest.raises(HashFormatError):
        tidehash.vpdq_from_json(text)


# ----------------------------------------------------------------------------- matching
def _pytx_match(query, compared, quality, distance):
    """python-threatexchange's match_VPDQ_hash_brute, restated (without its zero
    division on empty lists)."""
    def dedupe(fs):
        seen, out = set(), []
        for f in fs:
            if f.hex not in seen:
                seen.add(f.hex)
                out.append(f)
        return out
    q = [f for f in dedupe(query) if f.quality >= quality]
    c = [f for f in dedupe(compared) if f.quality >= quality]
    qm = sum(any(bin(int(a.hex, 16) ^ int(b.hex, 16)).count("1") <= distance for b in c) for a in q)
    cm = sum(any(bin(int(a.hex, 16) ^ int(b.hex, 16)).count("1") <= distance for b in q) for a in c)
    return qm * 100 / len(q), cm * 100 / len(c)


def _random_video(rng, n, base=None, flips=0):
    out = []
    for i in range(n):
        if base is not None and i < len(base):
            bits = np.unpackbits(np.frombuffer(bytes.fromhex(base[i].hex), np.uint8))
            idx = rng.choice(256, size=flips, replace=False)
            bits[idx] ^= 1
            hx = np.packbits(bits).tobytes().hex()
        else:
            hx = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()
        out.append(VPDQFeature(i, int(rng.integers(30, 101)), hx, i / 25))
    if out:
        out.append(out[0])  # a repeated hash: deduplicated
    return out


@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(0, 60),
       quality=st.sampled_from([0, 50, 80]), distance=st.sampled_from([0, 16, 31, 64]))
@settings(max_examples=60, deadline=None)
def test_vpdq_match_equals_pytx_rule(seed, flips, quality, distance):
    rng = np.random.default_rng(seed)
    a = _random_video(rng, int(rng.integers(1, 30)))
    b = _random_video(rng, int(rng.integers(1, 30)), base=a, flips=flips)
    qa = [f for f in prepare_vpdq(a, quality)]
    qb = [f for f in prepare_vpdq(b, quality)]
    got = vpdq_match(a, b, quality_threshold=quality, distance_threshold=distance)
    if not qa or not qb:
        assert (got.query_match_percent, got.compared_match_percent) == (0.0, 0.0)
    else:
        assert (got.query_match_percent, got.compared_match_percent) == _pytx_match(
            a, b, quality, distance)


def test_vpdq_match_of_reencoded_video(video_path, video_dir):
    def scene(i):
        return "scene"
    kwargs = dict(codec="libx264", width=160, height=96, rate=25, frames=40, script=scene)
    original = vpdq_hash(make_video(video_dir / "scene.mp4", **kwargs), 0)
    worse = vpdq_hash(make_video(video_dir / "scene_crf38.mkv", options={"crf": "38"},
                                 **dict(kwargs, codec="libx264")), 0)
    other_codec = vpdq_hash(make_video(video_dir / "scene.webm", **dict(
        kwargs, codec="libvpx-vp9")), 0)
    for copy in (worse, other_codec):
        result = vpdq_match(original, copy)
        assert result.is_match() and result.query_match_percent == 100.0
    unrelated = vpdq_hash(video_path("vp9_30_webm"), 0)
    assert not vpdq_match(original, unrelated).is_match()
    assert vpdq_match([], original).query_match_percent == 0.0


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_vpdq_index_equals_pairwise_rule(seed):
    rng = np.random.default_rng(seed)
    listed = {}
    index = VPDQIndex()
    base = _random_video(rng, 20)
    for vid in range(12):
        feats = _random_video(rng, int(rng.integers(0, 25)), base=base if vid % 3 == 0 else None,
                              flips=int(rng.integers(0, 40)))
        listed[vid] = feats
        index.add(vid, feats)
    index.remove(6)
    del listed[6]
    query = _random_video(rng, 18, base=base, flips=int(rng.integers(0, 30)))
    expected = []
    for vid, feats in listed.items():
        r = vpdq_match(query, feats)
        if r.is_match(80.0, 0.0):
            expected.append((vid, r.query_match_percent, r.compared_match_percent))
    expected.sort(key=lambda m: (-m[1], m[0]))
    got = [(m.video_id, m.query_match_percent, m.compared_match_percent)
           for m in index.search(query)]
    assert got == expected
    everything = index.search(query, query_match_threshold=0.0)
    assert {m.video_id for m in everything} >= {m[0] for m in expected}


def test_match_thresholds_validated():
    with pytest.raises(ValueError):
        vpdq_match([], [], distance_threshold=-1)
    with pytest.raises(ValueError):
        VPDQIndex(quality_threshold=200)


BAD_PERCENTAGES = [math.nan, math.inf, -math.inf, -1, -0.001, 100.001, 1e9, True, "80", None]


@pytest.mark.parametrize("bad", BAD_PERCENTAGES)
@pytest.mark.parametrize("param", ["query_match_threshold", "compared_match_threshold"])
def test_vpdq_index_search_validates_its_percentages(param, bad):
    """Regression (fixed): VPDQIndex.search(f, query_match_threshold=nan) (or inf,
    -1, 1e9; compared_match_threshold too) silently returned nothing or everything;
    a threshold is a percentage in 0..100, refused by name otherwise, as
    vpdq_match refuses its thresholds."""
    rng = np.random.default_rng(5)
    feats = _random_video(rng, 10)
    index = VPDQIndex()
    index.add(1, feats)
    with pytest.raises(ValueError, match=f"^{param} must be a percentage"):
        index.search(feats, **{param: bad})
    with pytest.raises(ValueError, match=f"^{param} must be a percentage"):
        vpdq_match(feats, feats).is_match(**{param: bad})
    for good in (0, 0.0, 50, 100, np.float32(80), np.int64(100)):
        got = [m.video_id for m in index.search(feats, **{param: good})]
        assert got == [1]  # the video itself: 100% both ways


@pytest.mark.parametrize("kwargs, name", [
    (dict(quality_threshold=-1), "quality_threshold"),
    (dict(quality_threshold=102), "quality_threshold"),
    (dict(quality_threshold=50.0), "quality_threshold"),
    (dict(quality_threshold=True), "quality_threshold"),
    (dict(distance_threshold=257), "distance_threshold"),
    (dict(distance_threshold=math.nan), "distance_threshold"),
    (dict(distance_threshold=-1), "distance_threshold"),
])
def test_vpdq_thresholds_name_their_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} must be an int in"):
        VPDQIndex(**kwargs)
    with pytest.raises(ValueError, match=f"^{name} must be an int in"):
        vpdq_match([], [], **kwargs)


# ----------------------------------------------------------------------------- bad input
def test_not_a_video(tmp_path):
    (tmp_path / "t.txt").write_text("hello, this is not a video\n" * 100)
    with pytest.raises(VideoError, match="not a video: text"):
        vpdq_hash(tmp_path / "t.txt")  # FFmpeg would render it as ANSI art
    (tmp_path / "r.bin").write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(VideoError, match="not a"):
        vpdq_hash(tmp_path / "r.bin")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError):
        vpdq_hash(tmp_path / "empty.mp4")
    with pytest.raises(VideoError):
        vpdq_hash(tmp_path / "missing.mp4")
    with pytest.raises(VideoError):
        vpdq_hash(b"\x00" * 10)


def test_an_image_is_not_a_video(tmp_path):
    from PIL import Image
    Image.new("RGB", (64, 64), (10, 200, 30)).save(tmp_path / "x.jpg")
    with pytest.raises(VideoError, match="not a video"):
        vpdq_hash(tmp_path / "x.jpg")


def test_audio_only(tmp_path):
    path = tmp_path / "a.wav"
    with av.open(str(path), "w") as out:
        s = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode():
            out.mux(p)
    with pytest.raises(VideoError, match="no video stream"):
        vpdq_hash(path)


def test_zero_frames(tmp_path):
    # an AVI with its headers and index written and not one frame (start_encoding
    # writes the headers; without it PyAV writes no file at all)
    path = tmp_path / "zero.avi"
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    with av.open(str(path)) as check:
        assert len(check.streams.video) == 1
    with pytest.raises(VideoError, match="no video frame could be decoded"):
        vpdq_hash(path)


def test_tiny_frames(tmp_path):
    path = make_video(tmp_path / "tiny.mkv", codec="ffv1", width=4, height=16,
                      pix_fmt="yuv444p", frames=3)
    with pytest.raises(VideoError, match="too small"):
        vpdq_hash(path)


def test_frames_over_the_pixel_limit(video_path):
    with pytest.raises(VideoError, match="max_pixels"):
        vpdq_hash(video_path("h264_25"), max_pixels=1000)
    assert len(vpdq_hash(video_path("h264_25"), max_pixels=None)) == 2


@pytest.mark.parametrize("rate", [0.0, float("nan"), float("inf")])
def test_absurd_frame_rates(video_path, monkeypatch, rate):
    monkeypatch.setattr(tv, "_frame_rate", lambda stream: rate)
    with pytest.raises(VideoError, match="frame rate"):
        vpdq_hash(video_path("h264_25"))


def test_huge_frame_rate_hashes_frame_zero(video_path, monkeypatch):
    monkeypatch.setattr(tv, "_frame_rate", lambda stream: 1e12)
    res = vpdq_hash(video_path("h264_25"), 1.0)
    assert [f.frame_number for f in res] == [0]
    assert math.isfinite(res[0].timestamp)


@pytest.mark.parametrize("name", ["vp9_30_webm", "audio_first_mkv", "vfr_mkv"])
def test_truncated_streams_keep_frames_and_flag(video_path, tmp_path, name):
    data = open(video_path(name), "rb").read()
    full = _lines(vpdq_hash(video_path(name), 0))
    cut = tmp_path / f"cut{os.path.splitext(video_path(name))[1]}"
    cut.write_bytes(data[:int(len(data) * 0.6)])
    try:
        res = vpdq_hash(cut, 0)
    except VideoError:
        return  # nothing decodable left: a clear error is the right answer
    assert not res.ok and "truncated" in res.error
    assert 0 < len(res) < len(full)
    got = _lines(res)
    # frames before the cut are hashed as in the full file (the last may be damaged)
    assert got[:-2] == full[:len(got) - 2]
    with pytest.raises(VideoError, match="truncated"):
        vpdq_hash(cut, 0, strict=True)


def test_truncated_mp4_is_a_clear_error(video_path, tmp_path):
    data = open(video_path("h264_25"), "rb").read()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError):
        vpdq_hash(tmp_path / "cut.mp4")


def test_faststart_mp4_truncated(video_path, tmp_path):
    src = video_path("h264_25")
    fast = tmp_path / "fast.mp4"
    with av.open(src) as inp, av.open(str(fast), "w", options={"movflags": "faststart"}) as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            packet.stream = s_out
            out.mux(packet)
    assert _lines(vpdq_hash(fast, 0)) == _lines(vpdq_hash(src, 0))
    data = fast.read_bytes()
    (tmp_path / "fast_cut.mp4").write_bytes(data[: int(len(data) * 0.7)])
    res = vpdq_hash(tmp_path / "fast_cut.mp4", 0)
    assert not res.ok and 0 < len(res) < 40


def test_stream_without_a_decoder(video_path):
    # found by test_corrupt_bytes_never_crash: one byte of an MJPEG Matroska file
    # (offset 343) turns the codec id into one FFmpeg cannot decode
    raw = bytearray(open(video_path("mjpeg_full_range"), "rb").read())
    raw[343] = 0
    with pytest.raises(VideoError):
        vpdq_hash(bytes(raw), 0)


@given(data=st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_corrupt_bytes_never_crash(video_path, data):
    name = data.draw(st.sampled_from(["h264_25", "vp9_30_webm", "mpeg4_30", "mjpeg_full_range"]))
    raw = bytearray(open(video_path(name), "rb").read())
    for _ in range(data.draw(st.integers(1, 20))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        res = vpdq_hash(bytes(raw), 0)
    except VideoError:
        return
    assert all(len(f.hex) == 64 and 0 <= f.quality <= 100 for f in res)
    assert [f.frame_number for f in res] == sorted({f.frame_number for f in res})


def test_garbage_in_the_middle_is_flagged_or_concealed(video_path, tmp_path):
    raw = bytearray(open(video_path("h264_25"), "rb").read())
    mid = len(raw) // 2
    raw[mid:mid + 2000] = bytes(2000)
    path = tmp_path / "zeroed.mp4"
    path.write_bytes(bytes(raw))
    res = vpdq_hash(path, 0)  # must not raise: frames before the damage are there
    assert len(res) >= 10


def test_pdq_hash_strided_checks_its_buffer():
    buf = np.zeros(100, np.uint8)
    with pytest.raises(ValueError):
        tidehash._native.pdq_hash_strided(buf, 10, 10, 30, 3, 0)  # 10 rows of 30 > 100 bytes
    with pytest.raises(ValueError):
        tidehash._native.pdq_hash_strided(buf, 5, 10, 20, 3, 0)  # stride < 10 px * 3
    with pytest.raises(ValueError):
        tidehash._native.pdq_hash_strided(buf, 0, 10, 30, 3, 0)



# ----------------------------------------------------------------------------- hash_file
def test_hash_file_tells_videos_from_images_by_content(video_path, tmp_path):
    import hashlib

    from PIL import Image

    src = video_path("h264_2997")
    data = open(src, "rb").read()
    renamed = tmp_path / "holiday.jpg"  # the name lies; the content decides
    renamed.write_bytes(data)
    rec = tidehash.hash_file(renamed, algorithms=("pdq", "md5", "sha256"))
    assert rec.ok and rec.kind == "video" and rec.pdq is None and rec.warning is None
    assert _lines(rec.vpdq) == _lines(vpdq_hash(src))
    assert rec.md5 == hashlib.md5(data).hexdigest()
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    with open(src, "rb") as f:  # a file object: digests and vPDQ from the same read
        rec_f = tidehash.hash_file(f, algorithms=("vpdq", "md5"), seconds_per_hash=0)
    assert _lines(rec_f.vpdq) == _lines(vpdq_hash(src, 0))
    assert rec_f.md5 == hashlib.md5(data).hexdigest()
    with pytest.raises(tidehash.DecodeError, match="not a recognised image"):
        tidehash.hash_file(data, algorithms=("phash",))  # pHash is for images only
    d = rec.to_dict()
    assert d["kind"] == "video" and d["vpdq"][0]["pdq"] == rec.vpdq[0].hex
    img = tmp_path / "clip.mp4"  # an image named like a video
    Image.new("RGB", (80, 60), (200, 10, 10)).save(img, format="PNG")
    rec_i = tidehash.hash_file(img, algorithms=("pdq", "vpdq"))
    assert rec_i.kind == "image" and rec_i.pdq is not None and rec_i.vpdq is None
    only = tidehash.hash_file(img, algorithms=("vpdq", "md5"))  # recognised, not decoded
    assert only.kind == "image" and only.vpdq is None and only.pdq is None
    assert only.md5 == hashlib.md5(img.read_bytes()).hexdigest()


def test_hash_files_mixed_batch(video_path, tmp_path):
    from PIL import Image

    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "a.png")
    (tmp_path / "b.txt").write_text("not an image, not a video\n" * 20)
    data = open(video_path("vp9_30_webm"), "rb").read()
    (tmp_path / "c.webm").write_bytes(data)
    (tmp_path / "d.webm").write_bytes(data[: int(len(data) * 0.6)])  # truncated
    paths = [tmp_path / n for n in ("a.png", "b.txt", "c.webm", "d.webm")]
    recs = list(tidehash.hash_files(paths, workers=2, algorithms=("pdq", "md5")))
    assert [r.kind for r in recs] == ["image", None, "video", "video"]
    assert recs[1].error == "not a recognised image or video format"
    assert recs[2].warning is None and len(recs[2].vpdq) == 2
    assert recs[3].ok and "truncated" in recs[3].warning and recs[3].md5 is not None
    assert len(recs[3].vpdq) == 1


def test_cli_hashes_a_video_and_benchmarks_video(video_path, tmp_path):
    from test_cli import cli

    path = video_path("h264_25")
    r = cli("hash", path)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["kind"] == "video"
    assert [f["pdq"] for f in rec["vpdq"]] == [f.hex for f in vpdq_hash(path)]
    r = cli("bench", "video", "--video", path, "--repeat", "1", "--json", tmp_path / "v.json")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["frames"] == 40 and report["ratios"]["tidehash_1fps_over_decode_only"] > 0


def test_a_cut_mp4_is_a_truncated_video_not_an_unknown_format(tmp_path):
    """Regression (fixed): an MP4 whose moov box is at the end, cut before it, was "not a
    recognised image or video format"; it starts like a video container, so it is a
    truncated or damaged video. A file that does not start like one stays unknown."""
    video = make_video(tmp_path / "v.mp4", frames=50)
    data = open(video, "rb").read()
    assert data[4:8] == b"ftyp" and data.rfind(b"moov") > len(data) // 2  # moov at the end
    for cut in (16, len(data) // 3, len(data) // 2, data.rfind(b"moov") - 4):
        p = tmp_path / f"cut{cut}.mp4"
        p.write_bytes(data[:cut])
        (rec,) = tidehash.hash_files([p], algorithms=("pdq", "md5"))
        assert rec.error.startswith("truncated or damaged video"), (cut, rec.error)
        with pytest.raises(VideoError, match="truncated or damaged video"):
            vpdq_hash(p)
        with open(p, "rb") as f, pytest.raises(VideoError, match="truncated or damaged"):
            vpdq_hash(f)
    other = tmp_path / "other.bin"
    other.write_bytes(b"\x00\x01" * 500)
    (rec,) = tidehash.hash_files([other])
    assert rec.error == "not a recognised image or video format"
