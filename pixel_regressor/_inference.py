"""Compiled, memory-bounded inference for the estimator's Keras models.

:func:`predict` runs a Keras model on images of shape ``(n, height, width,
1)`` through one compiled function per model and batch shape:

- TensorFlow: a ``tf.function`` with a fixed input signature (so it never
  retraces), compiled by XLA (``jit_compile=True``) when the model's layers
  are ones XLA's CPU code runs faster than TensorFlow's own kernels
  (see :func:`_use_xla`);
- JAX: ``jax.jit`` of the model's ``stateless_call``, given the current
  weights at each call (so further training is seen);
- other backends: the model's ``predict_on_batch``.

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

__all__ = ["PIXEL_BUDGET", "as_float32", "batch_size", "predict"]

# Pixels per batch: 2**20 float32 pixels are 4 MiB, 256 images of 50x50.
# Measured on 50x50 images (benchmarks/fast_paths.py): batches of 128 to 512
# images run at the same speed within noise; 1024 and more are slower (the
# batch leaves the cache), fewer than 64 pay the per-call overhead.
PIXEL_BUDGET = 1 << 20

# model -> {(batch, height, width): function from a float32 batch to ndarray}
_CACHE = weakref.WeakKeyDictionary()


def batch_size(height, width):
    """Images per batch for ``height`` x ``width`` images: a power of two."""
    pixels = max(1, int(height) * int(width))
    size = 1
    while 2 * size * pixels <= PIXEL_BUDGET:
        size *= 2
    return size


def predict(model, images, n_outputs, *, compiled=True):
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
    compiled : bool, default=True
        False runs the model's ``predict_on_batch`` on the same batches
        instead of the cached compiled function (for comparisons).

    Returns
    -------
    ndarray of shape (n_samples, n_outputs), float64
    """
    n, height, width = images.shape[:3]
    out = np.empty((n, n_outputs), dtype=np.float64)
    if n == 0:
        return out
    size = batch_size(height, width)
    if compiled:
        function = _function(model, (size, height, width))
    else:

        def function(batch):
            return model.predict_on_batch(batch)

    # One buffer for every batch, aligned as TensorFlow needs to read it in
    # place: the batches are copied into it, the last one padded with zeros.
    staging = _aligned_empty((size, height, width, 1), np.float32)
    for start in range(0, n, size):
        batch = as_float32(
            images[start : start + size], check_ties=True, check_finite=True
        )
        count = len(batch)
        staging[:count] = batch
        staging[count:] = 0
        out[start : start + count] = np.asarray(function(staging))[:count]
    return out


# Float32 images whose largest magnitude lies outside [2**-64, 2**64] are
# rescaled first: their reciprocals, sums and smoothed values would leave
# float32's normal range inside the model.
_FLOAT32_RANGE = (2.0**-64, 2.0**64)


def as_float32(images, *, check_ties=False, check_finite=False):
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

    def forward(trainable, non_trainable, batch):
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
