"""`BrightPixelRegressor`: the scikit-learn face of the Keras models.

The estimator owns a scikeras ``KerasRegressor`` as a fitted attribute
(composition) rather than subclassing it: scikeras 0.13 declares its tags
the pre-1.6 way and puts ``RegressorMixin`` on the wrong side of the MRO, so a
subclass is not a regressor to scikit-learn 1.6+ and cannot fix its mixin
order. Here the mixin order, the tags, the input validation and the random
state are ours. The head's spec builds the Keras model (some heads set
weights from the first training data); the scikeras wrapper around it, an
:class:`~pixel_regressor._keras_regressor.ImageKerasRegressor`, trains it
(its ``fit`` and ``partial_fit``, epochs, callbacks and history) and
predicts with it.
"""

import collections
import contextlib
import json
import os
import random
import time
import warnings
import weakref
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _conditions, _persistence
from ._inference import as_float32, needs_counts
from ._io import atomic_directory, sha256_of, visible_entries
from ._random import check_random_state, chunk_generator, derive_seed
from ._validation import check_image_shape, images_from_array, is_keras_dataset
from .models import HEADS, get_head

__all__ = ["BrightPixelRegressor", "load_model", "skops_trusted_types"]

_CHECK_X_PARAMS = {
    "accept_sparse": False,
    "ensure_2d": False,  # images are 3-D or 4-D; 1-D is refused below
    "allow_nd": True,
    "dtype": "numeric",
    "ensure_all_finite": True,
}
# The largest convolution kernel (see _parameter_constraints).
_MAX_KERNEL_SIZE = 128
# The saved format: a directory holding these two files.
_MODEL_FILE = "model.keras"
_META_FILE = "estimator.json"
_SAVED_FILES = (_META_FILE, _MODEL_FILE)
# Keras's metric names, and scikeras's spelling of the same metrics.
_SCIKERAS_NAMES = {"mae": "mean_absolute_error", "mse": "mean_squared_error"}
_KERAS_NAMES = {v: k for k, v in _SCIKERAS_NAMES.items()}


@contextlib.contextmanager
def _seeded(seed):
    """Seed Keras (and its backend) for the duration of a fit.

    ``keras.utils.set_random_seed`` also seeds Python's and NumPy's global
    generators; their states are restored afterwards so that fitting never
    changes the user's global random state. Unlike scikeras's own
    ``random_state`` handling, TensorFlow's op determinism is never switched
    on, so a later unseeded fit works.
    """
    if seed is None:
        yield
        return
    import keras

    numpy_state = np.random.get_state()  # noqa: NPY002 - saved, then restored
    python_state = random.getstate()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)


def _history_from(history):
    """A history with Keras's own metric names (scikeras spells some out)."""
    out = {}
    for key, values in history.items():
        prefix = "val_" if key.startswith("val_") else ""
        name = key[len(prefix) :]
        out[prefix + _KERAS_NAMES.get(name, name)] = [float(v) for v in values]
    return out


def _scikeras_history(history):
    """``history`` spelt as scikeras spells its ``history_``."""
    out = collections.defaultdict(list)
    for key, values in history.items():
        # scikeras keeps "loss" and the "val_" keys as Keras names them.
        if key != "loss" and not key.startswith("val_"):
            key = _SCIKERAS_NAMES.get(key, key)
        out[key] += [float(v) for v in values]
    return out


# Images looked at by _warn_if_not_counts, at most.
_COUNTS_SAMPLE = 256
# Images checked against the training conditions by predict without
# return_std, at most (with it, all of them).
_CONDITIONS_SAMPLE = 256


def _warn_if_not_counts(images):
    """Warn when most of the first images look background-subtracted.

    A model that fits a likelihood of counts (``head="spot_fit"``) needs
    each image's background on its own offset: photon counts, or counts
    proportional to them. An image whose median is at or below half its
    noise (1.4826 times the median absolute deviation) has no such
    background: it was offset or background subtracted. A few such images
    may be a background of under a photon per pixel; most of the first
    :data:`_COUNTS_SAMPLE` are taken as the data's convention, and warned of
    (a heuristic: a warning, not an error).
    """
    sample = np.asarray(images[:_COUNTS_SAMPLE], dtype=np.float64)
    flat = sample.reshape(len(sample), -1)
    if not flat.size:
        return
    median = np.median(flat, axis=1)
    spread = 1.4826 * np.median(np.abs(flat - median[:, None]), axis=1)
    subtracted = median <= 0.5 * spread
    subtracted &= spread > 0
    if np.mean(subtracted) > 0.5:
        warnings.warn(
            f"head='spot_fit' fits a likelihood of photon counts, but "
            f"{np.mean(subtracted):.0%} of the first {len(flat)} images look "
            "background-subtracted (median at or below half the noise): its "
            "positions and deviations then lose accuracy. Pass photon counts, "
            "or counts proportional to them (adu_to_photons removes a camera's "
            "offset), or use head='spot', which takes any offset.",
            UserWarning,
            stacklevel=3,
        )


# The images the deviations are calibrated on, at most: a fit's, evenly
# spaced; partial_fit's, the most recent (see _RecentImages).
_CALIBRATION_IMAGES = 10_000
# partial_fit's recent training images, at most this many and this many bytes.
_RECENT_IMAGES = 2000
_RECENT_BYTES = 16 << 20
# partial_fit refits the calibration once its recent images are this many (or
# more than the calibration in place was fitted on).
_RECENT_MIN = 200


def _calibration_sample(data, max_images):
    """At most ``max_images`` training images and targets of ``data`` with a
    positive weight, evenly spaced (of a ``PyDataset``, its first batches)."""
    if data.dataset is not None:
        batches, count = [], 0
        for index in range(len(data.dataset)):
            images, targets = data.dataset[index][:2]
            batches.append((np.asarray(images), np.asarray(targets)))
            count += len(images)
            if count >= max_images:
                break
        images = np.concatenate([b[0] for b in batches])[:max_images]
        targets = np.concatenate([b[1] for b in batches])[:max_images]
        images = images.reshape(len(images), *images.shape[1:3], 1)
        return images, targets.reshape(len(targets), -1)
    rows = np.arange(len(data.images))
    if data.sample_weight is not None:
        rows = rows[data.sample_weight > 0]
    if len(rows) > max_images:
        rows = rows[np.linspace(0, len(rows) - 1, max_images).astype(int)]
    return data.images[rows], data.targets[rows]


class _RecentImages:
    """partial_fit's most recent training images and targets, bounded.

    At most :data:`_RECENT_IMAGES` images and :data:`_RECENT_BYTES` bytes of
    them, the oldest dropped first: the deviations' calibration is refitted
    on them (see :meth:`BrightPixelRegressor._calibrate`), never on one chunk
    alone. ``fitted_on`` is how many images the calibration in place was
    fitted on. Never changed in place (a failed call puts the earlier one
    back), and never pickled or saved.
    """

    def __init__(self, images, targets, fitted_on):
        self.images, self.targets, self.fitted_on = images, targets, fitted_on

    @property
    def capacity(self):
        """The most images the bounds allow, of this size and dtype."""
        per_image = max(1, self.images[:1].nbytes)
        return max(1, min(_RECENT_IMAGES, _RECENT_BYTES // per_image))

    def added(self, images, targets):
        """These recent images with ``images`` and ``targets`` after them."""
        if len(self.images):
            images = np.concatenate([self.images, images])
            targets = np.concatenate([self.targets, targets])
        recent = _RecentImages(images, targets, self.fitted_on)
        keep = recent.capacity
        return _RecentImages(images[-keep:], targets[-keep:], self.fitted_on)

    def needs_refit(self):
        """Whether to refit the calibration on these images: they are more
        than it was fitted on, or at least :data:`_RECENT_MIN`."""
        n = len(self.images)
        return n > self.fitted_on or n >= min(_RECENT_MIN, self.capacity)


class _Snapshot:
    """What a training call changes of a fitted estimator, to put back when
    it fails: the model's weights, its optimizer's state, the wrapper's
    history and the estimator's attributes (fitted and private; they are
    replaced, never changed in place, by training)."""

    def __init__(self, estimator):
        self.attributes = dict(vars(estimator))
        model = estimator.model_
        self.weights = model.get_weights()
        self.optimizer = [np.array(v) for v in model.optimizer.variables]
        self.history = {
            k: list(v)
            for k, v in getattr(estimator.keras_regressor_, "history_", {}).items()
        }

    def restore(self, estimator):
        vars(estimator).clear()
        vars(estimator).update(self.attributes)
        model = estimator.model_
        model.set_weights(self.weights)
        variables = model.optimizer.variables
        for variable, value in zip(variables, self.optimizer):
            variable.assign(value)
        # Slots the failed call built start at zero, as Adam's do.
        for variable in variables[len(self.optimizer) :]:
            variable.assign(np.zeros(variable.shape, variable.dtype))
        estimator.keras_regressor_.history_ = collections.defaultdict(
            list, {k: list(v) for k, v in self.history.items()}
        )


# model_ -> the model of its Gaussian fit's covariance (head="spot_fit").
_COVARIANCE_MODELS = weakref.WeakKeyDictionary()


class _TrainingData:
    """What one training call works on, validated once.

    Either arrays (``images``, ``targets``, ``sample_weight``) or a Keras
    ``dataset`` of ``(images, targets)`` batches, whose first batch is then
    held in ``images`` and ``targets`` (the model is built from it).
    ``validation`` is None or a pair of float32 arrays.
    """

    def __init__(
        self, images, targets, sample_weight=None, dataset=None, validation=None
    ):
        self.images = images
        self.targets = targets
        self.sample_weight = sample_weight
        self.dataset = dataset
        self.validation = validation


class BrightPixelRegressor(RegressorMixin, BaseEstimator):
    """Find the one bright pixel in grayscale images: a Keras CNN for scikit-learn.

    A scikit-learn regressor whose Keras model is trained and run through
    scikeras. It learns to map an image to the ``(row, col)`` of its bright
    pixel (or to any numeric target derived from it) and works everywhere
    scikit-learn expects a regressor: pipelines, grid searches, cross
    validation, ensembles.

    Four heads are available:

    - ``"soft_argmax"`` (default): fully convolutional. Convolutions score
      every pixel into a heatmap with a learnt temperature; the heatmap's
      peak pixel, refined by a softmax over its neighbours, gives ``(row,
      col)``, which feeds a linear read-out to the target's columns (in
      training, a softmax over all pixels gives every pixel a gradient).
      With the defaults it has 9 weights; trained on bright pixels, it is
      exact on any image with a unique brightest pixel, predicts positions
      never seen in training and images of any size.
    - ``"dense"``: the original notebook's CNN (Conv-Pool-Conv-Pool-Flatten-
      Dense(64)-Dense), 252,802 weights at 50x50. Its Flatten-Dense head ties
      it to the training image size and generalises poorly to unseen
      positions.
    - ``"spot"``: for blurred spots at sub-pixel positions with photon noise
      (:func:`make_bright_spot_dataset`). It finds the peak of the smoothed
      image, runs a small conv net on a crop around it and reads the
      sub-pixel position off a local soft-argmax; hot pixels and distant
      noise do not pull it. Trained with a cosine learning-rate decay over
      the fit, it comes within a few percent of the Cramer-Rao bound
      (:func:`localization_crlb`) from a few hundred photons up. Any image
      size.
    - ``"spot_fit"``: the ``"spot"`` head whose position is then polished,
      when predicting, by a Poisson maximum-likelihood fit of a Gaussian
      spot (width, signal and background free) on the 11x11 square around
      it. One model for a range of conditions: trained once on 100-10,000
      photons, background 1-100 and PSF width 1-2 px, it is within 1.10x of
      the bound at every condition from 300 photons up where a spot can be
      found. The images should be photon counts or proportional to them (a
      camera's offset removed, :func:`adu_to_photons`; ``predict`` warns
      when most images look background-subtracted); 1.5-3x slower to
      predict than ``"spot"``. Training spots that are not Gaussians
      (a defocused or vectorial PSF, a measured bead) are refused with a
      ValueError before training: its polish would be biased on them, and
      ``"spot"`` learns their shape.

    Parameters
    ----------
    head : {"soft_argmax", "dense", "spot", "spot_fit"}, default="soft_argmax"
        The network (see :data:`pixel_regressor.models.HEADS`).

    filters : "auto" or tuple of int, default="auto"
        Widths of the convolutions: for ``"soft_argmax"`` and the spot heads
        the hidden convolutions before the one-channel heatmap; for
        ``"dense"`` the Conv-Pool blocks. Every ``"auto"`` takes the head's
        default, listed in :data:`pixel_regressor.models.HEADS`
        (``"soft_argmax"``: none, ``"dense"``: ``(16, 32)``, ``"spot"`` and
        ``"spot_fit"``: ``(16, 16)``).

    kernel_size : "auto" or int, default="auto"
        Kernel size of every convolution, at most 128 and at most the
        training images' larger side; odd for the spot heads (``"auto"``: 1
        for ``"soft_argmax"``, 3 for the others).

    dense_units : int, default=64
        Width of the hidden dense layer of the ``"dense"`` head.

    learning_rate : "auto" or float, default="auto"
        Adam's learning rate (``"auto"``: 0.1 for ``"soft_argmax"``, 0.001 for
        ``"dense"``, 0.01 for the spot heads, which decay it to zero over a
        ``fit`` along a cosine and keep it constant in ``partial_fit``).

    epochs : "auto" or int, default="auto"
        Passes over the training data (``"auto"``: 2 for ``"soft_argmax"``,
        20 for ``"dense"``, 15 for the spot heads).

    batch_size : "auto" or int, default="auto"
        Training batch size (``"auto"``: 256 for ``"soft_argmax"``, 64 for
        ``"dense"``, 128 for the spot heads).

    validation_split : float, default=0.0
        Fraction of the training data, drawn at random (from
        ``random_state``), held out to compute the validation loss each
        epoch. Ignored when ``fit`` is given ``validation_data``, and by
        ``partial_fit``. A ``PyDataset`` cannot be split: give ``fit``
        ``validation_data`` instead.

    early_stopping : bool, default=False
        Stop when the monitored loss (the validation loss if there is
        validation data, else the training loss) has not improved for
        ``patience`` epochs, and keep the best weights.

    patience : int, default=5
        Epochs without improvement before early stopping.

    callbacks : list of keras.callbacks.Callback, default=None
        Extra Keras callbacks for training.

    image_shape : tuple of (int, int), default=None
        ``(height, width)`` of flattened input; one side may be -1 and is then
        inferred, as in :func:`numpy.reshape` (``(1, -1)`` treats each sample
        as a one-row image). None takes flattened samples as square images.
        3-D ``(n, height, width)`` and 4-D ``(n, height, width, 1)`` input
        carry their own shape.

    verbose : int, default=0
        Keras's verbosity: 0 silent, 1 progress bar, 2 one line per epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batch order and the validation split. Pass an
        int for reproducible fits, in the same or a new process. Global random
        states are left as they were.

    Attributes
    ----------
    model_ : keras.Model
        The trained Keras model. It takes images of shape
        ``(n, height, width, 1)`` in any intensity scale.

    keras_regressor_ : scikeras.wrappers.KerasRegressor
        The scikeras estimator that trains ``model_`` (its ``fit`` and
        ``partial_fit`` do the estimator's, on arrays or a ``PyDataset``) and
        predicts with it: ``keras_regressor_.predict(X)`` equals
        ``predict(X)``. A subclass of scikeras's ``KerasRegressor`` that
        feeds Keras one batch at a time (no copy of the training set) and
        predicts in bounded memory; fitted after every way of getting a
        fitted estimator (``fit``, ``partial_fit``, :func:`load_model`,
        unpickling).

    history_ : dict of str to list of float
        Per-epoch training metrics: ``loss`` (mean squared error), ``mae``
        and, with validation data, ``val_loss`` and ``val_mae``. One record
        across ``fit`` (which starts it anew), ``partial_fit`` and a
        save and load in between.

    n_iter_ : int
        Number of epochs in ``history_`` (fewer than ``epochs`` after early
        stopping).

    n_features_in_ : int
        Number of pixels of the training images.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen in ``fit``. Defined only when ``X`` has
        feature names that are all strings (a pandas DataFrame).

    image_shape_ : tuple of (int, int)
        ``(height, width)`` of the training images.

    n_outputs_ : int
        Number of target columns.

    fit_time_ : float
        Seconds spent in the last ``fit``.

    std_coefficients_ : ndarray of shape (n_outputs, 3) or (n_outputs, 2)
        The spot heads only, fitted by maximum likelihood to the errors on
        (at most 10,000 of) the training images after each ``fit`` or
        ``partial_fit``, and used by ``predict(X, return_std=True)``.
        ``head="spot"``: the coefficients ``(a, b, c)`` of the variance ``a *
        s / N + b * s ** 2 * v / N ** 2 + c * s ** 3 * v ** 2 / N ** 4`` of
        each output's error, with ``N`` an image's spot signal, ``v`` its
        background's variance per pixel and ``s`` the spot's squared width
        (all measured on the image). ``head="spot_fit"``: the coefficients
        ``(a, b)`` of the variance ``a * f + b * f ** 2``, with ``f`` the
        Gaussian fit's own variance (its inverse Fisher information times
        the dispersion of its residuals); ``a`` is about 1.

    miss_odds_ : ndarray of shape (2,)
        The spot heads only, fitted with ``std_coefficients_``: ``(tau,
        beta)`` of the log-odds ``tau * t1 * (t - t1) + beta`` that the spot
        lies at another local maximum of the matched-filtered image (response
        ``t``, in noise units) than at the peak the model took (``t1``),
        fitted by maximum likelihood to where the training spots were (see
        the user guide's spots page). ``predict(X, return_std=True)`` widens
        each deviation by the displacements to those places under these
        odds. ``(1, 0)`` is the matched filter's own; near the detection
        limit the fit gives smaller ``tau``.

    See Also
    --------
    make_bright_pixel_dataset : Generate images to train on.
    pixel_regressor.metrics.exact_pixel_accuracy : Share of exact predictions.

    Notes
    -----
    Normalisation is part of the model: each image is rescaled by its own
    minimum and maximum, so predictions do not depend on the intensity scale
    (uint8 0-255 and floats 0-1 give the same answers). Images whose values
    float32 cannot hold (float64, 32- and 64-bit integers, float32 beyond
    ``2**64``) are first rescaled to [0, 1] in their own precision, so
    ``1e4 + 1e-4`` on ``1e4``, ``1e300`` or ``2**40 + 1`` on ``2**40`` keep
    their answer; a difference below one part in ``2**24`` of an image's
    range is lost, with a warning. An image with no bright pixel (constant,
    e.g. all zeros) has no answer; the soft-argmax head then returns the
    image centre, ``((height - 1) / 2, (width - 1) / 2)`` mapped through its
    read-out, and the dense head an arbitrary point. Several equally bright
    pixels have no single answer either: the soft-argmax head returns the
    first of them in row-major order (as ``np.argmax``), pulled half a pixel
    towards a tied neighbour. The command line's ``predict`` warns about a
    constant image.

    Meta-estimators that resample or reorder features (``BaggingRegressor``
    with ``bootstrap_features=True`` or ``max_features < 1``,
    ``RegressorChain``, which appends columns) hand the model scrambled
    images: they cannot work with it.

    The soft-argmax head accepts images of another size than the training
    images when they are given as 3-D or 4-D arrays; flattened input must
    have ``n_features_in_`` features.

    Examples
    --------
    >>> from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset
    >>> X, y = make_bright_pixel_dataset(300, image_size=16, random_state=0)
    >>> reg = BrightPixelRegressor(random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).round(2)
    array([[10., 12.],
           [ 2., 15.]])
    >>> y[:2]
    array([[10, 12],
           [ 2, 15]])
    >>> round(reg.score(X, y), 4)
    1.0
    """

    _parameter_constraints = {
        "head": [StrOptions(set(HEADS))],
        "filters": [StrOptions({"auto"}), tuple, list],
        "kernel_size": [
            StrOptions({"auto"}),
            # TensorFlow aborts the interpreter on convolutions of about 200
            # and more, whatever the image size.
            Interval(Integral, 1, _MAX_KERNEL_SIZE, closed="both"),
        ],
        "dense_units": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [
            StrOptions({"auto"}),
            Interval(Real, 0, None, closed="neither"),
        ],
        "epochs": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "image_shape": [tuple, list, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    _doc_link_module = "pixel_regressor"
    _doc_link_template = (
        "https://pixel-regressor.readthedocs.io/en/latest/api/generated/"
        "pixel_regressor.{estimator_name}.html"
    )

    def __init__(
        self,
        head="soft_argmax",
        *,
        filters="auto",
        kernel_size="auto",
        dense_units=64,
        learning_rate="auto",
        epochs="auto",
        batch_size="auto",
        validation_split=0.0,
        early_stopping=False,
        patience=5,
        callbacks=None,
        image_shape=None,
        verbose=0,
        random_state=None,
    ):
        self.head = head
        self.filters = filters
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.patience = patience
        self.callbacks = callbacks
        self.image_shape = image_shape
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        # Built for images; scikit-learn's generic regression data (a few
        # unrelated features) is not a task it can score well on.
        tags.regressor_tags.poor_score = True
        return tags

    # ------------------------------------------------------------------
    # configuration
    def _head(self):
        """The :class:`~pixel_regressor.models.HeadSpec` of ``head``."""
        return get_head(self.head)

    def _fitted_head(self):
        """The spec of the head ``model_`` was built with.

        ``set_params(head=...)`` after fitting changes ``head`` but not the
        model: predictions follow the model's own head.
        """
        return get_head(getattr(self, "_built_head", self.head))

    def _settings(self):
        """The parameters with every ``"auto"`` resolved for the head."""
        defaults = self._head().defaults
        settings = {"dense_units": self.dense_units}
        for name in ("filters", "kernel_size", "learning_rate", "epochs", "batch_size"):
            value = getattr(self, name)
            auto = isinstance(value, str) and value == "auto"
            settings[name] = defaults[name] if auto else value
        settings["filters"] = tuple(settings["filters"])
        return settings

    def _check_settings(self):
        """Validate the parameters, before any data is looked at.

        Returns the checked ``image_shape`` (a tuple, or None).
        """
        self._validate_params()
        head = self._head()
        filters = self._settings()["filters"]
        if any(
            isinstance(f, bool) or not isinstance(f, Integral) or f < 1 for f in filters
        ):
            raise ValueError(
                "filters must be 'auto' or a sequence of positive ints, got "
                f"{filters!r}."
            )
        if len(filters) < head.min_filters:
            raise ValueError(
                f"head={head.name!r} needs at least {head.min_filters} "
                f"convolution(s) in filters, got {filters!r}."
            )
        return check_image_shape(self.image_shape, allow_none=True, allow_inferred=True)

    # ------------------------------------------------------------------
    # input validation
    def _validate_X_y(self, X, y, *, reset, image_shape=None):
        """Validate training ``X`` and ``y``; return images (n, h, w, 1) and y.

        With ``reset`` (a new model), reads flattened ``X`` with
        ``image_shape`` (as :meth:`_check_settings` returned it), sets
        ``n_features_in_``,
        ``image_shape_``, ``n_outputs_`` and, for a DataFrame,
        ``feature_names_in_``. Otherwise checks ``X`` and ``y`` against them.
        ``y`` comes back 2-D, float32.
        """
        if not reset:
            head = self._fitted_head()
            if head.name != self.head:
                raise ValueError(
                    f"head={self.head!r}, but the model was built with head="
                    f"{head.name!r}: call fit to build a new model."
                )
            images = self._checked_images(X)
            if tuple(images.shape[1:3]) != self.image_shape_:
                height, width = images.shape[1:3]
                raise ValueError(
                    f"X holds {height}x{width} images, but the model was trained "
                    f"on {self.image_shape_[0]}x{self.image_shape_[1]} images; "
                    "training continues on that size only (predict takes other "
                    "sizes where the head does)."
                )
            return images, self._checked_targets(y, len(images), reset=False)
        # y=None raises scikit-learn's "requires y" error: the target is required.
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, **_CHECK_X_PARAMS
        )
        images = images_from_array(X, image_shape)
        height, width = images.shape[1:3]
        self.n_features_in_ = height * width
        self.image_shape_ = (height, width)
        settings = self._settings()
        head = self._head()
        minimum = head.min_image_size(settings["filters"], settings["kernel_size"])
        if settings["kernel_size"] > max(height, width):
            raise ValueError(
                f"kernel_size={settings['kernel_size']} is larger than the "
                f"{height}x{width} training images: use at most {max(height, width)}."
            )
        if min(height, width) < minimum:
            raise ValueError(
                f"Images of shape {(height, width)} are too small for head="
                f"{head.name!r} with these filters and kernel_size: it needs at "
                f"least {minimum}x{minimum} pixels. Heads that take any size: "
                f"{[h for h, spec in HEADS.items() if spec.min_image_size() == 1]}."
            )
        return images, self._checked_targets(y, len(images), reset=True)

    def _checked_targets(self, y, n_samples, *, reset, name="y"):
        """Check ``y`` (1-D or 2-D, numeric, finite); return it 2-D, float32.

        With ``reset``, records whether it is 1-D and its number of columns;
        otherwise it must match them.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name=name)
        if y.ndim > 2:
            raise ValueError(f"{name} must be 1-D or 2-D, got shape {y.shape}.")
        n_columns = 1 if y.ndim == 1 else y.shape[1]
        if reset:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = n_columns
        elif (y.ndim == 1) != self._y_1d or n_columns != self.n_outputs_:
            expected = "1-D targets" if self._y_1d else f"{self.n_outputs_} column(s)"
            raise ValueError(
                f"{name} has shape {y.shape}, but this estimator was fitted on "
                f"{expected}."
            )
        if len(y) != n_samples:
            raise ValueError(
                f"X and {name} have different numbers of samples: {n_samples} and "
                f"{len(y)}."
            )
        return y.reshape(len(y), -1).astype(np.float32)

    def _checked_images(self, X, *, finite=True):
        """Validate ``X`` against the fitted shape; return images (n, h, w, 1).

        Flattened input must have ``n_features_in_`` features and is read with
        the fitted image shape; 3-D/4-D images may have another size if the
        head takes any size. ``finite=False`` leaves the check for NaN and
        infinite values to the caller.
        """
        params = {**_CHECK_X_PARAMS, "ensure_all_finite": finite}
        X = validate_data(self, X, reset=False, **params)
        if X.ndim == 2 and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        images = images_from_array(X, self.image_shape_ if X.ndim == 2 else None)
        head = self._fitted_head()
        if not head.any_image_size and tuple(images.shape[1:3]) != self.image_shape_:
            others = [h for h, spec in HEADS.items() if spec.any_image_size]
            height, width = images.shape[1:3]
            raise ValueError(
                f"X holds {height}x{width} images, but this head={head.name!r} "
                f"model was fitted on {self.image_shape_[0]}x{self.image_shape_[1]} "
                f"images and takes only that size. Heads that take any size: "
                f"{others}."
            )
        return images

    def _images_for_predict(self, X):
        check_is_fitted(self)
        # NaN and infinite values are refused batch by batch, from the
        # minimum and maximum of each image that the conversion to float32
        # computes anyway (see _inference.as_float32): one pass over the
        # images fewer.
        return self._checked_images(X, finite=False)

    def _training_data(
        self, X, y, sample_weight, validation_data, *, reset, seed, image_shape
    ):
        """Validate one training call's input, arrays or a ``PyDataset``."""
        if is_keras_dataset(X):
            if y is not None or sample_weight is not None:
                raise ValueError(
                    "When X is a keras.utils.PyDataset, it yields the targets (and "
                    "any weights) itself: y and sample_weight must be None."
                )
            if reset and self.validation_split and validation_data is None:
                raise ValueError(
                    f"validation_split={self.validation_split} cannot split a "
                    "PyDataset: give fit validation_data=(X_val, y_val) instead."
                )
            first = X[0]
            if not isinstance(first, tuple) or len(first) != 2:
                raise ValueError(
                    "A PyDataset given to fit must yield (images, targets) batches."
                )
            images, targets = self._validate_X_y(
                *first, reset=reset, image_shape=image_shape
            )
            return _TrainingData(
                images,
                targets,
                dataset=X,
                validation=self._validation(validation_data),
            )
        images, targets = self._validate_X_y(X, y, reset=reset, image_shape=image_shape)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, images, dtype=np.float64, ensure_non_negative=True
            )
        validation = self._validation(validation_data)
        if validation is None and reset and self.validation_split:
            train, val = self._split_validation(len(images), seed)
            validation = (images[val], targets[val])
            images, targets = images[train], targets[train]
            if sample_weight is not None:
                sample_weight = sample_weight[train]
        return _TrainingData(images, targets, sample_weight, validation=validation)

    def _validation(self, validation_data):
        """``validation_data`` checked against the fitted shapes (converted to
        float32 in :meth:`_train`, as the model needs)."""
        if validation_data is None:
            return None
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (X_val, y_val).") from None
        images = self._checked_images(X_val)
        targets = self._checked_targets(
            y_val, len(images), reset=False, name="validation_data's y"
        )
        return images, targets

    def _split_validation(self, n_samples, seed):
        """Indices of a random training / validation split."""
        n_val = int(round(self.validation_split * n_samples))
        if n_val < 1 or n_val >= n_samples:
            raise ValueError(
                f"validation_split={self.validation_split} leaves no sample for "
                f"{'validation' if n_val < 1 else 'training'} out of {n_samples}."
            )
        order = check_random_state(seed).permutation(n_samples)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    # ------------------------------------------------------------------
    # the training funnel: fit, partial_fit and PyDatasets all come here
    def _fit(self, X, y, sample_weight, validation_data, *, reset, partial):
        """Validate, initialise the model if ``reset``, then train.

        ``partial`` trains one epoch (``partial_fit``); otherwise the resolved
        ``epochs`` parameter (``fit``).
        """
        image_shape = self._check_settings() if reset else None
        seed = derive_seed(self.random_state) if reset else None
        data = self._training_data(
            X,
            y,
            sample_weight,
            validation_data,
            reset=reset,
            seed=seed,
            image_shape=image_shape,
        )
        start = time.perf_counter()
        # A failed call on a fitted model leaves it as it was; a failed first
        # fit (or any fit, which starts anew) leaves the estimator unfitted.
        snapshot = None if reset else _Snapshot(self)
        try:
            # A head whose model of the images does not hold refuses them
            # before training (head="spot_fit": spots that are not Gaussians).
            check = self._head().check_images
            if check is not None:
                check(data.images)
            with _seeded(seed):
                if reset:
                    # fit trains a known number of epochs; partial_fit is
                    # open-ended.
                    epochs = None if partial else self._settings()["epochs"]
                    self._initialize(data, seed, epochs)
                self._train(data, seed, partial=partial, continues=not reset)
            if self._fitted_head().predicts_std:
                self._calibrate(data, partial=partial)
        except BaseException:
            if snapshot is None:
                self._forget_fit()
            else:
                snapshot.restore(self)
            raise
        self.fit_time_ = time.perf_counter() - start
        return self

    def _calibrate(self, data, *, partial):
        """Fit the deviations' calibration (:meth:`_fit_std`) after training.

        A fit's on (at most :data:`_CALIBRATION_IMAGES` of) its training
        images. partial_fit's on the most recent training images of this
        and earlier calls (:class:`_RecentImages`): a chunk of a few images
        cannot calibrate alone. After a load or a copy, whose recent images
        are not kept, the calibration in place is kept until
        :data:`_RECENT_MIN` new images have come.
        """
        images, targets = _calibration_sample(data, _CALIBRATION_IMAGES)
        if not partial:
            self._fit_std(images, targets)
            self._recent = _RecentImages(images, targets, len(images)).added(
                images[:0], targets[:0]
            )
            return
        recent = getattr(self, "_recent", None)
        if recent is None:
            calibrated = hasattr(self, "std_coefficients_")
            recent = _RecentImages(images[:0], targets[:0], _RECENT_MIN * calibrated)
        recent = recent.added(images, targets)
        if recent.needs_refit():
            self._fit_std(recent.images, recent.targets)
            recent = _RecentImages(recent.images, recent.targets, len(recent.images))
        self._recent = recent

    def _fit_std(self, images, targets):
        """Fit ``std_coefficients_`` to the errors on training ``images``
        (chosen by :meth:`_calibrate`) and their ``targets``."""
        from . import _uncertainty

        errors = self._predict_batch(images) - targets
        readout = self._readout_weights()
        stats, places = _uncertainty.statistics(images, return_places=True)
        if self._fitted_head().std == "fisher":
            variances = _uncertainty.output_variances(
                self._fit_covariance(images), readout
            )
            self.std_coefficients_ = _uncertainty.fit_fisher(variances, errors)
        else:
            self.std_coefficients_ = _uncertainty.fit(stats, errors)
        self.miss_odds_ = _uncertainty.fit_odds(places, errors, readout)
        from ._uncertainty import DETECTION_Z

        self.training_conditions_ = _conditions.summarize(
            _conditions.measure(images, stats, DETECTION_Z), self.image_shape_
        )

    def _miss_odds(self):
        """``miss_odds_``, or the matched filter's own for a model saved
        before they were fitted."""
        from . import _uncertainty

        return getattr(self, "miss_odds_", _uncertainty.MATCHED_FILTER_ODDS)

    def _readout_weights(self):
        """The ``(2, n_outputs)`` weights of the map from ``(row, col)`` to
        the targets (the spot heads' fixed read-out)."""
        return self.model_.get_layer("readout").get_weights()[0]

    def _fit_covariance(self, images):
        """The Gaussian fit's covariance of each ``(row, col)``, ``(n, 3)``
        (``head="spot_fit"``), computed as predictions are: a batch at a
        time, by a function compiled once per model and batch shape."""
        from . import _inference

        covariance = _COVARIANCE_MODELS.get(self.model_)
        if covariance is None:
            import keras

            fit = self.model_.get_layer("gaussian_fit")
            covariance = keras.Model(self.model_.input, fit.output[1])
            _COVARIANCE_MODELS[self.model_] = covariance
        return _inference.predict(covariance, images, 3)

    def _initialize(self, data, seed, epochs):
        """Build a new model and the scikeras ``KerasRegressor`` around it.

        ``epochs`` is how many epochs the model will be trained for (None for
        open-ended training), for heads that schedule their learning rate.
        """
        if data.dataset is not None:
            steps_per_epoch = len(data.dataset)
        else:
            steps_per_epoch = -(-len(data.images) // self._settings()["batch_size"])
        model = self._head().build(
            self.image_shape_,
            self.n_outputs_,
            self._settings(),
            images=data.images,
            targets=data.targets,
            sample_weight=data.sample_weight,
            steps=None if epochs is None else epochs * steps_per_epoch,
            seed=seed,
        )
        monitor = "loss" if data.validation is None else "val_loss"
        self._set_keras_regressor(model, monitor)
        self._built_head = self.head
        self.history_ = {}
        self.n_iter_ = 0

    def _set_keras_regressor(self, model, monitor, history=None):
        """Wrap ``model`` in a ``KerasRegressor``, ready to train or predict.

        The model is built beforehand (not by a function scikeras calls) so
        that the wrapper holds no reference to the training data. The wrapper
        is an :class:`~pixel_regressor._keras_regressor.ImageKerasRegressor`:
        scikeras's, fed one batch at a time.
        """
        from ._keras_regressor import ImageKerasRegressor

        settings = self._settings()
        regressor = ImageKerasRegressor(
            model=model,
            batch_size=settings["batch_size"],
            epochs=settings["epochs"],
            callbacks=self._callbacks(monitor),
            verbose=self.verbose,
            shuffle=True,
            random_state=None,  # seeded by _seeded, see its docstring
            warm_start=True,  # fit trains the model built by _initialize
        )
        # scikeras learns the input and target layout from a sample; one
        # image is enough, and the whole set would be validated twice.
        sample = np.zeros((1, *self.image_shape_, 1), dtype=np.float32)
        targets = np.zeros((1, self.n_outputs_), dtype=np.float32)
        regressor.initialize(sample, targets.ravel() if self._y_1d else targets)
        if history:
            regressor.history_ = _scikeras_history(history)
        self.keras_regressor_ = regressor
        self.model_ = regressor.model_

    def _train(self, data, seed=None, *, partial, continues=False):
        """Train through the scikeras wrapper; extend ``history_``.

        ``continues``: the model was fitted before this call (a diverged
        loss then keeps it, see :meth:`_fit`).

        ``keras_regressor_.fit`` (its ``epochs``) starts the history anew,
        ``keras_regressor_.partial_fit`` (one epoch) continues it. Arrays
        go to Keras batch by batch (:class:`~._batches.ArrayBatches`,
        shuffled each epoch from ``seed``), like a ``PyDataset``: Keras's own
        conversion of arrays would copy the whole training set.
        """
        from ._batches import one_trace_per_model

        regressor = self.keras_regressor_
        start_epoch = regressor.current_epoch
        if data.dataset is not None:
            X, y, kwargs = data.dataset, None, {}
        else:
            X, y = data.images, data.targets
            kwargs = {"shuffle_seed": self._shuffle_seed(seed)}
        validation = data.validation
        if validation is not None:
            counts = needs_counts(self.model_)
            validation = (as_float32(validation[0], counts=counts), validation[1])
        train = regressor.partial_fit if partial else regressor.fit
        with one_trace_per_model():
            train(X, y, data.sample_weight, validation_data=validation, **kwargs)
        self.history_ = _history_from(regressor.history_)
        self.n_iter_ = len(self.history_.get("loss", ()))
        finite = np.isfinite(self.history_.get("loss", [])[start_epoch:])
        if not finite.all():
            epoch = start_epoch + int(np.argmin(finite)) + 1
            # _fit puts the model back, or forgets it, as the message says.
            outcome = (
                "The estimator is left unfitted"
                if not continues
                else "The estimator keeps the model it had before this call"
            )
            raise ValueError(
                f"Training diverged: the loss became NaN or infinite at epoch "
                f"{epoch}. {outcome}; try a smaller learning_rate (or smaller "
                "sample weights)."
            )

    def _forget_fit(self):
        """Drop every fitted attribute: the estimator is unfitted again."""
        private_state = ("_y_1d", "_built_head", "_recent")
        for name in list(vars(self)):
            public_fitted = name.endswith("_") and not name.startswith("__")
            if public_fitted or name in private_state:
                delattr(self, name)

    def _shuffle_seed(self, seed):
        """Seed of the batch order: ``seed``, or one derived for ``partial_fit``.

        A later ``partial_fit`` call of an estimator with an int
        ``random_state`` draws its order from that and the optimizer's step
        count, so a seeded sequence of calls is reproducible.
        """
        if seed is not None:
            return seed
        if isinstance(self.random_state, Integral):
            steps = int(self.model_.optimizer.iterations)
            return chunk_generator(int(self.random_state), steps)
        return None

    def _callbacks(self, monitor):
        import keras

        # A diverged loss ends training at once; _train reports it.
        callbacks = [*(self.callbacks or []), keras.callbacks.TerminateOnNaN()]
        if self.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=monitor,
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        return callbacks

    # ------------------------------------------------------------------
    # public API
    def fit(self, X, y=None, sample_weight=None, *, validation_data=None):
        """Build the Keras model and train it on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height * width), \
                (n_samples, height, width) or (n_samples, height, width, 1), \
                or keras.utils.PyDataset
            Training images, flattened or not, in any real dtype and scale.
            Or a Keras ``PyDataset`` yielding ``(images, targets)`` batches,
            such as :class:`BrightPixelSequence`, to train without holding the
            data in memory (``y`` is then None).

        y : array-like of shape (n_samples, 2), (n_samples,) or \
                (n_samples, n_outputs)
            Targets: the ``(row, col)`` of each bright pixel, or any finite
            numeric target. Required, except when ``X`` is a ``PyDataset``.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample in the loss.

        validation_data : tuple of (X_val, y_val), default=None
            Data on which to compute the validation loss after each epoch
            (``val_loss`` and ``val_mae`` in ``history_``). Overrides
            ``validation_split``.

        Returns
        -------
        self : BrightPixelRegressor
            The fitted estimator.
        """
        return self._fit(
            X, y, sample_weight, validation_data, reset=True, partial=False
        )

    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch on ``(X, y)``, keeping the weights between calls.

        The first call builds the model and fixes the image shape; later calls
        must give images of that shape (flattened or not) and targets with the
        same number of columns. ``random_state`` seeds the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, height * width), \
                (n_samples, height, width) or (n_samples, height, width, 1)
            A chunk of training images.

        y : array-like of shape (n_samples, 2), (n_samples,) or \
                (n_samples, n_outputs)
            Its targets.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        self : BrightPixelRegressor
            The estimator, trained one epoch more.
        """
        reset = not hasattr(self, "model_")
        return self._fit(X, y, sample_weight, None, reset=reset, partial=True)

    def predict(self, X, return_std=False):
        """Predict the target (by default the bright pixel's ``(row, col)``).

        Images are fed to the Keras model in batches, converted to float32
        batch by batch, so a large (or memory-mapped) ``X`` is never copied
        whole. The default head (one ``1x1`` heatmap, brighter pixels
        scoring higher) is computed where its output comes from: each
        image's brightest pixel, found by ``np.argmax``, and its neighbours,
        with the model's weights; the same output as the Keras model's, to
        float32 rounding, several times faster.

        Parameters
        ----------
        X : array-like of shape (n_samples, height * width), \
                (n_samples, height, width) or (n_samples, height, width, 1)
            Images, flattened or not. Heads that take any image size (the
            soft-argmax head) take 3-D or 4-D images of any size.

        return_std : bool, default=False
            Also return each prediction's standard deviation (the spot heads
            only): per image and per output, for ``head="spot"`` from the
            image's own signal, background noise and spot width (the form of
            the Cramer-Rao bound, see :func:`localization_crlb`), for
            ``head="spot_fit"`` from the Gaussian fit's Fisher information,
            either scaled to the errors the model made on its training
            images (``std_coefficients_``), and widened where a blob of
            noise elsewhere in the image may be the spot instead (a faint
            spot's gross miss), by the odds of each (``miss_odds_``, see the
            user guide).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions as float64, 1-D when the model was fitted on a 1-D
            ``y``.

        y_std : ndarray of the shape of ``y_pred``
            The standard deviations, in the targets' units. Returned only
            with ``return_std=True``.

        See Also
        --------
        SpotLocator : Every spot of whole camera frames (one position per
            image here: a frame of many spots gives one).
        """
        validate_parameter_constraints(
            {"return_std": ["boolean"]},
            {"return_std": return_std},
            caller_name=f"{type(self).__name__}.predict",
        )
        images = self._images_for_predict(X)
        if return_std and not self._fitted_head().predicts_std:
            heads = [h for h, spec in HEADS.items() if spec.predicts_std]
            raise ValueError(
                f"return_std=True needs a head that predicts standard deviations "
                f"({heads}); this model has head={self._fitted_head().name!r}."
            )
        if return_std and not hasattr(self, "std_coefficients_"):
            raise ValueError(
                "return_std=True: this model has no fitted standard deviations "
                "(it was saved by an earlier version); one partial_fit call "
                "fits them."
            )
        if needs_counts(self.model_):
            _warn_if_not_counts(images)
        y_pred = self.keras_regressor_.predict(images)
        if not return_std:
            if self._fitted_head().predicts_std:
                self._warn_outside_training(images)
            return y_pred
        from . import _uncertainty

        covariance = None
        if self._fitted_head().std == "fisher":
            covariance = self._fit_covariance(images)
        stats = _uncertainty.statistics(
            images, self._miss_odds(), detection=self._detection()
        )
        self._warn_outside_training(images, stats)
        std = _uncertainty.predict(
            stats, self.std_coefficients_, self._readout_weights(), covariance
        )
        return y_pred, std.ravel() if self._y_1d else std

    def _detection(self):
        """The significance below which an image has no spot above the noise
        (``training_conditions_``), or None for a model saved before the
        conditions were recorded: every image then has a spot."""
        conditions = getattr(self, "training_conditions_", None)
        return None if conditions is None else conditions["detection_z"]

    def _warn_outside_training(self, images, stats=None):
        """Warn of images outside ``training_conditions_`` (the spot heads).

        With their ``stats`` (``return_std``), all images are checked;
        without, at most :data:`_CONDITIONS_SAMPLE` of them, evenly spaced.
        A model saved before the conditions were recorded is not checked.
        """
        conditions = getattr(self, "training_conditions_", None)
        if conditions is None or not len(images):
            return
        if stats is None:
            from . import _uncertainty

            rows = np.arange(len(images))
            if len(rows) > _CONDITIONS_SAMPLE:
                rows = np.linspace(0, len(rows) - 1, _CONDITIONS_SAMPLE).astype(int)
                rows = np.unique(rows)
            images = images[rows]
            stats = _uncertainty.statistics(
                images, self._miss_odds(), detection=self._detection()
            )
        _conditions.warn(
            conditions,
            _conditions.measure(images, stats, self._detection()),
            self._fitted_head().std,
            len(images),
            stacklevel=4,
        )

    def _predict_batch(self, images, *, path="auto"):
        """Run the model on ``images`` (n, h, w, 1); float64 (n, n_outputs).

        Batches of a size set by the image size (a few MiB each) go through
        a function compiled once per model and batch shape; see
        :mod:`pixel_regressor._inference`. Every image is computed in a batch
        of the same shape (the last one padded with blank images), so its
        prediction does not depend on its neighbours or its position. A
        model with a per-pixel increasing heatmap is computed at its peak
        instead (``path="auto"``); ``path="compiled"`` and ``path="keras"``
        force the compiled function and Keras's ``predict_on_batch``.
        """
        return self.keras_regressor_._predict_raw(images, path=path)

    # ------------------------------------------------------------------
    # persistence
    def __getstate__(self):
        """The state to pickle: the Keras model as the bytes of its archive.

        Live Keras objects (``model_`` and ``keras_regressor_``) are replaced
        by the ``.keras`` archive of ``model_``, so that the state is plain
        data: pickle, joblib, :func:`copy.deepcopy` and ``skops.io`` all
        handle it. An unfitted estimator's state is its parameters.
        """
        state = dict(super().__getstate__())
        model = state.pop("model_", None)
        state.pop("keras_regressor_", None)
        state.pop("_recent", None)  # partial_fit's recent images: not kept
        if model is not None:
            state["_keras_archive"] = _persistence.keras_archive_bytes(model)
        return state

    def __setstate__(self, state):
        """Restore a pickled state; reload the model from its archive.

        The fitted state is checked as :func:`load_model` checks it (by
        :func:`~pixel_regressor._persistence.check_fitted_state`, then the
        model by :func:`~pixel_regressor._persistence.check_model_matches`):
        pickle, joblib, :func:`copy.deepcopy` and skops all come here. The
        archive is checked and loaded in Keras's safe mode, and
        ``keras_regressor_`` is rebuilt around it holding ``history_``, as
        after :func:`load_model`.
        """
        state = dict(state)
        archive = state.pop("_keras_archive", None)
        state.pop("_recent", None)
        super().__setstate__(state)
        if archive is None:
            fitted = sorted(
                k for k in state if k.endswith("_") and not k.startswith("__")
            )
            if fitted:
                raise ValueError(
                    f"The pickled estimator holds fitted attributes {fitted[:5]} "
                    "but no model."
                )
            return
        try:
            _persistence.check_fitted_state(self)
        except ValueError as exc:
            raise ValueError(f"The pickled estimator is not valid: {exc}") from None
        try:
            model = _persistence.load_keras_bytes(archive)
            _persistence.check_model_matches(self, model)
        except ValueError as exc:
            raise ValueError(
                f"The pickled Keras model could not be loaded: {exc}"
            ) from None
        history = self.history_
        self._set_keras_regressor(
            model, _persistence.monitor_of(history), history=history
        )

    def save(self, path):
        """Save the fitted estimator to the directory ``path``, all or nothing.

        Writes ``model.keras`` (the Keras model, loadable on its own with
        ``keras.saving.load_model`` after ``import pixel_regressor``) and
        ``estimator.json`` (parameters, fitted attributes and the SHA-256
        digest of ``model.keras``). Reload with
        :func:`pixel_regressor.load_model`.

        The directory is written under a temporary name beside ``path`` and
        renamed into place, replacing an earlier save there: readers see the
        earlier save or the new one, never a mix of the two, and an
        interrupted save leaves ``path`` as it was (temporaries of a killed
        process are removed by the next save beside it).

        Parameters
        ----------
        path : str or path-like
            Directory to write; its parent is created if needed. If it
            exists, it must be empty or an earlier save (holding nothing but
            ``model.keras`` and ``estimator.json``). A directory that cannot
            be renamed (a mount point, the current directory, or one in a
            directory you cannot write) has its two files replaced instead,
            ``estimator.json`` last; the digest then still tells a mix of two
            saves.

        Returns
        -------
        path : pathlib.Path
            The directory written.

        Raises
        ------
        ValueError
            If ``path`` exists and holds other files than a save.
        """
        check_is_fitted(self)
        directory = Path(os.path.abspath(path))
        directory.parent.mkdir(parents=True, exist_ok=True)
        _check_save_target(directory)
        with atomic_directory(
            directory, may_replace=_check_save_target, last=_META_FILE
        ) as tmp:
            model_file = tmp / _MODEL_FILE
            self.model_.save(model_file)
            meta = _persistence.metadata(self, sha256_of(model_file))
            (tmp / _META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return Path(path)


def _check_save_target(directory):
    """Refuse to replace a directory that holds more than a save."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ValueError(f"{directory} exists and is not a directory.")
    others = sorted(
        p.name for p in visible_entries(directory) if p.name not in _SAVED_FILES
    )
    if others:
        raise ValueError(
            f"{directory} holds other files than a saved estimator ({others[:5]}); "
            "save into an empty or new directory, or an earlier save."
        )


def load_model(path):
    """Load an estimator saved by :meth:`BrightPixelRegressor.save`.

    Nothing read is trusted. ``estimator.json`` is parsed with limits on its
    size and nesting; its format version, and the type and range of every
    field, are checked, the parameters through the estimator's own
    validation. ``model.keras`` must have the SHA-256 digest recorded in
    ``estimator.json`` (a model from another save is refused); its zip
    members' sizes are checked before anything is decompressed; it is loaded
    in Keras's safe mode (no code from the file is run), and the model's
    input and output shapes must agree with the metadata.

    Parameters
    ----------
    path : str or path-like
        The directory given to ``save``.

    Returns
    -------
    estimator : BrightPixelRegressor
        A fitted estimator that predicts like the saved one. It can be
        trained further with ``partial_fit``.

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
    >>> from pixel_regressor import (
    ...     BrightPixelRegressor, load_model, make_bright_pixel_dataset)
    >>> X, y = make_bright_pixel_dataset(200, image_size=12, random_state=0)
    >>> reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = reg.save(tmp)
    ...     again = load_model(tmp)
    >>> bool((again.predict(X) == reg.predict(X)).all())
    True
    """
    directory = Path(path)
    meta_file, model_file = directory / _META_FILE, directory / _MODEL_FILE
    for file in (meta_file, model_file):
        if not file.is_file():
            raise FileNotFoundError(
                f"{file} not found: {directory} is not a directory written by "
                "BrightPixelRegressor.save."
            )
    try:
        meta = _persistence.read_metadata(meta_file)
        estimator = _persistence.estimator_from_metadata(BrightPixelRegressor, meta)
    except RecursionError:
        raise ValueError(f"{meta_file} is corrupt: it is nested too deeply.") from None
    except ValueError as exc:
        raise ValueError(
            f"{meta_file} is corrupt or not an estimator file: {exc}"
        ) from None
    expected = meta.get("model_sha256")
    try:
        _persistence.check_keras_archive(model_file)
        if expected is not None and sha256_of(model_file) != expected:
            raise ValueError(
                f"its SHA-256 digest differs from the one recorded in {_META_FILE} "
                "(the files come from different saves, or the model was corrupted "
                "or modified)"
            )
        model = _persistence.load_keras_archive(model_file)
        _persistence.check_model_matches(estimator, model)
    except ValueError as exc:
        raise ValueError(f"{model_file} could not be loaded: {exc}") from None
    # The same scikeras wrapper as after fit, holding the saved history, so
    # that partial_fit continues it.
    history = estimator.history_
    estimator._set_keras_regressor(
        model, _persistence.monitor_of(history), history=history
    )
    estimator._built_head = estimator.head
    return estimator


def skops_trusted_types():
    """The types to trust when loading a fitted estimator saved by skops.

    skops (and MLflow's default ``skops`` format for
    :func:`mlflow.sklearn.log_model`) loads only the types it trusts by
    default, scikit-learn's and NumPy's among them, and those its caller
    names; it has no way for a package to add its own. A saved
    :class:`BrightPixelRegressor` holds one other type, itself (its Keras
    model is stored as the bytes of its ``.keras`` archive, which is loaded
    in Keras's safe mode and checked). Pass this list wherever skops asks
    for trusted types.

    Returns
    -------
    types : list of str
        The fully qualified names of the types to trust, a new list each
        call.

    See Also
    --------
    BrightPixelRegressor.save : The package's own format, which needs none.

    Examples
    --------
    >>> from pixel_regressor import skops_trusted_types
    >>> skops_trusted_types()
    ['pixel_regressor.estimator.BrightPixelRegressor']

    With skops, ``skops.io.load(file, trusted=skops_trusted_types())``;
    with MLflow::

        mlflow.sklearn.log_model(
            model, name="bright-pixel", skops_trusted_types=skops_trusted_types()
        )
    """
    cls = BrightPixelRegressor
    return [f"{cls.__module__}.{cls.__qualname__}"]
