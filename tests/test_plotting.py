"""Tests of the Display objects in pixel_regressor.plotting."""

import contextlib
import subprocess
import sys
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError

from pixel_regressor import metrics
from pixel_regressor.plotting import (
    CoordinatePredictionDisplay,
    SampleImageDisplay,
    TrainingHistoryDisplay,
)

plt = pytest.importorskip("matplotlib.pyplot")

HISTORY = {
    "loss": [393.8, 38.4, 19.5, 0.33],
    "mae": [15.9, 3.9, 2.9, 0.40],
    "val_loss": [47.9, 22.2, 13.3, 0.30],
    "val_mae": [4.6, 3.1, 2.5, 0.37],
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class ArgmaxRegressor(RegressorMixin, BaseEstimator):
    """Predicts the brightest pixel of each image, shifted by ``offset``."""

    def __init__(self, offset=(0.0, 0.0)):
        self.offset = offset

    def fit(self, X, y=None):
        X = np.asarray(X)
        self.image_shape_ = X.shape[1:3]
        self.history_ = {key: list(values) for key, values in HISTORY.items()}
        return self

    def predict(self, X):
        X = np.asarray(X)
        self.last_X_shape_ = X.shape
        flat = X.reshape(X.shape[0], -1)
        rows, cols = np.unravel_index(flat.argmax(axis=1), self.image_shape_)
        return np.column_stack([rows, cols]) + np.asarray(self.offset, dtype=float)


def _images(coordinates, shape=(6, 8)):
    images = np.zeros((len(coordinates), *shape))
    for i, (row, col) in enumerate(coordinates):
        images[i, row, col] = 1.0
    return images


def _legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------------
# TrainingHistoryDisplay
# ---------------------------------------------------------------------------


def test_history_draws_one_axes_per_metric_with_train_and_val_together():
    disp = TrainingHistoryDisplay.from_history(HISTORY)

    assert disp.axes_.shape == (2,)
    assert disp.ax_ is disp.axes_[0]
    assert disp.figure_ is disp.ax_.figure
    assert set(disp.lines_) == set(HISTORY)
    loss_ax, mae_ax = disp.axes_
    assert disp.lines_["loss"].axes is loss_ax
    assert disp.lines_["val_loss"].axes is loss_ax
    assert disp.lines_["mae"].axes is mae_ax
    assert disp.lines_["val_mae"].axes is mae_ax
    assert loss_ax.get_title() == "Training vs validation loss"
    assert mae_ax.get_title() == "Training vs validation MAE"
    assert [ax.get_xlabel() for ax in disp.axes_] == ["Epoch", "Epoch"]
    assert [ax.get_ylabel() for ax in disp.axes_] == ["Loss", "MAE"]
    assert _legend_texts(loss_ax) == ["Training", "Validation"]


@pytest.mark.parametrize("key", list(HISTORY))
def test_history_lines_hold_the_values_against_epochs_from_one(key):
    disp = TrainingHistoryDisplay.from_history(HISTORY)

    line = disp.lines_[key]
    assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
    assert_allclose(line.get_ydata(), HISTORY[key])


def test_history_log_scale_auto_only_where_values_span_orders_of_magnitude():
    disp = TrainingHistoryDisplay.from_history(HISTORY)
    assert [ax.get_yscale() for ax in disp.axes_] == ["log", "linear"]

    disp = TrainingHistoryDisplay.from_history(HISTORY, log_scale=False)
    assert [ax.get_yscale() for ax in disp.axes_] == ["linear", "linear"]

    disp = TrainingHistoryDisplay.from_history(HISTORY, log_scale=True)
    assert [ax.get_yscale() for ax in disp.axes_] == ["log", "log"]


def test_history_auto_log_scale_stays_linear_with_non_positive_values():
    disp = TrainingHistoryDisplay.from_history({"score": [-100.0, -1.0, 0.0]})
    assert disp.ax_.get_yscale() == "linear"


def test_history_metrics_selects_the_axes():
    disp = TrainingHistoryDisplay.from_history(HISTORY, metrics="mae")

    assert len(disp.axes_) == 1
    assert set(disp.lines_) == {"mae", "val_mae"}
    assert disp.ax_.get_title() == "Training vs validation MAE"


def test_history_titles_with_only_training_or_only_validation():
    disp = TrainingHistoryDisplay.from_history({"loss": [2, 1], "val_mae": [3, 2]})

    assert [ax.get_title() for ax in disp.axes_] == [
        "Training loss",
        "Validation MAE",
    ]
    assert set(disp.lines_) == {"loss", "val_mae"}


def test_history_accepts_a_keras_history_like_object():
    history = SimpleNamespace(history={"loss": [3.0, 2.0, 1.0]})

    disp = TrainingHistoryDisplay.from_history(history)

    assert_allclose(disp.lines_["loss"].get_ydata(), [3.0, 2.0, 1.0])


def test_history_kwargs_go_to_every_line_and_win_over_aliases():
    disp = TrainingHistoryDisplay.from_history(HISTORY, ls=":", color="black")

    for line in disp.lines_.values():
        assert line.get_linestyle() == ":"
        assert line.get_color() == "black"


def test_history_draws_on_the_given_axes():
    fig, axes = plt.subplots(1, 2)
    disp = TrainingHistoryDisplay.from_history(HISTORY, ax=axes)
    assert list(disp.axes_) == list(axes)
    assert disp.figure_ is fig

    fig, ax = plt.subplots()
    disp = TrainingHistoryDisplay.from_history(HISTORY, ax=ax, metrics=["loss"])
    assert disp.ax_ is ax
    assert len(ax.get_lines()) == 2


def test_history_plot_returns_self():
    disp = TrainingHistoryDisplay(HISTORY)
    assert disp.plot() is disp


def test_history_from_history_stores_the_checked_history():
    history = SimpleNamespace(history={"loss": [3, 2, 1], "val_loss": [], "mae": [2]})

    disp = TrainingHistoryDisplay.from_history(history)

    assert set(disp.history) == {"loss", "mae"}
    assert disp.history["loss"].dtype == np.float64
    assert_array_equal(disp.history["loss"], [3.0, 2.0, 1.0])


def test_history_plot_twice_draws_the_same_figure():
    disp = TrainingHistoryDisplay.from_history(HISTORY)
    first = {key: line.get_ydata().tolist() for key, line in disp.lines_.items()}
    scales = [ax.get_yscale() for ax in disp.axes_]

    disp.plot()

    assert {key: line.get_ydata().tolist() for key, line in disp.lines_.items()} == (
        first
    )
    assert [ax.get_yscale() for ax in disp.axes_] == scales


def test_history_wrong_number_of_axes_raises():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="one matplotlib Axes per metric"):
        TrainingHistoryDisplay.from_history(HISTORY, ax=ax)


@pytest.mark.parametrize(
    ("history", "match"),
    [
        ({}, "history is empty"),
        ({"loss": [], "val_loss": []}, "history is empty"),
        ([1.0, 2.0], "must be a dict"),
        ({"loss": [[1.0, 2.0]]}, "per-epoch numbers"),
        ({"loss": ["a", "b"]}, "per-epoch numbers"),
    ],
)
def test_history_bad_history_raises(history, match):
    with pytest.raises(ValueError, match=match):
        TrainingHistoryDisplay.from_history(history)


@pytest.mark.parametrize("metrics", ["accuracy", [], ["loss", "val_loss"]])
def test_history_unknown_metric_raises(metrics):
    with pytest.raises(ValueError, match="Unknown metrics"):
        TrainingHistoryDisplay.from_history(HISTORY, metrics=metrics)


def test_history_bad_log_scale_raises():
    with pytest.raises(ValueError, match="log_scale"):
        TrainingHistoryDisplay.from_history(HISTORY, log_scale="yes")


def test_history_from_estimator_reads_history_():
    estimator = ArgmaxRegressor().fit(_images([(0, 0)]))

    disp = TrainingHistoryDisplay.from_estimator(estimator, metrics="loss")

    assert_allclose(disp.lines_["val_loss"].get_ydata(), HISTORY["val_loss"])


def test_history_from_estimator_not_fitted_raises_not_fitted_error():
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(ArgmaxRegressor())


def test_history_from_estimator_without_history_raises():
    estimator = ArgmaxRegressor().fit(_images([(0, 0)]))
    del estimator.history_

    with pytest.raises(ValueError, match="has no training history"):
        TrainingHistoryDisplay.from_estimator(estimator)


def test_history_from_estimator_with_empty_history_raises():
    estimator = ArgmaxRegressor().fit(_images([(0, 0)]))
    estimator.history_ = {}

    with pytest.raises(ValueError, match="history is empty"):
        TrainingHistoryDisplay.from_estimator(estimator)


# ---------------------------------------------------------------------------
# CoordinatePredictionDisplay
# ---------------------------------------------------------------------------

Y_TRUE = np.array([[1, 2], [3, 4], [5, 0], [0, 7]])
Y_PRED = np.array([[1.0, 2.0], [3.0, 7.0], [5.4, 0.3], [0.0, 6.0]])
ERRORS = np.array([0.0, 3.0, 0.5, 1.0])


def test_coordinates_scatter_offsets_are_col_row():
    disp = CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED)

    assert_allclose(disp.true_scatter_.get_offsets(), Y_TRUE[:, ::-1])
    assert_allclose(disp.pred_scatter_.get_offsets(), Y_PRED[:, ::-1])
    segments = disp.error_lines_.get_segments()
    assert len(segments) == len(Y_TRUE)
    assert_allclose([s[0] for s in segments], Y_TRUE[:, ::-1])
    assert_allclose([s[1] for s in segments], Y_PRED[:, ::-1])


def test_coordinates_axes_look_like_an_image():
    disp = CoordinatePredictionDisplay.from_predictions(
        Y_TRUE, Y_PRED, image_shape=(6, 8)
    )
    ax = disp.ax_

    assert ax.get_xlabel() == "Column"
    assert ax.get_ylabel() == "Row"
    assert ax.yaxis_inverted()
    assert ax.get_aspect() == 1.0
    assert ax.get_xlim() == (-0.5, 7.5)
    assert ax.get_ylim() == (5.5, -0.5)
    assert _legend_texts(ax) == ["Ground truth", "Predicted"]
    assert disp.true_scatter_.get_label() == "Ground truth"
    assert disp.pred_scatter_.get_label() == "Predicted"


def test_coordinates_frame_widens_to_show_points_outside_the_image():
    disp = CoordinatePredictionDisplay.from_predictions(
        [[1, 1]], [[9.0, -3.0]], image_shape=(6, 8)
    )
    assert disp.ax_.get_xlim() == (-3.5, 7.5)
    assert disp.ax_.get_ylim() == (9.5, -0.5)


def test_coordinates_errors_histogram_and_statistics():
    disp = CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED)

    assert_allclose(disp.errors_, ERRORS)
    assert disp.mean_error_ == pytest.approx(1.125)
    # rounded predictions (1, 2) (3, 7) (5, 0) (0, 6): two exact pixels
    assert disp.exact_accuracy_ == pytest.approx(0.5)
    counts = [patch.get_height() for patch in disp.error_hist_]
    assert sum(counts) == len(Y_TRUE)
    assert disp.error_ax_ is not disp.ax_
    assert disp.error_hist_[0].axes is disp.error_ax_
    assert disp.error_ax_.get_xlabel() == "Euclidean error (pixels)"
    assert_allclose(disp.mean_line_.get_xdata(), [1.125, 1.125])
    text = disp.stats_text_.get_text()
    assert "mean error: 1.125 px" in text
    assert "exact pixel: 50.0%" in text


def test_coordinates_all_exact_predictions():
    disp = CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_TRUE + 0.2)

    assert disp.exact_accuracy_ == 1.0
    assert sum(patch.get_height() for patch in disp.error_hist_) == len(Y_TRUE)


@pytest.mark.parametrize("offset", [0.0, 0.2])
@pytest.mark.parametrize("bins", ["auto", 1, 5])
def test_coordinates_error_histogram_starts_at_0(offset, bins):
    # Equal errors (all 0 for perfect predictions) once got one bin centred
    # on them: from -0.5 to 0.5 for zeros, though a distance is never < 0.
    disp = CoordinatePredictionDisplay.from_predictions(
        Y_TRUE, Y_TRUE + offset, bins=bins
    )

    lefts = [patch.get_x() for patch in disp.error_hist_]
    assert min(lefts) == pytest.approx(0.0, abs=1e-12)
    assert disp.error_ax_.get_xlim()[0] == 0.0
    assert sum(patch.get_height() for patch in disp.error_hist_) == len(Y_TRUE)
    tallest = max(disp.error_hist_, key=lambda patch: patch.get_height())
    error = np.hypot(offset, offset)
    assert tallest.get_x() <= error <= tallest.get_x() + tallest.get_width()


def test_coordinates_error_histogram_axis_starts_at_0_for_spread_errors():
    disp = CoordinatePredictionDisplay.from_predictions(
        Y_TRUE, Y_PRED, kind="errors", bins=3
    )
    assert disp.error_ax_.get_xlim()[0] == 0.0
    assert min(patch.get_x() for patch in disp.error_hist_) == pytest.approx(
        ERRORS.min()
    )
    # bins given as edges are the user's
    disp = CoordinatePredictionDisplay.from_predictions(
        Y_TRUE, Y_PRED, kind="errors", bins=[-1.0, 1.0, 5.0]
    )
    assert [patch.get_x() for patch in disp.error_hist_] == [-1.0, 1.0]


def test_coordinates_sub_pixel_targets_get_the_rmse_not_exact_pixels():
    y_true = np.array([[10.3, 20.6], [30.1, 4.2], [7.5, 7.5]])
    y_pred = y_true + [[0.1, -0.1], [0.0, 0.3], [-0.2, 0.0]]
    rmse = np.sqrt(np.mean((y_pred - y_true) ** 2))

    disp = CoordinatePredictionDisplay.from_predictions(y_true, y_pred)

    assert disp.rmse_ == pytest.approx(rmse)
    assert disp.crlb_ is None
    text = disp.stats_text_.get_text()
    assert "exact pixel" not in text
    assert f"RMSE per axis: {rmse:.3f} px" in text
    assert "Cramer-Rao" not in text

    bounds = np.full((3, 2), 0.1)
    disp = CoordinatePredictionDisplay.from_predictions(y_true, y_pred, crlb=bounds)
    assert disp.crlb_ == pytest.approx(0.1)
    text = disp.stats_text_.get_text()
    assert "exact pixel" not in text
    assert f"{rmse / 0.1:.2f}x the Cramer-Rao bound (0.100 px)" in text


def test_coordinates_pixel_targets_keep_exact_pixels_unless_a_bound_is_given():
    disp = CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED)
    assert disp.rmse_ is None
    assert "exact pixel" in disp.stats_text_.get_text()

    disp = CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED, crlb=0.5)
    text = disp.stats_text_.get_text()
    assert "exact pixel" not in text
    assert "the Cramer-Rao bound (0.500 px)" in text


@pytest.mark.parametrize("crlb", [0.0, -1.0, np.nan, [], [0.1, np.inf], "x"])
def test_coordinates_bad_crlb(crlb):
    with pytest.raises(ValueError, match="crlb must be the Cramer-Rao bound"):
        CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED, crlb=crlb)


def test_coordinates_subsample_draws_fewer_points_but_counts_all():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 50, size=(300, 2))
    y_pred = y_true + rng.normal(scale=0.5, size=(300, 2))

    disp = CoordinatePredictionDisplay.from_predictions(
        y_true, y_pred, subsample=40, random_state=0
    )

    assert len(disp.indices_) == 40
    assert len(np.unique(disp.indices_)) == 40
    assert_allclose(disp.true_scatter_.get_offsets(), y_true[disp.indices_, ::-1])
    assert_allclose(disp.pred_scatter_.get_offsets(), y_pred[disp.indices_, ::-1])
    assert disp.errors_.shape == (300,)
    assert sum(patch.get_height() for patch in disp.error_hist_) == 300

    again = CoordinatePredictionDisplay.from_predictions(
        y_true, y_pred, subsample=40, random_state=0
    )
    assert_array_equal(again.indices_, disp.indices_)

    share = CoordinatePredictionDisplay.from_predictions(
        y_true, y_pred, subsample=0.1, random_state=0
    )
    assert len(share.indices_) == 30

    everything = CoordinatePredictionDisplay.from_predictions(
        y_true, y_pred, subsample=None
    )
    assert len(everything.true_scatter_.get_offsets()) == 300


def test_coordinates_subsample_int_seed_is_randomstate_of_that_seed():
    y_true = np.zeros((50, 2))
    disp = CoordinatePredictionDisplay.from_predictions(
        y_true, y_true, subsample=7, random_state=3
    )
    expected = np.random.RandomState(3).choice(50, size=7, replace=False)
    assert_array_equal(disp.indices_, np.sort(expected))

    rng = np.random.default_rng(3)
    disp = CoordinatePredictionDisplay.from_predictions(
        y_true, y_true, subsample=7, random_state=rng
    )
    expected = np.random.default_rng(3).choice(50, size=7, replace=False)
    assert_array_equal(disp.indices_, np.sort(expected))


@pytest.mark.parametrize(
    ("random_state", "error"),
    [("0", TypeError), (1.5, TypeError), (-1, ValueError)],
)
def test_coordinates_bad_random_state_raises(random_state, error):
    with pytest.raises(error, match="random_state"):
        CoordinatePredictionDisplay.from_predictions(
            Y_TRUE, Y_PRED, subsample=2, random_state=random_state
        )


@pytest.mark.parametrize("subsample", [0, -5, 0.0, 1.5, "all", True])
def test_coordinates_bad_subsample_raises(subsample):
    with pytest.raises(ValueError, match="subsample"):
        CoordinatePredictionDisplay.from_predictions(
            Y_TRUE, Y_PRED, subsample=subsample
        )


def test_coordinates_draws_on_the_given_axes():
    fig, (pos_ax, err_ax) = plt.subplots(1, 2)
    disp = CoordinatePredictionDisplay.from_predictions(
        Y_TRUE, Y_PRED, ax=(pos_ax, err_ax)
    )
    assert disp.ax_ is pos_ax
    assert disp.error_ax_ is err_ax
    assert disp.figure_ is fig
    assert disp.true_scatter_ in pos_ax.collections


@pytest.mark.parametrize("kind", ["positions", "errors"])
def test_coordinates_single_panel_kinds(kind):
    fig, ax = plt.subplots()

    disp = CoordinatePredictionDisplay.from_predictions(
        Y_TRUE, Y_PRED, ax=ax, kind=kind
    )

    assert disp.ax_ is ax
    assert disp.figure_ is fig
    assert_allclose(disp.errors_, ERRORS)
    if kind == "positions":
        assert disp.error_ax_ is None
        assert disp.error_hist_ is None
        assert disp.true_scatter_.axes is ax
    else:
        assert disp.error_ax_ is ax
        assert disp.true_scatter_ is None
        assert disp.error_hist_[0].axes is ax


def test_coordinates_plot_returns_self_and_new_figure_has_two_axes():
    disp = CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED)
    first_figure = disp.figure_
    assert disp.plot() is disp
    assert disp.figure_ is not first_figure
    assert len(disp.figure_.axes) == 2


def test_coordinates_built_by_hand_draws_the_positions_it_is_given():
    disp = CoordinatePredictionDisplay(Y_TRUE, Y_PRED, indices=[1, 3])
    disp.plot(kind="positions")
    assert_allclose(disp.pred_scatter_.get_offsets(), Y_PRED[[1, 3], ::-1])
    assert disp.errors_ is None
    assert disp.mean_error_ is None

    with pytest.raises(ValueError, match="holds no errors_.*from_predictions"):
        CoordinatePredictionDisplay(Y_TRUE, Y_PRED).plot()

    disp = CoordinatePredictionDisplay(Y_TRUE, Y_PRED, errors=ERRORS).plot()
    assert sum(patch.get_height() for patch in disp.error_hist_) == len(ERRORS)
    assert disp.mean_line_ is None
    assert disp.stats_text_ is None


def test_coordinates_style_kwargs_reach_the_artists():
    disp = CoordinatePredictionDisplay.from_predictions(
        Y_TRUE,
        Y_PRED,
        pred_kwargs={"c": "black", "marker": "+"},
        true_kwargs={"edgecolors": "green"},
        segment_kwargs={"colors": "red"},
        hist_kwargs={"bins": 3},
    )
    assert_allclose(disp.pred_scatter_.get_facecolor()[0], [0, 0, 0, 1])
    assert_allclose(
        disp.true_scatter_.get_edgecolor()[0], [0, 0.50196, 0, 1], atol=1e-4
    )
    assert_allclose(disp.error_lines_.get_color()[0], [1, 0, 0, 0.7])
    assert len(disp.error_hist_) == 3


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([1, 2], [[1, 2]], "shape \\(n_samples, 2\\)"),
        ([[1, 2, 3]], [[1, 2, 3]], "shape \\(n_samples, 2\\)"),
        (np.zeros((0, 2)), np.zeros((0, 2)), "at least one sample"),
        ([[1, 2], [3, 4]], [[1, 2]], "same number of samples"),
        ([[1, 2]], [[np.nan, 2]], "NaN"),
        ([["a", "b"]], [[1, 2]], "numbers"),
    ],
)
def test_coordinates_bad_inputs_raise(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        CoordinatePredictionDisplay.from_predictions(y_true, y_pred)


def test_coordinates_bad_kind_and_axes_raise():
    with pytest.raises(ValueError, match="kind must be one of"):
        CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED, kind="scatter")
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="pass ax as a pair"):
        CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED, ax=ax)
    with pytest.raises(ValueError, match="single matplotlib Axes"):
        CoordinatePredictionDisplay.from_predictions(
            Y_TRUE, Y_PRED, ax=[ax, ax], kind="errors"
        )
    with pytest.raises(ValueError, match="image_shape"):
        CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED, image_shape=(0, 5))


def test_coordinates_from_estimator_predicts_and_reads_the_image_shape():
    y = np.array([[0, 0], [5, 7], [2, 3]])
    X = _images(y, shape=(6, 8))
    estimator = ArgmaxRegressor(offset=(0.0, 1.0)).fit(X)

    disp = CoordinatePredictionDisplay.from_estimator(estimator, X, y)

    assert estimator.last_X_shape_ == X.shape
    assert_allclose(disp.pred_scatter_.get_offsets(), (y + [0, 1])[:, ::-1])
    assert_allclose(disp.errors_, [1.0, 1.0, 1.0])
    assert disp.exact_accuracy_ == 0.0
    assert disp.ax_.get_xlim() == (-0.5, 8.5)  # image frame, widened for col 8
    assert disp.ax_.get_ylim() == (5.5, -0.5)


def test_coordinates_from_predictions_stores_what_it_computed():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 20, size=(60, 2)).tolist()
    y_pred = (np.asarray(y_true) + rng.normal(scale=0.6, size=(60, 2))).tolist()

    disp = CoordinatePredictionDisplay.from_predictions(
        y_true, y_pred, image_shape=[20, np.int64(20)], subsample=9, random_state=4
    )

    assert isinstance(disp.y_true, np.ndarray)
    assert disp.y_true.dtype == np.float64
    assert_array_equal(disp.y_true, y_true)
    assert_array_equal(disp.y_pred, y_pred)
    assert disp.image_shape == (20, 20)
    assert all(type(side) is int for side in disp.image_shape)
    assert_allclose(disp.errors_, np.linalg.norm(np.subtract(y_pred, y_true), axis=1))
    assert disp.mean_error_ == metrics.mean_pixel_error(y_true, y_pred)
    assert disp.exact_accuracy_ == metrics.exact_pixel_accuracy(y_true, y_pred)
    expected = np.random.RandomState(4).choice(60, size=9, replace=False)
    assert_array_equal(disp.indices_, np.sort(expected))


def test_coordinates_exact_accuracy_is_the_metrics_one_for_real_targets():
    y_true = [[0.6, 1.4], [2.5, 3.0], [4.2, 4.8], [1.0, 1.0]]
    y_pred = [[1.4, 0.6], [2.4, 3.4], [4.6, 5.0], [1.5, 1.0]]

    disp = CoordinatePredictionDisplay.from_predictions(y_true, y_pred)

    assert disp.exact_accuracy_ == 0.5
    assert disp.exact_accuracy_ == metrics.exact_pixel_accuracy(
        y_true, y_pred, round_y_true=True
    )


def _artist_data(disp):
    """What a CoordinatePredictionDisplay drew, as plain values."""
    return {
        "true": disp.true_scatter_.get_offsets().tolist(),
        "pred": disp.pred_scatter_.get_offsets().tolist(),
        "segments": [s.tolist() for s in disp.error_lines_.get_segments()],
        "hist": [(p.get_x(), p.get_height()) for p in disp.error_hist_],
        "mean": list(disp.mean_line_.get_xdata()),
        "text": disp.stats_text_.get_text(),
        "limits": (disp.ax_.get_xlim(), disp.ax_.get_ylim()),
    }


def test_coordinates_plot_twice_draws_the_same_figure():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 30, size=(200, 2))
    y_pred = y_true + rng.normal(scale=1.0, size=(200, 2))
    # An unseeded subsample is drawn once, by from_predictions.
    disp = CoordinatePredictionDisplay.from_predictions(
        y_true, y_pred, subsample=25, random_state=None, image_shape=(30, 30)
    )
    first, indices = _artist_data(disp), disp.indices_.copy()

    disp.plot()

    assert _artist_data(disp) == first
    assert_array_equal(disp.indices_, indices)
    assert len(disp.true_scatter_.get_offsets()) == 25


@contextlib.contextmanager
def _no_checks_nor_statistics():
    """Make every check and statistic of the plotting module raise."""
    names = [
        "pixel_regressor.plotting._check_coordinates",
        "pixel_regressor.plotting._check_point",
        "pixel_regressor.plotting._check_image",
        "pixel_regressor.plotting._history_dict",
        "pixel_regressor.plotting._subsample_indices",
        "pixel_regressor.plotting.check_random_state",
        "pixel_regressor.plotting.check_image_shape",
        "pixel_regressor.metrics.mean_pixel_error",
        "pixel_regressor.metrics.exact_pixel_accuracy",
    ]
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(
                mock.patch(name, side_effect=AssertionError(f"plot called {name}"))
            )
        yield


def test_plot_only_draws_what_from_predictions_computed():
    coordinates = CoordinatePredictionDisplay.from_predictions(
        Y_TRUE, Y_PRED, image_shape=(6, 8), subsample=3, random_state=0
    )
    history = TrainingHistoryDisplay.from_history(HISTORY)
    sample = SampleImageDisplay.from_predictions(
        _bright_image(), y_true=(1, 5), y_pred=(1.5, 5.0)
    )
    drawn = _artist_data(coordinates)

    with _no_checks_nor_statistics():
        coordinates.plot()
        history.plot()
        sample.plot()

    assert _artist_data(coordinates) == drawn
    assert len(coordinates.true_scatter_.get_offsets()) == 3
    assert set(history.lines_) == set(HISTORY)
    assert "error 0.50 px" in sample.ax_.get_title()


def test_plot_draws_the_stored_statistics_without_recomputing_them():
    disp = CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED)
    disp.errors_ = np.array([9.0, 9.0])
    disp.mean_error_ = 9.0
    disp.exact_accuracy_ = 0.25

    disp.plot(hist_kwargs={"bins": 1})

    assert [patch.get_height() for patch in disp.error_hist_] == [2]
    assert_allclose(disp.mean_line_.get_xdata(), [9.0, 9.0])
    assert disp.stats_text_.get_text() == (
        "mean error: 9.000 px\nexact pixel: 25.0% of 2"
    )


def test_the_checks_do_run_in_from_predictions():
    with _no_checks_nor_statistics(), pytest.raises(AssertionError, match="plot"):
        CoordinatePredictionDisplay.from_predictions(Y_TRUE, Y_PRED)
    with _no_checks_nor_statistics(), pytest.raises(AssertionError, match="plot"):
        TrainingHistoryDisplay.from_history(HISTORY)
    with _no_checks_nor_statistics(), pytest.raises(AssertionError, match="plot"):
        SampleImageDisplay.from_predictions(_bright_image(), y_true=(1, 5))


# ---------------------------------------------------------------------------
# SampleImageDisplay
# ---------------------------------------------------------------------------


def _bright_image(shape=(5, 7), row=1, col=5):
    image = np.zeros(shape)
    image[row, col] = 1.0
    return image


def test_sample_image_markers_sit_on_the_bright_pixel():
    image = _bright_image()

    disp = SampleImageDisplay.from_predictions(image, y_true=(1, 5), y_pred=(1, 5))

    # the pixel image[1, 5] is centred on x=5, y=1 of an upper-origin image
    assert_allclose(disp.true_marker_.get_offsets(), [[5, 1]])
    assert_allclose(disp.pred_marker_.get_offsets(), [[5, 1]])
    drawn = disp.image_.get_array()
    assert drawn[1, 5] == drawn.max()
    assert np.unravel_index(np.argmax(drawn), drawn.shape) == (1, 5)
    assert disp.image_.origin == "upper"
    assert disp.image_.get_extent() == [-0.5, 6.5, 4.5, -0.5]
    assert disp.image_.get_cmap().name == "gray"
    assert disp.ax_.yaxis_inverted()


def test_sample_image_markers_labels_and_title():
    disp = SampleImageDisplay.from_predictions(
        _bright_image(), y_true=[1, 5], y_pred=[1.25, 4.5]
    )

    assert disp.true_marker_.get_paths()[0] != disp.pred_marker_.get_paths()[0]
    assert _legend_texts(disp.ax_) == ["Ground truth", "Predicted"]
    title = disp.ax_.get_title()
    assert "Ground truth (1, 5)" in title
    assert "predicted (1.25, 4.50)" in title
    assert disp.ax_.get_xlabel() == "Column"
    assert disp.ax_.get_ylabel() == "Row"


def test_sample_image_from_predictions_stores_what_it_computed():
    disp = SampleImageDisplay.from_predictions(
        _bright_image()[..., np.newaxis], y_true=[1, 5], y_pred=[[4.0, 9.0]]
    )

    assert disp.image.shape == (5, 7)
    assert_array_equal(disp.y_true, [1.0, 5.0])
    assert_array_equal(disp.y_pred, [4.0, 9.0])
    assert disp.error_ == metrics.mean_pixel_error([[1, 5]], [[4.0, 9.0]]) == 5.0
    assert disp.ax_.get_title().endswith("error 5.00 px")

    again = disp.plot()
    assert again.ax_.get_title() == disp.ax_.get_title()
    assert_allclose(again.pred_marker_.get_offsets(), [[9.0, 4.0]])


def test_sample_image_built_by_hand_writes_the_error_it_is_given():
    disp = SampleImageDisplay(_bright_image(), y_true=(1, 5), y_pred=(1, 6)).plot()
    assert "error" not in disp.ax_.get_title()

    disp = SampleImageDisplay(
        _bright_image(), y_true=(1, 5), y_pred=(1, 6), error=1.0
    ).plot()
    assert disp.ax_.get_title().endswith("error 1.00 px")


def test_sample_image_without_coordinates_draws_only_the_image():
    disp = SampleImageDisplay(_bright_image()).plot()

    assert disp.true_marker_ is None
    assert disp.pred_marker_ is None
    assert disp.ax_.get_legend() is None
    assert disp.ax_.get_title() == "Sample image"


def test_sample_image_accepts_a_trailing_channel_and_a_1x2_prediction():
    image = _bright_image()[..., np.newaxis]

    disp = SampleImageDisplay.from_predictions(image, y_pred=np.array([[1.0, 5.0]]))

    assert disp.image_.get_array().shape == (5, 7)
    assert_allclose(disp.pred_marker_.get_offsets(), [[5, 1]])
    assert disp.true_marker_ is None


def test_sample_image_draws_on_the_given_axes_and_returns_self():
    fig, ax = plt.subplots()
    disp = SampleImageDisplay(_bright_image(), y_true=(1, 5))

    assert disp.plot(ax=ax) is disp
    assert disp.ax_ is ax
    assert disp.figure_ is fig
    assert disp.image_ in ax.images


def test_sample_image_kwargs_reach_imshow_and_markers():
    disp = SampleImageDisplay.from_predictions(
        _bright_image(),
        y_true=(1, 5),
        cmap="viridis",
        vmax=2.0,
        true_kwargs={"color": "yellow"},
    )
    assert disp.image_.get_cmap().name == "viridis"
    assert disp.image_.get_clim() == (0.0, 2.0)
    assert_allclose(disp.true_marker_.get_edgecolor()[0], [1, 1, 0, 1])


def test_sample_image_view_widens_for_a_prediction_outside_the_image():
    disp = SampleImageDisplay.from_predictions(
        _bright_image(), y_true=(1, 5), y_pred=(7.0, 9.0)
    )
    assert disp.ax_.get_xlim() == (-0.5, 9.5)
    assert disp.ax_.get_ylim() == (7.5, -0.5)


def test_sample_image_from_estimator_predicts_one_image():
    image = _bright_image()
    estimator = ArgmaxRegressor(offset=(0.5, -0.25)).fit(image[np.newaxis])

    disp = SampleImageDisplay.from_estimator(estimator, image, y_true=(1, 5))

    assert estimator.last_X_shape_ == (1, 5, 7)
    assert_allclose(disp.pred_marker_.get_offsets(), [[4.75, 1.5]])
    assert_allclose(disp.true_marker_.get_offsets(), [[5, 1]])

    disp = SampleImageDisplay.from_estimator(estimator, image, flatten=True)
    assert estimator.last_X_shape_ == (1, 35)
    assert_allclose(disp.pred_marker_.get_offsets(), [[4.75, 1.5]])


def test_sample_image_from_estimator_with_a_bad_prediction_raises():
    class ThreeOutputs(ArgmaxRegressor):
        def predict(self, X):
            return np.zeros((1, 3))

    estimator = ThreeOutputs().fit(_bright_image()[np.newaxis])
    with pytest.raises(ValueError, match="expected one \\(row, col\\)"):
        SampleImageDisplay.from_estimator(estimator, _bright_image())


@pytest.mark.parametrize(
    ("image", "y_true", "match"),
    [
        (np.zeros(35), None, "shape \\(height, width\\)"),
        (np.zeros((2, 5, 7)), None, "shape \\(height, width\\)"),
        (np.zeros((5, 7, 3)), None, "shape \\(height, width\\)"),
        (np.zeros((0, 7)), None, "shape \\(height, width\\)"),
        (np.full((5, 7), "a"), None, "numbers"),
        (np.zeros((5, 7)), [1, 2, 3], "one \\(row, col\\)"),
        (np.zeros((5, 7)), [[1, 2], [3, 4]], "one \\(row, col\\)"),
        (np.zeros((5, 7)), [np.inf, 2], "NaN or infinity"),
    ],
)
def test_sample_image_bad_inputs_raise(image, y_true, match):
    with pytest.raises(ValueError, match=match):
        SampleImageDisplay.from_predictions(image, y_true=y_true)


def test_sample_image_refuses_a_lower_origin():
    with pytest.raises(ValueError, match="origin must be 'upper'"):
        SampleImageDisplay.from_predictions(_bright_image(), (1, 5), origin="lower")


# ---------------------------------------------------------------------------
# Import cost
# ---------------------------------------------------------------------------


def test_importing_plotting_imports_neither_matplotlib_nor_keras():
    code = (
        "import sys\n"
        "import pixel_regressor.plotting\n"
        "heavy = {'matplotlib', 'tensorflow', 'keras'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_history_at_rounding_level_is_drawn_at_zero_with_a_note():
    history = {"loss": [8.7e-32, 1e-31], "val_loss": [1e-17, 2e-17]}
    display = TrainingHistoryDisplay.from_history(history)
    axis = display.ax_
    assert axis.get_yscale() == "linear"
    assert axis.get_ylim() == (-0.05, 1.0)
    assert any("zero throughout" in text.get_text() for text in axis.texts)
    # a loss that really falls keeps its log scale and no note
    falling = TrainingHistoryDisplay.from_history({"loss": [10.0, 0.01]})
    assert falling.ax_.get_yscale() == "log"
    assert not falling.ax_.texts
    # asked for explicitly, a log scale is kept
    forced = TrainingHistoryDisplay.from_history(history, log_scale=True)
    assert forced.ax_.get_yscale() == "log"
