"""Randomly tampered metadata: load_model raises ValueError, or loads a model.

Needs hypothesis (skipped without it).
"""

import json

import numpy as np
import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import pixel_regressor  # noqa: E402
from pixel_regressor import BrightPixelRegressor, load_model  # noqa: E402

SIDE = 10


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = pixel_regressor.make_bright_pixel_dataset(
        40, image_size=SIDE, random_state=0
    )
    estimator = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    directory = estimator.save(tmp_path_factory.mktemp("saved") / "model")
    return _Saved(
        meta=json.loads((directory / "estimator.json").read_text()),
        model=(directory / "model.keras").read_bytes(),
    )


def _set(meta, path, value):
    """A copy of ``meta`` with ``value`` at ``path`` (if its parent is an object)."""
    meta = json.loads(json.dumps(meta))
    target = meta
    for key in path[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
    if isinstance(target, dict):
        target[path[-1]] = value
    return meta


class _Saved(dict):
    """The saved files; a short repr for hypothesis's reports."""

    def __repr__(self):
        return "<a saved estimator>"


def _write_save(directory, meta, model_bytes):
    directory.mkdir(parents=True)
    (directory / "estimator.json").write_text(json.dumps(meta))
    (directory / "model.keras").write_bytes(model_bytes)
    return directory


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(meta, prefix=()):
    """Every key path of ``meta``'s objects, lists' items excluded."""
    for key, value in meta.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_tampering_gives_a_value_error(saved, tmp_path_factory, data):
    meta = saved["meta"]
    paths = sorted(_paths(meta))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    path = data.draw(st.sampled_from(paths))
    if action == "delete":
        tampered = json.loads(json.dumps(meta))
        parent = tampered
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    elif action == "add":
        key = data.draw(st.text(min_size=1, max_size=8))
        tampered = _set(meta, (*path[:-1], key), data.draw(_json_values))
    else:
        tampered = _set(meta, path, data.draw(_json_values))
    directory = _write_save(
        tmp_path_factory.mktemp("h") / "m", tampered, saved["model"]
    )
    try:
        estimator = load_model(directory)
    except ValueError:
        return
    # Accepted: then it is a consistent estimator that predicts.
    assert estimator.n_features_in_ == SIDE * SIDE
    estimator.predict(np.zeros((1, SIDE, SIDE)))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_metadata_checks_raise_only_value_errors(saved, data):
    """Several fields tampered at once, checked without loading the model."""
    from pixel_regressor import _persistence

    meta = saved["meta"]
    paths = sorted(_paths(meta))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        meta = _set(meta, path, data.draw(_json_values))
    try:
        estimator = _persistence.estimator_from_metadata(BrightPixelRegressor, meta)
    except ValueError:
        return
    assert estimator.n_features_in_ == np.prod(estimator.image_shape_)
    assert all(len(v) == estimator.n_iter_ for v in estimator.history_.values())


@pytest.fixture(scope="module")
def spot_state():
    X, y = pixel_regressor.make_bright_spot_dataset(
        40, image_size=SIDE, photons=1000, random_state=0
    )
    estimator = BrightPixelRegressor("spot", epochs=1, random_state=0).fit(X, y)
    return _Saved(state=estimator.__getstate__(), X=X)


_arrays = st.builds(
    np.asarray,
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=6),
).map(lambda a: a.reshape(-1, 2) if a.size % 2 == 0 else a)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_tampered_pickled_state_gives_a_value_error(spot_state, data):
    """Unpickling (pickle, joblib, skops) checks the fitted state as load_model
    does: a ValueError, or an estimator whose deviations are finite."""
    state = dict(spot_state["state"])
    fitted = sorted(
        k for k in state if k.endswith("_") and not k.startswith("_keras")
    ) + ["_y_1d", "_built_head"]
    for _ in range(data.draw(st.integers(1, 2))):
        key = data.draw(st.sampled_from(fitted))
        state[key] = data.draw(_json_values | _arrays)
    estimator = BrightPixelRegressor.__new__(BrightPixelRegressor)
    try:
        estimator.__setstate__(state)
    except ValueError:
        return
    X = spot_state["X"][:5]
    _, std = estimator.predict(X, return_std=True)
    assert np.isfinite(std).all() and (std > 0).all()
