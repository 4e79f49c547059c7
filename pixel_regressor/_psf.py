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

A PSF that is not a Gaussian comes as an oversampled image,
:class:`SampledPSF`: the functions whose ``psf`` parameter is a width take
one in its place, and ``E_row[r] * E_col[c]`` becomes its integral over the
pixel.

Observed images are ``Poisson(mu)`` (plus Gaussian read noise in
:func:`~pixel_regressor.make_bright_spot_dataset`). This module gives
``mu`` (:func:`expected_counts`), its derivatives with respect to ``(row,
col, photons, background)`` (:func:`expected_counts_and_derivatives`), the
Fisher information of independent Poisson pixels
(:func:`fisher_information`), the Cramer-Rao bound on the position
(:func:`position_crlb`), a per-image maximum-likelihood fit
(:func:`fit_spot`), the reference estimator that reaches the Cramer-Rao bound,
and the posterior mean of the position under a uniform prior
(:func:`posterior_mean_positions`), the estimator of least expected squared
error when the photons and the background are known.

NumPy only at import; SciPy (``scipy.special.erf``, ``scipy.optimize``,
``scipy.ndimage``) is imported inside the functions that need it.
"""

import numpy as np

_SQRT2 = np.sqrt(2.0)
_SQRT2PI = np.sqrt(2.0 * np.pi)


def _column(psf_sigma):
    """A width, or one per spot, as a column that broadcasts over pixels."""
    return np.reshape(np.asarray(psf_sigma, dtype=np.float64), (-1, 1))


def pixel_shares(centres, n_pixels, psf_sigma):
    """Share of a 1-D Gaussian that falls in each of ``n_pixels`` pixels.

    Parameters
    ----------
    centres : ndarray of shape (m,)
        Centres of the Gaussians, in pixels (pixel ``k`` covers ``[k - 0.5,
        k + 0.5]``).
    n_pixels : int
        Number of pixels along the axis.
    psf_sigma : float or ndarray of shape (m,)
        Standard deviation of the Gaussians, in pixels.

    Returns
    -------
    shares : ndarray of shape (m, n_pixels)
    """
    from scipy.special import erf

    edges = np.arange(n_pixels + 1, dtype=np.float64) - 0.5
    # A PSF far narrower than a pixel overflows to +-inf, whose erf is exact.
    with np.errstate(over="ignore"):
        cdf = erf(
            (edges - np.asarray(centres, dtype=np.float64)[:, None])
            / (_SQRT2 * _column(psf_sigma))
        )
    return 0.5 * np.diff(cdf, axis=1)


def _pixel_share_derivatives(centres, n_pixels, psf_sigma):
    """Derivative of :func:`pixel_shares` with respect to the centre."""
    edges = np.arange(n_pixels + 1, dtype=np.float64) - 0.5
    psf_sigma = _column(psf_sigma)
    # Overflows (a PSF far narrower than a pixel) give the exact density, 0.
    with np.errstate(over="ignore"):
        z = (edges - np.asarray(centres, dtype=np.float64)[:, None]) / psf_sigma
        density = np.exp(-0.5 * z * z) / (_SQRT2PI * psf_sigma)
    # d/dc [Phi((e1 - c)/s) - Phi((e0 - c)/s)] = g(e0 - c) - g(e1 - c)
    return density[:, :-1] - density[:, 1:]


def expected_counts(shape, positions, psf, photons, background):
    """Expected counts ``mu`` of spots at ``positions``.

    Parameters
    ----------
    shape : tuple of (int, int)
        ``(height, width)`` of the images.
    positions : ndarray of shape (m, 2)
        ``(row, col)`` of each spot.
    psf : float, ndarray of shape (m,) or SampledPSF
        Width of the Gaussian PSF, in pixels, or a :class:`SampledPSF`.
    photons, background : float or ndarray of shape (m,)
        Expected photons of each spot, and expected background counts per
        pixel.

    Returns
    -------
    mu : ndarray of shape (m, height, width) of float64
    """
    height, width = shape
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    photons = np.broadcast_to(np.asarray(photons, dtype=np.float64), len(positions))
    background = np.broadcast_to(
        np.asarray(background, dtype=np.float64), len(positions)
    )
    if isinstance(psf, SampledPSF):
        mu = psf.pixel_shares(shape, positions)
        mu *= photons[:, None, None]
    else:
        rows = pixel_shares(positions[:, 0], height, psf)
        cols = pixel_shares(positions[:, 1], width, psf)
        mu = (photons[:, None] * rows)[:, :, None] * cols[:, None, :]
    mu += background[:, None, None]
    return mu


def expected_counts_and_derivatives(shape, positions, psf, photons, background):
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
    jacobian = np.empty((m, 4, height, width))
    if isinstance(psf, SampledPSF):
        (
            jacobian[:, 2],
            jacobian[:, 0],
            jacobian[:, 1],
        ) = psf.pixel_shares_and_derivatives(shape, positions)
    else:
        rows = pixel_shares(positions[:, 0], height, psf)
        cols = pixel_shares(positions[:, 1], width, psf)
        d_rows = _pixel_share_derivatives(positions[:, 0], height, psf)
        d_cols = _pixel_share_derivatives(positions[:, 1], width, psf)
        np.multiply(rows[:, :, None], cols[:, None, :], out=jacobian[:, 2])
        np.multiply(d_rows[:, :, None], cols[:, None, :], out=jacobian[:, 0])
        np.multiply(rows[:, :, None], d_cols[:, None, :], out=jacobian[:, 1])
    jacobian[:, :2] *= photons[:, None, None, None]
    jacobian[:, 3] = 1.0
    mu = photons[:, None, None] * jacobian[:, 2] + background[:, None, None]
    return mu, jacobian


def fisher_information(
    shape, positions, psf, photons, background, read_noise=0.0, excess=1.0
):
    """Fisher information of (row, col, photons, background), per position.

    Pixels are independent Poisson counts, ``I_ij = sum_k (d mu_k / d theta_i)
    (d mu_k / d theta_j) / mu_k``; read noise of standard deviation
    ``read_noise`` (in photoelectrons) enters in the usual Poisson-plus-Gaussian
    approximation, ``mu_k + read_noise ** 2`` in the denominator. ``excess``
    is the square of an EMCCD's excess noise factor (2 at high gain), which
    multiplies ``mu_k`` there.

    Returns
    -------
    information : ndarray of shape (m, 4, 4)
    """
    mu, jacobian = expected_counts_and_derivatives(
        shape, positions, psf, photons, background
    )
    # A read noise whose variance overflows leaves no information: weight 0.
    with np.errstate(over="ignore"):
        denominator = excess * mu + np.square(np.float64(read_noise))
    # Without background or read noise, pixels far from the spot expect no
    # counts (and their derivatives vanish): they carry no information.
    weights = np.divide(
        1.0, denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    m = len(mu)
    jacobian = jacobian.reshape(m, 4, -1)
    return np.einsum("mik,mjk->mij", jacobian * weights.reshape(m, 1, -1), jacobian)


def position_crlb(
    shape, positions, psf, photons, background, read_noise=0.0, excess=1.0
):
    """Cramer-Rao standard deviations of (row, col), shape ``(m, 2)``.

    ``psf`` (a Gaussian's width, or a :class:`SampledPSF`), ``photons`` and
    ``background`` are numbers or one per position (shape ``(m,)``; one
    :class:`SampledPSF` for all). All four parameters are unknown: the bound is
    the square root of the first two diagonal entries of the inverse Fisher
    information, inverted scaled to a unit diagonal (the parameters' units
    differ by orders of magnitude). Where the information is singular (a
    parameter without information, or a scaled condition number above
    ``_MAX_CONDITION``) no unbiased estimator has a finite variance, and the
    bound is ``inf``. Positions are processed in chunks, so any number of
    them fits in memory.
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    m = len(positions)
    sampled = isinstance(psf, SampledPSF)
    photons, background = (
        np.broadcast_to(np.asarray(value, dtype=np.float64), m)
        for value in (photons, background)
    )
    if not sampled:
        psf = np.broadcast_to(np.asarray(psf, dtype=np.float64), m)
    height, width = shape
    chunk = max(1, (1 << 18) // (height * width))
    out = np.empty_like(positions)
    for start in range(0, m, chunk):
        part = slice(start, start + chunk)
        information = fisher_information(
            shape,
            positions[part],
            psf if sampled else psf[part],
            photons[part],
            background[part],
            read_noise,
            excess,
        )
        out[start : start + chunk] = _position_variances(information)
    return np.sqrt(out)


# Above this condition number of the Fisher information scaled to a unit
# diagonal, the information is taken as singular: its inverse would lose
# all but about four of float64's sixteen digits.
_MAX_CONDITION = 1e12


def _position_variances(information):
    """The (row, col) diagonal of the inverse of each information matrix,
    ``inf`` where it is singular. ``information`` has shape ``(m, 4, 4)``.
    """
    scale = np.sqrt(np.diagonal(information, axis1=1, axis2=2))
    variances = np.full((len(information), 2), np.inf)
    usable = np.all(np.isfinite(scale) & (scale > 0), axis=1)
    scaled = information[usable] / (scale[usable, :, None] * scale[usable, None, :])
    eigenvalues = np.linalg.eigvalsh(scaled)
    regular = eigenvalues[:, 0] > eigenvalues[:, -1] / _MAX_CONDITION
    inverse = np.linalg.inv(scaled[regular])
    kept = np.flatnonzero(usable)[regular]
    variances[kept] = np.diagonal(inverse, axis1=1, axis2=2)[:, :2] / (
        scale[kept, :2] ** 2
    )
    return variances


class SampledPSF:
    """A point-spread function given as an oversampled image.

    A measured bead, or a model of a microscope's optics (a vectorial PSF,
    an astigmatic or defocused one), sampled ``oversampling`` times finer
    than the camera's pixels. It replaces the Gaussian PSF of
    :func:`~pixel_regressor.make_bright_spot_dataset`,
    :func:`~pixel_regressor.make_spot_frames` and
    :func:`~pixel_regressor.localization_crlb` (their ``psf`` parameter).

    The image is piecewise constant: sample ``(i, j)`` holds the share of
    the spot's photons that falls in its square, ``1 / oversampling`` pixels
    wide. A spot at ``(row, col)`` puts the centre of the image (the middle
    of its middle sample for odd sizes) at ``(row, col)``. The share of a
    camera pixel is the integral of the samples over the pixel, exact: the
    cumulative sum of the samples, interpolated bilinearly
    (:func:`scipy.ndimage.map_coordinates`) at the pixel's corners. Light that
    falls outside the image is lost, as for a crop of a real PSF. The
    derivatives with respect to the position are those of the same
    integral with the samples' density interpolated linearly between sample
    centres; both are accurate to second order in the sample size.

    Parameters
    ----------
    image : array-like of shape (sample_rows, sample_cols)
        The PSF's samples: finite, non-negative, with a positive sum.
    oversampling : int
        Samples per camera pixel along each axis, >= 1.
    normalize : bool, default=True
        Divide the samples by their sum, so that the image holds every photon
        of the spot. False keeps the samples as shares of the spot's photons
        (their sum at most 1: the rest falls outside the image).

    Attributes
    ----------
    image : ndarray of shape (sample_rows, sample_cols) of float64
        The samples, normalised if ``normalize`` (read-only).
    oversampling : int
        Samples per camera pixel.
    sigma : float
        Width of the isotropic Gaussian, in camera pixels, closest in least
        squares to the samples (centre, amplitude and width free): the
        Gaussian a fit to these spots would find, for detection code and for
        comparisons with the Gaussian model; at most :attr:`extent`.
    extent : float
        Half the image's larger side, in camera pixels: no light reaches
        farther from the spot's centre.

    Examples
    --------
    A Gaussian of 1.3 pixels, sampled five times finer than the pixels:

    >>> import numpy as np
    >>> from scipy.special import erf
    >>> from pixel_regressor import SampledPSF
    >>> edges = (np.arange(76) - 38) / 5
    >>> axis = np.diff(erf(edges / (1.3 * np.sqrt(2)))) / 2
    >>> psf = SampledPSF(np.outer(axis, axis), oversampling=5)
    >>> round(psf.sigma, 3), psf.extent
    (1.3, 7.5)

    The expected share of each pixel of a 15x15 crop, for a spot at its centre:

    >>> shares = psf.pixel_shares((15, 15), [[7.0, 7.0]])
    >>> shares.shape, round(float(shares.sum()), 4)
    ((1, 15, 15), 1.0)
    """

    def __init__(self, image, oversampling, *, normalize=True):
        import numbers

        if isinstance(oversampling, bool) or not isinstance(
            oversampling, numbers.Integral
        ):
            raise TypeError(
                f"oversampling must be an int >= 1, got "
                f"{type(oversampling).__name__} {oversampling!r}."
            )
        if oversampling < 1:
            raise ValueError(f"oversampling must be an int >= 1, got {oversampling!r}.")
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"normalize must be a bool, got {normalize!r}.")
        try:
            samples = np.array(image, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"image must be a 2-D array of numbers, got {type(image).__name__}."
            ) from None
        if samples.ndim != 2 or min(samples.shape) < 1:
            raise ValueError(
                f"image must be a non-empty 2-D array, got shape {samples.shape}."
            )
        if not np.all(np.isfinite(samples)):
            raise ValueError("image must hold finite values (no NaN or infinity).")
        if samples.min() < 0:
            raise ValueError(
                f"image must be non-negative, got a sample of {samples.min():g}."
            )
        total = samples.sum()
        if not total > 0:
            raise ValueError("image must have a positive sum: it holds no light.")
        if normalize:
            samples /= total
        elif total > 1 + 1e-6:
            raise ValueError(
                f"image sums to {total:g} > 1: with normalize=False its samples "
                "are shares of the spot's photons, at most 1 in all. Pass "
                "normalize=True to scale it."
            )
        samples.flags.writeable = False
        self.image = samples
        self.oversampling = int(oversampling)
        # The cumulative integral, C[a, b] = sum of samples[:a, :b], and the
        # strips whose linear interpolation gives its derivatives (padded
        # with a zero sample on each side: no light beyond the image).
        self._integral = np.zeros((samples.shape[0] + 1, samples.shape[1] + 1))
        np.cumsum(np.cumsum(samples, axis=0), axis=1, out=self._integral[1:, 1:])
        self._row_strips = np.pad(np.diff(self._integral, axis=0), ((1, 1), (0, 0)))
        self._col_strips = np.pad(np.diff(self._integral, axis=1), ((0, 0), (1, 1)))
        self._sigma = None

    def __repr__(self):
        rows, cols = self.image.shape
        return f"SampledPSF(<{rows}x{cols} samples>, oversampling={self.oversampling})"

    def __eq__(self, other):
        if not isinstance(other, SampledPSF):
            return NotImplemented
        return self.oversampling == other.oversampling and np.array_equal(
            self.image, other.image
        )

    __hash__ = None

    @property
    def extent(self):
        """Half the image's larger side, in camera pixels."""
        return max(self.image.shape) / (2 * self.oversampling)

    @property
    def sigma(self):
        """Width of the closest isotropic Gaussian, in camera pixels."""
        if self._sigma is None:
            self._sigma = self._gaussian_width()
        return self._sigma

    def _gaussian_width(self):
        """Least-squares fit of an isotropic Gaussian to the samples."""
        from scipy.optimize import least_squares

        samples = self.image
        rows, cols = np.indices(samples.shape, dtype=np.float64)
        total = samples.sum()
        row0 = float((rows * samples).sum() / total)
        col0 = float((cols * samples).sum() / total)
        peak = float(samples.max())
        # Start from the width of a Gaussian of the same peak and sum.
        largest = max(samples.shape) / 2
        width = min(np.sqrt(total / (2 * np.pi * peak)), 0.5 * largest)

        def residuals(theta):
            amplitude, row, col, s = theta
            r2 = (rows - row) ** 2 + (cols - col) ** 2
            return (amplitude * np.exp(-0.5 * r2 / s**2) - samples).ravel()

        fit = least_squares(
            residuals,
            [peak, row0, col0, width],
            # At most half the image's larger side (a flat image has no
            # Gaussian).
            bounds=([0, -np.inf, -np.inf, 1e-3], [np.inf, np.inf, np.inf, largest]),
            x_scale=[peak, 1.0, 1.0, width],
        )
        # Each sample is the integral over its square, 1 / oversampling px
        # wide: the sampled Gaussian is wider by that square's variance.
        variance = fit.x[3] ** 2 - 1.0 / 12.0
        return float(np.sqrt(max(variance, 1e-6)) / self.oversampling)

    def _edges(self, positions, n_pixels, axis):
        """The pixel edges of each spot, in sample units of the image's
        integral: shape ``(m, n_pixels + 1)``."""
        edges = np.arange(n_pixels + 1, dtype=np.float64) - 0.5
        centre = self.image.shape[axis] / 2
        return (edges - positions[:, axis, None]) * self.oversampling + centre

    @staticmethod
    def _at(table, rows, cols):
        """``table`` interpolated bilinearly at every ``(rows[m, a], cols[m,
        b])``, clamped at its edges: shape ``(m, len(a), len(b))``."""
        from scipy.ndimage import map_coordinates

        m, n_rows = rows.shape
        n_cols = cols.shape[1]
        grid = np.empty((2, m, n_rows, n_cols))
        grid[0] = rows[:, :, None]
        grid[1] = cols[:, None, :]
        return map_coordinates(table, grid, order=1, mode="nearest")

    @staticmethod
    def _corners(values):
        """Pixel integrals from the integral at the pixels' corners."""
        return np.diff(np.diff(values, axis=1), axis=2)

    def pixel_shares(self, shape, positions):
        """Share of the spot's photons that falls in each camera pixel.

        Parameters
        ----------
        shape : tuple of (int, int)
            ``(height, width)`` of the images.
        positions : array-like of shape (m, 2)
            ``(row, col)`` of each spot; pixel ``(r, c)`` covers ``[r - 0.5,
            r + 0.5] x [c - 0.5, c + 0.5]``.

        Returns
        -------
        shares : ndarray of shape (m, height, width) of float64
        """
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        rows = self._edges(positions, shape[0], 0)
        cols = self._edges(positions, shape[1], 1)
        shares = self._corners(self._at(self._integral, rows, cols))
        # Differences of a cumulative sum can round below zero.
        return np.maximum(shares, 0.0, out=shares)

    def pixel_shares_and_derivatives(self, shape, positions):
        """:meth:`pixel_shares` and their derivatives with respect to the
        spot's row and column.

        Returns
        -------
        shares : ndarray of shape (m, height, width)
        d_row, d_col : ndarray of shape (m, height, width)
        """
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        rows = self._edges(positions, shape[0], 0)
        cols = self._edges(positions, shape[1], 1)
        shares = self._corners(self._at(self._integral, rows, cols))
        np.maximum(shares, 0.0, out=shares)
        # d/d row of the integral at an edge u: -oversampling times the
        # density along the edge, linearly interpolated between sample
        # centres (the strips are padded by one sample: index u + 0.5).
        d_row = self._corners(self._at(self._row_strips, rows + 0.5, cols))
        d_col = self._corners(self._at(self._col_strips, rows, cols + 0.5))
        d_row *= -self.oversampling
        d_col *= -self.oversampling
        return shares, d_row, d_col


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


def _grid_axis(anchors, low, high, n_pixels, phases, psf_sigma):
    """One axis of the grid of :func:`posterior_mean_positions`.

    Grid points are the midpoints of the cells ``[m / P, (m + 1) / P]``
    (``P = len(phases)``), grouped by the pixel they fall in (their anchor):
    point ``j`` of anchor ``a`` is at ``a + phases[j]``.

    Returns
    -------
    log_weights : ndarray of shape (len(anchors), P)
        Log of the length of each cell inside ``[low, high]`` (``-inf``
        outside): the uniform prior, integrated over the cell.
    inside : ndarray of shape (len(anchors), P)
        Share of a spot at each point that falls inside the image's
        ``n_pixels`` pixels along this axis.
    """
    points = anchors[:, None] + phases[None, :]
    half = 0.5 / len(phases)
    overlap = np.minimum(points + half, high) - np.maximum(points - half, low)
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.clip(overlap, 0.0, None))
    inside = pixel_shares(points.ravel(), n_pixels, psf_sigma).sum(axis=1)
    return log_weights, inside.reshape(points.shape)


def _chunks(counts, budget):
    """Runs ``(start, stop)`` of images holding at most ``budget`` pairs (or
    one image)."""
    start, total = 0, 0
    for index, count in enumerate(counts):
        if total and total + count > budget:
            yield start, index
            start, total = index, 0
        total += count
    if start < len(counts):
        yield start, len(counts)


class _Posterior:
    """Log-posterior of a spot's position on a grid of ``P`` phases per pixel."""

    def __init__(
        self, windows, anchors, support, shape, psf_sigma, photons, background, n_phases
    ):
        self.windows = windows
        self.anchors = anchors
        self.photons = photons
        self.phases = (np.arange(n_phases) + 0.5 + (-n_phases) // 2) / n_phases
        self.axes = [
            _grid_axis(axis, low, high, length, self.phases, psf_sigma)
            for axis, (low, high), length in zip(anchors, support, shape)
        ]
        size = windows.shape[-1]
        shares = pixel_shares((size - 1) / 2 + self.phases, size, psf_sigma)
        kernels = np.log1p(
            (photons / background) * shares[:, None, :, None] * shares[None, :, None, :]
        )
        self.kernels = kernels.reshape(n_phases * n_phases, -1).T
        # Pairs per chunk: about 32 MiB of float64 at a time.
        self.budget = max(1, (1 << 22) // max(n_phases * n_phases, size * size))

    def __call__(self, pairs):
        """Log-posterior at each grid point of each ``(image, row anchor
        index, col anchor index)`` of ``pairs``, shape ``(len(pairs), P, P)``,
        up to a constant per image."""
        (row_weights, row_inside), (col_weights, col_inside) = self.axes
        image, i, j = pairs.T
        patches = self.windows[image, self.anchors[0][i], self.anchors[1][j]]
        n_phases = len(self.phases)
        values = (patches.reshape(len(pairs), -1) @ self.kernels).reshape(
            -1, n_phases, n_phases
        )
        # sum_k mu_k: the part of the spot inside the image (plus a constant).
        values -= self.photons * row_inside[i][:, :, None] * col_inside[j][:, None, :]
        values += row_weights[i][:, :, None] + col_weights[j][:, None, :]
        return values


def posterior_mean_positions(
    images,
    psf_sigma,
    photons,
    background,
    support,
    step=None,
    radius=None,
    threshold=40.0,
    return_std=False,
):
    """Posterior mean of each spot's ``(row, col)`` under a uniform prior.

    The Bayes estimator of the position under squared error (the minimum
    mean-squared-error estimator): for images drawn as this module's model
    with ``photons`` and ``background`` known and the position uniform over
    ``support``, no function of the image has a smaller expected squared
    error. The likelihood is that of independent Poisson pixels with the
    pixel-integrated Gaussian PSF of :func:`expected_counts`::

        log L(theta) = sum_k n_k log(mu_k(theta)) - sum_k mu_k(theta)

    The posterior is integrated by the midpoint rule on a grid of step ``1 /
    P`` px (``P = ceil(1 / step)``), each cell weighted by its length inside
    ``support``. Up to a constant, the first sum is the correlation of the
    image with ``log(1 + photons / background * psf)``, one kernel per
    sub-pixel phase, over the pixels at most ``radius`` pixels from the
    pixel the grid point lies in (farther pixels receive less than
    ``Phi(-radius / psf_sigma)`` of the spot along an axis, about 1e-9 by
    default); the second, which leaves out the part of the spot that falls
    outside the image, is exact. A first pass at a step of 1/4 px finds, for
    each image, the pixels whose largest log-likelihood is within
    ``threshold`` of the image's largest (widened by how much it can change
    within that step, and by one pixel); the fine grid covers those pixels
    only.

    Parameters
    ----------
    images : ndarray of shape (n, height, width)
        Photon counts.
    psf_sigma : float
        Width of the Gaussian PSF, in pixels.
    photons : float
        Expected photons of the spot (all of them, also those that fall
        outside the image).
    background : float
        Expected background counts per pixel, > 0.
    support : tuple of ((float, float), (float, float))
        ``((row_low, row_high), (col_low, col_high))`` of the uniform prior,
        inside ``[0, height - 1] x [0, width - 1]`` with ``low < high``
        (:func:`~pixel_regressor.make_bright_spot_dataset` draws positions
        over ``[margin, height - 1 - margin] x [margin, width - 1 -
        margin]``).
    step : float, default=None
        Grid step, in pixels. None means a third of the Cramer-Rao bound at
        the centre of ``support`` (:func:`position_crlb`), at most 0.1 px:
        the posterior's standard deviation is about that bound, and the
        midpoint rule's error on a Gaussian falls as ``exp(-2 pi^2 (sd /
        step) ** 2)``.
    radius : int, default=None
        Half-width of the correlation kernels, in pixels. None means
        ``ceil(6 * psf_sigma)``.
    threshold : float, default=40.0
        Log-likelihood below an image's largest beyond which a pixel is left
        out of the fine grid; ``numpy.inf`` evaluates the whole support on
        the fine grid.
    return_std : bool, default=False
        Also return the posterior standard deviations. Their mean square is
        the expected squared error of the posterior mean, the Bayes risk.

    Returns
    -------
    positions : ndarray of shape (n, 2)
        ``(row, col)`` posterior mean of each image.
    std : ndarray of shape (n, 2)
        Posterior standard deviation of the row and of the column. Returned
        when ``return_std`` is True.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must be 3-D, got shape {images.shape}.")
    n, height, width = images.shape
    if not (np.isfinite(photons) and photons > 0):
        raise ValueError(f"photons must be positive and finite, got {photons!r}.")
    if not (np.isfinite(background) and background > 0):
        raise ValueError(f"background must be positive and finite, got {background!r}.")
    support = np.asarray(support, dtype=np.float64)
    if support.shape != (2, 2) or not (
        0 <= support[0, 0] < support[0, 1] <= height - 1
        and 0 <= support[1, 0] < support[1, 1] <= width - 1
    ):
        raise ValueError(
            "support must be ((row_low, row_high), (col_low, col_high)) with "
            f"0 <= low < high <= size - 1, got {support.tolist()}."
        )
    crlb = float(
        position_crlb(
            (height, width), support.mean(axis=1), psf_sigma, photons, background
        ).min()
    )
    if step is None:
        step = min(0.1, crlb / 3)
    n_phases = max(2, int(np.ceil(1.0 / step - 1e-9)))
    radius = int(np.ceil(6 * psf_sigma)) if radius is None else int(radius)
    size = 2 * radius + 1
    padded = np.pad(images, ((0, 0), (radius, radius), (radius, radius)))
    windows = sliding_window_view(padded, (size, size), axis=(1, 2))
    # The pixels whose grid points (of any P >= 2) have cells inside support.
    anchors = [
        np.arange(
            max(int(np.ceil(low - 0.75)), 0),
            min(int(np.floor(high + 0.75)), length - 1) + 1,
        )
        for (low, high), length in zip(support, (height, width))
    ]
    shape = (n, len(anchors[0]), len(anchors[1]))
    model = (windows, anchors, support, (height, width), psf_sigma, photons, background)

    if n_phases > _COARSE_PHASES and threshold < np.inf:
        selected = _pixels_to_refine(model, shape, threshold, crlb)
    else:
        selected = np.ones(shape, dtype=bool)

    posterior = _Posterior(*model, n_phases)
    pairs = np.argwhere(selected)
    counts = selected.sum(axis=(1, 2))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    moments = np.empty((n, 4))
    for start, stop in _chunks(counts, posterior.budget):
        chunk = pairs[offsets[start] : offsets[stop]]
        values = posterior(chunk)
        image = chunk[:, 0] - start
        starts = offsets[start:stop] - offsets[start]
        peak = np.maximum.reduceat(values.max(axis=(1, 2)), starts)
        weights = np.exp(values - peak[image][:, None, None])
        rows = anchors[0][chunk[:, 1]][:, None] + posterior.phases
        cols = anchors[1][chunk[:, 2]][:, None] + posterior.phases
        by_row, by_col = weights.sum(axis=2), weights.sum(axis=1)
        sums = np.column_stack(
            [
                weights.sum(axis=(1, 2)),
                (by_row * rows).sum(axis=1),
                (by_col * cols).sum(axis=1),
                (by_row * rows**2).sum(axis=1),
                (by_col * cols**2).sum(axis=1),
            ]
        )
        sums = np.add.reduceat(sums, starts, axis=0)
        moments[start:stop] = sums[:, 1:] / sums[:, :1]
    positions = np.ascontiguousarray(moments[:, :2])
    if not return_std:
        return positions
    variances = np.clip(moments[:, 2:] - positions**2, 0.0, None)
    return positions, np.sqrt(variances)


# Phases per pixel of the first, coarse pass of posterior_mean_positions.
_COARSE_PHASES = 4


def _pixels_to_refine(model, shape, threshold, crlb):
    """The pixels of each image whose largest log-likelihood, on a coarse
    grid, lies within ``threshold`` of the image's largest (widened by how
    much it can change within a coarse step, and by one pixel): where
    :func:`posterior_mean_positions` puts its fine grid. Boolean, ``shape``.
    """
    from scipy.ndimage import binary_dilation

    n = shape[0]
    # First pass: each pixel's largest log-likelihood, on a coarse grid.
    coarse = _Posterior(*model, _COARSE_PHASES)
    for axis in coarse.axes:  # the prior's weights left out, its support kept
        axis[0][np.isfinite(axis[0])] = 0.0
    best = np.empty(shape)
    per_image = shape[1] * shape[2]
    cells = np.indices(shape[1:]).reshape(2, -1).T
    for start, stop in _chunks(np.full(n, per_image), coarse.budget):
        pairs = np.column_stack(
            [
                np.repeat(np.arange(start, stop), per_image),
                np.tile(cells, (stop - start, 1)),
            ]
        )
        best[start:stop] = coarse(pairs).max(axis=(1, 2)).reshape(-1, *shape[1:])
    # Between coarse points the log-likelihood can exceed the nearest by
    # about (distance / sd) ** 2 / 2; twice that, for safety.
    slack = 2 * (0.5 / _COARSE_PHASES) ** 2 / crlb**2
    peak = best.max(axis=(1, 2), keepdims=True)
    return binary_dilation(
        best >= peak - threshold - slack, structure=np.ones((1, 3, 3), bool)
    )
