"""Behaviour of BrightPixelRegressor that a user sees.

Small images (12x12 to 16x16), few samples and few epochs keep this fast; the
accuracy tests at the end train on somewhat larger data.
"""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import StackingRegressor, VotingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from pixel_regressor import (
    BrightPixelRegressor,
    exact_pixel_accuracy,
    load_model,
    make_bright_pixel_dataset,
)

SIDE = 12


@pytest.fixture(scope="module")
def data():
    return make_bright_pixel_dataset(400, image_size=SIDE, random_state=0)


@pytest.fixture(scope="module")
def test_data():
    return make_bright_pixel_dataset(200, image_size=SIDE, random_state=1)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return BrightPixelRegressor(random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def fitted_dense(data):
    X, y = data
    return BrightPixelRegressor(head="dense", epochs=2, random_state=0).fit(X, y)


def _run_python(code):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# ----------------------------------------------------------------------------
# the two heads


def test_default_head_finds_the_pixel(fitted, test_data):
    X, y = test_data
    pred = fitted.predict(X)
    assert pred.shape == (len(X), 2)
    assert pred.dtype == np.float64
    assert exact_pixel_accuracy(y, pred) == 1.0
    assert np.abs(pred - y).mean() < 0.01


def test_dense_head_is_the_notebook_network():
    from pixel_regressor.models import build_dense_model

    model = build_dense_model((50, 50), 2, seed=0)
    assert model.count_params() == 252_802
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer",
        "ImageNormalization",
        "PixelConv2D",
        "MaxPooling2D",
        "PixelConv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    # Keras's Conv2D, computed as such outside the compiled JAX function.
    keras = pytest.importorskip("keras")
    assert isinstance(model.get_layer("conv_0"), keras.layers.Conv2D)


def test_dense_head_trains_and_predicts(fitted_dense, test_data):
    X, y = test_data
    pred = fitted_dense.predict(X)
    assert pred.shape == (len(X), 2)
    assert fitted_dense.model_.get_layer("output").units == 2
    assert np.isfinite(pred).all()


def test_soft_argmax_layers_are_not_lambdas(fitted):
    names = {type(layer).__name__ for layer in fitted.model_.layers}
    assert "Lambda" not in names
    assert {"ImageNormalization", "Temperature", "PeakSoftArgmax2D"} <= names


def test_filters_and_kernel_size_shape_the_network(data):
    X, y = data
    reg = BrightPixelRegressor(filters=(4,), kernel_size=3, epochs=1, random_state=0)
    reg.fit(X[:64], y[:64])
    conv = reg.model_.get_layer("conv_0")
    assert conv.filters == 4 and conv.kernel_size == (3, 3)
    dense = BrightPixelRegressor(
        head="dense", filters=(4,), dense_units=8, epochs=1, random_state=0
    ).fit(X[:64], y[:64])
    assert dense.model_.get_layer("dense").units == 8
    assert dense.model_.get_layer("conv_0").filters == 4


# ----------------------------------------------------------------------------
# inputs


def test_flat_3d_and_4d_inputs_agree(fitted, test_data):
    X, _ = test_data
    flat = fitted.predict(X)
    images = X.reshape(-1, SIDE, SIDE)
    np.testing.assert_array_equal(fitted.predict(images), flat)
    np.testing.assert_array_equal(fitted.predict(images[..., None]), flat)


def test_fit_on_images_sets_shape(data):
    X, y = data
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(
        X[:50].reshape(-1, SIDE, SIDE), y[:50]
    )
    assert reg.image_shape_ == (SIDE, SIDE)
    assert reg.n_features_in_ == SIDE * SIDE


def test_predictions_do_not_depend_on_intensity_scale(fitted, test_data):
    X, y = test_data
    as_uint8 = X.astype(np.uint8)
    as_unit = X / 255.0
    shifted = X * 7.0 + 3.0
    reference = fitted.predict(X)
    for variant in (as_uint8, as_unit, shifted):
        np.testing.assert_allclose(fitted.predict(variant), reference, atol=1e-4)


def test_uint8_training_data(data):
    X, y = data
    reg = BrightPixelRegressor(random_state=0).fit(X.astype(np.uint8), y)
    assert exact_pixel_accuracy(y, reg.predict(X)) == 1.0


@pytest.mark.parametrize(
    ("image_shape", "expected"),
    [((4, 9), (4, 9)), ((-1, 9), (4, 9)), ((4, -1), (4, 9))],
)
def test_image_shape_reads_flat_input(image_shape, expected):
    X, y = make_bright_pixel_dataset(60, image_size=(4, 9), random_state=0)
    reg = BrightPixelRegressor(image_shape=image_shape, epochs=1, random_state=0)
    reg.fit(X, y)
    assert reg.image_shape_ == expected
    assert exact_pixel_accuracy(y, reg.predict(X)) == 1.0


def test_one_row_images():
    X, y = make_bright_pixel_dataset(60, image_size=(1, 20), random_state=0)
    reg = BrightPixelRegressor(image_shape=(1, -1), epochs=1, random_state=0)
    reg.fit(X, y[:, 1])
    pred = reg.predict(X)
    assert pred.shape == (60,)
    np.testing.assert_allclose(pred, y[:, 1], atol=0.01)


def test_soft_argmax_predicts_other_image_sizes(fitted):
    X, y = make_bright_pixel_dataset(100, image_size=(20, 30), random_state=3)
    pred = fitted.predict(X.reshape(-1, 20, 30))
    assert np.abs(pred - y).mean() < 0.05


def test_flat_input_must_match_n_features(fitted):
    X, _ = make_bright_pixel_dataset(5, image_size=SIDE + 1, random_state=0)
    with pytest.raises(
        ValueError, match="X has 169 features, but BrightPixelRegressor"
    ):
        fitted.predict(X)


def test_dense_head_refuses_other_image_sizes(fitted_dense):
    X, _ = make_bright_pixel_dataset(5, image_size=20, random_state=0)
    with pytest.raises(ValueError, match="head='dense' model was fitted on"):
        fitted_dense.predict(X.reshape(-1, 20, 20))


def test_all_zero_image_predicts_the_centre(fitted):
    blank = np.zeros((2, SIDE, SIDE), dtype=np.float32)
    centre = (SIDE - 1) / 2
    np.testing.assert_allclose(fitted.predict(blank), [[centre, centre]] * 2, atol=1e-3)


# ----------------------------------------------------------------------------
# targets


def test_one_dimensional_target_gives_one_dimensional_predictions(data):
    X, y = data
    reg = BrightPixelRegressor(random_state=0).fit(X, y[:, 0])
    pred = reg.predict(X)
    assert pred.shape == (len(X),) and pred.dtype == np.float64
    np.testing.assert_allclose(pred, y[:, 0], atol=0.01)


def test_targets_given_as_x_y_work(data, test_data):
    X, y = data
    reg = BrightPixelRegressor(random_state=0).fit(X, y[:, ::-1])
    Xt, yt = test_data
    np.testing.assert_allclose(reg.predict(Xt), yt[:, ::-1], atol=0.01)


def test_more_target_columns(data):
    X, y = data
    target = np.column_stack([y, y.sum(axis=1), 2 * y[:, 0] - 3])
    reg = BrightPixelRegressor(random_state=0).fit(X, target)
    pred = reg.predict(X)
    assert pred.shape == (len(X), 4)
    np.testing.assert_allclose(pred, target, atol=0.05)


def test_transformed_target_regressor(data, test_data):
    X, y = data
    model = TransformedTargetRegressor(
        regressor=BrightPixelRegressor(random_state=0), transformer=StandardScaler()
    ).fit(X, y)
    Xt, yt = test_data
    assert exact_pixel_accuracy(yt, model.predict(Xt)) == 1.0


# ----------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.full((4, 16), np.nan), "NaN"),
        (np.full((4, 16), np.inf), "infinity"),
        (np.zeros((0, 16)), "0 sample"),
        (np.zeros(16), "Expected 2D array"),
        (np.zeros((4, 4, 4, 1, 1)), "X must be 2-D"),
        (np.zeros((4, 4, 4, 3)), "3 channels"),
        (np.zeros((4, 15)), "not a square image"),
        (np.array([["a"] * 16] * 4), "[Ss]tring|dtype"),
    ],
)
def test_bad_X_in_fit(X, match):
    y = np.zeros((len(X), 2)) if len(X) else np.zeros((0, 2))
    with pytest.raises(ValueError, match=match):
        BrightPixelRegressor(epochs=1).fit(X, y)


def test_sparse_X_is_refused():
    X = sp.csr_matrix(np.eye(4, 16))
    with pytest.raises(TypeError, match="[Ss]parse"):
        BrightPixelRegressor(epochs=1).fit(X, np.zeros((4, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_y(data, bad):
    X, y = data
    y = y[:10].astype(float)
    y[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        BrightPixelRegressor(epochs=1).fit(X[:10], y)


def test_missing_y(data):
    X, _ = data
    with pytest.raises(ValueError, match="requires y to be passed"):
        BrightPixelRegressor(epochs=1).fit(X[:10], None)


def test_image_shape_must_fit_the_features(data):
    X, y = data
    with pytest.raises(ValueError, match="holds 10 pixels, but X has 144"):
        BrightPixelRegressor(image_shape=(2, 5)).fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="not a multiple of 7"):
        BrightPixelRegressor(image_shape=(7, -1)).fit(X[:10], y[:10])
    with pytest.raises(TypeError, match="image_shape"):
        BrightPixelRegressor(image_shape=(2, 3, 4)).fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="at most one -1"):
        BrightPixelRegressor(image_shape=(-1, -1)).fit(X[:10], y[:10])


def test_images_too_small_for_the_dense_head():
    X, y = make_bright_pixel_dataset(10, image_size=8, random_state=0)
    with pytest.raises(ValueError, match="too small for head='dense'.*at least 10x10"):
        BrightPixelRegressor(head="dense").fit(X, y)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"head": "conv"}, ValueError),
        ({"epochs": 0}, ValueError),
        ({"learning_rate": -1.0}, ValueError),
        ({"batch_size": "big"}, ValueError),
        ({"validation_split": 1.0}, ValueError),
        ({"filters": (0,)}, ValueError),
        ({"filters": 8}, TypeError),
        ({"head": "dense", "filters": ()}, ValueError),
    ],
)
def test_bad_parameters(data, params, error):
    X, y = data
    with pytest.raises(error):
        BrightPixelRegressor(**params).fit(X[:10], y[:10])


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (-np.ones(10), "[Nn]egative"),
        (np.ones(9), "shape|samples"),
        (np.full(10, np.nan), "NaN"),
    ],
)
def test_bad_sample_weight(data, weights, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        BrightPixelRegressor(epochs=1).fit(X[:10], y[:10], sample_weight=weights)


@pytest.mark.parametrize("method", ["predict", "score"])
def test_not_fitted(data, method):
    X, y = data
    reg = BrightPixelRegressor()
    args = (X[:5],) if method == "predict" else (X[:5], y[:5])
    with pytest.raises(NotFittedError):
        getattr(reg, method)(*args)


def test_bad_validation_data(data):
    X, y = data
    with pytest.raises(ValueError, match="pair"):
        BrightPixelRegressor(epochs=1).fit(X[:20], y[:20], validation_data=X[:5])
    with pytest.raises(ValueError, match="validation_data's y"):
        BrightPixelRegressor(epochs=1).fit(
            X[:20], y[:20], validation_data=(X[:5], y[:4])
        )


# ----------------------------------------------------------------------------
# fitted attributes


def test_fitted_attributes(fitted):
    import keras

    assert isinstance(fitted.model_, keras.Model)
    assert fitted.n_features_in_ == SIDE * SIDE
    assert fitted.image_shape_ == (SIDE, SIDE)
    assert fitted.n_outputs_ == 2
    assert set(fitted.history_) == {"loss", "mae"}
    assert len(fitted.history_["loss"]) == fitted.n_iter_ == 2
    assert all(isinstance(v, float) for v in fitted.history_["loss"])
    assert fitted.fit_time_ > 0
    assert not hasattr(fitted, "feature_names_in_")


def test_feature_names_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    bunch = make_bright_pixel_dataset(
        30, image_size=4, return_X_y=False, random_state=0
    )
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(frame, bunch.target)
    assert list(reg.feature_names_in_) == bunch.feature_names
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = reg.predict(bunch.data)
    np.testing.assert_array_equal(reg.predict(frame), from_array)


def test_validation_split_and_data_record_validation_loss(data):
    X, y = data
    reg = BrightPixelRegressor(epochs=2, validation_split=0.25, random_state=0)
    reg.fit(X, y)
    assert set(reg.history_) == {"loss", "mae", "val_loss", "val_mae"}
    assert len(reg.history_["val_loss"]) == 2
    reg = BrightPixelRegressor(epochs=2, random_state=0)
    reg.fit(X[:200], y[:200], validation_data=(X[200:], y[200:]))
    assert len(reg.history_["val_mae"]) == 2


def test_early_stopping_stops_before_the_last_epoch(data):
    X, y = data
    reg = BrightPixelRegressor(
        epochs=40, early_stopping=True, patience=2, validation_split=0.2, random_state=0
    ).fit(X, y)
    assert reg.n_iter_ < 40
    assert len(reg.history_["val_loss"]) == reg.n_iter_


def test_callbacks_are_called(data):
    import keras

    class CountEpochs(keras.callbacks.Callback):
        epochs_seen = 0

        def on_epoch_end(self, epoch, logs=None):
            type(self).epochs_seen += 1

    X, y = data
    BrightPixelRegressor(epochs=2, callbacks=[CountEpochs()], random_state=0).fit(X, y)
    assert CountEpochs.epochs_seen == 2


def test_verbose_shows_the_keras_progress(data, capsys):
    X, y = data
    BrightPixelRegressor(epochs=1, verbose=1, random_state=0).fit(X[:64], y[:64])
    assert "loss" in capsys.readouterr().out
    BrightPixelRegressor(epochs=1, verbose=0, random_state=0).fit(X[:64], y[:64])
    assert capsys.readouterr().out == ""


def test_sample_weight_ignores_zero_weighted_samples(data):
    # Most targets garbage (a constant): unweighted, the read-out follows
    # them; weighted out, the positions alone set it.
    X, y = data
    garbage = np.vstack([y[:100], np.full((300, 2), 3.0)])
    weights = np.r_[np.ones(100), np.zeros(300)]
    weighted = BrightPixelRegressor(random_state=0).fit(X[:400], garbage, weights)
    unweighted = BrightPixelRegressor(random_state=0).fit(X[:400], garbage)
    assert exact_pixel_accuracy(y[100:400], weighted.predict(X[100:400])) == 1.0
    assert exact_pixel_accuracy(y[100:400], unweighted.predict(X[100:400])) < 0.5


def test_partial_fit_keeps_training():
    # Noisy images: on clean ones the initial model is already exact, and its
    # gradients vanish.
    X, y = make_bright_pixel_dataset(400, image_size=SIDE, noise=60, random_state=0)
    reg = BrightPixelRegressor(random_state=0)
    reg.partial_fit(X[:200], y[:200])
    first_weights = [w.copy() for w in reg.model_.get_weights()]
    assert reg.n_iter_ == 1
    reg.partial_fit(X[200:], y[200:])
    assert reg.n_iter_ == 2 and len(reg.history_["loss"]) == 2
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(first_weights, reg.model_.get_weights(), strict=True)
    ]
    assert any(changed)
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[:5, :-1], y[:5])
    with pytest.raises(ValueError, match="column"):
        reg.partial_fit(X[:5], y[:5, 0])


# ----------------------------------------------------------------------------
# persistence


def test_pickle_and_joblib_round_trips(fitted, test_data, tmp_path):
    X, _ = test_data
    expected = fitted.predict(X)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), expected)
    joblib.dump(fitted, tmp_path / "reg.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "reg.joblib").predict(X), expected
    )


@pytest.mark.slow
def test_keras_file_reloads_in_safe_mode_in_a_new_process(fitted, test_data, tmp_path):
    X, _ = test_data
    path = tmp_path / "m.keras"
    fitted.model_.save(path)
    np.save(tmp_path / "X.npy", X.reshape(-1, SIDE, SIDE, 1))
    np.save(
        tmp_path / "expected.npy", fitted.model_.predict(X.reshape(-1, SIDE, SIDE, 1))
    )
    out = _run_python(
        f"""
        import numpy as np
        import pixel_regressor  # registers the package's layers for Keras
        import keras
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        X = np.load({str(tmp_path / "X.npy")!r})
        expected = np.load({str(tmp_path / "expected.npy")!r})
        print(bool(np.array_equal(model.predict(X, verbose=0), expected)))
        """
    )
    assert out.strip() == "True"


def test_save_and_load_model(fitted, test_data, tmp_path):
    X, _ = test_data
    fitted.save(tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "estimator.json",
        "model.keras",
    ]
    again = load_model(tmp_path / "run")
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    assert again.get_params() == {**fitted.get_params(), "random_state": None}
    assert again.history_ == fitted.history_


def test_loaded_model_trains_further_with_partial_fit(fitted, data, tmp_path):
    X, y = data
    fitted.save(tmp_path)
    again = load_model(tmp_path)
    again.partial_fit(X, y)
    assert again.n_iter_ == fitted.n_iter_ + 1
    assert len(again.history_["loss"]) == len(fitted.history_["loss"]) + 1
    assert exact_pixel_accuracy(y, again.predict(X)) == 1.0


def test_load_model_errors(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="estimator.json"):
        load_model(tmp_path / "nowhere")
    fitted.save(tmp_path / "run")
    (tmp_path / "run" / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="could not be loaded"):
        load_model(tmp_path / "run")
    (tmp_path / "run" / "estimator.json").write_text("{")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(tmp_path / "run")


def test_save_writes_no_temporary_files(fitted, tmp_path):
    umask = os.umask(0o022)
    try:
        fitted.save(tmp_path)
    finally:
        os.umask(umask)
    assert all(not p.name.startswith(".") for p in tmp_path.iterdir())
    assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o644}
    meta = json.loads((tmp_path / "estimator.json").read_text())
    assert meta["image_shape_"] == [SIDE, SIDE]


# ----------------------------------------------------------------------------
# reproducibility


@pytest.mark.slow
def test_same_random_state_same_predictions_in_a_new_process(
    data, tmp_path, run_concurrently
):
    # Two interpreters side by side: each draws its own file name from the
    # unseeded global RNG, which the seeded fit must not depend on.
    code = f"""
        import numpy as np
        from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset
        X, y = make_bright_pixel_dataset(200, image_size={SIDE}, noise=40,
                                         random_state=0)
        reg = BrightPixelRegressor(epochs=2, random_state=7).fit(X, y)
        np.save({str(tmp_path)!r} + "/pred_" + str(np.random.randint(10**9)),
                reg.predict(X))
        """
    for result in run_concurrently([code, code], timeout=300):
        assert result.returncode == 0, result.stderr[-3000:]
    first, second = (np.load(p) for p in sorted(tmp_path.glob("pred_*.npy")))
    np.testing.assert_array_equal(first, second)


def test_seeded_then_unseeded_fit_and_global_rng_untouched(data):
    X, y = data
    np.random.seed(123)  # noqa: NPY002 - the global state is under test
    state = np.random.get_state()  # noqa: NPY002
    seeded = BrightPixelRegressor(epochs=1, random_state=0).fit(X[:100], y[:100])
    after = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0] and np.array_equal(state[1], after[1])
    unseeded = BrightPixelRegressor(epochs=1).fit(X[:100], y[:100])
    assert np.isfinite(unseeded.predict(X[:5])).all()
    assert np.isfinite(seeded.predict(X[:5])).all()


@pytest.mark.slow
def test_grid_search_with_two_processes(data):
    X, y = data
    search = GridSearchCV(
        BrightPixelRegressor(epochs=1, random_state=0),
        {"learning_rate": [0.01, 0.1]},
        cv=2,
        n_jobs=2,
    ).fit(X[:120], y[:120])
    assert search.best_score_ > 0.99


# ----------------------------------------------------------------------------
# composability


@pytest.mark.slow
def test_grid_search_over_head_learning_rate_and_epochs(data):
    from pixel_regressor import exact_pixel_accuracy_scorer

    X, y = data
    grid = {"head": ["soft_argmax", "dense"], "learning_rate": ["auto"], "epochs": [1]}
    search = GridSearchCV(
        BrightPixelRegressor(random_state=0),
        grid,
        cv=2,
        scoring=exact_pixel_accuracy_scorer,
    ).fit(X[:160], y[:160])
    assert search.best_params_["head"] == "soft_argmax"
    assert search.best_score_ == 1.0


def test_pipeline_and_cross_val_score(data):
    X, y = data
    pipe = make_pipeline(
        FunctionTransformer(lambda Z: np.sqrt(Z)), BrightPixelRegressor(random_state=0)
    )
    scores = cross_val_score(pipe, X[:150], y[:150], cv=3)
    assert scores.shape == (3,) and scores.min() > 0.99


@pytest.mark.slow
def test_voting_and_stacking(data, test_data):
    X, y = data
    Xt, yt = test_data
    voting = VotingRegressor(
        [
            ("a", BrightPixelRegressor(random_state=0)),
            ("b", BrightPixelRegressor(random_state=1)),
        ]
    ).fit(X, y[:, 0])
    np.testing.assert_allclose(voting.predict(Xt), yt[:, 0], atol=0.01)
    stacking = StackingRegressor(
        [("pixel", BrightPixelRegressor(random_state=0))],
        final_estimator=LinearRegression(),
        cv=2,
    ).fit(X[:200], y[:200, 1])
    np.testing.assert_allclose(stacking.predict(Xt), yt[:, 1], atol=0.05)


def test_html_repr_links_to_the_api_page():
    html = BrightPixelRegressor()._repr_html_()
    assert "api/generated/pixel_regressor.BrightPixelRegressor.html" in html


# ----------------------------------------------------------------------------
# honest accuracy tests on harder data


@pytest.mark.slow
def test_held_out_quadrant():
    side = 16
    mask = np.ones((side, side), dtype=bool)
    mask[side // 2 :, side // 2 :] = False
    X, y = make_bright_pixel_dataset(1500, image_size=side, mask=mask, random_state=0)
    Xt, yt = make_bright_pixel_dataset(300, image_size=side, mask=~mask, random_state=1)
    reg = BrightPixelRegressor(random_state=0).fit(X, y)
    assert exact_pixel_accuracy(yt, reg.predict(Xt)) == 1.0


@pytest.mark.slow
def test_noisy_images_match_argmax():
    side = 16
    X, y = make_bright_pixel_dataset(3000, image_size=side, noise=50, random_state=0)
    Xt, yt = make_bright_pixel_dataset(1000, image_size=side, noise=50, random_state=1)
    reg = BrightPixelRegressor(random_state=0).fit(X, y)
    argmax = np.column_stack(np.divmod(Xt.argmax(axis=1), side))
    ceiling = exact_pixel_accuracy(yt, argmax)
    assert exact_pixel_accuracy(yt, reg.predict(Xt)) >= ceiling - 0.005


def test_readout_is_exact_despite_argmax_mistakes():
    # At this noise level np.argmax misses about one image in six; a plain
    # least-squares read-out would shrink towards the centre.
    X, y = make_bright_pixel_dataset(600, image_size=16, noise=75, random_state=3)
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    kernel, bias = reg.model_.get_layer("readout").get_weights()
    np.testing.assert_allclose(kernel, np.eye(2), atol=1e-6)
    np.testing.assert_allclose(bias, 0, atol=1e-5)
