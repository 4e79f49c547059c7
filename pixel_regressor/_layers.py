"""Keras layers of the package, registered so that ``.keras`` files reload.

Every layer here is serializable under the ``pixel_regressor`` package name:
``keras.saving.load_model`` rebuilds a saved model in safe mode once
:mod:`pixel_regressor` has been imported (see ``_keras_registration``).
"""

import contextlib
import contextvars
import math

import keras
from keras import ops

_PACKAGE = "pixel_regressor"

# Whether PixelConv2D computes one-channel convolutions as shifted products:
# inside :func:`shifted_convolutions` only.
_SHIFTED = contextvars.ContextVar("pixel_regressor_shifted", default=False)


@contextlib.contextmanager
def shifted_convolutions():
    """Within this context, :class:`PixelConv2D` computes a convolution of one
    input channel as a sum of shifted products.

    For functions that XLA compiles from the layers' calls (the JAX inference
    function): XLA fuses the products and sums into one pass, where its CPU
    convolution is several times slower (the first convolution of the dense
    and spot heads: 1.2-1.3x faster predictions on JAX). Elsewhere the
    convolution stays one operation: TensorFlow's graph would run the
    products one by one (3-5x slower than its oneDNN convolution).
    """
    token = _SHIFTED.set(True)
    try:
        yield
    finally:
        _SHIFTED.reset(token)


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
class PixelConv2D(keras.layers.Conv2D):
    """A ``Conv2D`` that computes small cases as products, which XLA fuses.

    The same layer and weights as ``keras.layers.Conv2D``, and the same
    results to float32 rounding. With unit strides and no dilation, a ``1x1``
    kernel is computed as each pixel's channels times the kernel matrix (a
    product per pixel for one input channel) instead of as a convolution. XLA
    fuses that with the element-wise work around it, where a convolution is
    an operation of its own, with its own output the size of the image: the
    soft-argmax head of one ``1x1`` convolution then reads each image a few
    times instead of writing and reading its intermediate images.

    Within :func:`shifted_convolutions`, a larger kernel on one input channel
    is computed as a sum of shifted copies of the image, each times its
    kernel tap's output weights.
    """

    def convolution_op(self, inputs, kernel):
        plain = (
            tuple(self.strides) == (1, 1)
            and tuple(self.dilation_rate) == (1, 1)
            and self.data_format == "channels_last"
            and self.groups == 1
        )
        if not plain:
            return super().convolution_op(inputs, kernel)
        height, width, channels_in, _ = kernel.shape
        if (height, width) == (1, 1):
            matrix = kernel[0, 0]  # (channels in, channels out)
            if channels_in == 1:
                return inputs * matrix[0]
            return ops.matmul(inputs, matrix)
        if channels_in != 1 or not _SHIFTED.get():
            return super().convolution_op(inputs, kernel)
        if self.padding == "same":
            # As Conv2D pads: the odd pixel after.
            inputs = ops.pad(
                inputs,
                [
                    (0, 0),
                    ((height - 1) // 2, height // 2),
                    ((width - 1) // 2, width // 2),
                    (0, 0),
                ],
            )
        shape = ops.shape(inputs)
        rows, cols = shape[1] - height + 1, shape[2] - width + 1
        out = None
        for i in range(height):
            for j in range(width):
                term = inputs[:, i : i + rows, j : j + cols, :] * kernel[i, j, 0]
                out = term if out is None else out + term
        return out


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


def _soft_argmax(inputs):
    """Expected ``(row, col)`` under the softmax over all pixels of ``inputs``."""
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SoftArgmax2D(keras.layers.Layer):
    """Expected ``(row, col)`` under a softmax over all pixels of a heatmap.

    The input is a one-channel heatmap of logits, shape ``(batch, height,
    width, 1)``; the output has shape ``(batch, 2)`` and holds the expected row
    and column, in pixel units, of the probability map ``softmax(heatmap)``
    (DSNT, Nibali et al. 2018). It has no weights and works for any image
    size. A constant heatmap gives the image centre,
    ``((height - 1) / 2, (width - 1) / 2)``.

    The soft-argmax head of version 0.1.0 ended in this layer, which stays
    so that its saved models load; the head now uses
    :class:`PeakSoftArgmax2D`, which distant pixels cannot pull.
    """

    def call(self, inputs):
        return _soft_argmax(inputs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)


# The neighbours :class:`PeakSoftArgmax2D` reads, as (row, col) steps from
# the peak: up, down, left, right.
_NEIGHBOUR_STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def _neighbour_offset(before, after):
    """Expected offset from a peak under the softmax of it and its two
    neighbours on one axis, given the neighbours' weights ``exp(neighbour -
    peak)`` (0 outside the image): in [-1/2, 1/2]. Tensors or arrays."""
    return (after - before) / (1.0 + before + after)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PeakSoftArgmax2D(keras.layers.Layer):
    """``(row, col)`` of a heatmap's peak pixel, refined by its neighbours.

    The input is a one-channel heatmap of logits, shape ``(batch, height,
    width, 1)``; the output has shape ``(batch, 2)``.

    At inference, the output is the position of the heatmap's largest value
    (its argmax) plus, along each axis, the expected offset under a softmax
    of the peak and its two neighbours on that axis (a neighbour outside the
    image weighs nothing)::

        row = peak_row + (w_down - w_up) / (1 + w_up + w_down),
        w_up = exp(heatmap[peak_row - 1, peak_col] - heatmap[peak]), ...

    Each neighbour weighs at most the peak, so an offset lies within
    [-1/2, 1/2], strictly inside when the peak is unique: the prediction
    then rounds to the peak pixel, at any contrast. Pixels beyond the peak's
    neighbours have no say, however many they are or however close to the
    peak. Among tied maxima the first in row-major order is the peak (a tied
    neighbour pulls half-way to it). A constant heatmap (a blank image) gives
    the image centre, ``((height - 1) / 2, (width - 1) / 2)``.

    In training, the output is the expected ``(row, col)`` under the softmax
    of the whole heatmap (DSNT, Nibali et al. 2018), as in
    :class:`SoftArgmax2D`: every pixel then gets a gradient, so a network
    whose weights start random learns where the peak is, while the argmax
    has no gradient. The two agree on a sharp heatmap with one peak, which is
    what training on a mean squared error drives the heatmap to; where they
    differ (near-ties far apart, low contrast against a textured
    background), the peak read-out is the one distant pixels do not pull.
    Like ``Dropout``, the layer follows Keras's ``training`` flag: ``fit``
    trains on the softmax, ``evaluate``, ``predict`` and the validation
    loss use the peak. No weights; any image size.
    """

    def call(self, inputs, training=False):
        if training:
            return _soft_argmax(inputs)
        shape = ops.shape(inputs)
        height, width = shape[1], shape[2]
        flat = ops.reshape(inputs, (-1, height * width))
        peak = ops.max(flat, axis=1)
        # The first pixel at the maximum, on every backend (and in ONNX,
        # which lacks the bit operations of Keras's TensorFlow argmax).
        pixels = ops.arange(height * width, dtype="int32")
        index = ops.min(
            ops.where(flat >= peak[:, None], pixels[None, :], height * width), axis=1
        )
        row = index // width
        col = index - row * width

        def weight(step_row, step_col):
            inside = ops.logical_and(
                ops.logical_and(row + step_row >= 0, row + step_row < height),
                ops.logical_and(col + step_col >= 0, col + step_col < width),
            )
            at = ops.where(inside, index + step_row * width + step_col, index)
            value = ops.take_along_axis(flat, at[:, None], axis=1)[:, 0]
            return ops.where(inside, ops.exp(value - peak), ops.zeros_like(peak))

        up, down, left, right = (weight(*step) for step in _NEIGHBOUR_STEPS)
        dtype = flat.dtype
        row = ops.cast(row, dtype) + _neighbour_offset(up, down)
        col = ops.cast(col, dtype) + _neighbour_offset(left, right)
        constant = ops.min(flat, axis=1) >= peak
        row = ops.where(constant, ops.cast(height - 1, dtype) / 2.0, row)
        col = ops.where(constant, ops.cast(width - 1, dtype) / 2.0, col)
        return ops.stack([row, col], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)


# The height of a runner-up crop that does not exist.
_MISSING = -1e6


def _gaussian_band(size, sigma, dtype):
    """``(size, size)`` matrix ``exp(-(i - j)**2 / (2 sigma**2))``.

    Multiplying an image by it along one axis smooths that axis with a
    Gaussian of width ``sigma`` (zero beyond the edges, unnormalised).
    """
    index = ops.cast(ops.arange(size), dtype)
    distance = (index[:, None] - index[None, :]) / sigma
    return ops.exp(-0.5 * distance * distance)


def _first_index(values, maximum, index):
    """The first position along axis 1 of each row's ``maximum``: ``argmax``.

    As a comparison and a minimum, both of which XLA's CPU code fuses and
    vectorises: JAX's ``argmax`` (a paired reduction of values and indices,
    after Keras's pass for negative zeros) is 4x slower. ``index`` is
    ``arange(values.shape[1])``; a row without its maximum (NaN) gives its
    last position.
    """
    size = ops.shape(values)[1]
    found = ops.where(values == maximum[:, None], index[None, :], size)
    return ops.minimum(ops.min(found, axis=1), size - 1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PeakCrop(keras.layers.Layer):
    """Cut normalised square crops around each image's brightest blobs.

    The input holds raw images, shape ``(batch, height, width, 1)``, in any
    intensity scale and offset. For each image the layer

    1. subtracts the image's mean (an estimate of the background);
    2. smooths it with a Gaussian of width ``smoothing`` pixels, a matched
       filter for a blurred spot: a lone hot pixel is spread out and loses to
       a spot carrying a comparable number of counts;
    3. takes the smoothed image's argmax as the first crop centre (no
       gradient), then, ``n_peaks - 1`` times, the argmax of what lies more
       than ``suppression`` pixels (in rows or columns) from every centre
       found so far: the runners-up, where a faint spot may lie instead;
    4. cuts the ``crop_size x crop_size`` square around each centre, padded
       with the background (zero) where it overhangs the image's edges, so
       any image size works, down to one pixel;
    5. divides the crops by the highest smoothed peak (a Gaussian-weighted
       mean of the spot's counts above the background, robust to single
       bright pixels), so they do not depend on the intensity scale, and all
       crops of an image share one scale.

    It returns three tensors: the crops, ``(batch * n_peaks, crop_size,
    crop_size, 1)``, image after image; their centres, ``(batch, n_peaks,
    2)``, the ``(row, col)`` of each peak pixel as floats; and their heights,
    ``(batch, n_peaks)``, each smoothed peak divided by the highest (1 for
    the first crop), or -1e6 for a runner-up that does not exist (nothing
    left outside the suppressed squares of a small image). It has no
    weights. Smoothing is two matrix products (faster here than one-channel
    convolutions on small images); its cost grows as ``height * width *
    (height + width)`` per image. Cutting gathers the crops' pixels.

    Parameters
    ----------
    crop_size : int, default=13
        Side of the crops, odd.
    smoothing : float, default=1.5
        Width (standard deviation, pixels) of the Gaussian smoothing used to
        find the peaks and the scale.
    n_peaks : int, default=1
        Number of crops per image.
    suppression : int, default=None
        Half-side of the square around a centre where no further centre may
        lie. None: ``crop_size // 2``.
    """

    def __init__(
        self, crop_size=13, smoothing=1.5, n_peaks=1, suppression=None, **kwargs
    ):
        super().__init__(**kwargs)
        if int(crop_size) != crop_size or crop_size < 1 or crop_size % 2 == 0:
            raise ValueError(f"crop_size must be an odd int >= 1, got {crop_size!r}.")
        if not smoothing > 0:
            raise ValueError(f"smoothing must be > 0, got {smoothing!r}.")
        if int(n_peaks) != n_peaks or n_peaks < 1:
            raise ValueError(f"n_peaks must be an int >= 1, got {n_peaks!r}.")
        if suppression is None:
            suppression = crop_size // 2
        if int(suppression) != suppression or suppression < 0:
            raise ValueError(f"suppression must be an int >= 0, got {suppression!r}.")
        self.crop_size = int(crop_size)
        self.smoothing = float(smoothing)
        self.n_peaks = int(n_peaks)
        self.suppression = int(suppression)

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
        # The highest smoothed value; the unnormalised kernel sums to about
        # 2 pi sigma^2.
        value = ops.max(smoothed, axis=1)
        top = value / (2.0 * math.pi * self.smoothing**2)
        scale = 1.0 / ops.where(top > 0, top, ops.ones_like(top))
        pixel = ops.arange(height * width, dtype="int32")
        pixel_row = pixel // width
        pixel_col = pixel - pixel_row * width
        # Suppressed pixels sit below every smoothed value.
        floor = ops.min(smoothed, axis=1, keepdims=True) - 1.0
        rows, cols, heights = [], [], []
        for i in range(self.n_peaks):
            flat = _first_index(smoothed, value, pixel)
            row = flat // width
            col = flat - row * width
            rows.append(row)
            cols.append(col)
            heights.append(
                ops.where(
                    value > floor[:, 0],
                    value * scale / (2.0 * math.pi * self.smoothing**2),
                    ops.full_like(value, _MISSING),
                )
            )
            if i + 1 < self.n_peaks:
                near = ops.logical_and(
                    ops.abs(pixel_row[None, :] - row[:, None]) <= self.suppression,
                    ops.abs(pixel_col[None, :] - col[:, None]) <= self.suppression,
                )
                smoothed = ops.where(near, floor, smoothed)
                value = ops.max(smoothed, axis=1)
        row = ops.stack(rows, axis=1)  # (batch, n_peaks)
        col = ops.stack(cols, axis=1)
        # Gather each crop's pixels; rows or columns that fall outside the
        # image are zero padding.
        offsets = ops.arange(self.crop_size, dtype="int32") - self.crop_size // 2
        crop_rows = row[:, :, None] + offsets  # (batch, n_peaks, crop_size)
        crop_cols = col[:, :, None] + offsets
        inside = ops.logical_and(
            ops.logical_and(crop_rows >= 0, crop_rows < height)[..., :, None],
            ops.logical_and(crop_cols >= 0, crop_cols < width)[..., None, :],
        )  # (batch, n_peaks, crop_size, crop_size)
        index = (
            ops.clip(crop_rows, 0, height - 1)[..., :, None] * width
            + ops.clip(crop_cols, 0, width - 1)[..., None, :]
        )
        crops = ops.take_along_axis(
            ops.reshape(x, (-1, height * width)),
            ops.reshape(index, (-1, self.n_peaks * self.crop_size**2)),
            axis=1,
        )
        crops = ops.where(inside, ops.reshape(crops, ops.shape(index)), 0.0)
        crops = crops * scale[:, None, None, None]
        crops = ops.reshape(crops, (-1, self.crop_size, self.crop_size, 1))
        centres = ops.cast(ops.stack([row, col], axis=2), self.compute_dtype)
        return crops, centres, ops.stack(heights, axis=1)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        crops_batch = None if batch is None else batch * self.n_peaks
        return (
            (crops_batch, self.crop_size, self.crop_size, 1),
            (batch, self.n_peaks, 2),
            (batch, self.n_peaks),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "crop_size": self.crop_size,
            "smoothing": self.smoothing,
            "n_peaks": self.n_peaks,
            "suppression": self.suppression,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CropSoftArgmax2D(keras.layers.Layer):
    """Soft-argmax over the heatmaps of an image's crops, in image pixels.

    Inputs, as :class:`PeakCrop` returns them once a conv net has turned
    each crop into a one-channel heatmap of logits: the heatmaps, shape
    ``(batch * n_crops, height, width, 1)``, image after image; the image
    position of each heatmap's centre pixel, ``(batch, n_crops, 2)``; and the
    height of each crop's peak, ``(batch, n_crops)``. The output, ``(batch,
    2)``, is a weighted mean over the crops of each crop's position: its
    centre plus the expected offset from the heatmap's centre under the
    softmax of its heatmap. The crops' weights are a softmax over the crops
    of ``evidence * height * |height|``, with ``evidence`` learnable (kept positive
    as ``exp(log_evidence)``; no weight when there is one crop): the
    brightest crop wins unless a runner-up is nearly as bright, where the
    model hedges, as a mean squared error loss asks. A missing crop (height
    -1e6) weighs nothing. With "valid"
    convolutions of odd kernels between crop and heatmap, the heatmap's
    centre is the crop's. A constant heatmap gives the centre of its crop.

    Parameters
    ----------
    evidence : float, default=10.0
        The weight of the peak heights before training, > 0.
    """

    def __init__(self, evidence=10.0, **kwargs):
        super().__init__(**kwargs)
        if not evidence > 0:
            raise ValueError(f"evidence must be > 0, got {evidence!r}.")
        self.evidence = float(evidence)

    def build(self, input_shape):
        # One crop takes all the weight: no evidence to learn.
        self.log_evidence = None
        if input_shape[1][1] != 1:
            self.log_evidence = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(math.log(self.evidence)),
                name="log_evidence",
            )

    def call(self, inputs):
        heatmaps, centres, heights = inputs
        n_crops = centres.shape[1]
        shape = ops.shape(heatmaps)
        height, width = shape[1], shape[2]
        logits = ops.reshape(heatmaps, (-1, n_crops, height, width))
        # Each crop's own soft-argmax: its expected offset from its centre.
        peak = ops.max(logits, axis=(2, 3), keepdims=True)
        weights = ops.exp(logits - peak)
        row_weights = ops.sum(weights, axis=3)  # (batch, n_crops, height)
        col_weights = ops.sum(weights, axis=2)  # (batch, n_crops, width)
        total = ops.sum(row_weights, axis=2)  # (batch, n_crops)
        rows = ops.cast(ops.arange(height), weights.dtype)
        cols = ops.cast(ops.arange(width), weights.dtype)
        rows = rows - ops.cast(height - 1, weights.dtype) / 2.0
        cols = cols - ops.cast(width - 1, weights.dtype) / 2.0
        centres = ops.cast(centres, weights.dtype)
        row = centres[:, :, 0] + ops.sum(row_weights * rows, axis=2) / total
        col = centres[:, :, 1] + ops.sum(col_weights * cols, axis=2) / total
        if self.log_evidence is None:
            return ops.stack([row[:, 0], col[:, 0]], axis=1)
        # The crops' shares: a softmax of evidence * height**2 (the log
        # likelihood ratio of a matched filter grows as its response squared).
        heights = ops.cast(heights, weights.dtype)
        heights = ops.where(heights > _MISSING, heights * ops.abs(heights), heights)
        shares = ops.softmax(ops.exp(self.log_evidence) * heights, axis=1)
        return ops.stack(
            [ops.sum(shares * row, axis=1), ops.sum(shares * col, axis=1)], axis=1
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[1][0], 2)

    def get_config(self):
        return {**super().get_config(), "evidence": self.evidence}


def _pixel_shares(first, centre, width, size):
    """Shares of 1-D Gaussians in ``size`` pixels from pixel ``first`` on.

    ``first`` (int), ``centre`` and ``width`` have shape ``(batch,)``; pixel
    ``k`` covers ``[k - 0.5, k + 0.5]``. Returns the shares and their
    derivatives with respect to the centre and the width, each ``(batch,
    size)``.
    """
    dtype = centre.dtype
    edges = ops.cast(first[:, None] + ops.arange(size + 1, dtype="int32"), dtype)
    z = (edges - 0.5 - centre[:, None]) / width[:, None]
    cdf = 0.5 * ops.erf(z * (1.0 / math.sqrt(2.0)))
    density = ops.exp(-0.5 * z * z) * (1.0 / math.sqrt(2.0 * math.pi))
    weighted = density * z
    return (
        cdf[:, 1:] - cdf[:, :-1],
        (density[:, :-1] - density[:, 1:]) / width[:, None],
        (weighted[:, :-1] - weighted[:, 1:]) / width[:, None],
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GaussianFit(keras.layers.Layer):
    """Polish each position by a maximum-likelihood fit of a Gaussian spot.

    Inputs: the raw images, shape ``(batch, height, width, 1)``, in photon
    counts or proportional to them, and a first position per image,
    ``(batch, 2)`` (its ``(row, col)`` in image pixels). On the square of
    side ``2 * radius + 1`` around the first position's pixel, the layer fits
    a pixel-integrated Gaussian spot on a flat background::

        mu_k = N * share_k(row, col, sigma) + b

    to the pixels by Poisson maximum likelihood, all five of ``(row, col,
    sigma, N, b)`` free: ``iterations`` steps of Fisher scoring (Newton's
    method with the expected Hessian), from the first position, width
    ``start_width``, the median of the square's border as background and the
    rest as the spot's signal. Pixels outside the image are left out, and so
    are hot pixels: a pixel more than 3 times as far above that background
    as the second brightest of its eight neighbours, and 5 noise deviations
    beyond it (the square's border gives the noise). The likelihood is that
    of counts up to a scale: images in any gain without an offset fit the
    same.

    Outputs: the fitted positions, ``(batch, 2)``, and their covariance,
    ``(batch, 3)`` as ``(var_row, var_col, cov_row_col)`` in pixels squared:
    the inverse of the Fisher information at the fit (the covariance of an
    efficient estimate) times the dispersion of the fit's residuals
    (Pearson's statistic over its degrees of freedom, about 1 for photon
    counts, ``g`` for counts ``g`` times photons, more where the spot is
    not the model's), as in a quasi-likelihood. Where the fit fails (not
    finite, or further than ``max_shift`` pixels from the first position in
    rows or columns: another blob, or no spot), the first position is kept,
    with the covariance at the fit's starting point. Variances are capped at
    that of a position uniform over the square, ``(2 * radius + 1) ** 2 /
    12``.

    In training (``training=True``) the first position passes through, with
    a zero covariance, so that the layers before learn the position itself.

    Parameters
    ----------
    radius : int, default=5
        Half-side of the fitted square, in pixels: 2.5 widths of a spot of
        width 2.
    iterations : int, default=6
        Fisher-scoring steps.
    start_width : float, default=1.5
        The width the fit starts from, in pixels.
    max_shift : float, default=1.0
        How far (rows or columns) the fit may move from the first position.
    """

    #: The likelihood needs each image's own offset: see
    #: :func:`pixel_regressor._inference.needs_counts`.
    needs_counts = True

    def __init__(
        self, radius=5, iterations=6, start_width=1.5, max_shift=1.0, **kwargs
    ):
        super().__init__(**kwargs)
        if int(radius) != radius or radius < 1:
            raise ValueError(f"radius must be an int >= 1, got {radius!r}.")
        if int(iterations) != iterations or iterations < 1:
            raise ValueError(f"iterations must be an int >= 1, got {iterations!r}.")
        if not start_width > 0:
            raise ValueError(f"start_width must be > 0, got {start_width!r}.")
        if not max_shift > 0:
            raise ValueError(f"max_shift must be > 0, got {max_shift!r}.")
        self.radius = int(radius)
        self.iterations = int(iterations)
        self.start_width = float(start_width)
        self.max_shift = float(max_shift)

    def call(self, inputs, training=False):
        images, start = inputs
        start = ops.cast(start, self.compute_dtype)
        if training:
            return start, ops.zeros_like(ops.concatenate([start, start[:, :1]], 1))
        fit = self._fit(images, start)
        theta, initial = fit["theta"], fit["initial"]
        position = theta[:, :2]
        ok = ops.logical_and(
            ops.all(ops.abs(position - start) <= self.max_shift, axis=1),
            ops.all(ops.isfinite(theta), axis=1),
        )
        position = ops.where(ok[:, None], position, start)
        # The position block of the inverse information times the
        # dispersion: in the image's own units whatever its scale.
        scaled, root, _, dispersion = fit["information"](
            ops.where(ok[:, None], theta, initial)
        )
        inverse = ops.inv(scaled + 1e-6 * ops.eye(5, dtype=scaled.dtype)) / (
            root[:, :, None] * root[:, None, :]
        )
        fitted = (
            ops.stack([inverse[:, 0, 0], inverse[:, 1, 1], inverse[:, 0, 1]], axis=1)
            * dispersion[:, None]
        )
        # At most the variance of a position uniform over the square (a
        # start on noise has next to no information).
        side = 2 * self.radius + 1
        most = float(side * side) / 12.0
        variances = ops.where(
            ops.isfinite(fitted[:, :2]), ops.clip(fitted[:, :2], 0.0, most), most
        )
        bound = ops.sqrt(variances[:, 0] * variances[:, 1])
        correlation = ops.where(ops.isfinite(fitted[:, 2]), fitted[:, 2], 0.0)
        correlation = ops.clip(correlation, -bound, bound)
        return position, ops.concatenate([variances, correlation[:, None]], axis=1)

    def residuals(self, images, start):
        """Pearson residuals of the fit from ``start``, on its square.

        Parameters
        ----------
        images : array of shape (batch, height, width, 1)
        start : array of shape (batch, 2)
            First positions, ``(row, col)`` in image pixels.

        Returns
        -------
        residuals : array of shape (batch, side, side)
            ``(x - mu) / sqrt(mu)`` of each pixel of the square of side ``2 *
            radius + 1`` around each start's pixel, in the fit's scale (the
            square's mean is 1), 0 where the pixel is left out.
        used : array of shape (batch, side, side)
            1 where the pixel enters the fit (inside the image, not hot), 0
            elsewhere.
        converged : array of shape (batch,)
            Whether the fit is finite and stayed within ``max_shift`` of
            ``start``, as :meth:`call` requires of a fit it keeps.
        theta : array of shape (batch, 5)
            The fitted ``(row, col, width, signal, background)``, in the
            images' pixels and units.
        """
        start = ops.cast(start, self.compute_dtype)
        fit = self._fit(images, start)
        theta = fit["theta"]
        side = 2 * self.radius + 1
        mu, _ = self._model(theta, fit["first"], side)
        used = fit["use"]
        residuals = used * (fit["data"] - mu) / ops.sqrt(mu)
        converged = ops.logical_and(
            ops.all(ops.abs(theta[:, :2] - start) <= self.max_shift, axis=1),
            ops.all(ops.isfinite(residuals), axis=1),
        )
        shape = (-1, side, side)
        units = ops.concatenate(
            [ops.ones_like(theta[:, :3]), ops.repeat(fit["scale"][:, None], 2, 1)], 1
        )
        return (
            ops.reshape(ops.where(used > 0, residuals, 0.0), shape),
            ops.reshape(used, shape),
            converged,
            theta * units,
        )

    def _fit(self, images, start):
        """The fit of every image from ``start``: a dict of ``theta`` and
        ``initial`` (``(batch, 5)``: ``(row, col, width, signal,
        background)``, fitted and first), ``information`` (a function of
        ``theta``: the Jacobi-scaled Fisher information, its scale, the score
        and the dispersion), ``data`` and ``use`` (``(batch, side ** 2)``:
        the square's values, scaled, and which enter the fit), ``scale``
        (``(batch,)``: the square's mean, by which they are divided) and
        ``first`` (the square's first row and column)."""
        x = ops.cast(images, self.compute_dtype)[..., 0]
        shape = ops.shape(x)
        height, width = shape[1], shape[2]
        side = 2 * self.radius + 1
        # The square and a ring around it (for the hot pixels' neighbours).
        first_row = ops.cast(ops.round(start[:, 0]), "int32") - self.radius
        first_col = ops.cast(ops.round(start[:, 1]), "int32") - self.radius
        offsets = ops.arange(side + 2, dtype="int32") - 1
        rows = first_row[:, None] + offsets
        cols = first_col[:, None] + offsets
        inside = ops.logical_and(
            ops.logical_and(rows >= 0, rows < height)[:, :, None],
            ops.logical_and(cols >= 0, cols < width)[:, None, :],
        )
        index = (
            ops.clip(rows, 0, height - 1)[:, :, None] * width
            + ops.clip(cols, 0, width - 1)[:, None, :]
        )
        values = ops.take_along_axis(
            ops.reshape(x, (-1, height * width)),
            ops.reshape(index, (-1, (side + 2) ** 2)),
            axis=1,
        )
        values = ops.reshape(values, ops.shape(index))
        data = values[:, 1:-1, 1:-1]
        valid = inside[:, 1:-1, 1:-1]
        valid_f = ops.cast(valid, data.dtype)
        # Scale: the square's mean is 1, so that every image fits alike.
        count = ops.maximum(ops.sum(valid_f, axis=(1, 2)), 1.0)
        mean = ops.sum(data * valid_f, axis=(1, 2)) / count
        scale = ops.where(mean > 0, mean, ops.ones_like(mean))
        values = values / scale[:, None, None]
        data = values[:, 1:-1, 1:-1]
        # Background and noise from the square's border (missing pixels take
        # the lowest valid value).
        low = ops.min(ops.where(valid, data, 1e30), axis=(1, 2))
        filled = ops.where(valid, data, low[:, None, None])
        border = ops.concatenate(
            [filled[:, 0], filled[:, -1], filled[:, 1:-1, 0], filled[:, 1:-1, -1]],
            axis=1,
        )
        level = ops.median(border, axis=1)
        noise = 1.4826 * ops.median(ops.abs(border - level[:, None]), axis=1)
        # Hot pixels: far above the second brightest of their neighbours.
        ring = ops.where(inside, values, -1e30)
        # The two largest of the eight neighbours, kept as a running pair
        # (element-wise: several times faster than top_k over a new axis).
        largest = second = ops.full_like(data, -1e30)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if dr or dc:
                    value = ring[:, 1 + dr : side + 1 + dr, 1 + dc : side + 1 + dc]
                    second = ops.maximum(second, ops.minimum(largest, value))
                    largest = ops.maximum(largest, value)
        above = ops.maximum(second - level[:, None, None], 0.0)
        hot = data - level[:, None, None] > 3.0 * above + 5.0 * noise[:, None, None]
        use = ops.cast(ops.logical_and(valid, ops.logical_not(hot)), data.dtype)
        # Start: (row, col, width, signal, background).
        floor = 1e-6
        background = ops.maximum(level, floor)
        signal = ops.maximum(
            ops.sum((data - background[:, None, None]) * use, axis=(1, 2)), 1e-3
        )
        theta = ops.stack(
            [
                start[:, 0],
                start[:, 1],
                ops.full_like(start[:, 0], self.start_width),
                signal,
                background,
            ],
            axis=1,
        )
        first = (first_row, first_col)
        d = ops.reshape(data, (-1, side * side))
        w = ops.reshape(use, (-1, side * side))
        eye = ops.eye(5, dtype=data.dtype)
        steps = ops.convert_to_tensor([0.5, 0.5, 0.3, 1e30, 1e30], dtype=data.dtype)
        low_bounds = ops.convert_to_tensor(
            [-1e30, -1e30, 0.3, 1e-3, floor], dtype=data.dtype
        )
        high_bounds = ops.convert_to_tensor(
            [1e30, 1e30, float(self.radius), 1e30, 1e30], dtype=data.dtype
        )

        def information(theta):
            """Fisher information (Jacobi-scaled), its scale, the score, and
            the dispersion of the residuals."""
            mu, jacobian = self._model(theta, first, side)
            fisher = ops.einsum("bik,bjk->bij", jacobian * (w / mu)[:, None], jacobian)
            score = ops.einsum("bik,bk->bi", jacobian, w * (d / mu - 1.0))
            root = ops.sqrt(ops.maximum(ops.diagonal(fisher, axis1=1, axis2=2), 1e-30))
            # Pearson's statistic over its degrees of freedom.
            dof = ops.maximum(ops.sum(w, axis=1) - 5.0, 1.0)
            dispersion = ops.sum(w * ops.square(d - mu) / mu, axis=1) / dof
            scaled = fisher / (root[:, :, None] * root[:, None, :])
            return scaled, root, score, dispersion

        initial = theta
        for _ in range(self.iterations):
            scaled, root, score, _ = information(theta)
            # A Jacobi-scaled, lightly damped Newton step.
            step = ops.solve(scaled + 1e-3 * eye, (score / root)[..., None])[..., 0]
            step = ops.clip(step / root, -steps, steps)
            theta = ops.clip(theta + step, low_bounds, high_bounds)
        return {
            "theta": theta,
            "initial": initial,
            "information": information,
            "data": d,
            "use": w,
            "scale": scale,
            "first": first,
        }

    @staticmethod
    def _model(theta, first, side):
        """Expected counts ``(batch, side ** 2)`` and their Jacobian
        ``(batch, 5, side ** 2)`` at ``theta``."""
        row, col, width, signal, background = (theta[:, i] for i in range(5))
        rows, d_rows, w_rows = _pixel_shares(first[0], row, width, side)
        cols, d_cols, w_cols = _pixel_shares(first[1], col, width, side)
        psf = rows[:, :, None] * cols[:, None, :]
        amplitude = signal[:, None, None]
        jacobian = ops.stack(
            [
                amplitude * d_rows[:, :, None] * cols[:, None, :],
                amplitude * rows[:, :, None] * d_cols[:, None, :],
                amplitude
                * (
                    w_rows[:, :, None] * cols[:, None, :]
                    + rows[:, :, None] * w_cols[:, None, :]
                ),
                psf,
                ops.ones_like(psf),
            ],
            axis=1,
        )
        mu = ops.maximum(amplitude * psf + background[:, None, None], 1e-6)
        return (
            ops.reshape(mu, (-1, side * side)),
            ops.reshape(jacobian, (-1, 5, side * side)),
        )

    def compute_output_shape(self, input_shape):
        batch = input_shape[1][0]
        return (batch, 2), (batch, 3)

    def get_config(self):
        return {
            **super().get_config(),
            "radius": self.radius,
            "iterations": self.iterations,
            "start_width": self.start_width,
            "max_shift": self.max_shift,
        }
