"""Training data fed to Keras one batch at a time, and let go afterwards.

Keras's ``fit`` on NumPy arrays converts them into a dataset of its own
first, a copy (or two) of the whole training set. :class:`ArrayBatches`
instead hands Keras one batch per step, gathered from the caller's arrays
(converted to float32 batch by batch), so training adds the memory of a
batch, not of the data.

On TensorFlow, Keras reads a ``PyDataset`` through
``tf.data.Dataset.from_generator``, whose generator TensorFlow keeps for the
life of the process (it is registered with the global graph, which is never
cleared). Every dataset given to ``fit`` would stay in memory with it, and
with it every chunk given to ``partial_fit``. Both feeds here therefore hold
their data only while Keras trains: :meth:`ArrayBatches.release` and
:meth:`DatasetFeed.release` drop it, leaving TensorFlow a small empty shell.

This module imports Keras; the estimator loads it only when it trains.
"""

import contextlib
import logging
import math

import keras
import numpy as np

from ._inference import as_float32
from ._random import as_generator

__all__ = ["ArrayBatches", "DatasetFeed", "one_trace_per_model"]


class ArrayBatches(keras.utils.PyDataset):
    """Shuffled ``(images, targets[, sample_weight])`` batches of arrays.

    The order of the samples is a new permutation each epoch, drawn from
    ``random_state``: the same seed gives the same batches, in this process
    or another.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width, 1)
        Any real dtype; each batch is converted to float32 by
        :func:`~pixel_regressor._inference.as_float32`.
    targets : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,), default=None
    batch_size : int
    random_state : numpy.random.Generator or int or None
        Draws the permutations.
    shuffle : bool, default=True
        Whether to draw a new order each epoch; False keeps the samples'
        order.
    """

    def __init__(
        self, images, targets, sample_weight, *, batch_size, random_state, shuffle=True
    ):
        super().__init__()
        self.shuffle = bool(shuffle)
        self.images = images
        self.targets = np.asarray(targets, dtype=np.float32)
        self.sample_weight = (
            None
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float32)
        )
        self.batch_size = int(batch_size)
        self.random_state = as_generator(random_state)
        self.order = None
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range [0, {len(self)}).")
        start = index * self.batch_size
        # Sorted within the batch: a forward walk through memory; the batch's
        # mean loss does not depend on the order of its samples.
        rows = np.sort(self.order[start : start + self.batch_size])
        images = as_float32(self.images[rows])
        if self.sample_weight is None:
            return images, self.targets[rows]
        return images, self.targets[rows], self.sample_weight[rows]

    def on_epoch_end(self):
        if self.images is None:  # released: Keras's last call after training
            return
        n_samples = len(self.images)
        if self.shuffle:
            self.order = self.random_state.permutation(n_samples)
        else:
            self.order = np.arange(n_samples)

    def release(self):
        """Drop the arrays: the batches are empty once training is over."""
        self.images = self.targets = self.sample_weight = self.order = None


class DatasetFeed(keras.utils.PyDataset):
    """A user's ``PyDataset`` as Keras's ``fit`` reads it, until released.

    Every batch, length and epoch hook is the dataset's own, as are its
    ``workers``, ``use_multiprocessing`` and ``max_queue_size``;
    :meth:`release` drops the reference to it, so that what TensorFlow keeps
    of a ``fit`` (see the module's docstring) does not keep the dataset.

    Parameters
    ----------
    dataset : keras.utils.PyDataset
        Yields ``(images, targets[, sample_weight])`` batches.
    """

    def __init__(self, dataset):
        super().__init__(
            workers=dataset.workers,
            use_multiprocessing=dataset.use_multiprocessing,
            max_queue_size=dataset.max_queue_size,
        )
        self.dataset = dataset

    @property
    def num_batches(self):
        return self.dataset.num_batches

    def __getitem__(self, index):
        return self.dataset[index]

    def on_epoch_begin(self):
        if self.dataset is not None:
            self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        if self.dataset is not None:
            self.dataset.on_epoch_end()

    def release(self):
        """Drop the dataset."""
        self.dataset = None


class _RetracingFilter(logging.Filter):
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def one_trace_per_model():
    """Silence TensorFlow's retracing warning about Keras's training step.

    Keras makes a new ``tf.function`` training step for each model; TensorFlow
    counts traces by the step's code, shared by every model, so the sixth
    model fitted in a process is reported as "retracing" although each model
    traces its own step once. The warning is dropped while the estimator
    trains, and only then.
    """
    logger = logging.getLogger("tensorflow")
    quiet = _RetracingFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
