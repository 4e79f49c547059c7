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

For many spots per frame (:func:`~pixel_regressor.make_spot_frames`),
:func:`match_localizations` pairs localisations with the true spots one to
one within a radius, and :func:`jaccard_index`, :func:`matched_rmse` and
:func:`localization_efficiency` score them as the SMLM challenge does (Sage
et al., Nat. Methods 2019).

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
    "jaccard_index",
    "localization_crlb",
    "localization_efficiency",
    "match_localizations",
    "matched_rmse",
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


# --------------------------------------------------------------------------
# Localisations in frames, scored as in the SMLM challenge
# --------------------------------------------------------------------------


def _check_localizations(points, name):
    """``(frame, positions)`` of a table of localisations or of true spots.

    A DataFrame (or any table with columns) needs ``row`` and ``col``
    columns, and ``frame`` when its spots come from several frames (without
    it, all are in frame 0). An array has shape ``(n, 2)``, ``(row, col)`` in
    one frame, or ``(n, 3)``, ``(frame, row, col)``.
    """
    if hasattr(points, "columns"):
        missing = {"row", "col"} - set(points.columns)
        if missing:
            raise ValueError(
                f"{name} must have the columns 'row' and 'col' (and 'frame'); "
                f"it lacks {sorted(missing)}, it has {list(points.columns)}."
            )
        rows = np.asarray(points["row"], dtype=np.float64)
        positions = np.column_stack([rows, np.asarray(points["col"], np.float64)])
        frame = (
            np.asarray(points["frame"])
            if "frame" in points.columns
            else np.zeros(len(positions))
        )
    else:
        values = np.asarray(points, dtype=np.float64)
        if values.size == 0 and values.ndim < 2:
            values = values.reshape(0, 2)
        if values.ndim != 2 or values.shape[1] not in (2, 3):
            raise ValueError(
                f"{name} must be a DataFrame with 'frame', 'row' and 'col' "
                "columns, or an array of shape (n, 2) (row, col) or (n, 3) "
                f"(frame, row, col); got an array of shape {values.shape}."
            )
        positions = values[:, -2:]
        frame = values[:, 0] if values.shape[1] == 3 else np.zeros(len(values))
    if not np.all(np.isfinite(positions)):
        raise ValueError(f"{name} must hold finite row and col values.")
    if frame.dtype.kind not in "iu":
        frame = np.asarray(frame, dtype=np.float64)
        if not np.all(frame == np.round(frame)):
            raise ValueError(f"{name}'s frame numbers must be integers.")
    return frame.astype(np.int64), positions


def _matching(truth, locs, radius):
    """The one-to-one matching of :func:`match_localizations`, checked inputs."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    radius = _check_positive(radius, "radius")
    truth_frame, truth_rc = _check_localizations(truth, "truth")
    locs_frame, locs_rc = _check_localizations(locs, "locs")
    n, m = len(truth_rc), len(locs_rc)
    empty = np.empty(0, dtype=np.intp)
    if n == 0 or m == 0:
        return empty, empty.copy(), np.empty(0)
    # The frame as a third coordinate, frames further apart than the radius:
    # a spot pairs only with localisations of its own frame.
    spacing = 2.0 * radius
    truth_tree = cKDTree(np.column_stack([truth_frame * spacing, truth_rc]))
    locs_tree = cKDTree(np.column_stack([locs_frame * spacing, locs_rc]))
    pairs = truth_tree.sparse_distance_matrix(locs_tree, radius, output_type="ndarray")
    if not len(pairs):
        return empty, empty.copy(), np.empty(0)
    i, j, d = pairs["i"].astype(np.intp), pairs["j"].astype(np.intp), pairs["v"]
    # Spots and localisations linked by pairs within the radius form groups;
    # each group is matched on its own, most of them a lone pair.
    graph = coo_matrix((np.ones(len(i)), (i, n + j)), shape=(n + m, n + m))
    _, group = connected_components(graph, directed=False)
    pair_group = group[i]
    size = np.bincount(pair_group, minlength=group.max() + 1)
    lone = size[pair_group] == 1
    matched = [(i[lone], j[lone], d[lone])]
    order = np.argsort(pair_group[~lone], kind="stable")
    i, j, d, pair_group = (a[~lone][order] for a in (i, j, d, pair_group))
    bounds = np.flatnonzero(np.diff(pair_group)) + 1
    for gi, gj, gd in zip(
        np.split(i, bounds), np.split(j, bounds), np.split(d, bounds)
    ):
        if not len(gi):
            continue
        rows, ri = np.unique(gi, return_inverse=True)
        cols, ci = np.unique(gj, return_inverse=True)
        # Pairs beyond the radius cost more than all pairs within it
        # together: as many pairs as possible, then the least total distance.
        cost = np.full((len(rows), len(cols)), radius * (len(gd) + 1.0))
        cost[ri, ci] = gd
        r, c = linear_sum_assignment(cost)
        keep = cost[r, c] <= radius
        matched.append((rows[r[keep]], cols[c[keep]], cost[r[keep], c[keep]]))
    truth_index, locs_index, distance = (np.concatenate(a) for a in zip(*matched))
    order = np.argsort(truth_index, kind="stable")
    return truth_index[order], locs_index[order], distance[order]


def match_localizations(truth, locs, *, radius):
    """Match localisations to the true spots one to one, frame by frame.

    The pairing of the SMLM challenge (Sage et al., Nat. Methods 2019): in
    each frame, a localisation and a true spot can pair when they lie within
    ``radius`` of each other (a distance equal to the radius included); each
    spot pairs with at most one localisation and each localisation with at
    most one spot; among the pairings, the one with the most pairs, and
    among those the least total distance, is chosen
    (:func:`scipy.optimize.linear_sum_assignment`, on each group of spots
    and localisations linked by distances within the radius). When two
    pairings tie (a localisation equidistant from two spots), either may be
    returned.

    Parameters
    ----------
    truth : DataFrame or array-like of shape (n_spots, 3) or (n_spots, 2)
        The true spots: a DataFrame with ``frame``, ``row`` and ``col``
        columns (such as :func:`~pixel_regressor.make_spot_frames`' truth;
        without ``frame``, all in one frame), an array of ``(frame, row,
        col)`` rows, or of ``(row, col)`` rows in one frame.

    locs : DataFrame or array-like of shape (n_locs, 3) or (n_locs, 2)
        The localisations, in the same form and units.

    radius : float
        The largest distance of a pair, > 0, in the units of the positions
        (pixels).

    Returns
    -------
    truth_index : ndarray of shape (n_matched,) of int
        Positions (0-based, as ``DataFrame.iloc`` takes them) of the matched
        spots in ``truth``, increasing.
    locs_index : ndarray of shape (n_matched,) of int
        Positions of their localisations in ``locs``.
    distance : ndarray of shape (n_matched,) of float64
        The distance of each pair.

    See Also
    --------
    jaccard_index, matched_rmse, localization_efficiency

    Examples
    --------
    >>> from pixel_regressor.metrics import match_localizations
    >>> truth = [[0, 5.0, 5.0], [0, 5.0, 9.0], [1, 5.0, 5.0]]  # frame, row, col
    >>> locs = [[0, 5.0, 8.5], [0, 20.0, 20.0], [1, 5.3, 5.4]]
    >>> truth_index, locs_index, distance = match_localizations(
    ...     truth, locs, radius=1.0
    ... )
    >>> truth_index, locs_index, distance.round(2)
    (array([1, 2]), array([0, 2]), array([0.5, 0.5]))
    """
    return _matching(truth, locs, radius)


def _counts(truth, locs, radius):
    """``(true positives, n_truth, n_locs, squared errors per axis)``."""
    truth_index, locs_index, _ = _matching(truth, locs, radius)
    truth_rc = _check_localizations(truth, "truth")[1]
    locs_rc = _check_localizations(locs, "locs")[1]
    errors = locs_rc[locs_index] - truth_rc[truth_index]
    return len(truth_index), len(truth_rc), len(locs_rc), errors**2


def _jaccard(tp, n_truth, n_locs):
    union = n_truth + n_locs - tp  # TP + FN + FP
    return 1.0 if union == 0 else tp / union


def jaccard_index(truth, locs, *, radius):
    """The Jaccard index of localisations: ``TP / (TP + FP + FN)``.

    The detection score of the SMLM challenge (Sage et al., Nat. Methods
    2019): the true positives ``TP`` are the pairs of
    :func:`match_localizations` within ``radius``, the false positives
    ``FP`` the localisations left without a spot, the false negatives ``FN``
    the spots left without a localisation. 1 is every spot found and nothing
    else; with no spot and no localisation there is nothing to miss, and the
    index is 1.

    Parameters
    ----------
    truth, locs, radius
        As in :func:`match_localizations`.

    Returns
    -------
    jaccard : float
        Between 0 and 1, higher is better.

    Examples
    --------
    >>> from pixel_regressor.metrics import jaccard_index
    >>> truth = [[0, 5.0, 5.0], [0, 5.0, 9.0], [1, 5.0, 5.0]]
    >>> locs = [[0, 5.0, 8.5], [0, 20.0, 20.0], [1, 5.3, 5.4]]
    >>> jaccard_index(truth, locs, radius=1.0)  # 2 / (2 + 1 + 1)
    0.5
    """
    tp, n_truth, n_locs, _ = _counts(truth, locs, radius)
    return float(_jaccard(tp, n_truth, n_locs))


def _check_pixel_size(pixel_size):
    return 1.0 if pixel_size is None else _check_positive(pixel_size, "pixel_size")


def matched_rmse(truth, locs, *, radius, pixel_size=None, per_axis=False):
    """Root-mean-square error of the matched localisations.

    The lateral RMSE of the SMLM challenge: over the ``TP`` pairs of
    :func:`match_localizations`, ``sqrt(mean(d_row**2 + d_col**2))``, the
    root of the mean squared distance (not the per-axis RMSE, which is
    ``sqrt(2)`` times smaller for errors alike along both axes). Only
    matched pairs count, so a lost spot or a false localisation changes the
    :func:`jaccard_index`, not this.

    Parameters
    ----------
    truth, locs, radius
        As in :func:`match_localizations`.

    pixel_size : float, default=None
        The size of a pixel (for instance in nm, > 0): the RMSE is returned in
        its units. None returns it in pixels.

    per_axis : bool, default=False
        If True, return ``[sqrt(mean(d_row**2)), sqrt(mean(d_col**2))]``
        instead.

    Returns
    -------
    rmse : float, or ndarray of shape (2,) with ``per_axis``
        NaN when no pair was matched.

    Examples
    --------
    >>> from pixel_regressor.metrics import matched_rmse
    >>> truth = [[0, 5.0, 5.0], [0, 5.0, 9.0], [1, 5.0, 5.0]]
    >>> locs = [[0, 5.0, 8.5], [0, 20.0, 20.0], [1, 5.3, 5.4]]
    >>> round(matched_rmse(truth, locs, radius=1.0), 6)  # both pairs 0.5 px apart
    0.5
    >>> round(matched_rmse(truth, locs, radius=1.0, pixel_size=100.0), 6)  # in nm
    50.0
    >>> matched_rmse(truth, locs, radius=1.0, per_axis=True).round(3)
    array([0.212, 0.453])
    """
    pixel_size = _check_pixel_size(pixel_size)
    if not isinstance(per_axis, (bool, np.bool_)):
        raise TypeError(f"per_axis must be a bool, got {per_axis!r}.")
    tp, _, _, squared = _counts(truth, locs, radius)
    if tp == 0:
        return np.full(2, np.nan) if per_axis else float("nan")
    if per_axis:
        return pixel_size * np.sqrt(squared.mean(axis=0))
    return float(pixel_size * np.sqrt(squared.sum(axis=1).mean()))


def localization_efficiency(truth, locs, *, radius, pixel_size=100.0, alpha=0.01):
    """The SMLM challenge's efficiency, detection and accuracy in one score.

    Sage et al. (Nat. Methods 2019) combine the :func:`jaccard_index` ``J``
    and the lateral :func:`matched_rmse` in nm into::

        E = 1 - sqrt((1 - J)**2 + alpha**2 * RMSE**2)

    with ``alpha = 0.01`` per nm laterally: 1 is perfect, and 100 nm of
    RMSE costs as much as missing every spot. With no matched pair the RMSE
    term is 0 (``E = 1 - (1 - J) = 0`` when spots or localisations exist; 1
    when neither does). ``E`` can be negative.

    Parameters
    ----------
    truth, locs, radius
        As in :func:`match_localizations` (positions and ``radius`` in
        pixels).

    pixel_size : float, default=100.0
        The size of a pixel, in nm, > 0, that turns the RMSE into nm. 100 nm
        is a common camera pixel in the sample plane (the challenge's).

    alpha : float, default=0.01
        The weight of the RMSE, per nm, >= 0 (0.01 laterally in the
        challenge).

    Returns
    -------
    efficiency : float
        At most 1, higher is better.

    See Also
    --------
    jaccard_index, matched_rmse

    Examples
    --------
    >>> from pixel_regressor.metrics import localization_efficiency
    >>> truth = [[0, 5.0, 5.0], [0, 5.0, 9.0], [1, 5.0, 5.0]]
    >>> locs = [[0, 5.0, 8.5], [0, 20.0, 20.0], [1, 5.3, 5.4]]
    >>> # J = 0.5, RMSE = 0.5 px = 50 nm: 1 - sqrt(0.5**2 + 0.5**2)
    >>> round(localization_efficiency(truth, locs, radius=1.0), 4)
    0.2929

    A scorer for a model whose ``predict`` returns localisations, for
    :class:`~sklearn.model_selection.GridSearchCV`:

    >>> from sklearn.metrics import make_scorer
    >>> scorer = make_scorer(localization_efficiency, radius=2.0)
    """
    pixel_size = _check_pixel_size(pixel_size)
    alpha = _check_nonnegative(alpha, "alpha")
    tp, n_truth, n_locs, squared = _counts(truth, locs, radius)
    jaccard = _jaccard(tp, n_truth, n_locs)
    rmse = pixel_size * np.sqrt(squared.sum(axis=1).mean()) if tp else 0.0
    return float(1.0 - np.hypot(1.0 - jaccard, alpha * rmse))


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
    psf_sigma=None,
    photons,
    background,
    read_noise=0.0,
    gain=1.0,
    offset=0.0,
    em_gain=1.0,
    position=None,
    psf=None,
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
        Image size: an int for square images, or ``(height, width)``, at
        least 2 pixels along each side.

    psf_sigma : float or ndarray of shape (m,), default=None
        Standard deviation of the Gaussian PSF, in pixels, > 0. Required
        unless ``psf`` is given.

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
        spot. Positions lie inside the image, within ``[-0.5, height - 0.5] x
        [-0.5, width - 0.5]`` (the pixels' outer edges).

    psf : SampledPSF, default=None
        A PSF given as an oversampled image
        (:class:`~pixel_regressor.SampledPSF`), in place of the Gaussian:
        the bound of the images that
        :func:`~pixel_regressor.make_bright_spot_dataset` draws with this
        ``psf``, the derivatives of ``mu_k`` those of the PSF integrated
        over each pixel. ``psf_sigma`` must then be None: give one of the
        two.

    Returns
    -------
    crlb : ndarray of shape (2,) or (m, 2)
        The bound on the standard deviation of ``(row, col)``, in pixels, for
        each spot: shape ``(2,)`` for one position and numbers only.

    Raises
    ------
    ValueError
        If a parameter is out of range (the message names it), a position
        lies outside the image, or a spot's images carry no information on
        its position: its Fisher information is singular, and no bound
        exists (a PSF much narrower than a pixel or much wider than the
        image, a read noise that drowns every pixel). The message names the
        spot and its parameters.

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

    The bound of a PSF that is not a Gaussian, here a spot stretched along
    the rows, sampled five times finer than the pixels: worse along the rows
    than along the columns.

    >>> import numpy as np
    >>> from pixel_regressor import SampledPSF
    >>> rows, cols = np.mgrid[-40:41, -40:41] / 5
    >>> stretched = SampledPSF(
    ...     np.exp(-0.5 * (rows / 2.0) ** 2 - 0.5 * (cols / 1.3) ** 2), 5
    ... )
    >>> localization_crlb(32, psf=stretched, photons=1000, background=10).round(4)
    array([0.0921, 0.0607])
    """
    height, width = check_image_shape(image_shape, allow_int=True)
    if min(height, width) < 2:
        raise ValueError(
            "image_shape must be at least 2 pixels along each side for the bound "
            f"to exist, got {(height, width)}: along a side of one pixel, the "
            "spot's position cannot be told apart from its photons."
        )
    from . import _psf

    if psf is None:
        if psf_sigma is None:
            raise TypeError(
                "localization_crlb needs the PSF: psf_sigma (a Gaussian's width) "
                "or psf (a SampledPSF)."
            )
        psf_sigma = _check_per_spot(psf_sigma, "psf_sigma", _check_positive)
        model = psf_sigma
    elif not isinstance(psf, _psf.SampledPSF):
        raise TypeError(
            f"psf must be a SampledPSF or None, got {type(psf).__name__} {psf!r}."
        )
    elif psf_sigma is not None:
        raise ValueError(
            f"psf and psf_sigma={psf_sigma!r} were both given: give one of them, "
            "a SampledPSF replaces the Gaussian of width psf_sigma."
        )
    else:
        model = psf
    photons = _check_per_spot(photons, "photons", _check_positive)
    background = _check_per_spot(background, "background", _check_nonnegative)
    read_noise = _check_nonnegative(read_noise, "read_noise")
    _, _, em_gain = _check_camera(gain, offset, em_gain)
    per_spot = (
        (photons, background) if psf is not None else (psf_sigma, photons, background)
    )
    counts = {len(v) for v in per_spot if np.ndim(v)}
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
        _check_inside(positions, height, width)

    crlb = _psf.position_crlb(
        (height, width),
        positions,
        model,
        photons,
        background,
        read_noise / em_gain,
        excess=2.0 if em_gain > 1 else 1.0,
    )
    missing = np.flatnonzero(~np.isfinite(crlb).all(axis=1))
    if missing.size:
        i = missing[0]
        row, col = positions[i]
        values = ", ".join(
            f"{name}={float(np.broadcast_to(value, len(positions))[i]):g}"
            for name, value in (
                ("psf_sigma", psf_sigma),
                ("photons", photons),
                ("background", background),
                ("read_noise", read_noise),
            )
            if value is not None
        )
        if psf is not None:
            values = f"psf={psf!r}, {values}"
        which = "these parameters" if len(positions) == 1 else f"spot {i}"
        raise ValueError(
            f"There is no Cramer-Rao bound for {which} (position ({row:g}, "
            f"{col:g}), {values}, image_shape={(height, width)}): its images carry "
            "no information that tells the position apart from the photons and "
            "the background (the Fisher information is singular). This happens "
            "with a PSF much narrower than a pixel or much wider than the image, "
            "a read noise that drowns every pixel, or a spot on the centre line "
            "of an image 2 pixels wide."
        )
    return crlb[0] if single else crlb


def _check_inside(positions, height, width):
    """Refuse a ``(row, col)`` beyond the outer edges of the image's pixels."""
    outside = np.flatnonzero(
        (positions < -0.5).any(axis=1)
        | (positions[:, 0] > height - 0.5)
        | (positions[:, 1] > width - 0.5)
    )
    if outside.size:
        i = outside[0]
        which = "" if len(positions) == 1 else f" of spot {i}"
        raise ValueError(
            f"position ({positions[i, 0]:g}, {positions[i, 1]:g}){which} lies "
            f"outside the {height}x{width} image, whose pixels cover rows -0.5 to "
            f"{height - 0.5:g} and columns -0.5 to {width - 0.5:g}: the bound is "
            "of a spot inside the image."
        )
