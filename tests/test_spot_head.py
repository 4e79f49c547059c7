"""``BrightPixelRegressor(head="spot")``: blurred spots near the Cramer-Rao bound."""

import warnings

import numpy as np
import pytest

from pixel_regressor import (
    BrightPixelRegressor,
    localization_crlb,
    make_bright_spot_dataset,
)

SIDE = 20


def _rmse_over_crlb(model, photons, hot_pixels=0, seed=1):
    X, y = make_bright_spot_dataset(
        1000, image_size=SIDE, photons=photons, hot_pixels=hot_pixels, random_state=seed
    )
    rmse = np.sqrt(np.mean((model.predict(X) - y) ** 2))
    crlb = localization_crlb(
        SIDE, psf_sigma=1.3, photons=photons, background=10, position=y
    )
    return rmse / np.sqrt(np.mean(crlb**2))


def test_fit_decays_the_learning_rate_and_partial_fit_keeps_it():
    X, y = make_bright_spot_dataset(256, image_size=SIDE, random_state=0)
    fitted = BrightPixelRegressor("spot", epochs=2, random_state=0).fit(X, y)
    # the cosine schedule reaches zero at the end of the fit
    assert float(fitted.model_.optimizer.learning_rate) == pytest.approx(0, abs=1e-7)
    stepped = BrightPixelRegressor("spot", random_state=0).partial_fit(X, y)
    assert float(stepped.model_.optimizer.learning_rate) == pytest.approx(0.01)


def test_read_out_is_the_identity_for_positions_and_a_map_otherwise():
    X, y = make_bright_spot_dataset(256, image_size=SIDE, random_state=0)
    fitted = BrightPixelRegressor("spot", epochs=1, random_state=0).fit(X, y)
    kernel, bias = fitted.model_.get_layer("readout").get_weights()
    np.testing.assert_array_equal(kernel, np.eye(2))
    np.testing.assert_array_equal(bias, np.zeros(2))
    scaled = BrightPixelRegressor("spot", epochs=1, random_state=0)
    scaled.fit(X, np.column_stack([y[:, 1], 2 * y[:, 0] + 5]))
    kernel, bias = scaled.model_.get_layer("readout").get_weights()
    np.testing.assert_allclose(kernel, [[0, 2], [1, 0]], atol=0.05)
    np.testing.assert_allclose(bias, [0, 5], atol=0.5)


def test_any_image_size_at_predict():
    X, y = make_bright_spot_dataset(256, image_size=SIDE, random_state=0)
    model = BrightPixelRegressor("spot", epochs=1, random_state=0).fit(X, y)
    other, _ = make_bright_spot_dataset(3, image_size=(24, 40), random_state=1)
    assert model.predict(other.reshape(3, 24, 40)).shape == (3, 2)


@pytest.mark.slow
def test_near_the_bound_with_the_defaults():
    X, y = make_bright_spot_dataset(4000, image_size=SIDE, photons=1000, random_state=0)
    model = BrightPixelRegressor("spot", random_state=0).fit(X, y)
    assert _rmse_over_crlb(model, 1000) < 1.15


@pytest.mark.slow
def test_hot_pixels_do_not_pull_it():
    side = 32
    X, y = make_bright_spot_dataset(
        4000, image_size=side, photons=1000, hot_pixels=3, random_state=0
    )
    model = BrightPixelRegressor("spot", random_state=0).fit(X, y)
    X_test, y_test = make_bright_spot_dataset(
        1000, image_size=side, photons=1000, hot_pixels=3, random_state=1
    )
    flat = X_test.argmax(axis=1)
    argmax = np.column_stack(np.divmod(flat, side))
    assert np.mean(np.linalg.norm(argmax - y_test, axis=1) > 3) > 0.5
    errors = np.linalg.norm(model.predict(X_test) - y_test, axis=1)
    assert np.mean(errors > 3) <= 0.01
    # away from the rare misses, near the bound of the same spot without them
    crlb = localization_crlb(
        side, psf_sigma=1.3, photons=1000, background=10, position=y_test
    )
    found = errors <= 3
    rmse = np.sqrt(np.mean(errors[found] ** 2) / 2)
    assert rmse / np.sqrt(np.mean(crlb[found] ** 2)) < 1.3


# ---------------------------------------------------------------------------
# predict(X, return_std=True)


@pytest.fixture(scope="module")
def spot_model():
    X, y = make_bright_spot_dataset(
        3000, image_size=SIDE, photons=(60, 3000), random_state=0
    )
    return BrightPixelRegressor("spot", epochs=3, random_state=0).fit(X, y)


def test_return_std_counts_the_spots_lost_in_the_noise(spot_model):
    # At 80 photons about one spot in a hundred is fainter than a blob of
    # noise elsewhere, and the model is off by pixels there. The deviations
    # weigh the other blobs of each image against the peak the model took:
    # the chances they give add up to about the number of misses, and the
    # z-scores of all the errors, misses included, spread about 1 (without
    # the other blobs, 1.7 and 1.6).
    from pixel_regressor import _uncertainty

    X, y = make_bright_spot_dataset(4000, image_size=SIDE, photons=80, random_state=9)
    pred, std = spot_model.predict(X, return_std=True)
    misses = np.sum(np.abs(pred - y).max(axis=1) > 3)
    assert misses >= 20
    images = X.reshape(-1, SIDE, SIDE, 1)
    expected = _uncertainty.statistics(images, spot_model.miss_odds_)[:, 3].sum()
    assert abs(expected - misses) < 3 * np.sqrt(misses), (expected, misses)
    z = (pred - y) / std
    assert np.all((z.std(axis=0) > 0.8) & (z.std(axis=0) < 1.25)), z.std(axis=0)
    # Bright spots have nowhere else to be.
    X, _ = make_bright_spot_dataset(200, image_size=SIDE, photons=1000, random_state=9)
    assert _uncertainty.statistics(X.reshape(-1, SIDE, SIDE, 1))[:, 3].max() < 1e-6


def test_return_std_of_two_equal_spots_spans_both():
    # Two equal spots 11 px apart on a row, mirror images of each other: the
    # model takes one, and the other is as likely; the column's deviation is
    # about half the distance (the root mean square of 0 and 11 px), the
    # row's stays small. Hot pixels, alone or in pairs, are not spots. A
    # checkerboard of +-1 is the noise, on which the hot pixels would be a
    # spot's 40 noise deviations out.
    from pixel_regressor import _psf, _uncertainty

    shape = (20, 24)
    noise = np.where(np.add.outer(np.arange(20), np.arange(24)) % 2, 1.0, -1.0)
    one = _psf.expected_counts(shape, np.array([[9.0, 6.0]]), 1.3, 2000.0, 10.0)
    two = one + _psf.expected_counts(shape, np.array([[9.0, 17.0]]), 1.3, 2000.0, 0)
    hot = one.copy()
    hot[0, 0, 20:22] = 2 * one.max()  # the smoothed peak stays the spot's
    hot[0, 15, 12] = 4 * one.max()
    images = (np.concatenate([one, two, hot]) + noise)[..., None]
    stats = _uncertainty.statistics(images)
    std = _uncertainty.predict(stats, [[1.0, 30.0, 0.0], [1.0, 30.0, 0.0]])
    np.testing.assert_allclose(stats[:, 3], [0.0, 0.5, 0.0], atol=1e-6)
    assert std[1, 1] == pytest.approx(np.sqrt(0.5 * 11**2), rel=0.02)
    np.testing.assert_allclose(stats[[0, 2], 4:7], 0.0, atol=1e-6)
    np.testing.assert_allclose(std[[0, 2]], std[[0, 0]], rtol=1e-3)
    assert std[1, 0] < 0.1
    # Through a read-out that swaps and scales the targets.
    swapped = _uncertainty.predict(
        stats, [[1.0, 30.0, 0.0]] * 2, readout=[[0.0, 2.0], [1.0, 0.0]]
    )
    assert swapped[1, 0] == pytest.approx(std[1, 1], rel=1e-6)


def test_return_std_is_calibrated_on_held_out_images(spot_model):
    # z-scores of held-out errors have a standard deviation near 1 per axis,
    # and the deviations follow the bound: larger for fainter spots.
    by_level = {}
    for photons in (300, 2000):
        X, y = make_bright_spot_dataset(
            1000, image_size=SIDE, photons=photons, random_state=5
        )
        pred, std = spot_model.predict(X, return_std=True)
        np.testing.assert_array_equal(pred, spot_model.predict(X))
        assert std.shape == pred.shape and np.all(std > 0)
        z = (pred - y) / std
        assert np.all((z.std(axis=0) > 0.75) & (z.std(axis=0) < 1.3)), z.std(axis=0)
        by_level[photons] = np.sqrt(np.mean(std**2))
    assert by_level[300] > 1.8 * by_level[2000]


def test_return_std_is_per_image_and_follows_the_photons(spot_model):
    spots = make_bright_spot_dataset(
        400, image_size=SIDE, photons=(200, 3000), return_X_y=False, random_state=6
    )
    _, std = spot_model.predict(spots.data, return_std=True)
    # brighter spots, smaller deviations: a strong negative rank correlation
    order = np.argsort(spots.photons)
    ranks = np.empty(len(order))
    ranks[order] = np.arange(len(order))
    std_ranks = np.argsort(np.argsort(std[:, 0]))
    assert np.corrcoef(ranks, std_ranks)[0, 1] < -0.8


def test_image_statistics_measure_signal_background_and_width():
    from pixel_regressor import _uncertainty

    for sigma, photons, background in [
        (1.0, 2000, 5.0),
        (2.0, 2000, 5.0),
        (1.5, 600, 40.0),
    ]:
        spots = make_bright_spot_dataset(
            400,
            image_size=24,
            psf_sigma=sigma,
            photons=photons,
            background=background,
            return_X_y=False,
            random_state=3,
        )
        stats = _uncertainty.statistics(spots.images[..., None])
        # Poisson: the background's variance is its level (a little less,
        # the brightest 1 % of it being set aside as hot pixels)
        assert np.median(stats[:, 1]) == pytest.approx(background, rel=0.15)
        assert np.median(stats[:, 0]) == pytest.approx(photons, rel=0.1)
        assert np.median(stats[:, 2]) == pytest.approx(sigma**2 + 1 / 12, rel=0.15)
        # any scale and offset: N and v scale, s does not
        scaled = _uncertainty.statistics(3.0 * spots.images[..., None] + 100.0)
        np.testing.assert_allclose(scaled[:, :2], stats[:, :2] * [3.0, 9.0], rtol=1e-6)
        np.testing.assert_allclose(scaled[:, 2], stats[:, 2])


def test_return_std_follows_the_psf_width_of_each_image():
    # One model over a range of widths: wider spots, larger deviations, in
    # proportion to the errors (z-scores' spread near 1 at both ends; without
    # the width, 0.71 for the narrow spots and 1.26 for the wide ones).
    X, y = make_bright_spot_dataset(
        3000,
        image_size=SIDE,
        psf_sigma=(1.0, 2.0),
        photons=2000,
        random_state=0,
    )
    model = BrightPixelRegressor("spot", epochs=6, random_state=0).fit(X, y)
    spread = {}
    for sigma in (1.0, 2.0):
        X_test, y_test = make_bright_spot_dataset(
            1000,
            image_size=SIDE,
            psf_sigma=sigma,
            photons=2000,
            margin=6.0,
            random_state=8,
        )
        pred, std = model.predict(X_test, return_std=True)
        z = (pred - y_test) / std
        assert np.all((z.std(axis=0) > 0.75) & (z.std(axis=0) < 1.3)), z.std(axis=0)
        spread[sigma] = np.sqrt(np.mean(std**2))
    assert spread[2.0] > 1.3 * spread[1.0]


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 7), (5, 5)])
def test_return_std_of_tiny_and_blank_images_is_finite(spot_model, shape):
    # A box of a pixel or two has no spot fit: large, finite deviations, and
    # no warning (a 1x1 image divided by zero before). The deviations of
    # predict(X, return_std=True), without its Keras half (slow to compile
    # for each new image size).
    import warnings

    from pixel_regressor import _uncertainty

    rng = np.random.default_rng(0)
    images = rng.poisson(10, size=(4, *shape, 1)).astype(np.float32)
    images[0] = 5.0  # blank
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        std = _uncertainty.predict(
            _uncertainty.statistics(images), spot_model.std_coefficients_
        )
    assert std.shape == (4, 2)
    assert np.all(np.isfinite(std)) and np.all(std > 0)


def test_image_statistics_of_large_images_take_memory_by_the_chunk():
    # A dozen float64 arrays the size of what is handled at once: a chunk of
    # large images is a few of them, not a thousand.
    import tracemalloc

    from pixel_regressor import _uncertainty

    images = np.random.default_rng(0).poisson(10, (24, 512, 512, 1))
    images = images.astype(np.float32)
    tracemalloc.start()
    try:
        _uncertainty.statistics(images)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * images.nbytes, peak / images.nbytes


def test_return_std_survives_save_load_and_pickle(spot_model, tmp_path):
    import pickle

    from pixel_regressor import load_model

    X, _ = make_bright_spot_dataset(20, image_size=SIDE, random_state=7)
    expected = spot_model.predict(X, return_std=True)
    spot_model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    unpickled = pickle.loads(pickle.dumps(spot_model))
    for again in (loaded, unpickled):
        np.testing.assert_array_equal(
            again.std_coefficients_, spot_model.std_coefficients_
        )
        for got, want in zip(again.predict(X, return_std=True), expected):
            np.testing.assert_array_equal(got, want)


def _places_and_errors(odds, readout, n=20_000, seed=0):
    """Places as ``_uncertainty.places`` gives them, and the errors of a
    model at the peak when each image's spot is at a place drawn with
    ``odds`` (the peak's log-odds 0), through ``readout``."""
    from scipy.special import softmax

    from pixel_regressor import _uncertainty

    rng = np.random.default_rng(seed)
    shape = (n, _uncertainty.N_PLACES)
    ell = -rng.exponential(15.0, size=shape)
    ell[rng.random(shape) < 0.7] = -np.inf  # fewer places
    # Distinct places 4 px apart (local maxima of a smoothed image are apart).
    lattice = np.array([(r, c) for r in range(-12, 13, 4) for c in range(-12, 13, 4)])
    lattice = lattice[np.abs(lattice).max(axis=1) > 3]
    chosen = rng.random((n, len(lattice))).argsort(axis=1)[:, : shape[1]]
    d_row, d_col = lattice[chosen, 0], lattice[chosen, 1]
    logits = np.concatenate([np.zeros((n, 1)), odds[0] * ell + odds[1]], axis=1)
    chance = softmax(logits, axis=1)
    where = (chance.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    where = np.minimum(where, _uncertainty.N_PLACES)
    displacement = np.zeros((n, 2))
    moved = where > 0
    displacement[moved, 0] = d_row[moved, where[moved] - 1]
    displacement[moved, 1] = d_col[moved, where[moved] - 1]
    errors = (-displacement + rng.normal(0, 0.5, size=(n, 2))) @ readout
    return (ell, d_row, d_col), errors, moved


@pytest.mark.parametrize("readout", [np.eye(2), np.array([[0.0, 3.0], [0.5, 0.0]])])
def test_miss_odds_are_recovered_from_where_the_spots_were(readout):
    # Spots placed with known odds tau * ell + beta: the fit finds them, and
    # the chances they give add up to the spots moved, where the matched
    # filter's own odds (1, 0) do not. Through a read-out that swaps and
    # scales the targets, the same.
    from pixel_regressor import _uncertainty

    places, errors, moved = _places_and_errors((0.6, -0.8), readout)
    odds = _uncertainty.fit_odds(places, errors, readout)
    np.testing.assert_allclose(odds, [0.6, -0.8], atol=0.1)
    fitted = _uncertainty._elsewhere(places, odds)[0].sum()
    matched = _uncertainty._elsewhere(places, (1.0, 0.0))[0].sum()
    assert abs(fitted - moved.sum()) < 3 * np.sqrt(moved.sum())
    assert abs(matched - moved.sum()) > 5 * np.sqrt(moved.sum())


def test_miss_odds_of_a_row_alone_count_the_rows_moved():
    # Read out the row alone, places on the same row are not told apart and
    # moves along it are not seen: the odds are not the ones drawn, but the
    # squared displacements they give add up to those of the rows moved.
    from pixel_regressor import _uncertainty

    readout = np.array([[1.0], [0.0]])
    places, errors, moved = _places_and_errors((0.6, -0.8), readout)
    odds = _uncertainty.fit_odds(places, errors, readout)
    expected = _uncertainty._elsewhere(places, odds)[1].sum()
    seen = np.sum(np.square(np.round(errors[moved, 0])))
    assert abs(expected - seen) < 0.1 * seen


def test_miss_odds_without_other_places_are_the_matched_filters():
    from pixel_regressor import _uncertainty

    places, errors, _ = _places_and_errors((1.0, 0.0), np.eye(2), n=200)
    places = (np.full_like(places[0], -np.inf), *places[1:])
    np.testing.assert_array_equal(
        _uncertainty.fit_odds(places, errors), _uncertainty.MATCHED_FILTER_ODDS
    )
    # Bright spots, which no blob of noise ever took: whatever the odds,
    # nothing was lost, and the prior keeps them well inside their bounds.
    places, _, _ = _places_and_errors((1.0, 0.0), np.eye(2), n=2000)
    places = (places[0] * 100, *places[1:])
    errors = np.random.default_rng(1).normal(0, 0.5, size=(2000, 2))
    tau, beta = _uncertainty.fit_odds(places, errors)
    assert 0.2 < tau < 5 and -2 < beta < 2


def test_return_std_with_a_1d_target_is_1d():
    X, y = make_bright_spot_dataset(300, image_size=SIDE, random_state=0)
    model = BrightPixelRegressor("spot", epochs=1, random_state=0).fit(X, y[:, 0])
    pred, std = model.predict(X[:5], return_std=True)
    assert pred.shape == std.shape == (5,)
    assert model.std_coefficients_.shape == (1, 3)
    assert model.miss_odds_.shape == (2,) and model.miss_odds_[0] > 0


def test_partial_fit_refits_the_deviations():
    X, y = make_bright_spot_dataset(600, image_size=SIDE, random_state=0)
    model = BrightPixelRegressor("spot", random_state=0).partial_fit(X[:300], y[:300])
    first = model.std_coefficients_.copy()
    model.partial_fit(X[300:], y[300:])
    assert model.std_coefficients_.shape == (2, 3)
    assert not np.array_equal(first, model.std_coefficients_)


@pytest.mark.parametrize("head", ["soft_argmax", "dense"])
def test_return_std_with_another_head_is_refused(head):
    from pixel_regressor import make_bright_pixel_dataset

    X, y = make_bright_pixel_dataset(100, image_size=12, random_state=0)
    model = BrightPixelRegressor(head, epochs=1, random_state=0).fit(X, y)
    assert not hasattr(model, "std_coefficients_")
    with pytest.raises(ValueError, match="return_std.*spot"):
        model.predict(X, return_std=True)


def test_return_std_before_fit_is_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        BrightPixelRegressor("spot").predict(np.zeros((1, 16)), return_std=True)


@pytest.mark.parametrize(
    ("image_size", "psf_sigma", "margin"),
    [(15, 2.0, None), (15, (1.0, 2.0), None), (20, 1.3, 0), (13, 1.0, None)],
)
def test_read_out_is_the_identity_for_positions_over_any_span(
    image_size, psf_sigma, margin
):
    # Targets spanning 2 px (15x15 crops, the default margin): a map fitted on
    # the integer peak had slope 0.74 and bias 1.8, shrinking every position.
    from pixel_regressor.models import _spot_readout, build_spot_model

    kwargs = {} if margin is None else {"margin": margin}
    X, y = make_bright_spot_dataset(
        600,
        image_size=image_size,
        psf_sigma=psf_sigma,
        photons=(300, 3000),
        random_state=0,
        **kwargs,
    )
    images = X.reshape(-1, image_size, image_size, 1)
    kernel, bias = _spot_readout(build_spot_model(seed=0), images, y, None)
    np.testing.assert_array_equal(kernel, np.eye(2))
    np.testing.assert_array_equal(bias, np.zeros(2))
    # the same narrow span, targets swapped and shifted: an affine map
    kernel, bias = _spot_readout(
        build_spot_model(seed=0), images, y[:, ::-1] + 3.0, None
    )
    np.testing.assert_allclose(kernel, [[0, 1], [1, 0]], atol=0.3)
    assert np.abs(bias).max() > 1


def test_local_centroids_are_sub_pixel_and_stay_in_the_image():
    from pixel_regressor.models import _local_centroids

    images = np.zeros((3, 9, 9))
    images[0, 4, 4], images[0, 4, 5] = 3.0, 1.0  # between columns 4 and 5
    images[1, 0, 0] = 5.0  # at the corner: the window is clipped
    centres = _local_centroids(images, np.array([[4, 4], [0, 0], [4, 4]]))
    np.testing.assert_allclose(centres[0], [4.0, 4.25])
    np.testing.assert_allclose(centres[1], [0.0, 0.0])
    np.testing.assert_allclose(centres[2], [4.0, 4.0])  # nothing above the median


def test_a_short_fit_on_single_pixels_is_not_a_pixel_off():
    # A random heatmap put the soft-argmax's mass a pixel off, where its
    # gradient vanishes: 15 epochs on 70 images answered (26, 26) for (25, 25).
    from pixel_regressor import make_bright_pixel_dataset

    X, y = make_bright_pixel_dataset(70, image_size=30, random_state=0)
    model = BrightPixelRegressor("spot", epochs=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(model.predict(X), y, atol=0.05)


def test_tiny_images_are_computed_in_bounded_batches():
    # A batch was sized by the image's own pixels: 2**20 images of 1x1, for
    # which TensorFlow asked 7.56 GiB (the spot head works on 13x13 crops of
    # 16 channels whatever the image's size), then crashed.
    from pixel_regressor import _inference

    assert _inference.batch_size(1, 1) == _inference.batch_size(16, 16) == 4096
    assert _inference.batch_size(50, 50) == 256
    X, y = make_bright_spot_dataset(128, image_size=15, random_state=0)
    model = BrightPixelRegressor("spot", filters=(2,), epochs=1, random_state=0)
    model.fit(X, y)
    for side in (1, 2, 3):
        images = np.random.default_rng(side).poisson(10.0, (5, side, side))
        with warnings.catch_warnings():
            # noise alone: the model rightly warns there is no spot
            warnings.simplefilter("ignore")
            predictions = model.predict(images.astype(float))
        assert predictions.shape == (5, 2)
        assert np.all((predictions >= -0.5) & (predictions <= side - 0.5))
