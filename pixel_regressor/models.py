"""The heads: one :class:`HeadSpec` each, and the Keras model builders.

A head is the network behind :class:`~pixel_regressor.BrightPixelRegressor`.
Its spec in :data:`HEADS` holds its name, the defaults of every ``"auto"``
parameter, its smallest image size, whether it takes other image sizes at
predict time, and its builder. Keras is imported only when a model is built.

The models take images of shape ``(height, width, 1)`` in any intensity scale
(each image is rescaled to [0, 1] by an :class:`ImageNormalization` layer) and
return one value per target column.

- :func:`build_dense_model`: the original notebook's CNN, Conv-Pool-Conv-Pool-
  Flatten-Dense-Dense. Its Flatten-Dense head ties it to one image size.
- :func:`build_soft_argmax_model`: fully convolutional. A small conv net
  scores every pixel; the best-scoring pixel, refined by a softmax over its
  neighbours (a local soft-argmax), gives ``(row, col)``, which feeds a
  linear read-out to the target's columns. Translation-equivariant, so it
  predicts positions never seen in training, on images of any size.
- :func:`build_spot_model`: for blurred spots. A conv net on a crop around
  the smoothed image's peak and a local soft-argmax; with ``gaussian_fit``,
  a maximum-likelihood fit of a Gaussian spot then polishes the position.
"""

import dataclasses
import functools
import warnings
from collections.abc import Callable, Mapping

import numpy as np

from ._inference import as_float32
from ._random import check_random_state, derive_seed

__all__ = [
    "HEADS",
    "HeadSpec",
    "build_dense_model",
    "build_soft_argmax_model",
    "build_spot_model",
    "get_head",
    "min_image_size",
]


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """Everything the package knows about one head, in one place.

    The estimator, the command line and the docs read these specs; no other
    module compares a head's name. Adding a head is one spec (and its
    builder) here.

    Parameters
    ----------
    name : str
        The value of ``BrightPixelRegressor(head=...)``.
    summary : str
        One line describing the head, for help texts.
    scene : {"pixels", "spots"}
        The images the head is made for: single bright pixels
        (:func:`~pixel_regressor.make_bright_pixel_dataset`) or blurred spots
        at sub-pixel positions
        (:func:`~pixel_regressor.make_bright_spot_dataset`). The command line's
        ``run --scene`` picks the first head of its scene by default.
    defaults : mapping
        The value of each ``"auto"`` parameter of the estimator:
        ``filters``, ``kernel_size``, ``learning_rate``, ``epochs`` and
        ``batch_size``.
    any_image_size : bool
        Whether a fitted model takes images of another size than the
        training images.
    min_filters : int
        The fewest convolutions ``filters`` may hold.
    min_side : callable
        ``min_side(filters, kernel_size)``: the smallest image side the head
        can process.
    builder : callable
        ``builder(image_shape, n_outputs, settings, *, images, targets,
        sample_weight, steps, seed)`` returns the compiled ``keras.Model``;
        see :meth:`build`.
    std : {None, "formula", "fisher"}, default=None
        What ``predict(X, return_std=True)`` gives per prediction (see
        :mod:`pixel_regressor._uncertainty`): None, nothing (an error);
        ``"formula"``, the bound's form measured on each image, its
        coefficients fitted after each training call; ``"fisher"``, the
        inverse Fisher information of the model's Gaussian fit (layer
        ``"gaussian_fit"``), times a factor per output fitted after each
        training call. Both widen the deviation where the spot may be a
        blob elsewhere.
    layers : mapping of str to str, default={}
        The layers by which a network is known as this head's: each layer's
        name and class name. A loaded model must have these, and none of
        another head's (see ``_persistence.check_model_matches``).
    check_images : callable, default=None
        ``check_images(images)``, called on each training call's images
        (shape ``(n, height, width, 1)``) before the model trains: raises a
        ValueError when the head's model of the images does not hold.
    """

    name: str
    summary: str
    scene: str
    defaults: Mapping
    any_image_size: bool
    min_filters: int
    min_side: Callable
    builder: Callable
    std: str | None = None
    layers: Mapping = dataclasses.field(default_factory=dict)
    check_images: Callable | None = None

    @property
    def predicts_std(self):
        """Whether ``predict(X, return_std=True)`` works with this head."""
        return self.std is not None

    def min_image_size(self, filters=None, kernel_size=None):
        """Smallest image side the head can process (its defaults if None)."""
        filters = self.defaults["filters"] if filters is None else filters
        if kernel_size is None:
            kernel_size = self.defaults["kernel_size"]
        return self.min_side(tuple(filters), int(kernel_size))

    def build(
        self,
        image_shape,
        n_outputs,
        settings,
        *,
        images=None,
        targets=None,
        sample_weight=None,
        steps=None,
        seed=None,
    ):
        """Build the head's compiled Keras model.

        Parameters
        ----------
        image_shape : tuple of (int, int)
            Height and width of the training images.
        n_outputs : int
            Number of target columns.
        settings : mapping
            ``filters``, ``kernel_size``, ``learning_rate`` and
            ``dense_units``, with no ``"auto"`` left.
        images : ndarray of shape (n_samples, height, width, 1), default=None
            Training images, for heads that set weights from the data (the
            soft-argmax read-out).
        targets : ndarray of shape (n_samples, n_outputs), default=None
            Their targets.
        sample_weight : ndarray of shape (n_samples,), default=None
            Their weights.
        steps : int, default=None
            The number of training steps (batches) the model will be trained
            for, for heads with a learning-rate schedule; None for open-ended
            training (``partial_fit``).
        seed : int, default=None
            Seed of the weight initialisers.

        Returns
        -------
        model : keras.Model
        """
        return self.builder(
            tuple(image_shape),
            int(n_outputs),
            settings,
            images=images,
            targets=targets,
            sample_weight=sample_weight,
            steps=steps,
            seed=seed,
        )


def _conv_pool_side(filters, kernel_size):
    """Smallest side that leaves one pixel after the Conv-Pool blocks."""
    side = 1
    for _ in filters:
        side = 2 * side + kernel_size - 1
    return side


def _any_side(filters, kernel_size):
    return 1  # "same" padding: any size works


def _build_soft_argmax(
    image_shape, n_outputs, settings, *, images, targets, sample_weight, steps, seed
):
    readout = None
    if images is not None and targets is not None:
        readout = _least_squares_readout(
            images, targets, sample_weight, random_state=seed
        )
    return build_soft_argmax_model(
        (None, None),
        n_outputs,
        filters=tuple(settings["filters"]),
        kernel_size=int(settings["kernel_size"]),
        learning_rate=float(settings["learning_rate"]),
        readout=readout,
        seed=seed,
    )


def _build_dense(
    image_shape, n_outputs, settings, *, images, targets, sample_weight, steps, seed
):
    return build_dense_model(
        image_shape,
        n_outputs,
        filters=tuple(settings["filters"]),
        kernel_size=int(settings["kernel_size"]),
        dense_units=int(settings["dense_units"]),
        learning_rate=float(settings["learning_rate"]),
        seed=seed,
    )


SOFT_ARGMAX = HeadSpec(
    name="soft_argmax",
    summary=(
        "a tiny fully convolutional net; its peak pixel, refined by a softmax "
        "over the peak's neighbours"
    ),
    scene="pixels",
    # Exact after a few epochs of large batches.
    defaults={
        "filters": (),
        "kernel_size": 1,
        "learning_rate": 0.1,
        "epochs": 2,
        "batch_size": 256,
    },
    any_image_size=True,
    min_filters=0,
    min_side=_any_side,
    builder=_build_soft_argmax,
    layers={
        "normalization": "ImageNormalization",
        "soft_argmax": "PeakSoftArgmax2D",
        "readout": "Dense",
    },
)

DENSE = HeadSpec(
    name="dense",
    summary="the notebook's CNN, Conv-Pool-Conv-Pool-Flatten-Dense",
    scene="pixels",
    # The notebook's own setup.
    defaults={
        "filters": (16, 32),
        "kernel_size": 3,
        "learning_rate": 1e-3,
        "epochs": 20,
        "batch_size": 64,
    },
    any_image_size=False,
    min_filters=1,
    min_side=_conv_pool_side,
    builder=_build_dense,
    layers={
        "normalization": "ImageNormalization",
        "flatten": "Flatten",
        "output": "Dense",
    },
)


def _build_spot(
    image_shape,
    n_outputs,
    settings,
    *,
    images,
    targets,
    sample_weight,
    steps,
    seed,
    gaussian_fit=False,
):
    model = build_spot_model(
        (None, None),
        n_outputs,
        filters=tuple(settings["filters"]),
        kernel_size=int(settings["kernel_size"]),
        learning_rate=float(settings["learning_rate"]),
        decay_steps=steps,
        gaussian_fit=gaussian_fit,
        seed=seed,
    )
    if images is not None and targets is not None:
        readout = _spot_readout(
            model, images, targets, sample_weight, random_state=seed
        )
        _set_readout(model.get_layer("readout"), readout)
    return model


def _spot_readout(
    model, images, targets, sample_weight, *, tolerance=0.05, random_state=None
):
    """The spot head's fixed read-out: exactly the identity for positions.

    A map from a sub-pixel estimate of each training spot's position (at
    most 5,000 images: the peak pixel the model itself finds, refined by
    :func:`_local_centroids`) to its target, by the one rule of
    :func:`_least_squares_map`: the identity when it explains the targets
    (they are ``(row, col)``), a robust affine fit otherwise.

    Never fitted on the integer peak alone: regressing continuous targets
    on a rounded position shrinks the slope by ``var(targets) /
    (var(targets) + 1/12)``, 0.8 for targets spanning 2 px, and that
    shrunken map would pull every prediction towards the image centre.
    """
    import keras

    n = min(len(images), 5000)
    batch = as_float32(images[:n])
    finder = keras.Model(model.input, model.get_layer("peak_crop").output[1])
    peaks = np.asarray(finder.predict(batch, verbose=0))[:, 0, :]
    centres = _local_centroids(batch[..., 0], peaks)
    weights = None if sample_weight is None else sample_weight[:n]
    return _least_squares_map(
        centres,
        targets[:n].astype(np.float64),
        weights,
        random_state=random_state,
        tolerance=tolerance,
    )


def _local_centroids(images, peaks, half_width=2):
    """Background-subtracted centroids around ``peaks``, ``(n, 2)`` float64.

    The centre of mass of each image's counts above its median in the
    ``(2 * half_width + 1)``-pixel square around its peak pixel (clipped to
    the image): a sub-pixel position, pulled a little towards the peak
    pixel's centre, with no rounding step. An image with nothing above its
    median there keeps the peak pixel.
    """
    n, height, width = images.shape
    peaks = np.rint(peaks).astype(np.int64)
    steps = np.arange(-half_width, half_width + 1)
    rows = np.clip(peaks[:, :1] + steps, 0, height - 1)  # (n, k)
    cols = np.clip(peaks[:, 1:] + steps, 0, width - 1)
    index = np.arange(n)[:, None, None]
    window = images[index, rows[:, :, None], cols[:, None, :]].astype(np.float64)
    background = np.median(images.reshape(n, -1), axis=1).astype(np.float64)
    mass = np.maximum(window - background[:, None, None], 0.0)
    total = mass.sum(axis=(1, 2))
    centres = peaks.astype(np.float64)
    found = total > 0
    centres[found, 0] = (mass.sum(axis=2) * rows).sum(axis=1)[found] / total[found]
    centres[found, 1] = (mass.sum(axis=1) * cols).sum(axis=1)[found] / total[found]
    return centres


SPOT = HeadSpec(
    name="spot",
    summary=(
        "blurred spots at sub-pixel positions: a small conv net on a crop "
        "around the smoothed peak, and a local soft-argmax"
    ),
    scene="spots",
    # Tuned on 20,000 32x32 images: within a few percent of the Cramer-Rao
    # bound from 300 photons up; a cosine learning-rate decay over the fit.
    defaults={
        "filters": (16, 16),
        "kernel_size": 3,
        "learning_rate": 0.01,
        "epochs": 15,
        "batch_size": 128,
    },
    any_image_size=True,
    min_filters=0,
    min_side=_any_side,
    builder=_build_spot,
    std="formula",
    layers={
        "peak_crop": "PeakCrop",
        "soft_argmax": "CropSoftArgmax2D",
        "readout": "Dense",
    },
)

# Training images on which check_gaussian_spots fits a Gaussian, at most
# (evenly spaced), and the fewest whose fits it judges.
_GAUSSIAN_CHECK_IMAGES = 256
_GAUSSIAN_CHECK_MIN = 32
# check_gaussian_spots refuses images whose misfit exceeds that of images
# simulated from their own Gaussian fits by more than this.
_GAUSSIAN_CHECK_EXCESS = 1.25


def _residual_statistic(images):
    """The mean squared t statistic of the Gaussian fits' residuals of
    ``images`` (float64, ``(n, height, width)``), the number of converged
    fits, and their parameters (see :func:`gaussian_misfit`)."""
    from scipy.ndimage import gaussian_filter, median_filter

    from ._layers import GaussianFit

    smooth = gaussian_filter(
        median_filter(images, size=(1, 3, 3), mode="nearest"),
        (0, 1.0, 1.0),
        mode="nearest",
    )
    peaks = np.argmax(smooth.reshape(len(images), -1), axis=1)
    peaks = np.column_stack(np.divmod(peaks, images.shape[2])).astype(np.float64)
    starts = _local_centroids(images, peaks)
    fit = GaussianFit(iterations=10, name="gaussian_check")
    residuals, used, converged, theta = (
        np.asarray(value, dtype=np.float64)
        for value in fit.residuals(images[..., None], starts)
    )
    converged = converged > 0
    residuals, used, theta = residuals[converged], used[converged], theta[converged]
    n_fits = len(residuals)
    if n_fits < _GAUSSIAN_CHECK_MIN:
        return float("nan"), n_fits, theta
    count = used.sum(axis=0)
    enough = count >= max(_GAUSSIAN_CHECK_MIN, 0.5 * n_fits)
    count = count[enough]
    mean = residuals.sum(axis=0)[enough] / count
    squares = (used * residuals**2).sum(axis=0)[enough]
    variance = (squares - count * mean**2) / (count - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t2 = np.where(variance > 0, count * mean**2 / variance, 0.0)
    return float(np.mean(t2)), n_fits, theta


def gaussian_misfit(images):
    """How far spots are from the spot_fit head's Gaussian.

    On at most :data:`_GAUSSIAN_CHECK_IMAGES` images (evenly spaced), each
    spot is fitted by the ``spot_fit`` head's own Gaussian fit
    (:class:`~pixel_regressor._layers.GaussianFit`, width free), from the
    peak of the image median-filtered (against hot pixels) and smoothed,
    refined by a centroid. A spot whose shape is not a Gaussian leaves the
    same residuals in every image; noise leaves residuals of mean zero. So
    for each pixel of the fitted square (relative to the spot's pixel) the
    residuals' mean over the images is compared with their spread, a t
    statistic, and the misfit is the mean of the squared t statistics over
    the square's pixels. Gain, offset, read noise and excess noise change
    the spread as they change the mean; a hot pixel or a failed fit moves
    one image's residuals, whose mean and spread then grow together.

    For Gaussian spots the misfit is about 1, a little more for faint spots,
    whose fits follow the noise. So the same is measured on a parametric
    bootstrap, Poisson images of Gaussian spots of the fitted parameters
    (drawn from a fixed seed), the reference. A PSF of another shape gives a
    misfit that grows with the number of images and the photons.

    Parameters
    ----------
    images : ndarray of shape (n, height, width, 1) or (n, height, width)

    Returns
    -------
    misfit : float
        The mean squared t statistic; NaN with fewer than
        :data:`_GAUSSIAN_CHECK_MIN` converged fits.
    reference : float
        The same, of the bootstrap images (NaN where ``misfit`` is).
    n_fits : int
        Number of converged fits ``misfit`` is measured on.

    Examples
    --------
    >>> from pixel_regressor import make_bright_spot_dataset
    >>> from pixel_regressor.models import gaussian_misfit
    >>> X, y = make_bright_spot_dataset(256, image_size=15, random_state=0)
    >>> misfit, reference, n_fits = gaussian_misfit(X.reshape(-1, 15, 15))
    >>> bool(abs(misfit - reference) < 0.5), n_fits
    (True, 256)
    """
    from . import _psf

    images = np.asarray(images)
    n, height, width = images.shape[:3]
    pick = np.linspace(0, n - 1, min(n, _GAUSSIAN_CHECK_IMAGES)).astype(int)
    sample = images[np.unique(pick)].reshape(-1, height, width).astype(np.float64)
    misfit, n_fits, theta = _residual_statistic(sample)
    if not np.isfinite(misfit):
        return misfit, misfit, n_fits
    mu = _psf.expected_counts(
        (height, width), theta[:, :2], theta[:, 2], theta[:, 3], theta[:, 4]
    )
    simulated = np.random.default_rng(0).poisson(mu).astype(np.float64)
    reference, _, _ = _residual_statistic(simulated)
    return misfit, reference, n_fits


def check_gaussian_spots(images):
    """Refuse training images whose spots are not Gaussians.

    The ``spot_fit`` head polishes each position by the fit of a Gaussian
    spot: where the PSF is another shape (defocused, astigmatic, a
    vectorial PSF with rings, a measured bead), that polish is biased and
    its deviations are not the errors'. Raises a ValueError when the
    :func:`gaussian_misfit` of the images exceeds its bootstrap reference by
    more than :data:`_GAUSSIAN_CHECK_EXCESS`: over five times the spread of
    that difference for Gaussian spots (0.22; at most 0.64 over 159 sets of
    256 spots of 300 to 10,000 photons, backgrounds of 1 to 100 and widths
    of 0.8 to 2.5 pixels, with and without a camera's gain, offset, read
    noise, EM gain and hot pixels). Fewer than
    :data:`_GAUSSIAN_CHECK_MIN` converged fits tell nothing, and pass; so do
    images whose fits' bootstrap has no noise to judge by (a reference of 0:
    a bright pixel on black, not photon counts).
    """
    misfit, reference, n_fits = gaussian_misfit(images)
    # A reference of 0: the fitted spots' images have no noise to judge the
    # residuals by (a bright pixel on black, not photon counts).
    if reference > 0 and misfit > reference + _GAUSSIAN_CHECK_EXCESS:
        raise ValueError(
            "head='spot_fit' fits a Gaussian spot, but the spots of these "
            "training images are not Gaussians: fitted by one, "
            f"{n_fits} of them leave the same residuals image after image "
            f"(mean squared t statistic {misfit:.3g} over the fitted "
            f"square's pixels, against {reference:.3g} for Gaussian spots of "
            "the fitted parameters). Use head='spot', which learns any spot "
            "shape from its training images."
        )


SPOT_FIT = HeadSpec(
    name="spot_fit",
    summary=(
        "the spot head, its position polished by a maximum-likelihood fit of "
        "a Gaussian spot: one model for a range of brightness, background and "
        "spot width"
    ),
    scene="spots",
    # The spot head's, which the fit starts from.
    defaults=SPOT.defaults,
    any_image_size=True,
    min_filters=0,
    min_side=_any_side,
    builder=functools.partial(_build_spot, gaussian_fit=True),
    std="fisher",
    layers={**SPOT.layers, "gaussian_fit": "GaussianFit"},
    check_images=check_gaussian_spots,
)

#: The heads, by name, in the order the docs list them.
HEADS = {spec.name: spec for spec in (SOFT_ARGMAX, DENSE, SPOT, SPOT_FIT)}


def get_head(name):
    """The :class:`HeadSpec` of the head called ``name``.

    Examples
    --------
    >>> from pixel_regressor.models import get_head
    >>> get_head("dense").defaults["epochs"]
    20
    """
    try:
        return HEADS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"head must be one of {sorted(HEADS)}, got {name!r}."
        ) from None


def min_image_size(head, filters=None, kernel_size=None):
    """Smallest image side the head can process.

    Parameters
    ----------
    head : str
        The model head, a key of :data:`HEADS`.
    filters : sequence of int, default=None
        Convolution widths (the head's default if None).
    kernel_size : int, default=None
        Convolution kernel size (the head's default if None).

    Returns
    -------
    side : int
        The smallest height (and width) accepted.

    Examples
    --------
    >>> from pixel_regressor.models import min_image_size
    >>> min_image_size("soft_argmax"), min_image_size("dense")
    (1, 10)
    """
    return get_head(head).min_image_size(filters, kernel_size)


def _argmax_coordinates(images):
    """``(row, col)`` of the brightest pixel of each image, as float64."""
    n, height, width = images.shape[:3]
    flat = np.argmax(images.reshape(n, height * width), axis=1)
    return np.column_stack(np.divmod(flat, width)).astype(np.float64)


def _least_squares_readout(images, y, sample_weight, *, random_state=None):
    """Affine map from each image's brightest ``(row, col)`` to ``y``.

    See :func:`_least_squares_map`, given the brightest pixels.
    """
    return _least_squares_map(
        _argmax_coordinates(images), y, sample_weight, random_state=random_state
    )


def _least_squares_map(
    coordinates, y, sample_weight, *, random_state=None, tolerance=1e-6
):
    """Affine map from each image's ``(row, col)`` to ``y``, robust to outliers.

    Sets the fixed read-outs of the soft-argmax and spot heads: for ``(row,
    col)`` targets it is the identity, for rescaled or permuted targets the
    matching affine map.

    On noisy images the brightest pixel is often a background pixel (for
    more than half of the images at ``noise=80``): those samples are
    outliers of an otherwise exact linear relation, and a least-squares fit
    over all samples would shrink the map towards the image centre. So the
    map is found by RANSAC (:class:`~sklearn.linear_model.RANSACRegressor`):
    of the affine maps through three samples, the one that the most samples
    follow to within two pixels (in absolute error summed over the
    targets, a pixel being the targets' spread over the coordinates'), refit
    by weighted least squares on those samples. When the coordinates do not
    vary (for instance on inverted images), the map falls back to the
    identity for two targets (taken as ``(row, col)``) and to the targets'
    mean otherwise. A map within ``tolerance`` of the identity (in each
    weight, and ten times that in each bias) is the identity: targets that
    are ``(row, col)`` get exactly their pixels, not float rounding away.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LinearRegression, RANSACRegressor

    n_outputs = y.shape[1]
    weights = np.ones(len(y)) if sample_weight is None else sample_weight
    if not np.ptp(coordinates[weights > 0], axis=0).any():
        if n_outputs == 2:
            return np.eye(2), np.zeros(2)
        mean = np.average(y, axis=0, weights=weights if weights.any() else None)
        return np.zeros((2, n_outputs)), mean
    keep = weights > 0
    coordinates, y, weights = coordinates[keep], y[keep], weights[keep]
    pixel = np.sqrt(y.var(axis=0).sum() / coordinates.var(axis=0).sum())
    fit = LinearRegression()
    if len(y) > 3:
        ransac = RANSACRegressor(
            LinearRegression(),
            min_samples=3,
            residual_threshold=2.0 * pixel,
            random_state=check_random_state(random_state),
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                ransac.fit(coordinates, y, sample_weight=weights)
            fit = ransac.estimator_
        except ValueError:  # no consensus: least squares over all samples
            pass
    if not hasattr(fit, "coef_"):
        fit.fit(coordinates, y, sample_weight=weights)
    kernel = fit.coef_.T.reshape(2, n_outputs)
    bias = fit.intercept_.reshape(n_outputs)
    if n_outputs == 2 and (
        (
            np.abs(kernel - np.eye(2)).max() <= tolerance
            and np.abs(bias).max() <= 10 * tolerance
        )
        or _identity_explains(coordinates, y, weights, fit.predict(coordinates), pixel)
    ):
        return np.eye(2), np.zeros(2)
    return kernel, bias


def _identity_explains(coordinates, y, weights, fitted, pixel):
    """Whether ``y`` are the ``(row, col)`` that ``coordinates`` estimate.

    The identity explains them when it keeps, within two pixels (absolute
    error summed over both targets, as the affine fit's consensus counts),
    at least 95 % of the weight the fitted affine map keeps within two of
    its own pixels, and its inliers' median residual is under a quarter
    pixel in each target (no shifted origin). This holds however narrow
    the targets' span: an affine map fitted to noisy coordinates over a
    span of a few pixels has a slope shrunk well below 1, a statistical
    artefact the identity does not share.
    """
    residuals = y - coordinates
    identity = np.abs(residuals).sum(axis=1) <= 2.0
    affine = np.abs(y - fitted).sum(axis=1) <= 2.0 * pixel
    if not identity.any():
        return False
    enough = weights[identity].sum() >= 0.95 * weights[affine].sum()
    centred = np.abs(np.median(residuals[identity], axis=0)).max() <= 0.25
    return bool(enough and centred)


def _compile(model, learning_rate):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="mse",
        metrics=["mae"],
    )
    return model


def _set_readout(layer, readout):
    """Set the fixed ``Dense`` read-out from ``(row, col)`` to the targets.

    ``readout`` is ``(kernel, bias)``; None is the identity for two outputs
    (taken as ``(row, col)``) and zeros otherwise.
    """
    n_outputs = layer.units
    if readout is None:
        kernel = np.eye(2, n_outputs) if n_outputs == 2 else np.zeros((2, n_outputs))
        readout = (kernel, np.zeros(n_outputs))
    layer.set_weights(
        [
            np.asarray(value, dtype="float32").reshape(weight.shape)
            for value, weight in zip(readout, layer.weights)
        ]
    )


def _seeds(seed):
    """An endless stream of layer seeds derived from ``seed`` (None stays None)."""
    generator = None if seed is None else check_random_state(seed)
    while True:
        yield derive_seed(generator)


def build_soft_argmax_model(
    image_shape=(None, None),
    n_outputs=2,
    *,
    filters=(),
    kernel_size=1,
    learning_rate=0.1,
    readout=None,
    seed=None,
):
    """Build the fully convolutional soft-argmax model, compiled.

    Layers: :class:`ImageNormalization`, one ``Conv2D(f, kernel_size,
    padding="same", activation="relu")`` per entry of ``filters``, a one-channel
    ``Conv2D(1, kernel_size, padding="same", activation="relu")`` heatmap, a
    learnable :class:`Temperature`, :class:`PeakSoftArgmax2D` giving ``(row,
    col)`` (the heatmap's peak pixel, refined by a softmax over its
    neighbours), and a fixed ``Dense(n_outputs)`` affine read-out (not
    trained).

    Parameters
    ----------
    image_shape : tuple of (int or None, int or None), default=(None, None)
        Height and width; None accepts any size.
    n_outputs : int, default=2
        Number of target columns.
    filters : sequence of int, default=()
        Widths of the hidden convolutions before the heatmap.
    kernel_size : int, default=1
        Kernel size of every convolution.
    learning_rate : float, default=0.1
        Adam's learning rate.
    readout : tuple of (ndarray of shape (2, n_outputs), ndarray of shape \
            (n_outputs,)), default=None
        Weights and bias of the read-out from ``(row, col)`` to the targets.
        None uses the identity when ``n_outputs == 2`` (targets are
        ``(row, col)``) and zeros otherwise; the estimator passes the
        least-squares map from each training image's brightest pixel to its
        target.
    seed : int, default=None
        Seed of the weight initialisers.

    Returns
    -------
    model : keras.Model
        Compiled with Adam, mean squared error loss and mean absolute error.

    Examples
    --------
    >>> from pixel_regressor.models import build_soft_argmax_model
    >>> model = build_soft_argmax_model(seed=0)
    >>> model.count_params(), len(model.trainable_weights)
    (9, 3)
    >>> model.output_shape
    (None, 2)
    """
    import keras

    from ._layers import (
        ImageNormalization,
        PeakSoftArgmax2D,
        PixelConv2D,
        Temperature,
    )

    seeds = _seeds(seed)
    inputs = keras.Input(shape=(*image_shape, 1), name="image")
    x = ImageNormalization(name="normalization")(inputs)
    for i, width in enumerate(filters):
        x = PixelConv2D(
            width,
            kernel_size,
            padding="same",
            activation="relu",
            kernel_initializer=keras.initializers.HeNormal(seed=next(seeds)),
            name=f"conv_{i}",
        )(x)
    if filters:
        heatmap_init = keras.initializers.HeNormal(seed=next(seeds))
    else:
        # One input channel: start from the identity map, so the first
        # softmax already peaks on the brightest pixel.
        heatmap_init = keras.initializers.Constant(1.0 / kernel_size**2)
    x = PixelConv2D(
        1,
        kernel_size,
        padding="same",
        activation="relu",
        kernel_initializer=heatmap_init,
        name="heatmap",
    )(x)
    x = Temperature(100.0 if not filters else 10.0, name="temperature")(x)
    coordinates = PeakSoftArgmax2D(name="soft_argmax")(x)
    # The read-out is fixed: an affine map from (row, col) to the target's
    # columns, solved in closed form before training (see ``readout``). Adam's
    # first steps, of about ``learning_rate`` on every weight, would otherwise
    # knock an exact map off by pixels.
    readout_layer = keras.layers.Dense(n_outputs, trainable=False, name="readout")
    outputs = readout_layer(coordinates)
    model = keras.Model(inputs, outputs, name="soft_argmax")
    _set_readout(readout_layer, readout)
    return _compile(model, learning_rate)


def build_dense_model(
    image_shape=(50, 50),
    n_outputs=2,
    *,
    filters=(16, 32),
    kernel_size=3,
    dense_units=64,
    learning_rate=1e-3,
    seed=None,
):
    """Build the notebook's CNN, compiled.

    Layers: :class:`ImageNormalization`, then for each entry of ``filters`` a
    ``Conv2D(f, kernel_size, activation="relu")`` and a ``MaxPooling2D(2)``,
    then ``Flatten``, ``Dense(dense_units, activation="relu")`` and
    ``Dense(n_outputs)``. With the defaults on 50x50 images and two outputs
    this is the notebook's network exactly: 252,802 parameters.

    Parameters
    ----------
    image_shape : tuple of (int, int), default=(50, 50)
        Height and width; the Flatten-Dense head fixes them.
    n_outputs : int, default=2
        Number of target columns.
    filters : sequence of int, default=(16, 32)
        Widths of the Conv-Pool blocks.
    kernel_size : int, default=3
        Kernel size of every convolution ("valid" padding).
    dense_units : int, default=64
        Width of the hidden dense layer.
    learning_rate : float, default=1e-3
        Adam's learning rate (Keras's default, as in the notebook).
    seed : int, default=None
        Seed of the weight initialisers.

    Returns
    -------
    model : keras.Model
        Compiled with Adam, mean squared error loss and mean absolute error.

    Examples
    --------
    >>> from pixel_regressor.models import build_dense_model
    >>> build_dense_model((50, 50), 2, seed=0).count_params()
    252802
    """
    import keras

    from ._layers import ImageNormalization, PixelConv2D

    seeds = _seeds(seed)
    inputs = keras.Input(shape=(*image_shape, 1), name="image")
    x = ImageNormalization(name="normalization")(inputs)
    for i, width in enumerate(filters):
        x = PixelConv2D(
            width,
            kernel_size,
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
            name=f"conv_{i}",
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(
        dense_units,
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
        name="dense",
    )(x)
    outputs = keras.layers.Dense(
        n_outputs,
        kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
        name="output",
    )(x)
    return _compile(keras.Model(inputs, outputs, name="dense"), learning_rate)


def build_spot_model(
    image_shape=(None, None),
    n_outputs=2,
    *,
    filters=(16, 16),
    kernel_size=3,
    window=3,
    smoothing=1.5,
    n_peaks=1,
    evidence=10.0,
    learning_rate=0.01,
    decay_steps=None,
    readout=None,
    gaussian_fit=False,
    seed=None,
):
    """Build the spot model, compiled: sub-pixel position of a blurred spot.

    Made for a spot blurred over a few pixels, at a continuous position, in
    photon (Poisson) noise, possibly with a few hot pixels: a cheap search
    finds the spot to the nearest pixel over the whole image, and a small
    conv net refines the position on a crop around it only, which keeps
    training and prediction fast.

    Layers: :class:`PeakCrop` (subtract the image mean, find the peak of a
    Gaussian-smoothed copy, cut a square crop around it and divide it by the
    peak's height), one ``Conv2D(f, kernel_size, padding="valid",
    activation="relu")`` per entry of ``filters`` and a one-channel
    ``Conv2D(1, kernel_size, padding="valid")`` heatmap on the crop,
    :class:`CropSoftArgmax2D` (the peak's position plus the expected offset
    under the heatmap's softmax, over a ``(2 * window + 1)``-pixel square
    around the peak), and a fixed ``Dense(n_outputs)`` affine read-out (not
    trained). The crop's side is ``2 * window + 1 + (len(filters) + 1) *
    (kernel_size - 1)``, 13 with the defaults, so that "valid" convolutions
    shrink it to the soft-argmax's square.

    Fully convolutional, with the same weights for every image size: the
    smallest image side it accepts is 1 (a crop that overhangs the image is
    padded with the background). The spot must lie within about ``window``
    pixels of the smoothed image's peak, which holds unless it is barely
    above the noise. The input may be in any intensity scale and offset.

    Parameters
    ----------
    image_shape : tuple of (int or None, int or None), default=(None, None)
        Height and width; None accepts any size.
    n_outputs : int, default=2
        Number of target columns.
    filters : sequence of int, default=(16, 16)
        Widths of the hidden convolutions before the heatmap.
    kernel_size : int, default=3
        Kernel size of every convolution, odd.
    window : int, default=3
        Half-width of the soft-argmax's square around the peak pixel.
    smoothing : float, default=1.5
        Width (pixels) of the Gaussian smoothing that finds the peak; about
        the spot's own width suits best.
    n_peaks : int, default=1
        Number of crops: the highest smoothed peak and ``n_peaks - 1``
        runners-up at least ``2 * window + 1`` pixels apart; the model
        weighs the crops by their peaks' heights (see
        :class:`CropSoftArgmax2D`). Each crop costs as much as the first.
        Two crops hedge on faint spots (1.9x instead of 2.1x the Cramér-Rao
        bound at 100 photons, see Notes) but do worse with clustered hot
        pixels (1.22x instead of 1.08x), whose smoothed peak can match the
        spot's.
    evidence : float, default=10.0
        Initial weight of the peak heights among several crops.
    learning_rate : float, default=0.01
        Adam's (initial) learning rate.
    decay_steps : int, default=None
        If set, the learning rate decays to zero over this many training
        steps along a cosine (``keras.optimizers.schedules.CosineDecay``);
        pass ``epochs * ceil(n_samples / batch_size)``. None keeps it
        constant.
    readout : tuple of (ndarray of shape (2, n_outputs), ndarray of shape \
            (n_outputs,)), default=None
        Weights and bias of the read-out from ``(row, col)`` to the targets.
        None uses the identity when ``n_outputs == 2`` and zeros otherwise.
    gaussian_fit : bool, default=False
        Polish the position, when predicting, by a Poisson maximum-likelihood
        fit of a Gaussian spot (width, signal and background free) on the
        11x11 square around it (:class:`GaussianFit`, layer
        ``"gaussian_fit"``, before the read-out). Training does not go
        through the fit: the conv net learns the position itself, and the
        fit takes it the rest of the way, whatever the spot's width,
        brightness and background (see Notes).
    seed : int, default=None
        Seed of the weight initialisers.

    Returns
    -------
    model : keras.Model
        Compiled with Adam, mean squared error loss and mean absolute error.

    Notes
    -----
    Measured on 32x32 images of a Gaussian spot (width 1.3 px, uniform
    position 4 px or more from the edges, background 10 photons per pixel,
    Poisson noise), 20,000 training images of one photon level, the
    defaults, 15 epochs of batch 128 with ``decay_steps = 15 * 157``:
    per-axis RMSE 0.99x the Cramér-Rao lower bound at 300 photons, 1.00x to
    1.01x at 1000, 1.02x at 3000, and 1.06x at 1000 with 3 hot pixels per
    image at 3x the spot's brightest pixel (``np.argmax`` misses by 12 px
    there). At 100 photons it is 2.1x: about 0.2 % of the spots are fainter
    than the brightest noise blob and are missed, as they are by the
    Bayesian posterior mean that knows the photon and background levels
    (1.4x on the same images; 1.10x and 1.08x without the misses). The
    same weights keep these figures on other image sizes (20x20 to 64x64)
    and intensity scales. 26 s of CPU time to train, 40,000 images per CPU
    second to predict.

    Examples
    --------
    >>> from pixel_regressor.models import build_spot_model
    >>> model = build_spot_model(seed=0)
    >>> model.count_params(), len(model.trainable_weights)
    (2631, 6)
    >>> model.output_shape
    (None, 2)
    """
    import keras

    from ._layers import CropSoftArgmax2D, GaussianFit, PeakCrop, PixelConv2D

    if int(kernel_size) != kernel_size or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}.")
    if int(window) != window or window < 0:
        raise ValueError(f"window must be an int >= 0, got {window!r}.")
    seeds = _seeds(seed)
    crop_size = 2 * window + 1 + (len(filters) + 1) * (kernel_size - 1)
    inputs = keras.Input(shape=(*image_shape, 1), name="image")
    x, centres, heights = PeakCrop(
        crop_size, smoothing, n_peaks, 2 * window, name="peak_crop"
    )(inputs)
    for i, width in enumerate(filters):
        x = PixelConv2D(
            width,
            kernel_size,
            activation="relu",
            kernel_initializer=keras.initializers.HeNormal(seed=next(seeds)),
            name=f"conv_{i}",
        )(x)
    # A zero heatmap to start: a uniform softmax over the soft-argmax's
    # square, whose expected offset is 0, so the untrained model answers the
    # peak pixel. A random start put the softmax's mass a pixel off, where
    # its gradient vanishes: a short fit stayed a pixel off on every image.
    x = PixelConv2D(1, kernel_size, kernel_initializer="zeros", name="heatmap")(x)
    coordinates = CropSoftArgmax2D(evidence, name="soft_argmax")([x, centres, heights])
    if gaussian_fit:
        coordinates, _ = GaussianFit(name="gaussian_fit")([inputs, coordinates])
    readout_layer = keras.layers.Dense(n_outputs, trainable=False, name="readout")
    outputs = readout_layer(coordinates)
    model = keras.Model(inputs, outputs, name="spot")
    _set_readout(readout_layer, readout)
    if decay_steps is not None:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, int(decay_steps)
        )
    return _compile(model, learning_rate)
