"""The spot model: a blurred spot at a sub-pixel position in photon noise.

The images are made here: a Gaussian spot integrated over each pixel, on a
flat background, with Poisson noise. The fast tests check shapes, any image
size, saving, the crops at the edges and hot pixels; the slow one checks the
accuracy against the Cramér-Rao lower bound.
"""

import math

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import norm

keras = pytest.importorskip("keras")

from pixel_regressor._layers import (  # noqa: E402
    CropSoftArgmax2D,
    PeakCrop,
    _first_index,
)
from pixel_regressor.models import build_spot_model  # noqa: E402

SIGMA = 1.3
BACKGROUND = 10.0


def _pixel_fractions(position, size, sigma=SIGMA):
    """Fraction of a 1-D Gaussian falling in each pixel [i - 0.5, i + 0.5]."""
    edges = (np.arange(size + 1) - 0.5 - position) / sigma
    return np.diff(ndtr(edges)), -np.diff(norm.pdf(edges)) / sigma


def expected_counts(positions, photons, size, sigma=SIGMA, background=BACKGROUND):
    """Expected counts of each pixel, shape (n, size, size)."""
    rows = np.array([_pixel_fractions(r, size, sigma)[0] for r in positions[:, 0]])
    cols = np.array([_pixel_fractions(c, size, sigma)[0] for c in positions[:, 1]])
    return background + photons * rows[:, :, None] * cols[:, None, :]


def make_spots(n, photons, size, *, hot=0, margin=4, seed=0):
    """Poisson images (n, size, size, 1) and their spot positions (n, 2)."""
    rng = np.random.default_rng(seed)
    positions = rng.uniform(margin, size - 1 - margin, size=(n, 2))
    mu = expected_counts(positions, photons, size)
    images = rng.poisson(mu).astype("float32")
    for image, peak in zip(images, mu.reshape(n, -1).max(axis=1) - BACKGROUND):
        pixels = rng.choice(size * size, hot, replace=False)
        image.flat[pixels] = 3 * peak
    return images[..., None], positions.astype("float32")


def crlb(photons, size, *, margin=4, n=200, seed=0):
    """Per-axis Cramér-Rao bound (root mean over positions): row, col,
    photons and background unknown."""
    rng = np.random.default_rng(seed)
    variances = []
    for row, col in rng.uniform(margin, size - 1 - margin, size=(n, 2)):
        er, der = _pixel_fractions(row, size)
        ec, dec = _pixel_fractions(col, size)
        mu = BACKGROUND + photons * np.outer(er, ec)
        grads = np.stack(
            [
                photons * np.outer(der, ec),
                photons * np.outer(er, dec),
                np.outer(er, ec),
                np.ones_like(mu),
            ]
        ).reshape(4, -1)
        fisher = (grads / mu.ravel()) @ grads.T
        variances.append(np.diag(np.linalg.inv(fisher))[:2])
    return math.sqrt(np.mean(variances))


def test_crlb_matches_the_reference_figures():
    assert crlb(1000, 32) == pytest.approx(0.0562, rel=0.01)
    assert crlb(200, 32) == pytest.approx(0.1834, rel=0.01)


@pytest.fixture(scope="module")
def model():
    return build_spot_model(seed=0)


def test_builds_with_the_documented_shape(model):
    assert model.output_shape == (None, 2)
    assert model.input_shape == (None, None, None, 1)
    assert model.get_layer("peak_crop").crop_size == 13


def test_readout_maps_to_other_columns():
    kernel = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
    bias = np.array([0.0, 0.0, 5.0])
    model = build_spot_model(n_outputs=3, readout=(kernel, bias), seed=0)
    images, _ = make_spots(4, 1000, 16)
    out = model.predict_on_batch(images)
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out[:, 2], 2 * out[:, 0] + 5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (13, 13), (5, 40), (64, 48)])
def test_any_image_size(model, shape):
    images = np.random.default_rng(0).poisson(10, size=(3, *shape, 1))
    out = model.predict_on_batch(images.astype("float32"))
    assert out.shape == (3, 2)
    assert np.all(np.isfinite(out))


def test_intensity_scale_and_offset_do_not_matter(model):
    images, _ = make_spots(8, 1000, 20)
    a = model.predict_on_batch(images)
    b = model.predict_on_batch(images * 7.5 + 300.0)
    np.testing.assert_allclose(a, b, atol=1e-3)


# The unfitted model's optimizer has no slots yet; Keras says so on loading.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_save_and_load_round_trip(model, tmp_path):
    images, _ = make_spots(16, 1000, 24)
    path = tmp_path / "spot.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        model.predict_on_batch(images), loaded.predict_on_batch(images)
    )
    for name in ("peak_crop", "soft_argmax"):
        layer = model.get_layer(name)
        assert type(layer).from_config(layer.get_config()).get_config() == (
            layer.get_config()
        )


def _reference_crop(image, row, col, size):
    """The image less its mean, cut around (row, col), zero outside."""
    image = image - image.mean()
    half = size // 2
    padded = np.pad(image, half)
    return padded[row : row + size, col : col + size]


@pytest.mark.parametrize(("row", "col"), [(0.2, 0.0), (15.0, 0.4), (15.3, 14.8)])
def test_crops_at_the_image_edges(row, col):
    image = expected_counts(np.array([[row, col]]), 5000, 16)[0]
    crops, centres, heights = PeakCrop(9, 1.5, n_peaks=1)(image[None, :, :, None])
    crops, centres = np.asarray(crops), np.asarray(centres)
    assert centres.shape == (1, 1, 2)
    # The smoothing, cut at the edge, may pull the peak one pixel inwards.
    centre_row, centre_col = centres[0, 0].astype(int)
    assert abs(centre_row - row) <= 1.5 and abs(centre_col - col) <= 1.5
    crop = crops[0, :, :, 0]
    reference = _reference_crop(image, centre_row, centre_col, 9)
    # Same crop up to the common scale, zeros where it overhangs the image.
    np.testing.assert_allclose(
        crop / crop.max(), reference / reference.max(), atol=1e-5
    )
    np.testing.assert_allclose(heights, [[1.0]], rtol=1e-6)


def test_runner_up_crop_and_missing_runner_up():
    image = expected_counts(np.array([[5.0, 5.0]]), 2000, 24)[0]
    image += expected_counts(np.array([[18.0, 17.0]]), 1000, 24)[0] - BACKGROUND
    _, centres, heights = PeakCrop(9, 1.5, n_peaks=2)(image[None, :, :, None])
    assert np.asarray(centres).tolist() == [[[5.0, 5.0], [18.0, 17.0]]]
    np.testing.assert_allclose(heights, [[1.0, 0.5]], atol=0.05)
    # A 6x6 image has nothing left after the first crop's square.
    small = expected_counts(np.array([[2.0, 3.0]]), 1000, 6)[0]
    _, centres, heights = PeakCrop(9, 1.5, n_peaks=2)(small[None, :, :, None])
    assert np.asarray(centres)[0, 0].tolist() == [2.0, 3.0]
    assert np.asarray(heights)[0, 1] < -1e5


def test_every_crop_is_the_image_around_its_centre():
    # Three spots on a wide image, one overhanging the left edge.
    positions = np.array([[6.0, 1.0], [12.0, 20.0], [3.0, 13.0]])
    image = sum(
        expected_counts(positions[i : i + 1], photons, 27)[0][:20] - BACKGROUND
        for i, photons in enumerate([3000, 2000, 1000])
    )
    crops, centres, _ = PeakCrop(7, 1.5, n_peaks=3)(image[None, :, :, None])
    crops, centres = np.asarray(crops)[..., 0], np.asarray(centres)[0].astype(int)
    assert np.abs(centres - positions).max() <= 1
    references = [_reference_crop(image, row, col, 7) for row, col in centres]
    # One scale for every crop of the image.
    scale = crops[0].max() / references[0].max()
    for crop, reference in zip(crops, references):
        np.testing.assert_allclose(crop, reference * scale, rtol=1e-5, atol=1e-4)


def test_first_index_is_numpy_argmax_with_ties():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4, size=(200, 30)).astype("float32")
    values[0] = 0.0  # all tied
    values[1, -1] = 9.0  # the last
    found = _first_index(values, values.max(axis=1), np.arange(30, dtype="int32"))
    np.testing.assert_array_equal(found, values.argmax(axis=1))


def test_crop_soft_argmax_combines_crops():
    heatmaps = np.zeros((2, 3, 3, 1), "float32")  # one image, two crops
    heatmaps[0, 2, 1, 0] = 50.0  # first crop: one row below its centre
    centres = np.array([[[4.0, 4.0], [10.0, 12.0]]], "float32")
    layer = CropSoftArgmax2D(evidence=2.0)
    # Equal heights: the mean of (5, 4) and the second crop's centre.
    out = layer([heatmaps, centres, np.ones((1, 2), "float32")])
    np.testing.assert_allclose(out, [[7.5, 8.0]], atol=1e-5)
    # The lower peak weighs exp(2 * (0.5**2 - 1)) as much; a missing one nothing.
    out = layer([heatmaps, centres, np.array([[1.0, 0.5]], "float32")])
    w = math.exp(-1.5)
    np.testing.assert_allclose(out, [[(5 + 10 * w) / (1 + w), (4 + 12 * w) / (1 + w)]])
    out = layer([heatmaps, centres, np.array([[1.0, -1e6]], "float32")])
    np.testing.assert_allclose(out, [[5.0, 4.0]], atol=1e-5)


def test_a_hot_pixel_does_not_win_the_peak_search():
    rng = np.random.default_rng(0)
    positions = rng.uniform(4, 27, size=(200, 2))
    images = expected_counts(positions, 1000, 32)
    peaks = images.reshape(200, -1).max(axis=1) - BACKGROUND
    for image, peak in zip(images, peaks):
        # A hot pixel anywhere, at 3x the spot's brightest pixel.
        image.flat[rng.integers(32 * 32)] = 3 * peak
    # np.argmax finds the hot pixel in every image.
    assert np.all(images.reshape(200, -1).max(axis=1) == 3 * peaks)
    _, centres, _ = PeakCrop(13, 1.5, n_peaks=1)(images[..., None].astype("float32"))
    assert np.abs(np.asarray(centres)[:, 0] - positions).max() <= 1.5


def test_short_fit_ignores_hot_pixels():
    images, positions = make_spots(2000, 1000, 16, hot=1, seed=1)
    keras.utils.set_random_seed(0)
    model = build_spot_model(seed=0, decay_steps=3 * 32)
    model.fit(images, positions, epochs=3, batch_size=64, verbose=0)
    # Noise-free spots, with and without one hot pixel two pixels away.
    positions = np.random.default_rng(2).uniform(5, 10, size=(50, 2))
    clean = expected_counts(positions, 1000, 16)
    hot = clean.copy()
    peaks = clean.reshape(50, -1).max(axis=1) - BACKGROUND
    for image, (row, col), peak in zip(hot, np.round(positions).astype(int), peaks):
        image[row + 2, col - 2] = 3 * peak
    a = model.predict_on_batch(clean[..., None].astype("float32"))
    b = model.predict_on_batch(hot[..., None].astype("float32"))
    assert np.abs(a - positions).max() < 0.5
    assert np.sqrt(np.mean((a - b) ** 2)) < 0.15


@pytest.mark.slow
def test_accuracy_near_the_cramer_rao_bound():
    size, photons, n, epochs, batch = 20, 1000, 3000, 10, 64
    images, positions = make_spots(n, photons, size, seed=1)
    test_images, test_positions = make_spots(2000, photons, size, seed=2)
    keras.utils.set_random_seed(0)
    model = build_spot_model(seed=0, decay_steps=epochs * math.ceil(n / batch))
    model.fit(images, positions, epochs=epochs, batch_size=batch, verbose=0)
    pred = model.predict_on_batch(test_images)
    rmse = math.sqrt(np.mean((pred - test_positions) ** 2))
    # 1.04-1.05 with seeds 0, 1 and 2.
    assert rmse < 1.15 * crlb(photons, size)
