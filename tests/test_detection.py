"""Detection: a matched filter and local maxima above each frame's noise."""

import numpy as np
import pandas as pd
import pytest

from pixel_regressor import _psf, make_spot_frames
from pixel_regressor.detection import (
    DETECTION_COLUMNS,
    detect_spots,
    false_alarm_threshold,
)


def _frames(spots, *, n_frames=1, shape=(64, 64), background=10.0, sigma=1.3, seed=0):
    """Photon-count frames, each with the same ``spots`` ((row, col, photons))."""
    rng = np.random.default_rng(seed)
    mu = np.full(shape, background)
    if len(spots):
        spots = np.asarray(spots, dtype=float)
        mu = mu + _psf.expected_counts(
            shape, spots[:, :2], sigma, spots[:, 2], 0.0
        ).sum(0)
    return rng.poisson(mu, size=(n_frames, *shape)).astype(np.float32)


def _nearest(table, frame, position):
    rows = table[table.frame == frame]
    distance = np.hypot(rows.row - position[0], rows.col - position[1])
    return distance.min() if len(rows) else np.inf


def test_known_spots_are_found_and_nothing_else():
    spots = [(10.3, 12.6, 800), (40.0, 50.2, 1500), (30.7, 20.1, 400)]
    frames = _frames(spots, n_frames=5)
    table = detect_spots(frames, psf_sigma=1.3)
    assert list(table.columns) == list(DETECTION_COLUMNS)
    assert len(table) == 15
    for frame in range(5):
        for row, col, _ in spots:
            assert _nearest(table, frame, (row, col)) <= 1.0
    # Brighter spots score higher, and their signal is read off the filter.
    first = table[table.frame == 0].sort_values("score")
    assert first.row.tolist() == [31, 10, 40]
    assert first.photons.iloc[-1] == pytest.approx(1500, rel=0.25)
    assert table.background.between(8, 12).all()


def test_few_false_alarms_on_noise_whatever_the_camera():
    rng = np.random.default_rng(1)
    counts = rng.poisson(20.0, size=(30, 64, 64)).astype(np.float64)
    adu = 100 + 2.2 * counts
    in_counts = detect_spots(counts, psf_sigma=1.3, false_alarm_rate=1e-5)
    in_adu = detect_spots(adu, psf_sigma=1.3, false_alarm_rate=1e-5)
    # 1e-5 per pixel is 1.2 in these 30 frames for Gaussian noise.
    assert len(in_counts) <= 10
    # The threshold follows each frame's noise: the camera does not matter.
    pd.testing.assert_frame_equal(
        in_counts[["frame", "row", "col"]], in_adu[["frame", "row", "col"]]
    )
    np.testing.assert_allclose(in_counts.score, in_adu.score, rtol=1e-3)
    # Rounded to a 16-bit camera's integers, about as many.
    rounded = detect_spots(adu.astype(np.uint16), psf_sigma=1.3, false_alarm_rate=1e-5)
    assert abs(len(rounded) - len(in_counts)) <= 3
    # A higher false-alarm rate finds more blobs of noise.
    assert len(detect_spots(counts, psf_sigma=1.3, false_alarm_rate=1e-3)) > 3 * max(
        len(in_counts), 1
    )


def test_emccd_noise_keeps_false_alarms_few():
    rng = np.random.default_rng(2)
    electrons = rng.poisson(20.0, size=(30, 64, 64)).astype(np.float64)
    amplified = rng.gamma(np.maximum(electrons, 1e-12), 100.0) * (electrons > 0)
    frames = 100 + 0.5 * amplified
    # Its heavier tail gives more than Gaussian noise's 1.2, still few:
    # under one per 2,000 pixels.
    assert len(detect_spots(frames, psf_sigma=1.3, false_alarm_rate=1e-5)) <= 60


def test_spots_at_the_edge_are_found():
    spots = [(0.2, 30.0, 1000), (63.0, 0.4, 1000), (20.0, 63.3, 1000)]
    table = detect_spots(_frames(spots), psf_sigma=1.3)
    for row, col, _ in spots:
        assert _nearest(table, 0, (row, col)) <= 1.0


def test_empty_and_constant_frames_give_an_empty_table():
    for frames in (
        np.zeros((3, 32, 32)),
        np.full((2, 16, 16), 7.0),
        np.zeros((0, 8, 8)),
    ):
        table = detect_spots(frames)
        assert list(table.columns) == list(DETECTION_COLUMNS)
        assert len(table) == 0
        assert table.frame.dtype == np.int64 and table.score.dtype == np.float64


def test_batches_give_the_table_of_one_batch(tmp_path):
    frames = _frames([(10, 10, 600), (30, 40, 900)], n_frames=7, seed=3)
    whole = detect_spots(frames, batch_frames=64)
    pd.testing.assert_frame_equal(detect_spots(frames, batch_frames=2), whole)
    path = tmp_path / "frames.npy"
    np.save(path, frames)
    pd.testing.assert_frame_equal(detect_spots(np.load(path, mmap_mode="r")), whole)
    # One 2-D frame is a movie of one frame.
    pd.testing.assert_frame_equal(
        detect_spots(frames[0]), whole[whole.frame == 0].reset_index(drop=True)
    )


def test_threshold_of_a_false_alarm_rate():
    assert false_alarm_threshold(1e-5, 1.3) == pytest.approx(4.24, abs=0.01)
    assert false_alarm_threshold(1e-6, 1.3) > false_alarm_threshold(1e-5, 1.3)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        false_alarm_threshold(0.5, 1.3)


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="frames must have shape"):
        detect_spots(np.zeros((2, 3, 8, 8)))
    with pytest.raises(TypeError, match="frames must be"):
        detect_spots("movie.tif")
    frames = np.zeros((2, 8, 8))
    frames[1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        detect_spots(frames)
    with pytest.raises(ValueError, match="psf_sigma"):
        detect_spots(np.zeros((1, 8, 8)), psf_sigma=0)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        detect_spots(np.zeros((1, 8, 8)), false_alarm_rate=-1)


def _resident_file_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) / 1024
    pytest.skip("no RssFile in /proc/self/status")


@pytest.mark.skipif(not hasattr(__import__("mmap"), "MADV_DONTNEED"), reason="Linux")
def test_a_memory_mapped_movie_does_not_pile_up_in_memory(tmp_path):
    from pixel_regressor.detection import read_batch

    np.save(tmp_path / "movie.npy", np.ones((400, 256, 256), np.uint16))  # 50 MB
    movie = np.load(tmp_path / "movie.npy", mmap_mode="r")
    before = _resident_file_mb()
    for start in range(0, 400, 32):
        batch = read_batch(movie, start, start + 32)
        assert batch.dtype == np.float32 and batch.shape[1:] == (256, 256)
    assert _resident_file_mb() - before < 10
    # A copy-on-write map keeps its changes: its pages are not let go.
    edited = np.load(tmp_path / "movie.npy", mmap_mode="c")
    edited[5] = 7
    assert read_batch(edited, 0, 8)[5].max() == 7 and edited[5].max() == 7


def test_frames_filtered_in_threads_give_the_detections_of_one(monkeypatch):
    from pixel_regressor import detection

    frames, _ = make_spot_frames(
        5, shape=(512, 512), density=0.5, photons=(500, 3000), random_state=3
    )
    monkeypatch.setattr(detection, "_workers", lambda: 1)
    alone = detection.detect_batch(frames, 1.3, 5.0, 16)
    monkeypatch.setattr(detection, "_workers", lambda: 3)
    threaded = detection.detect_batch(frames, 1.3, 5.0, 16)
    for key in ("frame", "row", "col", "score", "noise", "background_map"):
        np.testing.assert_array_equal(threaded[key], alone[key])
