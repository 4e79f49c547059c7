"""Every spot of every frame: detection, crops and the spot head, as a table.

:class:`SpotLocator` runs :mod:`pixel_regressor.detection` over a movie a
batch of frames at a time, cuts a square crop around each detection, and
localises the spot at the centre of each crop with a
:class:`~pixel_regressor.BrightPixelRegressor` spot head, all the crops of a
batch in one ``predict`` call. The result is one pandas DataFrame, one row
per localisation, in frame coordinates.

:func:`truth_per_frame` turns a truth table (a DataFrame with ``frame``,
``row`` and ``col``) into one entry per frame, so that scikit-learn's model
selection splits frames and their truth alike.
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import detection as _detection
from .models import get_head

try:
    from .exceptions import OutsideTrainingWarning as _OUTSIDE_TRAINING
except ImportError:  # pragma: no cover - older versions warn nothing
    _OUTSIDE_TRAINING = None

__all__ = ["LOCATION_COLUMNS", "SpotLocator", "load_locator", "truth_per_frame"]

#: The columns of :meth:`SpotLocator.locate`'s table, in order.
LOCATION_COLUMNS = (
    "frame",
    "row",
    "col",
    "row_std",
    "col_std",
    "score",
    "photons",
    "background",
    "close_pair",
)

_DTYPES = dict.fromkeys(LOCATION_COLUMNS, np.float64)
_DTYPES["frame"] = np.int64
_DTYPES["close_pair"] = bool

# A detection whose matched-filter blob is wider, along its widest axis, than
# one spot by this share of its expected variance is two spots merged.
_MERGED_EXCESS = 0.6
# Training spots this close (in PSF widths) to another make an ambiguous
# target: the crop is left out of training.
_AMBIGUOUS_SIGMAS = 2.0
# Frames of the simulated training movie, and its density per 32x32 px.
_TRAINING_SHAPE = (64, 64)
_TRAINING_DENSITY = 6.0


def _empty_table():
    import pandas as pd

    return pd.DataFrame(
        {name: np.empty(0, dtype=_DTYPES[name]) for name in LOCATION_COLUMNS}
    )


def _as_table(columns):
    import pandas as pd

    return pd.DataFrame(
        {
            name: np.asarray(columns[name]).astype(_DTYPES[name])
            for name in LOCATION_COLUMNS
        }
    )


def truth_per_frame(truth, n_frames):
    """One ``(k, 2)`` array of ``(row, col)`` per frame, from a truth table.

    scikit-learn's model selection (:class:`~sklearn.model_selection.
    GridSearchCV`, :func:`~sklearn.model_selection.cross_val_score`) splits
    ``X`` and ``y`` by their first axis: with frames as ``X``, ``y`` must
    hold one entry per frame. This gives that entry, the positions of the
    frame's spots, so that a split's frames keep their own spots whatever
    their new numbers.

    Parameters
    ----------
    truth : pandas.DataFrame
        One row per spot, with the columns ``frame`` (an int in ``[0,
        n_frames)``), ``row`` and ``col``, as
        :func:`~pixel_regressor.make_spot_frames` returns it.

    n_frames : int
        Number of frames.

    Returns
    -------
    y : ndarray of shape (n_frames,) of object
        Entry ``i`` is a float64 array of shape ``(k_i, 2)``: the ``(row,
        col)`` of frame ``i``'s spots (``(0, 2)`` for a frame without one).

    Examples
    --------
    >>> import pandas as pd
    >>> from pixel_regressor.locator import truth_per_frame
    >>> truth = pd.DataFrame({"frame": [0, 0, 2], "row": [1.0, 2.0, 3.0],
    ...                       "col": [4.0, 5.0, 6.0]})
    >>> y = truth_per_frame(truth, 3)
    >>> [entry.shape for entry in y]
    [(2, 2), (0, 2), (1, 2)]
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, Integral) or n_frames < 0:
        raise ValueError(f"n_frames must be an int >= 0, got {n_frames!r}.")
    frame, positions = _truth_columns(truth, "truth")
    if len(frame) and (frame.min() < 0 or frame.max() >= n_frames):
        raise ValueError(
            f"truth's frame column must hold frame indices in [0, {n_frames}), got "
            f"values from {frame.min()} to {frame.max()}."
        )
    order = np.argsort(frame, kind="stable")
    bounds = np.searchsorted(frame[order], np.arange(n_frames + 1))
    y = np.empty(n_frames, dtype=object)
    for i in range(n_frames):
        y[i] = positions[order[bounds[i] : bounds[i + 1]]]
    return y


def _truth_columns(truth, name):
    """``(frame, positions)`` of a truth DataFrame, checked."""
    missing = [
        c for c in ("frame", "row", "col") if c not in getattr(truth, "columns", ())
    ]
    if not hasattr(truth, "columns") or missing:
        raise TypeError(
            f"{name} must be a pandas DataFrame with the columns 'frame', 'row' "
            f"and 'col', got {type(truth).__name__}"
            + (f" without {missing}." if hasattr(truth, "columns") else ".")
        )
    frame = np.asarray(truth["frame"])
    if len(frame) and frame.dtype.kind not in "iu":
        if frame.dtype.kind != "f" or not np.all(frame == np.round(frame)):
            raise ValueError(f"{name}'s frame column must hold integers.")
        frame = frame.astype(np.int64)
    positions = np.column_stack(
        [
            np.asarray(truth["row"], dtype=np.float64),
            np.asarray(truth["col"], dtype=np.float64),
        ]
    ).reshape(-1, 2)
    if not np.isfinite(positions).all():
        raise ValueError(f"{name}'s row and col must be finite.")
    return frame.astype(np.int64), positions


def _truth_table(truth, n_frames, name="truth"):
    """A truth DataFrame (frame, row, col) from a table or per-frame entries."""
    import pandas as pd

    if hasattr(truth, "columns"):
        frame, positions = _truth_columns(truth, name)
        if len(frame) and (frame.min() < 0 or frame.max() >= n_frames):
            raise ValueError(
                f"{name}'s frame column must hold indices into the {n_frames} "
                f"frames, got values from {frame.min()} to {frame.max()}."
            )
    else:
        if isinstance(truth, (str, bytes)) or not hasattr(truth, "__len__"):
            raise TypeError(
                f"{name} must be a DataFrame with frame, row and col, or one "
                f"(k, 2) array of positions per frame, got {type(truth).__name__}."
            )
        if len(truth) != n_frames:
            raise ValueError(
                f"{name} holds {len(truth)} entries, one per frame expected for "
                f"{n_frames} frames (see truth_per_frame)."
            )
        arrays = []
        for i, entry in enumerate(truth):
            entry = np.asarray(entry, dtype=np.float64)
            if entry.size == 0:
                entry = entry.reshape(0, 2)
            if entry.ndim != 2 or entry.shape[1] != 2:
                raise ValueError(
                    f"{name}'s entry {i} must be a (k, 2) array of (row, col), "
                    f"got shape {entry.shape}."
                )
            arrays.append(entry)
        counts = [len(a) for a in arrays]
        frame = np.repeat(np.arange(n_frames), counts)
        positions = np.concatenate(arrays) if arrays else np.empty((0, 2))
    return pd.DataFrame(
        {"frame": frame, "row": positions[:, 0], "col": positions[:, 1]}
    )


def _log_hessian_widths(filtered, frame, row, col):
    """Variance of each detection's matched-filter blob: ``(n, 2, 2)``.

    From the second differences of the log of the filtered frame around the
    peak pixel: for a Gaussian blob of covariance ``C`` they are ``-inv(C)``
    exactly. NaN where the 3x3 square is not all positive.
    """
    _, height, width = filtered.shape
    values = np.empty((len(frame), 3, 3))
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            r = np.clip(row + dr, 0, height - 1)
            c = np.clip(col + dc, 0, width - 1)
            values[:, dr + 1, dc + 1] = filtered[frame, r, c]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
    hessian = np.empty((len(frame), 2, 2))
    hessian[:, 0, 0] = logs[:, 2, 1] + logs[:, 0, 1] - 2 * logs[:, 1, 1]
    hessian[:, 1, 1] = logs[:, 1, 2] + logs[:, 1, 0] - 2 * logs[:, 1, 1]
    hessian[:, 0, 1] = hessian[:, 1, 0] = (
        logs[:, 2, 2] - logs[:, 2, 0] - logs[:, 0, 2] + logs[:, 0, 0]
    ) / 4
    determinant = hessian[:, 0, 0] * hessian[:, 1, 1] - hessian[:, 0, 1] ** 2
    covariance = np.full_like(hessian, np.nan)
    # A maximum: negative definite.
    good = (determinant > 0) & (hessian[:, 0, 0] < 0)
    covariance[good, 0, 0] = -hessian[good, 1, 1] / determinant[good]
    covariance[good, 1, 1] = -hessian[good, 0, 0] / determinant[good]
    covariance[good, 0, 1] = covariance[good, 1, 0] = (
        hessian[good, 0, 1] / determinant[good]
    )
    return covariance


def _expected_blob_variance(psf_sigma):
    """Variance per axis of one spot's blob in the matched-filtered frame."""
    return 2.0 * psf_sigma**2 + 1.0 / 12.0


def _estimate_psf_sigma(frames, n_frames, batch_frames, false_alarm_rate):
    """The PSF width from the blobs of the brightest isolated detections.

    Returns ``(sigma, (low, high))``: the median width, and the 10th and
    90th percentiles of the detections' widths (None when too few blobs are
    measured), which the training crops cover.
    """
    sigma = 1.3
    spread = None
    stop = min(n_frames, max(batch_frames, 1))
    batch = _detection.read_batch(frames, 0, stop)
    for _ in range(3):
        threshold = _detection.false_alarm_threshold(false_alarm_rate, sigma)
        found = _detection.detect_batch(
            batch, sigma, threshold, _background_size(sigma)
        )
        frame, row, col = found["frame"], found["row"], found["col"]
        _, height, width = batch.shape
        margin = int(math.ceil(3 * sigma))
        keep = (
            (found["score"] > 2 * threshold)
            & (row >= margin)
            & (row < height - margin)
            & (col >= margin)
            & (col < width - margin)
        )
        keep &= _nearest_other(frame, row, col) > 6 * sigma
        if keep.sum() < 3:
            break
        covariance = _log_hessian_widths(
            found["filtered"], frame[keep], row[keep], col[keep]
        )
        variance = np.sqrt(
            np.clip(
                covariance[:, 0, 0] * covariance[:, 1, 1] - covariance[:, 0, 1] ** 2,
                0,
                None,
            )
        )
        variance = variance[np.isfinite(variance)]
        if not len(variance):
            break
        # The blob is the spot (sigma**2 + 1/12) smoothed by the filter
        # (sigma_f**2): solve for the spot's width.
        widths = np.sqrt(np.clip(variance - sigma**2 - 1.0 / 12.0, 0.25, 100.0))
        spread = None
        if len(widths) >= 10:
            spread = tuple(float(v) for v in np.percentile(widths, [10, 90]))
        spot = float(np.median(variance)) - sigma**2 - 1.0 / 12.0
        new = math.sqrt(min(max(spot, 0.25), 100.0))
        if abs(new - sigma) < 0.01:
            sigma = new
            break
        sigma = new
    return sigma, spread


def _training_widths(sigma, spread):
    """The PSF widths of the training crops: ``array([low, high])``.

    At least 0.85-1.15 times the median width, widened to the measured
    widths' 10th-90th percentiles (a movie's spots differ in width: focus,
    depth, colour), at most 0.6-1.6 times the median.
    """
    low, high = 0.85 * sigma, 1.15 * sigma
    if spread is not None:
        low = max(min(low, spread[0]), 0.6 * sigma)
        high = min(max(high, spread[1]), 1.6 * sigma)
    return np.array([low, high])


def _nearest_other(frame, row, col):
    """Distance from each detection to the nearest other one in its frame."""
    from scipy.spatial import cKDTree

    distance = np.full(len(frame), np.inf)
    if len(frame) < 2:
        return distance
    # Frames kept far apart, so that one tree serves the whole batch.
    far = 1e6
    points = np.column_stack([frame * far + row, col]).astype(np.float64)
    found, _ = cKDTree(points).query(points, k=2)
    distance[:] = found[:, 1]
    distance[distance > far / 2] = np.inf
    return distance


def _background_size(psf_sigma):
    return max(16, int(math.ceil(8 * psf_sigma)))


class SpotLocator(BaseEstimator):
    """Find and localise every spot of every frame: a table of localisations.

    The movie pipeline of single-molecule localisation microscopy and
    particle tracking, on :class:`BrightPixelRegressor`'s spot heads:

    1. **Detection** (:func:`pixel_regressor.detection.detect_spots`): a
       Gaussian matched filter of the PSF's width on each frame less its
       background, and its local maxima above a threshold set by the frame's
       own noise and ``false_alarm_rate``, so one setting works on any
       camera.
    2. **Crops**: the ``box_size`` square centred on each detection's peak
       pixel. Where it overhangs the frame's edge it is padded with the local
       background, so spots at the edge are localised, not dropped; the
       pixels nearer another detection than the centre are set to the
       background too, so that a brighter neighbour does not capture the
       crop of a fainter spot.
    3. **Localisation**: the spot head predicts each crop's spot with its
       calibrated standard deviation (``return_std=True``), all the crops of
       ``batch_frames`` frames in one call; the crop's offset is added back.

    Two spots closer than the filter separates give one blob wider than a
    spot; such a detection, or one with another detection within three PSF
    widths, is flagged ``close_pair``, and a merged blob's deviations are
    widened by its excess width (about half the two spots' distance).

    Parameters
    ----------
    estimator : BrightPixelRegressor or None, default=None
        The spot model. A fitted ``head="spot"`` or ``head="spot_fit"``
        :class:`BrightPixelRegressor` is used as it is (wrap it in
        :class:`sklearn.frozen.FrozenEstimator` for model selection, which
        clones estimators and would drop its fit); an unfitted one is cloned
        and trained by ``fit`` on simulated crops; None trains
        ``BrightPixelRegressor(head="spot")``.

    psf_sigma : "auto" or float, default="auto"
        Width (standard deviation, pixels) of the PSF, for the matched filter
        and the training crops. ``"auto"`` measures it in ``fit`` on the
        brightest isolated detections of the first ``batch_frames`` frames
        (from the curvature of their filtered blobs).

    false_alarm_rate : float, default=1e-6
        Expected false detections per pixel in pure Gaussian noise (1e-6 is
        4.8 noise units at a width of 1.3 px, 0.26 per 512x512 frame). Low
        photon backgrounds and EMCCD noise have heavier tails than Gaussian
        noise and give a few times more.

    box_size : int, default=11
        Side of the crops, odd, at least 5.

    photons : tuple of (float, float), default=(100.0, 10000.0)
        Range of the spots' photons in the training crops (when ``fit``
        trains the model).

    background : tuple of (float, float), default=(1.0, 100.0)
        Range of the background per pixel in the training crops.

    training_size : int, default=20000
        Number of simulated spots to train on (when ``fit`` trains).

    batch_frames : int, default=64
        Frames read, filtered and localised at once: memory is bounded by a
        batch, not by the movie.

    radius : float, default=2.0
        Tolerance, in pixels, within which :meth:`score` matches a
        localisation to a true spot.

    pixel_size : float, default=100.0
        Pixel size in nanometres, for :meth:`score`'s efficiency.

    random_state : int, RandomState instance or None, default=None
        Seeds the simulated training movie and the model's training.

    Attributes
    ----------
    estimator_ : BrightPixelRegressor
        The fitted spot model.

    psf_sigma_ : float
        The PSF width used, measured when ``psf_sigma="auto"``.

    psf_sigma_range_ : ndarray of shape (2,)
        The PSF widths of the training crops: 0.85-1.15 times
        ``psf_sigma_``, widened to the 10th-90th percentiles of the widths
        measured (``psf_sigma="auto"``), at most 0.6-1.6 times it.

    threshold_ : float
        The detection threshold, in noise units, of ``false_alarm_rate``.

    box_size_ : int
        Side of the crops.

    See Also
    --------
    pixel_regressor.detection.detect_spots : The detection step alone.
    BrightPixelRegressor : One spot per image.
    make_spot_frames : Simulated movies with their truth.

    Notes
    -----
    The table (:meth:`locate`) has the columns

    - ``frame`` (int): the frame's index in the frames given;
    - ``row``, ``col`` (float): the spot's centre in frame pixels (pixel
      ``(r, c)`` covers ``[r - 0.5, r + 0.5] x [c - 0.5, c + 0.5]``, as for
      :func:`make_spot_frames`);
    - ``row_std``, ``col_std`` (float): the model's calibrated standard
      deviations, in pixels;
    - ``score`` (float): the detection's matched-filter peak in units of its
      frame's noise;
    - ``photons`` (float): the spot's signal above the background, from the
      matched filter's peak, in the frames' units (photons for photon
      counts);
    - ``background`` (float): the local background per pixel, in the
      frames' units;
    - ``close_pair`` (bool): two spots too close to separate, merged into
      this one or within three PSF widths of it.

    Sorted by frame, then by the detection's row and column. A movie without
    a detection gives an empty DataFrame with these columns.

    The training crops are cut, by the same detection and the same padding,
    from simulated frames of 64x64 pixels at 6 spots per 32x32 px (spots
    anywhere, edges and overlaps included): as the locator meets them, the
    spot within a pixel of the centre, neighbours around it, some brighter.
    The model's deviations are calibrated on them.

    Examples
    --------
    >>> from sklearn.frozen import FrozenEstimator
    >>> from pixel_regressor import BrightPixelRegressor, SpotLocator
    >>> from pixel_regressor import make_spot_frames
    >>> frames, truth = make_spot_frames(
    ...     30, shape=(48, 48), density=3, photons=(500, 3000), random_state=0
    ... )
    >>> locator = SpotLocator(
    ...     BrightPixelRegressor(head="spot", filters=(4,), epochs=2),
    ...     psf_sigma=1.3, training_size=500, random_state=0,
    ... ).fit(frames)
    >>> table = locator.locate(frames[:2])
    >>> list(table.columns)
    ['frame', 'row', 'col', 'row_std', 'col_std', 'score', 'photons', \
'background', 'close_pair']
    """

    _parameter_constraints = {
        "estimator": [object, None],
        "psf_sigma": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "false_alarm_rate": [Interval(Real, 0, None, closed="neither")],
        "box_size": [Interval(Integral, 5, None, closed="left")],
        "photons": [tuple, list],
        "background": [tuple, list],
        "training_size": [Interval(Integral, 1, None, closed="left")],
        "batch_frames": [Interval(Integral, 1, None, closed="left")],
        "radius": [Interval(Real, 0, None, closed="neither")],
        "pixel_size": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        psf_sigma="auto",
        false_alarm_rate=1e-6,
        box_size=11,
        photons=(100.0, 10000.0),
        background=(1.0, 100.0),
        training_size=20000,
        batch_frames=64,
        radius=2.0,
        pixel_size=100.0,
        random_state=None,
    ):
        self.estimator = estimator
        self.psf_sigma = psf_sigma
        self.false_alarm_rate = false_alarm_rate
        self.box_size = box_size
        self.photons = photons
        self.background = background
        self.training_size = training_size
        self.batch_frames = batch_frames
        self.radius = radius
        self.pixel_size = pixel_size
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------
    def _check_ranges(self):
        for name in ("photons", "background"):
            value = getattr(self, name)
            if len(value) != 2 or not all(
                isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
                for v in value
            ):
                raise ValueError(
                    f"{name} must be a (low, high) pair of numbers, got {value!r}."
                )
            low, high = value
            if not 0 < low <= high:
                raise ValueError(f"{name} must satisfy 0 < low <= high, got {value!r}.")
        if self.box_size % 2 == 0:
            raise ValueError(f"box_size must be odd, got {self.box_size!r}.")

    def _spot_model(self):
        """``(model, needs_training)`` from the ``estimator`` parameter."""
        from .estimator import BrightPixelRegressor

        estimator = self.estimator
        if estimator is None:
            return BrightPixelRegressor(head="spot"), True
        inner = estimator
        # FrozenEstimator keeps a fitted model through clone().
        if type(estimator).__name__ == "FrozenEstimator":
            inner = estimator.estimator
        if not isinstance(inner, BrightPixelRegressor):
            raise TypeError(
                "estimator must be a BrightPixelRegressor with head='spot' or "
                f"'spot_fit' (or None), got {type(inner).__name__}."
            )
        try:
            check_is_fitted(inner)
            fitted = True
        except NotFittedError:
            fitted = False
        head = inner._fitted_head() if fitted else get_head(inner.head)
        if head.scene != "spots":
            raise ValueError(
                "estimator must have head='spot' or head='spot_fit' (a table of "
                f"positions with deviations), got head={head.name!r}."
            )
        if fitted:
            return inner, False
        return clone(inner), True

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, frames, truth=None):
        """Measure the PSF if asked, and train the spot model if needed.

        Parameters
        ----------
        frames : array-like of shape (n_frames, height, width)
            Frames of the movie to locate, or of one like it: a NumPy array,
            a memory map, or any object with ``len()`` and slicing that
            yields frames. Read for ``psf_sigma="auto"`` only (its first
            ``batch_frames`` frames).

        truth : object, default=None
            Not used; accepted so that model selection can pass the truth
            (see :meth:`score`).

        Returns
        -------
        self : SpotLocator
            The fitted locator.
        """
        self._check_ranges()
        n_frames = _detection.check_frames(frames)[0]
        model, train = self._spot_model()
        if self.psf_sigma == "auto":
            if n_frames == 0:
                raise ValueError("psf_sigma='auto' needs at least one frame.")
            self.psf_sigma_, spread = _estimate_psf_sigma(
                frames, n_frames, self.batch_frames, self.false_alarm_rate
            )
        else:
            self.psf_sigma_, spread = float(self.psf_sigma), None
        self.psf_sigma_range_ = _training_widths(self.psf_sigma_, spread)
        self.threshold_ = _detection.false_alarm_threshold(
            self.false_alarm_rate, self.psf_sigma_
        )
        self.box_size_ = int(self.box_size)
        if train:
            crops, targets = self._training_crops()
            if isinstance(self.random_state, Integral) and model.random_state is None:
                model.set_params(random_state=int(self.random_state))
            model.fit(crops, targets)
        self.estimator_ = model
        return self

    def _training_crops(self):
        """Crops cut as :meth:`locate` cuts them, from a simulated movie."""
        from sklearn.utils import check_random_state

        from .datasets import make_spot_frames

        generator = check_random_state(self.random_state)
        sigma = self.psf_sigma_
        height, width = _TRAINING_SHAPE
        per_frame = _TRAINING_DENSITY * height * width / 1024
        crops, targets = [], []
        count = 0
        while count < self.training_size:
            n_frames = max(
                1, int(math.ceil((self.training_size - count) / (0.8 * per_frame)))
            )
            frames, truth = make_spot_frames(
                n_frames,
                shape=_TRAINING_SHAPE,
                density=_TRAINING_DENSITY,
                photons=tuple(float(v) for v in self.photons),
                background=tuple(float(v) for v in self.background),
                psf_sigma=tuple(float(v) for v in self.psf_sigma_range_),
                random_state=generator,
            )
            found = self._detect(frames)
            if not len(found["frame"]):
                continue
            chosen, target = _match_centres(found, truth, sigma)
            batch_crops = self._crops(frames, found)[chosen]
            crops.append(batch_crops)
            targets.append(target + self.box_size_ // 2)
            count += len(target)
        crops = np.concatenate(crops)[: self.training_size]
        targets = np.concatenate(targets)[: self.training_size]
        return crops, targets

    # ------------------------------------------------------------------
    def _detect(self, batch):
        return _detection.detect_batch(
            batch, self.psf_sigma_, self.threshold_, _background_size(self.psf_sigma_)
        )

    def _crops(self, batch, found):
        """The ``(n, box, box)`` crops of the detections of one batch."""
        half = self.box_size_ // 2
        frame, row, col = found["frame"], found["row"], found["col"]
        padded = np.pad(
            batch, ((0, 0), (half, half), (half, half)), constant_values=np.nan
        )
        offsets = np.arange(self.box_size_)
        crops = padded[
            frame[:, None, None],
            (row[:, None] + offsets)[:, :, None],
            (col[:, None] + offsets)[:, None, :],
        ]
        level = found["background"].astype(np.float32)[:, None, None]
        # Pixels nearer another detection than this one: its neighbour's.
        nearer = _nearer_neighbour(frame, row, col, half)
        fill = np.isnan(crops) | nearer
        return np.where(fill, level, crops).astype(np.float32, copy=False)

    def _locate_batch(self, batch, start):
        found = self._detect(batch)
        n = len(found["frame"])
        if n == 0:
            return None
        half = self.box_size_ // 2
        crops = self._crops(batch, found)
        with warnings.catch_warnings():
            # Crops of noise blobs (the false alarms a threshold allows) are
            # expected here: their scores tell them apart.
            if _OUTSIDE_TRAINING is not None:
                warnings.simplefilter("ignore", _OUTSIDE_TRAINING)
            positions, std = self.estimator_.predict(crops, return_std=True)
        positions = np.asarray(positions, dtype=np.float64).reshape(n, 2)
        std = np.asarray(std, dtype=np.float64).reshape(n, 2)
        covariance = _log_hessian_widths(
            found["filtered"], found["frame"], found["row"], found["col"]
        )
        expected = _expected_blob_variance(self.psf_sigma_)
        finite = np.isfinite(covariance).all(axis=(1, 2))
        widest = np.full(n, expected)
        if finite.any():
            widest[finite] = np.linalg.eigvalsh(covariance[finite])[:, 1]
        merged = widest > (1 + _MERGED_EXCESS) * expected
        excess = np.clip(
            np.stack([covariance[:, 0, 0], covariance[:, 1, 1]], axis=1) - expected,
            0,
            None,
        )
        excess = np.where(merged[:, None] & np.isfinite(excess), excess, 0.0)
        std = np.sqrt(std**2 + excess)
        near = _nearest_other(found["frame"], found["row"], found["col"])
        return {
            "frame": found["frame"] + start,
            "row": found["row"] - half + positions[:, 0],
            "col": found["col"] - half + positions[:, 1],
            "row_std": std[:, 0],
            "col_std": std[:, 1],
            "score": found["score"],
            "photons": found["photons"],
            "background": found["background"],
            "close_pair": merged | (near < 3 * self.psf_sigma_),
        }

    def locate(self, frames):
        """Localise every spot of every frame.

        Parameters
        ----------
        frames : array-like of shape (n_frames, height, width) or \
                (height, width)
            The frames, in any real dtype and scale: a NumPy array, a memory
            map, or any object with ``len()`` and slicing that yields frames
            (a lazy TIFF reader). Read ``batch_frames`` at a time. A 2-D
            array is one frame.

        Returns
        -------
        localizations : pandas.DataFrame
            One row per localisation, sorted by frame, with the columns of
            the class's Notes: ``frame``, ``row``, ``col``, ``row_std``,
            ``col_std``, ``score``, ``photons``, ``background`` and
            ``close_pair``. Empty, with these columns, when nothing is
            found.
        """
        import pandas as pd

        check_is_fitted(self)
        n_frames = _detection.check_frames(frames)[0]
        tables = []
        for start, stop in _detection.batches(n_frames, self.batch_frames):
            batch = _detection.read_batch(frames, start, stop)
            found = self._locate_batch(batch, start)
            if found is not None:
                tables.append(_as_table(found))
        if not tables:
            return _empty_table()
        return pd.concat(tables, ignore_index=True)

    def score(self, frames, truth):
        """The efficiency of the localisations (Sage et al., 2019).

        ``E = 1 - sqrt((1 - J)**2 + alpha**2 RMSE**2)``, from the Jaccard
        index ``J`` and the RMSE (in nm, ``pixel_size`` per pixel) of the
        localisations matched to the truth within ``radius``; higher is
        better (see :func:`pixel_regressor.metrics.localization_efficiency`).

        Parameters
        ----------
        frames : array-like of shape (n_frames, height, width)
            The frames to locate.

        truth : pandas.DataFrame or sequence of (k, 2) arrays
            The true spots: a DataFrame with ``frame`` (indices into
            ``frames``), ``row`` and ``col``, or one ``(k, 2)`` array of
            ``(row, col)`` per frame (:func:`truth_per_frame`), which is
            what model selection needs: it splits ``frames`` and ``truth``
            alike.

        Returns
        -------
        score : float
            The efficiency.
        """
        from . import metrics

        check_is_fitted(self)
        n_frames = _detection.check_frames(frames)[0]
        table = _truth_table(truth, n_frames)
        localizations = self.locate(frames)
        return metrics.localization_efficiency(
            table, localizations, radius=self.radius, pixel_size=self.pixel_size
        )

    def save(self, path):
        """Save the fitted locator to the directory ``path``, all or nothing.

        Writes ``model/``, the spot model saved by
        :meth:`BrightPixelRegressor.save`, and ``locator.json``: the
        locator's parameters, its fitted attributes and the SHA-256 digest of
        the spot model's files. Reload with :func:`load_locator`; the command
        line's ``pixel-regressor locate --model`` takes the directory.

        The directory is written under a temporary name beside ``path`` and
        renamed into place, replacing an earlier save there: an interrupted
        save leaves ``path`` as it was.

        Parameters
        ----------
        path : str or path-like
            Directory to write; its parent is created if needed. If it
            exists, it must be empty or an earlier save.

        Returns
        -------
        path : pathlib.Path
            The directory written.

        Raises
        ------
        ValueError
            If ``path`` exists and holds other files than a save.
        sklearn.exceptions.NotFittedError
            If the locator is not fitted.
        """
        from . import _locator_persistence

        return _locator_persistence.save(self, path)


def load_locator(path):
    """Load a locator saved by :meth:`SpotLocator.save`.

    Nothing read is trusted: ``locator.json`` is parsed with limits on its
    size and nesting, its format and every field are checked, the
    parameters by the locator's own validation; the spot model must be the
    one recorded there (by its SHA-256 digest) and is loaded by
    :func:`~pixel_regressor.load_model`, with its own checks.

    Parameters
    ----------
    path : str or path-like
        The directory given to :meth:`SpotLocator.save`.

    Returns
    -------
    locator : SpotLocator
        A fitted locator that locates as the saved one did. Its
        ``estimator`` is the loaded spot model, so ``fit`` (with new
        ``false_alarm_rate`` or ``psf_sigma``, say) keeps the model and
        recomputes the rest.

    Raises
    ------
    FileNotFoundError
        If the directory or one of its files is missing.
    ValueError
        If a file is corrupt, modified, from another save, written by a newer
        version of the package, or not written by this package.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pixel_regressor import BrightPixelRegressor, SpotLocator
    >>> from pixel_regressor import load_locator, make_spot_frames
    >>> frames, truth = make_spot_frames(
    ...     4, shape=(32, 32), density=3, photons=(500, 3000), random_state=0
    ... )
    >>> locator = SpotLocator(
    ...     BrightPixelRegressor(head="spot", filters=(4,), epochs=1),
    ...     psf_sigma=1.3, training_size=200, random_state=0,
    ... ).fit(frames)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = locator.save(folder)
    ...     again = load_locator(folder)
    >>> again.locate(frames).equals(locator.locate(frames))
    True
    """
    from . import _locator_persistence

    return _locator_persistence.load(path)


def _nearer_neighbour(frame, row, col, half):
    """Which pixels of each crop lie nearer another detection: ``(n, s, s)``."""
    from scipy.spatial import cKDTree

    side = 2 * half + 1
    nearer = np.zeros((len(frame), side, side), dtype=bool)
    if len(frame) < 2:
        return nearer
    far = 1e6
    points = np.column_stack([frame * far + row, col]).astype(np.float64)
    pairs = cKDTree(points).query_pairs(2 * half * math.sqrt(2), output_type="ndarray")
    if not len(pairs):
        return nearer
    pairs = np.concatenate([pairs, pairs[:, ::-1]])
    i, j = pairs[:, 0], pairs[:, 1]
    step = np.column_stack([row[j] - row[i], col[j] - col[i]]).astype(np.float64)
    offsets = np.arange(side) - half
    # Pixel q (relative to the centre) is nearer the neighbour at d when
    # q . d > |d|**2 / 2.
    projection = (
        step[:, 0, None, None] * offsets[None, :, None]
        + step[:, 1, None, None] * offsets[None, None, :]
    )
    beyond = projection > 0.5 * (step**2).sum(axis=1)[:, None, None]
    np.logical_or.at(nearer, i, beyond)
    return nearer


def _match_centres(found, truth, sigma):
    """Each detection's true spot, for training: ``(chosen, targets)``.

    The spot nearest the detection's peak pixel, within 1.5 px, whose next
    nearest lies more than ``_AMBIGUOUS_SIGMAS`` widths away; targets in
    crop coordinates are added by the caller's offsets.
    """
    from scipy.spatial import cKDTree

    far = 1e6
    truth_points = np.column_stack(
        [
            truth["frame"].to_numpy() * far + truth["row"].to_numpy(),
            truth["col"].to_numpy(),
        ]
    )
    points = np.column_stack(
        [found["frame"] * far + found["row"], found["col"]]
    ).astype(np.float64)
    k = min(2, len(truth_points))
    if k == 0:
        return np.zeros(0, dtype=np.intp), np.empty((0, 2))
    distance, index = cKDTree(truth_points).query(points, k=k)
    distance = distance.reshape(len(points), k)
    index = index.reshape(len(points), k)
    good = distance[:, 0] <= 1.5
    if k == 2:
        good &= distance[:, 1] > _AMBIGUOUS_SIGMAS * sigma
    chosen = np.flatnonzero(good)
    nearest = index[chosen, 0]
    return chosen, truth_points[nearest] - points[chosen]
