"""Keras model builders, one per head, each returning a compiled ``keras.Model``.

Both models take images of shape ``(height, width, 1)`` in any intensity scale
(each image is rescaled to [0, 1] by an :class:`ImageNormalization` layer) and
return one value per target column.

- :func:`build_dense_model`: the original notebook's CNN, Conv-Pool-Conv-Pool-
  Flatten-Dense-Dense. Its Flatten-Dense head ties it to one image size.
- :func:`build_soft_argmax_model`: fully convolutional. A small conv net
  scores every pixel, a softmax over all pixels turns the scores into a
  probability map, and its expected ``(row, col)`` (soft-argmax, DSNT) feeds a
  linear read-out to the target's columns. Translation-equivariant, so it
  predicts positions never seen in training, on images of any size.
"""

import numpy as np

from ._layers import (
    CropSoftArgmax2D,
    ImageNormalization,
    PeakCrop,
    SoftArgmax2D,
    Temperature,
)

__all__ = [
    "build_dense_model",
    "build_soft_argmax_model",
    "build_spot_model",
    "min_image_size",
]

DENSE_DEFAULTS = {"filters": (16, 32), "kernel_size": 3, "learning_rate": 1e-3}
SOFT_ARGMAX_DEFAULTS = {"filters": (), "kernel_size": 1, "learning_rate": 0.1}


def min_image_size(head, filters=None, kernel_size=None):
    """Smallest image side the head can process.

    Parameters
    ----------
    head : {"soft_argmax", "dense"}
        The model head.
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
    if head == "soft_argmax":
        return 1  # "same" padding: any size works
    filters = DENSE_DEFAULTS["filters"] if filters is None else filters
    kernel_size = DENSE_DEFAULTS["kernel_size"] if kernel_size is None else kernel_size
    # Work backwards from one pixel after the last Conv-Pool block.
    side = 1
    for _ in filters:
        side = 2 * side + kernel_size - 1
    return side


def _compile(model, learning_rate):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="mse",
        metrics=["mae"],
    )
    return model


def _seeds(seed):
    """An endless stream of layer seeds derived from ``seed`` (None stays None)."""
    rng = None if seed is None else np.random.RandomState(seed)
    while True:
        yield None if rng is None else int(rng.randint(np.iinfo(np.int32).max))


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
    learnable :class:`Temperature`, :class:`SoftArgmax2D` giving ``(row,
    col)``, and a fixed ``Dense(n_outputs)`` affine read-out (not trained).

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

    seeds = _seeds(seed)
    inputs = keras.Input(shape=(*image_shape, 1), name="image")
    x = ImageNormalization(name="normalization")(inputs)
    for i, width in enumerate(filters):
        x = keras.layers.Conv2D(
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
    x = keras.layers.Conv2D(
        1,
        kernel_size,
        padding="same",
        activation="relu",
        kernel_initializer=heatmap_init,
        name="heatmap",
    )(x)
    x = Temperature(100.0 if not filters else 10.0, name="temperature")(x)
    coordinates = SoftArgmax2D(name="soft_argmax")(x)
    # The read-out is fixed: an affine map from (row, col) to the target's
    # columns, solved in closed form before training (see ``readout``). Adam's
    # first steps, of about ``learning_rate`` on every weight, would otherwise
    # knock an exact map off by pixels.
    readout_layer = keras.layers.Dense(n_outputs, trainable=False, name="readout")
    outputs = readout_layer(coordinates)
    model = keras.Model(inputs, outputs, name="soft_argmax")
    if readout is None:
        kernel = np.eye(2, n_outputs) if n_outputs == 2 else np.zeros((2, n_outputs))
        readout = (kernel, np.zeros(n_outputs))
    readout_layer.set_weights(
        [
            np.asarray(w, dtype="float32").reshape(s.shape)
            for w, s in zip(readout, readout_layer.weights)
        ]
    )
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

    seeds = _seeds(seed)
    inputs = keras.Input(shape=(*image_shape, 1), name="image")
    x = ImageNormalization(name="normalization")(inputs)
    for i, width in enumerate(filters):
        x = keras.layers.Conv2D(
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
        x = keras.layers.Conv2D(
            width,
            kernel_size,
            activation="relu",
            kernel_initializer=keras.initializers.HeNormal(seed=next(seeds)),
            name=f"conv_{i}",
        )(x)
    x = keras.layers.Conv2D(
        1,
        kernel_size,
        kernel_initializer=keras.initializers.HeNormal(seed=next(seeds)),
        name="heatmap",
    )(x)
    coordinates = CropSoftArgmax2D(evidence, name="soft_argmax")([x, centres, heights])
    readout_layer = keras.layers.Dense(n_outputs, trainable=False, name="readout")
    outputs = readout_layer(coordinates)
    model = keras.Model(inputs, outputs, name="spot")
    if readout is None:
        kernel = np.eye(2, n_outputs) if n_outputs == 2 else np.zeros((2, n_outputs))
        readout = (kernel, np.zeros(n_outputs))
    readout_layer.set_weights(
        [
            np.asarray(w, dtype="float32").reshape(s.shape)
            for w, s in zip(readout, readout_layer.weights)
        ]
    )
    if decay_steps is not None:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, int(decay_steps)
        )
    return _compile(model, learning_rate)
