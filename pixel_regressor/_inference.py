"""Compiled, memory-bounded inference for the estimator's Keras models.

:func:`predict` runs a Keras model on images of shape ``(n, height, width,
1)`` through one compiled function per model and batch shape:

- TensorFlow: a ``tf.function`` with a fixed input signature (so it never
  retraces), compiled by XLA (``jit_compile=True``) when the model's layers
  are ones XLA's CPU code runs faster than TensorFlow's own kernels
  (see :func:`_use_xla`);
- JAX: ``jax.jit`` of the model's ``stateless_call``, given the current
  weights at each call (so further training is seen), traced within
  :func:`~pixel_regressor._layers.shifted_convolutions` (a convolution of one
  input channel as shifted products, which XLA fuses);
- other backends: the model's ``predict_on_batch``.

A model whose heatmap is an increasing function of each pixel alone (the
default soft-argmax head: a ``1x1`` convolution with a positive weight) has
its heatmap's peak at the image's brightest pixel. :func:`predict` computes
such a model in NumPy instead, at the only pixels its output depends on: each
image's first brightest pixel (``np.argmax``), its minimum and its four
neighbours (see :func:`_pixel_peak_weights`), a few times faster than any
compiled function, which has to compute the heatmap at every pixel.

The compiled functions are cached per model in a
:class:`weakref.WeakKeyDictionary`: nothing is stored on the estimator or the
model (pickles and clones carry no cache), and a model's functions go when
the model goes.

Batches hold at most :data:`PIXEL_BUDGET` pixels (rounded down to a power of
two of images, at least one image), so memory stays a small multiple of one
batch whatever the image size. Each batch is copied, as float32, into one
buffer reused for every batch (aligned so that TensorFlow reads it in place,
without a copy of its own); the last, partial batch is padded with blank
images to the same batch size: every image is computed in a batch of the
same shape, so its result does not depend on which batch it falls in, where,
or beside what. The padding is at most one batch of :data:`PIXEL_BUDGET`
pixels; images larger than that are computed one at a time, unpadded.
"""

import warnings
import weakref

import numpy as np

__all__ = ["PIXEL_BUDGET", "as_float32", "batch_size", "needs_counts", "predict"]

# Pixels per batch: 2**20 float32 pixels are 4 MiB, 256 images of 50x50.
# Measured on 50x50 images (benchmarks/fast_paths.py): batches of 128 to 512
# images run at the same speed within noise; 1024 and more are slower (the
# batch leaves the cache), fewer than 64 pay the per-call overhead.
PIXEL_BUDGET = 1 << 20

# model -> {(batch, height, width): function from a float32 batch to ndarray}
_CACHE = weakref.WeakKeyDictionary()


# Pixels an image counts for at least: the spot heads work on a 13x13 crop
# (and an 11x11 fit) of 16 channels whatever the image's size, so a batch
# sized by a tiny image's own pixels (2**20 images of 1x1) asked TensorFlow
# for gigabytes.
MIN_IMAGE_PIXELS = 256


def batch_size(height, width):
    """Images per batch for ``height`` x ``width`` images: a power of two.

    At most ``PIXEL_BUDGET / MIN_IMAGE_PIXELS`` (4,096) images.
    """
    pixels = max(MIN_IMAGE_PIXELS, int(height) * int(width))
    size = 1
    while 2 * size * pixels <= PIXEL_BUDGET:
        size *= 2
    return size


# The ways :func:`predict` can compute a model.
PATHS = ("auto", "compiled", "keras")


def predict(model, images, n_outputs, *, path="auto"):
    """Run ``model`` on ``images`` batch by batch; float64 ``(n, n_outputs)``.

    Parameters
    ----------
    model : keras.Model
        Takes ``(batch, height, width, 1)`` float32 images.
    images : ndarray of shape (n_samples, height, width, 1)
        Any real dtype, possibly memory-mapped; converted to float32 one
        batch at a time by :func:`as_float32`, which raises ``ValueError`` on
        NaN or infinite values.
    n_outputs : int
        The model's output width.
    path : {"auto", "compiled", "keras"}, default="auto"
        "compiled" runs the cached compiled function; "keras" runs the
        model's ``predict_on_batch`` on the same batches (for comparisons);
        "auto" computes a model with a per-pixel increasing heatmap at its
        peak in NumPy (:func:`_pixel_peak_weights`) and any other model as
        "compiled" does.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs), float64
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}.")
    n, height, width = images.shape[:3]
    out = np.empty((n, n_outputs), dtype=np.float64)
    if n == 0:
        return out
    size = batch_size(height, width)
    weights = _pixel_peak_weights(model) if path == "auto" else None
    if weights is not None:
        out[:] = _pixel_peak(images, size, *weights)
        return out
    counts = needs_counts(model)
    if path != "keras":
        function = _function(model, (size, height, width))
    else:

        def function(batch):
            return model.predict_on_batch(batch)

    # One buffer for every batch, aligned as TensorFlow needs to read it in
    # place: the batches are copied into it, the last one padded with zeros.
    staging = _aligned_empty((size, height, width, 1), np.float32)
    for start in range(0, n, size):
        batch = as_float32(
            images[start : start + size],
            check_ties=not counts,
            check_finite=True,
            counts=counts,
        )
        count = len(batch)
        staging[:count] = batch
        staging[count:] = 0
        out[start : start + count] = np.asarray(function(staging))[:count]
    return out


def _pixel_peak_weights(model):
    """The weights of a model computed at its peak, or None.

    The model must be, layer for layer, :class:`ImageNormalization`, a
    one-channel ``1x1`` :class:`PixelConv2D` heatmap with a ReLU and a
    positive weight, :class:`Temperature`, :class:`PeakSoftArgmax2D` and a
    linear ``Dense`` read-out, all in float32: the default soft-argmax head
    (``filters=()``, ``kernel_size=1``). Its heatmap, ``T * relu(w * x + b)``
    of each rescaled pixel ``x`` in [0, 1], is then non-decreasing in the
    pixel's value, in exact arithmetic and in float32's (every rounding is),
    and strictly increasing wherever it is positive: its first maximum is the
    image's first brightest pixel, as ``np.argmax`` finds it.

    Returns
    -------
    tuple of (w, b, T, kernel, bias), float32, or None
        The heatmap's weight and bias, the temperature, and the read-out's
        kernel ``(2, n_outputs)`` and bias ``(n_outputs,)``.
    """
    import keras

    from ._layers import (
        ImageNormalization,
        PeakSoftArgmax2D,
        PixelConv2D,
        Temperature,
    )

    layers = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    kinds = (ImageNormalization, PixelConv2D, Temperature, PeakSoftArgmax2D)
    kinds += (keras.layers.Dense,)
    if len(layers) != len(kinds) or not all(
        type(layer) is kind for layer, kind in zip(layers, kinds)
    ):
        return None
    if any(layer.compute_dtype != "float32" for layer in layers):
        return None
    _, heatmap, temperature, _, readout = layers
    if (
        tuple(heatmap.kernel.shape) != (1, 1, 1, 1)
        or tuple(heatmap.strides) != (1, 1)
        or heatmap.data_format != "channels_last"
        or heatmap.activation is not keras.activations.relu
        or readout.activation is not keras.activations.linear
        or not readout.use_bias
    ):
        return None
    w = np.float32(heatmap.kernel.numpy().ravel()[0])
    b = np.float32(heatmap.bias.numpy()[0] if heatmap.use_bias else 0.0)
    t = np.exp(np.float32(temperature.log_scale.numpy()))
    if not (np.isfinite([w, b, t]).all() and w > 0 and t > 0):
        return None
    kernel = readout.kernel.numpy().astype(np.float32)
    bias = readout.bias.numpy().astype(np.float32)
    return w, b, t, kernel, bias


def _pixel_peak(images, size, w, b, t, kernel, bias):
    """A per-pixel model's output (see :func:`_pixel_peak_weights`), float64.

    The float32 arithmetic of the model's layers, at each image's minimum,
    first brightest pixel and that pixel's four neighbours: the same output
    as the model's, to float32 rounding. The images are read in their own
    dtype (so float64 or 64-bit integer images are not first rounded to
    float32: their brightest pixel is the exact one).
    """
    from ._layers import _NEIGHBOUR_STEPS, _neighbour_offset

    n, height, width = images.shape[:3]
    index, low = _argmax_and_min(images, size)
    row, col = np.divmod(index, width)
    inside, at_row, at_col = _neighbours(row, col, height, width)
    # (minimum, maximum, peak, up, down, left, right) of each image in its
    # own dtype, then as float32 as the model sees them: as_float32 rescales
    # each row by its minimum and maximum, which are the image's.
    pixels = images[..., 0] if images.ndim == 4 else images
    rows = np.arange(n)
    values = np.empty((n, 3 + len(_NEIGHBOUR_STEPS)), dtype=images.dtype)
    values[:, 0] = low
    values[:, 1] = values[:, 2] = pixels[rows, row, col]
    values[:, 3:] = pixels[rows[:, None], at_row, at_col]
    values = as_float32(values, check_ties=True, check_finite=True)
    # ImageNormalization, the heatmap and the temperature, in float32.
    low = values[:, :1]
    span = values[:, 1:2] - low
    scale = np.float32(1) / np.where(span > 0, span, np.float32(1))
    heat = np.maximum((values[:, 2:] - low) * scale * w + b, np.float32(0)) * t
    # PeakSoftArgmax2D.
    peak = heat[:, 0]
    weight = np.where(inside, np.exp(heat[:, 1:] - peak[:, None]), np.float32(0))
    # Subnormal weights flushed to zero, as TensorFlow's and XLA's CPU
    # kernels do: an exact peak gives exactly its pixel's coordinates.
    weight[weight < np.finfo(np.float32).tiny] = 0
    up, down, left, right = weight.T
    coordinates = np.empty((n, 2), dtype=np.float32)
    coordinates[:, 0] = row.astype(np.float32) + _neighbour_offset(up, down)
    coordinates[:, 1] = col.astype(np.float32) + _neighbour_offset(left, right)
    # A constant heatmap (a constant image, or a ReLU at zero everywhere):
    # the image centre. Its minimum is the heatmap of the image's minimum.
    constant = np.maximum(b, np.float32(0)) * t >= peak
    coordinates[constant] = ((height - 1) / 2, (width - 1) / 2)
    # The read-out.
    return (coordinates @ kernel + bias).astype(np.float64)


def _argmax_and_min(images, size):
    """Each image's first brightest pixel (flat index) and its minimum.

    ``size`` images at a time, so that images that are not C-ordered are
    copied one batch at a time; NaN is the maximum and the minimum of an
    image that holds one.
    """
    n, height, width = images.shape[:3]
    index = np.empty(n, dtype=np.intp)
    low = np.empty(n, dtype=images.dtype)
    for start in range(0, n, size):
        flat = images[start : start + size].reshape(-1, height * width)
        flat.argmax(axis=1, out=index[start : start + size])
        flat.min(axis=1, out=low[start : start + size])
    return index, low


def _neighbours(row, col, height, width):
    """Whether each neighbour of ``(row, col)`` that :class:`PeakSoftArgmax2D`
    reads lies in the image, and its coordinates (the peak's own where it
    does not)."""
    from ._layers import _NEIGHBOUR_STEPS

    shape = (len(row), len(_NEIGHBOUR_STEPS))
    inside = np.empty(shape, dtype=bool)
    at_row = np.empty(shape, dtype=np.intp)
    at_col = np.empty(shape, dtype=np.intp)
    for k, (step_row, step_col) in enumerate(_NEIGHBOUR_STEPS):
        inside[:, k] = (
            (row + step_row >= 0)
            & (row + step_row < height)
            & (col + step_col >= 0)
            & (col + step_col < width)
        )
        at_row[:, k] = np.where(inside[:, k], row + step_row, row)
        at_col[:, k] = np.where(inside[:, k], col + step_col, col)
    return inside, at_row, at_col


# Float32 images whose largest magnitude lies outside [2**-64, 2**64] are
# rescaled first: their reciprocals, sums and smoothed values would leave
# float32's normal range inside the model.
_FLOAT32_RANGE = (2.0**-64, 2.0**64)


def as_float32(images, *, check_ties=False, check_finite=False, counts=False):
    """``images`` (one image per row of the first axis) as float32, C-ordered.

    The models see float32, and every head's prediction is the same for any
    positive scale and offset of an image. So images whose values float32
    would not hold exactly are rescaled to [0, 1] by their own minimum and
    maximum in their own precision first: float64 images (``1e4 + 1e-4`` on
    ``1e4``, ``1e300``), 32- and 64-bit integers (``2**40 + 1`` on
    ``2**40``, differences taken in integers), and float32 images with values
    beyond ``2**64`` in magnitude (or all below ``2**-64``). Booleans, 8- and
    16-bit integers, float16 and ordinary float32 images are cast as they
    are. A constant image becomes all zeros.

    Parameters
    ----------
    images : ndarray of shape (n_samples, ...)
        Real values, finite.
    check_ties : bool, default=False
        Warn when rescaling leaves an image's maximum tied with another
        pixel that was below it: a difference of less than one part in
        ``2**24`` of the image's range, which float32 cannot hold.
    check_finite : bool, default=False
        Raise ``ValueError`` on NaN or infinite values, found from each
        image's minimum and maximum (which the rescaling needs anyway):
        ``predict`` checks its input this way, batch by batch, instead of in
        a pass of its own.
    counts : bool, default=False
        Keep every image's offset, for models that need the counts
        themselves (a likelihood of counts, see :func:`needs_counts`): each
        image is cast to float32 as it is, or, where its values go beyond
        ``2**64`` in magnitude, divided by a power of two first. Nothing is
        rescaled by its minimum and maximum, and no ties are checked.

    Returns
    -------
    ndarray of the shape of ``images``, float32
    """
    images = np.asarray(images)
    dtype = images.dtype
    if dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize <= 2):
        return np.ascontiguousarray(images, dtype=np.float32)
    flat = images.reshape(len(images), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    # The largest magnitude of each image: NaN or infinite when a value is.
    top = np.maximum(np.abs(low), np.abs(high)) if dtype.kind == "f" else None
    if check_finite and top is not None and not np.isfinite(top).all():
        if np.isnan(top).any():
            raise ValueError("Input X contains NaN.")
        raise ValueError("Input X contains infinity.")
    if dtype.kind == "f" and dtype.itemsize <= 2:
        return np.ascontiguousarray(images, dtype=np.float32)
    if counts:
        return _scaled_counts(images, low, high)
    if dtype != np.float32:
        return _rescaled(images, low, high, check_ties)
    small, large = _FLOAT32_RANGE
    if small <= top.min() and top.max() <= large:  # the usual case, at once
        return np.ascontiguousarray(images)
    odd = (top > large) | ((top < small) & (top > 0))
    if not odd.any():
        return np.ascontiguousarray(images)
    out = np.array(images, order="C")
    out[odd] = _rescaled(images[odd], low[odd], high[odd], False)
    return out


def _scaled_counts(images, low, high):
    """Each image as float32, divided by a power of two where its values go
    beyond ``2**64`` in magnitude (a scale, never an offset)."""
    _, large = _FLOAT32_RANGE
    top = np.maximum(np.abs(low.astype(np.float64)), np.abs(high.astype(np.float64)))
    if top.max() <= large:
        return np.ascontiguousarray(images, dtype=np.float32)
    shape = (-1,) + (1,) * (images.ndim - 1)
    exponent = np.where(top > large, np.ceil(np.log2(top / large)), 0.0)
    return (images.astype(np.float64) / np.exp2(exponent).reshape(shape)).astype(
        np.float32
    )


def _rescaled(images, low, high, check_ties):
    """Each image minus its minimum, over its range, computed in float64."""
    shape = (-1,) + (1,) * (images.ndim - 1)
    if images.dtype.kind in "iu":
        # Differences of 64-bit integers are exact in uint64 (modulo 2**64,
        # and a difference lies in [0, 2**64)); then one rounding to float64.
        low64 = low.astype(np.uint64)
        above = (images.astype(np.uint64) - low64.reshape(shape)).astype(np.float64)
        span = (high.astype(np.uint64) - low64).astype(np.float64)
    else:
        # In halves: high - low overflows for values near float64's limits.
        low = low.astype(np.float64).reshape(shape)
        above = images.astype(np.float64) / 2 - low / 2
        span = high.astype(np.float64) / 2 - low.ravel() / 2
    span = span.reshape(shape)
    out = (above / np.where(span > 0, span, 1.0)).astype(np.float32)
    if check_ties:
        n = len(images)
        tied = (out.reshape(n, -1) == 1).sum(axis=1) > (
            above.reshape(n, -1) == span.reshape(n, 1)
        ).sum(axis=1)
        if tied.any():
            warnings.warn(
                f"{int(tied.sum())} image(s) have pixels below their maximum by "
                "less than float32 can hold (one part in 2**24 of the image's "
                "range): the model sees them tied with the maximum.",
                UserWarning,
                stacklevel=4,
            )
    return out


def _function(model, shape):
    """The cached compiled function of ``model`` for batches of ``shape``."""
    functions = _CACHE.get(model)
    if functions is None:
        functions = _CACHE[model] = {}
    function = functions.get(shape)
    if function is None:
        function = functions[shape] = _compile(model, shape)
    return function


def _compile(model, shape):
    import keras

    backend = keras.backend.backend()
    # The functions hold the model weakly: a strong reference from the cache's
    # values would keep its keys alive for ever.
    model_ref = weakref.ref(model)
    if backend == "tensorflow":
        return _compile_tensorflow(model_ref, shape, _use_xla(model))
    if backend == "jax":
        return _compile_jax(model_ref)
    return model.predict_on_batch


class _Forward:
    """The model's inference call, as an object of its own per model.

    TensorFlow counts the traces of a ``tf.function`` by the code object of
    the Python function it wraps, across all functions made from it, and
    warns about retracing after five: a closure made for each model would
    warn once a process had predicted with five models, though each traced
    once. An object without ``__code__`` is counted on its own.
    """

    def __init__(self, model_ref):
        self.model_ref = model_ref

    def __call__(self, batch):
        return self.model_ref()(batch, training=False)


def _compile_tensorflow(model_ref, shape, jit_compile):
    import tensorflow as tf

    function = tf.function(
        _Forward(model_ref),
        input_signature=[tf.TensorSpec((*shape, 1), tf.float32)],
        jit_compile=jit_compile,
        reduce_retracing=True,
        # The call has no Python control flow on tensors to convert; AutoGraph
        # would read this module's source file again when it traces (a file
        # edited since import, or shipped without source, would break it).
        autograph=False,
    )

    def call(batch):
        return function(_as_tensor(tf, batch)).numpy()

    return call


def _as_tensor(tf, batch):
    """``batch`` as a TensorFlow tensor, with one copy at most.

    ``tf.convert_to_tensor`` copies a NumPy array through a second copy on
    the way: a transient of twice the batch, three times an image's size for
    one large image. DLPack hands TensorFlow an array's own buffer instead,
    which TensorFlow's kernels need aligned to 64 bytes (they abort the
    process otherwise): a batch that is not, or is read-only, is first
    copied into an aligned buffer of its own.
    """
    if not (
        batch.flags.c_contiguous
        and batch.flags.writeable
        and batch.ctypes.data % _ALIGNMENT == 0
    ):
        aligned = _aligned_empty(batch.shape, batch.dtype)
        aligned[...] = batch
        batch = aligned
    return tf.experimental.dlpack.from_dlpack(batch.__dlpack__())


# TensorFlow's alignment of tensor buffers (EIGEN_MAX_ALIGN_BYTES).
_ALIGNMENT = 64


def _aligned_empty(shape, dtype):
    """An uninitialised C-ordered array at a 64-byte-aligned address."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % _ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def _compile_jax(model_ref):
    import jax

    from ._layers import shifted_convolutions

    def forward(trainable, non_trainable, batch):
        # Run once, when jax.jit traces it.
        with shifted_convolutions():
            outputs, _ = model_ref().stateless_call(
                trainable, non_trainable, batch, training=False
            )
        return outputs

    function = jax.jit(forward)

    def call(batch):
        model = model_ref()
        return function(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            batch,
        )

    return call


def needs_counts(model):
    """Whether ``model`` needs its images' counts as they are.

    A model with a layer that says so (``needs_counts = True``: the Gaussian
    fit's likelihood of counts) must see each image's own offset, so its
    images go to float32 without rescaling (``as_float32(...,
    counts=True)``); every other model gives the same answer for any scale
    and offset of an image.
    """
    return any(getattr(layer, "needs_counts", False) for layer in _layers(model))


def _use_xla(model):
    """Whether XLA runs ``model`` faster than TensorFlow's kernels on CPU.

    XLA fuses the element-wise work and the reductions of a one-channel
    network (normalisation, heatmap, softmax, expectations) into a few
    passes: 1.3-1.6x faster than the graph of separate kernels. Its CPU
    convolutions with several channels, and its pooling, are 3x slower than
    TensorFlow's oneDNN kernels, so models with those stay uncompiled.
    """
    import keras

    for layer in _layers(model):
        if isinstance(layer, keras.layers.MaxPooling2D):
            return False
        if isinstance(layer, keras.layers.Conv2D):
            *_, channels_in, channels_out = layer.kernel.shape
            if channels_in != 1 or channels_out != 1:
                return False
    return True


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _layers(layer)
        else:
            yield layer
