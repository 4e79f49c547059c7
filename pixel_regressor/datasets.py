"""Synthetic bright-pixel images, generated in the style of :mod:`sklearn.datasets`.

This module imports NumPy only (scikit-learn's ``Bunch`` is imported when a
``Bunch`` is asked for), so generating data never pays for TensorFlow.
"""

import numbers

import numpy as np

from ._random import (
    as_generator,
    check_random_state,
    chunk_generator,
    integers,
    seed_sequence,
)
from ._validation import check_image_shape, check_pixel_dtype

__all__ = [
    "adu_to_photons",
    "iter_bright_pixel_batches",
    "make_bright_pixel_dataset",
    "make_bright_spot_dataset",
    "make_spot_frames",
]

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


def _check_real(value, name, *, keep_int=False):
    """``value`` as a finite float (an int stays an int with ``keep_int``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    if keep_int and isinstance(value, numbers.Integral):
        return int(value)
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
        stored = np.asarray(intensity, dtype=dtype)
        if stored == 0 and intensity != 0:
            raise ValueError(
                f"intensity={intensity!r} is below what dtype {dtype.name!r} can "
                "hold (it would be stored as 0): choose a larger intensity or a "
                "wider float dtype."
            )
        if isinstance(intensity, int) and int(stored) != intensity:
            raise ValueError(
                f"intensity={intensity!r} cannot be held exactly by dtype "
                f"{dtype.name!r} (it would be stored as {int(stored)}); choose "
                "another intensity or an integer dtype."
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
    intensity = _check_real(intensity, "intensity", keep_int=True)
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


# ---------------------------------------------------------------------------
# Blurred spots with photon noise

_SPOT_DESCR = """\
.. _bright_spot_dataset:

Synthetic bright-spot dataset
-----------------------------

**Data Set Characteristics:**

:Number of Instances: {n_samples}
:Number of Attributes: {n_features} ({height} x {width} image of pixel values)
:Attribute Information: pixel_{{row}}_{{col}}, the count of one pixel, row-major
:Target: (row, col), the continuous position of the spot's centre, in pixels
:Spot: {photons} expected photons, blurred by {psf_text}, on a background
       of {background} expected counts per pixel
:Noise: Poisson (photon noise){read_noise_text}{hot_pixels_text}{camera_text}

Expected counts are ``mu = background + photons * PSF integrated over each
pixel``; pixel ``(r, c)`` covers ``[r - 0.5, r + 0.5] x [c - 0.5, c + 0.5]``,
so an integer target is a pixel centre. Positions are uniform over
``[{margin}, height - 1 - {margin}] x [{margin}, width - 1 - {margin}]``.
The best any unbiased estimator can do is given by
:func:`pixel_regressor.localization_crlb`.
"""


def _check_positive(value, name):
    value = _check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}.")
    return value


def _check_nonnegative(value, name):
    value = _check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}.")
    return value


def _check_range(value, name, check):
    """A number, or a ``(low, high)`` pair of them; returns ``(low, high)``.

    ``check(value, name)`` checks each number (positive, non-negative).
    """
    text = f"{name} must be a number or a (low, high) pair"
    if isinstance(value, (tuple, list)) or (
        isinstance(value, np.ndarray) and value.ndim == 1
    ):
        if len(value) != 2:
            raise TypeError(f"{text}, got {value!r}.")
        low = check(value[0], f"{name}[0] (low)")
        high = check(value[1], f"{name}[1] (high)")
        if low > high:
            raise ValueError(
                f"{name} must be a (low, high) range with low <= high, got {value!r}."
            )
        return low, high
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{text}, got {value!r}.")
    value = check(value, name)
    return value, value


def _check_psf(psf, psf_sigma):
    """The PSF of a generator: ``(sigma_range, psf)``.

    A :class:`~pixel_regressor.SampledPSF` replaces the Gaussian, whose width
    must then be left at None; its width range is then the sampled PSF's
    effective width (for the default margin and the truth's ``psf_sigma``).
    """
    if psf is None:
        sigma = _DEFAULT_PSF_SIGMA if psf_sigma is None else psf_sigma
        return _check_range(sigma, "psf_sigma", _check_positive), None
    from ._psf import SampledPSF

    if not isinstance(psf, SampledPSF):
        raise TypeError(
            f"psf must be a SampledPSF or None, got {type(psf).__name__} {psf!r}."
        )
    if psf_sigma is not None:
        raise ValueError(
            f"psf and psf_sigma={psf_sigma!r} were both given: a SampledPSF "
            "replaces the Gaussian PSF of width psf_sigma. Leave psf_sigma at "
            "None."
        )
    return (psf.sigma, psf.sigma), psf


# The Gaussian PSF's width when neither psf_sigma nor psf is given, in pixels.
_DEFAULT_PSF_SIGMA = 1.3


def _draw_range(generator, low, high, n, log):
    """``n`` values in ``[low, high]``: uniform, or log-uniform if ``log``.

    A single value (``low == high``) draws nothing, so that fixed parameters
    leave the random stream as it was.
    """
    if low == high:
        return np.full(n, low)
    if log:
        return np.exp(generator.uniform(np.log(low), np.log(high), n))
    return generator.uniform(low, high, n)


def _range_text(low, high, log):
    if low == high:
        return f"{low:g}"
    return f"[{low:g}, {high:g}] ({'log-' if log else ''}uniform per image)"


def _default_margin(psf_sigma):
    """Three PSF widths, at least one pixel: the spot lies inside the image."""
    return max(1.0, 3.0 * psf_sigma)


def _check_margin(margin, psf_sigma, height, width):
    default = margin is None
    margin = _default_margin(psf_sigma) if default else _check_real(margin, "margin")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}.")
    room = (min(height, width) - 1) / 2
    if margin > room:
        what = (
            f"the default margin, 3 * psf_sigma (at least 1), is {margin!r}"
            if default
            else f"margin={margin!r}"
        )
        raise ValueError(
            f"margin leaves no room for the spot: {what}, but a {height}x{width} "
            f"image allows at most (min(height, width) - 1) / 2 = {room!r}. Pass "
            "a smaller margin or a larger image_size."
        )
    return margin


def _distinct_pixels(generator, n_pixels, k, size):
    """``k`` distinct flat pixel indices per row, uniform over ordered k-subsets.

    The ``j``-th index is drawn among the ``n_pixels - j`` pixels left, then
    moved past the indices already taken (in increasing order).
    """
    chosen = np.empty((size, k), dtype=np.intp)
    for j in range(k):
        index = integers(generator, n_pixels - j, size).astype(np.intp)
        taken = np.sort(chosen[:, :j], axis=1)
        for i in range(j):
            index += index >= taken[:, i]
        chosen[:, j] = index
    return chosen


# Backgrounds up to this many expected counts are drawn by inverting a table
# of the Poisson CDF: for counts near 10 that is twice as fast as NumPy's
# Poisson sampler, which then only draws the spot's mostly tiny counts.
_POISSON_TABLE_MAX = 10_000.0


def _dtype_limits(dtype):
    """The lowest and highest values of ``dtype``, which pixels are clipped to."""
    if dtype.kind == "f":
        return -float(np.finfo(dtype).max), float(np.finfo(dtype).max)
    return np.iinfo(dtype).min, np.iinfo(dtype).max


def _background_table(background_range):
    """One background for all: the table of its Poisson CDF its counts are
    drawn from (None for a range, or a level beyond the table's reach)."""
    low, high = background_range
    if low == high and 0 < low <= _POISSON_TABLE_MAX:
        return _poisson_cdf_table(low)
    return None


def _poisson_cdf_table(mean):
    """The Poisson CDF at 0, 1, ..., far enough that the rest is below 1e-20."""
    import math

    top = int(mean + 12.0 * math.sqrt(mean) + 30.0)
    k = np.arange(top + 1, dtype=np.float64)
    log_pmf = -mean + k * math.log(mean) - np.array([math.lgamma(v + 1) for v in k])
    return np.cumsum(np.exp(log_pmf))


def _check_camera(gain, offset, em_gain):
    """The camera parameters, checked: ``(gain, offset, em_gain)`` as floats."""
    gain = _check_positive(gain, "gain")
    offset = _check_nonnegative(offset, "offset")
    em_gain = _check_real(em_gain, "em_gain")
    if em_gain < 1:
        raise ValueError(
            f"em_gain must be >= 1 (1 for a camera without electron "
            f"multiplication), got {em_gain!r}."
        )
    return gain, offset, em_gain


# NumPy's Poisson sampler refuses means above about 9.2e18: a pixel's
# expected count (a spot's photons plus the background) stays below this.
_MAX_EXPECTED_COUNTS = 1e18
# The values a camera gives are bounded at this many standard deviations
# (of the Poisson counts, the EM register's and the read noise) from their
# mean, plus _COUNT_SLACK counts: under 1e-15 per pixel lie beyond.
_VALUE_SIGMAS = 8.0
_COUNT_SLACK = 40.0


def _names(**values):
    return ", ".join(f"{name}={value:g}" for name, value in values.items())


def _check_camera_values(
    dtype,
    photons,
    background,
    *,
    read_noise,
    gain,
    offset,
    em_gain,
    hot_pixel_intensity=None,
):
    """Refuse parameters whose images cannot be drawn, or stored in ``dtype``.

    ``photons`` and ``background`` are ``(low, high)`` ranges, the camera
    parameters those of :func:`_check_camera`, ``hot_pixel_intensity`` that
    of :func:`make_bright_spot_dataset` (None without hot pixels). Refused,
    with a ``ValueError`` naming the parameters: expected counts beyond
    Poisson sampling; values beyond a float ``dtype`` (or, for an integer
    ``dtype``, beyond float64, in which they are computed); an integer
    ``dtype`` saturated at every pixel by the background or the read noise
    (a saturated spot is a camera's saturation, and is drawn).
    """
    import math

    limit = _MAX_EXPECTED_COUNTS
    for name, value in (("photons", photons[1]), ("background", background[1])):
        if value > limit:
            raise ValueError(
                f"{name}={value:g} is beyond the {limit:g} expected counts per "
                "pixel that Poisson sampling takes (NumPy's sampler stops near "
                "9.2e18)."
            )
    peak = photons[1] + background[1]
    if peak > limit:
        raise ValueError(
            f"photons + background must be at most {limit:g} expected counts per "
            f"pixel (NumPy's Poisson sampler stops near 9.2e18), got "
            f"{_names(photons=photons[1], background=background[1])}."
        )
    counts = peak + _VALUE_SIGMAS * math.sqrt(peak) + _COUNT_SLACK
    if em_gain > 1:
        counts = em_gain * (counts + _VALUE_SIGMAS * math.sqrt(counts) + _COUNT_SLACK)
    signal = {"photons": photons[1], "background": background[1]}
    hot = 0.0 if hot_pixel_intensity is None else hot_pixel_intensity * em_gain * peak
    if hot > counts:
        counts = hot
        signal["hot_pixel_intensity"] = hot_pixel_intensity
    signal.update({"em_gain": em_gain, "gain": gain})
    noise = {"read_noise": read_noise, "gain": gain}
    terms = [
        (offset, {"offset": offset}),
        (gain * counts, signal),
        (gain * _VALUE_SIGMAS * read_noise, noise),
    ]
    reach = offset + gain * (counts + _VALUE_SIGMAS * read_noise)
    defaults = {"em_gain": 1.0, "gain": 1.0}

    def culprit(candidates):
        """The parameters of the largest term, with the verb that fits."""
        _, names = max(candidates, key=lambda term: term[0])
        names = [f"{k}={v:g}" for k, v in names.items() if defaults.get(k) != v]
        return f"{', '.join(names)} {'give' if len(names) > 1 else 'gives'}"

    computed = np.dtype(dtype if dtype.kind == "f" else np.float64)
    highest = float(np.finfo(computed).max)
    if not reach <= highest:  # also for an infinite reach
        raise ValueError(
            f"{culprit(terms)} pixel values up to about {reach:.3g}, beyond "
            f"the largest {computed.name} ({highest:.3g}): choose smaller values"
            + (" or dtype=np.float64." if computed != np.float64 else ".")
        )
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        floor = offset + gain * em_gain * background[0]
        if floor >= info.max:
            signal = {"background": background[0], "em_gain": em_gain, "gain": gain}
            candidates = [terms[0], (floor - offset, signal)]
            raise ValueError(
                f"{culprit(candidates)} every pixel {floor:.3g} or more: "
                f"all of them saturate at the largest {dtype.name} ({info.max})."
            )
        if gain * read_noise >= float(info.max) - float(info.min):
            raise ValueError(
                f"{culprit([terms[2]])} read noise of {gain * read_noise:.3g} "
                f"ADU, wider than the whole range of {dtype.name} "
                f"({info.min}..{info.max}): every pixel would saturate."
            )


def _electron_multiplication(counts, em_gain, generator):
    """An EMCCD register's output electrons for ``counts`` input electrons.

    ``Gamma(n, em_gain)`` for ``n > 0`` electrons, 0 for none: the high-gain
    model of the register, whose variance is twice the Poisson input's.
    """
    out = np.zeros_like(counts)
    lit = counts > 0
    out[lit] = generator.gamma(counts[lit], em_gain)
    return out


def _draw_counts(spot, background, table, generator):
    """Poisson counts of mean ``background + spot``, as float64.

    ``background`` broadcasts against ``spot`` (one level per image: shape
    ``(m, 1)``). A sum of independent Poisson variables is Poisson: the
    background's share comes from ``table`` (:func:`_poisson_cdf_table`),
    when there is one.
    """
    if table is None:
        return generator.poisson(spot + background).astype(np.float64)
    counts = np.searchsorted(table, generator.random(spot.shape), side="right")
    counts += generator.poisson(spot)
    return counts.astype(np.float64)


def make_bright_spot_dataset(
    n_samples=100,
    *,
    image_size=32,
    psf_sigma=None,
    psf=None,
    photons=1000.0,
    background=10.0,
    read_noise=0.0,
    gain=1.0,
    offset=0.0,
    em_gain=1.0,
    hot_pixels=0,
    hot_pixel_intensity=3.0,
    margin=None,
    dtype=np.float32,
    return_X_y=True,
    random_state=None,
):
    """Generate images of one blurred spot with photon noise.

    The model of single-molecule microscopy and star centroiding: each image
    holds one spot of ``photons`` expected photons at a continuous position,
    blurred by an isotropic Gaussian point-spread function (PSF) of standard
    deviation ``psf_sigma`` pixels, on a uniform ``background``. The expected
    count of pixel ``(r, c)``, which covers ``[r - 0.5, r + 0.5] x [c - 0.5,
    c + 0.5]``, is::

        mu[r, c] = background + photons * E_row[r] * E_col[c]

    with ``E_row[r]`` the share of a 1-D Gaussian centred on the spot's row
    that falls in ``[r - 0.5, r + 0.5]`` (a difference of two ``erf``), and
    the same along columns. The observed image is ``Poisson(mu)`` plus
    Gaussian read noise of standard deviation ``read_noise``. The target is
    the spot's ``(row, col)``; an integer target is a pixel centre.

    By default pixel values count photoelectrons. With camera parameters they
    are a camera's digital units (ADU)::

        X = offset + gain * (EM(Poisson(mu)) + read noise)

    where ``EM`` is an EMCCD's electron multiplication when ``em_gain > 1``:
    ``n`` photoelectrons leave the register as ``Gamma(n, em_gain)``
    electrons (the high-gain model), which doubles the variance of the
    signal (an excess noise factor of ``sqrt(2)``).

    A PSF that is not a Gaussian (a measured bead, a vectorial model, a
    defocused or astigmatic spot) comes as an oversampled image, a
    :class:`~pixel_regressor.SampledPSF` passed as ``psf``.

    No unbiased estimator locates the spot better than
    :func:`~pixel_regressor.localization_crlb`.

    Parameters
    ----------
    n_samples : int, default=100
        Number of images.

    image_size : int or tuple of (int, int), default=32
        Image size: an int for square images, or ``(height, width)``.

    psf_sigma : float or tuple of (float, float), default=None
        Standard deviation of the Gaussian PSF, in pixels. Must be positive
        and finite. A ``(low, high)`` pair draws each image's width
        uniformly in ``[low, high]``. None means 1.3, or the width of
        ``psf`` when it is given.

    psf : SampledPSF, default=None
        A PSF given as an oversampled image
        (:class:`~pixel_regressor.SampledPSF`: a measured bead, a vectorial
        or defocused model), in place of the Gaussian: ``E_row[r] *
        E_col[c]`` becomes the PSF integrated over pixel ``(r, c)``. The
        PSF's centre is the spot's position. ``psf_sigma`` must then be left
        at None (a ValueError otherwise); the Bunch's ``psf_sigma`` holds the
        PSF's effective width, :attr:`SampledPSF.sigma`, which also sets the
        default margin. Photons, background, camera, noise, hot pixels and
        targets are drawn as for the Gaussian.

    photons : float or tuple of (float, float), default=1000.0
        Expected number of photons of the spot (all of them, also those that
        fall outside the image). A ``(low, high)`` pair draws each image's
        photons log-uniformly in ``[low, high]``.

    background : float or tuple of (float, float), default=10.0
        Expected background counts per pixel, >= 0. A ``(low, high)`` pair,
        ``low > 0``, draws each image's background log-uniformly in ``[low,
        high]``.

        Ranges of ``photons``, ``background`` and ``psf_sigma`` make
        training sets for a model that must work across conditions; the
        Bunch holds each image's values.

    read_noise : float, default=0.0
        Standard deviation of the Gaussian read noise added to every pixel
        after the Poisson draw, >= 0, in electrons (after the EM register,
        before ``gain``). With read noise, pixel values are real and can be
        below ``offset``.

    gain : float, default=1.0
        The camera's conversion gain, in ADU per electron, > 0.

    offset : float, default=0.0
        The camera's baseline, in ADU, added to every pixel, >= 0.

    em_gain : float, default=1.0
        An EMCCD's electron-multiplying gain, >= 1. 1 is a camera without EM
        gain (photon-counting statistics); above 1, the gamma-Poisson model
        above, whose excess noise halves the information in each pixel
        (:func:`~pixel_regressor.localization_crlb` takes the same
        parameters).

    hot_pixels : int, default=0
        Number of hot pixels per image: distinct pixels, placed uniformly
        over the whole image (they may land on the spot), set to
        ``hot_pixel_intensity`` times the largest expected value of the
        image, ``max(mu)`` (the spot's peak including the background), without
        noise. Must be fewer than the image's pixels.

    hot_pixel_intensity : float, default=3.0
        Value of a hot pixel, in multiples of ``max(mu)`` (amplified and
        converted to ADU like the signal). Must be positive.

    margin : float, default=None
        Distance, in pixels, that keeps the spot's centre away from the
        centres of the edge pixels: positions are uniform (continuous) over
        ``[margin, height - 1 - margin] x [margin, width - 1 - margin]``.
        None means ``max(1, 3 * psf_sigma)`` (the largest ``psf_sigma`` of a
        range), so that the spot lies inside the image. ``(min(height,
        width) - 1) / 2`` is the largest margin; it fixes every spot at the
        image's centre along the shorter side.

    dtype : numpy dtype, default=numpy.float32
        Float or integer type of the images, allocated once in this type.
        Values are clipped to the type's range and rounded for an integer
        type (a saturating camera: ``uint8`` clips counts at 255).

    return_X_y : bool, default=True
        If True, return ``(X, y)``. If False, return a
        :class:`~sklearn.utils.Bunch`.

    random_state : int, RandomState instance, Generator instance or None, \
            default=None
        Determines positions, photons, noise and hot pixels. Pass an int for
        reproducible output across calls and processes. The global NumPy
        random state is never used.

    Returns
    -------
    X : ndarray of shape (n_samples, height * width)
        The flattened images. Returned when ``return_X_y`` is True.

    y : ndarray of shape (n_samples, 2) of float64
        ``(row, col)`` of each spot's centre. Returned when ``return_X_y`` is
        True.

    data : :class:`~sklearn.utils.Bunch`
        Returned when ``return_X_y`` is False, with the fields

        data : ndarray of shape (n_samples, height * width)
            The flattened images.
        images : ndarray of shape (n_samples, height, width)
            The same images as a view of ``data`` (no copy).
        target : ndarray of shape (n_samples, 2) of float64
            ``(row, col)`` of each spot.
        photons, background, psf_sigma : ndarray of shape (n_samples,) of \
float64
            Each image's expected photons, background per pixel and PSF
            width (the effective width of ``psf`` when it is given).
        psf : SampledPSF or None
            The ``psf`` parameter.
        hot_pixel_positions : ndarray of shape (n_samples, hot_pixels, 2) of int
            ``(row, col)`` of each hot pixel.
        feature_names : list of str
            ``pixel_{row}_{col}`` for every feature of ``data``.
        target_names : list of str
            ``["row", "col"]``.
        DESCR : str
            A description of the dataset.
        image_shape : tuple of (int, int)
            ``(height, width)``.
        read_noise, gain, offset, em_gain, hot_pixel_intensity, margin, \
dtype, random_state
            The parameters used (``margin`` resolved from None).

    See Also
    --------
    localization_crlb : The Cramer-Rao lower bound on the position error.
    make_bright_pixel_dataset : One pixel at full intensity, no blur.

    Examples
    --------
    >>> import numpy as np
    >>> from pixel_regressor import make_bright_spot_dataset
    >>> X, y = make_bright_spot_dataset(
    ...     500, image_size=16, photons=1000, background=10, random_state=0
    ... )
    >>> X.shape, X.dtype, y.shape, y.dtype
    ((500, 256), dtype('float32'), (500, 2), dtype('float64'))
    >>> bool(y.min() >= 3.9 and y.max() <= 15 - 3.9)  # the default margin
    True

    Each image holds about the spot's photons plus the background:

    >>> round(float(X.sum(axis=1).mean()) / (1000 + 10 * 256), 2)
    1.0

    With ``return_X_y=False``, a Bunch with 3-D images and each image's
    photons, here drawn log-uniformly between 100 and 3000:

    >>> spots = make_bright_spot_dataset(
    ...     4, image_size=(12, 16), photons=(100, 3000), hot_pixels=2,
    ...     return_X_y=False, random_state=0,
    ... )
    >>> spots.images.shape, spots.photons.shape, spots.hot_pixel_positions.shape
    ((4, 12, 16), (4,), (4, 2, 2))

    Conditions that vary from image to image, for a model of them all:

    >>> spots = make_bright_spot_dataset(
    ...     1000, photons=(100, 10_000), background=(1, 100), psf_sigma=(1, 2),
    ...     return_X_y=False, random_state=0,
    ... )
    >>> bool(1 <= spots.psf_sigma.min() and spots.psf_sigma.max() <= 2)
    True
    >>> round(float(np.median(spots.background)))  # log-uniform: sqrt(1 * 100)
    10

    An EMCCD camera's 16-bit ADU images, with a baseline of 100 ADU:

    >>> X, y = make_bright_spot_dataset(
    ...     500, image_size=16, gain=0.5, offset=100, em_gain=100, dtype=np.uint16,
    ...     random_state=0,
    ... )
    >>> X.dtype, round(float(X.mean() - 100) / (0.5 * 100 * (1000 / 256 + 10)), 1)
    (dtype('uint16'), 1.0)

    A spot that is not a Gaussian: a ring of light five pixels across, as a
    defocused spot, sampled four times finer than the pixels (its effective
    width is the Gaussian closest to it):

    >>> from pixel_regressor import SampledPSF
    >>> r = np.hypot(*np.mgrid[-20:21, -20:21] / 4)
    >>> ring = SampledPSF(np.exp(-((r - 2.5) ** 2) / 0.5), oversampling=4)
    >>> spots = make_bright_spot_dataset(
    ...     200, image_size=24, psf=ring, return_X_y=False, random_state=0
    ... )
    >>> round(ring.sigma, 2), round(spots.margin, 2)  # margin: 3 widths
    (2.62, 7.86)
    """
    n_samples = _check_int(n_samples, "n_samples")
    height, width = check_image_shape(image_size, "image_size", allow_int=True)
    sigma_range, psf = _check_psf(psf, psf_sigma)
    photon_range = _check_range(photons, "photons", _check_positive)
    background_range = _check_range(background, "background", _check_nonnegative)
    if background_range[0] < background_range[1] and background_range[0] == 0:
        raise ValueError(
            "A background range is drawn log-uniformly: its low end must be > 0, "
            f"got background={background!r}."
        )
    read_noise = _check_nonnegative(read_noise, "read_noise")
    gain, offset, em_gain = _check_camera(gain, offset, em_gain)
    n_pixels = height * width
    hot_pixels = _check_int(hot_pixels, "hot_pixels", minimum=0)
    if hot_pixels >= n_pixels:
        raise ValueError(
            f"hot_pixels must be fewer than the image's {n_pixels} pixels, got "
            f"{hot_pixels!r}."
        )
    hot_pixel_intensity = _check_positive(hot_pixel_intensity, "hot_pixel_intensity")
    # The default margin keeps the widest spot inside the image.
    margin = _check_margin(margin, sigma_range[1], height, width)
    dtype = _check_dtype(dtype, 0.0)
    _check_camera_values(
        dtype,
        photon_range,
        background_range,
        read_noise=read_noise,
        gain=gain,
        offset=offset,
        em_gain=em_gain,
        hot_pixel_intensity=hot_pixel_intensity if hot_pixels else None,
    )
    if not isinstance(return_X_y, (bool, np.bool_)):
        raise TypeError(f"return_X_y must be a bool, got {return_X_y!r}.")
    # NumPy's Generator draws Poisson counts twice as fast as RandomState.
    generator = as_generator(random_state)

    positions = np.empty((n_samples, 2))
    positions[:, 0] = generator.uniform(margin, height - 1 - margin, n_samples)
    positions[:, 1] = generator.uniform(margin, width - 1 - margin, n_samples)
    spot_photons = _draw_range(generator, *photon_range, n_samples, log=True)
    hot = _distinct_pixels(generator, n_pixels, hot_pixels, n_samples)
    # Drawn last, so that fixed values leave every other draw as it was.
    backgrounds = _draw_range(generator, *background_range, n_samples, log=True)
    sigmas = _draw_range(generator, *sigma_range, n_samples, log=False)

    from . import _psf

    lowest, highest = _dtype_limits(dtype)
    table = _background_table(background_range)
    X = np.empty((n_samples, n_pixels), dtype=dtype)
    chunk = max(1, _NOISE_CHUNK // n_pixels)
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        spot = _psf.expected_counts(
            (height, width),
            positions[start:stop],
            sigmas[start:stop] if psf is None else psf,
            spot_photons[start:stop],
            0.0,
        ).reshape(stop - start, n_pixels)
        level = backgrounds[start:stop, None]
        counts = _draw_counts(spot, level, table, generator)
        if em_gain > 1:
            counts = _electron_multiplication(counts, em_gain, generator)
        if read_noise > 0:
            counts += generator.normal(0.0, read_noise, size=counts.shape)
        if hot_pixels:
            peak = em_gain * (spot.max(axis=1, keepdims=True) + level)
            np.put_along_axis(
                counts, hot[start:stop], hot_pixel_intensity * peak, axis=1
            )
        if gain != 1:
            counts *= gain
        if offset:
            counts += offset
        np.clip(counts, lowest, highest, out=counts)
        if dtype.kind in "iu":
            np.rint(counts, out=counts)
        X[start:stop] = counts

    if return_X_y:
        return X, positions

    from sklearn.utils import Bunch

    hot_positions = np.empty((n_samples, hot_pixels, 2), dtype=np.intp)
    np.divmod(hot, width, out=(hot_positions[..., 0], hot_positions[..., 1]))
    return Bunch(
        data=X,
        images=X.reshape(n_samples, height, width),
        target=positions,
        photons=spot_photons,
        hot_pixel_positions=hot_positions,
        feature_names=[f"pixel_{r}_{c}" for r in range(height) for c in range(width)],
        target_names=["row", "col"],
        DESCR=_SPOT_DESCR.format(
            n_samples=n_samples,
            n_features=n_pixels,
            height=height,
            width=width,
            photons=_range_text(*photon_range, log=True),
            psf_text=(
                "a Gaussian PSF of standard\n       deviation "
                f"{_range_text(*sigma_range, log=False)} px"
                if psf is None
                else f"{psf!r}, of effective width {psf.sigma:.3g} px"
            ),
            background=_range_text(*background_range, log=True),
            margin=f"{margin:g}",
            read_noise_text=(
                f", Gaussian read noise of standard deviation {read_noise:g}"
                if read_noise
                else ""
            )
            + (
                f", EM gain {em_gain:g} (gamma-Poisson excess noise)"
                if em_gain > 1
                else ""
            ),
            camera_text=(
                f"\n:Camera: ADU = {offset:g} + {gain:g} x electrons"
                if (gain, offset) != (1.0, 0.0)
                else ""
            ),
            hot_pixels_text=(
                f", {hot_pixels} hot pixel(s) per image at "
                f"{hot_pixel_intensity:g} x max(mu)"
                if hot_pixels
                else ""
            ),
        ),
        image_shape=(height, width),
        psf_sigma=sigmas,
        psf=psf,
        background=backgrounds,
        read_noise=read_noise,
        gain=gain,
        offset=offset,
        em_gain=em_gain,
        hot_pixel_intensity=hot_pixel_intensity,
        margin=margin,
        dtype=dtype,
        random_state=random_state,
    )


# Values further below the offset than this many read-noise standard
# deviations (plus half an ADU of rounding) cannot come from the camera
# described: below 1e-15 per pixel for Gaussian read noise.
_BELOW_OFFSET_SIGMAS = 8.0


def adu_to_photons(X, *, gain=1.0, offset=0.0, em_gain=1.0, read_noise=0.0):
    """Convert camera images from ADU back to photoelectrons.

    The inverse of the camera model of :func:`make_bright_spot_dataset`::

        photons = (X - offset) / (gain * em_gain)

    the expected number of photoelectrons behind each pixel, in the units of
    the ``photons`` and ``background`` of :func:`make_bright_spot_dataset`
    and :func:`~pixel_regressor.localization_crlb` (with the same camera
    parameters: an EMCCD's excess noise stays in the values, and the bound
    accounts for it). The spot head does not need this: its predictions do
    not depend on the images' scale or offset. Use it to read a spot's
    photons or the background off an image, or to feed photon-count
    methods.

    Parameters
    ----------
    X : array-like of real numbers, any shape
        Images in ADU (for instance ``uint16`` camera frames).

    gain : float, default=1.0
        Conversion gain, in ADU per electron, > 0.

    offset : float, default=0.0
        Baseline, in ADU, >= 0.

    em_gain : float, default=1.0
        An EMCCD's electron-multiplying gain, >= 1.

    read_noise : float, default=0.0
        Standard deviation of the read noise, in electrons (after the EM
        register, before ``gain``), >= 0. It sets how far below ``offset`` a
        pixel may read: more than ``8 * gain * read_noise + 0.5`` ADU below
        it, a value cannot come from this camera (the offset is wrong, or the
        image is not in ADU) and is an error.

    Returns
    -------
    photons : ndarray of the shape of ``X``
        float32 for ``X`` of float32 or of integers up to 16 bits, float64
        otherwise. Values near zero may be negative (read noise).

    Raises
    ------
    ValueError
        If a camera parameter is out of range, ``X`` holds NaN or infinite
        values, or a value lies below ``offset`` by more than read noise
        allows (the message names ``offset``).

    See Also
    --------
    make_bright_spot_dataset : Spots in photons or in a camera's ADU.
    pixel_regressor.localization_crlb : The bound for the same camera.

    Examples
    --------
    >>> import numpy as np
    >>> from pixel_regressor import adu_to_photons, make_bright_spot_dataset
    >>> camera = dict(gain=2.0, offset=100.0)
    >>> spots = make_bright_spot_dataset(
    ...     200, image_size=16, photons=1000, background=10, dtype=np.uint16,
    ...     return_X_y=False, random_state=0, **camera,
    ... )
    >>> photons = adu_to_photons(spots.images, **camera)
    >>> photons.dtype, round(float(photons.mean()), 1)  # 10 + 1000 / 256
    (dtype('float32'), 13.9)
    >>> adu_to_photons(spots.images, gain=2.0, offset=150.0)
    Traceback (most recent call last):
    ...
    ValueError: X holds values down to 100 ADU, below offset=150 by more than ...
    """
    gain, offset, em_gain = _check_camera(gain, offset, em_gain)
    read_noise = _check_nonnegative(read_noise, "read_noise")
    X = np.asarray(X)
    check_pixel_dtype(X.dtype)
    small_int = np.issubdtype(X.dtype, np.integer) and X.dtype.itemsize <= 2
    dtype = np.float32 if small_int or X.dtype == np.float32 else np.float64
    # One ADU must be a normal number of photoelectrons in the result's dtype.
    scale, info = gain * em_gain, np.finfo(dtype)
    low, high = float(info.tiny), 1.0 / float(info.tiny)
    if not low <= scale <= high:
        raise ValueError(
            f"gain * em_gain must be between {low:.3g} and {high:.3g} ADU per "
            f"photoelectron for {np.dtype(dtype).name} photons, got "
            f"{_names(gain=gain, em_gain=em_gain)}: an ADU would be "
            f"{1.0 / scale:.3g} photoelectrons."
        )
    if X.size == 0:
        return np.empty(X.shape, dtype=dtype)
    lowest = X.min()
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values.")
    if scale < 1:
        largest = max(abs(float(lowest) - offset), abs(float(X.max()) - offset))
        if largest / scale > float(info.max):
            raise ValueError(
                f"gain * em_gain is too small for X: with "
                f"{_names(gain=gain, em_gain=em_gain)}, X's values give up to "
                f"{largest / scale:.3g} photoelectrons, beyond the largest "
                f"{np.dtype(dtype).name} ({float(info.max):.3g})."
            )
    allowed = _BELOW_OFFSET_SIGMAS * gain * read_noise + 0.5
    if float(lowest) < offset - allowed:
        raise ValueError(
            f"X holds values down to {float(lowest):g} ADU, below "
            f"offset={offset:g} by more than read noise allows ({allowed:g} ADU "
            f"with read_noise={read_noise:g}): is offset the camera's baseline, "
            "and are the images in ADU?"
        )
    photons = np.array(X, dtype=dtype)  # one copy, whatever X's dtype
    photons -= dtype(offset)
    photons /= dtype(gain * em_gain)
    return photons


# make_spot_frames' density counts spots per area of this many pixels (32 x 32):
# about the area one spot's detection box and its neighbourhood take up.
_DENSITY_AREA = 32 * 32

# Each spot is rendered in a square window reaching at least this many PSF
# widths (plus half a pixel) from its centre; the photons beyond, under 1e-6 of
# them, are dropped.
_WINDOW_SIGMAS = 5.0


def _camera_counts(spot, level, table, generator, *, read_noise, gain, offset, em_gain):
    """A camera's values for expected spot counts ``spot`` on ``level``.

    ``spot`` has shape ``(m, n_pixels)`` and ``level`` (the background)
    ``(m, 1)``: Poisson counts, then the EM register, read noise, gain and
    offset of :func:`make_bright_spot_dataset`'s camera model, as float64.
    """
    counts = _draw_counts(spot, level, table, generator)
    if em_gain > 1:
        counts = _electron_multiplication(counts, em_gain, generator)
    if read_noise > 0:
        counts += generator.normal(0.0, read_noise, size=counts.shape)
    if gain != 1:
        counts *= gain
    if offset:
        counts += offset
    return counts


def _render_spots(shape, frame, positions, sigmas, photons, n_frames, half, psf=None):
    """Expected spot counts of ``n_frames`` frames, flattened to ``(n_frames,
    height * width)``.

    Spot ``i`` lies in frame ``frame[i]`` (0 to ``n_frames - 1``). Each spot
    is integrated over the pixels of a ``(2 * half + 2)``-pixel square window
    around it with :func:`pixel_shares` (or ``psf``, a
    :class:`~pixel_regressor.SampledPSF`, in place of the Gaussians of
    widths ``sigmas``), so memory grows with the number of spots times the
    window, never with spots times frames; the window's pixels outside the
    frame are dropped.
    """
    from ._psf import pixel_shares

    height, width = shape
    n_pixels = height * width
    side = 2 * half + 2
    out = np.zeros(n_frames * n_pixels)
    # Spots per pass: their windows take at most _NOISE_CHUNK values.
    per_pass = max(1, _NOISE_CHUNK // (side * side))
    offsets = np.arange(side)
    for start in range(0, len(frame), per_pass):
        stop = min(start + per_pass, len(frame))
        corner = np.floor(positions[start:stop]).astype(np.intp) - half
        local = positions[start:stop] - corner  # in [half, half + 1)
        if psf is None:
            rows = pixel_shares(local[:, 0], side, sigmas[start:stop])
            cols = pixel_shares(local[:, 1], side, sigmas[start:stop])
            rows *= photons[start:stop, None]
            values = rows[:, :, None] * cols[:, None, :]
        else:
            values = psf.pixel_shares((side, side), local)
            values *= photons[start:stop, None, None]
        r = corner[:, :1] + offsets  # the window's rows, (m, side)
        c = corner[:, 1:] + offsets
        r_in = (r >= 0) & (r < height)
        c_in = (c >= 0) & (c < width)
        inside = r_in[:, :, None] & c_in[:, None, :]
        first = frame[start:stop, None] * n_pixels + r * width
        index = first[:, :, None] + c[:, None, :]
        out += np.bincount(index[inside], weights=values[inside], minlength=out.size)
    return out.reshape(n_frames, n_pixels)


def make_spot_frames(
    n_frames=100,
    *,
    shape=(64, 64),
    density=4.0,
    photons=1000.0,
    background=10.0,
    psf_sigma=None,
    psf=None,
    read_noise=0.0,
    gain=1.0,
    offset=0.0,
    em_gain=1.0,
    dtype=np.float32,
    return_X_y=True,
    random_state=None,
):
    """Generate camera frames with many blurred spots, and their ground truth.

    A simulated movie of single-molecule microscopy (or particle tracking,
    or a star field): each frame holds a Poisson number of spots, of mean
    ``density * height * width / 1024``, placed uniformly and independently
    anywhere in the frame, edges and overlaps included. Each spot is the
    pixel-integrated Gaussian PSF of :func:`make_bright_spot_dataset`; a
    frame's expected counts are::

        mu[r, c] = background + sum over spots of photons * E_row[r] * E_col[c]

    and its values follow the same photon noise and camera model as
    :func:`make_bright_spot_dataset` (Poisson counts, an EMCCD's
    multiplication, Gaussian read noise, ``gain`` and ``offset``, clipped to
    ``dtype``). Pixel ``(r, c)`` covers ``[r - 0.5, r + 0.5] x [c - 0.5, c +
    0.5]``: an integer position is a pixel centre, and spot centres are
    uniform over ``[-0.5, height - 0.5] x [-0.5, width - 0.5]``, the whole
    frame. Each spot is rendered within ``5 * psf_sigma`` (plus half a pixel
    or more) of its centre, so memory and time grow with the number of spots,
    not with spots times pixels.

    Parameters
    ----------
    n_frames : int, default=100
        Number of frames.

    shape : int or tuple of (int, int), default=(64, 64)
        Frame size: ``(height, width)``, or an int for square frames.

    density : float, default=4.0
        Mean number of spots per 32 x 32 pixel area (1024 pixels), >= 0: a
        ``(height, width)`` frame holds ``Poisson(density * height * width /
        1024)`` spots. 1 is sparse (spots rarely overlap), 12 dense for a
        PSF of 1.3 pixels.

    photons : float or tuple of (float, float), default=1000.0
        Expected number of photons of each spot (all of them, also those that
        fall outside the frame), > 0. A ``(low, high)`` pair draws each spot's
        photons log-uniformly in ``[low, high]``.

    background : float or tuple of (float, float), default=10.0
        Expected background counts per pixel, >= 0. A ``(low, high)`` pair,
        ``low > 0``, draws each frame's background log-uniformly in ``[low,
        high]``.

    psf_sigma : float or tuple of (float, float), default=None
        Standard deviation of the Gaussian PSF, in pixels, > 0. A ``(low,
        high)`` pair draws each spot's width uniformly in ``[low, high]``.
        None means 1.3, or the width of ``psf`` when it is given.

    psf : SampledPSF, default=None
        A PSF given as an oversampled image
        (:class:`~pixel_regressor.SampledPSF`) in place of the Gaussian, as
        in :func:`make_bright_spot_dataset`: ``psf_sigma`` must then be left
        at None (a ValueError otherwise), each spot is rendered over the
        whole PSF image, and the truth's ``psf_sigma`` holds the PSF's
        effective width, :attr:`SampledPSF.sigma`. Everything else is drawn
        as for the Gaussian.

    read_noise : float, default=0.0
        Standard deviation of the Gaussian read noise, in electrons, >= 0.

    gain : float, default=1.0
        The camera's conversion gain, in ADU per electron, > 0.

    offset : float, default=0.0
        The camera's baseline, in ADU, >= 0.

    em_gain : float, default=1.0
        An EMCCD's electron-multiplying gain, >= 1 (1: no EM gain).

    dtype : numpy dtype, default=numpy.float32
        Float or integer type of the frames. Values are clipped to the type's
        range and rounded for an integer type (``uint16`` saturates at 65535).

    return_X_y : bool, default=True
        If True, return ``(frames, truth)``. If False, return a
        :class:`~sklearn.utils.Bunch`.

    random_state : int, RandomState instance, Generator instance or None, \
            default=None
        Determines the spots and the noise. Pass an int for reproducible
        output across calls. The global NumPy random state is never used.

    Returns
    -------
    frames : ndarray of shape (n_frames, height, width)
        The frames, of type ``dtype``. Returned when ``return_X_y`` is True.

    truth : pandas.DataFrame
        One row per spot, sorted by frame, with the columns

        - ``frame`` (int64): the frame's index in ``frames``;
        - ``row``, ``col`` (float64): the spot's centre, in pixels;
        - ``photons`` (float64): its expected photons;
        - ``psf_sigma`` (float64): its PSF width, in pixels;
        - ``background`` (float64): its frame's background per pixel.

        Returned when ``return_X_y`` is True.

    data : :class:`~sklearn.utils.Bunch`
        Returned when ``return_X_y`` is False, with the fields ``frames`` and
        ``truth`` above, ``background`` and ``n_spots`` (ndarrays of shape
        ``(n_frames,)``: each frame's background and number of spots, also
        for frames without a spot), ``image_shape``, and the parameters
        ``psf``, ``density``, ``read_noise``, ``gain``, ``offset``, ``em_gain``,
        ``dtype`` and ``random_state``.

    See Also
    --------
    make_bright_spot_dataset : One spot per image, the same image model.
    pixel_regressor.metrics.match_localizations : Localisations matched to
        the truth.

    Examples
    --------
    >>> import numpy as np
    >>> from pixel_regressor import make_spot_frames
    >>> frames, truth = make_spot_frames(
    ...     100, shape=(64, 48), density=4, photons=(300, 3000), random_state=0
    ... )
    >>> frames.shape, frames.dtype
    ((100, 64, 48), dtype('float32'))
    >>> list(truth.columns)
    ['frame', 'row', 'col', 'photons', 'psf_sigma', 'background']

    Spots per frame, on average ``4 * 64 * 48 / 1024 = 12``:

    >>> len(truth) / 100
    12.0

    A 16-bit camera's frames with a baseline of 100 ADU and read noise:

    >>> frames, truth = make_spot_frames(
    ...     5, shape=128, density=1, gain=0.5, offset=100, read_noise=2,
    ...     background=(10, 50), dtype=np.uint16, random_state=0,
    ... )
    >>> frames.dtype, bool(frames.min() >= 90)
    (dtype('uint16'), True)
    """
    n_frames = _check_int(n_frames, "n_frames")
    height, width = check_image_shape(shape, "shape", allow_int=True)
    density = _check_nonnegative(density, "density")
    photon_range = _check_range(photons, "photons", _check_positive)
    background_range = _check_range(background, "background", _check_nonnegative)
    if background_range[0] < background_range[1] and background_range[0] == 0:
        raise ValueError(
            "A background range is drawn log-uniformly: its low end must be > 0, "
            f"got background={background!r}."
        )
    sigma_range, psf = _check_psf(psf, psf_sigma)
    read_noise = _check_nonnegative(read_noise, "read_noise")
    gain, offset, em_gain = _check_camera(gain, offset, em_gain)
    dtype = _check_dtype(dtype, 0.0)
    if not isinstance(return_X_y, (bool, np.bool_)):
        raise TypeError(f"return_X_y must be a bool, got {return_X_y!r}.")
    generator = as_generator(random_state)

    n_pixels = height * width
    n_spots = generator.poisson(density * n_pixels / _DENSITY_AREA, n_frames)
    frame = np.repeat(np.arange(n_frames), n_spots)
    total = len(frame)
    positions = np.empty((total, 2))
    positions[:, 0] = generator.uniform(-0.5, height - 0.5, total)
    positions[:, 1] = generator.uniform(-0.5, width - 0.5, total)
    spot_photons = _draw_range(generator, *photon_range, total, log=True)
    sigmas = _draw_range(generator, *sigma_range, total, log=False)
    backgrounds = _draw_range(generator, *background_range, n_frames, log=True)

    lowest, highest = _dtype_limits(dtype)
    table = _background_table(background_range)
    if psf is None:
        half = int(np.ceil(_WINDOW_SIGMAS * sigma_range[1]))
    else:  # the whole PSF image
        half = int(np.ceil(psf.extent))
    frames = np.empty((n_frames, height, width), dtype=dtype)
    flat = frames.reshape(n_frames, n_pixels)
    # Frames per pass: a few noise chunks' worth of pixels.
    chunk = max(1, 4 * _NOISE_CHUNK // n_pixels)
    bounds = np.searchsorted(frame, np.arange(0, n_frames + chunk, chunk))
    for k, start in enumerate(range(0, n_frames, chunk)):
        stop = min(start + chunk, n_frames)
        spots = slice(bounds[k], bounds[k + 1])
        spot = _render_spots(
            (height, width),
            frame[spots] - start,
            positions[spots],
            sigmas[spots],
            spot_photons[spots],
            stop - start,
            half,
            psf,
        )
        counts = _camera_counts(
            spot,
            backgrounds[start:stop, None],
            table,
            generator,
            read_noise=read_noise,
            gain=gain,
            offset=offset,
            em_gain=em_gain,
        )
        np.clip(counts, lowest, highest, out=counts)
        if dtype.kind in "iu":
            np.rint(counts, out=counts)
        flat[start:stop] = counts

    import pandas as pd

    truth = pd.DataFrame(
        {
            "frame": frame.astype(np.int64),
            "row": positions[:, 0],
            "col": positions[:, 1],
            "photons": spot_photons,
            "psf_sigma": sigmas,
            "background": backgrounds[frame],
        }
    )
    if return_X_y:
        return frames, truth

    from sklearn.utils import Bunch

    return Bunch(
        frames=frames,
        truth=truth,
        background=backgrounds,
        n_spots=n_spots.astype(np.intp),
        image_shape=(height, width),
        psf=psf,
        density=density,
        read_noise=read_noise,
        gain=gain,
        offset=offset,
        em_gain=em_gain,
        dtype=dtype,
        random_state=random_state,
    )
