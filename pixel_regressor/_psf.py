"""The image model of a blurred spot, in one place.

A spot of ``photons`` expected photons at ``(row, col)``, blurred by an
isotropic Gaussian point-spread function (PSF) of standard deviation
``psf_sigma`` pixels, on a uniform ``background`` (expected counts per pixel),
gives each pixel the expected count::

    mu[r, c] = background + photons * E_row[r] * E_col[c]

where ``E_row[r]`` is the share of a 1-D Gaussian centred on ``row`` that
falls inside ``[r - 0.5, r + 0.5]``, a difference of two ``erf``. Pixel
``(r, c)`` covers ``[r - 0.5, r + 0.5] x [c - 0.5, c + 0.5]``: an integer
position is a pixel centre, and ``photons`` counts every photon of the spot,
also those that fall outside the image.

Observed images are ``Poisson(mu)`` (plus Gaussian read noise in
:func:`~pixel_regressor.make_bright_spot_dataset`). This module gives
``mu`` (:func:`expected_counts`), its derivatives with respect to ``(row,
col, photons, background)`` (:func:`expected_counts_and_derivatives`), the
Fisher information of independent Poisson pixels
(:func:`fisher_information`), the Cramer-Rao bound on the position
(:func:`position_crlb`) and a per-image maximum-likelihood fit
(:func:`fit_spot`), the reference estimator that reaches the Cramer-Rao bound.

NumPy only at import; SciPy (``scipy.special.erf``, ``scipy.optimize``,
``scipy.ndimage``) is imported inside the functions that need it.
"""

import numpy as np

_SQRT2 = np.sqrt(2.0)
_SQRT2PI = np.sqrt(2.0 * np.pi)


def pixel_shares(centres, n_pixels, psf_sigma):
    """Share of a 1-D Gaussian that falls in each of ``n_pixels`` pixels.

    Parameters
    ----------
    centres : ndarray of shape (m,)
        Centres of the Gaussians, in pixels (pixel ``k`` covers ``[k - 0.5,
        k + 0.5]``).
    n_pixels : int
        Number of pixels along the axis.
    psf_sigma : float
        Standard deviation of the Gaussians, in pixels.

    Returns
    -------
    shares : ndarray of shape (m, n_pixels)
    """
    from scipy.special import erf

    edges = np.arange(n_pixels + 1, dtype=np.float64) - 0.5
    cdf = erf(
        (edges - np.asarray(centres, dtype=np.float64)[:, None]) / (_SQRT2 * psf_sigma)
    )
    return 0.5 * np.diff(cdf, axis=1)


def _pixel_share_derivatives(centres, n_pixels, psf_sigma):
    """Derivative of :func:`pixel_shares` with respect to the centre."""
    edges = np.arange(n_pixels + 1, dtype=np.float64) - 0.5
    z = (edges - np.asarray(centres, dtype=np.float64)[:, None]) / psf_sigma
    density = np.exp(-0.5 * z * z) / (_SQRT2PI * psf_sigma)
    # d/dc [Phi((e1 - c)/s) - Phi((e0 - c)/s)] = g(e0 - c) - g(e1 - c)
    return density[:, :-1] - density[:, 1:]


def expected_counts(shape, positions, psf_sigma, photons, background):
    """Expected counts ``mu`` of spots at ``positions``.

    Parameters
    ----------
    shape : tuple of (int, int)
        ``(height, width)`` of the images.
    positions : ndarray of shape (m, 2)
        ``(row, col)`` of each spot.
    psf_sigma : float
        Width of the Gaussian PSF, in pixels.
    photons, background : float or ndarray of shape (m,)
        Expected photons of each spot, and expected background counts per
        pixel.

    Returns
    -------
    mu : ndarray of shape (m, height, width) of float64
    """
    height, width = shape
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    rows = pixel_shares(positions[:, 0], height, psf_sigma)
    cols = pixel_shares(positions[:, 1], width, psf_sigma)
    photons = np.broadcast_to(np.asarray(photons, dtype=np.float64), len(positions))
    background = np.broadcast_to(
        np.asarray(background, dtype=np.float64), len(positions)
    )
    mu = (photons[:, None] * rows)[:, :, None] * cols[:, None, :]
    mu += background[:, None, None]
    return mu


def expected_counts_and_derivatives(shape, positions, psf_sigma, photons, background):
    """``mu`` and its derivatives with respect to (row, col, photons, background).

    Parameters are those of :func:`expected_counts`.

    Returns
    -------
    mu : ndarray of shape (m, height, width)
    jacobian : ndarray of shape (m, 4, height, width)
        ``d mu / d theta`` for ``theta = (row, col, photons, background)``.
    """
    height, width = shape
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    m = len(positions)
    photons = np.broadcast_to(np.asarray(photons, dtype=np.float64), m)
    background = np.broadcast_to(np.asarray(background, dtype=np.float64), m)
    rows = pixel_shares(positions[:, 0], height, psf_sigma)
    cols = pixel_shares(positions[:, 1], width, psf_sigma)
    d_rows = _pixel_share_derivatives(positions[:, 0], height, psf_sigma)
    d_cols = _pixel_share_derivatives(positions[:, 1], width, psf_sigma)
    jacobian = np.empty((m, 4, height, width))
    np.multiply(rows[:, :, None], cols[:, None, :], out=jacobian[:, 2])
    np.multiply(d_rows[:, :, None], cols[:, None, :], out=jacobian[:, 0])
    np.multiply(rows[:, :, None], d_cols[:, None, :], out=jacobian[:, 1])
    jacobian[:, :2] *= photons[:, None, None, None]
    jacobian[:, 3] = 1.0
    mu = photons[:, None, None] * jacobian[:, 2] + background[:, None, None]
    return mu, jacobian


def fisher_information(
    shape, positions, psf_sigma, photons, background, read_noise=0.0
):
    """Fisher information of (row, col, photons, background), per position.

    Pixels are independent Poisson counts, ``I_ij = sum_k (d mu_k / d theta_i)
    (d mu_k / d theta_j) / mu_k``; read noise of standard deviation
    ``read_noise`` enters in the usual Poisson-plus-Gaussian approximation,
    ``mu_k + read_noise ** 2`` in the denominator.

    Returns
    -------
    information : ndarray of shape (m, 4, 4)
    """
    mu, jacobian = expected_counts_and_derivatives(
        shape, positions, psf_sigma, photons, background
    )
    denominator = mu + read_noise**2
    # Without background or read noise, pixels far from the spot expect no
    # counts (and their derivatives vanish): they carry no information.
    weights = np.divide(
        1.0, denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    m = len(mu)
    jacobian = jacobian.reshape(m, 4, -1)
    return np.einsum("mik,mjk->mij", jacobian * weights.reshape(m, 1, -1), jacobian)


def position_crlb(shape, positions, psf_sigma, photons, background, read_noise=0.0):
    """Cramer-Rao standard deviations of (row, col), shape ``(m, 2)``.

    All four parameters are unknown: the bound is the square root of the
    first two diagonal entries of the inverse Fisher information. Positions
    are processed in chunks, so any number of them fits in memory.
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    height, width = shape
    chunk = max(1, (1 << 18) // (height * width))
    out = np.empty_like(positions)
    for start in range(0, len(positions), chunk):
        information = fisher_information(
            shape,
            positions[start : start + chunk],
            psf_sigma,
            photons,
            background,
            read_noise,
        )
        covariance = np.linalg.inv(information)
        out[start : start + chunk, 0] = np.sqrt(covariance[:, 0, 0])
        out[start : start + chunk, 1] = np.sqrt(covariance[:, 1, 1])
    return out


def initial_guesses(image, psf_sigma, n_starts=3, half_window=3):
    """Starting points ``(row, col, photons, background)`` for :func:`fit_spot`.

    The ``n_starts`` highest local maxima of the image smoothed by the PSF,
    each refined by the centroid of the background-subtracted ``(2 *
    half_window + 1)``-wide square around it. The background is the mean of
    the pixels outside that square, the photons the sum above it inside.

    Returns
    -------
    starts : ndarray of shape (k, 4), k <= n_starts
        Best first.
    """
    from scipy.ndimage import gaussian_filter, maximum_filter

    image = np.asarray(image, dtype=np.float64)
    height, width = image.shape
    smooth = gaussian_filter(image, psf_sigma, mode="nearest")
    size = 2 * int(np.ceil(2 * psf_sigma)) + 1
    peaks = np.flatnonzero(smooth == maximum_filter(smooth, size, mode="nearest"))
    peaks = peaks[np.argsort(smooth.ravel()[peaks])[::-1][:n_starts]]
    starts = []
    for peak in peaks:
        row, col = divmod(int(peak), width)
        r0, r1 = max(row - half_window, 0), min(row + half_window + 1, height)
        c0, c1 = max(col - half_window, 0), min(col + half_window + 1, width)
        outside = np.ones(image.shape, dtype=bool)
        outside[r0:r1, c0:c1] = False
        background = (
            float(image[outside].mean()) if outside.any() else float(np.median(image))
        )
        background = max(background, 1e-3)
        window = image[r0:r1, c0:c1] - background
        weights = np.clip(window, 0.0, None)
        total = weights.sum()
        if total > 0:
            rr, cc = np.mgrid[r0:r1, c0:c1]
            row = float((rr * weights).sum() / total)
            col = float((cc * weights).sum() / total)
        photons = max(float(window.sum()), 1.0)
        starts.append([row, col, photons, background])
    return np.array(starts, dtype=np.float64)


def _fit_from(image, psf_sigma, read_noise, start, max_iterations=200):
    """One trust-region fit from ``start``: ``(theta, negative log-likelihood)``."""
    from scipy.optimize import minimize

    shape = image.shape
    height, width = shape
    offset = read_noise**2
    data = (image + offset).ravel()
    # Optimise in units where every parameter is of order one.
    scale = np.array([1.0, 1.0, max(start[2], 1.0), max(start[3], 1.0)])

    def model(scaled):
        theta = scaled * scale
        mu, jacobian = expected_counts_and_derivatives(
            shape, theta[None, :2], psf_sigma, theta[2], theta[3]
        )
        return mu.ravel() + offset, jacobian.reshape(4, -1) * scale[:, None]

    def objective(scaled):
        row, col = scaled[:2]
        if not (-0.5 <= row <= height - 0.5 and -0.5 <= col <= width - 0.5):
            return np.inf, np.zeros(4)  # a spot outside the image: refused
        mu, jacobian = model(scaled)
        if not np.all(mu > 0):
            return np.inf, np.zeros(4)
        value = float(np.sum(mu) - np.dot(data, np.log(mu)))
        return value, jacobian @ (1.0 - data / mu)

    def fisher(scaled):
        mu, jacobian = model(scaled)
        return (jacobian / mu) @ jacobian.T

    result = minimize(
        objective,
        start / scale,
        jac=True,
        hess=fisher,
        method="trust-exact",
        options={"maxiter": max_iterations},
    )
    return result.x * scale, float(result.fun)


def fit_spot(image, psf_sigma, read_noise=0.0, start=None, n_starts=3):
    """Maximum-likelihood ``(row, col, photons, background)`` of one image.

    Minimises the Poisson negative log-likelihood ``sum(mu - x log mu)`` of
    the model of this module with all four parameters free, by
    :func:`scipy.optimize.minimize`'s ``trust-exact`` method with the exact
    gradient and the Fisher information in place of the Hessian (Fisher
    scoring in a trust region: 4-6 evaluations per fit). Steps that take the
    spot out of the image or make an expected count non-positive are refused.
    Faint spots are hard to find, so the fit starts from the ``n_starts``
    brightest peaks of the smoothed image (:func:`initial_guesses`), takes a
    few steps from each, and carries the most likely on to convergence. With
    read noise, data and model are both shifted by ``read_noise ** 2`` (the
    Poisson-plus-Gaussian approximation).

    Parameters
    ----------
    image : ndarray of shape (height, width)
    psf_sigma : float
    read_noise : float, default=0.0
    start : ndarray of shape (4,), default=None
        One starting point; :func:`initial_guesses` if None.
    n_starts : int, default=3
        Number of starting points when ``start`` is None.

    Returns
    -------
    theta : ndarray of shape (4,)
        ``(row, col, photons, background)``.
    """
    image = np.asarray(image, dtype=np.float64)
    if start is None:
        starts = initial_guesses(image, psf_sigma, n_starts)
    else:
        starts = np.asarray(start, dtype=np.float64).reshape(1, 4)
    if len(starts) > 1:
        fits = [_fit_from(image, psf_sigma, read_noise, one, 8) for one in starts]
        starts = [min(fits, key=lambda fit: fit[1])[0]]
    return _fit_from(image, psf_sigma, read_noise, starts[0])[0]


def fit_spots(images, psf_sigma, read_noise=0.0):
    """:func:`fit_spot` on each of ``images`` (shape ``(n, height, width)``).

    Returns
    -------
    theta : ndarray of shape (n, 4)
        ``(row, col, photons, background)`` of each image.
    """
    images = np.asarray(images)
    return np.array(
        [fit_spot(image, psf_sigma, read_noise) for image in images]
    ).reshape(len(images), 4)
