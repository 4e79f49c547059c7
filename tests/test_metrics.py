"""Tests for :mod:`pixel_regressor.metrics`."""

import pickle

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neighbors import KNeighborsRegressor

import pixel_regressor
from pixel_regressor import make_bright_pixel_dataset
from pixel_regressor.metrics import (
    exact_pixel_accuracy,
    exact_pixel_accuracy_scorer,
    jaccard_index,
    localization_efficiency,
    match_localizations,
    matched_rmse,
    mean_pixel_error,
    mean_pixel_error_scorer,
)

METRICS = [mean_pixel_error, exact_pixel_accuracy]


@pytest.fixture(scope="module")
def tiny_dataset():
    # 36 positions, 100 images: a nearest neighbour has seen most positions.
    return make_bright_pixel_dataset(100, image_size=6, random_state=0)


# --------------------------------------------------------------------------
# mean_pixel_error
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [
        ([[0, 0]], [[0, 0]], 0.0),
        ([[0, 0]], [[3, 4]], 5.0),  # a 3-4-5 triangle
        ([[3, 4]], [[0, 0]], 5.0),  # symmetric
        ([[10, 10]], [[10, 13]], 3.0),  # along a column
        ([[10, 10]], [[8, 10]], 2.0),  # along a row
        ([[1, 1]], [[2, 2]], np.sqrt(2)),
        ([[0, 0], [2, 2]], [[3, 4], [2, 2]], 2.5),
        ([[0, 0], [0, 0], [0, 0]], [[1, 0], [0, 2], [0, 0]], 1.0),
        ([[5, 5]], [[5.5, 5.5]], np.sqrt(0.5)),
    ],
)
def test_mean_pixel_error_values(y_true, y_pred, expected):
    assert mean_pixel_error(y_true, y_pred) == pytest.approx(expected)


def test_mean_pixel_error_is_not_the_mean_absolute_error():
    # MAE per coordinate would be (3 + 4) / 2 = 3.5; the Euclidean error is 5.
    assert mean_pixel_error([[0, 0]], [[3, 4]]) == 5.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [
        ([[0], [1]], [[2], [1]], 1.0),  # one coordinate
        ([[0, 0, 0]], [[1, 2, 2]], 3.0),  # three coordinates
    ],
)
def test_mean_pixel_error_any_number_of_coordinates(y_true, y_pred, expected):
    assert mean_pixel_error(y_true, y_pred) == pytest.approx(expected)


# --------------------------------------------------------------------------
# exact_pixel_accuracy
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y_pred", "expected"),
    [
        ([[1.0, 1.0]], 1.0),
        ([[1.49, 0.51]], 1.0),
        ([[1.51, 1.0]], 0.0),  # row rounds to 2
        ([[1.0, 0.49]], 0.0),  # col rounds to 0
        ([[2.0, 2.0]], 0.0),  # both wrong
        ([[1.0, 2.0]], 0.0),  # one coordinate right is not enough
    ],
)
def test_exact_pixel_accuracy_rounds_to_nearest(y_pred, expected):
    assert exact_pixel_accuracy([[1, 1]], y_pred) == expected


@pytest.mark.parametrize(
    ("value", "rounded"),
    [(0.5, 0), (1.5, 2), (2.5, 2), (3.5, 4), (-0.5, 0), (-1.5, -2)],
)
def test_exact_pixel_accuracy_rounds_half_to_even(value, rounded):
    assert exact_pixel_accuracy([[rounded, 0]], [[value, 0.0]]) == 1.0
    assert exact_pixel_accuracy([[rounded + 1, 0]], [[value, 0.0]]) == 0.0
    assert exact_pixel_accuracy([[rounded - 1, 0]], [[value, 0.0]]) == 0.0


def test_exact_pixel_accuracy_fraction():
    y_true = [[0, 0], [1, 1], [2, 2], [3, 3]]
    y_pred = [[0.1, -0.2], [1, 1.7], [2.4, 2.4], [9, 9]]
    assert exact_pixel_accuracy(y_true, y_pred) == 0.5


def test_exact_pixel_accuracy_needs_integer_targets():
    with pytest.raises(ValueError, match="y_true.*integer"):
        exact_pixel_accuracy([[0.5, 1]], [[0.5, 1]])


def test_exact_pixel_accuracy_can_round_real_valued_targets():
    y_true = [[0.6, 1.4], [2.5, 3.0], [4.2, 4.8], [1.0, 1.0]]
    y_pred = [[1.4, 0.6], [2.4, 3.4], [4.6, 5.0], [1.5, 1.0]]
    # rounded targets (1, 1) (2, 3) (4, 5) (1, 1); rounded predictions
    # (1, 1) (2, 3) (5, 5) (2, 1): the first two are on the target's pixel
    assert exact_pixel_accuracy(y_true, y_pred, round_y_true=True) == 0.5
    assert (
        exact_pixel_accuracy(
            y_true, y_pred, round_y_true=True, sample_weight=[1, 0, 0, 3]
        )
        == 0.25
    )
    # integer targets: rounding them changes nothing
    y_int = [[1, 1], [2, 3]]
    assert exact_pixel_accuracy(
        y_int, [[1.2, 0.7], [2.6, 3.0]], round_y_true=True
    ) == exact_pixel_accuracy(y_int, [[1.2, 0.7], [2.6, 3.0]])


def test_exact_pixel_accuracy_real_valued_targets_hint_at_round_y_true():
    with pytest.raises(ValueError, match="round_y_true=True"):
        exact_pixel_accuracy([[0.5, 1]], [[0.5, 1]])


def test_exact_pixel_accuracy_of_the_dataset_targets_is_one():
    _, y = make_bright_pixel_dataset(50, image_size=7, random_state=0)
    assert exact_pixel_accuracy(y, y + 0.3) == 1.0
    assert mean_pixel_error(y, y) == 0.0


# --------------------------------------------------------------------------
# both metrics: types, inputs and weights
# --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_returns_a_python_float(metric):
    result = metric(np.array([[1, 2]]), np.array([[1.0, 2.0]], dtype=np.float32))
    assert type(result) is float


@pytest.mark.parametrize("metric", METRICS)
def test_accepts_lists_arrays_and_dataframes(metric):
    pd = pytest.importorskip("pandas")
    y_true = [[0, 0], [1, 2], [3, 1]]
    y_pred = [[0.2, 0.1], [1, 3], [3.6, 1]]
    expected = metric(y_true, y_pred)
    frame_true = pd.DataFrame(y_true, columns=["row", "col"])
    frame_pred = pd.DataFrame(y_pred, columns=["row", "col"])
    assert metric(np.array(y_true), np.array(y_pred)) == expected
    assert metric(frame_true, frame_pred) == expected
    assert metric(np.array(y_true, dtype=np.uint8), y_pred) == expected


@pytest.mark.parametrize("metric", METRICS)
def test_uniform_weights_change_nothing(metric):
    y_true = [[0, 0], [1, 2], [3, 1]]
    y_pred = [[0.2, 0.1], [1, 3.4], [3.6, 1]]
    expected = metric(y_true, y_pred)
    assert metric(y_true, y_pred, sample_weight=None) == expected
    assert metric(y_true, y_pred, sample_weight=[1, 1, 1]) == pytest.approx(expected)
    assert metric(y_true, y_pred, sample_weight=[7, 7, 7]) == pytest.approx(expected)


@pytest.mark.parametrize("metric", METRICS)
def test_integer_weights_equal_repeated_samples(metric):
    y_true = np.array([[0, 0], [1, 2], [3, 1]])
    y_pred = np.array([[0.2, 0.1], [1, 3.4], [3.6, 1]])
    weights = np.array([2, 0, 3])
    repeated = np.repeat(np.arange(3), weights)
    assert metric(y_true, y_pred, sample_weight=weights) == pytest.approx(
        metric(y_true[repeated], y_pred[repeated])
    )


def test_weighted_values_by_hand():
    y_true = [[0, 0], [0, 0]]
    y_pred = [[3, 4], [0, 0]]  # errors 5 and 0, exact: no and yes
    assert mean_pixel_error(y_true, y_pred, sample_weight=[1, 4]) == pytest.approx(1.0)
    assert exact_pixel_accuracy(y_true, y_pred, sample_weight=[1, 4]) == 0.8
    assert mean_pixel_error(y_true, y_pred, sample_weight=[1, 0]) == 5.0
    assert exact_pixel_accuracy(y_true, y_pred, sample_weight=[0, 1]) == 1.0


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([0, 1], [0, 1], "y_true must be a 2-D array"),
        ([[0, 1]], [0, 1], "y_pred must be a 2-D array"),
        ([[[0, 1]]], [[[0, 1]]], "2-D"),
        ([[0, 1]], [[0, 1, 2]], "same number of coordinates"),
        ([[0, 1], [1, 1]], [[0, 1]], "inconsistent numbers of samples"),
        ([[0, 1]], [[np.nan, 1]], "y_pred.*NaN"),
        ([[0, np.nan]], [[0, 1]], "y_true.*NaN"),
        ([[0, 1]], [[np.inf, 1]], "y_pred.*infinity"),
        (np.empty((0, 2)), np.empty((0, 2)), "0 sample"),
        ([["a", "b"]], [[0, 1]], "y_true|could not convert"),
        (5, 5, "y_true"),
    ],
)
def test_bad_targets_raise_value_error(metric, y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        metric(y_true, y_pred)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("sample_weight", "match"),
    [
        ([1, 1], "inconsistent numbers of samples"),
        ([1, 1, 1, 1], "inconsistent numbers of samples"),
        ([[1, 1, 1]], "sample_weight must be a 1-D array"),
        ([1, -1, 1], "negative"),
        ([0, 0, 0], "at least one positive"),
        ([1, np.nan, 1], "sample_weight.*NaN"),
        ([1, np.inf, 1], "sample_weight.*infinity"),
    ],
)
def test_bad_sample_weight_raises_value_error(metric, sample_weight, match):
    y = [[0, 0], [1, 1], [2, 2]]
    with pytest.raises(ValueError, match=match):
        metric(y, y, sample_weight=sample_weight)


def test_public_names_are_the_module_objects():
    assert pixel_regressor.mean_pixel_error is mean_pixel_error
    assert pixel_regressor.exact_pixel_accuracy is exact_pixel_accuracy
    assert pixel_regressor.mean_pixel_error_scorer is mean_pixel_error_scorer
    assert pixel_regressor.exact_pixel_accuracy_scorer is exact_pixel_accuracy_scorer


# --------------------------------------------------------------------------
# localisations in frames: matching, Jaccard index, RMSE, efficiency
# --------------------------------------------------------------------------


def test_matching_pairs_as_many_as_possible_not_each_nearest():
    # The nearest spot of the localisation at 0.9 is the one at 1.5; pairing
    # them would leave the localisation at 2.4 alone. Radius 1: two pairs.
    truth = [[0.0, 0.0], [0.0, 1.5]]
    locs = [[0.0, 0.9], [0.0, 2.4]]
    truth_index, locs_index, distance = match_localizations(truth, locs, radius=1.0)
    np.testing.assert_array_equal(truth_index, [0, 1])
    np.testing.assert_array_equal(locs_index, [0, 1])
    np.testing.assert_allclose(distance, [0.9, 0.9])
    assert jaccard_index(truth, locs, radius=1.0) == 1.0


def test_matching_takes_the_least_total_distance():
    # Both pairings have two pairs within the radius: 0.1 + 0.2 beats 1.1 + 0.9.
    truth = [[0.0, 0.0], [0.0, 1.0]]
    locs = [[0.0, 1.2], [0.0, 0.1]]
    truth_index, locs_index, distance = match_localizations(truth, locs, radius=2.0)
    np.testing.assert_array_equal(truth_index, [0, 1])
    np.testing.assert_array_equal(locs_index, [1, 0])
    np.testing.assert_allclose(distance, [0.1, 0.2])


def test_a_localisation_equidistant_from_two_spots_pairs_with_one():
    truth = [[5.0, 4.0], [5.0, 6.0]]
    locs = [[5.0, 5.0]]
    truth_index, locs_index, distance = match_localizations(truth, locs, radius=1.5)
    assert len(truth_index) == 1 and truth_index[0] in (0, 1)
    np.testing.assert_array_equal(locs_index, [0])
    np.testing.assert_allclose(distance, [1.0])
    assert jaccard_index(truth, locs, radius=1.5) == 0.5  # 1 / (1 + 0 + 1)


def test_the_radius_itself_is_within_it():
    truth, locs = [[0.0, 0.0]], [[3.0, 4.0]]  # 5 apart, exactly
    assert jaccard_index(truth, locs, radius=5.0) == 1.0
    assert jaccard_index(truth, locs, radius=4.999) == 0.0


def test_spots_pair_only_within_their_frame():
    truth = [[0, 3.0, 3.0], [1, 3.0, 3.0]]  # (frame, row, col)
    locs = [[1, 3.0, 3.2], [2, 3.0, 3.0]]
    truth_index, locs_index, _ = match_localizations(truth, locs, radius=1.0)
    np.testing.assert_array_equal(truth_index, [1])
    np.testing.assert_array_equal(locs_index, [0])
    assert jaccard_index(truth, locs, radius=1.0) == 1 / 3


def test_scores_by_hand():
    # Frame 0: errors (0.3, 0.4) and (0, 1.0); frame 1: a spot missed.
    truth = [[0, 10.0, 10.0], [0, 20.0, 20.0], [1, 5.0, 5.0]]
    locs = [[0, 20.0, 21.0], [0, 10.3, 10.4]]
    assert jaccard_index(truth, locs, radius=1.5) == pytest.approx(2 / 3)
    # sqrt((0.3**2 + 0.4**2 + 1.0**2) / 2) = sqrt(0.625)
    rmse = matched_rmse(truth, locs, radius=1.5)
    assert rmse == pytest.approx(0.790569415, abs=1e-9)
    in_nm = matched_rmse(truth, locs, radius=1.5, pixel_size=160.0)
    assert in_nm == pytest.approx(160 * 0.790569415)
    np.testing.assert_allclose(
        matched_rmse(truth, locs, radius=1.5, per_axis=True),
        [np.sqrt(0.09 / 2), np.sqrt(1.16 / 2)],
    )
    # E = 1 - sqrt((1 - 2/3)**2 + (0.01 * 79.0569)**2) = 1 - sqrt(0.736111)
    efficiency = localization_efficiency(truth, locs, radius=1.5)
    assert efficiency == pytest.approx(0.14203082, abs=1e-8)
    # alpha per nm and pixel_size in nm: only their product counts.
    assert localization_efficiency(
        truth, locs, radius=1.5, pixel_size=50.0, alpha=0.02
    ) == pytest.approx(efficiency)
    no_rmse = localization_efficiency(truth, locs, radius=1.5, alpha=0.0)
    assert no_rmse == pytest.approx(2 / 3)


@pytest.mark.parametrize("locs", [[], np.empty((0, 3)), np.empty((0, 2))], ids=str)
def test_no_localisation(locs):
    truth = [[0, 1.0, 1.0], [3, 2.0, 2.0]]
    truth_index, locs_index, distance = match_localizations(truth, locs, radius=1.0)
    assert len(truth_index) == len(locs_index) == len(distance) == 0
    assert jaccard_index(truth, locs, radius=1.0) == 0.0
    assert np.isnan(matched_rmse(truth, locs, radius=1.0))
    assert np.isnan(matched_rmse(truth, locs, radius=1.0, per_axis=True)).all()
    assert localization_efficiency(truth, locs, radius=1.0) == 0.0


def test_no_spot_and_localisations_are_all_false():
    assert jaccard_index([], [[0, 1.0, 1.0]], radius=1.0) == 0.0
    assert localization_efficiency([], [[0, 1.0, 1.0]], radius=1.0) == 0.0


def test_empty_frames_are_perfectly_scored():
    pd = pytest.importorskip("pandas")
    empty = pd.DataFrame({"frame": [], "row": [], "col": []})
    assert jaccard_index(empty, empty, radius=1.0) == 1.0
    assert localization_efficiency(empty, empty, radius=1.0) == 1.0


def test_the_truth_of_simulated_frames_matches_itself_in_any_order():
    from pixel_regressor import make_spot_frames

    _, truth = make_spot_frames(20, shape=32, density=8, random_state=0)
    shuffled = truth.sample(frac=1.0, random_state=0)
    truth_index, locs_index, distance = match_localizations(truth, shuffled, radius=0.5)
    np.testing.assert_array_equal(truth_index, np.arange(len(truth)))
    # locs_index points at each spot's row in the shuffled table.
    np.testing.assert_array_equal(shuffled.index[locs_index], truth.index)
    assert not distance.any()
    assert localization_efficiency(truth, shuffled, radius=0.5) == 1.0


def test_matching_equals_one_assignment_per_frame():
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.integers(0, 5, 300), rng.uniform(0, 20, (300, 2))])
    locs = np.column_stack([rng.integers(0, 5, 280), rng.uniform(0, 20, (280, 2))])
    radius = 1.2
    truth_index, locs_index, distance = match_localizations(truth, locs, radius=radius)
    assert len(np.unique(truth_index)) == len(np.unique(locs_index)) == len(distance)
    np.testing.assert_array_equal(truth[truth_index, 0], locs[locs_index, 0])
    np.testing.assert_allclose(
        distance, np.hypot(*(truth[truth_index, 1:] - locs[locs_index, 1:]).T)
    )
    pairs = total = 0
    for frame in range(5):
        t, lc = truth[truth[:, 0] == frame, 1:], locs[locs[:, 0] == frame, 1:]
        d = np.hypot(*(t[:, None, :] - lc[None, :, :]).transpose(2, 0, 1))
        cost = np.where(d <= radius, d, 1e6)
        r, c = linear_sum_assignment(cost)
        within = cost[r, c] <= radius
        pairs += within.sum()
        total += cost[r, c][within].sum()
    assert len(distance) == pairs > 20
    assert distance.sum() == pytest.approx(total)


def test_a_scorer_of_a_model_that_predicts_localisations():
    pd = pytest.importorskip("pandas")
    from sklearn.base import BaseEstimator
    from sklearn.metrics import make_scorer

    class ShiftedLocator(BaseEstimator):
        """Returns the truth given to fit, shifted by 0.3 pixels."""

        def fit(self, X, y):
            self.truth_ = y
            return self

        def predict(self, X):
            return self.truth_.assign(col=self.truth_["col"] + 0.3)

    truth = pd.DataFrame({"frame": [0, 1], "row": [2.0, 3.0], "col": [4.0, 5.0]})
    model = ShiftedLocator().fit(None, truth)
    scorer = make_scorer(localization_efficiency, radius=1.0)
    assert scorer(model, None, truth) == pytest.approx(1 - 0.01 * 30)


@pytest.mark.parametrize(
    ("truth", "params", "error", "match"),
    [
        ([[0.0, 0.0]], {"radius": 0}, ValueError, "radius"),
        ([[0.0, 0.0]], {"radius": -1}, ValueError, "radius"),
        ([[0.0, 0.0]], {"radius": 1, "pixel_size": 0}, ValueError, "pixel_size"),
        ([[0.0, 0.0]], {"radius": 1, "alpha": -0.1}, ValueError, "alpha"),
        ([[0.0, 0.0, 0.0, 0.0]], {"radius": 1}, ValueError, "truth"),
        ([[0.5, 0.0, 0.0]], {"radius": 1}, ValueError, "frame numbers"),
        ([[0, np.nan, 0.0]], {"radius": 1}, ValueError, "finite"),
    ],
)
def test_bad_localisation_inputs_raise_naming_them(truth, params, error, match):
    with pytest.raises(error, match=match):
        localization_efficiency(truth, [[0, 1.0, 1.0]], **params)


def test_a_table_needs_row_and_col_columns():
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0]})
    with pytest.raises(ValueError, match="locs must have the columns 'row' and"):
        jaccard_index([[0, 1.0, 1.0]], table, radius=1.0)


def test_localisation_metrics_are_public():
    assert pixel_regressor.match_localizations is match_localizations
    assert pixel_regressor.jaccard_index is jaccard_index
    assert pixel_regressor.matched_rmse is matched_rmse
    assert pixel_regressor.localization_efficiency is localization_efficiency


# --------------------------------------------------------------------------
# scorers
# --------------------------------------------------------------------------


def test_scorers_apply_the_metrics_with_the_right_sign(tiny_dataset):
    X, y = tiny_dataset
    model = KNeighborsRegressor(n_neighbors=3).fit(X[:60], y[:60])
    y_pred = model.predict(X[60:])
    error = mean_pixel_error(y[60:], y_pred)
    accuracy = exact_pixel_accuracy(y[60:], y_pred)
    assert error > 0
    assert 0 < accuracy < 1
    assert mean_pixel_error_scorer(model, X[60:], y[60:]) == pytest.approx(-error)
    assert exact_pixel_accuracy_scorer(model, X[60:], y[60:]) == pytest.approx(accuracy)


def test_scorers_pass_sample_weight(tiny_dataset):
    X, y = tiny_dataset
    model = KNeighborsRegressor(n_neighbors=3).fit(X[:60], y[:60])
    weights = np.linspace(0.0, 1.0, 40)
    y_pred = model.predict(X[60:])
    assert mean_pixel_error_scorer(
        model, X[60:], y[60:], sample_weight=weights
    ) == pytest.approx(-mean_pixel_error(y[60:], y_pred, sample_weight=weights))
    assert exact_pixel_accuracy_scorer(
        model, X[60:], y[60:], sample_weight=weights
    ) == pytest.approx(exact_pixel_accuracy(y[60:], y_pred, sample_weight=weights))


def test_cross_val_score_ranks_a_good_model_above_a_dummy(tiny_dataset):
    X, y = tiny_dataset
    cv = KFold(4, shuffle=True, random_state=0)
    good = KNeighborsRegressor(n_neighbors=1)
    dummy = DummyRegressor()

    good_error = cross_val_score(good, X, y, cv=cv, scoring=mean_pixel_error_scorer)
    dummy_error = cross_val_score(dummy, X, y, cv=cv, scoring=mean_pixel_error_scorer)
    assert np.all(good_error <= 0)
    assert np.all(dummy_error < 0)
    assert good_error.mean() > dummy_error.mean()  # less negative: better

    good_acc = cross_val_score(good, X, y, cv=cv, scoring=exact_pixel_accuracy_scorer)
    dummy_acc = cross_val_score(dummy, X, y, cv=cv, scoring=exact_pixel_accuracy_scorer)
    assert np.all((good_acc >= 0) & (good_acc <= 1))
    assert good_acc.mean() > 0.8
    assert dummy_acc.mean() < 0.2


@pytest.mark.parametrize(
    "scoring", [mean_pixel_error_scorer, exact_pixel_accuracy_scorer]
)
def test_grid_search_picks_the_better_model(tiny_dataset, scoring):
    X, y = tiny_dataset
    search = GridSearchCV(
        KNeighborsRegressor(),
        {"n_neighbors": [1, 3, 10]},
        scoring=scoring,
        cv=KFold(4, shuffle=True, random_state=0),
    ).fit(X, y)
    # One neighbour copies a seen position; more neighbours average positions.
    assert search.best_params_ == {"n_neighbors": 1}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] > scores[1] > scores[2]


def test_grid_search_with_both_scorers(tiny_dataset):
    X, y = tiny_dataset
    search = GridSearchCV(
        KNeighborsRegressor(),
        {"n_neighbors": [1, 10]},
        scoring={
            "pixel_error": mean_pixel_error_scorer,
            "exact": exact_pixel_accuracy_scorer,
        },
        refit="pixel_error",
        cv=3,
    ).fit(X, y)
    assert search.best_params_ == {"n_neighbors": 1}
    assert np.all(search.cv_results_["mean_test_pixel_error"] <= 0)
    assert np.all(search.cv_results_["mean_test_exact"] >= 0)
    assert search.best_score_ == search.cv_results_["mean_test_pixel_error"][0]


@pytest.mark.parametrize(
    "scorer", [mean_pixel_error_scorer, exact_pixel_accuracy_scorer]
)
def test_scorers_pickle(tiny_dataset, scorer):
    X, y = tiny_dataset
    model = KNeighborsRegressor(n_neighbors=3).fit(X, y)
    restored = pickle.loads(pickle.dumps(scorer))
    assert restored(model, X, y) == scorer(model, X, y)


# --------------------------------------------------------------------------
# localization_crlb: where no bound exists, a clear error instead of a
# singular matrix


def _bound(**params):
    from pixel_regressor import localization_crlb

    defaults = {"psf_sigma": 1.3, "photons": 1000.0, "background": 10.0}
    image_shape = params.pop("image_shape", 16)
    return localization_crlb(image_shape, **{**defaults, **params})


@pytest.mark.parametrize(
    "position", [[100, 100], [8, -3], [[8, 8], [16.6, 8]]], ids=str
)
def test_bound_refuses_a_spot_outside_the_image(position):
    with pytest.raises(ValueError, match="position .* outside the 16x16 image"):
        _bound(position=position)


def test_bound_takes_a_spot_on_the_edge_of_the_image():
    edge, centre = _bound(position=[[-0.5, 15.5], [7.5, 7.5]])
    assert np.isfinite(edge).all()
    assert (edge > centre).all()


@pytest.mark.parametrize("image_shape", [1, (1, 5), (7, 1)], ids=str)
def test_bound_refuses_an_image_of_one_pixel_along_a_side(image_shape):
    with pytest.raises(ValueError, match="image_shape .* at least 2 pixels"):
        _bound(image_shape=image_shape)


@pytest.mark.parametrize(
    "params",
    [
        {"image_shape": 2},  # its centre: the four pixels cannot tell row from photons
        {"psf_sigma": 1e300},
        {"psf_sigma": 1e-300},
        {"read_noise": 1e300},
    ],
    ids=str,
)
def test_bound_refuses_parameters_whose_images_hold_no_information(params):
    with pytest.raises(ValueError, match="no Cramer-Rao bound") as error:
        _bound(**params)
    (name,) = [key for key in params if key != "image_shape"] or ["image_shape"]
    assert f"{name}=" in str(error.value)


def test_bound_names_the_spot_without_one():
    with pytest.raises(ValueError, match=r"spot 1 \(position"):
        _bound(position=[[3, 3], [8, 8]], psf_sigma=np.array([1.3, 1e300]))


def test_bound_of_the_smallest_images_with_one():
    bound = _bound(image_shape=(2, 3), position=[0.3, 0.8])
    assert np.isfinite(bound).all() and (bound > 0).all()
