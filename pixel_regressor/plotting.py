"""Display objects for bright-pixel regressors, in scikit-learn's Display style.

Five displays, each built with ``from_estimator`` or ``from_predictions``
(``from_history`` for the training curves) and drawn with ``plot``:

- :class:`TrainingHistoryDisplay`: the per-epoch training and validation
  curves stored in an estimator's ``history_``.
- :class:`CoordinatePredictionDisplay`: true and predicted ``(row, col)``
  positions on an image-like frame, and the distribution of pixel errors.
- :class:`SampleImageDisplay`: one image with its true and predicted bright
  pixel marked on it.
- :class:`LocalizationsDisplay`: one frame of a movie with its localisations
  circled (and its true spots).
- :class:`SuperResolutionDisplay`: a movie's localisations rendered as an
  oversampled 2-D histogram, the super-resolution image.

Coordinates follow the package's convention: a target ``(row, col)`` means
``image[row, col]`` is the bright pixel, ``row`` counting from the top and
``col`` from the left. Every display draws it at ``x = col``, ``y = row`` on a
y axis pointing down, as :func:`matplotlib.pyplot.imshow` shows an image.

As in scikit-learn, the work is split: the ``from_*`` class methods validate
the inputs, subsample them and compute every statistic (through
:mod:`pixel_regressor.metrics` where a metric exists); the constructor stores
what it is given; ``plot`` only draws what is stored, so calling it again
draws the same figure.

Matplotlib is imported only when something is drawn, so importing this module
costs nothing beyond NumPy.
"""

import numbers
from collections.abc import Mapping

import numpy as np

from ._random import check_random_state
from ._validation import check_image_shape

__all__ = [
    "CoordinatePredictionDisplay",
    "LocalizationsDisplay",
    "SampleImageDisplay",
    "SuperResolutionDisplay",
    "TrainingHistoryDisplay",
]

# A style keyword given by the user replaces every default keyword that sets
# the same property (matplotlib refuses "c" and "color" together, and "color"
# together with "facecolors" is ambiguous).
_COLOR = ("c", "color", "facecolor", "facecolors", "fc", "edgecolor", "edgecolors")
_STYLE_GROUPS = [
    _COLOR,
    ("facecolor", "facecolors", "fc"),
    ("edgecolor", "edgecolors", "ec"),
    ("linestyle", "linestyles", "ls"),
    ("linewidth", "linewidths", "lw"),
    ("markersize", "ms"),
    ("markeredgecolor", "mec"),
    ("markerfacecolor", "mfc"),
    ("markeredgewidth", "mew"),
]

# Metrics whose name reads best in capitals.
_ACRONYMS = {"mae", "mse", "rmse", "msle", "mape", "auc", "lr"}

# "auto" log scale: used when a metric's positive values span this ratio.
_LOG_SCALE_RATIO = 100.0
# Curves whose values all lie below this are drawn as zero.
_ZERO_LEVEL = 1e-12


def _merge_style(defaults, user):
    """Return ``defaults`` updated with ``user``, resolving matplotlib aliases."""
    merged = dict(defaults)
    for key in user or {}:
        replaced = {key}
        for group in _STYLE_GROUPS:
            if key in group and (group is not _COLOR or key in ("c", "color")):
                replaced.update(group)
        for name in replaced:
            merged.pop(name, None)
    merged.update(user or {})
    return merged


def _pyplot(caller):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError(
            f"{caller} requires matplotlib. You can install it with "
            "`pip install matplotlib`."
        ) from exc
    return plt


def _is_axes(ax):
    from matplotlib.axes import Axes

    return isinstance(ax, Axes)


def _check_coordinates(y, name):
    """Return ``y`` as a float array of shape (n_samples, 2)."""
    try:
        array = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be an array of (row, col) coordinates of shape "
            f"(n_samples, 2) holding numbers; got {type(y).__name__}."
        ) from exc
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n_samples, 2) with one (row, col) per "
            f"sample and at least one sample; got shape {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return array


def _check_point(y, name):
    """Return ``y`` as a float array of shape (2,), or None."""
    if y is None:
        return None
    try:
        array = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be one (row, col) coordinate; got {type(y).__name__}."
        ) from exc
    if array.size != 2 or array.ndim > 2 or (array.ndim == 2 and array.shape[0] != 1):
        raise ValueError(
            f"{name} must be one (row, col) coordinate, of shape (2,) or (1, 2); "
            f"got shape {array.shape}."
        )
    array = array.reshape(2)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return array


def _check_image(image):
    """Return ``image`` as an array of shape (height, width)."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(
            "image must be one grayscale image of shape (height, width) or "
            f"(height, width, 1); got shape {np.shape(image)}."
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"image must hold numbers; got dtype {array.dtype}.")
    return array


def _subsample_indices(n_samples, subsample, generator):
    """Sorted indices of the samples to draw, without replacement.

    ``generator`` is a NumPy generator, from :func:`check_random_state`.
    """
    if subsample is None:
        return np.arange(n_samples)
    if isinstance(subsample, bool):
        raise ValueError(f"subsample must be an int, a float or None; got {subsample}.")
    if isinstance(subsample, numbers.Integral):
        if subsample <= 0:
            raise ValueError(
                f"When an integer, subsample={subsample} should be positive."
            )
        size = int(subsample)
    elif isinstance(subsample, numbers.Real):
        if not 0 < subsample < 1:
            raise ValueError(
                f"When a float, subsample={subsample} should be in the (0, 1) range."
            )
        size = max(1, int(n_samples * subsample))
    else:
        raise ValueError(
            f"subsample must be an int, a float or None; got {subsample!r}."
        )
    if size >= n_samples:
        return np.arange(n_samples)
    return np.sort(generator.choice(n_samples, size=size, replace=False))


def _view_limits(points, image_shape):
    """Lowest and highest (row, col) to show: the image, and every point.

    Pixel ``(row, col)`` covers ``row - 0.5 .. row + 0.5`` (likewise for
    ``col``). Without an image shape the view fits the points; with one it is
    the whole image, widened only for points that fall outside it.
    """
    if image_shape is None:
        return points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    low = np.array([-0.5, -0.5])
    high = np.asarray(image_shape[:2], dtype=float) - 0.5
    if len(points):
        low = np.minimum(low, np.where(points < -0.5, points - 0.5, low).min(axis=0))
        high = np.maximum(high, np.where(points > high, points + 0.5, high).max(axis=0))
    return low, high


def _format_point(point):
    if np.all(point == np.round(point)):
        return f"({point[0]:.0f}, {point[1]:.0f})"
    return f"({point[0]:.2f}, {point[1]:.2f})"


def _check_crlb(crlb):
    """The root mean square of the bounds ``crlb``, or None."""
    if crlb is None:
        return None
    try:
        bounds = np.asarray(crlb, dtype=float)
    except (TypeError, ValueError):
        bounds = np.array(np.nan)
    if bounds.size == 0 or not np.all(np.isfinite(bounds)) or np.any(bounds <= 0):
        raise ValueError(
            "crlb must be the Cramer-Rao bound per axis in pixels: positive, "
            f"finite numbers; got {crlb!r}."
        )
    return float(np.sqrt(np.mean(bounds**2)))


def _nonnegative_edges(errors, bins):
    """Edges of ``bins`` (an int or a NumPy estimator's name) for ``errors``.

    As :func:`numpy.histogram_bin_edges` gives them, except for errors that
    are all equal (up to rounding): one bin of width 1 around them (``bins``
    of them, for an int), moved right so that it starts at 0 or later.
    """
    errors = np.asarray(errors, dtype=float)
    finite = errors[np.isfinite(errors)]
    if finite.size == 0:
        return np.histogram_bin_edges(finite, bins=bins)
    low, high = float(finite.min()), float(finite.max())
    if high - low <= 1e-9 * max(abs(high), 1.0):
        start = max(low - 0.5, 0.0)
        count = int(bins) if isinstance(bins, (int, np.integer)) else 1
        return np.linspace(start, start + 1.0, count + 1)
    return np.histogram_bin_edges(finite, bins=bins)


# ---------------------------------------------------------------------------
# Training history
# ---------------------------------------------------------------------------


def _history_dict(history):
    """Return the per-epoch lists of ``history`` as {name: 1-D float array}."""
    if not isinstance(history, Mapping) and isinstance(
        getattr(history, "history", None), Mapping
    ):
        history = history.history  # a keras.callbacks.History
    if not isinstance(history, Mapping):
        raise ValueError(
            "history must be a dict of per-epoch values, such as "
            "{'loss': [...], 'val_loss': [...]}, or a keras History object; "
            f"got {type(history).__name__}."
        )
    curves = {}
    for name, values in history.items():
        if not isinstance(name, str):
            raise ValueError(f"history keys must be metric names; got {name!r}.")
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"history[{name!r}] must be a list of per-epoch numbers."
            ) from exc
        if array.ndim != 1:
            raise ValueError(
                f"history[{name!r}] must be a list of per-epoch numbers; got an "
                f"array of shape {array.shape}."
            )
        if array.size:
            curves[name] = array
    if not curves:
        raise ValueError(
            "history is empty: there is no per-epoch value to plot. Fit the "
            "estimator for at least one epoch first."
        )
    return curves


def _group_metrics(curves):
    """Map each metric name to its (training key, validation key), in order."""
    groups = {}
    for key in curves:
        if key.startswith("val_") and key[4:]:
            base = key[4:]
            groups.setdefault(base, [None, None])[1] = key
        else:
            groups.setdefault(key, [None, None])[0] = key
    return {name: tuple(keys) for name, keys in groups.items()}


def _metric_label(name):
    if name.lower() in _ACRONYMS:
        return name.upper()
    return name.replace("_", " ")


def _at_zero(arrays):
    """True when every finite value is at rounding level (below 1e-12)."""
    values = np.concatenate(arrays)
    values = values[np.isfinite(values)]
    return values.size > 0 and bool(np.all(np.abs(values) < _ZERO_LEVEL))


def _use_log_scale(arrays):
    values = np.concatenate(arrays)
    values = values[np.isfinite(values)]
    if values.size == 0 or np.any(values <= 0):
        return False
    return values.max() / values.min() >= _LOG_SCALE_RATIO


class TrainingHistoryDisplay:
    """Training and validation curves of a Keras-backed estimator.

    One axes per metric (``loss``, ``mae``, ...), the training curve and its
    ``val_`` counterpart drawn together on it, against the epoch number
    (starting at 1).

    Create it with :meth:`from_estimator` or :meth:`from_history`, which
    check the history; the constructor stores what it is given, unchecked.

    Parameters
    ----------
    history : dict of str to array-like of float, or keras History
        Per-epoch values by metric name, as in ``estimator.history_`` or
        ``keras.callbacks.History.history``, e.g. ``{"loss": [...],
        "val_loss": [...]}``. :meth:`from_history` stores the checked history:
        a dict of 1-D float arrays, without the metrics that hold no epoch.

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
        The line drawn for each history key (``"loss"``, ``"val_loss"``, ...).

    axes_ : ndarray of matplotlib Axes of shape (n_metrics,)
        One axes per metric, in the order of the history.

    ax_ : matplotlib Axes
        The first axes, ``axes_[0]``.

    figure_ : matplotlib Figure
        The figure holding the axes.

    See Also
    --------
    TrainingHistoryDisplay.from_estimator : Plot the history of a fitted
        estimator.
    TrainingHistoryDisplay.from_history : Plot a history dict.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from pixel_regressor.plotting import TrainingHistoryDisplay
    >>> history = {"loss": [4.0, 1.0, 0.5], "val_loss": [5.0, 2.0, 0.8]}
    >>> disp = TrainingHistoryDisplay(history).plot()
    >>> disp.ax_.get_title()
    'Training vs validation loss'
    >>> plt.close("all")
    """

    def __init__(self, history):
        self.history = history

    def plot(self, ax=None, *, metrics=None, log_scale="auto", **kwargs):
        """Plot the training curves.

        Draws the stored ``history`` as it is, unchecked: check a history with
        :meth:`from_history`. Calling it again draws the same figure.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            Where to draw: one axes per plotted metric (a single Axes is enough
            for one metric). If None, a new figure with one axes per metric is
            created.

        metrics : str or list of str, default=None
            The metrics to plot, by name without the ``val_`` prefix (``"loss"``
            plots ``loss`` and ``val_loss``). None plots every metric in the
            history.

        log_scale : bool or "auto", default="auto"
            Whether the y axis is logarithmic. ``"auto"`` uses a log scale for
            a metric whose values are all positive and span at least two orders
            of magnitude (as a loss often does over the first epochs). A metric
            whose values are all below 1e-12 (an exact model, as the soft-argmax
            head is on single bright pixels) is drawn at zero on a linear axis,
            with a note, whatever ``log_scale`` says unless it is True.

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every line.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with the artists stored as attributes.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from pixel_regressor.plotting import TrainingHistoryDisplay
        >>> history = {"loss": [4.0, 1.0], "mae": [1.5, 0.7]}
        >>> fig, axes = plt.subplots(1, 2)
        >>> disp = TrainingHistoryDisplay(history).plot(ax=axes, marker="o")
        >>> sorted(disp.lines_)
        ['loss', 'mae']
        >>> disp.lines_["mae"].get_xdata().tolist()
        [1, 2]
        >>> plt.close("all")
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        curves = self.history
        if not isinstance(curves, Mapping):
            curves = curves.history  # a keras.callbacks.History
        groups = _group_metrics(curves)

        if metrics is None:
            names = list(groups)
        else:
            names = [metrics] if isinstance(metrics, str) else list(metrics)
            unknown = [name for name in names if name not in groups]
            if unknown or not names:
                raise ValueError(
                    f"Unknown metrics {unknown} (or none given); the history "
                    f"holds {sorted(groups)}."
                )
        if not (log_scale == "auto" or isinstance(log_scale, bool)):
            raise ValueError(
                f"log_scale must be True, False or 'auto'; got {log_scale!r}."
            )

        if ax is None:
            n = len(names)
            fig, axes = plt.subplots(
                1, n, figsize=(5 * n, 4), squeeze=False, layout="constrained"
            )
            axes = axes.ravel()
        else:
            axes = np.array([ax] if _is_axes(ax) else list(np.ravel(ax)), dtype=object)
            if len(axes) != len(names) or not all(_is_axes(a) for a in axes):
                raise ValueError(
                    f"ax must hold one matplotlib Axes per metric: {len(names)} "
                    f"for {names}; got {len(axes)}."
                )

        self.lines_ = {}
        for axis, name in zip(axes, names):
            train_key, val_key = groups[name]
            label = _metric_label(name)
            drawn = []
            for key, legend, style in (
                (train_key, "Training", {"linestyle": "-"}),
                (val_key, "Validation", {"linestyle": "--"}),
            ):
                if key is None:
                    continue
                values = np.asarray(curves[key], dtype=float)
                epochs = np.arange(1, values.size + 1)
                style = _merge_style({**style, "label": legend}, kwargs)
                (self.lines_[key],) = axis.plot(epochs, values, **style)
                drawn.append(values)
            if train_key is not None and val_key is not None:
                title = f"Training vs validation {label}"
            elif train_key is not None:
                title = f"Training {label}"
            else:
                title = f"Validation {label}"
            axis.set(title=title, xlabel="Epoch", ylabel=label[:1].upper() + label[1:])
            at_zero = _at_zero(drawn)
            if log_scale == "auto":
                use_log = not at_zero and _use_log_scale(drawn)
            else:
                use_log = log_scale
            if use_log:
                axis.set_yscale("log")
            elif at_zero:
                # A loss at rounding level (an exact model) on a linear axis
                # autoscaled to 1e-30 would read as large swings; show it at 0.
                axis.set_ylim(-0.05, 1.0)
                axis.text(
                    0.5,
                    0.5,
                    f"zero throughout (at most {max(np.max(v) for v in drawn):.1e})",
                    transform=axis.transAxes,
                    ha="center",
                    va="center",
                )
            axis.xaxis.get_major_locator().set_params(integer=True)
            axis.legend()

        self.axes_ = axes
        self.ax_ = axes[0]
        self.figure_ = self.ax_.figure
        return self

    @classmethod
    def from_history(
        cls, history, *, ax=None, metrics=None, log_scale="auto", **kwargs
    ):
        """Plot the training curves of a history dict.

        Parameters
        ----------
        history : dict of str to list of float, or keras History
            Per-epoch values by metric name, e.g. ``{"loss": [...],
            "val_loss": [...]}``, or a ``keras.callbacks.History`` (its
            ``history`` dict is used).

        ax : matplotlib Axes or array-like of Axes, default=None
            One axes per plotted metric. If None, a new figure is created.

        metrics : str or list of str, default=None
            The metrics to plot, without the ``val_`` prefix. None plots all.

        log_scale : bool or "auto", default="auto"
            Whether the y axis is logarithmic; ``"auto"`` decides per metric
            (values spanning at least two orders of magnitude).

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every line.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with the artists stored as attributes.

        Raises
        ------
        ValueError
            If the history is empty or not a dict of per-epoch lists.

        See Also
        --------
        TrainingHistoryDisplay.from_estimator : Plot the history of a fitted
            estimator.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from pixel_regressor.plotting import TrainingHistoryDisplay
        >>> history = {
        ...     "loss": [390.0, 38.0, 19.0, 0.33],
        ...     "mae": [15.9, 3.9, 2.9, 0.40],
        ...     "val_loss": [48.0, 22.0, 13.0, 0.30],
        ...     "val_mae": [4.6, 3.1, 2.5, 0.37],
        ... }
        >>> disp = TrainingHistoryDisplay.from_history(history)
        >>> [ax.get_title() for ax in disp.axes_]
        ['Training vs validation loss', 'Training vs validation MAE']
        >>> [ax.get_yscale() for ax in disp.axes_]
        ['log', 'linear']
        >>> plt.close("all")
        """
        display = cls(_history_dict(history))
        return display.plot(ax=ax, metrics=metrics, log_scale=log_scale, **kwargs)

    @classmethod
    def from_estimator(
        cls, estimator, *, ax=None, metrics=None, log_scale="auto", **kwargs
    ):
        """Plot the training curves stored in a fitted estimator's ``history_``.

        Parameters
        ----------
        estimator : estimator instance
            A fitted estimator with a ``history_`` attribute: a dict of
            per-epoch lists, as set by ``BrightPixelRegressor`` or scikeras'
            ``KerasRegressor``. For a pipeline, pass its last step
            (``pipeline[-1]``).

        ax : matplotlib Axes or array-like of Axes, default=None
            One axes per plotted metric. If None, a new figure is created.

        metrics : str or list of str, default=None
            The metrics to plot, without the ``val_`` prefix. None plots all.

        log_scale : bool or "auto", default="auto"
            Whether the y axis is logarithmic; ``"auto"`` decides per metric
            (values spanning at least two orders of magnitude).

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every line.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with the artists stored as attributes.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If the estimator has no ``history_`` or it is empty.

        See Also
        --------
        TrainingHistoryDisplay.from_history : Plot a history dict.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        history = getattr(estimator, "history_", None)
        if history is None:
            raise ValueError(
                f"{type(estimator).__name__} has no training history: "
                "TrainingHistoryDisplay.from_estimator needs a fitted estimator "
                "with a `history_` attribute (a dict of per-epoch values). Use "
                "TrainingHistoryDisplay.from_history to plot a history dict."
            )
        return cls.from_history(
            history, ax=ax, metrics=metrics, log_scale=log_scale, **kwargs
        )


# ---------------------------------------------------------------------------
# Coordinates: ground truth vs prediction
# ---------------------------------------------------------------------------

_KINDS = ("both", "positions", "errors")


class CoordinatePredictionDisplay:
    """True vs predicted bright-pixel coordinates, and the pixel errors.

    The positions panel shows every sample's true ``(row, col)`` and its
    prediction on an image-like frame (``x = col``, ``y = row``, the y axis
    pointing down, equal aspect), each pair joined by its error segment. The
    errors panel shows the histogram of Euclidean pixel errors, from 0 (a
    distance is never negative), with the mean error and, for targets on
    pixel centres, the exact-pixel accuracy (the share of samples whose
    rounded prediction rounds to the same pixel as the target, as
    :func:`~pixel_regressor.metrics.exact_pixel_accuracy` with
    ``round_y_true=True`` counts it). For sub-pixel targets, such as blurred
    spots, the share of exact pixels says little: the root-mean-square error
    per axis is written instead, and its ratio to the Cramer-Rao bound when
    the bound is given (see :func:`~pixel_regressor.metrics.localization_crlb`).

    Create it with :meth:`from_estimator` or :meth:`from_predictions`, which
    check the coordinates, pick the subsample and compute the errors and
    statistics. The constructor stores what it is given, unchecked, and
    :meth:`plot` draws it: the positions panel needs ``y_true`` and ``y_pred``
    only, the errors panel also needs ``errors``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, 2)
        True ``(row, col)`` coordinates.

    y_pred : array-like of shape (n_samples, 2)
        Predicted ``(row, col)`` coordinates.

    image_shape : tuple of int (height, width), default=None
        Size of the images, to draw the frame of the image. If None, the frame
        is fitted around the drawn points.

    errors : ndarray of shape (n_samples,), default=None
        Euclidean distance between each prediction and its target, drawn as
        the histogram. Stored as ``errors_``.

    mean_error : float, default=None
        The mean pixel error, drawn as a vertical line and written on the
        histogram (left out if None). Stored as ``mean_error_``.

    exact_accuracy : float, default=None
        The exact-pixel accuracy, written on the histogram unless ``rmse`` is
        given (left out if None). Stored as ``exact_accuracy_``.

    indices : ndarray of int, default=None
        Indices of the samples drawn on the positions panel; None draws them
        all. Stored as ``indices_``.

    rmse : float, default=None
        The root-mean-square error per axis, in pixels, written on the
        histogram in place of the exact-pixel accuracy (left out if None).
        Stored as ``rmse_``.

    crlb : float, default=None
        The Cramer-Rao bound per axis, in pixels, that ``rmse`` is compared
        with (left out if None or if ``rmse`` is None). Stored as ``crlb_``.

    Attributes
    ----------
    errors_ : ndarray of shape (n_samples,) or None
        Euclidean distance, in pixels, between each prediction and its target.

    mean_error_ : float or None
        The mean of ``errors_``, from
        :func:`~pixel_regressor.metrics.mean_pixel_error`.

    exact_accuracy_ : float or None
        Share of samples whose rounded prediction is on the target's pixel,
        from :func:`~pixel_regressor.metrics.exact_pixel_accuracy`.

    rmse_ : float or None
        Root-mean-square error per axis, in pixels: set by
        :meth:`from_predictions` for sub-pixel targets or when a bound is
        given, None otherwise.

    crlb_ : float or None
        Root mean square of the Cramer-Rao bounds per axis, in pixels, when
        given.

    indices_ : ndarray of int or None
        Indices of the samples drawn on the positions panel (all of them
        unless subsampled). The histogram and statistics use every sample.

    true_scatter_ : matplotlib PathCollection or None
        The ground-truth markers (None when ``kind="errors"``).

    pred_scatter_ : matplotlib PathCollection or None
        The predicted markers.

    error_lines_ : matplotlib LineCollection or None
        The segments joining each target to its prediction.

    error_hist_ : matplotlib BarContainer or None
        The bars of the error histogram (None when ``kind="positions"``).

    mean_line_ : matplotlib Line2D or None
        Vertical line at the mean error.

    stats_text_ : matplotlib Text or None
        Annotation with the mean error and the exact-pixel accuracy, or the
        RMSE (and its ratio to the bound).

    ax_ : matplotlib Axes
        The positions axes; the histogram axes when ``kind="errors"``.

    error_ax_ : matplotlib Axes or None
        The histogram axes (None when ``kind="positions"``).

    figure_ : matplotlib Figure
        The figure holding the axes.

    See Also
    --------
    CoordinatePredictionDisplay.from_estimator : Plot the predictions of an
        estimator on some data.
    CoordinatePredictionDisplay.from_predictions : Plot given predictions.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from pixel_regressor.plotting import CoordinatePredictionDisplay
    >>> y_true = [[1, 2], [3, 4]]
    >>> y_pred = [[1.1, 2.0], [3.0, 7.0]]
    >>> disp = CoordinatePredictionDisplay.from_predictions(y_true, y_pred)
    >>> disp.errors_
    array([0.1, 3. ])

    The display holds what it drew: plotting it again, here the positions
    only, draws the same points.

    >>> fig, ax = plt.subplots()
    >>> disp.plot(ax=ax, kind="positions").pred_scatter_.get_offsets().tolist()
    [[2.0, 1.1], [7.0, 3.0]]
    >>> plt.close("all")
    """

    def __init__(
        self,
        y_true,
        y_pred,
        *,
        image_shape=None,
        errors=None,
        mean_error=None,
        exact_accuracy=None,
        indices=None,
        rmse=None,
        crlb=None,
    ):
        self.y_true = y_true
        self.y_pred = y_pred
        self.image_shape = image_shape
        self.errors_ = errors
        self.mean_error_ = mean_error
        self.exact_accuracy_ = exact_accuracy
        self.indices_ = indices
        self.rmse_ = rmse
        self.crlb_ = crlb

    def plot(
        self,
        ax=None,
        *,
        kind="both",
        bins="auto",
        true_kwargs=None,
        pred_kwargs=None,
        segment_kwargs=None,
        hist_kwargs=None,
    ):
        """Plot the positions and the error distribution.

        Draws what the display holds, nothing else: no input is checked and
        nothing is computed or drawn at random, so calling it again draws the
        same figure. Pick the subsample with :meth:`from_predictions` or
        :meth:`from_estimator`.

        Parameters
        ----------
        ax : matplotlib Axes or pair of Axes, default=None
            Where to draw. With ``kind="both"``, a pair ``(positions_ax,
            errors_ax)``; otherwise a single Axes. If None, a new figure is
            created.

        kind : {"both", "positions", "errors"}, default="both"
            Draw both panels, only the positions or only the error histogram.

        bins : int, sequence or str, default="auto"
            Bins of the error histogram, as in :func:`numpy.histogram`.

        true_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the true
            positions.

        pred_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the predicted
            positions.

        segment_kwargs : dict, default=None
            Passed to :class:`matplotlib.collections.LineCollection` for the
            error segments.

        hist_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.hist`.

        Returns
        -------
        display : CoordinatePredictionDisplay
            The display, with the artists stored as attributes.

        Raises
        ------
        ValueError
            If ``kind`` or ``ax`` is not one of the accepted values, or the
            errors panel is asked for but the display holds no ``errors_``.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from pixel_regressor.plotting import CoordinatePredictionDisplay
        >>> disp = CoordinatePredictionDisplay([[0, 0], [4, 4]], [[0.2, 0], [4, 3]])
        >>> fig, ax = plt.subplots()
        >>> disp = disp.plot(ax=ax, kind="positions")
        >>> disp.ax_ is ax, disp.error_ax_ is None
        (True, True)
        >>> disp.ax_.get_xlabel(), disp.ax_.get_ylabel()
        ('Column', 'Row')
        >>> plt.close("all")
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}; got {kind!r}.")
        if kind != "positions" and self.errors_ is None:
            raise ValueError(
                f"kind={kind!r} draws the error histogram, but this display holds "
                "no errors_: create it with CoordinatePredictionDisplay."
                "from_predictions or from_estimator, which compute them, or pass "
                "errors to the constructor."
            )

        if ax is None:
            if kind == "both":
                fig, (pos_ax, err_ax) = plt.subplots(
                    1, 2, figsize=(11, 5), layout="constrained"
                )
            else:
                fig, single = plt.subplots(figsize=(5.5, 5), layout="constrained")
                pos_ax, err_ax = (single, None)
                if kind == "errors":
                    pos_ax, err_ax = None, single
        elif kind == "both":
            pair = [] if _is_axes(ax) else list(np.ravel(np.asarray(ax, dtype=object)))
            if len(pair) != 2 or not all(_is_axes(a) for a in pair):
                raise ValueError(
                    "kind='both' draws two panels: pass ax as a pair "
                    "(positions_ax, errors_ax), or choose kind='positions' or "
                    "kind='errors' to draw on a single Axes."
                )
            pos_ax, err_ax = pair
        else:
            if not _is_axes(ax):
                raise ValueError(
                    f"kind={kind!r} draws one panel: ax must be a single "
                    f"matplotlib Axes; got {type(ax).__name__}."
                )
            pos_ax, err_ax = (ax, None) if kind == "positions" else (None, ax)

        self.true_scatter_ = self.pred_scatter_ = self.error_lines_ = None
        self.error_hist_ = self.mean_line_ = self.stats_text_ = None
        if pos_ax is not None:
            y_true = np.asarray(self.y_true, dtype=float)
            y_pred = np.asarray(self.y_pred, dtype=float)
            if self.indices_ is not None:
                y_true, y_pred = y_true[self.indices_], y_pred[self.indices_]
            self._plot_positions(
                pos_ax,
                y_true,
                y_pred,
                self.image_shape,
                true_kwargs,
                pred_kwargs,
                segment_kwargs,
            )
        if err_ax is not None:
            self._plot_errors(err_ax, bins, hist_kwargs)

        self.ax_ = pos_ax if pos_ax is not None else err_ax
        self.error_ax_ = err_ax
        self.figure_ = self.ax_.figure
        return self

    def _plot_positions(
        self, ax, y_true, y_pred, image_shape, true_kwargs, pred_kwargs, segment_kwargs
    ):
        from matplotlib.collections import LineCollection

        segments = np.stack([y_true[:, ::-1], y_pred[:, ::-1]], axis=1)
        self.error_lines_ = LineCollection(
            segments,
            **_merge_style(
                {"colors": "0.5", "linewidths": 0.8, "alpha": 0.7, "zorder": 1},
                segment_kwargs,
            ),
        )
        ax.add_collection(self.error_lines_, autolim=False)
        self.true_scatter_ = ax.scatter(
            y_true[:, 1],
            y_true[:, 0],
            **_merge_style(
                {
                    "marker": "o",
                    "s": 30,
                    "facecolors": "none",
                    "edgecolors": "tab:blue",
                    "label": "Ground truth",
                    "clip_on": False,
                    "zorder": 2,
                },
                true_kwargs,
            ),
        )
        self.pred_scatter_ = ax.scatter(
            y_pred[:, 1],
            y_pred[:, 0],
            **_merge_style(
                {
                    "marker": "x",
                    "s": 24,
                    "color": "tab:red",
                    "label": "Predicted",
                    "clip_on": False,
                    "zorder": 3,
                },
                pred_kwargs,
            ),
        )

        low, high = _view_limits(np.concatenate([y_true, y_pred]), image_shape)
        ax.set_xlim(low[1], high[1])
        ax.set_ylim(high[0], low[0])  # rows grow downwards, as in an image
        ax.set_aspect("equal")
        ax.set(xlabel="Column", ylabel="Row", title="Ground truth vs predicted")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)

    def _plot_errors(self, ax, bins, hist_kwargs):
        style = _merge_style(
            {"bins": bins, "color": "tab:blue", "edgecolor": "white"}, hist_kwargs
        )
        from_zero = "range" not in style and np.ndim(style.get("bins", 0)) == 0
        if from_zero:
            # A distance is never negative: no bin left of 0, and the axis
            # starts there (equal errors would get a bin centred on them, all
            # zeros one from -0.5 to 0.5).
            style["bins"] = _nonnegative_edges(self.errors_, style["bins"])
        _, _, self.error_hist_ = ax.hist(self.errors_, **style)
        if from_zero:
            ax.set_xlim(left=0.0)
        stats = []
        if self.mean_error_ is not None:
            self.mean_line_ = ax.axvline(
                self.mean_error_, color="black", linestyle="--", linewidth=1
            )
            stats.append(f"mean error: {self.mean_error_:.3f} px")
        if self.rmse_ is not None:
            stats.append(f"RMSE per axis: {self.rmse_:.3f} px")
            if self.crlb_ is not None:
                stats.append(
                    f"{self.rmse_ / self.crlb_:.2f}x the Cramer-Rao bound "
                    f"({self.crlb_:.3f} px)"
                )
        elif self.exact_accuracy_ is not None:
            stats.append(
                f"exact pixel: {self.exact_accuracy_:.1%} of {len(self.errors_)}"
            )
        if stats:
            self.stats_text_ = ax.text(
                0.97,
                0.95,
                "\n".join(stats),
                transform=ax.transAxes,
                ha="right",
                va="top",
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9},
            )
        ax.set(
            xlabel="Euclidean error (pixels)",
            ylabel="Number of samples",
            title="Pixel error distribution",
        )

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_pred,
        *,
        image_shape=None,
        ax=None,
        kind="both",
        subsample=1_000,
        random_state=None,
        bins="auto",
        true_kwargs=None,
        pred_kwargs=None,
        segment_kwargs=None,
        hist_kwargs=None,
        crlb=None,
    ):
        """Plot true vs predicted coordinates and their pixel errors.

        Parameters
        ----------
        y_true : array-like of shape (n_samples, 2)
            True ``(row, col)`` coordinates.

        y_pred : array-like of shape (n_samples, 2)
            Predicted ``(row, col)`` coordinates.

        image_shape : tuple of int (height, width), default=None
            Size of the images, to draw the image frame. If None, the frame is
            fitted around the points.

        ax : matplotlib Axes or pair of Axes, default=None
            A pair ``(positions_ax, errors_ax)`` for ``kind="both"``, a single
            Axes otherwise. If None, a new figure is created.

        kind : {"both", "positions", "errors"}, default="both"
            Draw both panels, only the positions or only the error histogram.

        subsample : int, float or None, default=1_000
            How many samples (int) or which share of them (float in (0, 1)) to
            draw on the positions panel; None draws all. The histogram and the
            statistics use every sample.

        random_state : int, numpy.random.Generator, RandomState or None, \
                default=None
            Picks the subsample, once: the display keeps it in ``indices_``.
            An int gives the same subsample on every call (it seeds a
            :class:`numpy.random.RandomState`); a generator is drawn from;
            None draws a fresh subsample.

        bins : int, sequence or str, default="auto"
            Bins of the error histogram, as in :func:`numpy.histogram`.

        true_kwargs, pred_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the true and
            the predicted positions.

        segment_kwargs : dict, default=None
            Passed to :class:`matplotlib.collections.LineCollection` for the
            error segments.

        hist_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.hist`.

        crlb : float or array-like of float, default=None
            The Cramer-Rao bound per axis, in pixels: one number, or one per
            sample or per sample and axis, as
            :func:`~pixel_regressor.metrics.localization_crlb` returns them
            (their root mean square is used). The RMSE per axis is then
            written with its ratio to the bound. Sub-pixel targets get the
            RMSE without a bound; targets on pixel centres without a bound get
            the exact-pixel accuracy.

        Returns
        -------
        display : CoordinatePredictionDisplay
            The display, with the artists stored as attributes.

        Raises
        ------
        ValueError
            If ``y_true`` or ``y_pred`` is not of shape (n_samples, 2), or
            their lengths differ, or ``crlb`` is not positive and finite.

        See Also
        --------
        CoordinatePredictionDisplay.from_estimator : Plot the predictions of
            an estimator on some data.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from pixel_regressor.plotting import CoordinatePredictionDisplay
        >>> y_true = [[10, 20], [30, 40], [5, 5], [49, 0]]
        >>> y_pred = [[10.2, 19.9], [33.0, 44.0], [5.4, 4.6], [49.0, 0.0]]
        >>> disp = CoordinatePredictionDisplay.from_predictions(
        ...     y_true, y_pred, image_shape=(50, 50)
        ... )
        >>> disp.errors_.round(3)
        array([0.224, 5.   , 0.566, 0.   ])
        >>> disp.exact_accuracy_
        0.75
        >>> bool(disp.ax_.yaxis_inverted())  # rows grow downwards
        True

        Sub-pixel targets (blurred spots) get the RMSE per axis, here against
        a bound of 0.05 px:

        >>> disp = CoordinatePredictionDisplay.from_predictions(
        ...     [[10.3, 20.6], [30.1, 4.2]], [[10.4, 20.5], [30.0, 4.3]], crlb=0.05
        ... )
        >>> print(disp.stats_text_.get_text())
        mean error: 0.141 px
        RMSE per axis: 0.100 px
        2.00x the Cramer-Rao bound (0.050 px)
        >>> plt.close("all")
        """
        from . import metrics

        _pyplot(f"{cls.__name__}.from_predictions")
        generator = check_random_state(random_state)
        y_true = _check_coordinates(y_true, "y_true")
        y_pred = _check_coordinates(y_pred, "y_pred")
        if y_true.shape[0] != y_pred.shape[0]:
            raise ValueError(
                "y_true and y_pred must have the same number of samples; got "
                f"{y_true.shape[0]} and {y_pred.shape[0]}."
            )
        image_shape = check_image_shape(image_shape, allow_none=True)
        crlb = _check_crlb(crlb)
        indices = _subsample_indices(y_true.shape[0], subsample, generator)
        sub_pixel = not np.array_equal(y_true, np.round(y_true))
        rmse = None
        if sub_pixel or crlb is not None:
            rmse = float(np.sqrt(np.mean((y_pred - y_true) ** 2)))

        display = cls(
            y_true,
            y_pred,
            image_shape=image_shape,
            errors=np.hypot(*(y_pred - y_true).T),
            mean_error=metrics.mean_pixel_error(y_true, y_pred),
            exact_accuracy=metrics.exact_pixel_accuracy(
                y_true, y_pred, round_y_true=True
            ),
            indices=indices,
            rmse=rmse,
            crlb=crlb,
        )
        return display.plot(
            ax=ax,
            kind=kind,
            bins=bins,
            true_kwargs=true_kwargs,
            pred_kwargs=pred_kwargs,
            segment_kwargs=segment_kwargs,
            hist_kwargs=hist_kwargs,
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        image_shape=None,
        ax=None,
        kind="both",
        subsample=1_000,
        random_state=None,
        bins="auto",
        true_kwargs=None,
        pred_kwargs=None,
        segment_kwargs=None,
        hist_kwargs=None,
        crlb=None,
    ):
        """Plot a fitted estimator's predictions on ``X`` against ``y``.

        Parameters
        ----------
        estimator : estimator instance
            A fitted regressor whose ``predict`` returns ``(row, col)``
            coordinates of shape (n_samples, 2).

        X : array-like
            Images, as the estimator takes them: (n_samples, height, width),
            (n_samples, height, width, 1) or flattened (n_samples, height *
            width).

        y : array-like of shape (n_samples, 2)
            True ``(row, col)`` coordinates.

        image_shape : tuple of int (height, width), default=None
            Size of the images, to draw the image frame. If None, it is read
            from ``X`` when ``X`` holds images (3 or 4 dimensions); for
            flattened ``X`` the frame is fitted around the points.

        ax : matplotlib Axes or pair of Axes, default=None
            A pair ``(positions_ax, errors_ax)`` for ``kind="both"``, a single
            Axes otherwise. If None, a new figure is created.

        kind : {"both", "positions", "errors"}, default="both"
            Draw both panels, only the positions or only the error histogram.

        subsample : int, float or None, default=1_000
            How many samples (int) or which share of them (float in (0, 1)) to
            draw on the positions panel; None draws all. All of ``X`` is
            predicted, and the histogram uses every sample.

        random_state : int, numpy.random.Generator, RandomState or None, \
                default=None
            Picks the subsample, once: the display keeps it in ``indices_``.
            An int gives the same subsample on every call (it seeds a
            :class:`numpy.random.RandomState`); a generator is drawn from;
            None draws a fresh subsample.

        bins : int, sequence or str, default="auto"
            Bins of the error histogram, as in :func:`numpy.histogram`.

        true_kwargs, pred_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the true and
            the predicted positions.

        segment_kwargs : dict, default=None
            Passed to :class:`matplotlib.collections.LineCollection`.

        hist_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.hist`.

        crlb : float or array-like of float, default=None
            The Cramer-Rao bound per axis, in pixels, to compare the RMSE per
            axis with, as in :meth:`from_predictions`.

        Returns
        -------
        display : CoordinatePredictionDisplay
            The display, with the artists stored as attributes.

        See Also
        --------
        CoordinatePredictionDisplay.from_predictions : Plot given predictions.
        """
        _pyplot(f"{cls.__name__}.from_estimator")
        if image_shape is None and np.ndim(X) in (3, 4):
            image_shape = tuple(np.shape(X)[1:3])
        y_pred = estimator.predict(X)
        return cls.from_predictions(
            y,
            y_pred,
            image_shape=image_shape,
            ax=ax,
            kind=kind,
            subsample=subsample,
            random_state=random_state,
            bins=bins,
            true_kwargs=true_kwargs,
            pred_kwargs=pred_kwargs,
            segment_kwargs=segment_kwargs,
            hist_kwargs=hist_kwargs,
            crlb=crlb,
        )


# ---------------------------------------------------------------------------
# One image
# ---------------------------------------------------------------------------


class SampleImageDisplay:
    """One image, with its true and predicted bright pixel marked.

    The image is drawn as :func:`matplotlib.pyplot.imshow` draws it (gray
    colour map, origin at the top left), so that the pixel ``image[row, col]``
    is centred on ``x = col``, ``y = row``; the ground truth is marked with a
    circle and the prediction with a cross at those coordinates.

    Create it with :meth:`from_estimator` or :meth:`from_predictions`, which
    check the image and the coordinates and compute the error; the
    constructor stores what it is given, unchecked, and :meth:`plot` draws it.

    Parameters
    ----------
    image : array-like of shape (height, width) or (height, width, 1)
        A grayscale image.

    y_true : array-like of shape (2,), default=None
        The true ``(row, col)`` of the bright pixel, if known.

    y_pred : array-like of shape (2,) or (1, 2), default=None
        The predicted ``(row, col)``, if any.

    error : float, default=None
        The distance, in pixels, between ``y_pred`` and ``y_true``, written
        in the title (left out if None). Stored as ``error_``.

    Attributes
    ----------
    error_ : float or None
        The pixel error of the prediction, from
        :func:`~pixel_regressor.metrics.mean_pixel_error` (None unless both
        coordinates are given).

    image_ : matplotlib AxesImage
        The drawn image.

    true_marker_ : matplotlib PathCollection or None
        The ground-truth marker (None without ``y_true``).

    pred_marker_ : matplotlib PathCollection or None
        The predicted marker (None without ``y_pred``).

    ax_ : matplotlib Axes
        The axes holding the image.

    figure_ : matplotlib Figure
        The figure holding the axes.

    See Also
    --------
    SampleImageDisplay.from_estimator : Predict and plot one image.
    SampleImageDisplay.from_predictions : Plot one image and given
        coordinates.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from pixel_regressor.plotting import SampleImageDisplay
    >>> image = np.zeros((5, 7))
    >>> image[1, 5] = 1.0
    >>> disp = SampleImageDisplay(image, y_true=(1, 5)).plot()
    >>> disp.true_marker_.get_offsets().tolist()  # x = col, y = row
    [[5.0, 1.0]]
    >>> plt.close("all")
    """

    def __init__(self, image, y_true=None, y_pred=None, *, error=None):
        self.image = image
        self.y_true = y_true
        self.y_pred = y_pred
        self.error_ = error

    def plot(self, ax=None, *, true_kwargs=None, pred_kwargs=None, **kwargs):
        """Plot the image and its markers.

        Draws what the display holds, unchecked: check the image and the
        coordinates with :meth:`from_predictions`. Calling it again draws the
        same figure.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        true_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the ground-truth
            marker.

        pred_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the predicted
            marker.

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow` (``cmap="gray"`` and
            ``interpolation="nearest"`` by default).

        Returns
        -------
        display : SampleImageDisplay
            The display, with the artists stored as attributes.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from pixel_regressor.plotting import SampleImageDisplay
        >>> image = np.eye(4)
        >>> fig, ax = plt.subplots()
        >>> disp = SampleImageDisplay(image, y_pred=(2.1, 1.9)).plot(ax=ax)
        >>> disp.ax_ is ax
        True
        >>> plt.close("all")
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        image = np.asarray(self.image)
        if image.ndim == 3:
            image = image[..., 0]
        y_true, y_pred = (
            None if point is None else np.asarray(point, dtype=float).reshape(2)
            for point in (self.y_true, self.y_pred)
        )
        if "origin" in kwargs and kwargs["origin"] != "upper":
            raise ValueError(
                "origin must be 'upper': rows are counted from the top, so that "
                "the markers sit on the pixel image[row, col]."
            )
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 5), layout="constrained")
        elif not _is_axes(ax):
            raise ValueError(f"ax must be a matplotlib Axes; got {type(ax).__name__}.")

        self.image_ = ax.imshow(
            image,
            **{"cmap": "gray", "interpolation": "nearest", "origin": "upper", **kwargs},
        )
        self.true_marker_ = self.pred_marker_ = None
        parts = []
        if y_true is not None:
            self.true_marker_ = ax.scatter(
                [y_true[1]],
                [y_true[0]],
                **_merge_style(
                    {
                        "marker": "o",
                        "s": 160,
                        "facecolors": "none",
                        "edgecolors": "tab:green",
                        "linewidths": 2,
                        "label": "Ground truth",
                        "clip_on": False,
                    },
                    true_kwargs,
                ),
            )
            parts.append(f"ground truth {_format_point(y_true)}")
        if y_pred is not None:
            self.pred_marker_ = ax.scatter(
                [y_pred[1]],
                [y_pred[0]],
                **_merge_style(
                    {
                        "marker": "x",
                        "s": 90,
                        "color": "tab:red",
                        "linewidths": 2,
                        "label": "Predicted",
                        "clip_on": False,
                    },
                    pred_kwargs,
                ),
            )
            parts.append(f"predicted {_format_point(y_pred)}")
        if parts:
            title = ", ".join(parts)
            if self.error_ is not None:
                title += f"\nerror {self.error_:.2f} px"
            ax.legend(loc="best", framealpha=0.9)
        else:
            title = "Sample image"
        ax.set(title=title[:1].upper() + title[1:], xlabel="Column", ylabel="Row")
        points = [point for point in (y_true, y_pred) if point is not None]
        low, high = _view_limits(np.reshape(points, (-1, 2)), image.shape)
        ax.set_xlim(low[1], high[1])
        ax.set_ylim(high[0], low[0])

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_predictions(
        cls,
        image,
        y_true=None,
        y_pred=None,
        *,
        ax=None,
        true_kwargs=None,
        pred_kwargs=None,
        **kwargs,
    ):
        """Plot one image with given true and predicted coordinates.

        Parameters
        ----------
        image : array-like of shape (height, width) or (height, width, 1)
            A grayscale image.

        y_true : array-like of shape (2,), default=None
            The true ``(row, col)`` of the bright pixel.

        y_pred : array-like of shape (2,) or (1, 2), default=None
            The predicted ``(row, col)``, e.g. ``estimator.predict(...)`` for
            this one image.

        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        true_kwargs, pred_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the ground-truth
            and the predicted marker.

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : SampleImageDisplay
            The display, with the artists stored as attributes.

        Raises
        ------
        ValueError
            If the image is not 2-D or a coordinate is not one ``(row, col)``.

        See Also
        --------
        SampleImageDisplay.from_estimator : Predict and plot one image.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from pixel_regressor.plotting import SampleImageDisplay
        >>> image = np.zeros((50, 50))
        >>> image[43, 48] = 1.0
        >>> disp = SampleImageDisplay.from_predictions(
        ...     image, y_true=[43, 48], y_pred=[43.55, 49.35]
        ... )
        >>> print(disp.ax_.get_title())
        Ground truth (43, 48), predicted (43.55, 49.35)
        error 1.46 px
        >>> disp.pred_marker_.get_offsets().tolist()
        [[49.35, 43.55]]
        >>> plt.close("all")
        """
        image = _check_image(image)
        y_true = _check_point(y_true, "y_true")
        y_pred = _check_point(y_pred, "y_pred")
        error = None
        if y_true is not None and y_pred is not None:
            from . import metrics

            error = metrics.mean_pixel_error(y_true[np.newaxis], y_pred[np.newaxis])
        display = cls(image, y_true=y_true, y_pred=y_pred, error=error)
        return display.plot(
            ax=ax, true_kwargs=true_kwargs, pred_kwargs=pred_kwargs, **kwargs
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        image,
        *,
        y_true=None,
        flatten=False,
        ax=None,
        true_kwargs=None,
        pred_kwargs=None,
        **kwargs,
    ):
        """Predict the bright pixel of one image and plot it.

        Parameters
        ----------
        estimator : estimator instance
            A fitted regressor whose ``predict`` returns ``(row, col)``
            coordinates of shape (n_samples, 2).

        image : array-like of shape (height, width) or (height, width, 1)
            A grayscale image; ``estimator.predict(image[None])`` is called.

        y_true : array-like of shape (2,), default=None
            The true ``(row, col)`` of the bright pixel, if known.

        flatten : bool, default=False
            Pass the image to ``predict`` as one flattened row of shape
            (1, height * width), for estimators that take 2-D input only.

        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        true_kwargs, pred_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the ground-truth
            and the predicted marker.

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : SampleImageDisplay
            The display, with the artists stored as attributes.

        Raises
        ------
        ValueError
            If the image is not 2-D, or ``predict`` does not return one
            ``(row, col)``.

        See Also
        --------
        SampleImageDisplay.from_predictions : Plot one image and given
            coordinates.
        """
        _pyplot(f"{cls.__name__}.from_estimator")
        _check_image(image)
        image = np.asarray(image)
        X = image.reshape(1, -1) if flatten else image[np.newaxis]
        y_pred = np.asarray(estimator.predict(X))
        if y_pred.size != 2:
            raise ValueError(
                f"{type(estimator).__name__}.predict returned shape "
                f"{y_pred.shape} for one image; expected one (row, col), of "
                "shape (1, 2)."
            )
        return cls.from_predictions(
            image,
            y_true=y_true,
            y_pred=y_pred.reshape(2),
            ax=ax,
            true_kwargs=true_kwargs,
            pred_kwargs=pred_kwargs,
            **kwargs,
        )


# ---------------------------------------------------------------------------
# Movies: one frame's localisations, and a super-resolution image
# ---------------------------------------------------------------------------


def _check_table_positions(table, name, *, required=True):
    """``(frame, positions, close_pair)`` of a table of localisations."""
    if table is None and not required:
        return None
    columns = getattr(table, "columns", ())
    missing = [c for c in ("frame", "row", "col") if c not in columns]
    if not hasattr(table, "columns") or missing:
        raise TypeError(
            f"{name} must be a pandas DataFrame with the columns 'frame', 'row' "
            f"and 'col', as SpotLocator.locate returns; got {type(table).__name__}"
            + (f" without {missing}." if hasattr(table, "columns") else ".")
        )
    try:
        frame = np.asarray(table["frame"], dtype=float)
        positions = np.column_stack(
            [
                np.asarray(table["row"], dtype=float),
                np.asarray(table["col"], dtype=float),
            ]
        ).reshape(-1, 2)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}'s frame, row and col must hold numbers.") from exc
    if not (np.isfinite(frame).all() and np.isfinite(positions).all()):
        raise ValueError(f"{name}'s frame, row and col contain NaN or infinity.")
    if len(frame) and (np.any(frame != np.round(frame)) or frame.min() < 0):
        raise ValueError(f"{name}'s frame column must hold frame indices, ints >= 0.")
    close = (
        np.asarray(table["close_pair"], dtype=bool)
        if "close_pair" in columns
        else np.zeros(len(frame), dtype=bool)
    )
    return frame.astype(np.int64), positions, close


def _check_frame_index(frame, n_frames):
    if isinstance(frame, bool) or not isinstance(frame, numbers.Integral):
        raise TypeError(f"frame must be an int; got {type(frame).__name__} {frame!r}.")
    if not -n_frames <= frame < n_frames:
        raise ValueError(f"frame {frame} is out of range for {n_frames} frame(s).")
    return int(frame) % n_frames


class LocalizationsDisplay:
    """One frame of a movie with its localisations circled, and the truth.

    The frame is drawn as :func:`matplotlib.pyplot.imshow` draws it (gray
    colour map, origin at the top left), pixel ``frame[row, col]`` centred on
    ``x = col``, ``y = row``; each localisation is a circle of ``radius``
    pixels around its ``(row, col)`` (orange where its ``close_pair`` flag
    is set), each true spot a cross.

    Create it with :meth:`from_estimator` (a fitted
    :class:`~pixel_regressor.SpotLocator` locates the frame) or
    :meth:`from_predictions` (a table of localisations), which check their
    inputs and pick the frame's rows; the constructor stores what it is
    given, unchecked, and :meth:`plot` draws it.

    Parameters
    ----------
    image : ndarray of shape (height, width)
        The frame.

    positions : ndarray of shape (n_localizations, 2)
        The ``(row, col)`` of the frame's localisations.

    close_pair : ndarray of shape (n_localizations,) of bool, default=None
        Which localisations are flagged as two spots too close to separate
        (None: none).

    truth : ndarray of shape (n_spots, 2), default=None
        The ``(row, col)`` of the frame's true spots, if known.

    frame : int, default=0
        The frame's index in its movie, for the title.

    radius : float, default=3.0
        Radius of the circles, in pixels.

    Attributes
    ----------
    image_ : matplotlib AxesImage
        The drawn frame.

    circles_ : matplotlib EllipseCollection
        The circles of the localisations (offsets ``(col, row)``).

    truth_marker_ : matplotlib PathCollection or None
        The crosses of the true spots (None without ``truth``).

    ax_ : matplotlib Axes
        The axes holding the frame.

    figure_ : matplotlib Figure
        The figure holding the axes.

    See Also
    --------
    SuperResolutionDisplay : A movie's localisations as one image.
    pixel_regressor.SpotLocator : Finds and localises the spots.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> import pandas as pd
    >>> from pixel_regressor.plotting import LocalizationsDisplay
    >>> frames = np.zeros((2, 16, 16))
    >>> table = pd.DataFrame({"frame": [0, 1, 1], "row": [3.0, 5.5, 9.0],
    ...                       "col": [4.0, 12.25, 2.0]})
    >>> disp = LocalizationsDisplay.from_predictions(frames, table, frame=1)
    >>> disp.circles_.get_offsets().tolist()  # x = col, y = row
    [[12.25, 5.5], [2.0, 9.0]]
    >>> plt.close("all")
    """

    def __init__(
        self, image, positions, close_pair=None, truth=None, *, frame=0, radius=3.0
    ):
        self.image = image
        self.positions = positions
        self.close_pair = close_pair
        self.truth = truth
        self.frame = frame
        self.radius = radius

    def plot(self, ax=None, *, circle_kwargs=None, truth_kwargs=None, **kwargs):
        """Draw the frame, its circles and the truth.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        circle_kwargs : dict, default=None
            Passed to :class:`matplotlib.collections.EllipseCollection` for
            the circles.

        truth_kwargs : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.scatter` for the truth.

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow` (``cmap="gray"``
            and ``interpolation="nearest"`` by default).

        Returns
        -------
        display : LocalizationsDisplay
            The display, with the artists stored as attributes.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        from matplotlib.collections import EllipseCollection
        from matplotlib.lines import Line2D

        if "origin" in kwargs and kwargs["origin"] != "upper":
            raise ValueError(
                "origin must be 'upper': rows are counted from the top, so that "
                "the circles sit on the pixel image[row, col]."
            )
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 6), layout="constrained")
        elif not _is_axes(ax):
            raise ValueError(f"ax must be a matplotlib Axes; got {type(ax).__name__}.")
        image = np.asarray(self.image)
        positions = np.asarray(self.positions, dtype=float).reshape(-1, 2)
        close = (
            np.zeros(len(positions), dtype=bool)
            if self.close_pair is None
            else np.asarray(self.close_pair, dtype=bool)
        )
        self.image_ = ax.imshow(
            image,
            **{"cmap": "gray", "interpolation": "nearest", "origin": "upper", **kwargs},
        )
        diameter = np.full(len(positions), 2.0 * self.radius)
        style = _merge_style(
            {
                "facecolors": "none",
                "edgecolors": np.where(close, "tab:orange", "tab:red").tolist(),
                "linewidths": 1.5,
            },
            circle_kwargs,
        )
        self.circles_ = EllipseCollection(
            diameter,
            diameter,
            np.zeros(len(positions)),
            units="xy",
            offsets=positions[:, ::-1],
            offset_transform=ax.transData,
            **style,
        )
        ax.add_collection(self.circles_)
        handles = [
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                mfc="none",
                mec="tab:red",
                ms=10,
                label=f"Localisations ({len(positions)})",
            )
        ]
        if close.any():
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="none",
                    marker="o",
                    mfc="none",
                    mec="tab:orange",
                    ms=10,
                    label=f"Close pairs ({int(close.sum())})",
                )
            )
        self.truth_marker_ = None
        if self.truth is not None:
            truth = np.asarray(self.truth, dtype=float).reshape(-1, 2)
            self.truth_marker_ = ax.scatter(
                truth[:, 1],
                truth[:, 0],
                **_merge_style(
                    {
                        "marker": "+",
                        "s": 60,
                        "color": "tab:green",
                        "linewidths": 1.5,
                        "label": f"Ground truth ({len(truth)})",
                    },
                    truth_kwargs,
                ),
            )
            handles.append(self.truth_marker_)
        ax.legend(handles=handles, loc="upper right", framealpha=0.9)
        ax.set(
            title=f"Frame {self.frame}: {len(positions)} localisation(s)",
            xlabel="Column",
            ylabel="Row",
        )
        height, width = image.shape[:2]
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_predictions(
        cls,
        frames,
        localizations,
        truth=None,
        *,
        frame=0,
        radius=3.0,
        ax=None,
        circle_kwargs=None,
        truth_kwargs=None,
        **kwargs,
    ):
        """Draw one frame with its rows of a table of localisations.

        Parameters
        ----------
        frames : array-like of shape (n_frames, height, width) or \
                (height, width)
            The movie (only frame ``frame`` is read: a memory map or a lazy
            reader with slicing will do), or the frame itself.

        localizations : pandas.DataFrame
            The table of localisations (``frame``, ``row``, ``col``, and
            ``close_pair`` if any), as :meth:`SpotLocator.locate
            <pixel_regressor.SpotLocator.locate>` returns it; the rows of
            frame ``frame`` are drawn.

        truth : pandas.DataFrame, default=None
            The true spots (``frame``, ``row``, ``col``), as
            :func:`~pixel_regressor.make_spot_frames` returns them.

        frame : int, default=0
            The frame to draw.

        radius : float, default=3.0
            Radius of the circles, in pixels.

        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        circle_kwargs, truth_kwargs : dict, default=None
            Styles of the circles and of the truth's crosses.

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : LocalizationsDisplay
            The display, with the artists stored as attributes.

        Raises
        ------
        ValueError
            If ``frame`` is out of range, or the frames or a table are not
            what they should be.
        TypeError
            If a table is not a DataFrame with ``frame``, ``row`` and ``col``.
        """
        shape = tuple(getattr(frames, "shape", np.shape(frames)))
        if len(shape) == 2:
            # One frame: ``frame`` is its number in the tables.
            if isinstance(frame, bool) or not isinstance(frame, numbers.Integral):
                raise TypeError(
                    f"frame must be an int; got {type(frame).__name__} {frame!r}."
                )
            if frame < 0:
                raise ValueError(f"frame must be an int >= 0; got {frame}.")
            index = int(frame)
            image = np.asarray(frames)
        elif len(shape) == 3:
            index = _check_frame_index(frame, shape[0])
            image = np.asarray(frames[index])
        else:
            raise ValueError(
                "frames must have shape (n_frames, height, width) or be one "
                f"frame of shape (height, width); got shape {shape}."
            )
        image = _check_image(image)
        if (
            isinstance(radius, bool)
            or not isinstance(radius, numbers.Real)
            or not np.isfinite(radius)
            or radius <= 0
        ):
            raise ValueError(f"radius must be a number > 0; got {radius!r}.")
        number, positions, close = _check_table_positions(
            localizations, "localizations"
        )
        mine = number == index
        truth_positions = None
        if truth is not None:
            truth_number, truth_all, _ = _check_table_positions(truth, "truth")
            truth_positions = truth_all[truth_number == index]
        display = cls(
            image,
            positions[mine],
            close[mine],
            truth_positions,
            frame=index,
            radius=float(radius),
        )
        return display.plot(
            ax=ax, circle_kwargs=circle_kwargs, truth_kwargs=truth_kwargs, **kwargs
        )

    @classmethod
    def from_estimator(
        cls,
        locator,
        frames,
        truth=None,
        *,
        frame=0,
        radius=3.0,
        ax=None,
        circle_kwargs=None,
        truth_kwargs=None,
        **kwargs,
    ):
        """Locate the spots of one frame with a fitted locator, and draw them.

        Parameters
        ----------
        locator : SpotLocator
            A fitted :class:`~pixel_regressor.SpotLocator` (or any object
            whose ``locate(frames)`` returns a table of localisations).

        frames : array-like of shape (n_frames, height, width) or \
                (height, width)
            The movie, or one frame; only frame ``frame`` is located.

        truth : pandas.DataFrame, default=None
            The true spots of the movie (``frame``, ``row``, ``col``).

        frame : int, default=0
            The frame to locate and draw.

        radius, ax, circle_kwargs, truth_kwargs, **kwargs
            As for :meth:`from_predictions`.

        Returns
        -------
        display : LocalizationsDisplay
            The display, with the artists stored as attributes.
        """
        shape = tuple(getattr(frames, "shape", np.shape(frames)))
        if len(shape) == 3:
            index = _check_frame_index(frame, shape[0])
            image = np.asarray(frames[index])
        else:
            index = 0
            image = np.asarray(frames)
        image = _check_image(image)
        table = locator.locate(image[np.newaxis]).copy()
        table["frame"] = index
        return cls.from_predictions(
            image,
            table,
            truth,
            frame=index,
            radius=radius,
            ax=ax,
            circle_kwargs=circle_kwargs,
            truth_kwargs=truth_kwargs,
            **kwargs,
        )


class SuperResolutionDisplay:
    """A movie's localisations as one image: a 2-D histogram, oversampled.

    The image of single-molecule localisation microscopy: each camera pixel
    is cut into ``oversampling`` x ``oversampling`` bins, and each bin
    counts the localisations whose ``(row, col)`` fall in it. The axes are
    in camera pixels (pixel ``(r, c)`` covers ``r - 0.5 .. r + 0.5``), so
    that the image lies over the frames as they are drawn elsewhere.

    Create it with :meth:`from_estimator` (a fitted
    :class:`~pixel_regressor.SpotLocator` locates the movie) or
    :meth:`from_predictions` (a table of localisations), which compute the
    histogram; the constructor stores it and :meth:`plot` draws it.

    Parameters
    ----------
    histogram : ndarray of shape (height * oversampling, width * oversampling)
        The number of localisations in each bin.

    oversampling : int
        Bins per camera pixel, along each axis.

    n_localizations : int, default=None
        The localisations counted, for the title (those outside the frames
        are left out of the histogram).

    vmax : float, default=None
        The count drawn brightest (None: the histogram's largest). The
        ``from_*`` methods set it at the 99.5th percentile of the non-empty
        bins, so that a few stacked localisations do not leave the rest
        dark.

    Attributes
    ----------
    image_ : matplotlib AxesImage
        The drawn histogram.

    colorbar_ : matplotlib Colorbar or None
        Its colour bar (None with ``colorbar=False``).

    ax_ : matplotlib Axes
        The axes holding the image.

    figure_ : matplotlib Figure
        The figure holding the axes.

    See Also
    --------
    LocalizationsDisplay : One frame with its localisations.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from pixel_regressor.plotting import SuperResolutionDisplay
    >>> table = pd.DataFrame({"frame": [0, 1, 2], "row": [1.0, 1.05, 3.4],
    ...                       "col": [2.0, 2.02, 0.1]})
    >>> disp = SuperResolutionDisplay.from_predictions(
    ...     table, image_shape=(4, 4), oversampling=4
    ... )
    >>> disp.histogram.shape, int(disp.histogram.sum())
    ((16, 16), 3)
    >>> int(disp.histogram[6, 10])  # two localisations in pixel (1, 2)'s centre bin
    2
    >>> plt.close("all")
    """

    def __init__(self, histogram, oversampling, *, n_localizations=None, vmax=None):
        self.histogram = histogram
        self.oversampling = oversampling
        self.n_localizations = n_localizations
        self.vmax = vmax

    def plot(self, ax=None, *, colorbar=True, **kwargs):
        """Draw the histogram.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        colorbar : bool, default=True
            Draw a colour bar of the counts.

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow` (``cmap="hot"``,
            ``interpolation="nearest"`` and ``vmax`` by default).

        Returns
        -------
        display : SuperResolutionDisplay
            The display, with the artists stored as attributes.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        if "origin" in kwargs and kwargs["origin"] != "upper":
            raise ValueError("origin must be 'upper': rows are counted from the top.")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 6), layout="constrained")
        elif not _is_axes(ax):
            raise ValueError(f"ax must be a matplotlib Axes; got {type(ax).__name__}.")
        histogram = np.asarray(self.histogram)
        step = 1.0 / self.oversampling
        height, width = histogram.shape[0] * step, histogram.shape[1] * step
        defaults = {
            "cmap": "hot",
            "interpolation": "nearest",
            "origin": "upper",
            "extent": (-0.5, width - 0.5, height - 0.5, -0.5),
            "vmin": 0,
        }
        if self.vmax is not None:
            defaults["vmax"] = self.vmax
        self.image_ = ax.imshow(histogram, **{**defaults, **kwargs})
        self.colorbar_ = (
            ax.figure.colorbar(self.image_, ax=ax, shrink=0.8, label="Localisations")
            if colorbar
            else None
        )
        count = (
            int(histogram.sum())
            if self.n_localizations is None
            else self.n_localizations
        )
        ax.set(
            title=f"{count} localisation(s), {self.oversampling}x oversampled",
            xlabel="Column (camera pixels)",
            ylabel="Row (camera pixels)",
        )
        ax.set_facecolor("black")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_predictions(
        cls,
        localizations,
        *,
        image_shape=None,
        oversampling=8,
        ax=None,
        colorbar=True,
        **kwargs,
    ):
        """Render a table of localisations.

        Parameters
        ----------
        localizations : pandas.DataFrame
            The table (``row`` and ``col`` at least, ``frame`` too), as
            :meth:`SpotLocator.locate <pixel_regressor.SpotLocator.locate>`
            returns it.

        image_shape : tuple of (int, int), default=None
            ``(height, width)`` of the frames. None: just large enough for
            every localisation.

        oversampling : int, default=8
            Bins per camera pixel along each axis (the rendered image has
            ``height * oversampling`` rows).

        ax : matplotlib Axes, default=None
            Axes to draw on. If None, a new figure and axes are created.

        colorbar : bool, default=True
            Draw a colour bar of the counts.

        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : SuperResolutionDisplay
            The display, with the artists stored as attributes.

        Raises
        ------
        ValueError
            If ``oversampling`` or ``image_shape`` is not positive ints, or
            the rendered image would have more than 2**28 bins.
        TypeError
            If the table is not a DataFrame with ``frame``, ``row``, ``col``.
        """
        if (
            isinstance(oversampling, bool)
            or not isinstance(oversampling, numbers.Integral)
            or oversampling < 1
        ):
            raise ValueError(f"oversampling must be an int >= 1; got {oversampling!r}.")
        oversampling = int(oversampling)
        _, positions, _ = _check_table_positions(localizations, "localizations")
        if image_shape is None:
            if len(positions):
                high = np.ceil(positions.max(axis=0) + 0.5).astype(int)
                height, width = (max(1, int(v)) for v in high)
            else:
                height = width = 1
        else:
            height, width = check_image_shape(image_shape, name="image_shape")[:2]
        bins = (height * oversampling, width * oversampling)
        if bins[0] * bins[1] > 1 << 28:
            raise ValueError(
                f"image_shape {(height, width)} at oversampling {oversampling} "
                f"renders {bins[0]}x{bins[1]} bins, more than 2**28: lower the "
                "oversampling."
            )
        # Bin (i, j) covers rows -0.5 + i / oversampling onwards.
        index = np.floor((positions + 0.5) * oversampling).astype(np.int64)
        inside = (
            (index[:, 0] >= 0)
            & (index[:, 0] < bins[0])
            & (index[:, 1] >= 0)
            & (index[:, 1] < bins[1])
        )
        flat = index[inside, 0] * bins[1] + index[inside, 1]
        histogram = np.bincount(flat, minlength=bins[0] * bins[1])
        histogram = histogram.astype(np.uint32).reshape(bins)
        filled = histogram[histogram > 0]
        vmax = max(1.0, float(np.percentile(filled, 99.5))) if filled.size else 1.0
        display = cls(
            histogram, oversampling, n_localizations=int(len(positions)), vmax=vmax
        )
        return display.plot(ax=ax, colorbar=colorbar, **kwargs)

    @classmethod
    def from_estimator(
        cls, locator, frames, *, oversampling=8, ax=None, colorbar=True, **kwargs
    ):
        """Locate every spot of a movie with a fitted locator, and render them.

        Parameters
        ----------
        locator : SpotLocator
            A fitted :class:`~pixel_regressor.SpotLocator`.

        frames : array-like of shape (n_frames, height, width)
            The movie.

        oversampling, ax, colorbar, **kwargs
            As for :meth:`from_predictions`.

        Returns
        -------
        display : SuperResolutionDisplay
            The display, with the artists stored as attributes.
        """
        shape = tuple(getattr(frames, "shape", np.shape(frames)))
        if len(shape) not in (2, 3):
            raise ValueError(
                f"frames must have shape (n_frames, height, width); got {shape}."
            )
        return cls.from_predictions(
            locator.locate(frames),
            image_shape=shape[-2:],
            oversampling=oversampling,
            ax=ax,
            colorbar=colorbar,
            **kwargs,
        )
