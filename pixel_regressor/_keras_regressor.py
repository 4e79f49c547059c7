"""The scikeras ``KerasRegressor`` that trains and runs the estimator's model.

:class:`~pixel_regressor.BrightPixelRegressor` holds one
:class:`ImageKerasRegressor` as ``keras_regressor_`` (composition: see the
estimator module's docstring for why it does not subclass scikeras). Its
``fit`` and ``partial_fit`` train the model, with scikeras's epochs,
callbacks and history; its ``predict`` is the estimator's. Four of
scikeras's steps are replaced, each for a reason of memory or speed (and its
target encoder lets a ``PyDataset``'s absent ``y`` through):

- ``_validate_data``: the estimator has validated the images once already;
  here they are only reshaped (for a direct call on flattened images).
  scikeras's own checks would pass over the data again and refuse a later
  chunk of another dtype.
- ``_validate_sample_weight``: scikeras drops the samples of zero weight,
  which copies the whole training set; they stay (they add nothing to the
  loss).
- ``_fit_keras_model``: the arrays go to Keras one batch at a time
  (:class:`~pixel_regressor._batches.ArrayBatches`), not as arrays Keras
  would copy whole, and a ``PyDataset`` goes in a
  :class:`~pixel_regressor._batches.DatasetFeed`; both let go of the data
  when training ends. scikeras's own ``_fit_keras_model`` then runs as
  written.
- ``_predict_raw``: the compiled, memory-bounded inference of
  :mod:`pixel_regressor._inference` in place of ``model.predict``.

This module imports Keras and scikeras; the estimator loads it when it first
trains or loads a model.
"""

import numpy as np
from scikeras.utils.transformers import RegressorTargetEncoder
from scikeras.wrappers import KerasRegressor
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_array

from . import _inference
from ._batches import ArrayBatches, DatasetFeed
from ._validation import images_from_array, is_keras_dataset

__all__ = ["ImageKerasRegressor"]


class _TargetEncoder(RegressorTargetEncoder):
    """scikeras's target encoder, passing a dataset's absent ``y`` through."""

    def transform(self, y):
        return y if y is None else super().transform(y)


class ImageKerasRegressor(KerasRegressor):
    """A ``KerasRegressor`` fed images one batch at a time.

    Takes images of shape ``(n_samples, height, width, 1)`` (also flattened
    or 3-D, reshaped with the training image shape) and targets of shape
    ``(n_samples, n_outputs)``, or a ``keras.utils.PyDataset`` with
    ``y=None``. Parameters are scikeras's; ``shuffle`` reorders the samples
    of arrays each epoch from the ``shuffle_seed`` given to ``fit`` or
    ``partial_fit`` (see :class:`~pixel_regressor._batches.ArrayBatches`),
    and the batches of a ``PyDataset`` with Keras's shuffling.
    """

    @property
    def target_encoder(self):
        return _TargetEncoder()

    def _validate_data(self, X=None, y=None, reset=False, y_numeric=False):
        if reset:
            # initialize(): one sample image, from which scikeras records the
            # layout (X_shape_, y_ndim_, ...).
            return super()._validate_data(X, y, reset=True, y_numeric=y_numeric)
        if X is not None and not is_keras_dataset(X):
            X = self._images(X)
        return X, y

    def _images(self, X):
        """``X`` as images ``(n, height, width, 1)``, a view where possible."""
        X = check_array(
            X, ensure_2d=False, allow_nd=True, dtype="numeric", ensure_all_finite=False
        )
        # Flattened images have the training images' shape; others their own.
        images = images_from_array(
            X, tuple(self.X_shape_[1:3]) if X.ndim == 2 else None
        )
        expected = tuple(self.model_.input_shape[1:3])
        if None not in expected and tuple(images.shape[1:3]) != expected:
            raise ValueError(
                f"X holds images of shape {tuple(images.shape[1:3])}, but the "
                f"model takes {expected} only."
            )
        return images

    @staticmethod
    def _validate_sample_weight(X, y, sample_weight):
        sample_weight = np.asarray(sample_weight, dtype=np.float32)
        if not sample_weight.any():
            raise ValueError(
                "No training sample has any weight: sample_weight is all zeros."
            )
        return X, y, sample_weight

    def _fit_keras_model(
        self,
        X,
        y,
        sample_weight,
        warm_start,
        epochs,
        initial_epoch,
        *,
        shuffle_seed=None,
        **kwargs,
    ):
        if is_keras_dataset(X):
            feed = DatasetFeed(X)
            shuffle = self.shuffle
        else:
            feed = ArrayBatches(
                X,
                y,
                sample_weight,
                batch_size=self.batch_size,
                random_state=shuffle_seed,
                shuffle=self.shuffle,
            )
            # The feed shuffles the samples itself, from its own generator:
            # Keras would shuffle batches with Python's global generator,
            # which other threads (a Dask worker's) draw from too.
            shuffle = False
        try:
            super()._fit_keras_model(
                feed,
                None,
                None,
                warm_start,
                epochs,
                initial_epoch,
                batch_size=None,
                shuffle=shuffle,
                **kwargs,
            )
        finally:
            feed.release()

    def _predict_raw(self, X, *, path="auto"):
        if not self.initialized_:
            raise NotFittedError(
                f"This {type(self).__name__} is not initialized yet: call fit, "
                "partial_fit or initialize first."
            )
        X, _ = self._validate_data(X)
        return _inference.predict(self.model_, X, self.n_outputs_, path=path)
