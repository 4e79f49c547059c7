"""One training path: fit, partial_fit, PyDatasets and reloaded models.

Whichever way an estimator became fitted, it holds a fitted scikeras
``KerasRegressor`` around ``model_``, and ``history_`` is one continuous
record. The heads are specs in :mod:`pixel_regressor.models`, and no other
module compares a head's name.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
from scikeras.wrappers import KerasRegressor

import pixel_regressor
from pixel_regressor import (
    BrightPixelRegressor,
    BrightPixelSequence,
    exact_pixel_accuracy,
    load_model,
    make_bright_pixel_dataset,
    make_bright_spot_dataset,
)
from pixel_regressor.models import HEADS, HeadSpec, get_head, min_image_size

SIDE = 12
PACKAGE = Path(pixel_regressor.__file__).parent


@pytest.fixture(scope="module")
def data():
    return make_bright_pixel_dataset(300, image_size=SIDE, noise=30, random_state=0)


def _for_head(head, data):
    """``data`` (bright pixels in noise), or blurred spots for ``spot_fit``,
    which refuses training spots that are not Gaussians."""
    if head != "spot_fit":
        return data
    return make_bright_spot_dataset(len(data[0]), image_size=SIDE, random_state=0)


def _assert_wraps_model(reg, n_epochs):
    """``keras_regressor_`` is a fitted KerasRegressor over ``model_``."""
    wrapper = reg.keras_regressor_
    assert isinstance(wrapper, KerasRegressor)
    assert wrapper.initialized_
    assert wrapper.model_ is reg.model_
    assert wrapper.current_epoch == n_epochs
    assert reg.n_iter_ == len(reg.history_["loss"]) == n_epochs


def _images(X):
    return X.reshape(len(X), SIDE, SIDE, 1).astype(np.float32)


def test_fit_wraps_the_model_and_scikeras_predicts_like_predict(data):
    X, y = data
    reg = BrightPixelRegressor(epochs=2, random_state=0).fit(X, y)
    _assert_wraps_model(reg, 2)
    expected = reg.predict(X)
    assert expected.dtype == np.float64
    for images in (X, _images(X), X.reshape(-1, SIDE, SIDE)):
        np.testing.assert_array_equal(reg.keras_regressor_.predict(images), expected)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_scikeras_predicts_exactly_like_predict_for_every_head(data, head):
    X, y = _for_head(head, data)
    reg = BrightPixelRegressor(head, epochs=1, random_state=0).fit(X, y[:, 1])
    pred = reg.keras_regressor_.predict(X)
    assert pred.shape == (len(X),)  # the 1-D target's shape
    np.testing.assert_array_equal(pred, reg.predict(X))
    if not get_head(head).any_image_size:
        other = np.zeros((2, SIDE + 2, SIDE + 2), dtype=np.float32)
        with pytest.raises(ValueError, match="shape"):
            reg.keras_regressor_.predict(other)


def test_fit_and_partial_fit_train_through_scikeras(data, monkeypatch):
    # The estimator's fit is the wrapper's fit (its epochs), partial_fit the
    # wrapper's partial_fit; both reach scikeras's own _fit_keras_model with
    # the validated images, not a copy of them.
    from scikeras.wrappers import BaseWrapper

    calls = []

    def spy(name, method):
        def wrapped(self, *args, **kwargs):
            # What the batches hold while training (they let go of it after).
            fed = getattr(args[0], "images", None)
            calls.append((name, args, fed))
            return method(self, *args, **kwargs)

        monkeypatch.setattr(
            BaseWrapper if name == "_fit_keras_model" else KerasRegressor,
            name,
            wrapped,
        )

    for name in ("fit", "partial_fit", "_fit_keras_model"):
        spy(name, getattr(KerasRegressor, name))
    X, y = data
    reg = BrightPixelRegressor(epochs=3, random_state=0).fit(X, y)
    assert reg.keras_regressor_.get_params()["epochs"] == 3
    assert [name for name, *_ in calls] == ["fit", "_fit_keras_model"]
    # scikeras's own model fit gets the batches and the epochs
    _, (_, y_fed, weights, _, epochs, initial_epoch), images = calls[1]
    assert (y_fed, weights, epochs, initial_epoch) == (None, None, 3, 0)
    assert images.shape == (len(X), SIDE, SIDE, 1)
    assert np.shares_memory(images, X)  # a view of X, not a copy
    calls.clear()
    reg.partial_fit(X, y)
    assert [name for name, *_ in calls] == ["partial_fit", "_fit_keras_model"]
    assert calls[1][1][4:] == (1, 3)  # one epoch, from the fourth
    _assert_wraps_model(reg, 4)


def test_scikeras_callbacks_see_every_epoch(data):
    import keras

    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            Count.epochs += 1

    X, y = data
    reg = BrightPixelRegressor(epochs=2, callbacks=[Count()], random_state=0)
    reg.fit(X, y).partial_fit(X, y)
    assert Count.epochs == 3
    assert any(
        isinstance(c, Count) for c in reg.keras_regressor_.get_params()["callbacks"]
    )


def test_zero_weights_are_kept_and_all_zero_weights_refused(data, monkeypatch):
    # scikeras drops zero-weight samples, a copy of X: the feed Keras reads
    # holds every sample, as a view of X, with its weight.
    from scikeras.wrappers import BaseWrapper

    fed = []
    original = BaseWrapper._fit_keras_model

    def spy(self, feed, *args, **kwargs):
        fed.append((feed.images, feed.sample_weight))
        return original(self, feed, *args, **kwargs)

    monkeypatch.setattr(BaseWrapper, "_fit_keras_model", spy)
    X, y = data
    weights = np.r_[np.zeros(100), np.ones(len(X) - 100)]
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y, weights)
    assert reg.n_iter_ == 1
    ((images, fed_weights),) = fed
    assert len(images) == len(X) and np.shares_memory(images, X)
    np.testing.assert_array_equal(fed_weights, weights)
    with pytest.raises(ValueError, match="zero"):
        BrightPixelRegressor(epochs=1).fit(X, y, np.zeros(len(X)))


def test_history_is_continuous_through_partial_fit_save_and_load(data, tmp_path):
    X, y = data
    reg = BrightPixelRegressor(epochs=2, random_state=0).fit(X, y)
    first = {key: list(values) for key, values in reg.history_.items()}
    reg.partial_fit(X, y)
    _assert_wraps_model(reg, 3)
    assert {k: v[:2] for k, v in reg.history_.items()} == first

    reg.save(tmp_path)
    again = load_model(tmp_path)
    _assert_wraps_model(again, 3)
    assert again.history_ == reg.history_
    again.partial_fit(X, y)
    _assert_wraps_model(again, 4)
    assert {k: v[:3] for k, v in again.history_.items()} == reg.history_
    assert exact_pixel_accuracy(y, again.predict(X)) >= 0.99


def test_fit_starts_the_history_anew(data):
    X, y = data
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    reg.partial_fit(X, y)
    reg.fit(X, y)
    _assert_wraps_model(reg, 1)


def test_partial_fit_from_scratch_wraps_the_model(data):
    X, y = data
    reg = BrightPixelRegressor(random_state=0).partial_fit(X, y)
    _assert_wraps_model(reg, 1)
    reg.partial_fit(X, y)
    _assert_wraps_model(reg, 2)


def test_a_dataset_fit_goes_through_the_same_wrapper_and_history(tmp_path):
    seq = BrightPixelSequence(600, batch_size=200, image_size=SIDE, random_state=0)
    reg = BrightPixelRegressor(epochs=2, random_state=0).fit(seq)
    _assert_wraps_model(reg, 2)
    # partial_fit on a dataset adds one epoch, as on arrays
    reg.partial_fit(seq, None)
    _assert_wraps_model(reg, 3)
    # and arrays continue the same record
    X, y = seq[0]
    reg.partial_fit(X, y)
    _assert_wraps_model(reg, 4)
    reg.save(tmp_path)
    _assert_wraps_model(load_model(tmp_path), 4)


def test_a_dataset_fit_with_validation_data_records_it():
    seq = BrightPixelSequence(400, batch_size=200, image_size=SIDE, random_state=0)
    X_val, y_val = make_bright_pixel_dataset(50, image_size=SIDE, random_state=1)
    reg = BrightPixelRegressor(epochs=2, random_state=0)
    reg.fit(seq, validation_data=(X_val, y_val))
    assert set(reg.history_) == {"loss", "mae", "val_loss", "val_mae"}
    assert len(reg.history_["val_loss"]) == 2


def test_dataset_and_array_fits_check_input_the_same_way(data):
    X, y = data
    seq = BrightPixelSequence(40, batch_size=20, image_size=SIDE, random_state=0)
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(seq)
    wrong = make_bright_pixel_dataset(5, image_size=SIDE + 1, random_state=0)[0]
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(wrong, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="column"):
        reg.partial_fit(X[:5], np.zeros((5, 3)))
    with pytest.raises(ValueError, match="validation_data's y|different numbers"):
        reg.partial_fit(X[:5], y[:4])


def test_seeded_dataset_fits_are_reproducible():
    def fitted():
        seq = BrightPixelSequence(400, batch_size=100, image_size=SIDE, random_state=0)
        return BrightPixelRegressor(epochs=1, random_state=3).fit(seq)

    X, _ = make_bright_pixel_dataset(20, image_size=SIDE, random_state=5)
    np.testing.assert_array_equal(fitted().predict(X), fitted().predict(X))


def test_the_wrapper_holds_no_reference_to_the_training_data(data):
    X, y = data
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    params = reg.keras_regressor_.get_params()
    assert params["model"] is reg.model_
    assert not any(isinstance(value, np.ndarray) for value in params.values())


# ----------------------------------------------------------------------------
# heads as specs


@pytest.mark.parametrize("name", sorted(HEADS))
def test_every_head_spec_drives_the_estimator(name, data):
    spec = get_head(name)
    assert isinstance(spec, HeadSpec) and spec.name == name
    X, y = _for_head(name, data)
    side = max(SIDE, spec.min_image_size())
    if side != SIDE:  # pragma: no cover - every head takes 12x12 today
        X, y = make_bright_pixel_dataset(300, image_size=side, random_state=0)
    reg = BrightPixelRegressor(name, epochs=1, random_state=0).fit(X, y)
    for parameter in ("filters", "kernel_size", "learning_rate", "batch_size"):
        assert reg._settings()[parameter] == spec.defaults[parameter] or (
            parameter == "filters"
            and tuple(spec.defaults["filters"]) == reg._settings()["filters"]
        )
    assert reg.predict(X[:3]).shape == (3, 2)
    bigger = make_bright_pixel_dataset(3, image_size=(side + 3, side + 5))[0]
    bigger = bigger.reshape(3, side + 3, side + 5)
    if spec.any_image_size:
        assert reg.predict(bigger).shape == (3, 2)
    else:
        with pytest.raises(ValueError, match="takes only that size"):
            reg.predict(bigger)


def test_min_image_size_reads_the_spec():
    for name, spec in HEADS.items():
        assert min_image_size(name) == spec.min_image_size()
    assert min_image_size("dense", (8,), 5) == 6
    with pytest.raises(ValueError, match="head must be one of"):
        get_head("nope")


def test_too_small_images_name_the_heads_that_take_any_size():
    X, y = make_bright_pixel_dataset(20, image_size=6, random_state=0)
    with pytest.raises(ValueError, match="too small.*soft_argmax"):
        BrightPixelRegressor("dense").fit(X, y)


def _head_name_comparisons(path):
    """Places in ``path`` that compare something with a head's name."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for operand in operands:
                if isinstance(operand, ast.Constant) and operand.value in HEADS:
                    found.append(f"{path.name}:{node.lineno}")
                if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) and any(
                    isinstance(e, ast.Constant) and e.value in HEADS
                    for e in operand.elts
                ):
                    found.append(f"{path.name}:{node.lineno}")
        if isinstance(node, ast.Dict) and any(
            isinstance(key, ast.Constant) and key.value in HEADS for key in node.keys
        ):
            found.append(f"{path.name}:{node.lineno} (a dict keyed by head)")
    return found


def test_no_module_but_models_compares_head_names():
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name != "models.py":
            found += _head_name_comparisons(path)
    assert found == []


def test_the_head_name_check_sees_comparisons(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('if head == "dense":\n    pass\nd = {"soft_argmax": 1}\n')
    assert _head_name_comparisons(sample) == [
        "sample.py:1",
        "sample.py:3 (a dict keyed by head)",
    ]


# ----------------------------------------------------------------------------
# what training refuses, and how it fails


def test_partial_fit_after_a_head_change_refuses_and_predict_keeps_the_model(data):
    X, y = data
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    reg.set_params(head="dense")
    with pytest.raises(ValueError, match="built with head='soft_argmax'"):
        reg.partial_fit(X, y)
    # predict follows the model: the soft-argmax head takes any size
    bigger = make_bright_pixel_dataset(2, image_size=SIDE + 4, random_state=0)[0]
    assert reg.predict(bigger.reshape(2, SIDE + 4, SIDE + 4)).shape == (2, 2)


def test_partial_fit_on_another_image_size_says_so(data):
    X, y = data
    reg = BrightPixelRegressor(random_state=0).partial_fit(X, y)
    other, y_other = make_bright_pixel_dataset(5, image_size=SIDE + 2, random_state=0)
    with pytest.raises(ValueError, match="trained on 12x12 images"):
        reg.partial_fit(other.reshape(5, SIDE + 2, SIDE + 2), y_other)


def test_a_later_partial_fit_without_y_says_y_is_required(data):
    X, y = data
    reg = BrightPixelRegressor(random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        reg.partial_fit(X, None)


def test_a_diverging_fit_raises_and_leaves_the_estimator_unfitted(data):
    from sklearn.exceptions import NotFittedError

    X, y = data
    reg = BrightPixelRegressor(learning_rate=1e300, epochs=3, random_state=0)
    reg.set_params(filters=(4,), kernel_size=3)
    with pytest.raises(ValueError, match="diverged.*epoch 1"):
        reg.fit(X * 1e30, y)
    with pytest.raises(NotFittedError):
        reg.predict(X)
    assert not hasattr(reg, "n_features_in_")
    # and it trains again from scratch
    reg.set_params(learning_rate="auto").fit(X, y)
    assert reg.n_iter_ == 3


def test_validation_split_cannot_split_a_dataset():
    seq = BrightPixelSequence(40, batch_size=20, image_size=SIDE, random_state=0)
    with pytest.raises(ValueError, match="cannot split a PyDataset"):
        BrightPixelRegressor(validation_split=0.2).fit(seq)


@pytest.mark.parametrize("kernel_size", [200, 256, 1001])
def test_kernel_sizes_that_abort_tensorflow_are_refused(kernel_size, data):
    X, y = data
    with pytest.raises(ValueError, match="kernel_size"):
        BrightPixelRegressor(kernel_size=kernel_size).fit(X, y)


def test_a_kernel_larger_than_the_images_is_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="kernel_size=13 is larger than the 12x12"):
        BrightPixelRegressor(kernel_size=13).fit(X, y)


def test_a_seeded_fit_ignores_other_threads_drawing_from_python_random(data):
    import random
    import threading

    X, y = data

    def fitted():
        params = {"filters": (4,), "epochs": 3, "batch_size": 16, "random_state": 0}
        return BrightPixelRegressor("dense", **params).fit(X, y).predict(X)

    expected = fitted()
    stop = threading.Event()

    def draw():  # as a Dask worker's other threads do
        # Thousands of draws a second; waiting between them lets the fit run
        # at nearly full speed instead of competing for the GIL.
        while not stop.wait(1e-4):
            random.random()

    thread = threading.Thread(target=draw)
    thread.start()
    try:
        got = fitted()
    finally:
        stop.set()
        thread.join()
    np.testing.assert_array_equal(got, expected)


# ----------------------------------------------------------------------------
# partial_fit: the deviations' calibration over chunks, and failed calls


@pytest.fixture(scope="module")
def spots():
    return pixel_regressor.make_bright_spot_dataset(
        500, image_size=SIDE, photons=1000, background=10, random_state=0
    )


def _z_spread(reg, X, y):
    """The spread of the z-scores, robust to gross misses (1 when honest)."""
    pred, std = reg.predict(X, return_std=True)
    z = ((pred - y) / std).ravel()
    return 1.4826 * np.median(np.abs(z - np.median(z)))


def test_partial_fit_on_tiny_chunks_keeps_the_deviations_calibrated(spots):
    X, y = spots
    reg = BrightPixelRegressor("spot", random_state=0).partial_fit(X[:300], y[:300])
    spread = _z_spread(reg, X[300:], y[300:])
    assert 0.5 < spread < 2
    for i in range(300, 303):  # chunks of one image
        reg.partial_fit(X[i : i + 1], y[i : i + 1])
        assert 0.7 * spread < _z_spread(reg, X[300:], y[300:]) < 1.4 * spread


def test_partial_fit_calibrates_on_every_recent_chunk_within_a_bound(
    spots, monkeypatch
):
    from pixel_regressor import estimator as module

    monkeypatch.setattr(module, "_RECENT_IMAGES", 50)
    X, y = spots
    reg = BrightPixelRegressor("spot", random_state=0)
    for start in range(0, 120, 30):
        reg.partial_fit(X[start : start + 30], y[start : start + 30])
    recent = reg._recent
    assert len(recent.images) == len(recent.targets) == 50  # the bound
    np.testing.assert_array_equal(recent.targets[-30:], y[90:120].astype(np.float32))
    assert recent.fitted_on == 50
    assert "_recent" not in reg.__getstate__()  # not pickled


def _state(reg):
    """What a failed training call must leave as it was."""
    import copy

    return {
        "attributes": {
            k: copy.deepcopy(v)
            for k, v in vars(reg).items()
            if k not in ("model_", "keras_regressor_")
        },
        "weights": reg.model_.get_weights(),
        "optimizer": [np.array(v) for v in reg.model_.optimizer.variables],
        "epochs": reg.keras_regressor_.current_epoch,
    }


def _assert_same_state(got, expected):
    assert got["attributes"].keys() == expected["attributes"].keys()
    for key, value in expected["attributes"].items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got["attributes"][key], value)
        elif not hasattr(value, "images"):
            assert got["attributes"][key] == value, key
    for name in ("weights", "optimizer"):
        assert len(got[name]) == len(expected[name])
        for a, b in zip(got[name], expected[name]):
            np.testing.assert_array_equal(a, b)
    assert got["epochs"] == expected["epochs"]


@pytest.mark.parametrize("how", ["fitted", "loaded"])
def test_a_diverging_partial_fit_keeps_the_previous_model(spots, tmp_path, how):
    X, y = spots
    X, y = X[:100], y[:100]
    reg = BrightPixelRegressor("spot", epochs=1, random_state=0).fit(X, y)
    if how == "loaded":
        reg = load_model(reg.save(tmp_path / "model"))
    before, pred = _state(reg), reg.predict(X, return_std=True)
    with pytest.raises(ValueError, match="diverged.*keeps"):
        reg.partial_fit(X, y, sample_weight=np.full(len(X), 3e38))
    _assert_same_state(_state(reg), before)
    for got, expected in zip(reg.predict(X, return_std=True), pred):
        np.testing.assert_array_equal(got, expected)
    reg.partial_fit(X, y)  # and it trains on
    assert reg.n_iter_ == before["attributes"]["n_iter_"] + 1
    assert np.isfinite(reg.history_["loss"]).all()


def test_a_diverging_first_partial_fit_leaves_the_estimator_unfitted(spots):
    from sklearn.exceptions import NotFittedError

    X, y = spots
    reg = BrightPixelRegressor("spot", filters=(4,), random_state=0)
    with pytest.raises(ValueError, match="diverged.*unfitted"):
        reg.partial_fit(X[:50], y[:50], sample_weight=np.full(50, 3e38))
    with pytest.raises(NotFittedError):
        reg.predict(X[:5])
    assert not hasattr(reg, "_recent")
