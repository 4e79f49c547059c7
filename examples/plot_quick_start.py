"""
===========
Quick start
===========

Generate images that each hold one bright pixel, fit a
:class:`~pixel_regressor.BrightPixelRegressor` to find it, and look at the
predictions with the package's metrics and displays.
"""

# %%
# The data
# --------
# :func:`~pixel_regressor.make_bright_pixel_dataset` returns black 50x50
# images with one pixel at 255, flattened to one row per image, and the
# ``(row, col)`` of each bright pixel: ``image[row, col] == 255``.
import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split

from pixel_regressor import (
    BrightPixelRegressor,
    exact_pixel_accuracy,
    make_bright_pixel_dataset,
    mean_pixel_error,
)
from pixel_regressor.plotting import (
    CoordinatePredictionDisplay,
    SampleImageDisplay,
    TrainingHistoryDisplay,
)

X, y = make_bright_pixel_dataset(4000, image_size=50, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0
)
print(f"X_train: {X_train.shape}, y_train: {y_train.shape}")
print(f"first target (row, col): {y_train[0].tolist()}")

# %%
# Fit and predict
# ---------------
# The default head is a soft-argmax over a one-channel convolutional heatmap:
# 9 weights, trained for a few epochs. ``random_state`` makes the fit
# repeatable.
model = BrightPixelRegressor(random_state=0)
model.fit(X_train, y_train)
print(f"fitted in {model.fit_time_:.1f} s, {model.model_.count_params()} weights")

y_pred = model.predict(X_test)
print("first predictions (row, col):")
print(y_pred[:3].round(3))
print("true positions:")
print(y_test[:3])

# %%
# Score it
# --------
# ``score`` is R², as for every scikit-learn regressor. The pixel metrics are
# easier to read: the mean distance to the true pixel, and the share of
# predictions that land on it once rounded.
print(f"R²:                   {model.score(X_test, y_test):.6f}")
print(f"mean pixel error:     {mean_pixel_error(y_test, y_pred):.2g} px")
print(f"exact-pixel accuracy: {exact_pixel_accuracy(y_test, y_pred):.1%}")

# %%
# Look at the predictions
# -----------------------
# True and predicted positions of the test images, and the distribution of
# the errors:
CoordinatePredictionDisplay.from_predictions(
    y_test, y_pred, image_shape=(50, 50), subsample=300, random_state=0
)
plt.show()

# %%
# One test image, its true pixel (circle) and the prediction (cross):
SampleImageDisplay.from_estimator(model, X_test[0].reshape(50, 50), y_true=y_test[0])
plt.show()

# %%
# The training curves stored in ``history_``: mean squared error and mean
# absolute error per epoch, on a log scale. This head is exact from its first
# epoch; the notebook's network (``head="dense"``) needs many more, see
# :ref:`sphx_glr_auto_examples_plot_notebook_reproduction.py`.
TrainingHistoryDisplay.from_estimator(model, log_scale=True)
plt.show()
