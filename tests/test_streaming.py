"""Training straight from the generator with a Keras PyDataset."""

import numpy as np
import pytest
from scikeras.wrappers import KerasRegressor

from pixel_regressor import (
    BrightPixelRegressor,
    BrightPixelSequence,
    exact_pixel_accuracy,
    make_bright_pixel_dataset,
)


def test_batches_are_deterministic_and_distinct():
    seq = BrightPixelSequence(100, batch_size=30, image_size=(5, 7), random_state=3)
    assert len(seq) == 4
    images, targets = seq[1]
    assert images.shape == (30, 5, 7, 1)
    assert images.dtype == np.float32
    assert targets.shape == (30, 2)
    assert (
        images[np.arange(30), targets[:, 0].astype(int), targets[:, 1].astype(int), 0]
        == 255
    ).all()
    again = BrightPixelSequence(100, batch_size=30, image_size=(5, 7), random_state=3)
    np.testing.assert_array_equal(again[1][0], images)
    assert not np.array_equal(seq[0][1], seq[1][1][:30])
    assert seq[3][0].shape[0] == 10
    with pytest.raises(IndexError):
        seq[4]


# Recorded from the 0.1.0 release: the targets of each batch of
# BrightPixelSequence(7, batch_size=3, image_size=(3, 4), noise=10.0,
# random_state=3).
RECORDED_BATCH_Y = [[[1, 3], [1, 2], [0, 1]], [[2, 0], [0, 1], [0, 1]], [[2, 2]]]


def test_int_seed_gives_the_recorded_batches():
    seq = BrightPixelSequence(
        7, batch_size=3, image_size=(3, 4), noise=10.0, random_state=3
    )
    assert [seq[i][1].astype(int).tolist() for i in range(3)] == RECORDED_BATCH_Y
    # Batch i is drawn from the i-th child of SeedSequence(random_state),
    # whichever batches were asked for before it.
    children = np.random.SeedSequence(3).spawn(3)
    for i in (2, 0, 1):
        X, y = make_bright_pixel_dataset(
            len(RECORDED_BATCH_Y[i]),
            image_size=(3, 4),
            noise=10.0,
            random_state=np.random.default_rng(children[i]),
        )
        images, targets = seq[i]
        np.testing.assert_array_equal(images, X.reshape(-1, 3, 4, 1))
        np.testing.assert_array_equal(targets, y)


def test_none_seed_draws_a_fresh_int_seed():
    first = BrightPixelSequence(10, batch_size=5, image_size=3)
    second = BrightPixelSequence(10, batch_size=5, image_size=3)
    assert isinstance(first.random_state, int)
    assert first.random_state != second.random_state
    again = BrightPixelSequence(
        10, batch_size=5, image_size=3, random_state=first.random_state
    )
    np.testing.assert_array_equal(again[1][0], first[1][0])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"batch_size": 0}, ValueError),
        ({"noise": -1.0}, ValueError),
        ({"random_state": "a"}, TypeError),
    ],
)
def test_bad_parameters(kwargs, error):
    with pytest.raises(error):
        BrightPixelSequence(10, **kwargs)


def test_fit_from_the_sequence():
    seq = BrightPixelSequence(
        1500, batch_size=250, image_size=14, noise=40, random_state=0
    )
    reg = BrightPixelRegressor(epochs=2, random_state=0).fit(seq)
    # The same scikeras wrapper as after a fit on arrays, around model_.
    assert isinstance(reg.keras_regressor_, KerasRegressor)
    assert reg.keras_regressor_.model_ is reg.model_
    assert reg.keras_regressor_.current_epoch == 2
    assert len(reg.history_["loss"]) == 2
    assert reg.image_shape_ == (14, 14)
    assert reg.n_iter_ == 2
    Xt, yt = make_bright_pixel_dataset(300, image_size=14, noise=40, random_state=9)
    assert exact_pixel_accuracy(yt, reg.predict(Xt)) >= 0.99


def test_fit_from_a_sequence_refuses_y():
    seq = BrightPixelSequence(20, batch_size=10, image_size=8, random_state=0)
    with pytest.raises(ValueError, match="y and sample_weight must be None"):
        BrightPixelRegressor().fit(seq, np.zeros((20, 2)))
