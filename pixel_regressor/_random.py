"""The package's one way of turning ``random_state`` into random numbers.

Every public ``random_state`` parameter (generators, streams, plots, the
estimator, the model builders) goes through this module, NumPy only:

- :func:`check_random_state` turns None, an int, a ``RandomState`` or a
  ``Generator`` into a generator, never the global one;
- :func:`integers` draws integers from either generator API;
- :func:`derive_seed` draws one int seed (for Keras, or a sub-generator);
- :func:`as_generator` gives a ``numpy.random.Generator`` where its faster
  draws matter (Poisson counts, permutations);
- :func:`seed_sequence` and :func:`chunk_generator` give chunk ``i`` of a
  stream its own generator, derived on demand, so chunk ``i`` is the same
  however many chunks come before it and nothing is drawn ahead.

An int always gives the same numbers: ``RandomState(int)`` for one-shot draws
and ``SeedSequence(int)`` children for streams, as in the 0.1.0 release.
"""

import numbers

import numpy as np

__all__ = [
    "as_generator",
    "check_random_state",
    "chunk_generator",
    "derive_seed",
    "integers",
    "seed_sequence",
]

# Seeds handed to Keras and to sub-generators: non-negative int32.
_SEED_HIGH = np.iinfo(np.int32).max


def check_random_state(random_state):
    """Return a NumPy random generator for ``random_state``, never the global one.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState, numpy.random.Generator or None
        None gives a freshly seeded ``Generator``; an int in ``[0, 2**32 - 1]``
        a ``RandomState`` seeded with it; a generator is returned as is.

    Returns
    -------
    generator : numpy.random.RandomState or numpy.random.Generator

    Examples
    --------
    >>> from pixel_regressor._random import check_random_state
    >>> check_random_state(0).randint(10, size=3)
    array([5, 0, 3])
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        if not 0 <= random_state <= 2**32 - 1:
            raise ValueError(
                "random_state must be an int in [0, 2**32 - 1], a RandomState, a "
                f"Generator or None, got {random_state!r}."
            )
        return np.random.RandomState(int(random_state))
    raise TypeError(
        "random_state must be None, an int, a numpy.random.RandomState or a "
        f"numpy.random.Generator, got {type(random_state).__name__}."
    )


def integers(generator, high, size=None):
    """Integers in ``[0, high)`` from a ``RandomState`` or a ``Generator``."""
    if isinstance(generator, np.random.Generator):
        return generator.integers(0, high, size=size)
    return generator.randint(0, high, size=size)


def derive_seed(random_state):
    """One int seed in ``[0, 2**31 - 1)`` drawn from ``random_state``.

    None stays None (unseeded); an int gives the same seed every time; a
    generator is advanced by one draw.

    Examples
    --------
    >>> from pixel_regressor._random import derive_seed
    >>> derive_seed(0) == derive_seed(0), derive_seed(None)
    (True, None)
    """
    if random_state is None:
        return None
    return int(integers(check_random_state(random_state), _SEED_HIGH))


def as_generator(random_state):
    """A :class:`numpy.random.Generator` for ``random_state``.

    A ``Generator`` is returned as is and a ``SeedSequence`` seeds one; any
    other value goes through :func:`check_random_state`, and a ``RandomState``
    (an int) seeds a ``Generator`` with one draw, so an int always gives the
    same numbers.

    Examples
    --------
    >>> from pixel_regressor._random import as_generator
    >>> bool((as_generator(3).random(2) == as_generator(3).random(2)).all())
    True
    """
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    generator = check_random_state(random_state)
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(int(integers(generator, 2**32)))


def seed_sequence(random_state):
    """The root :class:`numpy.random.SeedSequence` of a chunked stream.

    An int is the sequence's entropy; a generator is advanced by one draw to
    make it; None gives fresh entropy.
    """
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return np.random.SeedSequence(int(integers(random_state, 2**32)))
    check_random_state(random_state)  # the same validation and messages
    return np.random.SeedSequence(int(random_state))


def chunk_generator(root, index):
    """The generator of chunk ``index`` of the stream rooted at ``root``.

    Equal to ``numpy.random.default_rng(root.spawn(index + 1)[index])`` for a
    fresh ``root``, computed without spawning the chunks before it.

    Parameters
    ----------
    root : numpy.random.SeedSequence or int
        The stream's root sequence, or the int entropy of one.
    index : int
        The chunk's position in the stream.

    Returns
    -------
    generator : numpy.random.Generator
    """
    entropy = root.entropy if isinstance(root, np.random.SeedSequence) else root
    return np.random.default_rng(
        np.random.SeedSequence(entropy, spawn_key=(int(index),))
    )
