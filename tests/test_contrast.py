"""Right answers at any intensity scale and contrast.

- The images float32 cannot hold (float64, 32- and 64-bit integers, extreme
  float32) are rescaled in their own precision before the model sees them.
- The soft-argmax head's peak read-out: distant pixels cannot pull it, so a
  model trained on clean generator data is exact on any noise-free image
  with a unique maximum, and training on very noisy data does not make it
  worse than ``np.argmax`` on clean images.

The hypothesis tests need hypothesis (skipped without it).
"""

import warnings

import numpy as np
import pytest

from pixel_regressor import (
    BrightPixelRegressor,
    exact_pixel_accuracy,
    make_bright_pixel_dataset,
)
from pixel_regressor._inference import as_float32

SIDE = 12


@pytest.fixture(scope="module")
def clean_model():
    X, y = make_bright_pixel_dataset(600, image_size=SIDE, random_state=0)
    return BrightPixelRegressor(random_state=0).fit(X, y)


def _argmax(images):
    n = len(images)
    return np.column_stack(
        np.unravel_index(images.reshape(n, -1).argmax(axis=1), images.shape[1:3])
    )


# ----------------------------------------------------------------------------
# rescaling in the input's precision
@pytest.mark.parametrize(
    ("dtype", "background", "bright"),
    [
        (np.float64, 1e4, 1e4 + 1e-4),
        (np.float32, 0.0, 1.3e38),
        (np.float32, -3e38, 3e38),
        (np.float32, 0.0, 1e-40),  # a subnormal float32
        (np.float64, 0.0, 1e300),
        (np.float64, -1e308, 1e308),
        (np.int64, 2**40, 2**40 + 1),
        (np.int64, 2**62, 2**62 + 1),
        (np.int64, -(2**63), 2**63 - 1),
        (np.uint64, 2**64 - 2, 2**64 - 1),
        (np.int32, 2**30, 2**30 + 1),
    ],
)
@pytest.mark.parametrize("head", ["soft_argmax", "dense"])
def test_predict_finds_the_pixel_at_any_scale(dtype, background, bright, head):
    X, y = make_bright_pixel_dataset(200, image_size=SIDE, random_state=0)
    settings = {"epochs": 3} if head == "dense" else {}
    estimator = BrightPixelRegressor(head=head, random_state=0, **settings)
    estimator.fit(X, y)
    images = np.full((2, SIDE, SIDE), background, dtype=dtype)
    images[0, 3, 9] = bright
    images[1, 10, 1] = bright
    if head == "dense":
        # The dense head is not exact; it must see what a 0-255 image shows.
        reference = (images != background).astype(np.float32) * 255
        np.testing.assert_allclose(
            estimator.predict(images), estimator.predict(reference), atol=1e-4
        )
    else:
        np.testing.assert_array_equal(
            estimator.predict(images), [[3.0, 9.0], [10.0, 1.0]]
        )


def test_as_float32_keeps_what_float32_holds_and_rescales_the_rest():
    small = np.array([[[0, 7], [65535, 3]]], dtype=np.uint16)
    np.testing.assert_array_equal(as_float32(small), small.astype(np.float32))
    ordinary = np.array([[[0.5, -2.0], [1e6, 3.0]]], dtype=np.float32)
    assert np.shares_memory(as_float32(ordinary), ordinary)
    wide = np.array([[[2**62, 2**62 + 1], [2**62, 2**62 + 3]]], dtype=np.int64)
    np.testing.assert_allclose(as_float32(wide), [[[0, 1 / 3], [0, 1]]], rtol=1e-7)
    constant = np.full((1, 2, 2), 1e300)
    np.testing.assert_array_equal(as_float32(constant), np.zeros((1, 2, 2)))
    # Rescaling one float32 image leaves the caller's array and the others alone.
    mixed = np.array([[[0, 1e30], [0, 0]], [[0, 2.0], [1, 0]]], dtype=np.float32)
    before = mixed.copy()
    out = as_float32(mixed)
    np.testing.assert_array_equal(mixed, before)
    np.testing.assert_array_equal(out[0], [[0, 1], [0, 0]])
    np.testing.assert_array_equal(out[1], mixed[1])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(("value", "message"), [(np.nan, "NaN"), (np.inf, "infinity")])
def test_predict_refuses_non_finite_values_in_any_batch(
    clean_model, dtype, value, message
):
    # 8000 images of 12x12 make two batches; the bad value is in the last.
    images = np.zeros((8000, SIDE, SIDE), dtype=dtype)
    images[-1, 3, 4] = value
    with pytest.raises(ValueError, match=f"Input X contains {message}"):
        clean_model.predict(images)
    with pytest.raises(ValueError, match=f"Input X contains {message}"):
        clean_model.predict(images.reshape(len(images), -1))


def test_contrast_below_float32_warns(clean_model):
    images = np.zeros((1, SIDE, SIDE))
    images[0, 2, 2] = 1.0
    images[0, 5, 5] = 1.0 - 1e-9  # below float32's resolution of the range
    # The compiled model sees float32, and a tie.
    with pytest.warns(UserWarning, match="tied with the maximum"):
        clean_model._predict_batch(images[..., None], path="compiled")
    # predict reads the default head's peak in float64: no tie, exact.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(clean_model.predict(images), [[2.0, 2.0]])
    images[0, 5, 5] = 1.0 - 1e-6  # representable: no warning, exact
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(clean_model.predict(images), [[2.0, 2.0]])


def test_training_rescales_float64_images_like_predict():
    X, y = make_bright_pixel_dataset(300, image_size=SIDE, random_state=0)
    low = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    # The same images, as float64 at 1e4 with a contrast of 1e-4.
    shifted = 1e4 + X.astype(np.float64) * (1e-4 / 255)
    high = BrightPixelRegressor(epochs=1, random_state=0).fit(shifted, y)
    # The batches training sees keep the contrast: cast to float32 first,
    # the images would be blank.
    from pixel_regressor._batches import ArrayBatches

    batches = ArrayBatches(
        shifted.reshape(-1, SIDE, SIDE, 1), y, None, batch_size=32, random_state=0
    )
    images = batches[0][0].reshape(32, -1)
    np.testing.assert_array_equal(images.max(axis=1), 1.0)
    np.testing.assert_array_equal(images.min(axis=1), 0.0)
    np.testing.assert_allclose(high.predict(shifted), low.predict(X), atol=1e-5)


# ----------------------------------------------------------------------------
# the soft-argmax head's peak read-out
def _natural_like(n, rng, *, gap):
    """Smooth backgrounds in [0, 220] and one pixel ``gap`` above their top."""
    rows = np.linspace(0, 1, SIDE)
    images = np.empty((n, SIDE, SIDE))
    for i in range(n):
        a, b, c, d = rng.uniform(0.5, 4, size=4)
        field = np.sin(a * rows[:, None] + b) * np.cos(c * rows[None, :] + d)
        field += 0.3 * rng.standard_normal((SIDE, SIDE))
        images[i] = (field - field.min()) / np.ptp(field) * 220
    targets = rng.integers(0, SIDE, size=(n, 2))
    images[np.arange(n), targets[:, 0], targets[:, 1]] = 220 + gap
    return images, targets


def test_low_contrast_transfer(clean_model):
    images, targets = _natural_like(300, np.random.default_rng(1), gap=10)
    np.testing.assert_array_equal(_argmax(images), targets)
    assert exact_pixel_accuracy(targets, clean_model.predict(images)) == 1.0


def test_distant_bright_pixels_do_not_pull_the_prediction(clean_model):
    # Many pixels just below the maximum, all far from it: a softmax over
    # all pixels would land between them.
    images = np.zeros((1, 40, 40))
    images[0, 20:, 20:] = 0.999
    images[0, 2, 3] = 1.0
    np.testing.assert_array_equal(clean_model.predict(images), [[2.0, 3.0]])


def test_training_at_noise_80_is_not_worse_than_argmax_on_clean_images():
    X, y = make_bright_pixel_dataset(1500, image_size=SIDE, noise=80, random_state=0)
    noisy = BrightPixelRegressor(random_state=0).fit(X, y)
    # On the noisy training data np.argmax is often wrong (ties at the clip).
    assert exact_pixel_accuracy(y, _argmax(X.reshape(-1, SIDE, SIDE))) < 0.97
    X_clean, y_clean = make_bright_pixel_dataset(500, image_size=SIDE, random_state=1)
    assert exact_pixel_accuracy(y_clean, noisy.predict(X_clean)) == 1.0
    images, targets = _natural_like(200, np.random.default_rng(2), gap=10)
    assert exact_pixel_accuracy(targets, noisy.predict(images)) == 1.0


def test_peak_read_out_at_inference_softmax_in_training():
    from pixel_regressor._layers import PeakSoftArgmax2D, SoftArgmax2D

    heatmap = np.zeros((2, 6, 8, 1), dtype=np.float32)
    heatmap[0, 1, 2] = 5.0
    heatmap[0, 4:, 5:] = 4.9  # a distant plateau nearly as high
    heatmap[1, 3, 3] = 2.0
    heatmap[1, 2, 3] = 1.0  # a neighbour: a pull of less than half a pixel
    layer = PeakSoftArgmax2D()
    peak = np.asarray(layer(heatmap))
    np.testing.assert_allclose(peak[0], [1.0, 2.0], atol=1e-6)
    up, down = np.exp(1.0 - 2.0), np.exp(0.0 - 2.0)
    pull = (down - up) / (1 + up + down)
    np.testing.assert_allclose(peak[1], [3.0 + pull, 3.0], atol=1e-6)
    trained = np.asarray(layer(heatmap, training=True))
    np.testing.assert_allclose(trained, np.asarray(SoftArgmax2D()(heatmap)))
    assert trained[0, 0] > 2.0  # the softmax is pulled by the plateau


def test_blank_image_and_ties(clean_model):
    blank = np.zeros((1, 7, 9))
    np.testing.assert_array_equal(clean_model.predict(blank), [[3.0, 4.0]])
    apart = np.zeros((1, 9, 9))
    apart[0, 1, 1] = apart[0, 6, 7] = 1.0  # the first in row-major order
    np.testing.assert_allclose(clean_model.predict(apart), [[1.0, 1.0]], atol=1e-6)
    beside = np.zeros((1, 9, 9))
    beside[0, 4, 4] = beside[0, 4, 5] = 1.0  # neighbours: half-way
    np.testing.assert_allclose(clean_model.predict(beside), [[4.0, 4.5]], atol=1e-6)


# ----------------------------------------------------------------------------
# hypothesis: predict's inputs and the generator's parameters
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_DTYPES = {
    "uint8": (0, 2**8 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "float32": (-3e38, 3e38),
    "float64": (-1e308, 1e308),
}


@st.composite
def _images_with_a_unique_maximum(draw):
    dtype = draw(st.sampled_from(sorted(_DTYPES)))
    lowest, highest = _DTYPES[dtype]
    height = draw(st.integers(1, 24))
    width = draw(st.integers(2 if height == 1 else 1, 24))
    row, col = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
    integer = np.dtype(dtype).kind in "iu"
    if integer:
        low = draw(st.integers(lowest, highest - 1))
        top = draw(st.integers(low + 1, highest))
    else:
        exponent = draw(st.integers(-30 if dtype == "float32" else -300, 30))
        low = draw(st.floats(-1.0, 1.0)) * 10.0**exponent
        top = low + draw(st.floats(0.01, 1.0)) * 10.0**exponent
        if not (np.isfinite(top) and top > low):
            top = low + abs(low) + 1.0
    # The background: constant or varying in [low, below], below < top.
    contrast = draw(st.floats(2.0**-20, 1.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if integer:
        below = top - max(1, int((top - low) * contrast))
        values = [
            min(below, low + int(v * (below - low))) for v in rng.random(height * width)
        ]
        if draw(st.booleans()):
            values = [low] * (height * width)
        image = np.array(values, dtype=object).reshape(height, width).astype(dtype)
    else:
        below = top - (top - low) * contrast
        image = (low + rng.random((height, width)) * (below - low)).astype(dtype)
        if draw(st.booleans()):
            image[:] = low
    image[row, col] = top
    flat = image.ravel()
    if (flat == flat[row * width + col]).sum() != 1:  # rounding made a tie
        hypothesis.assume(False)
    return image[np.newaxis], (row, col)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=_images_with_a_unique_maximum())
def test_default_model_is_exact_on_any_unique_maximum(clean_model, case):
    # Exact: the prediction rounds to the pixel. A neighbour nearly as bright
    # as the maximum pulls the prediction towards it, by less than half a
    # pixel.
    image, position = case
    prediction = clean_model.predict(image)[0]
    assert np.abs(prediction - position).max() < 0.5
    np.testing.assert_array_equal(np.rint(prediction), position)


@settings(max_examples=40, deadline=None)
@given(
    n_samples=st.integers(1, 20),
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    dtype=st.sampled_from(["uint8", "int32", "float16", "float32", "float64"]),
    intensity=st.floats(1e-3, 6e4),
    noise=st.sampled_from([0.0, 0.5, 30.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_generator_over_its_parameters(
    n_samples, height, width, dtype, intensity, noise, seed
):
    if np.dtype(dtype).kind in "iu":  # an intensity the dtype holds
        intensity = float(min(max(1, round(intensity)), np.iinfo(dtype).max))
    params = {
        "image_size": (height, width),
        "intensity": intensity,
        "noise": noise * intensity / 255,
        "dtype": dtype,
        "random_state": seed,
    }
    X, y = make_bright_pixel_dataset(n_samples, **params)
    assert X.shape == (n_samples, height * width) and X.dtype == np.dtype(dtype)
    assert y.shape == (n_samples, 2)
    assert ((y >= 0) & (y < [height, width])).all()
    images = X.reshape(n_samples, height, width)
    stored = np.asarray(intensity, dtype=dtype)
    assert (images[np.arange(n_samples), y[:, 0], y[:, 1]] == stored).all()
    assert ((images >= 0) & (images <= stored)).all()
    if noise == 0:
        assert (np.count_nonzero(X, axis=1) == 1).all()
        np.testing.assert_array_equal(_argmax(images), y)
    again, _ = make_bright_pixel_dataset(n_samples, **params)
    np.testing.assert_array_equal(again, X)
