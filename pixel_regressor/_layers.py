"""Keras layers of the package, registered so that ``.keras`` files reload.

Every layer here is serializable under the ``pixel_regressor`` package name:
``keras.saving.load_model`` rebuilds a saved model in safe mode once
:mod:`pixel_regressor` has been imported (see ``_keras_registration``).
"""

import math

import keras
from keras import ops

_PACKAGE = "pixel_regressor"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ImageNormalization(keras.layers.Layer):
    """Rescale each image to the range [0, 1] by its own minimum and maximum.

    Predictions then do not depend on the intensity scale or offset of the
    input (uint8 0-255, floats 0-1, ...). A constant image (all pixels equal,
    e.g. all zero) becomes all zeros.
    """

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        axes = tuple(range(1, len(inputs.shape)))
        low = ops.min(inputs, axis=axes, keepdims=True)
        span = ops.max(inputs, axis=axes, keepdims=True) - low
        # One division per image, then a multiply per pixel.
        scale = 1.0 / ops.where(span > 0, span, ops.ones_like(span))
        return (inputs - low) * scale

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Temperature(keras.layers.Layer):
    """Multiply the input by a learnable positive scale, ``exp(log_scale)``.

    Placed before a softmax, it learns how sharp the softmax should be.

    Parameters
    ----------
    initial_value : float, default=10.0
        The scale before training.
    """

    def __init__(self, initial_value=10.0, **kwargs):
        super().__init__(**kwargs)
        if not initial_value > 0:
            raise ValueError(f"initial_value must be > 0, got {initial_value!r}.")
        self.initial_value = float(initial_value)

    def build(self, input_shape):
        self.log_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(self.initial_value)),
            name="log_scale",
        )

    def call(self, inputs):
        return inputs * ops.exp(self.log_scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initial_value": self.initial_value}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SoftArgmax2D(keras.layers.Layer):
    """Expected ``(row, col)`` under a softmax over all pixels of a heatmap.

    The input is a one-channel heatmap of logits, shape ``(batch, height,
    width, 1)``; the output has shape ``(batch, 2)`` and holds the expected row
    and column, in pixel units, of the probability map ``softmax(heatmap)``
    (DSNT, Nibali et al. 2018). It has no weights and works for any image
    size. A constant heatmap gives the image centre,
    ``((height - 1) / 2, (width - 1) / 2)``.
    """

    def call(self, inputs):
        shape = ops.shape(inputs)
        height, width = shape[1], shape[2]
        logits = ops.reshape(inputs, (-1, height, width))
        # softmax = weights / their sum; the division is left to the two
        # expectations (one number per image) instead of every pixel.
        peak = ops.max(logits, axis=(1, 2), keepdims=True)
        weights = ops.exp(logits - peak)
        row_weights = ops.sum(weights, axis=2)  # (batch, height)
        col_weights = ops.sum(weights, axis=1)  # (batch, width)
        total = ops.sum(row_weights, axis=1)
        rows = ops.cast(ops.arange(height), weights.dtype)
        cols = ops.cast(ops.arange(width), weights.dtype)
        row = ops.sum(row_weights * rows, axis=1) / total
        col = ops.sum(col_weights * cols, axis=1) / total
        return ops.stack([row, col], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)


def _gaussian_band(size, sigma, dtype):
    """``(size, size)`` matrix ``exp(-(i - j)**2 / (2 sigma**2))``.

    Multiplying an image by it along one axis smooths that axis with a
    Gaussian of width ``sigma`` (zero beyond the edges, unnormalised).
    """
    index = ops.cast(ops.arange(size), dtype)
    distance = (index[:, None] - index[None, :]) / sigma
    return ops.exp(-0.5 * distance * distance)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PeakCrop(keras.layers.Layer):
    """Cut a normalised square crop around each image's brightest blob.

    The input holds raw images, shape ``(batch, height, width, 1)``, in any
    intensity scale and offset. For each image the layer

    1. subtracts the image's mean (an estimate of the background);
    2. smooths it with a Gaussian of width ``smoothing`` pixels, a matched
       filter for a blurred spot: a lone hot pixel is spread out and loses to
       a spot carrying a comparable number of counts;
    3. takes the smoothed image's argmax as the crop centre (no gradient);
    4. cuts the ``crop_size x crop_size`` square around it, padded with the
       background (zero) where it overhangs the image's edges, so any image
       size works, down to one pixel;
    5. divides the crop by the smoothed peak's height (a Gaussian-weighted
       mean of the spot's counts above the background, robust to single
       bright pixels), so the crop does not depend on the intensity scale.

    It returns the crop, shape ``(batch, crop_size, crop_size, 1)``, and its
    centre, ``(batch, 2)``: the ``(row, col)`` of the peak pixel as floats.
    It has no weights. Both smoothing and cutting are matrix products (faster
    here than one-channel convolutions on small images); their cost grows as
    ``height * width * (height + width)`` per image.

    Parameters
    ----------
    crop_size : int, default=13
        Side of the crop, odd.
    smoothing : float, default=1.5
        Width (standard deviation, pixels) of the Gaussian smoothing used to
        find the peak and the scale.
    """

    def __init__(self, crop_size=13, smoothing=1.5, **kwargs):
        super().__init__(**kwargs)
        if int(crop_size) != crop_size or crop_size < 1 or crop_size % 2 == 0:
            raise ValueError(f"crop_size must be an odd int >= 1, got {crop_size!r}.")
        if not smoothing > 0:
            raise ValueError(f"smoothing must be > 0, got {smoothing!r}.")
        self.crop_size = int(crop_size)
        self.smoothing = float(smoothing)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)[..., 0]
        shape = ops.shape(x)
        height, width = shape[1], shape[2]
        x = x - ops.mean(x, axis=(1, 2), keepdims=True)
        # Separable Gaussian smoothing as two matrix products.
        smoothed = ops.einsum(
            "ij,bjk,lk->bil",
            _gaussian_band(height, self.smoothing, x.dtype),
            x,
            _gaussian_band(width, self.smoothing, x.dtype),
        )
        smoothed = ops.stop_gradient(ops.reshape(smoothed, (-1, height * width)))
        flat = ops.cast(ops.argmax(smoothed, axis=1), "int32")
        row = flat // width
        col = flat - row * width
        # The unnormalised kernel sums to about 2 pi sigma^2.
        peak = ops.max(smoothed, axis=1) / (2.0 * math.pi * self.smoothing**2)
        scale = 1.0 / ops.where(peak > 0, peak, ops.ones_like(peak))
        # Cut the crop with one-hot selection matrices: rows or columns that
        # fall outside the image select nothing, i.e. zero padding.
        offsets = ops.arange(self.crop_size, dtype="int32") - self.crop_size // 2
        select_rows = ops.cast(
            ops.equal(
                (row[:, None] + offsets[None, :])[:, :, None],
                ops.arange(height, dtype="int32")[None, None, :],
            ),
            x.dtype,
        )
        select_cols = ops.cast(
            ops.equal(
                (col[:, None] + offsets[None, :])[:, :, None],
                ops.arange(width, dtype="int32")[None, None, :],
            ),
            x.dtype,
        )
        crop = ops.einsum("bih,bhw,bjw->bij", select_rows, x, select_cols)
        crop = crop * scale[:, None, None]
        centre = ops.cast(ops.stack([row, col], axis=1), self.compute_dtype)
        return crop[..., None], centre

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (batch, self.crop_size, self.crop_size, 1), (batch, 2)

    def get_config(self):
        return {
            **super().get_config(),
            "crop_size": self.crop_size,
            "smoothing": self.smoothing,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CentredSoftArgmax2D(keras.layers.Layer):
    """Soft-argmax of a heatmap centred on a known position.

    Inputs: a one-channel heatmap of logits, shape ``(batch, height, width,
    1)``, and the image position of its centre pixel, shape ``(batch, 2)``
    (e.g. the centre returned by :class:`PeakCrop`). The output, ``(batch,
    2)``, is that centre plus the expected ``(row, col)`` offset from the
    heatmap's centre under ``softmax(heatmap)``. With "valid" convolutions of
    odd kernels between the crop and the heatmap, the heatmap's centre is the
    crop's. It has no weights. A constant heatmap gives the centre itself.
    """

    def call(self, inputs):
        heatmap, centre = inputs
        shape = ops.shape(heatmap)
        height, width = shape[1], shape[2]
        logits = ops.reshape(heatmap, (-1, height, width))
        peak = ops.max(logits, axis=(1, 2), keepdims=True)
        weights = ops.exp(logits - peak)
        row_weights = ops.sum(weights, axis=2)
        col_weights = ops.sum(weights, axis=1)
        total = ops.sum(row_weights, axis=1)
        rows = ops.cast(ops.arange(height), weights.dtype)
        cols = ops.cast(ops.arange(width), weights.dtype)
        rows = rows - ops.cast(height - 1, weights.dtype) / 2.0
        cols = cols - ops.cast(width - 1, weights.dtype) / 2.0
        row = ops.sum(row_weights * rows, axis=1) / total
        col = ops.sum(col_weights * cols, axis=1) / total
        return ops.cast(centre, weights.dtype) + ops.stack([row, col], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 2)
