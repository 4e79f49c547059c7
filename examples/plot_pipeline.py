"""
======================================
A pipeline: finding the dark pixel
======================================

:class:`~pixel_regressor.BrightPixelRegressor` normalises each image itself,
so it needs no scaler in front of it. A :class:`~sklearn.pipeline.Pipeline`
is for preprocessing that changes what the image shows.

Here the images are inverted: white, with one *black* pixel to find. A
:class:`~sklearn.preprocessing.FunctionTransformer` that inverts them again
lets the same estimator solve the task, and the pipeline cross-validates,
scores and plots as one estimator.
"""

# %%
# Dark-pixel images
# -----------------
import matplotlib.pyplot as plt
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from pixel_regressor import (
    BrightPixelRegressor,
    exact_pixel_accuracy_scorer,
    make_bright_pixel_dataset,
    mean_pixel_error_scorer,
)
from pixel_regressor.plotting import SampleImageDisplay

X_bright, y = make_bright_pixel_dataset(2400, image_size=32, random_state=0)
X = 255.0 - X_bright  # one black pixel on a white background


# %%
# The pipeline
# ------------
# A named function rather than a ``lambda``, so that the pipeline pickles.
def invert(X):
    """Turn the one dark pixel into the one bright pixel."""
    return 255.0 - X


pipe = make_pipeline(FunctionTransformer(invert), BrightPixelRegressor(random_state=0))
pipe

# %%
# Cross-validate it, and the estimator alone
# ------------------------------------------
# Several scorers at once: the mean pixel error and the exact-pixel accuracy.
scoring = {"pixel_error": mean_pixel_error_scorer, "exact": exact_pixel_accuracy_scorer}
scores = cross_validate(pipe, X, y, cv=3, scoring=scoring)
print(f"mean pixel error: {-scores['test_pixel_error'].mean():.4f} px")
print(f"exact-pixel accuracy: {scores['test_exact'].mean():.1%}")

# %%
# Without the inversion the images hold no bright pixel to point at (the
# whole background is the brightest), and the estimator alone finds none of
# the dark pixels:
alone = cross_validate(
    BrightPixelRegressor(random_state=0), X, y, cv=3, scoring=scoring
)
print(f"exact-pixel accuracy without the inversion: {alone['test_exact'].mean():.1%}")

# %%
# Parameters of a step are reached as ``<step>__<parameter>``, for
# :class:`~sklearn.model_selection.GridSearchCV` or ``set_params``:
pipe.set_params(brightpixelregressor__epochs=3)
print(sorted(name for name in pipe.get_params() if name.startswith("bright"))[:5])

# %%
# A prediction
# ------------
# Fit the pipeline on all the images and predict one of them. The displays
# take the pipeline as they take any estimator; for the training curves, pass
# its last step (``pipe[-1].history_``).
pipe.fit(X, y)
image = X[0].reshape(32, 32)
SampleImageDisplay.from_estimator(pipe, image, y_true=y[0], flatten=True)
plt.show()
