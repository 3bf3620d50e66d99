"""--input VIDEO streams (issue 22): frames are (file, index) items decoded in the worker, the
same frame for every model and every order, with memory of one frame per reader. Real videos,
written with cv2.VideoWriter in MJPG (every frame a key frame) and mp4v (groups of frames)."""

from __future__ import annotations

import csv
import dataclasses
import random
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from cvbench.work import video
from cvbench.workloads import video_index
from cvbench.workloads.sources import InputError, check_input, is_video
from cvbench.workloads.spec import load_spec
from tests.helpers import CVBENCH, ROOT, assert_one_error_line, write_video


def sequential_frames(path: Path) -> list[np.ndarray]:
    cap = video.open_video(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


@pytest.fixture(scope="module", params=[("MJPG", ".avi"), ("mp4v", ".mp4")])
def clip(request, tmp_path_factory) -> Path:
    fourcc, suffix = request.param
    return write_video(tmp_path_factory.mktemp("video") / f"clip{suffix}", 70, fourcc=fourcc)


def test_scan_counts_every_frame_and_keeps_none(clip):
    index = video_index.scan(str(clip))
    frames = sequential_frames(clip)
    assert index.frames == len(frames) == 70
    assert (index.width, index.height) == (96, 64)
    assert len(index.anchors) == -(-70 // video.SEGMENT)
    assert index.anchors[1] == video.fingerprint(frames[video.SEGMENT])


@pytest.mark.parametrize("order", ["forward", "backward", "random", "strided"])
def test_any_order_gives_the_sequential_frames(clip, order):
    """Pool chunks, interleaved workers and new repetitions all ask in different orders."""
    frames = sequential_frames(clip)
    refs = list(video_index.scan(str(clip)).refs())
    if order == "backward":
        refs.reverse()
    elif order == "random":
        random.Random(3).shuffle(refs)
    elif order == "strided":
        refs = refs[::5] + refs[1::5] + refs[::-7]
    for ref in refs:
        assert np.array_equal(ref.load(), frames[ref.index]), ref.index
    video.close_readers()


def test_a_seek_that_lands_elsewhere_is_never_used(clip):
    """A file whose seeks are not frame-exact (here: anchors that never match) is read
    forward instead, and every frame is still the right one."""
    frames = sequential_frames(clip)
    refs = [dataclasses.replace(r, anchor_fp="0" * 24) for r in video_index.scan(str(clip)).refs()]
    order = list(range(len(refs)))
    random.Random(1).shuffle(order)
    for i in order[:25]:
        assert np.array_equal(refs[i].load(), frames[i])
    reader = video._reader(str(clip))
    assert not reader.seekable
    video.close_readers()


def test_threads_each_have_their_reader(clip):
    frames = sequential_frames(clip)
    refs = video_index.scan(str(clip)).refs()
    bad: list[int] = []

    def work(part: tuple[video.VideoFrame, ...]) -> None:
        for ref in part:
            if not np.array_equal(ref.load(), frames[ref.index]):
                bad.append(ref.index)
        video.close_readers()

    threads = [threading.Thread(target=work, args=(refs[k::3],)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert bad == []
    video.close_readers()
    assert not video._open  # a thread's files close when its job ends; dead threads' too


def test_a_frame_that_is_gone_is_one_line(tmp_path):
    path = write_video(tmp_path / "short.avi", 20)
    refs = video_index.scan(str(path)).refs()
    write_video(path, 5)  # the file changed under the run
    with pytest.raises(video.VideoError, match="frame 17 cannot be read"):
        refs[17].load()
    video.close_readers()


def test_a_video_has_no_file_size_ceiling_but_an_image_does(tmp_path, monkeypatch):
    from cvbench.work import inputs
    from cvbench.workloads import sources

    clip = write_video(tmp_path / "v.avi", 10)
    png = tmp_path / "p.png"
    cv2.imwrite(str(png), np.zeros((8, 8, 3), np.uint8))
    monkeypatch.setattr(inputs, "FILE_CEILING", 16)  # both files are larger than this
    assert is_video(str(clip)) and not is_video(str(png))
    sources.input_files(str(clip))
    with pytest.raises(InputError, match="limit for one image file"):
        sources.input_files(str(png))


def test_too_many_frames_is_one_line(tmp_path, monkeypatch):
    clip = write_video(tmp_path / "long.avi", 40)
    monkeypatch.setattr(video_index, "MAX_VIDEO_FRAMES", 30)
    video_index.scan.cache_clear()
    with pytest.raises(video_index.VideoInputError, match="more than 30 frames"):
        video_index.scan(str(clip))


def test_frames_above_the_image_ceiling_are_refused_from_the_header(tmp_path, monkeypatch):
    from cvbench.work import inputs

    clip = write_video(tmp_path / "big.avi", 3, size=(320, 240))
    monkeypatch.setattr(inputs, "IMAGE_CEILING", 320 * 240 * 3 - 1)
    video_index.scan.cache_clear()
    with pytest.raises(video_index.VideoInputError, match="memory ceiling for one image"):
        video_index.scan(str(clip))


def test_not_a_video_is_one_line(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)
    res = subprocess.run(
        [*CVBENCH, "run", "--quick", "-m", "sequential", "--input", str(junk)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert_one_error_line(res, "junk.mp4", "not a readable image or video file")


def test_a_text_file_named_png_is_one_line_without_ffmpegs_noise(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image\n")
    res = subprocess.run(
        [*CVBENCH, "run", "--quick", "-m", "sequential", "--input", str(bad)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert_one_error_line(res, "bad.png", "not a readable image or video file")
    assert "@ 0x" not in res.stderr  # "[png @ 0x…] Invalid PNG signature" from FFmpeg


def test_threshold_io_tiles_of_a_video_are_bounded_before_writing(tmp_path, monkeypatch):
    from cvbench.workloads import bounds

    clip = write_video(tmp_path / "v.avi", 40)
    io_spec, spec = load_spec("threshold-io"), load_spec("threshold")
    monkeypatch.setattr(bounds, "TILE_FILES_CEILING", 20 * bounds.file_bytes(96 * 64 * 3))
    with pytest.raises(InputError, match="the 40 frames of 96x64 take ~.* ceiling"):
        check_input(str(clip), None, [io_spec])
    check_input(str(clip), None, [spec])  # streamed: nothing written


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["predicted"] == "false"]


@pytest.mark.slow
@pytest.mark.parametrize("fourcc,suffix", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_every_model_gets_the_same_frames(tmp_path, fourcc, suffix):
    """Threads, process pools (chunks), one-item-per-task pools, workers that claim items
    themselves, an inline loop and the frame stream: one digest, the sequential one, which is
    the op on each frame of a plain sequential read."""
    from cvbench.work import ops
    from cvbench.work.digest import combine_digests, digest_array

    clip = write_video(tmp_path / f"v{suffix}", 90, size=(160, 96), fourcc=fourcc)
    res = subprocess.run(
        [*CVBENCH, "run", "--input", str(clip), "-w", "threshold,threshold-io,frames",
         "--fps", "1000", "-m",
         "sequential,threads,processes,processes+shm,processes+zerocopy,asyncio,kernel-proc",
         "--workers", "2", "--repeat", "2", "--warmup", "0",
         "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    rows = _rows(tmp_path / "r.csv")
    for workload in ("threshold", "threshold-io", "frames"):
        mine = [r for r in rows if r["workload"] == workload]
        assert mine and all(r["ok"] == "true" and r["items"] == "90" for r in mine), mine
        assert len({r["output_digest"] for r in mine}) == 1, workload
    direct = combine_digests([digest_array(ops.threshold(f)) for f in sequential_frames(clip)])
    assert {r["output_digest"] for r in rows if r["workload"] == "threshold"} == {direct}


def test_grid_on_a_video_keeps_tiles_bounded_and_refuses_from_the_header(tmp_path, monkeypatch):
    """--grid keeps every tile in memory (its items are arrays): within RESIDENT_CEILING,
    refused from the container's frame count before decoding when it cannot be."""
    from cvbench.workloads import sources

    clip = write_video(tmp_path / "g.avi", 20)
    spec = load_spec("threshold")
    sources.check_input(str(clip), (2, 2), [spec])
    monkeypatch.setattr(sources, "RESIDENT_CEILING", 19 * 96 * 64 * 3)
    sources.read_inputs.cache_clear()
    with pytest.raises(InputError, match="the 20 frames of 96x64 to cut into tiles take more"):
        check_input(str(clip), (2, 2), [spec])
