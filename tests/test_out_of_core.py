"""Training and predicting on data larger than memory, a chunk at a time."""

import numpy as np
import pytest

from pixel_regressor import (
    BrightPixelRegressor,
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
