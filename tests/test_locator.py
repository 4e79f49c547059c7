"""SpotLocator: every spot of every frame, as a table of localisations."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from pixel_regressor import (
    BrightPixelRegressor,
    SpotLocator,
    _psf,
    make_spot_frames,
)
from pixel_regressor.locator import LOCATION_COLUMNS, truth_per_frame


def _frames(spots, *, n_frames=1, shape=(48, 48), background=10.0, sigma=1.3, seed=0):
    """Photon-count frames, each with the same ``spots`` ((row, col, photons))."""
    rng = np.random.default_rng(seed)
    mu = np.full(shape, background)
    spots = np.asarray(spots, dtype=float).reshape(-1, 3)
    if len(spots):
        share = _psf.expected_counts(shape, spots[:, :2], sigma, spots[:, 2], 0.0)
        mu = mu + share.sum(0)
    return rng.poisson(mu, size=(n_frames, *shape)).astype(np.float32)


def _nearest(table, position):
    distance = np.hypot(table.row - position[0], table.col - position[1])
    return int(np.argmin(distance)), float(distance.min())


@pytest.fixture(scope="module")
def locator():
    """A locator over a tiny spot head trained on simulated crops, once."""
    frames = np.zeros((1, 32, 32))
    return SpotLocator(
        BrightPixelRegressor(head="spot", filters=(4,), epochs=2),
        camera=None,
        psf_sigma=1.3,
        photons=(500.0, 3000.0),
        background=(5.0, 20.0),
        training_size=600,
        random_state=0,
    ).fit(frames)


@pytest.fixture(scope="module")
def movie():
    return make_spot_frames(
        12, shape=(48, 48), density=3, photons=(500, 3000), random_state=1
    )


def test_table_of_localisations(locator, movie):
    frames, truth = movie
    table = locator.locate(frames)
    assert list(table.columns) == list(LOCATION_COLUMNS)
    assert table.frame.is_monotonic_increasing
    assert table.frame.dtype == np.int64 and table.close_pair.dtype == bool
    assert (table[["row_std", "col_std"]] > 0).all().all()
    # Frame coordinates: each localisation near a true spot of its frame.
    from pixel_regressor.metrics import jaccard_index

    assert jaccard_index(truth, table, radius=2.0) > 0.7
    assert locator.estimator_.head == "spot"
    assert locator.psf_sigma_ == 1.3 and locator.threshold_ > 4


def test_spots_at_the_edge_are_localised(locator):
    spots = [(0.3, 20.0, 2000), (47.0, 0.2, 2000), (25.0, 47.4, 2000), (24, 24, 2000)]
    table = locator.locate(_frames(spots, seed=4))
    for row, col, _ in spots:
        assert _nearest(table, (row, col))[1] < 1.0


def test_brighter_neighbour_does_not_capture_the_centre_spot(locator):
    # A 1.5x brighter spot 5 px away from each: both are localised.
    spots = [(20.2, 20.4, 1000), (20.0, 25.4, 1500)]
    frames = _frames(spots, n_frames=10, seed=5)
    table = locator.locate(frames)
    for frame in range(10):
        rows = table[table.frame == frame]
        for row, col, _ in spots:
            assert _nearest(rows, (row, col))[1] < 1.0


def test_merged_pair_is_flagged_with_wide_deviations(locator):
    spots = [(20.0, 19.0, 2000), (20.0, 21.5, 2000), (10.0, 35.0, 2000)]
    table = locator.locate(_frames(spots, n_frames=5, seed=6))
    for frame in range(5):
        rows = table[table.frame == frame].reset_index(drop=True)
        pair, _ = _nearest(rows, (20.0, 20.25))
        alone, _ = _nearest(rows, (10.0, 35.0))
        assert rows.close_pair[pair] and not rows.close_pair[alone]
        # Half the distance between the two, along their axis.
        assert rows.col_std[pair] > 0.8


def test_empty_frames_give_an_empty_table(locator):
    for frames in (np.zeros((2, 32, 32)), np.full((1, 16, 16), 5.0)):
        table = locator.locate(frames)
        assert list(table.columns) == list(LOCATION_COLUMNS) and len(table) == 0


def test_batches_memmaps_and_lazy_readers_give_one_table(locator, movie, tmp_path):
    frames, _ = movie
    whole = locator.locate(frames)
    in_ones = locator.set_params(batch_frames=1).locate(frames)
    locator.set_params(batch_frames=64)
    pd.testing.assert_frame_equal(in_ones, whole)
    path = tmp_path / "movie.npy"
    np.save(path, frames)
    pd.testing.assert_frame_equal(locator.locate(np.load(path, mmap_mode="r")), whole)

    class Reader:  # len() and slicing only, as a lazy TIFF reader
        def __len__(self):
            return len(frames)

        def __getitem__(self, index):
            return frames[index]

    pd.testing.assert_frame_equal(locator.locate(Reader()), whole)


def test_grid_search_over_the_false_alarm_rate(locator, movie):
    frames, truth = movie
    y = truth_per_frame(truth, len(frames))
    search = GridSearchCV(
        SpotLocator(FrozenEstimator(locator.estimator_), psf_sigma=1.3),
        {"false_alarm_rate": [1e-8, 1e-6, 1e-3]},
        cv=2,
    ).fit(frames, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores <= 1)
    # A low threshold finds blobs of noise.
    assert scores[2] < max(scores[:2])
    assert search.best_params_["false_alarm_rate"] != 1e-3
    # The score from a truth table equals the one from per-frame truth.
    assert locator.score(frames, truth) == pytest.approx(locator.score(frames, y))


def test_truth_per_frame_splits_the_table():
    truth = pd.DataFrame({"frame": [2, 0, 0], "row": [1.0, 2, 3], "col": [4.0, 5, 6]})
    y = truth_per_frame(truth, 4)
    assert [len(entry) for entry in y] == [2, 0, 1, 0]
    np.testing.assert_array_equal(y[0], [[2, 5], [3, 6]])
    with pytest.raises(ValueError, match="frame"):
        truth_per_frame(truth, 2)
    with pytest.raises(TypeError, match="DataFrame"):
        truth_per_frame(np.zeros((3, 3)), 3)


def test_psf_width_is_measured(locator):
    frames, _ = make_spot_frames(
        8,
        shape=(96, 96),
        density=2,
        photons=(1000, 3000),
        psf_sigma=1.6,
        random_state=2,
    )
    # A fitted model: only the width is measured, on the frames as they are.
    again = SpotLocator(locator.estimator_, psf_sigma="auto").fit(frames)
    assert again.psf_sigma_ == pytest.approx(1.6, rel=0.05)
    assert again.camera_ is None and again.conditions_.n_spots >= 5
    assert again.std_scale_.tolist() == [1.0] * 12 and again.detection_ranges_ is None


def test_unfitted_and_bad_parameters_are_refused(locator):
    with pytest.raises(NotFittedError):
        SpotLocator().locate(np.zeros((1, 16, 16)))
    frames = np.zeros((1, 16, 16))
    with pytest.raises(ValueError, match="box_size"):
        SpotLocator(locator.estimator_, box_size=10, psf_sigma=1.3).fit(frames)
    with pytest.raises(ValueError, match="head"):
        SpotLocator(BrightPixelRegressor(head="dense"), psf_sigma=1.3).fit(frames)
    with pytest.raises(TypeError, match="BrightPixelRegressor"):
        SpotLocator(object(), psf_sigma=1.3).fit(frames)
    with pytest.raises(ValueError, match="photons"):
        SpotLocator(photons=(10, 1), psf_sigma=1.3).fit(frames)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        SpotLocator(false_alarm_rate=0).fit(frames)
    with pytest.raises(ValueError, match="camera"):
        SpotLocator(camera="sCMOS", psf_sigma=1.3).fit(frames)
    with pytest.raises(ValueError, match="background"):
        SpotLocator(background="measured", psf_sigma=1.3).fit(frames)
    with pytest.raises(ValueError, match="gain"):
        SpotLocator(camera={"gain": -1}, photons=(1, 2), psf_sigma=1.3).fit(frames)
    with pytest.raises(TypeError, match="frames"):
        locator.locate("movie.tif")


def test_a_fitted_estimator_is_used_as_it_is(locator):
    again = SpotLocator(locator.estimator_, psf_sigma=1.3).fit(np.zeros((1, 8, 8)))
    assert again.estimator_ is locator.estimator_


@pytest.fixture(scope="module")
def camera_movie():
    """An sCMOS-like movie the locator is not told about: 2.2 ADU/e-, offset 100."""
    return make_spot_frames(
        40,
        shape=(64, 64),
        density=3,
        photons=(500, 3000),
        background=(10, 50),
        psf_sigma=1.4,
        gain=2.2,
        offset=100,
        read_noise=1.0,
        random_state=3,
    )


@pytest.fixture(scope="module")
def calibrated(camera_movie):
    """A locator fitted on the movie alone: camera, conditions, training."""
    frames, _ = camera_movie
    return SpotLocator(
        BrightPixelRegressor(head="spot", filters=(4,), epochs=2),
        training_size=600,
        random_state=0,
    ).fit(frames)


def test_fit_calibrates_itself_from_the_frames(calibrated, camera_movie):
    frames, truth = camera_movie
    locator = calibrated
    assert locator.camera_.gain == pytest.approx(2.2, rel=0.1)
    assert abs(locator.camera_.offset - 100) < 3
    assert locator.psf_sigma_ == pytest.approx(1.4, rel=0.05)
    low, high = locator.photons_range_
    assert low < 500 and high > 3000
    assert locator.background_range_[0] < 10 < 50 < locator.background_range_[1]
    assert 1 <= locator.density_ <= 4
    # Printable figures.
    assert "ADU/e-" in repr(locator.camera_) and "psf_sigma" in repr(
        locator.conditions_
    )
    table = locator.locate(frames)
    # Photons and background in photoelectrons, not ADU.
    from pixel_regressor.metrics import jaccard_index, match_localizations

    assert jaccard_index(truth, table, radius=2.0) > 0.8
    true_index, loc_index, _ = match_localizations(truth, table, radius=2.0)
    ratio = table.photons.to_numpy()[loc_index] / truth.photons.to_numpy()[true_index]
    assert 0.7 < np.median(ratio) < 1.3
    assert 8 < table.background.median() < 55


def test_deviations_are_recalibrated_on_a_simulated_movie(calibrated, camera_movie):
    locator = calibrated
    scale = locator.std_scale_
    assert scale.shape == (12,) and np.all(scale > 0) and np.any(scale != 1)
    assert locator.detection_ranges_.shape == (4, 2)
    # On the movie itself, the z-scores' spread is about 1.
    frames, truth = camera_movie
    from pixel_regressor.metrics import match_localizations

    table = locator.locate(frames)
    true_index, loc_index, _ = match_localizations(truth, table, radius=2.0)
    z = np.concatenate(
        [
            (table.row.to_numpy()[loc_index] - truth.row.to_numpy()[true_index])
            / table.row_std.to_numpy()[loc_index],
            (table.col.to_numpy()[loc_index] - truth.col.to_numpy()[true_index])
            / table.col_std.to_numpy()[loc_index],
        ]
    )
    assert 0.75 < np.std(z) < 1.33


def test_a_movie_outside_the_calibration_warns(calibrated, camera_movie):
    from pixel_regressor.exceptions import OutsideTrainingWarning

    frames, _ = camera_movie
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibrated.locate(frames)
    # Another offset: the background and the noise over it move.
    with pytest.warns(OutsideTrainingWarning, match="noise over their background"):
        calibrated.locate(frames + 300)
    wider, _ = make_spot_frames(
        40,
        shape=(64, 64),
        density=1,
        photons=(2000, 3000),
        background=(10, 50),
        psf_sigma=2.4,
        gain=2.2,
        offset=100,
        read_noise=1.0,
        random_state=4,
    )
    with pytest.warns(OutsideTrainingWarning, match="spot widths outside"):
        calibrated.locate(wider)


def test_a_camera_that_cannot_be_measured_is_refused():
    # One background level: the gain cannot be told from the offset.
    frames, _ = make_spot_frames(
        12, shape=(48, 48), density=2, photons=2000, background=20, random_state=5
    )
    with pytest.raises(ValueError, match="camera=None"):
        SpotLocator(training_size=10).fit(frames)


def test_a_calibrated_locator_is_saved_and_loaded(calibrated, camera_movie, tmp_path):
    from pixel_regressor import load_locator

    calibrated.save(tmp_path / "locator")
    again = load_locator(tmp_path / "locator")
    assert again.camera_ == calibrated.camera_
    assert again.conditions_.psf_sigma == calibrated.conditions_.psf_sigma
    pd.testing.assert_frame_equal(again.conditions_.spots, calibrated.conditions_.spots)
    np.testing.assert_array_equal(again.std_scale_, calibrated.std_scale_)
    frames, _ = camera_movie
    pd.testing.assert_frame_equal(again.locate(frames), calibrated.locate(frames))


def test_a_locator_trained_on_a_sampled_psf(tmp_path):
    from pixel_regressor import SampledPSF, load_locator

    # A ring-like PSF: a Gaussian less a narrower one, sampled 3x finer.
    axis = (np.arange(45) - 22) / 3
    rr, cc = np.meshgrid(axis, axis, indexing="ij")
    r2 = rr**2 + cc**2
    psf = SampledPSF(np.exp(-r2 / (2 * 1.8**2)) - 0.6 * np.exp(-r2 / 2), 3)
    frames, truth = make_spot_frames(
        12, shape=(48, 48), density=2, photons=(1000, 3000), psf=psf, random_state=8
    )
    locator = SpotLocator(
        BrightPixelRegressor(head="spot", filters=(4,), epochs=2),
        camera=None,
        psf=psf,
        photons=(1000.0, 3000.0),
        background=(5.0, 20.0),
        training_size=600,
        random_state=0,
    ).fit(frames)
    assert locator.psf_sigma_ == pytest.approx(psf.sigma)
    np.testing.assert_array_equal(locator.psf_sigma_range_, [psf.sigma] * 2)
    from pixel_regressor.metrics import jaccard_index

    table = locator.locate(frames)
    assert jaccard_index(truth, table, radius=2.0) > 0.7
    locator.save(tmp_path / "locator")
    again = load_locator(tmp_path / "locator")
    np.testing.assert_array_equal(again.psf.image, psf.image)
    pd.testing.assert_frame_equal(again.locate(frames), table)
    with pytest.raises(ValueError, match="psf_sigma"):
        SpotLocator(psf=psf, psf_sigma=1.3).fit(frames)
    with pytest.raises(TypeError, match="SampledPSF"):
        SpotLocator(psf=np.ones((5, 5)), camera=None).fit(frames)


def test_a_loaded_calibrated_locator_refits_with_its_camera(
    calibrated, camera_movie, tmp_path
):
    from pixel_regressor import load_locator

    calibrated.save(tmp_path / "locator")
    again = load_locator(tmp_path / "locator")
    assert again.camera is again.camera_
    frames, _ = camera_movie
    # A new threshold: the model is kept, and still given photoelectrons.
    again.set_params(false_alarm_rate=1e-5).fit(frames)
    assert again.estimator_ is not calibrated.estimator_
    assert again.camera_ == calibrated.camera_
    table = again.locate(frames)
    assert 8 < table.background.median() < 55
