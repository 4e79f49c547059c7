"""How far predicted pixel positions are from the true ones.

Two metrics for ``(row, col)`` predictions, in the style of
:mod:`sklearn.metrics`, and a scorer for each to pass as ``scoring`` to
:func:`~sklearn.model_selection.cross_val_score` or
:class:`~sklearn.model_selection.GridSearchCV`:

- :func:`mean_pixel_error`: the mean Euclidean distance, in pixels (lower is
  better); :data:`mean_pixel_error_scorer` returns its negative, as scikit-learn
  scorers are maximised.
- :func:`exact_pixel_accuracy`: the fraction of predictions that land on the
  right pixel once rounded (higher is better);
  :data:`exact_pixel_accuracy_scorer`.

For blurred spots (:func:`~pixel_regressor.make_bright_spot_dataset`),
:func:`localization_crlb` gives the Cramer-Rao lower bound: the smallest
standard deviation per axis any unbiased estimator can reach.

This module needs NumPy and scikit-learn only (and SciPy for
:func:`localization_crlb`), not Keras: the metrics apply to
any regressor's predictions.

Examples
--------
A nearest-neighbour regressor finds the pixel when it has seen a training
image with the pixel at the same place, so it is often exact, and far off
otherwise:

>>> from sklearn.model_selection import cross_val_score
>>> from sklearn.neighbors import KNeighborsRegressor
>>> from pixel_regressor import make_bright_pixel_dataset
>>> from pixel_regressor.metrics import (
...     exact_pixel_accuracy_scorer, mean_pixel_error_scorer
... )
>>> X, y = make_bright_pixel_dataset(100, image_size=6, random_state=0)
>>> knn = KNeighborsRegressor(n_neighbors=1)
>>> accuracy = cross_val_score(knn, X, y, scoring=exact_pixel_accuracy_scorer)
>>> round(float(accuracy.mean()), 2)  # 92 % of the pixels found exactly
0.92
>>> neg_error = cross_val_score(knn, X, y, scoring=mean_pixel_error_scorer)
>>> round(float(neg_error.mean()), 2)  # minus the mean error, in pixels
-0.34
"""

import numpy as np
from sklearn.metrics import make_scorer
from sklearn.utils.validation import check_array, check_consistent_length

from ._validation import check_image_shape
from .datasets import _check_camera, _check_nonnegative, _check_positive

__all__ = [
    "exact_pixel_accuracy",
    "exact_pixel_accuracy_scorer",
    "localization_crlb",
    "mean_pixel_error",
    "mean_pixel_error_scorer",
]


def _check_coordinates(y, name):
    if np.ndim(y) != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, 2) holding (row, col) "
            f"positions, got an array of shape {np.shape(y)}."
        )
    return check_array(y, dtype=np.float64, ensure_all_finite=True, input_name=name)


def _check_targets(y_true, y_pred, sample_weight):
    """Validate ``y_true``, ``y_pred`` and ``sample_weight``; return them as float64.

    Both targets must be finite 2-D arrays of the same shape ``(n_samples,
    n_coordinates)``, ``(n_samples, 2)`` for ``(row, col)`` positions.
    ``sample_weight`` must be None or ``n_samples`` non-negative finite values
    that do not all vanish.
    """
    y_true = _check_coordinates(y_true, "y_true")
    y_pred = _check_coordinates(y_pred, "y_pred")
    check_consistent_length(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "y_true and y_pred must have the same number of coordinates per "
            f"sample, got shapes {y_true.shape} and {y_pred.shape}."
        )
    if sample_weight is not None:
        sample_weight = check_array(
            sample_weight,
            ensure_2d=False,
            dtype=np.float64,
            ensure_all_finite=True,
            input_name="sample_weight",
        )
        if sample_weight.ndim != 1:
            raise ValueError(
                "sample_weight must be a 1-D array of shape (n_samples,), got "
                f"shape {sample_weight.shape}."
            )
        check_consistent_length(y_true, sample_weight)
        if np.any(sample_weight < 0):
            raise ValueError("sample_weight must not hold negative values.")
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must hold at least one positive value.")
    return y_true, y_pred, sample_weight


def mean_pixel_error(y_true, y_pred, *, sample_weight=None):
    """Mean Euclidean distance between predicted and true pixel positions.

    For ``(row, col)`` targets this is the average, over samples, of
    ``sqrt((row_pred - row_true) ** 2 + (col_pred - col_true) ** 2)``: how
    many pixels away a prediction is, on average. Lower is better; 0 is
    perfect.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, 2)
        True ``(row, col)`` positions. Any number of coordinates per sample is
        accepted, the same in ``y_true`` and ``y_pred``.

    y_pred : array-like of shape (n_samples, 2)
        Predicted positions, real-valued.

    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights, for a weighted mean. None weighs every sample
        equally.

    Returns
    -------
    error : float
        The (weighted) mean distance, in pixels.

    Raises
    ------
    ValueError
        If ``y_true`` and ``y_pred`` are not finite 2-D arrays of the same
        shape, or ``sample_weight`` is not of length ``n_samples``, holds a
        negative value or only zeros.

    See Also
    --------
    exact_pixel_accuracy : The fraction of predictions on the right pixel.
    sklearn.metrics.mean_absolute_error : The mean absolute error per
        coordinate, which treats the row and the column separately.

    Examples
    --------
    >>> from pixel_regressor import mean_pixel_error
    >>> y_true = [[0, 0], [2, 2]]
    >>> y_pred = [[3, 4], [2, 2]]  # 5 pixels off, then exact
    >>> mean_pixel_error(y_true, y_pred)
    2.5
    >>> mean_pixel_error(y_true, y_pred, sample_weight=[1, 3])
    1.25
    """
    y_true, y_pred, sample_weight = _check_targets(y_true, y_pred, sample_weight)
    distances = np.sqrt(np.sum((y_pred - y_true) ** 2, axis=1))
    return float(np.average(distances, weights=sample_weight))


def exact_pixel_accuracy(y_true, y_pred, *, sample_weight=None, round_y_true=False):
    """Fraction of samples whose rounded prediction is the true pixel.

    A prediction counts as exact when every coordinate, rounded to the nearest
    integer, equals the true one: ``np.rint(y_pred) == y_true`` in both row
    and column. Rounding is :func:`numpy.rint`'s: a value exactly halfway
    between two integers goes to the even one (``0.5`` to ``0``, ``1.5`` and
    ``2.5`` to ``2``). Higher is better; 1 is perfect.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, 2)
        True ``(row, col)`` positions, integer-valued. Any number of
        coordinates per sample is accepted, the same in ``y_true`` and
        ``y_pred``.

    y_pred : array-like of shape (n_samples, 2)
        Predicted positions, real-valued.

    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights, for a weighted fraction. None weighs every
        sample equally.

    round_y_true : bool, default=False
        Whether real-valued targets are accepted and rounded like the
        predictions: a prediction is then exact when it rounds to the same
        pixel as its target, ``np.rint(y_pred) == np.rint(y_true)``. By
        default ``y_true`` must hold integer positions, and a non-integer
        value raises.

    Returns
    -------
    accuracy : float
        The (weighted) fraction of exact predictions, between 0 and 1.

    Raises
    ------
    ValueError
        If ``y_true`` and ``y_pred`` are not finite 2-D arrays of the same
        shape, ``y_true`` holds a non-integer value (unless
        ``round_y_true=True``), or ``sample_weight`` is not of length
        ``n_samples``, holds a negative value or only zeros.

    See Also
    --------
    mean_pixel_error : The mean distance to the true pixel.

    Examples
    --------
    >>> from pixel_regressor import exact_pixel_accuracy
    >>> y_true = [[1, 1], [2, 3]]
    >>> y_pred = [[1.4, 0.6], [2.6, 3.0]]  # rounds to (1, 1), then (3, 3)
    >>> exact_pixel_accuracy(y_true, y_pred)
    0.5
    >>> exact_pixel_accuracy(y_true, y_pred, sample_weight=[3, 1])
    0.75

    Halfway values round to the even integer:

    >>> exact_pixel_accuracy([[0, 2]], [[0.5, 2.5]])
    1.0

    Real-valued targets, such as sub-pixel annotations, are rounded too with
    ``round_y_true=True``:

    >>> exact_pixel_accuracy([[1.2, 3.6]], [[0.9, 4.4]], round_y_true=True)
    1.0
    """
    y_true, y_pred, sample_weight = _check_targets(y_true, y_pred, sample_weight)
    if round_y_true:
        y_true = np.rint(y_true)
    elif np.any(y_true != np.rint(y_true)):
        raise ValueError(
            "y_true must hold integer pixel positions for exact_pixel_accuracy; "
            "it holds non-integer values. Pass round_y_true=True to round "
            "real-valued targets to their pixel."
        )
    hits = np.all(np.rint(y_pred) == y_true, axis=1)
    return float(np.average(hits, weights=sample_weight))


#: Scorer for :func:`mean_pixel_error`. Scikit-learn maximises scores, so it
#: returns ``-mean_pixel_error``: 0 is perfect, every error makes it more
#: negative.
mean_pixel_error_scorer = make_scorer(mean_pixel_error, greater_is_better=False)

#: Scorer for :func:`exact_pixel_accuracy`: the fraction of exact predictions,
#: between 0 and 1, higher is better.
exact_pixel_accuracy_scorer = make_scorer(exact_pixel_accuracy)


def _check_per_spot(value, name, check):
    """A number checked by ``check``, or a 1-D float array of such numbers."""
    if isinstance(value, (tuple, list)):
        # A (low, high) pair reads as the generator's range, which has no one
        # bound: values per spot come as an array.
        raise TypeError(
            f"{name} must be a number or an ndarray of one value per spot, got "
            f"{value!r}; for a dataset drawn over a range, pass its per-image "
            "values (the Bunch's arrays)."
        )
    if np.ndim(value) == 0:
        return check(value, name)
    values = np.asarray(value)
    if values.ndim != 1 or values.dtype.kind not in "iuf" or not len(values):
        raise ValueError(
            f"{name} must be a number or a 1-D array of numbers (one per spot), "
            f"got an array of shape {values.shape} and dtype {values.dtype}."
        )
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must hold finite values.")
    check(float(values.min()), f"every {name}")
    return values


def localization_crlb(
    image_shape,
    *,
    psf_sigma,
    photons,
    background,
    read_noise=0.0,
    gain=1.0,
    offset=0.0,
    em_gain=1.0,
    position=None,
):
    """Cramer-Rao lower bound on the position error of a blurred spot.

    The smallest standard deviation, per axis and in pixels, that any unbiased
    estimator of the spot's ``(row, col)`` can reach on images of the model of
    :func:`~pixel_regressor.make_bright_spot_dataset`, with the photons and
    the background unknown too. It comes from the Fisher information of
    independent Poisson pixels of expected counts ``mu_k`` (Smith et al.,
    Nat. Methods 2010)::

        I_ij = sum_k (d mu_k / d theta_i) (d mu_k / d theta_j) / mu_k

    for ``theta = (row, col, photons, background)``: the bound is the square
    root of the first two diagonal entries of ``I^-1``. Read noise enters in
    the usual Poisson-plus-Gaussian approximation, ``mu_k + read_noise ** 2``
    in the denominator. Compare an estimator's root-mean-square error per
    axis with it: a ratio of 1 is the best possible.

    Parameters
    ----------
    image_shape : int or tuple of (int, int)
        Image size: an int for square images, or ``(height, width)``.

    psf_sigma : float or ndarray of shape (m,)
        Standard deviation of the Gaussian PSF, in pixels, > 0.

    photons : float or ndarray of shape (m,)
        Expected photons of the spot, > 0.

    background : float or ndarray of shape (m,)
        Expected background counts per pixel, >= 0.

        Each of ``psf_sigma``, ``photons`` and ``background`` is one number
        for every spot or one per spot, as the :class:`~sklearn.utils.Bunch`
        of :func:`~pixel_regressor.make_bright_spot_dataset` gives them.

    read_noise : float, default=0.0
        Standard deviation of Gaussian read noise per pixel, >= 0, in
        electrons after any EM gain (as in
        :func:`~pixel_regressor.make_bright_spot_dataset`).

    gain, offset : float, default=1.0 and 0.0
        The camera's ADU per electron (> 0) and baseline in ADU (>= 0), as in
        :func:`~pixel_regressor.make_bright_spot_dataset`. A known gain and
        offset change the units of the image, not its information: the bound
        is the same for any of them.

    em_gain : float, default=1.0
        An EMCCD's electron-multiplying gain, >= 1. Above 1, the excess noise
        of the gamma-Poisson model doubles each pixel's signal variance,
        ``2 * mu_k`` in the denominator (the usual high-gain approximation,
        Mortensen et al. 2010), and the read noise counts for
        ``read_noise / em_gain`` photoelectrons: without read noise, the
        bound is ``sqrt(2)`` times a photon-counting camera's.

    position : array-like of shape (2,) or (m, 2), default=None
        ``(row, col)`` of the spot, or of each of ``m`` spots. None is the
        image's centre, ``((height - 1) / 2, (width - 1) / 2)``, for every
        spot.

    Returns
    -------
    crlb : ndarray of shape (2,) or (m, 2)
        The bound on the standard deviation of ``(row, col)``, in pixels, for
        each spot: shape ``(2,)`` for one position and numbers only.

    See Also
    --------
    make_bright_spot_dataset : Images of this model.
    mean_pixel_error : The mean distance of predictions to the truth.

    Notes
    -----
    For a spot far from the edges of a large image, Mortensen et al. (Nat.
    Methods 2010) give the closed form ``var = (s2 / N) / F(tau)`` with
    ``s2 = psf_sigma ** 2 + 1 / 12``, ``tau = 2 pi s2 background / N`` and
    ``F(tau) = 1 + int_0^1 ln(t) / (1 + t / tau) dt``, which this function
    matches to better than 1 %. To compare an estimator with the bound over a
    test set of varying positions (or photons), average the variances, not
    the standard deviations: ``sqrt(mean(crlb ** 2))``.

    Examples
    --------
    >>> from pixel_regressor import localization_crlb
    >>> localization_crlb(32, psf_sigma=1.3, photons=1000, background=10).round(4)
    array([0.0563, 0.0563])

    Four times the photons more than halve it, as the background weighs less:

    >>> localization_crlb(32, psf_sigma=1.3, photons=4000, background=10).round(4)
    array([0.0239, 0.0239])

    A bound per spot of a dataset whose photons, background and PSF width
    vary from image to image:

    >>> from pixel_regressor import make_bright_spot_dataset
    >>> spots = make_bright_spot_dataset(
    ...     3, photons=(300, 3000), background=(1, 100), psf_sigma=(1, 2),
    ...     return_X_y=False, random_state=0,
    ... )
    >>> localization_crlb(
    ...     32, psf_sigma=spots.psf_sigma, photons=spots.photons,
    ...     background=spots.background, position=spots.target,
    ... ).shape
    (3, 2)

    One bound per position, here near a corner and at a pixel centre:

    >>> localization_crlb(
    ...     32, psf_sigma=1.3, photons=1000, background=10,
    ...     position=[[1.0, 1.0], [16.0, 16.0]],
    ... ).round(4)
    array([[0.0733, 0.0733],
           [0.0563, 0.0563]])

    An EMCCD's excess noise costs a factor ``sqrt(2)``; its gain and offset
    nothing:

    >>> localization_crlb(
    ...     32, psf_sigma=1.3, photons=1000, background=10,
    ...     gain=0.5, offset=100, em_gain=100,
    ... ).round(4)
    array([0.0796, 0.0796])
    """
    height, width = check_image_shape(image_shape, allow_int=True)
    psf_sigma = _check_per_spot(psf_sigma, "psf_sigma", _check_positive)
    photons = _check_per_spot(photons, "photons", _check_positive)
    background = _check_per_spot(background, "background", _check_nonnegative)
    read_noise = _check_nonnegative(read_noise, "read_noise")
    _, _, em_gain = _check_camera(gain, offset, em_gain)
    counts = {len(v) for v in (psf_sigma, photons, background) if np.ndim(v)}
    if len(counts) > 1:
        raise ValueError(
            "psf_sigma, photons and background given per spot must have the "
            f"same length, got lengths {sorted(counts)}."
        )
    if position is None:
        positions = np.array([[(height - 1) / 2, (width - 1) / 2]])
        single = not counts
        if counts:
            positions = np.repeat(positions, counts.pop(), axis=0)
    else:
        positions = np.asarray(position, dtype=np.float64)
        single = positions.shape == (2,) and not counts
        if positions.shape != (2,) and (positions.ndim != 2 or positions.shape[1] != 2):
            raise ValueError(
                "position must be a (row, col) pair or an array of shape (m, 2), "
                f"got shape {positions.shape}."
            )
        if not np.all(np.isfinite(positions)):
            raise ValueError("position must hold finite values.")
        positions = positions.reshape(-1, 2)
        if counts and counts != {len(positions)}:
            if len(positions) != 1:
                raise ValueError(
                    f"position holds {len(positions)} spots, but psf_sigma, "
                    f"photons or background holds {counts.pop()} values: give "
                    "one value, or one per spot."
                )
            positions = np.repeat(positions, counts.pop(), axis=0)

    from . import _psf

    crlb = _psf.position_crlb(
        (height, width),
        positions,
        psf_sigma,
        photons,
        background,
        read_noise / em_gain,
        excess=2.0 if em_gain > 1 else 1.0,
    )
    return crlb[0] if single else crlb
