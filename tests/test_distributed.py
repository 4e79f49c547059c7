"""Hyper-parameter search on a Dask cluster gives the same results as locally.

A real two-process cluster on the loopback interface runs a grid search through
joblib's ``"dask"`` backend; the scores and the chosen parameters must match the
same search run in this process. Skipped when ``distributed`` is not installed
(``pip install "pixel-regressor[distributed]"``).
"""

import os

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import joblib  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset  # noqa: E402

# A cluster of new worker processes, each importing TensorFlow.
pytestmark = pytest.mark.slow

# The dense head is far from exact after one epoch, and by how much depends on
# the learning rate: the candidates score differently.
PARAM_GRID = {"head": ["soft_argmax", "dense"], "learning_rate": [0.01, 0.1]}


@pytest.fixture(scope="module")
def client():
    """A client of a local cluster: two worker processes, one thread each."""
    # Workers are new processes: hand them the environment that matters here
    # (TensorFlow's log level, and the Keras backend when one is chosen).
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    if "KERAS_BACKEND" in os.environ:
        env["KERAS_BACKEND"] = os.environ["KERAS_BACKEND"]
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env=env,
    )
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def data():
    return make_bright_pixel_dataset(200, image_size=12, random_state=0)


def _search(X, y):
    search = GridSearchCV(
        BrightPixelRegressor(epochs=1, random_state=0),
        PARAM_GRID,
        cv=2,
        n_jobs=1,
    )
    return search.fit(X, y)


@pytest.fixture(scope="module")
def local_search(data):
    return _search(*data)


def _assert_same_search(remote, local):
    assert remote.best_params_ == local.best_params_
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    for key in ("mean_test_score", "std_test_score", "split0_test_score"):
        np.testing.assert_allclose(
            remote.cv_results_[key], local.cv_results_[key], rtol=1e-6, atol=1e-9
        )
    np.testing.assert_array_equal(
        remote.cv_results_["rank_test_score"], local.cv_results_["rank_test_score"]
    )


def test_workers_inherit_the_log_level(client):
    levels = client.run(lambda: os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
    assert list(levels.values()) == ["2", "2"]


def test_grid_search_on_dask_matches_the_local_search(client, data, local_search):
    X, y = data
    # The candidates must differ, or equal best_params_ would prove little.
    assert len(set(np.round(local_search.cv_results_["mean_test_score"], 6))) > 1

    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        remote = GridSearchCV(
            BrightPixelRegressor(epochs=1, random_state=0), PARAM_GRID, cv=2
        ).fit(X, y)

    # The candidates were trained on the cluster's workers.
    workers = set(client.scheduler_info()["workers"])
    assert stream.data
    assert {task["worker"] for task in stream.data} <= workers
    _assert_same_search(remote, local_search)
    np.testing.assert_allclose(
        remote.predict(X[:20]), local_search.predict(X[:20]), rtol=1e-6
    )


def test_scattered_data_gives_the_same_search(client, data, local_search):
    X, y = data
    with joblib.parallel_backend("dask", scatter=[X, y]):
        remote = GridSearchCV(
            BrightPixelRegressor(epochs=1, random_state=0), PARAM_GRID, cv=2
        ).fit(X, y)
    _assert_same_search(remote, local_search)
