"""Synthetic bright-pixel images, generated in the style of :mod:`sklearn.datasets`.

This module imports NumPy only (scikit-learn's ``Bunch`` is imported when a
``Bunch`` is asked for), so generating data never pays for TensorFlow.
"""

import numbers

import numpy as np

from ._random import check_random_state, chunk_generator, integers, seed_sequence
from ._validation import check_image_shape

__all__ = ["iter_bright_pixel_batches", "make_bright_pixel_dataset"]

# Noise is drawn and added this many values at a time, so that the peak memory
# of a call stays close to the size of the array it returns: each chunk needs
# two float64 temporaries, 1 MiB in all. Smaller chunks cost no speed here.
_NOISE_CHUNK = 1 << 16

_DESCR = """\
.. _bright_pixel_dataset:

Synthetic bright-pixel dataset
------------------------------

**Data Set Characteristics:**

:Number of Instances: {n_samples}
:Number of Attributes: {n_features} ({height} x {width} image of pixel values)
:Attribute Information: pixel_{{row}}_{{col}}, the value of one pixel, row-major
:Target: (row, col), the integer position of the bright pixel
:Intensity: {intensity} at the bright pixel, 0 elsewhere (before noise)
:Noise: Gaussian, standard deviation {noise}, added to the background and clipped
        to [0, {intensity}]

Each image holds exactly one pixel at full intensity; every other pixel is
zero. The target ``(row, col)`` is such that ``images[i, row, col]`` is the
bright pixel (``row`` counts from the top, ``col`` from the left). This is the
synthetic task of the CoordConv paper's "supervised coordinate regression"
(Liu et al., 2018), generated reproducibly from ``random_state``.
"""


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}."
        )
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _check_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return value


def _check_dtype(dtype, intensity):
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be a NumPy float or integer type: {exc}") from None
    if dtype.kind not in "fiu":
        raise TypeError(
            f"dtype must be a NumPy float or integer type, got {dtype.name!r}."
        )
    if dtype.kind == "f":
        # Compare rather than cast: casting an overflowing value warns.
        if intensity > float(np.finfo(dtype).max):
            raise ValueError(
                f"intensity={intensity!r} does not fit in dtype {dtype.name!r}."
            )
    else:
        info = np.iinfo(dtype)
        if intensity != int(intensity) or not info.min <= intensity <= info.max:
            raise ValueError(
                f"intensity={intensity!r} cannot be held exactly by the integer "
                f"dtype {dtype.name!r} (range {info.min}..{info.max}); choose "
                "another intensity or a float dtype."
            )
    return dtype


def _check_mask(mask, height, width):
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"mask must be a boolean array, got dtype {mask.dtype}.")
    if mask.shape != (height, width):
        raise ValueError(
            f"mask must have the image's shape (height, width) = {(height, width)}, "
            f"got {mask.shape}."
        )
    if not mask.any():
        raise ValueError("mask has no True pixel: there is nowhere to put one.")
    return mask


def _add_noise(flat, noise, intensity, generator):
    """Add clipped Gaussian noise to ``flat`` in place, a chunk at a time."""
    is_int = flat.dtype.kind in "iu"
    for start in range(0, flat.size, _NOISE_CHUNK):
        chunk = flat[start : start + _NOISE_CHUNK]
        noisy = chunk + generator.normal(0.0, noise, size=chunk.size)
        np.clip(noisy, 0.0, intensity, out=noisy)
        if is_int:
            np.rint(noisy, out=noisy)
        chunk[...] = noisy


def make_bright_pixel_dataset(
    n_samples=15000,
    *,
    image_size=50,
    intensity=255.0,
    noise=0.0,
    mask=None,
    dtype=np.float32,
    return_X_y=True,
    random_state=None,
):
    """Generate grayscale images that each hold one bright pixel.

    Every image is black (0) except for one pixel at ``intensity``; the target
    is that pixel's ``(row, col)`` position. Images are returned flattened
    row-major to ``(n_samples, height * width)``, scikit-learn's 2-D contract,
    as :func:`sklearn.datasets.load_digits` does.

    Parameters
    ----------
    n_samples : int, default=15000
        Number of images.

    image_size : int or tuple of (int, int), default=50
        Image size: an int for square images, or ``(height, width)``.

    intensity : float, default=255.0
        Value of the bright pixel. Must be positive, finite and representable
        by ``dtype``.

    noise : float, default=0.0
        Standard deviation of additive Gaussian noise, in intensity units, added
        to the background. Noisy values are clipped to the value range
        ``[0, intensity]`` (and rounded for an integer ``dtype``): a pixel
        never goes negative nor above ``intensity``. The planted pixel keeps
        its full ``intensity`` and stays the target; with strong noise a few
        background pixels can reach ``intensity`` too (at ``noise=50`` on the
        0-255 scale, about one image in 2500 holds such a tie).

    mask : ndarray of shape (height, width) of bool, default=None
        Where the bright pixel may be drawn: positions are uniform over the
        True pixels. ``None`` allows every pixel. Use it to hold out a region,
        for example a quadrant.

    dtype : numpy dtype, default=numpy.float32
        Float or integer type of the images. The images are allocated once, in
        this type.

    return_X_y : bool, default=True
        If True, return ``(X, y)``. If False, return a
        :class:`~sklearn.utils.Bunch` like :func:`sklearn.datasets.load_digits`.

    random_state : int, RandomState instance, Generator instance or None, \
            default=None
        Determines the positions and the noise. Pass an int for reproducible
        output across calls and processes. The global NumPy random state is
        never used.

    Returns
    -------
    X : ndarray of shape (n_samples, height * width)
        The flattened images. Returned when ``return_X_y`` is True.

    y : ndarray of shape (n_samples, 2) of int
        ``(row, col)`` of each image's bright pixel. Returned when
        ``return_X_y`` is True.

    data : :class:`~sklearn.utils.Bunch`
        Returned when ``return_X_y`` is False, with the fields

        data : ndarray of shape (n_samples, height * width)
            The flattened images.
        images : ndarray of shape (n_samples, height, width)
            The same images as a view of ``data`` (no copy).
        target : ndarray of shape (n_samples, 2) of int
            ``(row, col)`` of each bright pixel.
        feature_names : list of str
            ``pixel_{row}_{col}`` for every feature of ``data``.
        target_names : list of str
            ``["row", "col"]``.
        DESCR : str
            A description of the dataset.
        image_shape : tuple of (int, int)
            ``(height, width)``.
        intensity, noise, mask, dtype, random_state
            The parameters used.

    See Also
    --------
    sklearn.datasets.load_digits : A real image dataset with the same layout.
    BrightPixelRegressor : The estimator that learns to find the pixel.

    Examples
    --------
    >>> from pixel_regressor import make_bright_pixel_dataset
    >>> X, y = make_bright_pixel_dataset(3, image_size=4, random_state=0)
    >>> X.shape, X.dtype, y.shape
    ((3, 16), dtype('float32'), (3, 2))
    >>> row, col = y[0]
    >>> X[0].reshape(4, 4)[row, col]
    np.float32(255.0)
    >>> int((X > 0).sum())
    3

    With ``return_X_y=False`` the images come as a Bunch, with a 3-D view:

    >>> digits_like = make_bright_pixel_dataset(
    ...     2, image_size=(2, 3), return_X_y=False, random_state=0
    ... )
    >>> digits_like.images.shape, digits_like.feature_names[:3]
    ((2, 2, 3), ['pixel_0_0', 'pixel_0_1', 'pixel_0_2'])
    """
    n_samples = _check_int(n_samples, "n_samples")
    height, width = check_image_shape(image_size, "image_size", allow_int=True)
    intensity = _check_real(intensity, "intensity")
    if intensity <= 0:
        raise ValueError(f"intensity must be > 0, got {intensity!r}.")
    noise = _check_real(noise, "noise")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    dtype = _check_dtype(dtype, intensity)
    mask = _check_mask(mask, height, width)
    if not isinstance(return_X_y, (bool, np.bool_)):
        raise TypeError(f"return_X_y must be a bool, got {return_X_y!r}.")
    generator = check_random_state(random_state)

    n_pixels = height * width
    if mask is None:
        flat_positions = integers(generator, n_pixels, n_samples)
    else:
        allowed = np.flatnonzero(mask.ravel())
        flat_positions = allowed[integers(generator, allowed.size, n_samples)]
    flat_positions = flat_positions.astype(np.intp, copy=False)

    X = np.zeros((n_samples, n_pixels), dtype=dtype)
    X[np.arange(n_samples), flat_positions] = intensity
    if noise > 0:
        _add_noise(X.reshape(-1), noise, intensity, generator)
        # The planted pixel keeps its full intensity: noise never hides it.
        X[np.arange(n_samples), flat_positions] = intensity

    y = np.empty((n_samples, 2), dtype=np.intp)
    np.divmod(flat_positions, width, out=(y[:, 0], y[:, 1]))

    if return_X_y:
        return X, y

    from sklearn.utils import Bunch

    return Bunch(
        data=X,
        images=X.reshape(n_samples, height, width),
        target=y,
        feature_names=[f"pixel_{r}_{c}" for r in range(height) for c in range(width)],
        target_names=["row", "col"],
        DESCR=_DESCR.format(
            n_samples=n_samples,
            n_features=n_pixels,
            height=height,
            width=width,
            intensity=intensity,
            noise=noise,
        ),
        image_shape=(height, width),
        intensity=intensity,
        noise=noise,
        mask=mask,
        dtype=dtype,
        random_state=random_state,
    )


def iter_bright_pixel_batches(
    n_samples,
    *,
    batch_size=10_000,
    image_size=50,
    intensity=255.0,
    noise=0.0,
    mask=None,
    dtype=np.float32,
    random_state=None,
):
    """Yield a bright-pixel dataset in chunks, never holding more than one.

    For datasets larger than memory: each chunk is generated when it is asked
    for, from its own seed, so a loop over the chunks (for example calling
    ``BrightPixelRegressor.partial_fit`` on each) needs the memory of one
    chunk, whatever ``n_samples`` is.

    Parameters
    ----------
    n_samples : int
        Total number of images.

    batch_size : int, default=10_000
        Images per chunk (the last chunk may be smaller).

    image_size, intensity, noise, mask, dtype
        As in :func:`make_bright_pixel_dataset`.

    random_state : int, RandomState instance, Generator instance or None, \
            default=None
        Seeds the chunks: chunk ``i`` is drawn from the ``i``-th child of a
        :class:`numpy.random.SeedSequence` rooted at the int (a generator is
        advanced by one draw to make the root), so an int gives the same
        chunks in every process, whatever is done with earlier chunks. Each
        chunk's seed is derived only when the chunk is asked for, so the
        first chunk comes as fast for a billion images as for ten.

    Yields
    ------
    X : ndarray of shape (batch_size, height * width)
        The flattened images of one chunk.

    y : ndarray of shape (batch_size, 2) of int
        Their ``(row, col)`` targets.

    See Also
    --------
    make_bright_pixel_dataset : The whole dataset at once.

    Examples
    --------
    >>> from pixel_regressor.datasets import iter_bright_pixel_batches
    >>> chunks = iter_bright_pixel_batches(
    ...     25, batch_size=10, image_size=8, random_state=0)
    >>> [X.shape for X, y in chunks]
    [(10, 64), (10, 64), (5, 64)]
    """
    n_samples = _check_int(n_samples, "n_samples")
    batch_size = _check_int(batch_size, "batch_size")
    root = seed_sequence(random_state)
    n_chunks = -(-n_samples // batch_size)
    for i in range(n_chunks):
        # Each chunk's generator is derived when the chunk is asked for.
        size = min(batch_size, n_samples - i * batch_size)
        yield make_bright_pixel_dataset(
            size,
            image_size=image_size,
            intensity=intensity,
            noise=noise,
            mask=mask,
            dtype=dtype,
            random_state=chunk_generator(root, i),
        )
