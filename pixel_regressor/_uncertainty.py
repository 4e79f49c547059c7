"""Per-image standard deviations of the spot head's predictions.

The Cramer-Rao bound of a spot's position (see
:func:`~pixel_regressor.localization_crlb`) is, to a good approximation
(Thompson et al., Biophys. J. 2002; Mortensen et al., Nat. Methods 2010)::

    var = a * s / N + b * s ** 2 * v / N ** 2

with ``N`` the spot's signal, ``v`` the variance of the background per pixel,
``s = psf_sigma ** 2 + 1 / 12`` the spot's squared width (pixels included),
and ``a``, ``b`` set by the camera (its gain in ADU, an EMCCD's excess
noise): the spot's own shot noise, then the background's. A model that comes
within a few percent of the bound has errors of that form too, and faint
spots a little more: a third term, ``c * s ** 3 * v ** 2 / N ** 4``, grows
where the background dominates.

:func:`statistics` measures ``N``, ``v`` and ``s`` on each image, without
knowing its camera or point-spread function: ``v`` from the pixels away from
the smoothed image's peak (a few of the brightest left out, as hot pixels),
``N`` and ``s`` by least squares of a pixel-integrated Gaussian spot on a
level, in the square around the peak, the width chosen on a grid. :func:`fit`
chooses ``a``, ``b`` and ``c`` per output by maximum likelihood on the errors
of a fitted model's predictions (a Gaussian per error, its variance the
formula), after setting aside the gross misses it cannot describe;
:func:`predict` evaluates the formula. The result is a standard deviation per
image and per output, in the targets' units.

A faint spot can lose to a blob of noise elsewhere, and then the model is off
by the distance between them (a gross miss). :func:`statistics` also weighs,
for each image, the other local maxima of the matched-filtered image (the
spot head's own smoothing) against the one the model took: in units of the
noise, the filter responds ``t`` at a maximum, and with the spot's amplitude
taken to be the response ``t1`` of the chosen peak, the likelihood of the
spot lying at another maximum rather than at the peak is ``exp(t1 * (t -
t1))`` (a matched filter in Gaussian noise). Near the detection limit the
peak's response overstates the spot's amplitude, and those odds are too
sure of the peak: :func:`fit_odds` fits ``exp(tau * t1 * (t - t1) + beta)``
to where a model's training spots were. :func:`predict` adds the
displacements' second moment under the odds to the variance: the spread of
the errors, misses included, that the image itself gives reason to expect.
Bright spots leave nothing to add; at 100 photons (background 10, width 1.3
px) it brings the z-scores' spread from 1.16 to 0.98 on a model trained
there.

A model that fits a Gaussian spot to each image (``head="spot_fit"``) has
its own variance where the spot is where it looked: the inverse of the fit's
Fisher information, the covariance of an efficient estimate, which the model
computes with the fit, times the dispersion of the fit's residuals (1 for
photon counts, the gain for counts proportional to them). :func:`fit_fisher`
fits, per output, ``a * v + b * v ** 2`` of that variance ``v`` to the
training errors by maximum likelihood (``a`` is about 1; ``b`` is the excess
of the faintest spots, where the fit is not quite efficient), and
:func:`predict` uses it in place of the formula, with the same allowance for
gross misses.

NumPy and SciPy only.
"""

import numpy as np
from scipy import ndimage

__all__ = [
    "COEFFICIENT_RANGE",
    "N_PLACES",
    "N_TERMS",
    "ODDS_RANGE",
    "RADIUS",
    "WIDTHS",
    "fit",
    "fit_fisher",
    "fit_odds",
    "n_coefficients",
    "output_variances",
    "places",
    "predict",
    "statistics",
]

#: Terms of the variance, each with its fitted coefficient.
N_TERMS = 3
#: Other places weighed per image, the likeliest: beyond a few, their odds
#: are negligible.
N_PLACES = 16
#: The log-odds of another place as the matched filter gives them: ``(tau,
#: beta)`` of ``tau * t1 * (t - t1) + beta`` (see :func:`fit_odds`).
MATCHED_FILTER_ODDS = (1.0, 0.0)

#: Half-width of the square around the peak that holds the spot, in pixels:
#: 2.5 widths of the widest spot of the grid below.
RADIUS = 5
#: The PSF widths (pixels) among which each image's is chosen.
WIDTHS = np.geomspace(0.5, 3.0, 24)
# The smoothing that finds each image's peak (as the spot head's PeakCrop).
_SMOOTHING = 1.5
# Share of the pixels outside the square left out of the background's
# variance, from the top: hot pixels.
_TRIM = 0.01
# Images per chunk handled at once, at most: the width grid's models of a
# chunk are len(WIDTHS) x chunk x (2 * RADIUS + 1) ** 2 float64, 23 MiB.
_CHUNK_IMAGES = 1000
# Pixels per chunk, at most (fewer images of a large size): each of the dozen
# float64 arrays of a chunk's images is then 2 MiB at most.
_CHUNK_PIXELS = 1 << 18
# Errors beyond this many predicted standard deviations are gross misses,
# left out of the fit.
_MISS_Z = 5.0
# Half-width of the spot head's soft-argmax square: another maximum further
# than this (in rows or columns) from the chosen peak is another place.
_WINDOW = 3
# The median of a chi-squared variable of one degree of freedom.
_CHI2_MEDIAN = 0.454936
# The largest log-odds of another place (exp stays finite).
_MAX_LOG_ODDS = 50.0
# A spot is above the noise when the least-squares signal of a spot on a
# sloped level, in the square around the peak, is this many of its standard
# errors (at most; less for a model trained on fainter spots): a constant
# image and a ramp give 0, noise alone 1-5 (median 2.8).
DETECTION_Z = 4.0
# Another place whose matched-filter response is above _SECOND_Z (no blob
# of noise reaches it) and at least _SECOND_RATIO of the peak's holds a
# second spot, which the matched filter's odds (of one spot) cannot weigh:
# its odds are at least the ratio of the two responses to _SECOND_POWER (1
# for equal spots, 0.06 at half).
_SECOND_Z = 10.0
_SECOND_RATIO = 0.5
_SECOND_POWER = 4.0
# The bounds of tau and beta in fit_odds, and the standard deviation of the
# prior about MATCHED_FILTER_ODDS of log(tau) and beta: a training set with
# few or no spots lost keeps about the matched filter's odds.
_ODDS_BOUNDS = ((np.log(0.05), np.log(20.0)), (-20.0, 20.0))
# The bound of the log of every coefficient of the variance in its fit.
_LOG_COEFFICIENT_BOUND = 60.0
#: The range of every coefficient of the variance (:func:`fit`,
#: :func:`fit_fisher`), and of the odds' ``tau`` and ``beta``
#: (:func:`fit_odds`): the bounds of their fits. A loaded model's lie within.
COEFFICIENT_RANGE = (
    float(np.exp(-_LOG_COEFFICIENT_BOUND)),
    float(np.exp(_LOG_COEFFICIENT_BOUND)),
)
ODDS_RANGE = (tuple(float(v) for v in np.exp(_ODDS_BOUNDS[0])), _ODDS_BOUNDS[1])
_ODDS_PRIOR = 1.0
# A pixel's eight neighbours.
_RING = np.ones((1, 3, 3), dtype=bool)
_RING[0, 1, 1] = False


def _background_variance(flat, inside, n_pixels, *, lower=False):
    """The trimmed level (median) and variance of each image's pixels outside
    ``inside``; with ``lower``, also twice the mean squared deviation of the
    pixels below the level (which another spot does not reach)."""
    outside = np.sort(np.where(inside, np.nan, flat), axis=1)
    count = n_pixels - inside.sum(axis=1)
    count = np.where(count >= 10, count - np.ceil(_TRIM * count), count)
    # An image hardly larger than the square: all its pixels.
    small = count < 2
    outside[small] = np.sort(flat[small], axis=1)
    count[small] = n_pixels
    outside[np.arange(n_pixels)[None, :] >= count[:, None]] = np.nan
    level = np.nanmedian(outside, axis=1)
    squares = (outside - level[:, None]) ** 2
    variance = np.maximum(np.nanmean(squares, axis=1), 1e-12)
    if not lower:
        return level, variance
    below = outside <= level[:, None]
    lower_variance = 2.0 * np.sum(np.where(below, squares, 0.0), axis=1)
    lower_variance /= np.maximum(below.sum(axis=1), 1)
    return level, variance, lower_variance


def _band(size):
    """The spot head's smoothing along one axis (``PeakCrop``): the matrix
    ``exp(-(i - j) ** 2 / (2 sigma ** 2))``, zero beyond the edges."""
    index = np.arange(size, dtype=np.float64)
    return np.exp(-0.5 * np.square((index[:, None] - index[None, :]) / _SMOOTHING))


def _places(smooth, level, variance, row, col, bands):
    """The other local maxima of each image than the peak ``(row, col)``:
    the log-likelihood of the spot lying at each rather than at the peak,
    and the displacement to it.

    ``smooth`` is each image less its mean, smoothed by ``bands``, and
    ``level`` the background less that mean. Returns ``(ell, d_row, d_col,
    floor)``, each ``(n_samples, N_PLACES)``: the :data:`N_PLACES` likeliest
    places, ``ell = -inf`` where there are fewer; ``floor`` is the least
    log-odds of a place that holds a second spot of similar strength (see
    :data:`_SECOND_RATIO`), ``-inf`` elsewhere.
    """
    m, height, width = smooth.shape
    index = np.arange(m)
    row_band, col_band = bands
    # The filter's response to the spot above the background, in units of
    # its noise, at every pixel (zero padding makes both vary at the edges).
    reach = np.outer(row_band.sum(axis=1), col_band.sum(axis=1))
    spread = np.outer(np.square(row_band).sum(axis=1), np.square(col_band).sum(axis=1))
    t = (smooth - level[:, None, None] * reach) / np.sqrt(
        variance[:, None, None] * spread
    )
    t_peak = t[index, row, col][:, None, None]
    d_row = np.arange(height)[None, :, None] - row[:, None, None]
    d_col = np.arange(width)[None, None, :] - col[:, None, None]
    other = (
        (ndimage.maximum_filter(t, size=(1, 3, 3), mode="nearest") == t)
        & (t > 0)
        & ((np.abs(d_row) > _WINDOW) | (np.abs(d_col) > _WINDOW))
    )
    ell = np.where(other, t_peak * (t - t_peak), -np.inf).reshape(m, -1)
    second = other & (t >= _SECOND_Z) & (t >= _SECOND_RATIO * t_peak)
    ratio = np.divide(t, t_peak, out=np.ones_like(t), where=second)
    floor = np.where(second, _SECOND_POWER * np.log(ratio), -np.inf).reshape(m, -1)
    d_row = np.broadcast_to(d_row, t.shape).reshape(m, -1)
    d_col = np.broadcast_to(d_col, t.shape).reshape(m, -1)
    if ell.shape[1] < N_PLACES:
        pad = ((0, 0), (0, N_PLACES - ell.shape[1]))
        return (
            np.pad(ell, pad, constant_values=-np.inf),
            np.pad(d_row, pad),
            np.pad(d_col, pad),
            np.pad(floor, pad, constant_values=-np.inf),
        )
    top = np.argpartition(-np.maximum(ell, floor), N_PLACES - 1, axis=1)
    top = top[:, :N_PLACES]
    return tuple(np.take_along_axis(a, top, axis=1) for a in (ell, d_row, d_col, floor))


def _log_odds(ell, odds, floor=None):
    """The log-odds of each place, ``tau * ell + beta`` (``odds = (tau,
    beta)``), at least ``floor`` (a second spot's, see :func:`_places`) and at
    most :data:`_MAX_LOG_ODDS`; ``-inf`` where there is none."""
    tau, beta = odds
    finite = np.isfinite(ell)
    log_odds = tau * np.where(finite, ell, 0.0) + beta
    if floor is not None:
        log_odds = np.maximum(log_odds, floor)
    return np.where(finite, np.minimum(log_odds, _MAX_LOG_ODDS), -np.inf)


def _unpack(places):
    """``(ell, d_row, d_col, floor)`` of places given with or without their
    ``floor`` (None then)."""
    ell, d_row, d_col, *rest = places
    return ell, d_row, d_col, (rest[0] if rest else None)


def _elsewhere(places, odds):
    """The chance that the spot is elsewhere than at the peak, and the
    displacement's second moments under the odds of ``places`` (see
    :func:`_places`): ``(p, m_rr, m_cc, m_rc)``, the means of ``d_row ** 2``,
    ``d_col ** 2`` and ``d_row * d_col`` over the places, the peak's
    displacement being zero."""
    ell, d_row, d_col, floor = _unpack(places)
    odds = np.exp(_log_odds(ell, odds, floor))
    total = 1.0 + odds.sum(axis=1)
    return (
        1.0 - 1.0 / total,
        (odds * np.square(d_row)).sum(axis=1) / total,
        (odds * np.square(d_col)).sum(axis=1) / total,
        (odds * d_row * d_col).sum(axis=1) / total,
    )


def _subpixel_peak(smooth, peak, size):
    """The smoothed peak's position along one axis, refined by a parabola
    through it and its two neighbours (unrefined at the image's edge)."""
    a, b, c = smooth
    curvature = a - 2 * b + c
    shift = np.divide(
        0.5 * (a - c), curvature, out=np.zeros_like(b), where=curvature < 0
    )
    edge = (peak == 0) | (peak == size - 1)
    return peak + np.where(edge, 0.0, np.clip(shift, -0.5, 0.5))


def _chunks(images):
    """Each chunk of ``images`` with what both :func:`statistics` and
    :func:`places` need: ``(start, batch, smooth, row, col, level, variance,
    places)``, the chunk's first index, its images (float64, ``(m, height,
    width)``), their smoothed versions less their means, the peak the spot
    head takes, the background's level and variance and the other places
    (see :func:`_places`)."""
    n, height, width = images.shape[:3]
    rows, cols = np.arange(height), np.arange(width)
    n_pixels = height * width
    bands = _band(height), _band(width)
    chunk = max(1, min(_CHUNK_IMAGES, _CHUNK_PIXELS // n_pixels))
    for start in range(0, n, chunk):
        batch = np.asarray(images[start : start + chunk, :, :, 0], dtype=np.float64)
        m = len(batch)
        # The peak the spot head takes: the argmax of the image less its
        # mean, smoothed with zero padding.
        mean = batch.mean(axis=(1, 2))
        smooth = bands[0] @ (batch - mean[:, None, None]) @ bands[1].T
        row, col = np.divmod(smooth.reshape(m, -1).argmax(axis=1), width)
        inside = (np.abs(rows[None, :, None] - row[:, None, None]) <= RADIUS) & (
            np.abs(cols[None, None, :] - col[:, None, None]) <= RADIUS
        )
        flat = batch.reshape(m, -1)
        level, variance, lower = _background_variance(
            flat, inside.reshape(m, -1), n_pixels, lower=True
        )
        # The other places, on the image with its spikes (hot pixels, alone
        # or in pairs) brought down to their second-brightest neighbour: a
        # pixel above it by more than five noise deviations is not a spot's.
        second = ndimage.rank_filter(
            batch, rank=-2, footprint=_RING, mode="constant", cval=-np.inf
        )
        spike = np.isfinite(second) & (
            batch - second > 5.0 * np.sqrt(variance)[:, None, None]
        )
        despiked = np.where(spike, second, batch) - mean[:, None, None]
        others = _places(
            bands[0] @ despiked @ bands[1].T, level - mean, variance, row, col, bands
        )
        yield start, batch, smooth, row, col, (level, lower), variance, others


def places(images):
    """The other places each image's spot may be, than the peak the spot
    head takes: the :data:`N_PLACES` likeliest local maxima of the
    matched-filtered image, more than the spot head's window away.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width, 1)
        Any real dtype and intensity scale.

    Returns
    -------
    ell, d_row, d_col, floor : ndarrays of shape (n_samples, N_PLACES)
        The matched filter's log-likelihood of the spot lying at each place
        rather than at the peak, ``t1 * (t - t1)`` (``-inf`` where an image
        has fewer places), the displacement from the peak to it, in pixels,
        and the least log-odds of a place that holds a second spot well
        above the noise (``t >= 10``) of at least half the peak's response,
        ``4 * log(t / t1)``
        (``-inf`` at the other places): the matched filter weighs one spot
        against blobs of noise, and two spots of similar strength are a
        toss-up it would call sure.
    """
    out = _empty_places(images.shape[0])
    for start, *_, others in _chunks(images):
        _store(out, start, others)
    return out


def _empty_places(n):
    """Arrays for the places of ``n`` images (see :func:`places`)."""
    return (
        np.full((n, N_PLACES), -np.inf),
        np.zeros((n, N_PLACES)),
        np.zeros((n, N_PLACES)),
        np.full((n, N_PLACES), -np.inf),
    )


def _store(out, start, others):
    """A chunk's places into ``out`` from row ``start``."""
    for array, part in zip(out, others):
        array[start : start + len(part)] = part


def statistics(
    images, odds=MATCHED_FILTER_ODDS, *, return_places=False, detection=None
):
    """Each image's spot signal ``N``, background variance ``v`` and width
    ``s``, and the odds that the spot lies elsewhere.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width, 1)
        Any real dtype and intensity scale.
    odds : (float, float), default=(1.0, 0.0)
        ``(tau, beta)`` of the log-odds of another place, ``tau * t1 * (t -
        t1) + beta`` (see :func:`fit_odds`): (1, 0) is the matched filter's
        own.
    return_places : bool, default=False
        Also return the other places (see :func:`places`), from the same
        pass over the images.
    detection : float, default=None
        The significance below which an image has no spot above the noise
        (at most :data:`DETECTION_Z`; a model trained on spots near the
        detection limit has a lower one, see ``_conditions.summarize``).
        None: every image has a spot.

    Returns
    -------
    stats : ndarray of shape (n_samples, 11)
        ``N`` (at least the background's noise over the square, so that a
        blank image gets a large, finite deviation), ``v`` (> 0) and ``s``,
        the squared PSF width plus 1/12 (pixels squared); then the chance
        that the spot is not at the peak the spot head takes, and the second
        moments ``(row, row)``, ``(col, col)`` and ``(row, col)`` of the
        displacement to where it would be instead (pixels squared; zero for
        a bright spot). Then the spot's signal over its standard error when
        fitted on a sloped level (a plane) in the square around the peak:
        below ``detection`` there is no spot above the noise (a blank
        image, a ramp, noise alone), the spot is taken to be anywhere in the
        image with equal chance (the chance of it elsewhere 1, the second
        moments those of a uniform position about the peak), so that the
        deviation is the image's own scale. Last, the background's level
        (the median of the pixels outside the square, in the images' units),
        its variance from the pixels below that level alone (twice their
        mean squared deviation: another spot does not reach it), and the
        distance from the spot's centre to the nearest edge pixel's centre
        (pixels).
    places : tuple of 4 ndarrays of shape (n_samples, N_PLACES)
        Only with ``return_places``: :func:`places` of the images.
    """
    from ._psf import pixel_shares

    n, height, width = images.shape[:3]
    out = np.empty((n, 11))
    found = _empty_places(n)
    box_rows, box_cols = min(2 * RADIUS + 1, height), min(2 * RADIUS + 1, width)
    # The square's pixel coordinates, about its centre: the plane's slopes.
    plane = np.stack(
        [
            np.ones((box_rows, box_cols)),
            *np.meshgrid(
                np.arange(box_rows) - (box_rows - 1) / 2,
                np.arange(box_cols) - (box_cols - 1) / 2,
                indexing="ij",
            ),
        ],
        axis=-1,
    ).reshape(-1, 3)
    for start, batch, smooth, row, col, background, variance, others in _chunks(images):
        m = len(batch)
        index = np.arange(m)
        _store(found, start, others)
        out[start : start + m, 3:7] = np.stack(_elsewhere(others, odds), axis=1)
        # The spot's centre, to a fraction of a pixel.
        centre_row = _subpixel_peak(
            [smooth[index, np.clip(row + d, 0, height - 1), col] for d in (-1, 0, 1)],
            row,
            height,
        )
        centre_col = _subpixel_peak(
            [smooth[index, row, np.clip(col + d, 0, width - 1)] for d in (-1, 0, 1)],
            col,
            width,
        )
        # The square around the peak, moved inside the image at the edges.
        top = np.clip(row - RADIUS, 0, height - box_rows)
        left = np.clip(col - RADIUS, 0, width - box_cols)
        box = batch[
            index[:, None, None],
            (top[:, None] + np.arange(box_rows))[:, :, None],
            (left[:, None] + np.arange(box_cols))[:, None, :],
        ].reshape(m, -1)
        # For each width of the grid, the least-squares level and signal of
        # a spot at the centre: profile[w, i] is image i's spot of width w.
        # Every image at every width, width-major.
        widths = np.repeat(WIDTHS, m)
        row_shares = pixel_shares(
            np.tile(centre_row - top, len(WIDTHS)), box_rows, widths
        ).reshape(len(WIDTHS), m, box_rows)
        col_shares = pixel_shares(
            np.tile(centre_col - left, len(WIDTHS)), box_cols, widths
        ).reshape(len(WIDTHS), m, box_cols)
        profile = (row_shares[..., :, None] * col_shares[..., None, :]).reshape(
            len(WIDTHS), m, -1
        )
        k = box.shape[1]
        sum_p, sum_pp = profile.sum(axis=2), np.square(profile).sum(axis=2)
        sum_x = box.sum(axis=1)
        sum_px = np.einsum("wik,ik->wi", profile, box)
        # A profile too flat to tell from the level (a box of a pixel or two)
        # has no fit: its squared residual counts as infinite, and an image
        # with no fit at all gets the noise floor for its signal.
        determinant = k * sum_pp - sum_p**2
        fitted = determinant > 1e-9 * k * sum_pp
        signal = np.divide(
            k * sum_px - sum_p * sum_x,
            determinant,
            out=np.zeros_like(determinant),
            where=fitted,
        )
        level = (sum_x - signal * sum_p) / k
        residual = box - level[..., None] - signal[..., None] * profile
        squares = np.where(fitted, np.einsum("wik,wik->wi", residual, residual), np.inf)
        best = squares.argmin(axis=0)
        noise = np.sqrt(variance * k)
        out[start : start + m, 0] = np.maximum(signal[best, index], noise)
        out[start : start + m, 1] = variance
        out[start : start + m, 2] = WIDTHS[best] ** 2 + 1 / 12
        significance = _significance(box, profile[best, index], plane, variance)
        out[start : start + m, 7] = significance
        out[start : start + m, 8:10] = np.stack(background, axis=1)
        out[start : start + m, 10] = np.minimum.reduce(
            [centre_row, height - 1 - centre_row, centre_col, width - 1 - centre_col]
        )
        # No spot above the noise: anywhere in the image, with equal chance.
        blank = significance < (-np.inf if detection is None else detection)
        if blank.any():
            off_row = (height - 1) / 2 - row[blank]
            off_col = (width - 1) / 2 - col[blank]
            out[start : start + m, 3:7][blank] = np.stack(
                [
                    np.ones(blank.sum()),
                    (height**2 - 1) / 12 + off_row**2,
                    (width**2 - 1) / 12 + off_col**2,
                    off_row * off_col,
                ],
                axis=1,
            )
    return (out, found) if return_places else out


def _significance(box, profile, plane, variance):
    """Each image's spot signal over its standard error: the least-squares
    coefficient of ``profile`` (``(m, k)``, the spot's pixel shares in the
    square ``box``) beside a ``plane`` (``(k, 3)``: a level and two slopes),
    the pixels' variance ``variance``; 0 where the profile is not told from
    a plane."""
    m = len(box)
    design = np.concatenate(
        [np.broadcast_to(plane, (m, *plane.shape)), profile[:, :, None]], axis=2
    )
    gram = np.einsum("mki,mkj->mij", design, design)
    inverse = np.linalg.pinv(gram, hermitian=True)
    coefficients = np.einsum("mij,mkj,mk->mi", inverse, design, box)
    spread = inverse[:, 3, 3] * variance
    return np.divide(
        coefficients[:, 3],
        np.sqrt(spread),
        out=np.zeros(m),
        where=spread > 1e-12 * variance,
    )


def _features(stats):
    signal, variance, width = stats[:, 0], stats[:, 1], stats[:, 2]
    return np.stack(
        [
            width / signal,
            width**2 * variance / signal**2,
            width**3 * variance**2 / signal**4,
        ],
        axis=1,
    )


def _negative_log_likelihood(log_coefficients, features, squares):
    variance = features @ np.exp(log_coefficients)
    return float(np.sum(np.log(variance) + squares / variance))


def _maximum_likelihood(features, squares, log_coefficients, keep):
    """Log-coefficients of Gaussian errors of variance ``features @
    exp(log_coefficients)``, by maximum likelihood over ``keep``, twice: the
    second time without the errors beyond :data:`_MISS_Z` deviations of the
    first fit (gross misses)."""
    from scipy.optimize import minimize

    for attempt in range(2):
        if attempt:
            variance = features @ np.exp(log_coefficients)
            keep = keep & (squares <= _MISS_Z**2 * variance)
        log_coefficients = minimize(
            _negative_log_likelihood,
            log_coefficients,
            args=(features[keep], squares[keep]),
            method="L-BFGS-B",
            bounds=[(-_LOG_COEFFICIENT_BOUND, _LOG_COEFFICIENT_BOUND)]
            * features.shape[1],
        ).x
    return log_coefficients


def fit(stats, errors):
    """The coefficients ``(a, b, c)`` of each output, from a model's errors.

    Parameters
    ----------
    stats : ndarray of shape (n_samples, 3)
        :func:`statistics` of the images.
    errors : ndarray of shape (n_samples, n_outputs)
        The model's predictions less the targets.

    Returns
    -------
    coefficients : ndarray of shape (n_outputs, 3)
        ``a``, ``b`` and ``c`` per output, > 0.
    """
    features = _features(stats)
    n_terms = features.shape[1]
    out = np.empty((errors.shape[1], n_terms))
    for j, error in enumerate(errors.T):
        squares = np.square(error.astype(np.float64))
        keep = np.isfinite(squares)
        # From each term explaining an equal share of the mean squared error.
        mean_square = max(float(np.mean(squares[keep])), 1e-300)
        start = np.log(mean_square / n_terms / features[keep].mean(axis=0))
        out[j] = np.exp(_maximum_likelihood(features, squares, start, keep))
    return out


def fit_fisher(variances, errors):
    """The coefficients ``(a, b)`` of each output for the Gaussian fit's
    variances ``v``: the error's variance is ``a * v + b * v ** 2``.

    ``a`` is 1 where the fit is efficient (and its variances those of the
    images' own noise); ``b`` is the excess of a fit that is not quite
    efficient on the faintest spots, where ``v`` is largest. Chosen by
    maximum likelihood on a model's errors, from ``a`` at the median of
    ``errors ** 2 / v`` over a chi-squared variable's, gross misses left
    out. Images without a positive finite variance are left out.

    Parameters
    ----------
    variances : ndarray of shape (n_samples, n_outputs)
        Each prediction's variance from the fit (:func:`output_variances`).
    errors : ndarray of shape (n_samples, n_outputs)
        The model's predictions less the targets.

    Returns
    -------
    coefficients : ndarray of shape (n_outputs, 2)
        ``a`` and ``b`` per output, > 0 (``(1, tiny)`` where nothing could be
        measured).
    """
    variances = np.asarray(variances, dtype=np.float64)
    squares = np.square(np.asarray(errors, dtype=np.float64))
    out = np.tile([1.0, COEFFICIENT_RANGE[0]], (squares.shape[1], 1))
    for j in range(squares.shape[1]):
        v = variances[:, j]
        keep = np.isfinite(squares[:, j]) & np.isfinite(v) & (v > 0)
        if not keep.any():
            continue
        v = np.where(keep, v, 1.0)
        a = np.median(squares[keep, j] / v[keep]) / _CHI2_MEDIAN
        if not (np.isfinite(a) and a > 0):
            continue
        keep &= squares[:, j] <= _MISS_Z**2 * a * v
        # The second term starts at a tenth of the first at the median v.
        start = np.log([a, a / 10.0 / np.median(v[keep])])
        features = np.stack([v, v * v], axis=1)
        out[j] = np.exp(_maximum_likelihood(features, squares[:, j], start, keep))
    return out


def fit_odds(places, errors, readout=None):
    """The log-odds ``(tau, beta)`` of the spot lying at another place, from
    where a model's training spots were.

    The matched filter's odds of a place, ``exp(t1 * (t - t1))``, take the
    spot's amplitude to be the peak's response ``t1``: near the detection
    limit the peak is as often a blob of noise, above the spot's own
    amplitude, and the odds of the other places come out too small (at 300
    photons on a background of 100, PSF width 2 px, the spots lost where the
    filter gave one chance in 250 are one in 30). Each image's truth is
    taken to be at the place nearest it (the peak, or another place within
    the spot head's window of it; images near none are left out), or at any
    place the targets do not tell from that one (on the same row, for a
    read-out of the row alone), and ``tau * t1 * (t - t1) + beta`` is fitted
    to those by maximum likelihood (the chance of each place being its odds
    over their sum), with a unit normal prior on ``log(tau)`` and ``beta``
    about the matched filter's ``(1, 0)``.

    Parameters
    ----------
    places : tuple of 4 (or 3) ndarrays of shape (n_samples, N_PLACES)
        :func:`places` of the images (without their ``floor``: none).
    errors : ndarray of shape (n_samples, n_outputs)
        The model's predictions less the targets.
    readout : ndarray of shape (2, n_outputs), default=None
        The weights of the map from ``(row, col)`` to the targets (None:
        the identity).

    Returns
    -------
    odds : ndarray of shape (2,)
        ``tau`` (> 0) and ``beta``.
    """
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    readout = np.eye(2) if readout is None else np.asarray(readout, np.float64)
    ell, d_row, d_col, floor = _unpack(places)
    ell, d_row, d_col = (np.asarray(a, dtype=np.float64) for a in (ell, d_row, d_col))
    floor = np.full_like(ell, -np.inf) if floor is None else np.asarray(floor)
    errors = np.asarray(errors, dtype=np.float64)
    n = len(ell)
    # The error each place would give, in the targets' units (the model is
    # at the peak, the truth at the place), and each one's distance from
    # the error, in pixels (along the read-out's directions: along the row
    # alone for a read-out of the row).
    shifts = -np.stack([d_row, d_col], axis=-1) @ readout
    shifts = np.concatenate([np.zeros((n, 1, shifts.shape[2])), shifts], axis=1)
    valid = np.concatenate([np.ones((n, 1), dtype=bool), np.isfinite(ell)], axis=1)
    to_pixels = np.linalg.pinv(readout)
    distance = np.where(
        valid,
        np.linalg.norm((shifts - errors[:, None, :]) @ to_pixels, axis=2),
        np.inf,
    )
    nearest = distance.argmin(axis=1)
    keep = distance[np.arange(n), nearest] <= _WINDOW
    # The truth's place, and those the targets do not tell from it (the
    # places on its row, for a read-out of the row alone).
    nearest_shift = np.take_along_axis(shifts, nearest[:, None, None], axis=1)
    same = valid & (np.linalg.norm((shifts - nearest_shift) @ to_pixels, axis=2) < 1)
    ell, floor, same = ell[keep], floor[keep], same[keep]
    if not np.isfinite(ell).any():
        return np.array(MATCHED_FILTER_ODDS, dtype=np.float64)
    start = np.array([np.log(MATCHED_FILTER_ODDS[0]), MATCHED_FILTER_ODDS[1]])

    def negative_log_posterior(theta):
        log_odds = _log_odds(ell, (np.exp(theta[0]), theta[1]), floor)
        log_odds = np.concatenate([np.zeros((len(ell), 1)), log_odds], axis=1)
        chosen = logsumexp(np.where(same, log_odds, -np.inf), axis=1)
        prior = 0.5 * np.sum(np.square((theta - start) / _ODDS_PRIOR))
        return float(np.sum(logsumexp(log_odds, axis=1) - chosen) + prior)

    theta = minimize(
        negative_log_posterior, start, method="L-BFGS-B", bounds=_ODDS_BOUNDS
    ).x
    return np.array([np.exp(theta[0]), theta[1]])


def n_coefficients(kind):
    """Coefficients per output of a head's ``std`` kind (see ``HeadSpec``)."""
    return {"formula": N_TERMS, "fisher": 2}[kind]


def output_variances(covariance, readout=None):
    """The targets' variances, ``(n_samples, n_outputs)``, from covariances
    of ``(row, col)``, ``(n_samples, 3)`` as ``(var_row, var_col,
    cov_row_col)``, through ``readout``, the ``(2, n_outputs)`` weights of
    the map from ``(row, col)`` to the targets (None: the identity)."""
    readout = np.eye(2) if readout is None else np.asarray(readout, np.float64)
    covariance = np.asarray(covariance, dtype=np.float64)
    along_row, along_col = readout
    return (
        covariance[:, 0:1] * np.square(along_row)
        + covariance[:, 1:2] * np.square(along_col)
        + 2.0 * covariance[:, 2:3] * along_row * along_col
    )


def predict(stats, coefficients, readout=None, covariance=None):
    """Standard deviations, shape ``(n_samples, n_outputs)``.

    Where the spot is where the model looked, the formula's variance, or,
    given the model's ``covariance`` of ``(row, col)`` (see
    :func:`output_variances`), the variance of :func:`fit_fisher` from
    that covariance's; where it may be
    elsewhere, the displacements' second moment. Both are taken to the
    targets by ``readout``, the ``(2, n_outputs)`` weights of the map from
    ``(row, col)`` to the targets (None: the identity).
    """
    coefficients = np.asarray(coefficients)
    if covariance is None:
        found = _features(stats) @ coefficients.T
    else:
        v = output_variances(covariance, readout)
        found = coefficients[:, 0] * v + coefficients[:, 1] * v * v
    elsewhere = stats[:, 3]
    moved = output_variances(stats[:, 4:7], readout)
    return np.sqrt((1.0 - elsewhere[:, None]) * found + moved)
