"""Tests of :mod:`pixel_regressor._random`, the one way to turn ``random_state``
into random numbers."""

import numpy as np
import pytest

from pixel_regressor._random import (
    check_random_state,
    chunk_generator,
    derive_seed,
    integers,
    seed_sequence,
)

GENERATOR_MAKERS = pytest.mark.parametrize(
    "make_rng",
    [np.random.RandomState, np.random.default_rng],
    ids=["RandomState", "Generator"],
)

BAD_VALUES = pytest.mark.parametrize(
    ("random_state", "error", "match"),
    [
        (-1, ValueError, r"must be an int in \[0, 2\*\*32 - 1\].*got -1\."),
        (2**32, ValueError, r"must be an int in \[0, 2\*\*32 - 1\].*got 4294967296"),
        ("0", TypeError, r"must be None, an int, .*got str\."),
        (1.5, TypeError, r"must be None, an int, .*got float\."),
        (True, TypeError, r"must be None, an int, .*got bool\."),
        (np.random.SeedSequence(0), TypeError, r"must be None, .*got SeedSequence\."),
    ],
    ids=["negative", "too-large", "str", "float", "bool", "SeedSequence"],
)


# ---------------------------------------------------------------------------
# check_random_state
# ---------------------------------------------------------------------------


def test_check_random_state_int_is_randomstate_of_that_seed():
    generator = check_random_state(42)
    assert isinstance(generator, np.random.RandomState)
    np.testing.assert_array_equal(
        generator.randint(100, size=5), np.random.RandomState(42).randint(100, size=5)
    )
    np.testing.assert_array_equal(
        check_random_state(np.int64(42)).random_sample(3),
        np.random.RandomState(42).random_sample(3),
    )


def test_check_random_state_int_bounds_are_accepted():
    assert isinstance(check_random_state(0), np.random.RandomState)
    assert isinstance(check_random_state(2**32 - 1), np.random.RandomState)


@GENERATOR_MAKERS
def test_check_random_state_returns_a_generator_as_is(make_rng):
    rng = make_rng(0)
    assert check_random_state(rng) is rng


def test_check_random_state_none_is_fresh_and_not_the_global_state():
    first, second = check_random_state(None), check_random_state(None)
    assert isinstance(first, np.random.Generator)
    assert first is not second
    assert not np.array_equal(first.random(8), second.random(8))


@BAD_VALUES
def test_check_random_state_messages(random_state, error, match):
    with pytest.raises(error, match="random_state " + match):
        check_random_state(random_state)


# ---------------------------------------------------------------------------
# integers
# ---------------------------------------------------------------------------


@GENERATOR_MAKERS
def test_integers_draws_in_range_from_either_api(make_rng):
    values = integers(make_rng(0), 7, size=1000)
    assert values.shape == (1000,)
    assert values.min() == 0
    assert values.max() == 6


def test_integers_is_each_apis_own_draw():
    np.testing.assert_array_equal(
        integers(np.random.RandomState(3), 10, size=4),
        np.random.RandomState(3).randint(0, 10, size=4),
    )
    np.testing.assert_array_equal(
        integers(np.random.default_rng(3), 10, size=4),
        np.random.default_rng(3).integers(0, 10, size=4),
    )


def test_integers_without_size_is_a_scalar():
    assert np.ndim(integers(np.random.RandomState(0), 10)) == 0


# ---------------------------------------------------------------------------
# derive_seed
# ---------------------------------------------------------------------------


def test_derive_seed_int_is_reproducible_and_a_non_negative_int32():
    seed = derive_seed(0)
    assert type(seed) is int
    assert seed == derive_seed(0)
    assert seed == np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    assert 0 <= seed < np.iinfo(np.int32).max
    assert derive_seed(1) != seed


def test_derive_seed_none_stays_unseeded():
    assert derive_seed(None) is None


@GENERATOR_MAKERS
def test_derive_seed_advances_a_generator(make_rng):
    rng = make_rng(5)
    first, second = derive_seed(rng), derive_seed(rng)
    assert first != second
    assert first == derive_seed(make_rng(5))


@BAD_VALUES
def test_derive_seed_messages(random_state, error, match):
    with pytest.raises(error, match="random_state " + match):
        derive_seed(random_state)


# ---------------------------------------------------------------------------
# seed_sequence and chunk_generator
# ---------------------------------------------------------------------------


def test_seed_sequence_int_is_its_entropy():
    root = seed_sequence(7)
    assert isinstance(root, np.random.SeedSequence)
    assert root.entropy == 7
    assert root.spawn_key == ()


@GENERATOR_MAKERS
def test_seed_sequence_advances_a_generator_by_one_draw(make_rng):
    rng = make_rng(2)
    first, second = seed_sequence(rng), seed_sequence(rng)
    assert first.entropy != second.entropy
    assert first.entropy == integers(make_rng(2), 2**32)
    expected = make_rng(2)
    integers(expected, 2**32)
    integers(expected, 2**32)
    assert integers(rng, 2**32) == integers(expected, 2**32)


def test_seed_sequence_none_is_fresh():
    assert seed_sequence(None).entropy != seed_sequence(None).entropy


@BAD_VALUES
def test_seed_sequence_messages(random_state, error, match):
    with pytest.raises(error, match="random_state " + match):
        seed_sequence(random_state)


@pytest.mark.parametrize("entropy", [0, 12345, 2**32 - 1])
def test_chunk_generator_equals_the_spawned_children(entropy):
    children = np.random.SeedSequence(entropy).spawn(6)
    for index, child in enumerate(children):
        expected = np.random.default_rng(child).random(4)
        root = np.random.SeedSequence(entropy)
        np.testing.assert_array_equal(chunk_generator(root, index).random(4), expected)
        np.testing.assert_array_equal(
            chunk_generator(entropy, index).random(4), expected
        )


def test_chunk_generator_of_a_generator_seeded_root_equals_its_children():
    root = seed_sequence(np.random.RandomState(1))
    children = np.random.SeedSequence(root.entropy).spawn(3)
    for index, child in enumerate(children):
        np.testing.assert_array_equal(
            chunk_generator(root, index).integers(0, 100, size=5),
            np.random.default_rng(child).integers(0, 100, size=5),
        )


def test_chunk_generator_spawns_nothing_and_reaches_far_chunks():
    root = np.random.SeedSequence(0)
    far = chunk_generator(root, 10**12)
    assert isinstance(far, np.random.Generator)
    assert root.n_children_spawned == 0
    assert not np.array_equal(far.random(3), chunk_generator(root, 0).random(3))


def test_chunk_generator_gives_the_same_chunk_every_time():
    a = chunk_generator(3, 2).random(5)
    b = chunk_generator(3, 2).random(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, chunk_generator(3, 1).random(5))


def test_as_generator_gives_a_generator_the_same_for_an_int():
    from pixel_regressor._random import as_generator

    first, again = as_generator(5), as_generator(5)
    assert isinstance(first, np.random.Generator)
    np.testing.assert_array_equal(first.random(3), again.random(3))
    generator = np.random.default_rng(1)
    assert as_generator(generator) is generator
    sequence = np.random.SeedSequence(9)
    np.testing.assert_array_equal(
        as_generator(sequence).random(2), np.random.default_rng(sequence).random(2)
    )
    assert isinstance(as_generator(None), np.random.Generator)
    with pytest.raises(TypeError, match="random_state must be None"):
        as_generator("seed")
