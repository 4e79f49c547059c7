"""
===============================
Tuning with GridSearchCV
===============================

:class:`~pixel_regressor.BrightPixelRegressor` is a scikit-learn regressor,
so :class:`~sklearn.model_selection.GridSearchCV` tunes it like any other.
Its ``score`` is R², which is close to 1 for every reasonable model here; the
package's scorers rank models in pixels instead:

- :data:`~pixel_regressor.metrics.mean_pixel_error_scorer`: minus the mean
  distance to the true pixel (scikit-learn maximises scores);
- :data:`~pixel_regressor.metrics.exact_pixel_accuracy_scorer`: the share of
  predictions on the exact pixel.

On clean images the default head is exact with its default settings, so
there is nothing to tune. Noise makes the task harder: here the images carry
Gaussian background noise of standard deviation 50 (on the 0-255 scale) and
the search covers the default head's kernel size and learning rate. The
images are small, 20x20, and the cross-validation 2-fold, so that the 8
fits take seconds.
"""

# %%
# Search
# ------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV

from pixel_regressor import (
    BrightPixelRegressor,
    exact_pixel_accuracy_scorer,
    make_bright_pixel_dataset,
    mean_pixel_error_scorer,
)

X, y = make_bright_pixel_dataset(1000, image_size=20, noise=50.0, random_state=0)

param_grid = {"kernel_size": [1, 3], "learning_rate": [0.01, 0.1]}
search = GridSearchCV(
    BrightPixelRegressor(random_state=0),
    param_grid,
    scoring={
        "pixel_error": mean_pixel_error_scorer,
        "exact": exact_pixel_accuracy_scorer,
    },
    refit="pixel_error",
    cv=2,
)
search.fit(X, y)
print("best parameters:", search.best_params_)
print(f"best mean pixel error: {-search.best_score_:.4f} px")

# %%
# The results table
# -----------------
# ``cv_results_`` holds one entry per parameter combination. As a pandas
# DataFrame (pandas is optional; without it the same columns are printed
# row by row):
columns = [
    "param_kernel_size",
    "param_learning_rate",
    "mean_test_pixel_error",
    "mean_test_exact",
    "mean_fit_time",
    "rank_test_pixel_error",
]
try:
    import pandas as pd
except ImportError:
    pd = None

if pd is not None:
    results = pd.DataFrame(search.cv_results_)[columns]
    results["mean_test_pixel_error"] *= -1  # back to a distance, in pixels
    results = results.rename(columns={"mean_test_pixel_error": "mean_pixel_error"})
    print(results.sort_values("rank_test_pixel_error").to_string(index=False))
else:
    for i in np.argsort(search.cv_results_["rank_test_pixel_error"]):
        print({name: search.cv_results_[name][i] for name in columns})

# %%
# The exact-pixel accuracy of each combination. The bright pixel is a single
# pixel and the noise is independent from pixel to pixel, so the best
# detector looks at one pixel at a time: the 1x1 kernel (the head's
# ``"auto"`` setting). Wider kernels mix each pixel with its noisy
# neighbours.
results_ = search.cv_results_
accuracy = np.empty((len(param_grid["kernel_size"]), len(param_grid["learning_rate"])))
for i, kernel_size in enumerate(param_grid["kernel_size"]):
    for j, rate in enumerate(param_grid["learning_rate"]):
        match = (results_["param_kernel_size"] == kernel_size) & (
            results_["param_learning_rate"] == rate
        )
        accuracy[i, j] = results_["mean_test_exact"][match][0]
fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
image = ax.imshow(accuracy, vmin=0, vmax=1, cmap="viridis")
ax.set(
    xticks=range(len(param_grid["learning_rate"])),
    xticklabels=param_grid["learning_rate"],
    yticks=range(len(param_grid["kernel_size"])),
    yticklabels=param_grid["kernel_size"],
    xlabel="learning_rate",
    ylabel="kernel_size",
    title="Exact-pixel accuracy (2-fold CV)",
)
for (i, j), value in np.ndenumerate(accuracy):
    ax.text(j, i, f"{value:.0%}", ha="center", va="center", color="w")
fig.colorbar(image, ax=ax)
plt.show()
