"""Blurred spots with photon noise: the generator, its image model and the bound.

Statistical checks use a few thousand small images and bounds of about five
standard errors, so that they fail for a wrong model, not by chance.
"""

import numpy as np
import pytest
from scipy import integrate, stats

from pixel_regressor import (
    _psf,
    adu_to_photons,
    localization_crlb,
    make_bright_spot_dataset,
)


def _spots(n, **params):
    return make_bright_spot_dataset(n, return_X_y=False, random_state=0, **params)


# ---------------------------------------------------------------------------
# the image model


def test_pixel_shares_sum_to_the_share_inside_and_peak_at_the_centre():
    shares = _psf.pixel_shares(np.array([5.0, 5.5]), 11, 1.3)
    assert shares.shape == (2, 11)
    # Centred on a pixel centre: symmetric about it, largest there.
    np.testing.assert_allclose(shares[0], shares[0][::-1], atol=1e-15)
    assert np.argmax(shares[0]) == 5
    # On a pixel edge: the two pixels either side share the peak.
    assert shares[1, 5] == pytest.approx(shares[1, 6])
    inside = stats.norm.cdf(10.5, 5.0, 1.3) - stats.norm.cdf(-0.5, 5.0, 1.3)
    assert shares[0].sum() == pytest.approx(inside)


def test_derivatives_of_the_expected_counts_match_finite_differences():
    theta = np.array([6.3, 7.8, 800.0, 5.0])
    mu, jacobian = _psf.expected_counts_and_derivatives(
        (13, 15), theta[None, :2], 1.1, theta[2], theta[3]
    )
    np.testing.assert_allclose(
        mu, _psf.expected_counts((13, 15), theta[None, :2], 1.1, 800.0, 5.0)
    )
    for i, step in enumerate([1e-5, 1e-5, 1e-3, 1e-4]):
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        numeric = (
            _psf.expected_counts((13, 15), up[None, :2], 1.1, up[2], up[3])
            - _psf.expected_counts((13, 15), down[None, :2], 1.1, down[2], down[3])
        ) / (2 * step)
        np.testing.assert_allclose(jacobian[:, i], numeric, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# the generator: what it returns


def test_returns_flat_float32_images_and_float64_positions():
    X, y = make_bright_spot_dataset(7, image_size=(10, 12), random_state=0)
    assert X.shape == (7, 120)
    assert X.dtype == np.float32
    assert y.shape == (7, 2)
    assert y.dtype == np.float64


def test_bunch_holds_images_view_names_photons_and_parameters():
    spots = _spots(5, image_size=(9, 11), psf_sigma=1.0, hot_pixels=2)
    assert spots.images.shape == (5, 9, 11)
    assert np.shares_memory(spots.images, spots.data)
    assert spots.data.shape == (5, 99)
    assert spots.target.shape == (5, 2)
    assert spots.feature_names[:2] == ["pixel_0_0", "pixel_0_1"]
    assert spots.feature_names[-1] == "pixel_8_10"
    assert len(spots.feature_names) == 99
    assert spots.target_names == ["row", "col"]
    assert "Poisson" in spots.DESCR
    assert "2 hot pixel" in spots.DESCR
    np.testing.assert_array_equal(spots.photons, np.full(5, 1000.0))
    assert spots.hot_pixel_positions.shape == (5, 2, 2)
    assert spots.image_shape == (9, 11)
    assert spots.margin == 3.0  # the default, 3 * psf_sigma
    np.testing.assert_array_equal(spots.psf_sigma, np.full(5, 1.0))
    np.testing.assert_array_equal(spots.background, np.full(5, 10.0))
    assert spots.dtype == np.float32


def test_same_int_gives_same_images_and_other_ints_other_images():
    first = make_bright_spot_dataset(20, image_size=12, hot_pixels=1, random_state=3)
    again = make_bright_spot_dataset(20, image_size=12, hot_pixels=1, random_state=3)
    other = make_bright_spot_dataset(20, image_size=12, hot_pixels=1, random_state=4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize(
    "random_state",
    [np.random.RandomState(0), np.random.default_rng(0)],
    ids=["RandomState", "Generator"],
)
def test_accepts_numpy_generators_and_advances_them(random_state):
    X1, y1 = make_bright_spot_dataset(5, image_size=12, random_state=random_state)
    X2, y2 = make_bright_spot_dataset(5, image_size=12, random_state=random_state)
    assert not np.array_equal(y1, y2)


def test_global_random_state_is_left_alone():
    np.random.seed(0)  # noqa: NPY002 - the global state is under test
    expected = np.random.random_sample()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    make_bright_spot_dataset(10, image_size=12)
    make_bright_spot_dataset(10, image_size=12, random_state=1)
    assert np.random.random_sample() == expected  # noqa: NPY002


def test_counts_are_integers_without_read_noise():
    X, _ = make_bright_spot_dataset(50, image_size=12, random_state=0)
    np.testing.assert_array_equal(X, np.rint(X))
    assert X.min() >= 0


def test_integer_dtype_saturates_like_a_camera():
    X, _ = make_bright_spot_dataset(
        20, image_size=12, photons=20000, dtype=np.uint8, random_state=0
    )
    assert X.dtype == np.uint8
    assert X.max() == 255  # the spot's peak, about 2,000 counts, is clipped


# ---------------------------------------------------------------------------
# the generator: statistics of positions, photons and counts


def test_positions_are_uniform_over_the_image_less_the_margin():
    _, y = make_bright_spot_dataset(
        3000, image_size=(12, 20), psf_sigma=0.5, margin=2.5, random_state=0
    )
    for axis, side in enumerate((12, 20)):
        low, high = 2.5, side - 1 - 2.5
        assert low <= y[:, axis].min() < low + 0.05
        assert high - 0.05 < y[:, axis].max() <= high
        assert (
            stats.kstest(y[:, axis], stats.uniform(low, high - low).cdf).pvalue > 1e-3
        )
    # Rows and columns are independent.
    assert abs(np.corrcoef(y.T)[0, 1]) < 0.1


def test_default_margin_is_three_psf_widths_and_at_least_one_pixel():
    _, y = make_bright_spot_dataset(500, image_size=16, psf_sigma=1.3, random_state=0)
    assert y.min() >= 3.9
    assert y.max() <= 15 - 3.9
    _, y = make_bright_spot_dataset(500, image_size=16, psf_sigma=0.2, random_state=0)
    assert y.min() >= 1.0
    assert y.max() <= 14.0
    assert y.min() < 1.1


def test_largest_margin_fixes_the_spot_at_the_centre():
    _, y = make_bright_spot_dataset(4, image_size=9, margin=4.0, random_state=0)
    np.testing.assert_array_equal(y, np.full((4, 2), 4.0))


def test_mean_total_counts_are_the_photons_inside_plus_the_background():
    n, side, photons, background = 400, 11, 1000.0, 10.0
    X, y = make_bright_spot_dataset(
        n,
        image_size=side,
        psf_sigma=1.3,
        photons=photons,
        background=background,
        margin=1.0,  # spots near the edges lose photons outside the image
        random_state=0,
    )
    shares_inside = _psf.pixel_shares(y[:, 0], side, 1.3).sum(1) * _psf.pixel_shares(
        y[:, 1], side, 1.3
    ).sum(1)
    expected = photons * shares_inside + background * side * side
    assert shares_inside.min() < 0.8  # some spots do lose light
    totals = X.sum(axis=1, dtype=np.float64)
    # Poisson totals: variance = mean; the mean is within 5 standard errors.
    standard_error = np.sqrt(expected.sum()) / n
    assert abs(totals.mean() - expected.mean()) < 5 * standard_error


@pytest.mark.parametrize("read_noise", [0.0, 2.0])
def test_pixels_are_poisson_of_the_expected_counts_plus_read_noise(read_noise):
    spots = _spots(
        2000,
        image_size=9,
        psf_sigma=1.2,
        photons=(100.0, 2000.0),
        background=3.0,
        read_noise=read_noise,
        margin=2.0,
    )
    mu = _psf.expected_counts((9, 9), spots.target, 1.2, spots.photons, 3.0)
    residuals = spots.images - mu
    z = residuals / np.sqrt(mu + read_noise**2)
    # Unbiased, with variance mu + read_noise ** 2, over 162,000 pixels.
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    assert abs((z**2).mean() - 1) < 5 * np.sqrt(2 / z.size)
    # Bright and faint pixels alike: the variance follows mu.
    bright = mu > 20
    assert bright.sum() > 10_000
    assert abs((z[bright] ** 2).mean() - 1) < 5 * np.sqrt(2 / bright.sum())
    if read_noise == 0:
        # Poisson, not Gaussian: faint pixels are often exactly zero.
        faint = mu < 3.2
        zeros = (spots.images[faint] == 0).mean()
        assert zeros == pytest.approx(np.exp(-mu[faint]).mean(), abs=0.01)
    else:
        assert not np.array_equal(spots.images, np.rint(spots.images))


def test_fixed_position_pixels_have_poisson_mean_and_variance():
    side, background, photons = 7, 5.0, 500.0
    X, y = make_bright_spot_dataset(
        4000,
        image_size=side,
        psf_sigma=1.0,
        photons=photons,
        background=background,
        margin=3.0,
        random_state=0,
    )
    mu = _psf.expected_counts((side, side), y[:1], 1.0, photons, background)[0]
    images = X.reshape(-1, side, side).astype(np.float64)
    n = len(images)
    # Per pixel: mean within 5 standard errors of mu, variance of mu (the
    # variance of a sample variance of Poisson counts is about 2 mu^2 / n).
    np.testing.assert_array_less(np.abs(images.mean(0) - mu), 5 * np.sqrt(mu / n))
    np.testing.assert_array_less(
        np.abs(images.var(0, ddof=1) - mu), 5 * np.sqrt(2 * mu**2 / n + mu / n)
    )


def test_photon_range_is_drawn_log_uniformly():
    spots = _spots(3000, image_size=12, psf_sigma=1.0, photons=(100.0, 3000.0))
    photons = spots.photons
    assert photons.min() >= 100.0
    assert photons.max() <= 3000.0
    log_low, log_high = np.log(100.0), np.log(3000.0)
    uniform = stats.uniform(log_low, log_high - log_low)
    assert stats.kstest(np.log(photons), uniform.cdf).pvalue > 1e-3
    # Not uniform in photons: the median is the geometric mean.
    assert np.median(photons) == pytest.approx(np.sqrt(100 * 3000), rel=0.1)
    # The images follow each image's photons.
    totals = spots.data.sum(1) - 10.0 * 144
    assert np.corrcoef(totals, photons)[0, 1] > 0.95


def test_background_and_psf_ranges_are_drawn_per_image():
    spots = _spots(
        3000,
        image_size=20,
        photons=1000.0,
        background=(1.0, 100.0),
        psf_sigma=(1.0, 2.0),
    )
    background, sigma = spots.background, spots.psf_sigma
    assert background.min() >= 1.0 and background.max() <= 100.0
    assert sigma.min() >= 1.0 and sigma.max() <= 2.0
    # The background log-uniformly (a scale), the width uniformly.
    uniform = stats.uniform(0.0, np.log(100.0))
    assert stats.kstest(np.log(background), uniform.cdf).pvalue > 1e-3
    assert stats.kstest(sigma, stats.uniform(1.0, 1.0).cdf).pvalue > 1e-3
    # The default margin keeps the widest spot inside.
    assert spots.margin == 6.0
    # The images follow each image's background and width: the median pixel
    # is about the background, and a wider spot has a lower peak.
    images = spots.images.astype(np.float64)
    median = np.median(spots.data, axis=1)
    assert np.corrcoef(median, background)[0, 1] > 0.99
    peak = images.max(axis=(1, 2)) - median
    bright = background < 3
    assert np.corrcoef(peak[bright], 1 / sigma[bright] ** 2)[0, 1] > 0.9
    assert "[1, 2] (uniform per image)" in spots.DESCR
    assert "[1, 100] (log-uniform per image)" in spots.DESCR


def test_each_image_has_the_expected_counts_of_its_own_conditions():
    spots = _spots(
        400,
        image_size=12,
        psf_sigma=(1.0, 1.6),
        background=(2.0, 20.0),
        photons=(500.0, 2000.0),
        margin=2.5,
    )
    mu = _psf.expected_counts(
        (12, 12), spots.target, spots.psf_sigma, spots.photons, spots.background
    )
    # Poisson: the standardised residuals of all pixels have mean 0, std 1.
    z = (spots.images - mu) / np.sqrt(mu)
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    assert z.std() == pytest.approx(1.0, abs=0.01)


def test_fixed_conditions_draw_the_same_images_as_before_ranges_existed():
    # Ranges draw their values after everything else, so fixed values keep
    # the images a seed gave (here, with the default Poisson table).
    one = _spots(20, image_size=12, psf_sigma=1.0)
    two = _spots(20, image_size=12, psf_sigma=(1.0, 1.0), background=(10.0, 10.0))
    np.testing.assert_array_equal(one.data, two.data)
    ranged = _spots(20, image_size=12, psf_sigma=(1.0, 1.2), margin=3.0)
    np.testing.assert_array_equal(one.target, ranged.target)


def test_equal_range_bounds_give_constant_photons():
    spots = _spots(5, image_size=12, psf_sigma=1.0, photons=(300, 300))
    np.testing.assert_array_equal(spots.photons, np.full(5, 300.0))


def test_hot_pixels_are_distinct_and_at_a_multiple_of_the_peak():
    spots = _spots(
        500,
        image_size=8,
        psf_sigma=0.8,
        photons=(200.0, 2000.0),
        hot_pixels=3,
        hot_pixel_intensity=2.5,
    )
    hot = spots.hot_pixel_positions
    assert hot.shape == (500, 3, 2)
    flat = hot[..., 0] * 8 + hot[..., 1]
    assert all(len(set(row)) == 3 for row in flat)
    mu = _psf.expected_counts((8, 8), spots.target, 0.8, spots.photons, 10.0)
    peaks = mu.reshape(500, -1).max(1)
    values = spots.images[np.arange(500)[:, None], hot[..., 0], hot[..., 1]]
    np.testing.assert_allclose(values, np.tile(2.5 * peaks[:, None], 3), rtol=1e-6)
    # Nowhere else: every other pixel holds a Poisson count, an integer.
    others = spots.images.reshape(500, -1).copy()
    np.put_along_axis(others, flat, 0.0, axis=1)
    np.testing.assert_array_equal(others, np.rint(others))
    assert np.all(values != np.rint(values))


def test_hot_pixels_are_placed_uniformly():
    spots = _spots(3000, image_size=4, psf_sigma=0.3, margin=1.0, hot_pixels=5)
    flat = spots.hot_pixel_positions[..., 0] * 4 + spots.hot_pixel_positions[..., 1]
    counts = np.bincount(flat.ravel(), minlength=16)
    # 15,000 hot pixels over 16 pixels: 937.5 expected each.
    assert stats.chisquare(counts).pvalue > 1e-3
    # The order of the draws does not favour any pixel either.
    assert stats.chisquare(np.bincount(flat[:, 4], minlength=16)).pvalue > 1e-3


def test_no_hot_pixels_by_default():
    spots = _spots(3, image_size=12, psf_sigma=1.0)
    assert spots.hot_pixel_positions.shape == (3, 0, 2)


# ---------------------------------------------------------------------------
# the generator: bad parameters


@pytest.mark.parametrize(
    ("gain", "offset", "em_gain", "read_noise"),
    [(2.5, 100.0, 1.0, 0.0), (0.5, 100.0, 50.0, 0.0), (0.25, 500.0, 200.0, 30.0)],
)
def test_camera_pixels_have_the_adu_mean_and_variance(
    gain, offset, em_gain, read_noise
):
    # ADU = offset + gain * (EM(Poisson(mu)) + read noise): per pixel, mean
    # offset + gain * em_gain * mu, variance gain^2 (F^2 em_gain^2 mu +
    # read_noise^2), F^2 = 2 with EM gain (gamma-Poisson), 1 without.
    side, psf_sigma, photons, background = 7, 1.0, 500.0, 5.0
    spots = make_bright_spot_dataset(
        6000,
        image_size=side,
        psf_sigma=psf_sigma,
        photons=photons,
        background=background,
        read_noise=read_noise,
        gain=gain,
        offset=offset,
        em_gain=em_gain,
        margin=3.0,
        dtype=np.float64,
        return_X_y=False,
        random_state=0,
    )
    assert (spots.gain, spots.offset, spots.em_gain) == (gain, offset, em_gain)
    assert ("EM gain" in spots.DESCR) == (em_gain > 1)
    assert "ADU" in spots.DESCR
    mu = _psf.expected_counts(
        (side, side), spots.target[:1], psf_sigma, photons, background
    )[0]
    excess = 2.0 if em_gain > 1 else 1.0
    mean = offset + gain * em_gain * mu
    variance = gain**2 * (excess * em_gain**2 * mu + read_noise**2)
    images = spots.images
    n = len(images)
    np.testing.assert_array_less(
        np.abs(images.mean(0) - mean), 5 * np.sqrt(variance / n)
    )
    # Within 5 standard errors of the sample variance, sqrt((2 + k) / n) in
    # relative terms, k the excess kurtosis: at most 6 / mu (the EM model's,
    # a compound Poisson of exponentials; Poisson's is 1 / mu).
    np.testing.assert_array_less(
        np.abs(images.var(0, ddof=1) / variance - 1), 5 * np.sqrt((2 + 6 / mu) / n)
    )
    # What the variance is not: Poisson statistics in ADU, when there is EM gain.
    if em_gain > 1:
        poisson = gain**2 * (em_gain**2 * mu + read_noise**2)
        assert np.all(images.var(0, ddof=1) > 1.5 * poisson)


def test_camera_defaults_count_photoelectrons():
    default = make_bright_spot_dataset(50, image_size=12, random_state=0)
    explicit = make_bright_spot_dataset(
        50, image_size=12, gain=1, offset=0, em_gain=1, random_state=0
    )
    np.testing.assert_array_equal(default[0], explicit[0])


def test_camera_units_saturate_an_integer_camera_in_adu():
    X, _ = make_bright_spot_dataset(
        200,
        image_size=12,
        photons=5000,
        gain=2.0,
        offset=100,
        em_gain=300,
        dtype=np.uint16,
        random_state=0,
    )
    assert X.dtype == np.uint16
    assert X.min() >= 100  # no read noise: nothing below the offset
    assert X.max() == np.iinfo(np.uint16).max  # the bright spots saturate


@pytest.mark.parametrize(
    ("gain", "offset", "em_gain", "read_noise", "dtype"),
    [
        (1.0, 0.0, 1.0, 0.0, np.float32),
        (0.5, 100.0, 1.0, 0.0, np.uint16),
        (2.0, 400.0, 1.0, 3.0, np.float64),
        (0.5, 100.0, 100.0, 0.0, np.uint16),
    ],
)
def test_adu_to_photons_inverts_the_camera(gain, offset, em_gain, read_noise, dtype):
    camera = {"gain": gain, "offset": offset, "em_gain": em_gain}
    params = {"image_size": 12, "photons": 800.0, "psf_sigma": 1.2, "margin": 4.0}
    photons = _spots(3000, **params)
    adu = _spots(3000, read_noise=read_noise, dtype=dtype, **camera, **params)
    converted = adu_to_photons(adu.images, read_noise=read_noise, **camera)
    assert converted.shape == adu.images.shape
    assert converted.dtype == (np.float64 if dtype == np.float64 else np.float32)
    if (gain, offset, em_gain, read_noise) == (1.0, 0.0, 1.0, 0.0):
        np.testing.assert_array_equal(converted, photons.images)
    # Same expected counts per pixel as the photon images of the same spots,
    # to the pixel's standard error (the excess noise doubles the variance;
    # rounding to ADU adds 1/12 ADU^2).
    excess = 2.0 if em_gain > 1 else 1.0
    mu = photons.images.astype(np.float64).mean(axis=0)
    variance = excess * mu + read_noise**2 + 1 / (12 * (gain * em_gain) ** 2)
    z = (converted.mean(axis=0) - mu) / np.sqrt(2 * variance / 3000)
    assert np.abs(z).max() < 5


def test_adu_to_photons_rejects_values_below_the_offset():
    adu = _spots(20, image_size=12, gain=2.0, offset=100.0, dtype=np.uint16).images
    assert adu.min() >= 100
    # Half an ADU of rounding is allowed, a wrong baseline is not.
    adu_to_photons(adu, gain=2.0, offset=100.4)
    with pytest.raises(ValueError, match=r"offset=110"):
        adu_to_photons(adu, gain=2.0, offset=110.0)
    # Read noise allows values 8 standard deviations (in ADU) below.
    noisy = adu.astype(np.float64)
    noisy[0, 0, 0] = 100.0 - 8 * 2.0 * 1.5 + 0.1
    adu_to_photons(noisy, gain=2.0, offset=100.0, read_noise=1.5)
    noisy[0, 0, 0] -= 1.0
    with pytest.raises(ValueError, match=r"below offset=100.*read_noise=1.5"):
        adu_to_photons(noisy, gain=2.0, offset=100.0, read_noise=1.5)


@pytest.mark.parametrize(
    ("params", "X", "error", "match"),
    [
        ({"gain": -1.0}, None, ValueError, "gain"),
        ({"gain": 0.0}, None, ValueError, "gain"),
        ({"offset": -1.0}, None, ValueError, "offset"),
        ({"em_gain": 0.5}, None, ValueError, "em_gain"),
        ({"read_noise": -1.0}, None, ValueError, "read_noise"),
        ({"offset": "100"}, None, TypeError, "offset"),
        ({}, np.array([[1.0, np.nan]]), ValueError, "NaN"),
        ({}, np.array([["a", "b"]]), TypeError, "real numbers"),
        ({}, np.array([True, False]), TypeError, "real numbers"),
    ],
)
def test_adu_to_photons_rejects_bad_input(params, X, error, match):
    X = np.full((2, 4, 4), 200.0) if X is None else X
    with pytest.raises(error, match=match):
        adu_to_photons(X, **params)


def test_adu_to_photons_leaves_its_input_alone_and_keeps_empty_shapes():
    X = np.full((2, 4, 4), 110.0)
    np.testing.assert_array_equal(adu_to_photons(X, gain=2.0, offset=100.0), 5.0)
    assert (X == 110.0).all()
    assert adu_to_photons(np.empty((0, 4, 4), np.uint16)).shape == (0, 4, 4)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_samples": 2.0}, TypeError, "n_samples"),
        ({"image_size": 0}, ValueError, "image_size"),
        ({"image_size": (3, 4, 5)}, TypeError, "image_size"),
        ({"psf_sigma": 0.0}, ValueError, "psf_sigma"),
        ({"psf_sigma": -1.0}, ValueError, "psf_sigma"),
        ({"psf_sigma": np.nan}, ValueError, "psf_sigma"),
        ({"psf_sigma": np.inf}, ValueError, "psf_sigma"),
        ({"psf_sigma": "1"}, TypeError, "psf_sigma"),
        ({"photons": 0}, ValueError, "photons"),
        ({"photons": -10.0}, ValueError, "photons"),
        ({"photons": np.inf}, ValueError, "photons"),
        ({"photons": (300, 100)}, ValueError, "low <= high"),
        ({"photons": (0, 100)}, ValueError, "photons"),
        ({"photons": (100, np.nan)}, ValueError, "photons"),
        ({"photons": (1, 2, 3)}, TypeError, "photons"),
        ({"photons": "many"}, TypeError, "photons"),
        ({"photons": True}, TypeError, "photons"),
        ({"background": -1.0}, ValueError, "background"),
        ({"background": None}, TypeError, "background"),
        ({"background": (0.0, 10.0)}, ValueError, "low end must be > 0"),
        ({"background": (20.0, 10.0)}, ValueError, "low <= high"),
        ({"background": (1.0, -1.0)}, ValueError, "background"),
        ({"psf_sigma": (0.0, 1.0)}, ValueError, "psf_sigma"),
        ({"psf_sigma": (2.0, 1.0)}, ValueError, "low <= high"),
        ({"psf_sigma": (1.0, 2.0, 3.0)}, TypeError, "psf_sigma"),
        ({"psf_sigma": (1.0, 2.0), "image_size": 12}, ValueError, "default margin"),
        ({"read_noise": -0.5}, ValueError, "read_noise"),
        ({"gain": -1.0}, ValueError, "gain"),
        ({"gain": 0.0}, ValueError, "gain"),
        ({"gain": np.inf}, ValueError, "gain"),
        ({"offset": -100.0}, ValueError, "offset"),
        ({"offset": "100"}, TypeError, "offset"),
        ({"em_gain": 0.5}, ValueError, "em_gain"),
        ({"em_gain": np.nan}, ValueError, "em_gain"),
        ({"hot_pixels": -1}, ValueError, "hot_pixels"),
        ({"hot_pixels": 1.5}, TypeError, "hot_pixels"),
        ({"hot_pixels": 144}, ValueError, "fewer than"),
        ({"hot_pixel_intensity": 0.0}, ValueError, "hot_pixel_intensity"),
        ({"margin": 5.6}, ValueError, "margin"),
        ({"margin": -1.0}, ValueError, "margin"),
        ({"margin": "wide"}, TypeError, "margin"),
        ({"image_size": 6}, ValueError, "default margin"),
        ({"dtype": np.complex64}, TypeError, "dtype"),
        ({"dtype": "no such type"}, TypeError, "dtype"),
        ({"return_X_y": "yes"}, TypeError, "return_X_y"),
        ({"random_state": "seed"}, TypeError, "random_state"),
        ({"random_state": -1}, ValueError, "random_state"),
    ],
)
def test_bad_parameters_raise_naming_them(params, error, match):
    params = {"image_size": 12, **params}
    n_samples = params.pop("n_samples", 3)
    with pytest.raises(error, match=match):
        make_bright_spot_dataset(n_samples, **params)


# ---------------------------------------------------------------------------
# the Cramer-Rao bound


def _mortensen_sd(psf_sigma, photons, background, pixel=1.0):
    """Mortensen et al. (2010): per-axis bound for a large image."""
    sigma_a2 = psf_sigma**2 + pixel**2 / 12
    tau = 2 * np.pi * sigma_a2 * background / (photons * pixel**2)
    integral, _ = integrate.quad(lambda t: np.log(t) / (1 + t / tau), 0, 1)
    return np.sqrt(sigma_a2 / photons / (1 + integral))


def test_bound_reproduces_the_reference_figures():
    at_1000 = localization_crlb(32, psf_sigma=1.3, photons=1000, background=10)
    at_200 = localization_crlb(32, psf_sigma=1.3, photons=200, background=10)
    assert at_1000.shape == (2,)
    np.testing.assert_allclose(at_1000, 0.0562, atol=5e-4)
    np.testing.assert_allclose(at_200, 0.1834, atol=5e-4)


@pytest.mark.parametrize(
    ("psf_sigma", "photons", "background"),
    [(1.3, 1000, 10), (1.3, 200, 10), (1.0, 5000, 1), (2.0, 300, 30), (1.5, 1e4, 0.5)],
)
def test_bound_matches_mortensen_closed_form_on_large_images(
    psf_sigma, photons, background
):
    crlb = localization_crlb(
        64, psf_sigma=psf_sigma, photons=photons, background=background
    )
    expected = _mortensen_sd(psf_sigma, photons, background)
    np.testing.assert_allclose(crlb, expected, rtol=0.01)


def test_bound_falls_with_photons_and_rises_with_background_and_read_noise():
    def crlb(**params):
        params = {"psf_sigma": 1.3, "photons": 1000, "background": 10, **params}
        return localization_crlb(21, **params)[0]

    by_photons = [crlb(photons=n) for n in (50, 100, 300, 1000, 3000, 1e4)]
    assert np.all(np.diff(by_photons) < 0)
    by_background = [crlb(background=b) for b in (0, 1, 10, 100, 1000)]
    assert np.all(np.diff(by_background) > 0)
    by_noise = [crlb(read_noise=s) for s in (0, 1, 3, 10)]
    assert np.all(np.diff(by_noise) > 0)
    # Without background, all information is in the spot: sigma_a / sqrt(N).
    assert crlb(background=0) == pytest.approx(
        np.sqrt((1.3**2 + 1 / 12) / 1000), rel=2e-3
    )


def test_read_noise_counts_as_extra_background_in_the_denominator():
    with_noise = localization_crlb(
        15, psf_sigma=1.1, photons=700, background=4, read_noise=2
    )
    as_background = localization_crlb(15, psf_sigma=1.1, photons=700, background=8)
    np.testing.assert_allclose(with_noise, as_background, rtol=1e-12)


def test_camera_gain_and_offset_leave_the_bound_and_em_gain_costs_sqrt_2():
    base = {"psf_sigma": 1.3, "photons": 1000, "background": 10}
    plain = localization_crlb(32, **base)
    converted = localization_crlb(32, gain=3.0, offset=50, **base)
    np.testing.assert_array_equal(converted, plain)
    emccd = localization_crlb(32, em_gain=100, **base)
    np.testing.assert_allclose(emccd, np.sqrt(2) * plain, rtol=1e-12)
    # Read noise after a high EM gain hardly counts; without EM gain it does.
    noisy = {**base, "read_noise": 50.0}
    np.testing.assert_allclose(
        localization_crlb(32, em_gain=1000, **noisy), emccd, rtol=1e-3
    )
    assert localization_crlb(32, **noisy)[0] > 2 * plain[0]


def test_bound_is_symmetric():
    params = {"psf_sigma": 1.3, "photons": 500, "background": 5}
    # On a square image, swapping row and column swaps the bounds.
    swapped = localization_crlb(17, position=[[3.2, 8.7], [8.7, 3.2]], **params)
    np.testing.assert_allclose(swapped[0], swapped[1][::-1], rtol=1e-10)
    assert swapped[0, 0] != pytest.approx(swapped[0, 1], rel=1e-4)
    # Mirroring the row (17 - 1 - 3.2 = 12.8) or the column (19 - 1 - 8.7).
    mirrored = localization_crlb(
        (17, 19), position=[[3.2, 8.7], [12.8, 8.7], [3.2, 9.3]], **params
    )
    np.testing.assert_allclose(mirrored[1:], mirrored[[0, 0]], rtol=1e-10)
    square = localization_crlb(15, **params)
    assert square[0] == pytest.approx(square[1], rel=1e-12)


def test_bound_per_spot_matches_the_bound_of_each_spot():
    spots = _spots(
        6,
        image_size=16,
        photons=(200.0, 5000.0),
        background=(1.0, 100.0),
        psf_sigma=(1.0, 2.0),
    )
    each = np.array(
        [
            localization_crlb(
                16,
                psf_sigma=spots.psf_sigma[i],
                photons=spots.photons[i],
                background=spots.background[i],
                position=spots.target[i],
            )
            for i in range(6)
        ]
    )
    together = localization_crlb(
        16,
        psf_sigma=spots.psf_sigma,
        photons=spots.photons,
        background=spots.background,
        position=spots.target,
    )
    np.testing.assert_allclose(together, each, rtol=1e-12)
    # Numbers and arrays mix; one position or none serves every spot.
    centre = localization_crlb(
        16, psf_sigma=1.3, photons=spots.photons, background=10.0
    )
    assert centre.shape == (6, 2)
    np.testing.assert_allclose(
        centre[2],
        localization_crlb(16, psf_sigma=1.3, photons=spots.photons[2], background=10.0),
    )
    assert localization_crlb(
        16,
        psf_sigma=1.3,
        photons=spots.photons,
        background=10.0,
        position=(7.5, 7.5),
    ).shape == (6, 2)


def test_bound_of_positions_has_their_shape_and_defaults_to_the_centre():
    params = {"psf_sigma": 1.3, "photons": 1000, "background": 10}
    centre = localization_crlb((20, 30), **params)
    assert centre.shape == (2,)
    np.testing.assert_array_equal(
        centre, localization_crlb((20, 30), position=(9.5, 14.5), **params)
    )
    many = localization_crlb(
        (20, 30), position=np.tile([[9.5, 14.5]], (1000, 1)), **params
    )
    assert many.shape == (1000, 2)
    np.testing.assert_allclose(many, np.tile(centre, (1000, 1)))
    one = localization_crlb((20, 30), position=[[9.5, 14.5]], **params)
    assert one.shape == (1, 2)
    # Near an edge part of the spot falls outside: the bound is larger.
    edge = localization_crlb((20, 30), position=[0.0, 14.5], **params)
    assert edge[0] > 1.1 * centre[0]


def test_maximum_likelihood_fit_reaches_the_bound():
    n, side, photons, background = 300, 15, 5000.0, 10.0
    spots = _spots(
        n, image_size=side, psf_sigma=1.3, photons=photons, background=background
    )
    fitted = _psf.fit_spots(spots.images, 1.3)
    rmse = np.sqrt(((fitted[:, :2] - spots.target) ** 2).mean(0))
    crlb = localization_crlb(
        side,
        psf_sigma=1.3,
        photons=photons,
        background=background,
        position=spots.target,
    )
    bound = np.sqrt((crlb**2).mean(0))
    # 300 images: the RMSE is known to about 4 %.
    np.testing.assert_allclose(rmse / bound, 1.0, atol=0.15)
    assert np.median(fitted[:, 2]) == pytest.approx(photons, rel=0.02)
    assert np.median(fitted[:, 3]) == pytest.approx(background, rel=0.05)


def test_maximum_likelihood_fit_finds_faint_spots():
    # 100 photons over 10 background counts per pixel: the spot's peak is
    # about one noise standard deviation high and the brightest smoothed peak
    # is sometimes noise; a fit from that peak alone misses 2 % of the spots.
    spots = make_bright_spot_dataset(
        200, image_size=24, photons=100.0, return_X_y=False, random_state=1
    )
    fitted = _psf.fit_spots(spots.images, 1.3)
    errors = np.hypot(*(fitted[:, :2] - spots.target).T)
    assert np.mean(errors > 3) < 0.005
    crlb = localization_crlb(
        24, psf_sigma=1.3, photons=100, background=10, position=spots.target
    )
    assert np.sqrt(np.mean(errors**2) / 2) < 1.3 * np.sqrt((crlb**2).mean())


def test_maximum_likelihood_fit_handles_read_noise():
    spots = _spots(100, image_size=13, psf_sigma=1.3, photons=3000.0, read_noise=3.0)
    fitted = _psf.fit_spots(spots.images, 1.3, read_noise=3.0)
    crlb = localization_crlb(
        13,
        psf_sigma=1.3,
        photons=3000,
        background=10,
        read_noise=3.0,
        position=spots.target,
    )
    rmse = np.sqrt(((fitted[:, :2] - spots.target) ** 2).mean())
    assert rmse < 1.3 * np.sqrt((crlb**2).mean())


def _posterior_mean_by_brute_force(image, photons, background, support, step):
    """Posterior mean on the midpoint grid of ``step``, every pixel exactly."""
    axes = []
    for low, high in support:
        cells = np.arange(np.floor(low / step) - 1, np.ceil(high / step) + 1)
        points = (cells + 0.5) * step
        inside = np.minimum(points + step / 2, high) - np.maximum(
            points - step / 2, low
        )
        axes.append((points[inside > 0], np.log(inside[inside > 0])))
    (rows, row_weights), (cols, col_weights) = axes
    log_posterior = np.empty((len(rows), len(cols)))
    for i, row in enumerate(rows):
        positions = np.column_stack([np.full(len(cols), row), cols])
        mu = _psf.expected_counts(image.shape, positions, 1.3, photons, background)
        log_posterior[i] = (image * np.log(mu)).sum(axis=(1, 2)) - mu.sum(axis=(1, 2))
    log_posterior += row_weights[:, None] + col_weights[None, :]
    weights = np.exp(log_posterior - log_posterior.max())
    return np.array([weights.sum(1) @ rows, weights.sum(0) @ cols]) / weights.sum()


@pytest.mark.parametrize(("photons", "step"), [(100.0, 0.1), (1000.0, 0.05)])
def test_posterior_mean_matches_the_posterior_over_the_whole_grid(photons, step):
    # 20 px: the correlation kernels (8 px either side) leave out far pixels,
    # and at 1000 photons the fine grid covers only the pixels near the peak.
    spots = _spots(3, image_size=20, photons=photons)
    support = [(spots.margin, 19 - spots.margin)] * 2
    fast = _psf.posterior_mean_positions(
        spots.images, 1.3, photons, 10.0, support, step=step
    )
    for image, position in zip(spots.images, fast):
        expected = _posterior_mean_by_brute_force(
            image.astype(np.float64), photons, 10.0, support, step
        )
        np.testing.assert_allclose(position, expected, atol=1e-6)


def test_posterior_mean_closes_in_on_bright_spots():
    errors = {}
    for photons in (300.0, 3000.0):
        spots = _spots(40, image_size=16, photons=photons)
        support = [(spots.margin, 15 - spots.margin)] * 2
        mean, std = _psf.posterior_mean_positions(
            spots.images, 1.3, photons, 10.0, support, return_std=True
        )
        errors[photons] = mean - spots.target
        crlb = localization_crlb(
            16, psf_sigma=1.3, photons=photons, background=10, position=spots.target
        )
        # Every spot found, and the posterior's spread about the bound.
        assert np.all(np.abs(errors[photons]) < 5 * crlb)
        assert np.sqrt(np.mean(std**2)) == pytest.approx(
            np.sqrt(np.mean(crlb**2)), rel=0.25
        )
    rmse = {n: np.sqrt(np.mean(e**2)) for n, e in errors.items()}
    assert rmse[3000.0] < 0.5 * rmse[300.0]
    assert rmse[3000.0] < 0.05


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"psf_sigma": 0}, ValueError, "psf_sigma"),
        ({"psf_sigma": np.nan}, ValueError, "psf_sigma"),
        ({"photons": -1}, ValueError, "photons"),
        ({"photons": (100, 200)}, TypeError, "photons"),
        ({"psf_sigma": [1.0, 2.0]}, TypeError, "psf_sigma"),
        ({"background": np.array([1.0, -1.0])}, ValueError, "background"),
        ({"photons": np.array([1.0, np.nan])}, ValueError, "photons"),
        ({"photons": np.ones((2, 2))}, ValueError, "photons"),
        ({"photons": np.ones(3), "psf_sigma": np.ones(2)}, ValueError, "same length"),
        ({"photons": np.ones(3), "position": np.ones((2, 2))}, ValueError, "one per"),
        ({"background": -1}, ValueError, "background"),
        ({"read_noise": -1}, ValueError, "read_noise"),
        ({"gain": -2.0}, ValueError, "gain"),
        ({"offset": -1.0}, ValueError, "offset"),
        ({"em_gain": 0.9}, ValueError, "em_gain"),
        ({"image_shape": 0}, ValueError, "image_shape"),
        ({"image_shape": (16, 16, 1)}, TypeError, "image_shape"),
        ({"position": [1.0, 2.0, 3.0]}, ValueError, "position"),
        ({"position": [[1.0, np.nan]]}, ValueError, "position"),
        ({"position": np.zeros((2, 2, 2))}, ValueError, "position"),
    ],
)
def test_bound_rejects_bad_parameters(params, error, match):
    params = {
        "image_shape": 16,
        "psf_sigma": 1.3,
        "photons": 1000,
        "background": 10,
        **params,
    }
    with pytest.raises(error, match=match):
        localization_crlb(params.pop("image_shape"), **params)
