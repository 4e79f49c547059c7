"""
==================================================
Spots in a movie: locate, score, render
==================================================

A camera movie of single molecules holds many spots per frame, anywhere,
some at the edge and some overlapping. :func:`~pixel_regressor.make_spot_frames`
simulates such a movie with its ground truth, a
:class:`~pixel_regressor.SpotLocator` finds and localises every spot of every
frame, the SMLM challenge's metrics score the table against the truth, and
two Displays draw one frame with its localisations and the super-resolution
image of the whole movie.

The spot model is trained briefly on 2,000 crops so that the example runs in
seconds; the defaults of :class:`~pixel_regressor.SpotLocator` train
on 20,000.
"""

# %%
# A simulated movie with its truth
# --------------------------------
# Spots of 500 to 3000 photons on a background of 10 to 50 photons per pixel
# (changing from frame to frame), at about 3 spots per 32x32 pixel area,
# anywhere (edges and overlaps included), in 40 frames of 48x64 pixels, from
# a camera of 2.2 ADU per photoelectron and an offset of 100 ADU.
import matplotlib.pyplot as plt
import numpy as np

from pixel_regressor import (
    BrightPixelRegressor,
    SpotLocator,
    jaccard_index,
    localization_efficiency,
    make_spot_frames,
    matched_rmse,
)
from pixel_regressor.plotting import LocalizationsDisplay, SuperResolutionDisplay

frames, truth = make_spot_frames(
    40,
    shape=(48, 64),
    density=3,
    photons=(500, 3000),
    background=(10, 50),
    psf_sigma=1.3,
    gain=2.2,
    offset=100,
    random_state=0,
)
print(frames.shape, len(truth), "spots")
truth.head()

# %%
# Fit a locator and locate every spot
# -----------------------------------
# ``fit`` calibrates itself on the frames, with no truth: the camera (its
# offset and gain, from the spot-free pixels), the isolated spots' photons,
# background and PSF width, and their density. It then trains the spot model
# on crops cut, as ``locate`` cuts them, from a movie simulated to match. A
# small model and training set keep this example fast.
locator = SpotLocator(
    BrightPixelRegressor(head="spot", filters=(8,), epochs=3),
    training_size=2000,
    random_state=0,
).fit(frames)
print(locator.camera_)
print(locator.conditions_)
table = locator.locate(frames)
table.head()

# %%
# Score against the truth
# -----------------------
# Localisations are matched one to one to true spots within 2 pixels, frame
# by frame. The Jaccard index counts the matches, the RMSE measures them and
# the efficiency combines both, as in the SMLM challenge (Sage et al., 2019);
# ``pixel_size`` turns pixels into nanometres.
print(f"Jaccard index: {jaccard_index(truth, table, radius=2.0):.3f}")
print(f"RMSE of the matched: {matched_rmse(truth, table, radius=2.0):.3f} px")
efficiency = localization_efficiency(truth, table, radius=2.0, pixel_size=100.0)
print(f"Efficiency: {efficiency:.3f}")

# %%
# Draw one frame, and render the movie
# ------------------------------------
# :class:`~pixel_regressor.plotting.LocalizationsDisplay` circles a frame's
# localisations (orange where two spots are too close to separate) and
# crosses its true spots;
# :class:`~pixel_regressor.plotting.SuperResolutionDisplay` counts every
# localisation of the movie in bins 8 times finer than the camera's pixels.
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
busiest = int(np.bincount(table["frame"]).argmax())
LocalizationsDisplay.from_predictions(frames, table, truth, frame=busiest, ax=left)
SuperResolutionDisplay.from_predictions(
    table, image_shape=frames.shape[1:], oversampling=8, ax=right
)
plt.show()

# %%
# Write the table
# ---------------
# :func:`~pixel_regressor.io.write_localizations` writes CSV, or the HDF5 and
# YAML pair that Picasso Render opens (``x`` is the column, ``y`` the row).
# The command line does all of the above from a TIFF stack and a saved
# locator: ``pixel-regressor locate movie.tif --model locator/ --out
# locs.hdf5``.
import tempfile
from pathlib import Path

from pixel_regressor.io import read_localizations, write_localizations

folder = Path(tempfile.mkdtemp())
write_localizations(table, folder / "locs.csv")
write_localizations(
    table,
    folder / "locs.hdf5",
    frames_shape=frames.shape,
    psf_sigma=locator.psf_sigma_,
    pixel_size=100.0,
)
locator.save(folder / "locator")
print(sorted(p.name for p in folder.iterdir()))
print(len(read_localizations(folder / "locs.hdf5")), "localisations read back")
