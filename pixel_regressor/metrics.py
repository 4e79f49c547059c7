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

This module needs NumPy and scikit-learn only, not Keras: the metrics apply to
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

__all__ = [
    "exact_pixel_accuracy",
    "exact_pixel_accuracy_scorer",
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
