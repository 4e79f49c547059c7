"""Tests for :func:`pixel_regressor.make_bright_pixel_dataset`."""

import hashlib
import inspect
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from pixel_regressor import (
    iter_bright_pixel_batches,
    make_bright_pixel_dataset,
    make_spot_frames,
)

FLOAT_DTYPES = [np.float16, np.float32, np.float64]
INT_DTYPES = [np.uint8, np.int16, np.uint16, np.int32, np.int64]


def _bright_values(X, y, image_shape):
    """The value of each image at its target position."""
    images = X.reshape(len(X), *image_shape)
    return images[np.arange(len(X)), y[:, 0], y[:, 1]]


def _digest(X, y):
    return hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()


# --------------------------------------------------------------------------
# shapes, dtypes and the planted pixel
# --------------------------------------------------------------------------


def test_defaults_are_the_notebooks():
    params = inspect.signature(make_bright_pixel_dataset).parameters
    assert params["n_samples"].default == 15000
    assert params["image_size"].default == 50
    assert params["intensity"].default == 255.0
    assert params["noise"].default == 0.0
    assert params["mask"].default is None
    assert params["return_X_y"].default is True
    assert params["random_state"].default is None


def test_default_dtype_is_float32_and_shapes():
    X, y = make_bright_pixel_dataset(7, image_size=5, random_state=0)
    assert X.shape == (7, 25)
    assert X.dtype == np.float32
    assert y.shape == (7, 2)
    assert y.dtype.kind in "iu"
    assert X.flags.c_contiguous


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
def test_dtype_is_honoured(dtype):
    X, y = make_bright_pixel_dataset(5, image_size=4, dtype=dtype, random_state=0)
    assert X.dtype == np.dtype(dtype)
    assert y.dtype.kind in "iu"
    assert _bright_values(X, y, (4, 4)).tolist() == [255] * 5


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_exactly_one_bright_pixel_at_the_target(dtype):
    n, h, w = 200, 6, 7
    X, y = make_bright_pixel_dataset(n, image_size=(h, w), dtype=dtype, random_state=1)
    assert np.all(np.count_nonzero(X, axis=1) == 1)
    assert np.all(X.max(axis=1) == 255)
    images = X.reshape(n, h, w)
    assert np.all(images[np.arange(n), y[:, 0], y[:, 1]] == 255)
    # Nothing else is bright: removing the planted pixel leaves black images.
    images = images.copy()
    images[np.arange(n), y[:, 0], y[:, 1]] = 0
    assert not images.any()


def test_intensity_is_the_bright_value():
    X, y = make_bright_pixel_dataset(4, image_size=3, intensity=0.5, random_state=0)
    assert np.all(_bright_values(X, y, (3, 3)) == np.float32(0.5))
    assert set(np.unique(X).tolist()) == {0.0, 0.5}


def test_int_image_size_is_square():
    X, y = make_bright_pixel_dataset(300, image_size=3, random_state=0)
    assert X.shape == (300, 9)
    assert y.min() == 0
    assert y.max() == 2


@pytest.mark.parametrize("image_size", [(3, 5), [3, 5], (np.int64(3), np.int64(5))])
def test_non_square_image_size(image_size):
    X, y = make_bright_pixel_dataset(400, image_size=image_size, random_state=0)
    assert X.shape == (400, 15)
    rows, cols = y[:, 0], y[:, 1]
    assert rows.min() == 0
    assert rows.max() == 2  # height 3
    assert cols.min() == 0
    assert cols.max() == 4  # width 5


def test_X_is_flattened_row_major():
    h, w = 3, 5
    X, y = make_bright_pixel_dataset(50, image_size=(h, w), random_state=0)
    np.testing.assert_array_equal(np.argmax(X, axis=1), y[:, 0] * w + y[:, 1])
    np.testing.assert_array_equal(
        np.stack(np.unravel_index(np.argmax(X, axis=1), (h, w)), axis=1), y
    )


def test_one_sample_one_pixel():
    X, y = make_bright_pixel_dataset(1, image_size=1, random_state=0)
    np.testing.assert_array_equal(X, [[255.0]])
    np.testing.assert_array_equal(y, [[0, 0]])


# --------------------------------------------------------------------------
# return_X_y=False: the Bunch
# --------------------------------------------------------------------------


def test_bunch_fields():
    h, w = 3, 4
    bunch = make_bright_pixel_dataset(
        20, image_size=(h, w), noise=2.0, return_X_y=False, random_state=3
    )
    X, y = make_bright_pixel_dataset(20, image_size=(h, w), noise=2.0, random_state=3)
    np.testing.assert_array_equal(bunch.data, X)
    np.testing.assert_array_equal(bunch.target, y)
    assert bunch.data.dtype == np.float32
    assert bunch.images.shape == (20, h, w)
    np.testing.assert_array_equal(bunch.images, X.reshape(20, h, w))
    assert bunch.target_names == ["row", "col"]
    assert bunch.image_shape == (h, w)
    assert bunch.intensity == 255.0
    assert bunch.noise == 2.0
    assert bunch.mask is None
    assert bunch.dtype == np.float32
    assert bunch.random_state == 3
    assert isinstance(bunch.DESCR, str)
    assert "20" in bunch.DESCR
    assert f"{h} x {w}" in bunch.DESCR
    assert "pixel_{row}_{col}" in bunch.DESCR


def test_bunch_images_is_a_view_of_data():
    bunch = make_bright_pixel_dataset(5, image_size=4, return_X_y=False, random_state=0)
    assert np.shares_memory(bunch.images, bunch.data)
    bunch.images[2, 1, 3] = 7.0
    assert bunch.data[2, 1 * 4 + 3] == 7.0


def test_bunch_feature_names_follow_the_flattening():
    h, w = 3, 4
    bunch = make_bright_pixel_dataset(
        30, image_size=(h, w), return_X_y=False, random_state=0
    )
    names = bunch.feature_names
    assert len(names) == bunch.data.shape[1] == h * w
    assert names[:5] == [
        "pixel_0_0",
        "pixel_0_1",
        "pixel_0_2",
        "pixel_0_3",
        "pixel_1_0",
    ]
    assert names[-1] == f"pixel_{h - 1}_{w - 1}"
    for x, (row, col) in zip(bunch.data, bunch.target):
        assert names[int(np.argmax(x))] == f"pixel_{row}_{col}"


def test_bunch_keeps_the_mask():
    mask = np.zeros((3, 3), dtype=bool)
    mask[1, 1] = True
    bunch = make_bright_pixel_dataset(
        4, image_size=3, mask=mask, return_X_y=False, random_state=0
    )
    np.testing.assert_array_equal(bunch.mask, mask)


def test_return_X_y_gives_a_plain_pair():
    # A pair of arrays, not a Bunch.
    result = make_bright_pixel_dataset(3, image_size=2, random_state=0)
    assert isinstance(result, tuple)
    assert len(result) == 2


# --------------------------------------------------------------------------
# mask
# --------------------------------------------------------------------------


def test_positions_only_where_the_mask_is_true():
    rng = np.random.default_rng(0)
    mask = rng.random((6, 7)) < 0.3
    _, y = make_bright_pixel_dataset(500, image_size=(6, 7), mask=mask, random_state=0)
    assert mask[y[:, 0], y[:, 1]].all()
    # and every allowed pixel is used with that many samples
    assert {tuple(p) for p in y} == {tuple(p) for p in np.argwhere(mask)}


def test_held_out_quadrant_never_appears():
    size = 10
    mask = np.ones((size, size), dtype=bool)
    mask[size // 2 :, size // 2 :] = False
    _, y = make_bright_pixel_dataset(3000, image_size=size, mask=mask, random_state=0)
    in_quadrant = (y[:, 0] >= size // 2) & (y[:, 1] >= size // 2)
    assert not in_quadrant.any()
    # The three other quadrants are all used.
    top, left = y[:, 0] < size // 2, y[:, 1] < size // 2
    assert (top & left).any()
    assert (top & ~left).any()
    assert (~top & left).any()


def _chi_square(counts):
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_positions_are_uniform_over_the_mask(random_state):
    mask = np.zeros((4, 4), dtype=bool)
    mask[[0, 0, 1, 2, 3, 3], [0, 3, 2, 1, 0, 3]] = True
    n = 6000
    _, y = make_bright_pixel_dataset(
        n, image_size=4, mask=mask, random_state=random_state
    )
    counts = np.zeros((4, 4), dtype=int)
    np.add.at(counts, (y[:, 0], y[:, 1]), 1)
    assert counts[~mask].sum() == 0
    # chi-square with 5 degrees of freedom: its 99.99 % quantile is 25.7;
    # a position drawn with 20 % more or less weight would give about 40.
    assert _chi_square(counts[mask]) < 25.7


def test_positions_are_uniform_without_mask():
    _, y = make_bright_pixel_dataset(9000, image_size=3, random_state=0)
    counts = np.bincount(y[:, 0] * 3 + y[:, 1], minlength=9)
    # 8 degrees of freedom: 99.99 % quantile 31.8.
    assert _chi_square(counts) < 31.8


def test_mask_as_nested_list():
    mask = [[False, True], [False, False]]
    _, y = make_bright_pixel_dataset(5, image_size=2, mask=mask, random_state=0)
    assert (y == [0, 1]).all()


# --------------------------------------------------------------------------
# noise
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int32])
def test_noisy_values_stay_within_zero_and_intensity(dtype):
    X, _ = make_bright_pixel_dataset(
        200, image_size=6, noise=100.0, dtype=dtype, random_state=0
    )
    assert X.min() == 0
    assert X.max() == 255
    # The noise is not degenerate: many distinct values.
    assert np.unique(X).size > 100


def test_noise_leaves_the_target_in_place():
    kwargs = {"n_samples": 300, "image_size": (5, 6), "random_state": 4}
    X0, y0 = make_bright_pixel_dataset(**kwargs)
    X1, y1 = make_bright_pixel_dataset(noise=40.0, **kwargs)
    np.testing.assert_array_equal(y0, y1)
    assert not np.array_equal(X0, X1)
    # The planted pixel keeps its full intensity: noise never hides it.
    assert np.all(_bright_values(X1, y1, (5, 6)) == 255)


def test_noise_std_is_sigma():
    # The background is 0, so its noise is clipped at 0: half the pixels are 0
    # and the rest is the positive half of N(0, sigma), whose mean square is
    # sigma**2 / 2 over all pixels. A large intensity keeps the clipping at the
    # top away from the background, so the estimate is not biased by it.
    sigma, intensity = 10.0, 1e4
    n, side = 2000, 8
    X, y = make_bright_pixel_dataset(
        n,
        image_size=side,
        intensity=intensity,
        noise=sigma,
        dtype=np.float64,
        random_state=0,
    )
    images = X.reshape(n, side, side)
    bright = images[np.arange(n), y[:, 0], y[:, 1]].copy()
    images[np.arange(n), y[:, 0], y[:, 1]] = np.nan
    background = images[~np.isnan(images)]
    assert background.size == n * (side * side - 1)
    assert background.max() < intensity / 2
    assert np.mean(background == 0) == pytest.approx(0.5, abs=0.01)
    assert np.sqrt(2 * np.mean(background**2)) == pytest.approx(sigma, rel=0.02)
    # The positive part is unclipped N(0, sigma): its mean is sigma*sqrt(2/pi).
    positive = background[background > 0]
    assert positive.mean() == pytest.approx(sigma * np.sqrt(2 / np.pi), rel=0.02)
    assert np.all(bright == intensity)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64])
def test_integer_noise_is_rounded_not_truncated(dtype):
    kwargs = {"n_samples": 100, "image_size": 5, "noise": 3.0, "random_state": 0}
    X_float, y_float = make_bright_pixel_dataset(dtype=np.float64, **kwargs)
    X_int, y_int = make_bright_pixel_dataset(dtype=dtype, **kwargs)
    np.testing.assert_array_equal(y_float, y_int)
    np.testing.assert_array_equal(X_int, np.rint(X_float).astype(dtype))
    # Truncating would give something different on this data.
    assert not np.array_equal(X_int, np.trunc(X_float).astype(dtype))


def test_zero_noise_is_exactly_clean():
    X, _ = make_bright_pixel_dataset(20, image_size=4, noise=0.0, random_state=0)
    assert set(np.unique(X).tolist()) == {0.0, 255.0}


# --------------------------------------------------------------------------
# random_state
# --------------------------------------------------------------------------


def test_int_random_state_is_reproducible():
    a = make_bright_pixel_dataset(50, image_size=5, noise=5.0, random_state=42)
    b = make_bright_pixel_dataset(50, image_size=5, noise=5.0, random_state=42)
    c = make_bright_pixel_dataset(50, image_size=5, noise=5.0, random_state=43)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize(
    "make_rng",
    [np.random.RandomState, np.random.default_rng],
    ids=["RandomState", "Generator"],
)
def test_random_state_instances_are_accepted_and_used(make_rng):
    a = make_bright_pixel_dataset(50, image_size=5, noise=5.0, random_state=make_rng(7))
    b = make_bright_pixel_dataset(50, image_size=5, noise=5.0, random_state=make_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # The instance is drawn from, so a second call on it gives new data.
    rng = make_rng(7)
    first = make_bright_pixel_dataset(50, image_size=5, random_state=rng)
    second = make_bright_pixel_dataset(50, image_size=5, random_state=rng)
    np.testing.assert_array_equal(first[1], a[1])
    assert not np.array_equal(first[1], second[1])


def test_int_random_state_matches_randomstate_of_that_seed():
    a = make_bright_pixel_dataset(30, image_size=5, random_state=5)
    b = make_bright_pixel_dataset(
        30, image_size=5, random_state=np.random.RandomState(5)
    )
    np.testing.assert_array_equal(a[1], b[1])


def test_none_random_state_differs_between_calls():
    _, y1 = make_bright_pixel_dataset(50, image_size=10, random_state=None)
    _, y2 = make_bright_pixel_dataset(50, image_size=10, random_state=None)
    assert not np.array_equal(y1, y2)


@pytest.mark.parametrize(
    "random_state",
    [None, 0, np.random.RandomState(0), np.random.default_rng(0)],
    ids=["None", "int", "RandomState", "Generator"],
)
def test_global_numpy_rng_is_untouched(random_state):
    # The legacy global state is exactly what is watched here.
    np.random.seed(2024)  # noqa: NPY002
    before = np.random.get_state()  # noqa: NPY002
    make_bright_pixel_dataset(20, image_size=4, noise=3.0, random_state=random_state)
    after = np.random.get_state()  # noqa: NPY002
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]


def test_identical_across_processes():
    kwargs = {
        "n_samples": 64,
        "image_size": (7, 9),
        "noise": 20.0,
        "dtype": np.float32,
        "random_state": 11,
    }
    here = _digest(*make_bright_pixel_dataset(**kwargs))
    code = textwrap.dedent(
        """
        import hashlib
        import numpy as np
        from pixel_regressor import iter_bright_pixel_batches, make_bright_pixel_dataset

        X, y = make_bright_pixel_dataset(
            64, image_size=(7, 9), noise=20.0, dtype=np.float32, random_state=11
        )
        print(hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == here


# --------------------------------------------------------------------------
# seeds are a contract: an int gives the data it gave in 0.1.0
# --------------------------------------------------------------------------

# Recorded from the 0.1.0 release; a change here changes users' datasets.
RECORDED_Y = [[1, 1], [0, 0], [0, 3], [2, 3], [0, 3], [1, 3]]
RECORDED_DIGEST = "010f60eed2025d95"
RECORDED_CHUNK_Y = [
    [[2, 1], [2, 3], [0, 0]],
    [[1, 3], [2, 0], [1, 0]],
    [[1, 3]],
]
RECORDED_CHUNK_DIGESTS = ["36099e4cc8109b6c", "8245946add1e5164", "94649dd87bcc066a"]
RECORDED_RANDOMSTATE_CHUNK_Y = [
    [[1, 1], [0, 2], [0, 2]],
    [[1, 0], [1, 1], [2, 0]],
    [[0, 3]],
]
CHUNK_KWARGS = {"batch_size": 3, "image_size": (3, 4), "noise": 10.0}


def test_int_seed_gives_the_recorded_dataset():
    X, y = make_bright_pixel_dataset(6, image_size=(3, 4), noise=10.0, random_state=0)
    assert y.tolist() == RECORDED_Y
    assert _digest(X, y)[:16] == RECORDED_DIGEST


def test_int_seed_draws_positions_from_randomstate_of_that_seed():
    _, y = make_bright_pixel_dataset(50, image_size=(3, 4), random_state=8)
    positions = np.random.RandomState(8).randint(0, 12, size=50)
    np.testing.assert_array_equal(y, np.column_stack(np.divmod(positions, 4)))


def test_int_seed_gives_the_recorded_chunks():
    chunks = list(iter_bright_pixel_batches(7, random_state=0, **CHUNK_KWARGS))
    assert [y.tolist() for _, y in chunks] == RECORDED_CHUNK_Y
    assert [_digest(X, y)[:16] for X, y in chunks] == RECORDED_CHUNK_DIGESTS


def test_chunk_i_is_drawn_from_the_ith_spawned_child():
    children = np.random.SeedSequence(0).spawn(3)
    for i, (X, y) in enumerate(
        iter_bright_pixel_batches(7, random_state=0, **CHUNK_KWARGS)
    ):
        expected = make_bright_pixel_dataset(
            len(y),
            image_size=(3, 4),
            noise=10.0,
            random_state=np.random.default_rng(children[i]),
        )
        np.testing.assert_array_equal(X, expected[0])
        np.testing.assert_array_equal(y, expected[1])


def test_generator_seeded_chunks_are_rooted_at_one_draw_from_it():
    chunks = list(
        iter_bright_pixel_batches(
            7, batch_size=3, image_size=(3, 4), random_state=np.random.RandomState(1)
        )
    )
    assert [y.tolist() for _, y in chunks] == RECORDED_RANDOMSTATE_CHUNK_Y
    root = np.random.SeedSequence(int(np.random.RandomState(1).randint(0, 2**32)))
    children = root.spawn(3)
    for child, (_, y) in zip(children, chunks, strict=True):
        expected = make_bright_pixel_dataset(
            len(y), image_size=(3, 4), random_state=np.random.default_rng(child)
        )
        np.testing.assert_array_equal(y, expected[1])


def test_first_chunk_of_a_huge_stream_comes_at_once():
    # Spawning a seed for every chunk ahead of the first took 6 s and 433 MB
    # for a million chunks; a trillion must not be spawned at all.
    code = textwrap.dedent(
        """
        import time
        from pixel_regressor import iter_bright_pixel_batches

        start = time.perf_counter()
        X, y = next(iter_bright_pixel_batches(
            10**12, batch_size=1, image_size=2, random_state=0))
        print(time.perf_counter() - start, X.shape, y.tolist())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    seconds, shape = out.stdout.split(maxsplit=1)
    assert float(seconds) < 1.0
    first = next(
        iter_bright_pixel_batches(5, batch_size=1, image_size=2, random_state=0)
    )
    assert shape.strip() == f"(1, 4) {first[1].tolist()}"


# --------------------------------------------------------------------------
# memory: the images are allocated once, noise is added in bounded chunks
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_peak_memory_is_close_to_the_output(dtype):
    kwargs = {"n_samples": 1500, "image_size": 50, "noise": 25.0, "dtype": dtype}
    make_bright_pixel_dataset(2, image_size=3, noise=1.0, random_state=0)  # warm up
    tracemalloc.start()
    try:
        X, y = make_bright_pixel_dataset(random_state=0, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert X.nbytes >= 1500 * 2500
    assert peak <= 1.1 * X.nbytes + 2 * 2**20, (peak, X.nbytes)


# --------------------------------------------------------------------------
# parameter validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_samples": -1}, ValueError, "n_samples"),
        ({"n_samples": 2.5}, TypeError, "n_samples"),
        ({"n_samples": True}, TypeError, "n_samples"),
        ({"n_samples": "3"}, TypeError, "n_samples"),
        ({"image_size": 0}, ValueError, "image_size"),
        ({"image_size": -2}, ValueError, "image_size"),
        ({"image_size": (3,)}, TypeError, "image_size"),
        ({"image_size": (3, 4, 5)}, TypeError, "image_size"),
        ({"image_size": (3, 0)}, ValueError, "image_size"),
        ({"image_size": (0, 3)}, ValueError, "image_size"),
        ({"image_size": (3, 2.5)}, TypeError, "image_size"),
        ({"image_size": "a"}, TypeError, "image_size"),
        ({"image_size": 2.0}, TypeError, "image_size"),
        ({"image_size": True}, TypeError, "image_size"),
        ({"intensity": 0}, ValueError, "intensity"),
        ({"intensity": -1}, ValueError, "intensity"),
        ({"intensity": np.inf}, ValueError, "intensity"),
        ({"intensity": np.nan}, ValueError, "intensity"),
        ({"intensity": "255"}, TypeError, "intensity"),
        ({"noise": -1}, ValueError, "noise"),
        ({"noise": np.nan}, ValueError, "noise"),
        ({"noise": np.inf}, ValueError, "noise"),
        ({"noise": None}, TypeError, "noise"),
        ({"dtype": complex}, TypeError, "dtype"),
        ({"dtype": object}, TypeError, "dtype"),
        ({"dtype": str}, TypeError, "dtype"),
        ({"dtype": bool}, TypeError, "dtype"),
        ({"dtype": "not a dtype"}, TypeError, "dtype"),
        ({"intensity": 300, "dtype": np.uint8}, ValueError, "intensity"),
        ({"intensity": 2.5, "dtype": np.int32}, ValueError, "intensity"),
        ({"intensity": 1e6, "dtype": np.float16}, ValueError, "intensity"),
        ({"mask": np.ones((3, 4), dtype=bool)}, ValueError, "mask"),
        ({"mask": np.ones(16, dtype=bool)}, ValueError, "mask"),
        ({"mask": np.zeros((4, 4), dtype=bool)}, ValueError, "mask"),
        ({"mask": np.ones((4, 4), dtype=int)}, TypeError, "mask"),
        ({"mask": np.ones((4, 4), dtype=float)}, TypeError, "mask"),
        ({"random_state": "0"}, TypeError, "random_state"),
        ({"random_state": 1.5}, TypeError, "random_state"),
        ({"random_state": True}, TypeError, "random_state"),
        ({"random_state": -1}, ValueError, "random_state"),
        ({"random_state": 2**32}, ValueError, "random_state"),
        ({"return_X_y": "yes"}, TypeError, "return_X_y"),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
def test_bad_parameters_raise_naming_the_parameter(kwargs, error, match):
    params = {"n_samples": 3, "image_size": 4, "random_state": 0}
    params.update(kwargs)
    with pytest.raises(error, match=match):
        make_bright_pixel_dataset(**params)


def test_n_samples_is_positional_and_the_rest_keyword_only():
    X, _ = make_bright_pixel_dataset(2, image_size=2, random_state=0)
    assert X.shape == (2, 4)
    with pytest.raises(TypeError):
        make_bright_pixel_dataset(2, 2)


def test_an_int_intensity_is_stored_exactly_or_refused():
    X, _ = make_bright_pixel_dataset(
        2, image_size=3, intensity=2**63 - 1, dtype=np.int64, random_state=0
    )
    assert X.max() == 2**63 - 1
    with pytest.raises(ValueError, match="cannot be held exactly by dtype 'float64'"):
        make_bright_pixel_dataset(2, intensity=2**53 + 1, dtype=np.float64)
    X, _ = make_bright_pixel_dataset(2, image_size=3, intensity=2**53, dtype="f8")
    assert X.max() == 2**53


def test_an_intensity_that_underflows_the_dtype_is_refused():
    with pytest.raises(ValueError, match="stored as 0"):
        make_bright_pixel_dataset(2, intensity=1e-8, dtype=np.float16)
    X, _ = make_bright_pixel_dataset(2, image_size=3, intensity=1e-3, dtype="f2")
    assert (X.max(axis=1) > 0).all()


# --------------------------------------------------------------------------
# make_spot_frames: simulated movies with their ground truth
# --------------------------------------------------------------------------

TRUTH_COLUMNS = ["frame", "row", "col", "photons", "psf_sigma", "background"]


def test_spot_frames_shapes_dtypes_and_truth_columns():
    frames, truth = make_spot_frames(
        7, shape=(17, 23), density=6, dtype=np.uint16, random_state=0
    )
    assert frames.shape == (7, 17, 23)
    assert frames.dtype == np.uint16
    assert list(truth.columns) == TRUTH_COLUMNS
    assert truth["frame"].dtype == np.int64
    assert all(truth[name].dtype == np.float64 for name in TRUTH_COLUMNS[1:])
    assert truth["frame"].is_monotonic_increasing
    assert truth["frame"].between(0, 6).all()
    assert list(truth.index) == list(range(len(truth)))


def test_spot_frames_square_shape_from_an_int():
    frames, _ = make_spot_frames(2, shape=9, random_state=0)
    assert frames.shape == (2, 9, 9)


def test_spot_frames_density_is_spots_per_32x32_area():
    # 4 spots per 32 x 32 area of a 32 x 64 frame: 8 per frame, Poisson.
    spots = make_spot_frames(
        500, shape=(32, 64), density=4, return_X_y=False, random_state=0
    )
    n_spots = spots.n_spots
    assert n_spots.shape == (500,)
    assert n_spots.sum() == len(spots.truth)
    # 4000 spots expected, standard deviation sqrt(4000) = 63.
    assert abs(n_spots.sum() - 4000) < 4 * 63
    # Poisson: the variance is the mean (0.88-1.12 holds with 99 % odds).
    assert 0.85 < n_spots.var() / n_spots.mean() < 1.15
    assert np.array_equal(np.bincount(spots.truth["frame"], minlength=500), n_spots)


def test_spot_frames_place_spots_over_the_whole_frame_edges_included():
    _, truth = make_spot_frames(
        200, shape=(10, 20), density=40, psf_sigma=1.5, random_state=0
    )
    rows, cols = truth["row"].to_numpy(), truth["col"].to_numpy()
    # Uniform over [-0.5, 9.5] x [-0.5, 19.5], the pixels' outer edges.
    assert rows.min() >= -0.5 and rows.max() <= 9.5
    assert cols.min() >= -0.5 and cols.max() <= 19.5
    assert rows.min() < -0.45 and rows.max() > 9.45
    assert cols.min() < -0.45 and cols.max() > 19.45
    # The outer half pixel of each side holds 1/10 of the rows (1/20 of the
    # columns): no margin keeps spots off the edges.
    edge_rows = np.mean((rows < 0) | (rows > 9))
    edge_cols = np.mean((cols < 0) | (cols > 19))
    assert abs(edge_rows - 0.1) < 0.01
    assert abs(edge_cols - 0.05) < 0.01


def test_render_spots_is_the_sum_of_each_spots_full_frame_psf():
    from pixel_regressor._psf import expected_counts
    from pixel_regressor.datasets import _render_spots

    # Overlapping spots, spots on the edges and corners, in two frames.
    positions = np.array(
        [[3.2, 4.7], [3.9, 5.1], [-0.5, 0.2], [11.49, 8.5], [0.0, -0.49], [6, 6]]
    )
    frame = np.array([0, 0, 0, 1, 1, 1])
    sigmas = np.array([1.0, 1.6, 1.3, 1.2, 0.7, 2.0])
    photons = np.array([500.0, 1200.0, 300.0, 800.0, 100.0, 50.0])
    rendered = _render_spots((12, 9), frame, positions, sigmas, photons, 2, 10)
    expected = np.zeros((2, 12, 9))
    for i in range(len(frame)):
        expected[frame[i]] += expected_counts(
            (12, 9), positions[i : i + 1], sigmas[i], photons[i], 0.0
        )[0]
    np.testing.assert_allclose(
        rendered.reshape(2, 12, 9), expected, rtol=0, atol=1e-6 * photons.max()
    )


def test_spot_frames_follow_poisson_noise_around_the_truths_image():
    from pixel_regressor._psf import expected_counts

    kwargs = {
        "shape": (16, 24),
        "density": 10,
        "photons": (200, 2000),
        "background": (2, 20),
        "psf_sigma": (1.0, 1.6),
        "random_state": 1,
    }
    frames, truth = make_spot_frames(40, **kwargs)
    mu = np.empty(frames.shape)
    for index in range(len(frames)):
        spots = truth[truth["frame"] == index]
        assert spots["background"].nunique() <= 1  # one background per frame
        mu[index] = 0.0
        for spot in spots.itertuples():
            mu[index] += expected_counts(
                (16, 24), [[spot.row, spot.col]], spot.psf_sigma, spot.photons, 0.0
            )[0]
    backgrounds = make_spot_frames(40, return_X_y=False, **kwargs).background
    mu += backgrounds[:, None, None]
    residual = frames - mu
    # The total: within 4 standard deviations of the Poisson sum.
    assert abs(residual.sum()) < 4 * np.sqrt(mu.sum())
    # Pixel by pixel, the chi-square per pixel is 1 (15,360 pixels: 1 +- 0.05);
    # a spot drawn away from its truth would push it far above.
    assert 0.95 < np.mean(residual**2 / mu) < 1.05


def test_spot_frames_ranges_are_drawn_per_spot_and_per_frame():
    spots = make_spot_frames(
        50,
        shape=32,
        density=8,
        photons=(300, 3000),
        background=(10, 50),
        psf_sigma=(1.0, 1.6),
        return_X_y=False,
        random_state=0,
    )
    truth = spots.truth
    assert truth["photons"].between(300, 3000).all()
    assert truth["psf_sigma"].between(1.0, 1.6).all()
    assert truth["photons"].nunique() == len(truth)
    assert truth["psf_sigma"].nunique() == len(truth)
    # Photons log-uniform: the median near sqrt(300 * 3000) = 949.
    assert 850 < truth["photons"].median() < 1050
    # One background per frame, the frame's, log-uniform in [10, 50].
    assert (truth.groupby("frame")["background"].nunique() == 1).all()
    frame_background = spots.background[truth["frame"]]
    np.testing.assert_array_equal(truth["background"], frame_background)
    assert np.all((spots.background >= 10) & (spots.background <= 50))
    assert len(np.unique(spots.background)) == 50


def test_spot_frames_camera_model_is_make_bright_spot_datasets():
    # No spot: every pixel is offset + gain * em_gain * background on average.
    camera = {"gain": 0.5, "offset": 100, "em_gain": 10, "read_noise": 3}
    frames, truth = make_spot_frames(
        200, shape=16, density=0, background=20, random_state=0, **camera
    )
    assert truth.empty and list(truth.columns) == TRUTH_COLUMNS
    assert abs(frames.mean() - (100 + 0.5 * 10 * 20)) < 0.2
    # Variance: gain^2 (2 em_gain^2 background + read_noise^2) = 1002.25.
    assert abs(frames.var() / (0.25 * (2 * 100 * 20 + 9)) - 1) < 0.03


def test_spot_frames_saturate_an_integer_camera():
    frames, _ = make_spot_frames(
        3, shape=16, density=20, photons=1e5, dtype=np.uint8, random_state=0
    )
    assert frames.dtype == np.uint8
    assert frames.max() == 255


def test_spot_frames_with_no_spot_in_a_frame():
    spots = make_spot_frames(
        50, shape=8, density=2, background=5, return_X_y=False, random_state=0
    )
    # 2 * 64 / 1024 = 0.125 spots per frame: most frames hold none.
    assert (spots.n_spots == 0).sum() > 35
    assert set(spots.truth["frame"]) == set(np.flatnonzero(spots.n_spots))


def test_spot_frames_are_reproducible_from_an_int():
    first = make_spot_frames(5, shape=20, photons=(100, 1000), random_state=3)
    second = make_spot_frames(5, shape=20, photons=(100, 1000), random_state=3)
    other = make_spot_frames(5, shape=20, photons=(100, 1000), random_state=4)
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1].equals(second[1])
    assert not np.array_equal(first[0], other[0])


def test_spot_frames_leave_the_global_rng_alone():
    # The legacy global state is exactly what is watched here.
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    make_spot_frames(2, shape=8, random_state=None)
    make_spot_frames(2, shape=8, random_state=np.random.RandomState(0))
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_frames": 0}, ValueError, "n_frames"),
        ({"shape": (0, 5)}, ValueError, "shape"),
        ({"density": -1}, ValueError, "density"),
        ({"density": "dense"}, TypeError, "density"),
        ({"photons": (100, 10)}, ValueError, "photons"),
        ({"photons": 0}, ValueError, "photons"),
        ({"background": (0, 10)}, ValueError, "background"),
        ({"psf_sigma": -1}, ValueError, "psf_sigma"),
        ({"read_noise": -1}, ValueError, "read_noise"),
        ({"em_gain": 0.5}, ValueError, "em_gain"),
        ({"gain": 0}, ValueError, "gain"),
        ({"dtype": "U4"}, TypeError, "dtype"),
        ({"return_X_y": "yes"}, TypeError, "return_X_y"),
    ],
)
def test_spot_frames_bad_parameters_raise_naming_the_parameter(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_spot_frames(**{"n_frames": 2, "shape": 8, **kwargs})


def test_spot_frames_n_frames_is_positional_and_the_rest_keyword_only():
    params = inspect.signature(make_spot_frames).parameters
    kinds = {name: p.kind for name, p in params.items()}
    assert kinds.pop("n_frames") == inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert set(kinds.values()) == {inspect.Parameter.KEYWORD_ONLY}


# --------------------------------------------------------------------------
# make_bright_spot_dataset and adu_to_photons: values beyond what can be drawn
# or stored are refused, naming the parameters


def _spots(**params):
    from pixel_regressor import make_bright_spot_dataset

    return make_bright_spot_dataset(
        3, **{"image_size": 12, "random_state": 0, **params}
    )


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"photons": 1e300}, r"photons=1e\+300"),
        ({"photons": (100, 1e300)}, r"photons=1e\+300"),
        ({"background": 1e300}, r"background=1e\+300"),
        ({"photons": 6e17, "background": 6e17}, r"photons \+ background"),
    ],
)
def test_spot_counts_beyond_poisson_sampling_are_refused(params, match):
    with pytest.raises(ValueError, match=match):
        _spots(**params)


def test_spot_counts_up_to_the_limit_are_drawn():
    X, _ = _spots(photons=1e17, background=1e3, dtype=np.float64)
    # The spot's photons, all but those beyond the image's edges.
    assert 0.9e17 < X.sum(axis=1).min() < 1.01e17


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"gain": 1e300}, r"gain=1e\+300"),
        ({"offset": 1e300}, r"offset=1e\+300"),
        ({"em_gain": 1e300}, r"em_gain=1e\+300"),
        ({"read_noise": 1e300}, r"read_noise=1e\+300"),
        ({"gain": 1e32, "photons": 1e7}, r"photons=1e\+07.*gain=1e\+32"),
    ],
)
def test_spot_values_beyond_the_float_dtype_are_refused(params, match):
    with pytest.raises(ValueError, match=match) as error:
        _spots(**params)
    assert "float32" in str(error.value)


def test_spot_values_are_checked_against_the_dtype_asked_for():
    # 1e39 ADU overflows float32, not float64; 1e37 fits both.
    X, _ = _spots(gain=1e32, photons=1e7, dtype=np.float64)
    assert np.isfinite(X).all() and X.max() > 1e37
    X, _ = _spots(gain=1e32, photons=1e3)
    assert np.isfinite(X).all() and X.max() > 1e33


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"gain": 1e300}, r"gain=1e\+300"),
        ({"offset": 1e300}, r"offset=1e\+300"),
        ({"em_gain": 1e300}, r"em_gain=1e\+300"),
        ({"read_noise": 1e300}, r"read_noise=1e\+300"),
        ({"offset": 70_000}, r"offset=70000.*uint16"),
    ],
)
def test_spot_values_that_saturate_every_pixel_are_refused(params, match):
    with pytest.raises(ValueError, match=match):
        _spots(dtype=np.uint16, **params)


def test_a_saturating_spot_in_an_integer_dtype_is_still_drawn():
    # Clipping the spot's peak is the camera's saturation, not an error.
    X, _ = _spots(image_size=32, photons=1e6, dtype=np.uint16)
    assert X.max() == 65535
    assert np.median(X) < 100


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"gain": 1e300}, r"gain \* em_gain"),
        ({"em_gain": 1e300}, r"gain \* em_gain"),
        ({"gain": 1e200, "em_gain": 1e200}, r"gain \* em_gain"),
        ({"gain": 1e-44}, r"gain \* em_gain"),
    ],
)
def test_adu_to_photons_refuses_gains_that_lose_the_values(params, match):
    from pixel_regressor import adu_to_photons

    X = np.full((2, 3), 1000, dtype=np.uint16)
    with pytest.raises(ValueError, match=match):
        adu_to_photons(X, **params)


def test_adu_to_photons_takes_a_large_gain_its_dtype_can_hold():
    from pixel_regressor import adu_to_photons

    photons = adu_to_photons(np.full(3, 2e300), gain=1e300)
    np.testing.assert_allclose(photons, 2.0)
    photons = adu_to_photons(np.full(3, 2e30, dtype=np.float32), gain=1e30)
    np.testing.assert_allclose(photons, 2.0, rtol=1e-6)
