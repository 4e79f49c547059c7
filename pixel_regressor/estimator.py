"""`BrightPixelRegressor`: the scikit-learn face of the Keras models.

The estimator owns a scikeras ``KerasRegressor`` as a fitted attribute
(composition) rather than subclassing it: scikeras 0.13 declares its tags
the pre-1.6 way and puts ``RegressorMixin`` on the wrong side of the MRO, so a
subclass is not a regressor to scikit-learn 1.6+ and cannot fix its mixin
order. Here the mixin order, the tags, the input validation and the random
state are ours; scikeras builds and trains the Keras model.
"""

import contextlib
import functools
import json
import random
import time
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import __version__
from ._io import atomic_path
from ._validation import check_image_shape_param, images_from_array
from .models import (
    DENSE_DEFAULTS,
    SOFT_ARGMAX_DEFAULTS,
    min_image_size,
)

__all__ = ["BrightPixelRegressor", "load_model"]

# Defaults of the "auto" parameters, by head. The soft-argmax head is exact
# after a few epochs of large batches; the dense head is the notebook's setup.
_HEAD_DEFAULTS = {
    "soft_argmax": {**SOFT_ARGMAX_DEFAULTS, "epochs": 2, "batch_size": 256},
    "dense": {**DENSE_DEFAULTS, "epochs": 20, "batch_size": 64},
}
# Images per call of the compiled prediction function: large enough to hide
# the per-call overhead, small enough to stay in cache.
_PREDICT_BATCH = 1024
_SMALL_PREDICT_BATCH = 32
_CHECK_X_PARAMS = {
    "accept_sparse": False,
    "ensure_2d": False,  # images are 3-D or 4-D; 1-D is refused below
    "allow_nd": True,
    "dtype": "numeric",
    "ensure_all_finite": True,
}
_MODEL_FILE = "model.keras"
_META_FILE = "estimator.json"


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


def _argmax_coordinates(images):
    """``(row, col)`` of the brightest pixel of each image, as float64."""
    n, height, width = images.shape[:3]
    flat = np.argmax(images.reshape(n, height * width), axis=1)
    return np.column_stack(np.divmod(flat, width)).astype(np.float64)


def _is_keras_dataset(X):
    """True for a ``keras.utils.PyDataset``, without importing Keras."""
    return any(
        cls.__name__ == "PyDataset" and cls.__module__.startswith("keras")
        for cls in type(X).__mro__
    )


def _least_squares_readout(images, y, sample_weight, *, n_trims=4):
    """Affine map from each image's brightest ``(row, col)`` to ``y``.

    Sets the soft-argmax head's fixed read-out: for ``(row, col)`` targets it
    is the identity, for rescaled or permuted targets the matching affine map.

    On noisy images ``np.argmax`` sometimes lands on a background pixel; those
    samples are outliers of an otherwise exact linear relation, and a plain
    least-squares fit would shrink the map towards the image centre. So the
    fit is trimmed: refitted on the samples whose residual is at most three
    times the median residual, a few times over. When the brightest pixels do
    not vary (for instance on inverted images), the map falls back to the
    identity for two targets (taken as ``(row, col)``) and to the targets'
    mean otherwise.
    """
    n_outputs = y.shape[1]
    coordinates = _argmax_coordinates(images)
    weights = np.ones(len(y)) if sample_weight is None else sample_weight
    design = np.column_stack([coordinates, np.ones(len(y))])
    if not np.ptp(coordinates[weights > 0], axis=0).any():
        if n_outputs == 2:
            return np.eye(2), np.zeros(2)
        mean = np.average(y, axis=0, weights=weights if weights.any() else None)
        return np.zeros((2, n_outputs)), mean

    def fit(keep):
        root = np.sqrt(weights[keep])[:, np.newaxis]
        return np.linalg.lstsq(design[keep] * root, y[keep] * root, rcond=None)[0]

    keep = weights > 0
    solution = fit(keep)
    for _ in range(n_trims):
        residual = np.linalg.norm(design @ solution - y, axis=1)
        limit = 3 * np.median(residual[weights > 0])
        trimmed = (weights > 0) & (residual <= limit)
        if trimmed.sum() < 3 or np.array_equal(trimmed, keep):
            break
        if not np.ptp(coordinates[trimmed], axis=0).any():
            break
        keep, solution = trimmed, fit(trimmed)
    return solution[:2], solution[2]


class BrightPixelRegressor(RegressorMixin, BaseEstimator):
    """Find the one bright pixel in grayscale images: a Keras CNN for scikit-learn.

    A scikit-learn regressor whose Keras model is built and trained through
    scikeras. It learns to map an image to the ``(row, col)`` of its bright
    pixel (or to any numeric target derived from it) and works everywhere
    scikit-learn expects a regressor: pipelines, grid searches, cross
    validation, ensembles.

    Two heads are available:

    - ``"soft_argmax"`` (default): fully convolutional. Convolutions score
      every pixel, a softmax over all pixels with a learnt temperature gives a
      probability map, and its expected ``(row, col)`` feeds a linear read-out
      to the target's columns. With the defaults it has 9 weights, is exact
      after two epochs, predicts positions never seen in training and
      images of any size.
    - ``"dense"``: the original notebook's CNN (Conv-Pool-Conv-Pool-Flatten-
      Dense(64)-Dense), 252,802 weights at 50x50. Its Flatten-Dense head ties
      it to the training image size and generalises poorly to unseen
      positions.

    Parameters
    ----------
    head : {"soft_argmax", "dense"}, default="soft_argmax"
        The network.

    filters : "auto" or tuple of int, default="auto"
        Widths of the convolutions: for ``"soft_argmax"`` the hidden
        convolutions before the one-channel heatmap (``"auto"``: none); for
        ``"dense"`` the Conv-Pool blocks (``"auto"``: ``(16, 32)``).

    kernel_size : "auto" or int, default="auto"
        Kernel size of every convolution (``"auto"``: 1 for
        ``"soft_argmax"``, 3 for ``"dense"``).

    dense_units : int, default=64
        Width of the hidden dense layer of the ``"dense"`` head.

    learning_rate : "auto" or float, default="auto"
        Adam's learning rate (``"auto"``: 0.1 for ``"soft_argmax"``, 0.001 for
        ``"dense"``).

    epochs : "auto" or int, default="auto"
        Passes over the training data (``"auto"``: 2 for ``"soft_argmax"``,
        20 for ``"dense"``).

    batch_size : "auto" or int, default="auto"
        Training batch size (``"auto"``: 256 for ``"soft_argmax"``, 64 for
        ``"dense"``).

    validation_split : float, default=0.0
        Fraction of the training data, drawn at random (from
        ``random_state``), held out to compute the validation loss each
        epoch. Ignored when ``fit`` is given ``validation_data``.

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
        The scikeras estimator that built and trained ``model_`` (None for an
        estimator rebuilt by :func:`load_model`).

    history_ : dict of str to list of float
        Per-epoch training metrics: ``loss`` (mean squared error), ``mae``
        and, with validation data, ``val_loss`` and ``val_mae``.

    n_iter_ : int
        Number of epochs run (fewer than ``epochs`` after early stopping).

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

    See Also
    --------
    make_bright_pixel_dataset : Generate images to train on.
    pixel_regressor.metrics.exact_pixel_accuracy : Share of exact predictions.

    Notes
    -----
    Normalisation is part of the model: each image is rescaled by its own
    minimum and maximum, so predictions do not depend on the intensity scale
    (uint8 0-255 and floats 0-1 give the same answers). An image with no
    bright pixel (constant, e.g. all zeros) has no answer; the soft-argmax
    head then returns the image centre, ``((height - 1) / 2, (width - 1) /
    2)`` mapped through its read-out, and the dense head an arbitrary point.

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
        "head": [StrOptions({"soft_argmax", "dense"})],
        "filters": [StrOptions({"auto"}), tuple, list],
        "kernel_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
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
    def _setting(self, name):
        """The value of an ``"auto"``-able parameter, resolved for the head."""
        value = getattr(self, name)
        if isinstance(value, str) and value == "auto":
            return _HEAD_DEFAULTS[self.head][name]
        return value

    def _check_settings(self):
        self._validate_params()
        filters = self._setting("filters")
        if any(
            isinstance(f, bool) or not isinstance(f, Integral) or f < 1 for f in filters
        ):
            raise ValueError(
                "filters must be 'auto' or a sequence of positive ints, got "
                f"{filters!r}."
            )
        if self.head == "dense" and not filters:
            raise ValueError("head='dense' needs at least one convolution in filters.")
        check_image_shape_param(self.image_shape)

    # ------------------------------------------------------------------
    # input validation
    def _validate_X_y(self, X, y):
        """Validate training ``X`` and ``y``; return images (n, h, w, 1) and y.

        Sets ``n_features_in_``, ``image_shape_`` and, for a DataFrame,
        ``feature_names_in_``.
        """
        # y=None raises scikit-learn's "requires y" error: the target is required.
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, **_CHECK_X_PARAMS
        )
        images = images_from_array(X, check_image_shape_param(self.image_shape))
        height, width = images.shape[1:3]
        self.n_features_in_ = height * width
        self.image_shape_ = (height, width)
        minimum = min_image_size(
            self.head, self._setting("filters"), self._setting("kernel_size")
        )
        if min(height, width) < minimum:
            raise ValueError(
                f"Images of shape {(height, width)} are too small for head="
                f"{self.head!r} with these filters and kernel_size: it needs at "
                f"least {minimum}x{minimum} pixels. Use head='soft_argmax', which "
                "takes any size."
            )
        return images, y

    def _checked_images(self, X):
        """Validate ``X`` against the fitted shape; return images (n, h, w, 1).

        Flattened input must have ``n_features_in_`` features and is read with
        the fitted image shape; 3-D/4-D images may have another size, except
        for the dense head.
        """
        X = validate_data(self, X, reset=False, **_CHECK_X_PARAMS)
        if X.ndim == 2 and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        images = images_from_array(X, self.image_shape_ if X.ndim == 2 else None)
        if self.head == "dense" and tuple(images.shape[1:3]) != self.image_shape_:
            raise ValueError(
                f"X holds images of shape {images.shape[1:3]}, but this "
                f"head='dense' model was fitted on {self.image_shape_} images and "
                "only takes that size. The soft-argmax head takes any size."
            )
        return images

    def _images_for_predict(self, X):
        check_is_fitted(self)
        return self._checked_images(X)

    # ------------------------------------------------------------------
    # model building
    def _derive_seed(self):
        if self.random_state is None:
            return None
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def _build_function(self, images, y, sample_weight, seed):
        from .models import build_dense_model, build_soft_argmax_model

        n_outputs = y.shape[1]
        if self.head == "dense":
            return functools.partial(
                build_dense_model,
                self.image_shape_,
                n_outputs,
                filters=tuple(self._setting("filters")),
                kernel_size=self._setting("kernel_size"),
                dense_units=self.dense_units,
                learning_rate=float(self._setting("learning_rate")),
                seed=seed,
            )
        return functools.partial(
            build_soft_argmax_model,
            (None, None),
            n_outputs,
            filters=tuple(self._setting("filters")),
            kernel_size=self._setting("kernel_size"),
            learning_rate=float(self._setting("learning_rate")),
            readout=_least_squares_readout(images, y, sample_weight),
            seed=seed,
        )

    def _callbacks(self, monitor):
        import keras

        callbacks = list(self.callbacks or [])
        if self.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=monitor,
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        return callbacks

    def _split_validation(self, n_samples, seed):
        """Indices of a random training / validation split."""
        if self.validation_split == 0:
            return None, None
        n_val = int(round(self.validation_split * n_samples))
        if n_val < 1 or n_val >= n_samples:
            raise ValueError(
                f"validation_split={self.validation_split} leaves no sample for "
                f"{'validation' if n_val < 1 else 'training'} out of {n_samples}."
            )
        generator = (
            np.random.RandomState(seed) if seed is not None else np.random.default_rng()
        )
        order = generator.permutation(n_samples)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

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
        if _is_keras_dataset(X):
            return self._fit_dataset(X, y, sample_weight, validation_data)
        self._check_settings()
        images, y = self._validate_X_y(X, y)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1).astype(np.float64)
        self.n_outputs_ = y2.shape[1]
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, images, dtype=np.float64, ensure_non_negative=True
            )
        seed = self._derive_seed()

        # validation data
        train_idx, val_idx = (None, None)
        if validation_data is not None:
            try:
                X_val, y_val = validation_data
            except (TypeError, ValueError):
                raise ValueError(
                    "validation_data must be a pair (X_val, y_val)."
                ) from None
            val_images = self._checked_images(X_val).astype(np.float32, copy=False)
            y_val = self._check_validation_target(y_val, len(val_images))
            val = (val_images, y_val)
        else:
            train_idx, val_idx = self._split_validation(len(images), seed)
            val = None
            if val_idx is not None:
                val = (images[val_idx], y2[val_idx].astype(np.float32))
                images, y2 = images[train_idx], y2[train_idx]
                if sample_weight is not None:
                    sample_weight = sample_weight[train_idx]

        start = time.perf_counter()
        with _seeded(seed):
            self._fit_keras(images, y2, sample_weight, val, seed, one_epoch=False)
        self.fit_time_ = time.perf_counter() - start
        return self

    def _fit_dataset(self, dataset, y, sample_weight, validation_data):
        """Train on a ``keras.utils.PyDataset`` of ``(images, targets)`` batches.

        scikeras takes arrays only, so this path builds the same model and
        trains it with Keras directly; ``keras_regressor_`` is None after it.
        """
        if y is not None or sample_weight is not None:
            raise ValueError(
                "When X is a keras.utils.PyDataset, it yields the targets (and "
                "any weights) itself: y and sample_weight must be None."
            )
        self._check_settings()
        first = dataset[0]
        if not isinstance(first, tuple) or len(first) != 2:
            raise ValueError(
                "A PyDataset given to fit must yield (images, targets) batches."
            )
        self.__dict__.pop("_history_before_load", None)
        images, y = self._validate_X_y(*first)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1).astype(np.float64)
        self.n_outputs_ = y2.shape[1]
        seed = self._derive_seed()
        start = time.perf_counter()
        with _seeded(seed):
            model = self._build_function(images, y2, None, seed)()
            history = model.fit(
                dataset,
                epochs=self._setting("epochs"),
                validation_data=validation_data,
                callbacks=self._callbacks(
                    "loss" if validation_data is None else "val_loss"
                ),
                verbose=self.verbose,
            )
        self.fit_time_ = time.perf_counter() - start
        self.model_ = model
        self.keras_regressor_ = None
        self.history_ = self._history_from(history.history)
        self.n_iter_ = len(self.history_["loss"])
        return self

    def _check_validation_target(self, y_val, n_samples):
        from sklearn.utils import check_array

        y_val = check_array(
            y_val, ensure_2d=False, dtype=np.float64, input_name="y_val"
        )
        if y_val.ndim == 1:
            y_val = y_val[:, np.newaxis]
        if y_val.shape != (n_samples, self.n_outputs_):
            raise ValueError(
                f"validation_data's y has shape {y_val.shape}; expected "
                f"({n_samples}, {self.n_outputs_}) to match X_val and y."
            )
        return y_val.astype(np.float32)

    def _fit_keras(self, images, y2, sample_weight, val, seed, *, one_epoch):
        """Train through scikeras: a full ``fit``, or one more epoch.

        A new ``KerasRegressor`` (and so a new model) is made unless there is
        one already and ``one_epoch`` asks to continue training it.
        """
        from scikeras.wrappers import KerasRegressor

        images = images.astype(np.float32, copy=False)
        targets = y2.astype(np.float32)
        monitor = "val_loss" if val is not None else "loss"
        if not (one_epoch and getattr(self, "keras_regressor_", None) is not None):
            self.__dict__.pop("_history_before_load", None)
            self.keras_regressor_ = KerasRegressor(
                model=self._build_function(images, y2, sample_weight, seed),
                epochs=self._setting("epochs"),
                batch_size=self._setting("batch_size"),
                callbacks=self._callbacks(monitor),
                verbose=self.verbose,
                shuffle=True,
                random_state=None,  # seeded by _seeded, see its docstring
                warm_start=False,
            )
        kwargs = {} if val is None else {"validation_data": val}
        train = (
            self.keras_regressor_.partial_fit
            if one_epoch
            else self.keras_regressor_.fit
        )
        train(images, targets, sample_weight=sample_weight, **kwargs)
        self.model_ = self.keras_regressor_.model_
        history = self._history_from(self.keras_regressor_.history_)
        before = getattr(self, "_history_before_load", {})
        self.history_ = {k: before.get(k, []) + v for k, v in history.items()}
        self.n_iter_ = len(self.history_.get("loss", ()))

    @staticmethod
    def _history_from(history):
        """Keras's own metric names (scikeras spells some out in full)."""
        renames = {"mean_absolute_error": "mae", "mean_squared_error": "mse"}
        out = {}
        for key, values in history.items():
            prefix = "val_" if key.startswith("val_") else ""
            name = key[len(prefix) :]
            out[prefix + renames.get(name, name)] = [float(v) for v in values]
        return out

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
        first = not hasattr(self, "model_")
        if first:
            self._check_settings()
            images, y = self._validate_X_y(X, y)
            self._y_1d = y.ndim == 1
        else:
            images = self._images_for_predict(X)
            y = self._check_more_targets(y, len(images))
        y2 = y.reshape(len(y), -1).astype(np.float64)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, images, dtype=np.float64, ensure_non_negative=True
            )
        start = time.perf_counter()
        if first:
            self.n_outputs_ = y2.shape[1]
            seed = self._derive_seed()
            with _seeded(seed):
                self._fit_keras(images, y2, sample_weight, None, seed, one_epoch=True)
        else:
            if self.keras_regressor_ is None:  # rebuilt by load_model
                self._wrap_loaded_model()
            self._fit_keras(images, y2, sample_weight, None, None, one_epoch=True)
        self.fit_time_ = time.perf_counter() - start
        return self

    def _check_more_targets(self, y, n_samples):
        """Check a later ``partial_fit``'s ``y`` against the first one."""
        from sklearn.utils import check_array

        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        n_columns = 1 if y.ndim == 1 else y.shape[1]
        if (y.ndim == 1) != self._y_1d or n_columns != self.n_outputs_:
            raise ValueError(
                f"y has shape {y.shape}, but this estimator was first fitted on "
                f"{'1-D targets' if self._y_1d else f'{self.n_outputs_} column(s)'}."
            )
        if len(y) != n_samples:
            raise ValueError(
                f"X and y have different numbers of samples: {n_samples} and {len(y)}."
            )
        return y

    def _wrap_loaded_model(self):
        """Give a loaded ``model_`` a scikeras wrapper to train further."""
        from scikeras.wrappers import KerasRegressor

        self._history_before_load = self.history_
        self.keras_regressor_ = KerasRegressor(
            model=self.model_,
            batch_size=self._setting("batch_size"),
            callbacks=self._callbacks("loss"),
            verbose=self.verbose,
            warm_start=True,
        )

    def predict(self, X):
        """Predict the target (by default the bright pixel's ``(row, col)``).

        Images are fed to the Keras model in batches, converted to float32
        batch by batch, so a large (or memory-mapped) ``X`` is never copied
        whole.

        Parameters
        ----------
        X : array-like of shape (n_samples, height * width), \
                (n_samples, height, width) or (n_samples, height, width, 1)
            Images, flattened or not. The soft-argmax head takes 3-D or 4-D
            images of any size.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions as float64, 1-D when the model was fitted on a 1-D
            ``y``.
        """
        images = self._images_for_predict(X)
        out = np.empty((len(images), self.n_outputs_), dtype=np.float64)
        for start in range(0, len(images), _PREDICT_BATCH):
            batch = images[start : start + _PREDICT_BATCH]
            out[start : start + len(batch)] = self._predict_batch(batch)
        return out.ravel() if self._y_1d else out

    def _predict_batch(self, batch):
        """Run the model on one batch, padded with blank images to a fixed size.

        Two batch sizes only (small and full) mean at most two traced graphs
        per image size. Padding to a multiple of 16 images also makes every
        sample's result independent of where it sits in the batch:
        element-wise kernels handle a buffer's ragged tail with scalar code
        whose rounding differs from the vectorised path.
        """
        n = len(batch)
        size = _SMALL_PREDICT_BATCH if n <= _SMALL_PREDICT_BATCH else _PREDICT_BATCH
        if size == n:
            padded = np.ascontiguousarray(batch, dtype=np.float32)
        else:
            padded = np.zeros((size, *batch.shape[1:]), dtype=np.float32)
            padded[:n] = batch
        return np.asarray(self.model_.predict_on_batch(padded))[:n]

    def save(self, path):
        """Save the fitted estimator to the directory ``path``.

        Writes ``model.keras`` (the Keras model, loadable on its own with
        ``keras.saving.load_model`` after ``import pixel_regressor``) and
        ``estimator.json`` (parameters and fitted attributes). Each file is
        written under a temporary name and then renamed, so an interrupted
        save never leaves a half-written file. Reload with
        :func:`pixel_regressor.load_model`.

        Parameters
        ----------
        path : str or path-like
            Directory to write; created if needed.

        Returns
        -------
        path : pathlib.Path
            The directory written.
        """
        check_is_fitted(self)
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        params = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in self.get_params().items()
            if k not in ("callbacks", "random_state")
        }
        meta = {
            "format": 1,
            "pixel_regressor_version": __version__,
            "params": params,
            "image_shape_": list(self.image_shape_),
            "n_features_in_": int(self.n_features_in_),
            "n_outputs_": int(self.n_outputs_),
            "y_1d": bool(self._y_1d),
            "history_": self.history_,
            "n_iter_": int(self.n_iter_),
        }
        if hasattr(self, "feature_names_in_"):
            meta["feature_names_in_"] = [str(n) for n in self.feature_names_in_]
        with atomic_path(directory / _MODEL_FILE) as tmp:
            self.model_.save(tmp)
        with atomic_path(directory / _META_FILE) as tmp:
            Path(tmp).write_text(json.dumps(meta, indent=2))
        return directory


def load_model(path):
    """Load an estimator saved by :meth:`BrightPixelRegressor.save`.

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
        If a file is corrupt or not written by this package.

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
    import keras

    directory = Path(path)
    meta_file, model_file = directory / _META_FILE, directory / _MODEL_FILE
    for file in (meta_file, model_file):
        if not file.is_file():
            raise FileNotFoundError(
                f"{file} not found: {directory} is not a directory written by "
                "BrightPixelRegressor.save."
            )
    try:
        meta = json.loads(meta_file.read_text())
        params = dict(meta["params"])
        if isinstance(params.get("filters"), list):
            params["filters"] = tuple(params["filters"])
        if isinstance(params.get("image_shape"), list):
            params["image_shape"] = tuple(params["image_shape"])
        estimator = BrightPixelRegressor(**params)
        estimator.image_shape_ = tuple(meta["image_shape_"])
        estimator.n_features_in_ = int(meta["n_features_in_"])
        estimator.n_outputs_ = int(meta["n_outputs_"])
        estimator._y_1d = bool(meta["y_1d"])
        estimator.history_ = {k: list(v) for k, v in meta["history_"].items()}
        estimator.n_iter_ = int(meta["n_iter_"])
        if "feature_names_in_" in meta:
            estimator.feature_names_in_ = np.asarray(
                meta["feature_names_in_"], dtype=object
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{meta_file} is corrupt or not an estimator file: {exc}"
        ) from None
    try:
        estimator.model_ = keras.saving.load_model(model_file, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ValueError(f"{model_file} could not be loaded: {exc}") from None
    estimator.keras_regressor_ = None
    return estimator
