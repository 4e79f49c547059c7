"""Per-image standard deviations of the spot head's predictions.

The Cramer-Rao bound of a spot's position (see
:func:`~pixel_regressor.localization_crlb`) is, to a good approximation
(Thompson et al., Biophys. J. 2002; Mortensen et al., Nat. Methods 2010)::

    var = a / N + b * v / N ** 2

with ``N`` the spot's signal, ``v`` the variance of the background per pixel
and ``a``, ``b`` set by the point-spread function's width and the camera
(its gain in ADU, an EMCCD's excess noise). The first term is the spot's own
shot noise, the second the background's. A model that comes within a few
percent of the bound has errors of that form too.

:func:`statistics` measures ``N`` and ``v`` on each image, without knowing
its camera or point-spread function: ``N`` is the sum over a square window
around the smoothed image's peak less the background level, ``v`` the
variance of the pixels outside it (a few of the brightest left out, as hot
pixels). :func:`fit` chooses ``a`` and ``b`` per output by maximum
likelihood on the errors of a fitted model's predictions (a Gaussian per
error, its variance the formula), after setting aside the gross misses it
cannot describe; :func:`predict` evaluates the formula. The result is a
standard deviation per image and per output, in the targets' units.

NumPy and SciPy only.
"""

import numpy as np

__all__ = ["WINDOW", "fit", "predict", "statistics"]

#: Half-width of the window whose sum is the spot's signal, in pixels.
WINDOW = 3
# The smoothing that finds each image's peak (as the spot head's PeakCrop).
_SMOOTHING = 1.5
# Share of the pixels outside the window left out of the background's
# variance, from the top: hot pixels.
_TRIM = 0.01
# Pixels per chunk of images handled at once (float64: 32 MiB an array, a few
# arrays at a time).
_CHUNK_PIXELS = 1 << 22
# Errors beyond this many predicted standard deviations are gross misses,
# left out of the fit.
_MISS_Z = 5.0


def statistics(images):
    """Each image's spot signal ``N`` and background variance ``v``.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width, 1)
        Any real dtype and intensity scale.

    Returns
    -------
    stats : ndarray of shape (n_samples, 2)
        ``N`` (at least the background's noise over the window, so that a
        blank image gets a large, finite deviation) and ``v`` (> 0).
    """
    from scipy import ndimage

    n, height, width = images.shape[:3]
    out = np.empty((n, 2))
    chunk = max(1, _CHUNK_PIXELS // (height * width))
    rows, cols = np.arange(height), np.arange(width)
    n_pixels = height * width
    for start in range(0, n, chunk):
        batch = np.asarray(images[start : start + chunk, :, :, 0], dtype=np.float64)
        smooth = ndimage.gaussian_filter(
            batch, sigma=(0, _SMOOTHING, _SMOOTHING), mode="nearest"
        )
        peak = smooth.reshape(len(batch), -1).argmax(axis=1)
        row, col = np.divmod(peak, width)
        inside = (np.abs(rows[None, :, None] - row[:, None, None]) <= WINDOW) & (
            np.abs(cols[None, None, :] - col[:, None, None]) <= WINDOW
        )
        flat, inside = batch.reshape(len(batch), -1), inside.reshape(len(batch), -1)
        # The pixels outside the window, sorted, less the brightest _TRIM of
        # them: NaN (sorted last) marks what is left out.
        outside = np.sort(np.where(inside, np.nan, flat), axis=1)
        count = n_pixels - inside.sum(axis=1)
        count = np.where(count >= 10, count - np.ceil(_TRIM * count), count)
        # An image hardly larger than the window: all its pixels.
        small = count < 2
        outside[small] = np.sort(flat[small], axis=1)
        count[small] = n_pixels
        outside[np.arange(n_pixels)[None, :] >= count[:, None]] = np.nan
        level = np.nanmedian(outside, axis=1)
        variance = np.nanmean((outside - level[:, None]) ** 2, axis=1)
        variance = np.maximum(variance, 1e-12)
        in_window = inside.sum(axis=1)
        signal = np.where(inside, flat, 0.0).sum(axis=1) - level * in_window
        noise = np.sqrt(variance * in_window)
        out[start : start + len(batch), 0] = np.maximum(signal, noise)
        out[start : start + len(batch), 1] = variance
    return out


def _features(stats):
    signal, variance = stats[:, 0], stats[:, 1]
    return np.stack([1.0 / signal, variance / signal**2], axis=1)


def _negative_log_likelihood(log_coefficients, features, squares):
    variance = features @ np.exp(log_coefficients)
    return float(np.sum(np.log(variance) + squares / variance))


def fit(stats, errors):
    """The coefficients ``(a, b)`` of each output, from a model's errors.

    Parameters
    ----------
    stats : ndarray of shape (n_samples, 2)
        :func:`statistics` of the images.
    errors : ndarray of shape (n_samples, n_outputs)
        The model's predictions less the targets.

    Returns
    -------
    coefficients : ndarray of shape (n_outputs, 2)
        ``a`` and ``b`` per output, > 0.
    """
    from scipy.optimize import minimize

    features = _features(stats)
    out = np.empty((errors.shape[1], 2))
    for j, error in enumerate(errors.T):
        squares = np.square(error.astype(np.float64))
        keep = np.isfinite(squares)
        # From each term explaining half the mean squared error, the
        # likelihood, twice: the second time without the errors the first
        # fit calls gross misses.
        mean_square = max(float(np.mean(squares[keep])), 1e-300)
        log_coefficients = np.log(0.5 * mean_square / features[keep].mean(axis=0))
        for attempt in range(2):
            if attempt:
                variance = features @ np.exp(log_coefficients)
                keep &= squares <= _MISS_Z**2 * variance
            log_coefficients = minimize(
                _negative_log_likelihood,
                log_coefficients,
                args=(features[keep], squares[keep]),
                method="L-BFGS-B",
                bounds=[(-60.0, 60.0)] * 2,
            ).x
        out[j] = np.exp(log_coefficients)
    return out


def predict(stats, coefficients):
    """Standard deviations, shape ``(n_samples, n_outputs)``."""
    return np.sqrt(_features(stats) @ np.asarray(coefficients).T)
