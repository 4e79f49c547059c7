"""Training straight from the generator: a ``keras.utils.PyDataset``.

:class:`BrightPixelSequence` makes each batch of images when Keras asks for
it, so training on a million images needs the memory of one batch. Pass it to
:meth:`BrightPixelRegressor.fit` in place of ``X`` (with ``y=None``), or to
any Keras model's ``fit``.

This module imports Keras; :mod:`pixel_regressor` loads it only on use.
"""

import math

import keras
import numpy as np

from ._random import chunk_generator, seed_sequence
from ._validation import check_image_shape
from .datasets import _check_int, make_bright_pixel_dataset

__all__ = ["BrightPixelSequence"]


class BrightPixelSequence(keras.utils.PyDataset):
    """Batches of bright-pixel images, generated on demand for Keras.

    Batch ``i`` is drawn from its own seed, derived from ``random_state`` and
    ``i``: it is the same in every epoch, in every process, and whichever
    worker makes it. Images come as ``(batch, height, width, 1)`` float32,
    targets as ``(batch, 2)`` float32 ``(row, col)``.

    Parameters
    ----------
    n_samples : int
        Number of images in one epoch.

    batch_size : int, default=256
        Images per batch (the last batch may be smaller).

    image_size : int or tuple of (int, int), default=50
        As in :func:`make_bright_pixel_dataset`.

    intensity : float, default=255.0
        As in :func:`make_bright_pixel_dataset`.

    noise : float, default=0.0
        As in :func:`make_bright_pixel_dataset`.

    mask : ndarray of shape (height, width) of bool, default=None
        As in :func:`make_bright_pixel_dataset`.

    random_state : int or None, default=None
        Seed of the whole sequence. None draws a fresh seed.

    **kwargs
        ``workers``, ``use_multiprocessing`` and ``max_queue_size``, passed to
        :class:`keras.utils.PyDataset`.

    See Also
    --------
    pixel_regressor.datasets.iter_bright_pixel_batches : Chunks for
        ``partial_fit`` loops, without Keras.

    Examples
    --------
    >>> from pixel_regressor import BrightPixelSequence
    >>> batches = BrightPixelSequence(1000, batch_size=300, image_size=8,
    ...                               random_state=0)
    >>> len(batches)
    4
    >>> images, targets = batches[3]
    >>> images.shape, targets.shape
    ((100, 8, 8, 1), (100, 2))
    """

    def __init__(
        self,
        n_samples,
        *,
        batch_size=256,
        image_size=50,
        intensity=255.0,
        noise=0.0,
        mask=None,
        random_state=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_samples = _check_int(n_samples, "n_samples")
        self.batch_size = _check_int(batch_size, "batch_size")
        self.image_shape = check_image_shape(image_size, "image_size", allow_int=True)
        self.intensity = intensity
        self.noise = noise
        self.mask = mask
        if random_state is None:
            random_state = int(seed_sequence(None).generate_state(1)[0])
        self.random_state = _check_int(random_state, "random_state", minimum=0)
        self[0]  # validate the remaining parameters now, not in a worker

    def __len__(self):
        return math.ceil(self.n_samples / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range [0, {len(self)}).")
        start = index * self.batch_size
        size = min(self.batch_size, self.n_samples - start)
        X, y = make_bright_pixel_dataset(
            size,
            image_size=self.image_shape,
            intensity=self.intensity,
            noise=self.noise,
            mask=self.mask,
            random_state=chunk_generator(self.random_state, index),
        )
        return X.reshape(size, *self.image_shape, 1), y.astype(np.float32)
