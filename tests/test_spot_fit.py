"""``head="spot_fit"``: the spot head polished by a Gaussian fit, and its layer."""

import numpy as np
import pytest

from pixel_regressor import (
    BrightPixelRegressor,
    localization_crlb,
    make_bright_spot_dataset,
)
from pixel_regressor._inference import as_float32
from pixel_regressor._uncertainty import fit_fisher

SIDE = 20


def _spots(n, seed, *, side=SIDE, photons=1000, background=10, psf_sigma=1.3):
    X, y = make_bright_spot_dataset(
        n,
        image_size=side,
        photons=photons,
        background=background,
        psf_sigma=psf_sigma,
        random_state=seed,
    )
    crlb = localization_crlb(
        side, psf_sigma=psf_sigma, photons=photons, background=background, position=y
    )
    return X.reshape(n, side, side, 1), y, crlb


def _fit(images, start, **params):
    from pixel_regressor._layers import GaussianFit

    position, covariance = GaussianFit(**params)(
        [images.astype(np.float32), start.astype(np.float32)]
    )
    return np.asarray(position, np.float64), np.asarray(covariance, np.float64)


def _ratio(errors, crlb):
    return np.sqrt(np.mean(errors**2, axis=0) / np.mean(crlb**2, axis=0))


# ---------------------------------------------------------------------------
# the layer


@pytest.mark.parametrize(
    ("photons", "background", "psf_sigma"), [(1000, 10, 1.3), (3000, 1, 2.0)]
)
def test_fit_reaches_the_bound_with_width_signal_and_background_free(
    photons, background, psf_sigma
):
    images, y, crlb = _spots(
        600, 0, photons=photons, background=background, psf_sigma=psf_sigma
    )
    start = y + np.random.default_rng(0).uniform(-0.4, 0.4, y.shape)
    position, covariance = _fit(images, start)
    errors = position - y
    assert np.all(_ratio(errors, crlb) < 1.12)
    # its covariance is the bound's, image by image, and describes the errors
    std = np.sqrt(covariance[:, :2])
    assert np.all(np.abs(np.sqrt(np.mean(std**2, 0) / np.mean(crlb**2, 0)) - 1) < 0.1)
    assert np.all(np.abs((errors / std).std(axis=0) - 1) < 0.12)


def test_fit_of_a_noiseless_spot_is_exact():
    from pixel_regressor._psf import expected_counts

    y = np.array([[9.3, 10.6], [4.5, 14.0]])
    images = expected_counts((SIDE, SIDE), y, 1.7, 2000.0, 5.0)[..., None]
    position, _ = _fit(images, np.round(y) + 0.3)
    np.testing.assert_allclose(position, y, atol=2e-3)


def test_training_passes_the_first_position_through():
    from pixel_regressor._layers import GaussianFit

    images, y, _ = _spots(4, 0)
    start = (y + 0.3).astype(np.float32)
    position, covariance = GaussianFit()([images, start], training=True)
    np.testing.assert_array_equal(np.asarray(position), start)
    np.testing.assert_array_equal(np.asarray(covariance), 0)


def test_gain_changes_nothing_and_an_offset_little():
    images, y, crlb = _spots(200, 1)
    start = y + 0.2
    position, covariance = _fit(images, start)
    scaled, scaled_covariance = _fit(7.0 * images, start)
    np.testing.assert_allclose(scaled, position, atol=1e-4)
    np.testing.assert_allclose(scaled_covariance, covariance, rtol=1e-3, atol=1e-9)
    # a camera's offset only weighs the pixels less well
    shifted, _ = _fit(images + 100.0, start)
    assert np.all(_ratio(shifted - y, crlb) < 1.12)


def test_hot_pixels_beside_the_spot_are_left_out():
    images, y, crlb = _spots(300, 2)
    row, col = np.round(y).astype(int).T
    hot = images.copy()
    peak = images.reshape(len(images), -1).max(axis=1)
    # two adjacent hot pixels, 3 px from the spot, at 3x its brightest pixel
    hot[np.arange(len(y)), row, np.clip(col + 3, 0, SIDE - 1), 0] = 3 * peak
    hot[
        np.arange(len(y)),
        np.clip(row + 1, 0, SIDE - 1),
        np.clip(col + 3, 0, SIDE - 1),
        0,
    ] = 3 * peak
    position, _ = _fit(hot, y + 0.2)
    assert np.all(_ratio(position - y, crlb) < 1.15)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (12, 12)])
def test_no_spot_keeps_the_first_position_with_a_bounded_variance(shape):
    blank = np.full((2, *shape, 1), 4.0)
    blank[1] = np.random.default_rng(0).poisson(4.0, shape)[..., None]
    start = np.array([[0.0, 0.0], [shape[0] / 2, shape[1] / 2]])
    position, covariance = _fit(blank, start)
    assert np.isfinite(position).all() and np.isfinite(covariance).all()
    assert np.all(np.abs(position - start) <= 1.0)
    assert np.all(covariance[:, :2] > 0) and np.all(covariance[:, :2] <= 121 / 12)


@pytest.mark.parametrize(
    ("name", "value"),
    [("radius", 0), ("iterations", 0), ("start_width", 0.0), ("max_shift", -1.0)],
)
def test_bad_layer_parameters_are_refused(name, value):
    from pixel_regressor._layers import GaussianFit

    with pytest.raises(ValueError, match=name):
        GaussianFit(**{name: value})


# ---------------------------------------------------------------------------
# the counts reach the model as they are


def test_counts_keep_each_image_offset_and_only_scale_huge_values():
    images = np.array([[[100.0, 101.0], [103.0, 100.5]]])
    np.testing.assert_array_equal(as_float32(images, counts=True), images)
    np.testing.assert_allclose(
        as_float32(images)[0], [[0, 1 / 3], [1, 1 / 6]], rtol=1e-6
    )
    huge = np.array([[[2.0**70, 2.0**71]], [[1.0, 3.0]]])
    out = as_float32(huge, counts=True)
    assert out.dtype == np.float32
    # the first image divided by a power of two, the second untouched
    assert out[0, 0, 1] / out[0, 0, 0] == 2.0
    assert out[0, 0, 1] <= 2.0**64
    np.testing.assert_array_equal(out[1], [[1.0, 3.0]])


@pytest.fixture(scope="module")
def fitted():
    X, y = make_bright_spot_dataset(
        1500,
        image_size=SIDE,
        photons=(300, 3000),
        background=(1, 30),
        psf_sigma=(1.0, 2.0),
        random_state=0,
    )
    return BrightPixelRegressor("spot_fit", epochs=3, random_state=0).fit(X, y)


def test_other_dtypes_predict_as_float32(fitted):
    X, _, _ = _spots(50, 3)
    X = X[..., 0]
    expected = fitted.predict(X.astype(np.float32))
    np.testing.assert_allclose(
        fitted.predict(X.astype(np.float64)), expected, atol=1e-5
    )
    counts = np.round(X).astype(np.int32)
    np.testing.assert_allclose(
        fitted.predict(counts), fitted.predict(counts.astype(np.float32)), atol=1e-5
    )


def test_near_the_bound_across_widths_after_a_short_training(fitted):
    # Three epochs leave the conv net well off the bound; the fit is not.
    for photons, background, psf_sigma in [(3000, 1, 2.0), (1000, 30, 1.0)]:
        X, y, crlb = _spots(
            400, 4, photons=photons, background=background, psf_sigma=psf_sigma
        )
        assert np.all(_ratio(fitted.predict(X) - y, crlb) < 1.12)


def test_return_std_is_calibrated_and_follows_the_bound(fitted):
    for photons, background, psf_sigma in [(3000, 1, 2.0), (500, 20, 1.3)]:
        X, y, crlb = _spots(
            600, 5, photons=photons, background=background, psf_sigma=psf_sigma
        )
        predicted, std = fitted.predict(X, return_std=True)
        z = (predicted - y) / std
        assert np.all(np.abs(z.std(axis=0) - 1) < 0.15)
        ratio = np.sqrt(np.mean(std**2, axis=0) / np.mean(crlb**2, axis=0))
        assert np.all(np.abs(ratio - 1) < 0.15)
    assert fitted.std_coefficients_.shape == (2, 2)
    np.testing.assert_allclose(fitted.std_coefficients_[:, 0], 1, atol=0.2)


@pytest.mark.slow  # a calibration check, 11 s on a loaded machine
def test_return_std_follows_a_read_out_of_swapped_scaled_targets():
    X, y = make_bright_spot_dataset(800, image_size=SIDE, photons=2000, random_state=6)
    targets = np.column_stack([y[:, 1], 2 * y[:, 0] + 5])
    model = BrightPixelRegressor("spot_fit", epochs=2, random_state=0).fit(X, targets)
    X_test, y_test, _ = _spots(400, 7, photons=2000)
    true = np.column_stack([y_test[:, 1], 2 * y_test[:, 0] + 5])
    predicted, std = model.predict(X_test, return_std=True)
    assert np.all(np.abs(((predicted - true) / std).std(axis=0) - 1) < 0.15)
    # the second target is twice the row: twice its deviation
    assert 1.6 < np.median(std[:, 1] / std[:, 0]) < 2.5


def test_validation_loss_sees_the_fit_on_the_counts():
    X, y = make_bright_spot_dataset(300, image_size=SIDE, random_state=8)
    X_val, y_val, _ = _spots(100, 9)
    X_val = X_val[..., 0].astype(np.float64) + 50.0
    model = BrightPixelRegressor("spot_fit", epochs=1, random_state=0)
    model.fit(X, y, validation_data=(X_val, y_val))
    mse = np.mean((model.predict(X_val) - y_val) ** 2)
    assert model.history_["val_loss"][-1] == pytest.approx(mse, rel=1e-3)


def test_fisher_coefficients_are_recovered_from_errors():
    rng = np.random.default_rng(0)
    v = np.exp(rng.uniform(np.log(1e-4), np.log(1e-1), (20000, 2)))
    a, b = 1.3, 4.0
    errors = rng.normal(size=v.shape) * np.sqrt(a * v + b * v * v)
    errors[:50] += 5.0  # gross misses, left out
    coefficients = fit_fisher(v, errors)
    np.testing.assert_allclose(coefficients[:, 0], a, rtol=0.05)
    np.testing.assert_allclose(coefficients[:, 1], b, rtol=0.25)


def test_background_subtracted_images_are_warned_of(fitted):
    X, y, crlb = _spots(300, 10)
    with pytest.warns(UserWarning, match="background-subtracted"):
        subtracted = fitted.predict(X - 10.0)
    # what the warning is about: the likelihood of counts loses accuracy
    assert np.sqrt(np.mean((subtracted - y) ** 2) / np.mean(crlb**2)) > 1.15
    assert np.all(_ratio(fitted.predict(X) - y, crlb) < 1.12)  # no warning


# ---------------------------------------------------------------------------
# spots that are not Gaussians


def _defocused_psf():
    """A Gaussian of 1.2 px blurred by a disk of radius 2 px, and shifted
    half a pixel along the rows: a spot out of focus, a little asymmetric."""
    from scipy.signal import fftconvolve
    from scipy.special import erf

    from pixel_regressor import SampledPSF

    oversampling = 5
    n = 8 * 2 * oversampling + 1
    edges = (np.arange(n + 1) - n / 2) / oversampling
    axis = np.diff(erf(edges / (1.2 * np.sqrt(2)))) / 2
    r = np.hypot(*np.mgrid[:n, :n] - (n - 1) / 2) / oversampling
    disk = (r <= 2.0) * (1.0 + 0.5 * (np.mgrid[:n, :n][0] > n // 2))
    return SampledPSF(fftconvolve(np.outer(axis, axis), disk, mode="same"), 5)


def test_spots_that_are_not_gaussians_are_refused_before_training():
    from pixel_regressor.models import gaussian_misfit

    psf = _defocused_psf()
    X, y = make_bright_spot_dataset(
        300, image_size=SIDE, psf=psf, photons=(1000, 3000), random_state=0
    )
    misfit, reference, n_fits = gaussian_misfit(X.reshape(-1, SIDE, SIDE))
    assert n_fits > 250 and misfit > reference + 2
    model = BrightPixelRegressor("spot_fit", epochs=1, random_state=0)
    with pytest.raises(ValueError, match="head='spot'"):
        model.fit(X, y)
    assert not hasattr(model, "model_")  # refused before any training
    # the spot head learns the spot's shape: it takes them
    BrightPixelRegressor("spot", epochs=1, random_state=0).fit(X[:64], y[:64])


@pytest.mark.parametrize(
    "params",
    [
        {"photons": 300, "background": 100, "psf_sigma": 0.8},
        {"photons": 10_000, "background": 1, "psf_sigma": 2.5},
        {"photons": (300, 10_000), "background": (1, 100), "psf_sigma": (0.8, 2.5)},
        {"photons": 1000, "gain": 2.0, "offset": 100, "read_noise": 2.0},
        {"photons": 1000, "em_gain": 100, "gain": 0.5, "hot_pixels": 1},
    ],
)
def test_gaussian_spots_pass_the_check(params):
    from pixel_regressor.models import check_gaussian_spots, gaussian_misfit

    X, _ = make_bright_spot_dataset(256, image_size=32, random_state=1, **params)
    images = X.reshape(-1, 32, 32, 1)
    misfit, reference, n_fits = gaussian_misfit(images)
    assert abs(misfit - reference) < 0.8
    check_gaussian_spots(images)  # no error


def test_a_gaussian_given_as_a_sampled_psf_trains_a_spot_fit_model():
    from scipy.special import erf

    from pixel_regressor import SampledPSF

    n = 81  # a Gaussian of 1.3 px, sampled five times per pixel
    edges = (np.arange(n + 1) - n / 2) / 5
    axis = np.diff(erf(edges / (1.3 * np.sqrt(2)))) / 2
    psf = SampledPSF(np.outer(axis, axis), 5)
    X, y = make_bright_spot_dataset(
        300, image_size=SIDE, psf=psf, photons=2000, random_state=2
    )
    model = BrightPixelRegressor("spot_fit", epochs=1, random_state=0).fit(X, y)
    assert model.predict(X[:5]).shape == (5, 2)
