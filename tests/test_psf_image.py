"""SampledPSF: a PSF given as an oversampled image, in the generators and
the Cramer-Rao bound."""

import numpy as np
import pytest
from scipy.special import erf

from pixel_regressor import (
    SampledPSF,
    _psf,
    localization_crlb,
    make_bright_spot_dataset,
    make_spot_frames,
)


def _gaussian(sigma, oversampling=9, half=8.0, sigma_col=None):
    """A Gaussian integrated over each sample of an odd-sized image."""
    n = int(2 * half * oversampling) + 1
    edges = (np.arange(n + 1) - n / 2) / oversampling

    def axis(s):
        return np.diff(erf(edges / (s * np.sqrt(2)))) / 2

    return np.outer(axis(sigma), axis(sigma if sigma_col is None else sigma_col))


def _ring(radius=2.0, width=0.6, oversampling=5, half=6.0):
    """A defocused spot: a ring of light."""
    n = int(2 * half * oversampling) + 1
    r = np.hypot(*np.mgrid[:n, :n] - (n - 1) / 2) / oversampling
    return np.exp(-0.5 * ((r - radius) / width) ** 2)


POSITIONS = np.random.default_rng(0).uniform(5.0, 10.0, (50, 2))


def test_a_sampled_gaussian_gives_the_gaussian_counts():
    psf = SampledPSF(_gaussian(1.3), 9)
    sampled = _psf.expected_counts((15, 15), POSITIONS, psf, 1000.0, 10.0)
    gaussian = _psf.expected_counts((15, 15), POSITIONS, 1.3, 1000.0, 10.0)
    peak = (gaussian - 10.0).max(axis=(1, 2))
    assert np.abs(sampled - gaussian).max(axis=(1, 2)).max() < 0.01 * peak.min()
    assert psf.sigma == pytest.approx(1.3, rel=1e-3)


def test_a_sampled_gaussian_gives_the_gaussian_bound():
    psf = SampledPSF(_gaussian(1.3), 9)
    sampled = localization_crlb(
        15, psf=psf, photons=1000, background=10, position=POSITIONS
    )
    gaussian = localization_crlb(
        15, psf_sigma=1.3, photons=1000, background=10, position=POSITIONS
    )
    np.testing.assert_allclose(sampled, gaussian, rtol=0.01)


def _numeric_derivatives(psf, step):
    out = []
    for axis in (0, 1):
        shift = np.zeros(2)
        shift[axis] = step
        out.append(
            (
                psf.pixel_shares((15, 15), POSITIONS + shift)
                - psf.pixel_shares((15, 15), POSITIONS - shift)
            )
            / (2 * step)
        )
    return out


def test_derivatives_approach_those_of_the_continuous_psf():
    # The ring sampled 25 times per pixel stands for the continuous ring.
    truth = _numeric_derivatives(SampledPSF(_ring(oversampling=25), 25), 1e-3)
    psf = SampledPSF(_ring(oversampling=5), 5)
    shares, d_row, d_col = psf.pixel_shares_and_derivatives((15, 15), POSITIONS)
    np.testing.assert_array_equal(shares, psf.pixel_shares((15, 15), POSITIONS))
    # Those of the piecewise-constant samples, a first-order approximation.
    piecewise = _numeric_derivatives(psf, 1e-5)
    for derivative, exact, rough in zip((d_row, d_col), truth, piecewise):
        scale = np.abs(exact).max()
        error = np.abs(derivative - exact).max() / scale
        assert error < 0.08
        assert error < 0.5 * np.abs(rough - exact).max() / scale


def test_shares_sum_to_one_in_the_middle_and_light_outside_is_lost():
    psf = SampledPSF(_ring(), 5)
    middle = psf.pixel_shares((21, 21), [[10.3, 9.8]])
    assert middle.sum() == pytest.approx(1.0, abs=1e-9)
    assert middle.min() >= 0
    corner = psf.pixel_shares((21, 21), [[0.0, 0.0]])
    assert 0.2 < corner.sum() < 0.35  # about a quarter of a ring at a corner
    crop = SampledPSF(_ring() / _ring().sum() / 2, 5, normalize=False)
    assert crop.pixel_shares((21, 21), [[10.0, 10.0]]).sum() == pytest.approx(0.5)


def test_the_spot_is_at_the_centre_of_the_image():
    tilted = _gaussian(1.0, oversampling=4, half=5.0)
    tilted[: tilted.shape[0] // 2] *= 3  # brighter above the centre
    psf = SampledPSF(tilted, 4)
    shares = psf.pixel_shares((15, 15), [[7.0, 7.0]])[0]
    assert shares[:7].sum() > 2.5 * shares[8:].sum()
    np.testing.assert_allclose(shares, shares[:, ::-1], atol=1e-12)


def _defocused(sigma=1.3, radius=1.5, oversampling=5):
    """A Gaussian blurred by a uniform disk, as a spot out of focus."""
    from scipy.signal import fftconvolve

    n = int(2 * 4 * oversampling) + 1
    r = np.hypot(*np.mgrid[:n, :n] - (n - 1) / 2) / oversampling
    disk = (r <= radius).astype(float)
    return fftconvolve(_gaussian(sigma, oversampling, half=8.0), disk, mode="same")


def test_a_defocused_psf_has_a_larger_bound_than_the_gaussian():
    psf = SampledPSF(_defocused(), 5)
    exact = localization_crlb(21, psf=psf, photons=1000, background=10)
    focused = localization_crlb(21, psf_sigma=1.3, photons=1000, background=10)
    assert np.all(exact > 1.15 * focused)
    assert psf.sigma > 1.5
    stretched = SampledPSF(_gaussian(1.3, sigma_col=2.0), 9)
    bound = localization_crlb(21, psf=stretched, photons=1000, background=10)
    assert bound[1] > 1.3 * bound[0]


@pytest.mark.parametrize(
    ("image", "oversampling", "kwargs", "error", "match"),
    [
        (np.ones(5), 1, {}, ValueError, "2-D"),
        (np.full((3, 3), np.nan), 1, {}, ValueError, "finite"),
        (-np.ones((3, 3)), 1, {}, ValueError, "non-negative"),
        (np.zeros((3, 3)), 1, {}, ValueError, "positive sum"),
        (np.ones((3, 3)), 0, {}, ValueError, "oversampling"),
        (np.ones((3, 3)), 2.0, {}, TypeError, "oversampling"),
        (np.ones((3, 3)), True, {}, TypeError, "oversampling"),
        (np.ones((3, 3)), 1, {"normalize": False}, ValueError, "sums to 9"),
        (np.ones((3, 3)), 1, {"normalize": "yes"}, TypeError, "normalize"),
        ("abc", 1, {}, TypeError, "image"),
    ],
)
def test_invalid_psf_images_are_refused(image, oversampling, kwargs, error, match):
    with pytest.raises(error, match=match):
        SampledPSF(image, oversampling, **kwargs)


def test_psf_and_psf_sigma_are_one_or_the_other():
    psf = SampledPSF(_ring(), 5)
    with pytest.raises(ValueError, match="psf_sigma"):
        make_bright_spot_dataset(2, psf=psf, psf_sigma=1.3)
    with pytest.raises(ValueError, match="psf_sigma"):
        make_spot_frames(2, psf=psf, psf_sigma=1.3)
    with pytest.raises(ValueError, match="psf_sigma"):
        localization_crlb(21, psf=psf, psf_sigma=1.3, photons=1000, background=10)
    with pytest.raises(TypeError, match="psf"):
        localization_crlb(21, photons=1000, background=10)
    with pytest.raises(TypeError, match="SampledPSF"):
        make_bright_spot_dataset(2, psf=_ring())


def test_the_gaussian_path_is_unchanged_without_psf():
    default = make_bright_spot_dataset(20, image_size=12, random_state=3)
    explicit = make_bright_spot_dataset(
        20, image_size=12, psf_sigma=1.3, random_state=3
    )
    np.testing.assert_array_equal(default[0], explicit[0])


def test_dataset_images_average_to_the_expected_counts():
    psf = SampledPSF(_ring(), 5)
    spots = make_bright_spot_dataset(
        4000,
        image_size=15,
        psf=psf,
        photons=2000,
        background=5,
        margin=7.0,  # every spot at the centre
        return_X_y=False,
        random_state=0,
    )
    mu = _psf.expected_counts((15, 15), [[7.0, 7.0]], psf, 2000.0, 5.0)[0]
    mean = spots.images.mean(axis=0)
    # Within 5 standard errors of the mean, pixel by pixel.
    assert np.all(np.abs(mean - mu) < 5 * np.sqrt(mu / 4000) + 1e-9)
    assert spots.psf is psf
    np.testing.assert_array_equal(spots.psf_sigma, psf.sigma)
    assert "SampledPSF" in spots.DESCR


def test_frames_average_to_the_expected_counts():
    psf = SampledPSF(_ring(), 5)
    data = make_spot_frames(
        300,
        shape=(24, 24),
        density=2,
        psf=psf,
        photons=1500,
        background=3,
        return_X_y=False,
        random_state=0,
    )
    truth = data.truth
    mu = np.full((300, 24, 24), 3.0)
    for frame, spots in truth.groupby("frame"):
        mu[frame] += _psf.expected_counts(
            (24, 24), spots[["row", "col"]].to_numpy(), psf, 1500.0, 0.0
        ).sum(axis=0)
    assert np.abs(data.frames - mu).mean() < 1.2 * np.sqrt(mu).mean()
    residual = (data.frames - mu).sum() / np.sqrt(mu.sum())
    assert abs(residual) < 5  # the totals agree within 5 standard deviations
    # A spot's light is where the PSF puts it: the summed residuals near the
    # spots are noise.
    assert np.allclose(truth["psf_sigma"], psf.sigma)
    assert data.psf is psf
