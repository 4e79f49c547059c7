"""
=================================
Predicting images of other sizes
=================================

The default soft-argmax head is fully convolutional: nothing in it depends on
the image size. A model trained on small images therefore predicts images of
any other size and shape, given as a 3-D ``(n, height, width)`` (or 4-D
``(n, height, width, 1)``) array. Flattened input, by contrast, must have the
training images' number of pixels: a flat row does not say its shape.
"""

# %%
# Train on 24x24 images
# ---------------------
import matplotlib.pyplot as plt

from pixel_regressor import (
    BrightPixelRegressor,
    exact_pixel_accuracy,
    make_bright_pixel_dataset,
    mean_pixel_error,
)
from pixel_regressor.plotting import SampleImageDisplay

X, y = make_bright_pixel_dataset(2000, image_size=24, random_state=0)
model = BrightPixelRegressor(random_state=0).fit(X, y)
print(f"trained on {model.image_shape_} images")

# %%
# Predict other sizes
# -------------------
# ``image_size=(height, width)`` makes rectangular images; reshape the
# flattened rows into 3-D images before predicting.
print(f"{'image size':>12s} {'pixel error':>12s} {'exact':>7s}")
for shape in [(24, 24), (50, 50), (80, 120), (200, 30), (7, 300)]:
    X_new, y_new = make_bright_pixel_dataset(500, image_size=shape, random_state=1)
    images = X_new.reshape(-1, *shape)
    y_pred = model.predict(images)
    print(
        f"{str(shape):>12s} {mean_pixel_error(y_new, y_pred):10.4f}px "
        f"{exact_pixel_accuracy(y_new, y_pred):7.1%}"
    )

# %%
# An 80x120 image, five times the training images' area:
X_big, y_big = make_bright_pixel_dataset(1, image_size=(80, 120), random_state=3)
SampleImageDisplay.from_estimator(model, X_big.reshape(80, 120), y_true=y_big[0])
plt.show()

# %%
# What does not work
# ------------------
# Flattened images of another size are refused, since their shape is unknown:
try:
    model.predict(X_big)
except ValueError as error:
    print(f"ValueError: {error}")

# %%
# The notebook's network, ``head="dense"``, flattens its last feature maps
# into a ``Dense`` layer of a fixed size: it only takes images of its
# training size.
dense = BrightPixelRegressor("dense", epochs=1, random_state=0).fit(X[:500], y[:500])
try:
    dense.predict(X_big.reshape(1, 80, 120))
except ValueError as error:
    print(f"ValueError: {error}")
