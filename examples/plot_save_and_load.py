"""
=========================
Saving and loading models
=========================

Two safe ways to keep a fitted model:

- :meth:`BrightPixelRegressor.save <pixel_regressor.BrightPixelRegressor.save>`
  and :func:`~pixel_regressor.load_model`: the whole estimator, as a directory
  with the Keras model (``model.keras``) and its parameters and fitted
  attributes (``estimator.json``);
- ``model_.save("x.keras")`` and ``keras.saving.load_model``: the Keras model
  alone, for use without scikit-learn.

Neither runs code when loaded. Pickle and joblib work too, but need the same
library versions on both sides and must never be used on files from an
untrusted source.
"""

# %%
# Fit a model
# -----------
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from pixel_regressor import BrightPixelRegressor, load_model, make_bright_pixel_dataset
from pixel_regressor.plotting import SampleImageDisplay

X, y = make_bright_pixel_dataset(2000, image_size=32, random_state=0)
model = BrightPixelRegressor(random_state=0).fit(X, y)

workdir = Path(tempfile.mkdtemp())

# %%
# The estimator: ``save`` and ``load_model``
# -------------------------------------------
directory = model.save(workdir / "bright-pixel-model")
print(sorted(path.name for path in directory.iterdir()))

loaded = load_model(directory)
print("same predictions:", np.array_equal(loaded.predict(X), model.predict(X)))
print("fitted attributes kept:", loaded.image_shape_, loaded.n_iter_)

# %%
# The reloaded estimator is a full scikit-learn estimator: it scores, and
# ``partial_fit`` trains it further, one epoch per call.
print(f"R² of the reloaded model: {loaded.score(X, y):.6f}")
loaded.partial_fit(X, y)
print(f"epochs in its history after partial_fit: {len(loaded.history_['loss'])}")

# %%
# The Keras model alone: ``.keras``
# ---------------------------------
# ``model_`` is a plain Keras model. Importing :mod:`pixel_regressor` registers
# its custom layers with Keras, so ``keras.saving.load_model`` rebuilds it in
# safe mode, which refuses any code (such as a ``Lambda`` layer) stored in the
# file.
import keras

import pixel_regressor  # noqa: F401 - registers the package's Keras layers

path = workdir / "bright_pixel.keras"
model.model_.save(path)
keras_model = keras.saving.load_model(path, safe_mode=True)
keras_model.summary()

# %%
# The Keras model takes images of shape ``(n, height, width, 1)``, in any
# intensity scale, of any size for this head, and returns ``(row, col)``:
images = X[:5].reshape(-1, 32, 32, 1)
print(np.asarray(keras_model.predict(images, verbose=0)).round(2) + 0.0)
print(y[:5])

# %%
# The reloaded estimator, drawn on a test image:
X_new, y_new = make_bright_pixel_dataset(1, image_size=32, random_state=7)
SampleImageDisplay.from_estimator(loaded, X_new.reshape(32, 32), y_true=y_new[0])
plt.show()
