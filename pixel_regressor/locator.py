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
from .exceptions import OutsideTrainingWarning
from .models import get_head

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
# Frames of the simulated training movie, and its density per 32x32 px when
# the frames do not tell (fewer than _MIN_CHECKED detections); a measured
# density is held within _DENSITY_LIMITS.
_TRAINING_SHAPE = (64, 64)
_TRAINING_DENSITY = 6.0
_DENSITY_LIMITS = (1.0, 16.0)
# The measured density is corrected on simulated movies of this many spots.
_DENSITY_PASSES = 2
_DENSITY_SPOTS = 2000
# The deviations are recalibrated on a simulated movie of this many spots,
# in bins of the distance to the nearest other detection (in PSF widths;
# one more bin for merged blobs); a bin of fewer than _MIN_BIN matched
# localisations takes the pooled factor.
_CALIBRATION_SPOTS = 10000
_STD_BIN_EDGES = (2.0, 3.0, 4.5, 6.0)
# Each of those bins twice: away from the frame's edge, and within half a
# crop of it (the crop padded).
_NEIGHBOUR_BINS = len(_STD_BIN_EDGES) + 2
_STD_BINS = 2 * _NEIGHBOUR_BINS
_MIN_BIN = 50
_STD_FACTOR_LIMITS = (0.1, 10.0)
# locate warns of a condition held by more than _WARN_SHARE of the
# detections checked for it, when at least _MIN_CHECKED are.
_WARN_SHARE = 0.02
_MIN_CHECKED = 20
# Slack around the calibrated ranges: background (factor, then photons per
# pixel), the brightest photons (factor), widths (share).
_BACKGROUND_SLACK = (1.25, 1.0)
_PHOTONS_SLACK = 1.5
_WIDTH_SLACK = 0.1
_DISPERSION_SLACK = 1.3


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


def _blob_widths(covariance, psf_sigma):
    """Each spot's width (pixels) from its matched-filtered blob's covariance.

    The blob is the spot (``width**2 + 1/12`` per axis) smoothed by the
    filter (``psf_sigma**2``): the geometric mean of the blob's variances
    less the filter's and the pixel's.
    """
    det = covariance[:, 0, 0] * covariance[:, 1, 1] - covariance[:, 0, 1] ** 2
    variance = np.sqrt(np.clip(det, 0, None))
    return np.sqrt(np.clip(variance - psf_sigma**2 - 1.0 / 12.0, 0.0625, 100.0))


def _dispersion(found):
    """Each frame's filtered noise squared over its median background (per
    frame of the batch): for a camera in photoelectrons, about the excess
    noise factor plus the read noise's share, times the filter's constant.
    A wrong offset or gain moves it. NaN where a frame has no noise."""
    noise = found["noise"]
    # The map is smooth: a sparse grid of it gives its median.
    level = np.median(found["background_map"][:, ::8, ::8], axis=(1, 2))
    level = level.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = noise.astype(np.float64) ** 2 / level
    return np.where(np.isfinite(ratio) & (level > 0), ratio, np.nan)


def _std_factor(error2, model_var, excess):
    """The factor ``s`` of the model's deviations for which the z-scores
    ``error / sqrt(s**2 model_var + excess)`` have a mean square of 1,
    within 0.1-10 (a merged blob's excess alone may cover its error)."""
    from scipy.optimize import brentq

    def excess_mean_square(s):
        return float(np.mean(error2 / (s**2 * model_var + excess))) - 1.0

    low, high = _STD_FACTOR_LIMITS
    if excess_mean_square(low) <= 0:
        return low
    if excess_mean_square(high) >= 0:
        return high
    return float(brentq(excess_mean_square, low, high, xtol=1e-4))


def _training_widths(sigma, spread):
    """The PSF widths of the training crops: ``array([low, high])``.

    At least 0.85-1.15 times the median width, widened to the measured
    widths' 5th-95th percentiles (a movie's spots differ in width: focus,
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

    camera : "auto", None, dict or CameraCalibration, default="auto"
        The camera whose units the frames are in. ``"auto"`` measures it on
        the frames (:func:`~pixel_regressor.calibration.calibrate_camera`:
        offset, gain, an EMCCD's excess noise, read noise; it needs 10
        frames or more whose background varies) when ``fit`` trains the
        spot model; with a fitted model, the frames are passed as they are.
        None: the frames are passed as they are (photon counts, when ``fit``
        trains). A dict of ``gain``, ``offset``, ``em_gain`` and
        ``read_noise`` (as :func:`make_spot_frames` takes them), or a
        :class:`~pixel_regressor.calibration.CameraCalibration`: that
        camera. With a camera, frames are converted to photoelectrons before
        detection, and the table's ``photons`` and ``background`` are in
        photoelectrons.

    psf_sigma : "auto" or float, default="auto"
        Width (standard deviation, pixels) of the PSF, for the matched filter
        and the training crops. ``"auto"`` measures it in ``fit``: the median
        of the Gaussian maximum-likelihood fits of the frames' isolated
        spots (:func:`~pixel_regressor.calibration.measure_spot_conditions`).

    psf : SampledPSF or None, default=None
        The PSF of the training crops, when it is not a Gaussian: a
        :class:`~pixel_regressor.SampledPSF` (a measured bead, a vectorial
        or defocused model). The training movie's spots have this PSF, the
        matched filter its effective width (``psf_sigma`` must then be
        ``"auto"``, which takes ``psf.sigma``). None: Gaussian spots of the
        measured or given width.

    false_alarm_rate : float, default=1e-6
        Expected false detections per pixel in pure Gaussian noise (1e-6 is
        4.8 noise units at a width of 1.3 px, 0.26 per 512x512 frame). Low
        photon backgrounds and EMCCD noise have heavier tails than Gaussian
        noise and give a few times more.

    box_size : int, default=11
        Side of the crops, odd, at least 5.

    photons : "auto" or tuple of (float, float), default="auto"
        Range of the spots' photons (photoelectrons) in the training crops,
        when ``fit`` trains the model. ``"auto"``: from half the 5th to
        twice the 95th percentile of the photons of the frames' isolated
        spots.

    background : "auto" or tuple of (float, float), default="auto"
        Range of the background per pixel (photoelectrons) in the training
        crops. ``"auto"``: from half the 5th to 1.5 times the 95th
        percentile of the isolated spots' backgrounds.

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

    camera_ : CameraCalibration, dict or None
        The camera the frames are converted to photoelectrons with: measured
        (``camera="auto"``), given, or None (frames passed as they are).
        Print it to read the figures.

    conditions_ : SpotConditions or None
        The isolated spots' photons, background and width measured on the
        frames (None when none was measured): print it to read them.

    psf_sigma_ : float
        The PSF width used, measured when ``psf_sigma="auto"``.

    psf_sigma_range_ : ndarray of shape (2,)
        The PSF widths of the training crops: 0.85-1.15 times
        ``psf_sigma_``, widened to the 5th-95th percentiles of the widths
        measured (``psf_sigma="auto"``), at most 0.6-1.6 times it
        (``psf.sigma`` twice with a ``psf``).

    photons_range_, background_range_ : tuple of (float, float) or None
        The training crops' photons and background per pixel (None when
        the spot model was given fitted).

    density_ : float or None
        The training movie's spots per 32x32 px: the density whose simulated
        movie gives as many detections per 32x32 px as the first
        ``batch_frames`` frames (detections miss faint spots and merge
        close ones), within 1-16 (6 when fewer than 20 are found).

    std_scale_ : ndarray of shape (12,)
        Factors of the model's deviations, by distance to the nearest other
        detection (below 2, 2-3, 3-4.5, 4.5-6 and above 6 PSF widths, and
        merged blobs), away from the frame's edge and then within half a
        crop of it, that make the z-scores' mean square 1 on a simulated
        movie of the fitted kind (ones when the model was given fitted). A
        merged blob's deviation is its scaled model deviation widened by its
        excess width, which is not scaled.

    detection_ranges_ : ndarray of shape (4, 2) or None
        The 0.5th and 99.5th percentiles of the true detections' background
        and photons, the 1st and 99th of the bright isolated ones' widths,
        and the 0.5th and 99.5th of the frames' noise over their background,
        on that simulated movie, which :meth:`locate`
        warns of leaving (None when the model was given fitted).

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
    - ``row_std``, ``col_std`` (float): the model's standard deviations, in
      pixels, recalibrated by ``std_scale_``;
    - ``score`` (float): the detection's matched-filter peak in units of its
      frame's noise;
    - ``photons`` (float): the spot's signal above the background, from the
      matched filter's peak, in photoelectrons (with a camera; otherwise in
      the frames' units);
    - ``background`` (float): the local background per pixel, in the same
      units;
    - ``close_pair`` (bool): two spots too close to separate, merged into
      this one or within three PSF widths of it.

    Sorted by frame, then by the detection's row and column. A movie without
    a detection gives an empty DataFrame with these columns.

    The training crops are cut, by the same detection and the same padding,
    from simulated frames of 64x64 pixels of the fitted camera, conditions
    and density (spots anywhere, edges and overlaps included): as the
    locator meets them, the spot within a pixel of the centre, neighbours
    around it, some brighter. The model's deviations are calibrated on
    them, then recalibrated (``std_scale_``) on another simulated movie of
    the same kind, matched to its truth.

    With every default, ``fit`` needs nothing but the movie: ``SpotLocator(
    ).fit(frames).locate(frames)`` calibrates the camera, measures the
    spots, trains and locates.

    Examples
    --------
    >>> from sklearn.frozen import FrozenEstimator
    >>> from pixel_regressor import BrightPixelRegressor, SpotLocator
    >>> from pixel_regressor import make_spot_frames
    >>> frames, truth = make_spot_frames(
    ...     30, shape=(48, 48), density=3, photons=(500, 3000),
    ...     background=(10, 50), gain=2.2, offset=100, random_state=0,
    ... )
    >>> locator = SpotLocator(
    ...     BrightPixelRegressor(head="spot", filters=(4,), epochs=2),
    ...     training_size=500, random_state=0,
    ... ).fit(frames)
    >>> round(locator.camera_.gain, 1), round(locator.psf_sigma_, 1)
    (2.2, 1.3)
    >>> table = locator.locate(frames[:2])
    >>> list(table.columns)
    ['frame', 'row', 'col', 'row_std', 'col_std', 'score', 'photons', \
'background', 'close_pair']
    """

    _parameter_constraints = {
        "estimator": [object, None],
        "camera": [StrOptions({"auto"}), dict, None, object],
        "psf_sigma": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "psf": [None, object],
        "false_alarm_rate": [Interval(Real, 0, None, closed="neither")],
        "box_size": [Interval(Integral, 5, None, closed="left")],
        "photons": [StrOptions({"auto"}), tuple, list],
        "background": [StrOptions({"auto"}), tuple, list],
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
        camera="auto",
        psf_sigma="auto",
        psf=None,
        false_alarm_rate=1e-6,
        box_size=11,
        photons="auto",
        background="auto",
        training_size=20000,
        batch_frames=64,
        radius=2.0,
        pixel_size=100.0,
        random_state=None,
    ):
        self.estimator = estimator
        self.camera = camera
        self.psf_sigma = psf_sigma
        self.psf = psf
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
            if isinstance(value, str):
                if value != "auto":
                    raise ValueError(
                        f'{name} must be "auto" or a (low, high) pair of numbers, '
                        f"got {value!r}."
                    )
                continue
            if len(value) != 2 or not all(
                isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
                for v in value
            ):
                raise ValueError(
                    f'{name} must be "auto" or a (low, high) pair of numbers, got '
                    f"{value!r}."
                )
            low, high = value
            if not 0 < low <= high:
                raise ValueError(f"{name} must satisfy 0 < low <= high, got {value!r}.")
        if self.box_size % 2 == 0:
            raise ValueError(f"box_size must be odd, got {self.box_size!r}.")
        if self.psf is not None:
            from ._psf import SampledPSF

            if not isinstance(self.psf, SampledPSF):
                raise TypeError(
                    f"psf must be a SampledPSF or None, got {type(self.psf).__name__}."
                )
            if self.psf_sigma != "auto":
                raise ValueError(
                    "psf_sigma must be 'auto' when psf is given (the width is "
                    f"psf.sigma), got psf_sigma={self.psf_sigma!r}."
                )
        camera = self.camera
        if isinstance(camera, str) and camera != "auto":
            raise ValueError(
                f'camera must be "auto", None, a dict or a CameraCalibration, got '
                f"{camera!r}."
            )

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
        """Calibrate on the frames, and train the spot model if needed.

        With the defaults, everything is measured on the frames themselves
        (no truth): the camera (:func:`~pixel_regressor.calibration.
        calibrate_camera`), the isolated spots' photons, background and PSF
        width (:func:`~pixel_regressor.calibration.measure_spot_conditions`)
        and the density of detections. A movie of that camera, those
        conditions and that density is simulated, its crops cut as
        :meth:`locate` cuts them, the spot model trained on them, and the
        deviations recalibrated on another simulated movie of the same
        kind.

        Parameters
        ----------
        frames : array-like of shape (n_frames, height, width)
            Frames of the movie to locate, or of one like it, in the camera's
            units: a NumPy array, a memory map, or any object with ``len()``
            and slicing that yields frames. Only a sample is read (at most
            200 frames for the calibrations, ``batch_frames`` for the
            density).

        truth : object, default=None
            Not used; accepted so that model selection can pass the truth
            (see :meth:`score`).

        Returns
        -------
        self : SpotLocator
            The fitted locator.

        Raises
        ------
        ValueError
            If the camera or the spots' conditions cannot be measured on the
            frames (the message says which parameter to give instead), or a
            parameter is out of range.
        """
        from sklearn.utils import check_random_state

        self._check_ranges()
        n_frames = _detection.check_frames(frames)[0]
        model, train = self._spot_model()
        auto_width = self.psf_sigma == "auto" and self.psf is None
        auto_conditions = train and "auto" in (self.photons, self.background)
        if n_frames == 0 and (train or auto_width):
            raise ValueError("fit needs at least one frame.")
        generator = check_random_state(self.random_state)
        self.camera_ = self._measure_camera(frames, train, generator)
        conditions = None
        if auto_width or auto_conditions:
            conditions = self._measure_conditions(frames, generator)
        self.conditions_ = conditions
        if self.psf is not None:
            self.psf_sigma_, spread = float(self.psf.sigma), None
        elif auto_width:
            self.psf_sigma_ = float(conditions.psf_sigma[1])
            spread = (conditions.psf_sigma[0], conditions.psf_sigma[2])
        else:
            self.psf_sigma_, spread = float(self.psf_sigma), None
        self.psf_sigma_range_ = _training_widths(self.psf_sigma_, spread)
        if self.psf is not None:
            self.psf_sigma_range_ = np.array([self.psf_sigma_, self.psf_sigma_])
        self.threshold_ = _detection.false_alarm_threshold(
            self.false_alarm_rate, self.psf_sigma_
        )
        self.box_size_ = int(self.box_size)
        self.std_scale_ = np.ones(_STD_BINS)
        self.photons_range_ = self.background_range_ = None
        self.density_ = self.detection_ranges_ = None
        if train:
            self.photons_range_ = self._training_range("photons", conditions)
            self.background_range_ = self._training_range("background", conditions)
            self.density_ = self._measure_density(frames, n_frames, generator)
            crops, targets = self._training_crops(generator)
            if isinstance(self.random_state, Integral) and model.random_state is None:
                model.set_params(random_state=int(self.random_state))
            model.fit(crops, targets)
        self.estimator_ = model
        if train:
            self._calibrate(generator)
        return self

    # ------------------------------------------------------------------
    # What fit measures on the frames
    def _measure_camera(self, frames, train, generator):
        """The camera the frames are converted to photoelectrons with, or None."""
        from .calibration import _as_camera, calibrate_camera

        camera = self.camera
        if camera is None or (isinstance(camera, str) and not train):
            return None
        if isinstance(camera, str):
            sigma = self._given_width() or 1.3
            try:
                return calibrate_camera(frames, psf_sigma=sigma, random_state=generator)
            except ValueError as exc:
                raise ValueError(
                    f"camera='auto' could not calibrate the camera on these frames: "
                    f"{exc} Give camera=None for frames in photon counts, or the "
                    "camera as a dict of gain, offset, em_gain and read_noise."
                ) from None
        return _as_camera(camera, frames, None)

    def _given_width(self):
        """The PSF width given (``psf_sigma``, or ``psf.sigma``), or None."""
        if self.psf is not None:
            return float(self.psf.sigma)
        return None if self.psf_sigma == "auto" else float(self.psf_sigma)

    def _measure_conditions(self, frames, generator):
        from .calibration import measure_spot_conditions

        try:
            return measure_spot_conditions(
                frames,
                camera={} if self.camera_ is None else self.camera_,
                psf_sigma=self._given_width(),
                random_state=generator,
            )
        except ValueError as exc:
            raise ValueError(
                "SpotLocator.fit measures the spots' width, photons and background "
                f"on the frames' isolated spots: {exc} Or give psf_sigma, photons "
                "and background."
            ) from None

    def _training_range(self, name, conditions):
        """The training crops' range of ``photons`` or ``background``.

        Given, or the measured 5th-95th percentiles widened (the faintest
        spots are missed by the measurement, and a movie holds more than its
        sample): photons from half the 5th to twice the 95th percentile,
        background from half the 5th to 1.5 times the 95th (at least 0.5
        photons per pixel).
        """
        value = getattr(self, name)
        if not isinstance(value, str):
            return tuple(float(v) for v in value)
        low, _, high = getattr(conditions, name)
        if name == "photons":
            low, high = 0.5 * low, 2.0 * high
        else:
            low, high = 0.5 * low, 1.5 * high
        low = max(low, 0.5)
        return (float(low), float(max(high, 2 * low)))

    def _measure_density(self, frames, n_frames, generator):
        """The spots per 32x32 px that give the frames' detections.

        The detections per 32x32 px of the first batch undercount the spots
        (faint ones missed, close ones merged, more so the more crowded): the
        density is corrected, ``_DENSITY_PASSES`` times, by the ratio of the
        detections to those of a simulated movie at the density found so
        far, within the limits.
        """
        batch = self._to_photons(
            _detection.read_batch(frames, 0, min(n_frames, self.batch_frames))
        )
        found = len(self._detect(batch)["frame"])
        if found < _MIN_CHECKED:
            return _TRAINING_DENSITY
        detected = found * 1024.0 / batch.size
        density = float(np.clip(detected, *_DENSITY_LIMITS))
        for _ in range(_DENSITY_PASSES):
            self.density_ = density
            per_frame = density * _TRAINING_SHAPE[0] * _TRAINING_SHAPE[1] / 1024
            simulated, _ = self._simulate(
                int(math.ceil(_DENSITY_SPOTS / per_frame)), generator
            )
            seen = len(self._detect(simulated)["frame"]) * 1024.0 / simulated.size
            if not seen > 0:
                break
            density = float(np.clip(density * detected / seen, *_DENSITY_LIMITS))
        return density

    def _to_photons(self, batch):
        """A batch in the camera's units to photoelectrons (``camera_``)."""
        if self.camera_ is None:
            return batch
        from .calibration import _camera_figures

        offset, adu_per_photon, _ = _camera_figures(self.camera_)
        return ((batch - np.float32(offset)) / np.float32(adu_per_photon)).astype(
            np.float32, copy=False
        )

    def _simulate(self, n_frames, generator):
        """A simulated movie of the fitted conditions, in photoelectrons."""
        from .calibration import CameraCalibration
        from .datasets import make_spot_frames

        camera = self.camera_
        if isinstance(camera, CameraCalibration):
            camera = camera.camera()
        camera = dict(camera or {})
        frames, truth = make_spot_frames(
            n_frames,
            shape=_TRAINING_SHAPE,
            density=self.density_,
            photons=self.photons_range_,
            background=self.background_range_,
            random_state=generator,
            **camera,
            **(
                {"psf": self.psf}
                if self.psf is not None
                else {"psf_sigma": tuple(float(v) for v in self.psf_sigma_range_)}
            ),
        )
        # The simulated camera's own offset and gain (its offset at least 0).
        adu = camera.get("gain", 1.0) * camera.get("em_gain", 1.0)
        frames -= np.float32(camera.get("offset", 0.0))
        frames /= np.float32(adu)
        return frames, truth

    def _training_crops(self, generator):
        """Crops cut as :meth:`locate` cuts them, from a simulated movie."""
        sigma = self.psf_sigma_
        per_frame = self.density_ * _TRAINING_SHAPE[0] * _TRAINING_SHAPE[1] / 1024
        crops, targets = [], []
        count = 0
        while count < self.training_size:
            n_frames = max(
                1, int(math.ceil((self.training_size - count) / (0.8 * per_frame)))
            )
            frames, truth = self._simulate(n_frames, generator)
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

    def _calibrate(self, generator):
        """Deviations' factors and the detections' ranges, on a simulated movie.

        The movie is another of the training's kind; its localisations are
        matched to its truth within ``radius``, and in each bin of distance
        to the nearest other detection the deviations are scaled so that
        the z-scores' mean square is 1. The ranges of the true detections'
        background, photons and (bright, isolated) widths are kept for
        :meth:`locate`'s warning.
        """
        from .metrics import match_localizations

        per_frame = self.density_ * _TRAINING_SHAPE[0] * _TRAINING_SHAPE[1] / 1024
        n_frames = max(1, int(math.ceil(_CALIBRATION_SPOTS / per_frame)))
        frames, truth = self._simulate(n_frames, generator)
        parts = [
            self._locate_batch(frames[start:stop], start)
            for start, stop in _detection.batches(n_frames, self.batch_frames)
        ]
        parts = [p for p in parts if p is not None]
        if not parts:
            return
        found = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        locs = np.column_stack([found["frame"], found["row"], found["col"]])
        true_index, loc_index, _ = match_localizations(truth, locs, radius=self.radius)
        if len(loc_index) < _MIN_BIN:
            return
        true = np.column_stack([truth["row"], truth["col"]])[true_index]
        error2 = (np.column_stack([found["row"], found["col"]])[loc_index] - true) ** 2
        model_var = found["_model_var"][loc_index]
        excess = found["_excess"][loc_index]
        bins = found["_bin"][loc_index]
        pooled = _std_factor(error2, model_var, excess)
        scale = np.full(len(self.std_scale_), pooled)
        for b in range(len(scale)):
            inside = bins == b
            if inside.sum() >= _MIN_BIN:
                scale[b] = _std_factor(
                    error2[inside], model_var[inside], excess[inside]
                )
        self.std_scale_ = scale

        def span(values, share=0.5):
            if len(values) < _MIN_BIN:
                return [np.nan, np.nan]
            return np.percentile(values, [share, 100 - share]).tolist()

        bright = found["_isolated_bright"][loc_index]
        dispersion = found["_dispersion"]
        self.detection_ranges_ = np.array(
            [
                span(found["background"][loc_index]),
                span(found["photons"][loc_index]),
                # The 1st-99th: the few pairs merged with no other near.
                span(found["_width"][loc_index][bright], 1.0),
                span(dispersion[np.isfinite(dispersion)]),
            ]
        )

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
        """The localisations of one batch (in photoelectrons when a camera is
        known), with the private columns ``_bin``, ``_width`` and
        ``_isolated_bright`` for the calibration and the warnings."""
        found = self._detect(batch)
        n = len(found["frame"])
        if n == 0:
            return None
        half = self.box_size_ // 2
        crops = self._crops(batch, found)
        with warnings.catch_warnings():
            # Crops of noise blobs (the false alarms a threshold allows) are
            # expected here: their scores tell them apart.
            warnings.simplefilter("ignore", OutsideTrainingWarning)
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
        near = _nearest_other(found["frame"], found["row"], found["col"])
        bins = np.searchsorted(_STD_BIN_EDGES, near / self.psf_sigma_, side="right")
        bins[merged] = _NEIGHBOUR_BINS - 1
        _, height, width = batch.shape
        row, col = found["row"], found["col"]
        edge = np.minimum.reduce([row, col, height - 1 - row, width - 1 - col])
        bins = bins + _NEIGHBOUR_BINS * (edge < half)
        scale = self.std_scale_[bins][:, None]
        model_var = std**2
        std = np.sqrt(scale**2 * model_var + excess)
        width = np.full(n, np.nan)
        if finite.any():
            width[finite] = _blob_widths(covariance[finite], self.psf_sigma_)
        # Merged or not: a movie of wider spots than fitted reads as merged.
        isolated_bright = (
            finite
            & (near > _STD_BIN_EDGES[-2] * self.psf_sigma_)
            & (found["score"] > 2 * self.threshold_)
        )
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
            "_bin": bins,
            "_model_var": model_var,
            "_excess": excess,
            "_width": width,
            "_isolated_bright": isolated_bright,
            "_dispersion": _dispersion(found),
        }

    def _outside(self, found):
        """Per condition, ``(outside, checked)`` counts of one batch's detections."""
        counts = np.zeros((4, 2), dtype=np.int64)
        ranges = self.detection_ranges_
        if ranges is None or found is None:
            return counts
        dispersion = found["_dispersion"]
        factor, extra = _BACKGROUND_SLACK
        checks = [
            (
                found["background"],
                ranges[0, 0] / factor - extra,
                ranges[0, 1] * factor + extra,
            ),
            (found["photons"], -np.inf, ranges[1, 1] * _PHOTONS_SLACK),
            (
                found["_width"][found["_isolated_bright"]],
                ranges[2, 0] * (1 - _WIDTH_SLACK),
                ranges[2, 1] * (1 + _WIDTH_SLACK),
            ),
            (
                dispersion[np.isfinite(dispersion)],
                ranges[3, 0] / _DISPERSION_SLACK,
                ranges[3, 1] * _DISPERSION_SLACK,
            ),
        ]
        for k, (values, low, high) in enumerate(checks):
            if np.isnan([low, high]).any():
                continue
            counts[k] = ((values < low) | (values > high)).sum(), len(values)
        return counts

    def _warn_outside(self, counts):
        """One :class:`OutsideTrainingWarning` naming the conditions held."""
        ranges = self.detection_ranges_
        if ranges is None:
            return
        unit = "photoelectrons" if self.camera_ is not None else "frame units"
        factor, extra = _BACKGROUND_SLACK
        described = [
            f"a background outside the calibrated {ranges[0, 0] / factor - extra:.3g}"
            f"-{ranges[0, 1] * factor + extra:.3g} {unit} per pixel (another "
            "camera offset or gain, or other illumination)",
            f"spots brighter than the calibrated "
            f"{ranges[1, 1] * _PHOTONS_SLACK:.3g} {unit}",
            f"spot widths outside the calibrated "
            f"{ranges[2, 0] * (1 - _WIDTH_SLACK):.2f}"
            f"-{ranges[2, 1] * (1 + _WIDTH_SLACK):.2f} px (another focus or "
            "optics), among bright isolated spots",
            f"frames whose noise over their background is outside the calibrated "
            f"{ranges[3, 0] / _DISPERSION_SLACK:.3g}"
            f"-{ranges[3, 1] * _DISPERSION_SLACK:.3g} (another camera gain, offset "
            "or excess noise)",
        ]
        held = [
            f"{outside / checked:.0%} of {checked}: {text}"
            for (outside, checked), text in zip(counts, described)
            if checked >= _MIN_CHECKED and outside > _WARN_SHARE * checked
        ]
        if held:
            warnings.warn(
                "This movie leaves the conditions the locator was calibrated on: "
                f"{'; '.join(held)}. Positions and deviations may be off: fit the "
                "locator on this movie.",
                OutsideTrainingWarning,
                stacklevel=3,
            )

    def locate(self, frames):
        """Localise every spot of every frame.

        Parameters
        ----------
        frames : array-like of shape (n_frames, height, width) or \
                (height, width)
            The frames, in the units ``fit`` saw (the camera's): a NumPy
            array, a memory map, or any object with ``len()`` and slicing
            that yields frames (a lazy TIFF reader). Read ``batch_frames`` at
            a time. A 2-D array is one frame.

        Returns
        -------
        localizations : pandas.DataFrame
            One row per localisation, sorted by frame, with the columns of
            the class's Notes: ``frame``, ``row``, ``col``, ``row_std``,
            ``col_std``, ``score``, ``photons``, ``background`` and
            ``close_pair``. Empty, with these columns, when nothing is
            found.

        Warns
        -----
        OutsideTrainingWarning
            When more than 2 % of the detections lie outside what ``fit``
            calibrated on (their background, their brightness, the width of
            the bright isolated ones), or of the frames (their noise over
            their background: another camera), for a locator whose ``fit``
            trained the spot model.
        """
        import pandas as pd

        check_is_fitted(self)
        n_frames = _detection.check_frames(frames)[0]
        tables = []
        counts = np.zeros((4, 2), dtype=np.int64)
        for start, stop in _detection.batches(n_frames, self.batch_frames):
            batch = self._to_photons(_detection.read_batch(frames, start, stop))
            found = self._locate_batch(batch, start)
            counts += self._outside(found)
            if found is not None:
                tables.append(_as_table(found))
        self._warn_outside(counts)
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
        ``estimator`` is the loaded spot model, and its ``camera`` the camera
        it measured (``camera_``) when it measured one, so ``fit`` (with new
        ``false_alarm_rate`` or ``psf_sigma``, say) keeps the model and the
        camera and recomputes the rest.

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
    ...     camera=None, psf_sigma=1.3, photons=(500, 3000), background=(5, 20),
    ...     training_size=200, random_state=0,
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
