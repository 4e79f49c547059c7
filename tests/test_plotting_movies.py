"""Displays of a movie's localisations: one frame circled, and the rendering."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402

from pixel_regressor.plotting import (  # noqa: E402
    LocalizationsDisplay,
    SuperResolutionDisplay,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "frame": [0, 1, 1, 1, 3],
            "row": [2.0, 5.5, 9.25, 0.0, 7.0],
            "col": [3.0, 12.25, 2.0, 15.0, 1.0],
            "close_pair": [False, False, True, False, False],
        }
    )


class _Locator:
    """Locates what it was told, frame 0 of whatever it is given."""

    def __init__(self, positions):
        self.positions = np.asarray(positions, dtype=float)
        self.seen = []

    def locate(self, frames):
        self.seen.append(np.asarray(frames).shape)
        return pd.DataFrame(
            {
                "frame": np.zeros(len(self.positions), dtype=np.int64),
                "row": self.positions[:, 0],
                "col": self.positions[:, 1],
            }
        )


def test_the_frames_localisations_are_circled_at_col_row(table):
    frames = np.arange(4 * 12 * 16, dtype=float).reshape(4, 12, 16)
    truth = table.iloc[[1, 2]].assign(row=lambda t: t.row + 0.2)
    disp = LocalizationsDisplay.from_predictions(frames, table, truth, frame=1)
    assert_allclose(disp.circles_.get_offsets(), [[12.25, 5.5], [2.0, 9.25], [15, 0]])
    assert_array_equal(disp.image_.get_array(), frames[1])
    # Close pairs in their own colour.
    colours = disp.circles_.get_edgecolor()
    assert not np.allclose(colours[1], colours[0])
    assert_allclose(colours[0], colours[2])
    assert_allclose(disp.truth_marker_.get_offsets(), [[12.25, 5.7], [2.0, 9.45]])
    assert disp.ax_.get_title() == "Frame 1: 3 localisation(s)"
    assert disp.ax_.get_xlim() == (-0.5, 15.5) and disp.ax_.get_ylim() == (11.5, -0.5)
    assert disp.figure_ is disp.ax_.figure


def test_a_frame_without_localisations_draws_no_circle(table):
    disp = LocalizationsDisplay.from_predictions(np.zeros((4, 8, 8)), table, frame=2)
    assert len(disp.circles_.get_offsets()) == 0
    assert disp.truth_marker_ is None


def test_plot_draws_the_same_again_on_given_axes(table):
    disp = LocalizationsDisplay.from_predictions(np.zeros((4, 8, 8)), table, frame=1)
    _, ax = plt.subplots()
    again = disp.plot(ax=ax)
    assert again.ax_ is ax
    assert_allclose(again.circles_.get_offsets(), disp.circles_.get_offsets())


def test_from_estimator_locates_only_that_frame(table):
    frames = np.zeros((5, 10, 12))
    locator = _Locator([(3.0, 4.0), (8.5, 1.5)])
    disp = LocalizationsDisplay.from_estimator(locator, frames, table, frame=3)
    assert locator.seen == [(1, 10, 12)]
    assert_allclose(disp.circles_.get_offsets(), [[4.0, 3.0], [1.5, 8.5]])
    # The truth of frame 3 of the movie, the title with its number.
    assert_allclose(disp.truth_marker_.get_offsets(), [[1.0, 7.0]])
    assert disp.ax_.get_title().startswith("Frame 3:")


@pytest.mark.parametrize(
    ("frames", "kwargs", "error", "match"),
    [
        (np.zeros((2, 8, 8)), {"frame": 2}, ValueError, "out of range"),
        (np.zeros((2, 8, 8)), {"frame": 1.0}, TypeError, "int"),
        (np.zeros((8,)), {}, ValueError, "shape"),
        (np.zeros((2, 8, 8)), {"radius": 0}, ValueError, "radius"),
        (np.zeros((2, 8, 8)), {"localizations": np.zeros((3, 2))}, TypeError, "col"),
        (np.zeros((2, 8, 8)), {"ax": "axes"}, ValueError, "Axes"),
    ],
)
def test_bad_inputs_are_refused(table, frames, kwargs, error, match):
    localizations = kwargs.pop("localizations", table)
    with pytest.raises(error, match=match):
        LocalizationsDisplay.from_predictions(frames, localizations, **kwargs)


def test_the_rendering_counts_localisations_per_subpixel_bin(table):
    disp = SuperResolutionDisplay.from_predictions(
        table, image_shape=(12, 16), oversampling=4
    )
    histogram = disp.histogram
    assert histogram.shape == (48, 64)
    assert histogram.sum() == len(table)
    # Pixel (r, c) covers r - 0.5 .. r + 0.5: its centre is bin 4 r + 2.
    assert histogram[4 * 2 + 2, 4 * 3 + 2] == 1
    assert histogram[int((9.25 + 0.5) * 4), 4 * 2 + 2] == 1
    # The axes are in camera pixels.
    assert disp.image_.get_extent() == [-0.5, 15.5, 11.5, -0.5]
    assert disp.ax_.get_title() == "5 localisation(s), 4x oversampled"
    assert disp.colorbar_ is not None


def test_localisations_outside_the_frames_are_left_out(table):
    table = table.assign(row=[-0.6, 0, 0, 0, 11.6])
    disp = SuperResolutionDisplay.from_predictions(
        table, image_shape=(12, 16), oversampling=2, colorbar=False
    )
    assert disp.histogram.sum() == 3 and disp.colorbar_ is None
    # Without a shape: just large enough for every localisation.
    assert SuperResolutionDisplay.from_predictions(
        table.iloc[1:], oversampling=1
    ).histogram.shape == (13, 16)


def test_from_estimator_renders_the_whole_movie():
    locator = _Locator([(1.0, 1.0), (1.05, 1.0)])
    frames = np.zeros((6, 4, 5))
    disp = SuperResolutionDisplay.from_estimator(locator, frames, oversampling=2)
    assert locator.seen == [(6, 4, 5)]
    assert disp.histogram.shape == (8, 10) and disp.histogram[3, 3] == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"oversampling": 0}, "oversampling"),
        ({"oversampling": 2.0}, "oversampling"),
        ({"image_shape": (0, 4)}, "image_shape"),
        ({"image_shape": (1 << 15, 1 << 15)}, "2\\*\\*28"),
    ],
)
def test_bad_renderings_are_refused(table, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        SuperResolutionDisplay.from_predictions(table, **kwargs)
