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
        shape = ops.shape(inputs)
        # Reduced as (batch, pixels): XLA's CPU code for a reduction over
        # several axes ending in the channel axis of size 1 is many times
        # slower than over one axis. Same minimum and maximum either way.
        flat = ops.reshape(inputs, (shape[0], -1))
        low = ops.min(flat, axis=1, keepdims=True)
        span = ops.max(flat, axis=1, keepdims=True) - low
        # One division per image, then a multiply per pixel.
        scale = 1.0 / ops.where(span > 0, span, ops.ones_like(span))
        return ops.reshape((flat - low) * scale, shape)

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
