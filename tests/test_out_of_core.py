"""Training and predicting on data larger than memory, a chunk at a time."""

import gc
import os
import weakref

import numpy as np
import pytest

from pixel_regressor import (
    BrightPixelRegressor,
    BrightPixelSequence,
    exact_pixel_accuracy,
    iter_bright_pixel_batches,
    make_bright_pixel_dataset,
)


def test_chunks_have_the_requested_sizes():
    shapes = [
        (X.shape, y.shape)
        for X, y in iter_bright_pixel_batches(
            25, batch_size=10, image_size=(3, 4), random_state=0
        )
    ]
    assert shapes == [((10, 12), (10, 2)), ((10, 12), (10, 2)), ((5, 12), (5, 2))]


def test_chunks_are_reproducible_and_distinct():
    def chunks(seed):
        return list(
            iter_bright_pixel_batches(
                40, batch_size=20, image_size=8, random_state=seed
            )
        )

    first, again, other = chunks(3), chunks(3), chunks(4)
    for (X1, y1), (X2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(X1, X2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][1], first[1][1])
    assert not np.array_equal(first[0][1], other[0][1])


def test_chunks_hold_one_bright_pixel_at_the_target():
    for X, y in iter_bright_pixel_batches(
        30, batch_size=7, image_size=6, random_state=1
    ):
        images = X.reshape(-1, 6, 6)
        assert ((images > 0).sum(axis=(1, 2)) == 1).all()
        assert (images[np.arange(len(y)), y[:, 0], y[:, 1]] == 255).all()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"batch_size": 0}, ValueError),
        ({"batch_size": 2.5}, TypeError),
        ({"random_state": "seed"}, TypeError),
        ({"noise": -1}, ValueError),
    ],
)
def test_bad_parameters(kwargs, error):
    with pytest.raises(error):
        next(iter_bright_pixel_batches(10, **kwargs))


def test_partial_fit_over_chunks_learns_noisy_images():
    reg = BrightPixelRegressor(random_state=0)
    for X, y in iter_bright_pixel_batches(
        2000, batch_size=500, image_size=14, noise=40, random_state=0
    ):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 4
    Xt, yt = make_bright_pixel_dataset(300, image_size=14, noise=40, random_state=9)
    assert exact_pixel_accuracy(yt, reg.predict(Xt)) >= 0.99


def test_predict_on_a_memory_mapped_file(tmp_path):
    X, y = make_bright_pixel_dataset(300, image_size=12, random_state=0)
    reg = BrightPixelRegressor(random_state=0).fit(X, y)
    np.save(tmp_path / "images.npy", X.reshape(-1, 12, 12).astype(np.uint8))
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    np.testing.assert_allclose(reg.predict(mapped), reg.predict(X), atol=1e-5)


# ----------------------------------------------------------------------------
# training keeps no chunk: memory bounded by one chunk, not by all of them


def _rss_bytes():
    """The resident set size of this process now (Linux; None elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not Linux
        return None


def _fit_on_fresh_data(how, reg, seed, n, side):
    """One training call of ``how`` on data made for it; weakrefs to that data."""
    if how == "sequence":
        data = BrightPixelSequence(
            n, batch_size=n // 4, image_size=side, random_state=seed
        )
        reg.fit(data)
        return [weakref.ref(data)]
    X, y = make_bright_pixel_dataset(n, image_size=side, random_state=seed)
    weights = np.ones(len(X))
    if how == "partial_fit":
        reg.partial_fit(X, y, sample_weight=weights)
    elif how == "fit_validation":
        reg.fit(X[: n // 2], y[: n // 2], validation_data=(X[n // 2 :], y[n // 2 :]))
    else:
        reg.fit(X, y, sample_weight=weights)
    return [weakref.ref(X), weakref.ref(weights)]


@pytest.mark.parametrize("how", ["partial_fit", "fit", "fit_validation", "sequence"])
def test_training_keeps_no_reference_to_its_data(how):
    # Every array (or PyDataset) a training call was given is freed once the
    # caller drops it: nothing in the estimator, Keras or TensorFlow keeps it.
    reg = BrightPixelRegressor(epochs=1, batch_size=32, random_state=0)
    refs = []
    for seed in range(3):
        refs += _fit_on_fresh_data(how, reg, seed, 64, 8)
    gc.collect()
    alive = [ref for ref in refs if ref() is not None]
    assert not alive, f"{len(alive)} of {len(refs)} inputs are still referenced"
    assert reg.predict(make_bright_pixel_dataset(4, image_size=8)[0]).shape == (4, 2)


@pytest.mark.parametrize(
    ("how", "calls", "n"),
    [
        ("partial_fit", 20, 4000),
        # Each new model leaves TensorFlow about 5 MB of traced functions (see
        # the model selection guide): larger chunks, fewer calls.
        pytest.param("fit", 5, 10000, marks=pytest.mark.slow),
    ],
)
def test_memory_stays_flat_over_many_fresh_chunks(how, calls, n):
    # RSS after the last of many training calls on fresh 50x50 chunks is
    # within two chunks of RSS after the second: a chunk kept per call would
    # add one chunk per call.
    if _rss_bytes() is None:  # pragma: no cover - not Linux
        pytest.skip("reads /proc/self/statm")
    reg = BrightPixelRegressor(epochs=1, random_state=0)
    side = 50
    chunk = n * side * side * 4
    rss = {}
    for call in range(1, calls + 1):
        _fit_on_fresh_data(how, reg, call, n, side)
        if call in (2, calls):
            gc.collect()  # 0.3 s a time
            rss[call] = _rss_bytes()
    growth = rss[calls] - rss[2]
    assert growth < 2 * chunk, (
        f"RSS grew by {growth / 2**20:.0f} MiB from call 2 to call {calls} "
        f"({chunk / 2**20:.0f} MiB a chunk)"
    )
