"""Finding the spots of camera frames: a matched filter and local maxima.

The detection step of a localisation pipeline, as trackpy's ``find`` and
Picasso's ``identify`` are: it says where the spots are, to the pixel, and how
sure it is of each; :class:`~pixel_regressor.SpotLocator` then localises each
to a fraction of a pixel. Per frame:

1. **Background.** The median of square blocks of ``background_size``
   pixels, spread back over the frame and smoothed: a slowly varying level
   that the spots (a few pixels wide) barely move.
2. **Matched filter.** The frame less its background, smoothed with a
   Gaussian of the PSF's width: the filter that maximises a spot's
   signal-to-noise ratio in white noise. A hot pixel is spread out and loses
   to a spot of comparable counts.
3. **Noise.** The filtered frame's robust standard deviation (1.4826 times
   its median absolute deviation), measured again without the pixels near
   anything above 4 noise units (spots would widen it in a crowded frame):
   each frame's own, so no setting depends on the camera's gain, offset or
   EM gain.
4. **Threshold.** The level ``u`` (in noise units) above which pure noise
   gives ``false_alarm_rate`` local maxima per pixel on average: for a
   Gaussian random field smoothed by a Gaussian of width ``s``, the expected
   number of maxima above ``u`` per pixel is about ``u exp(-u**2 / 2) / ((2
   pi)**1.5 * 2 s**2)`` (the Euler characteristic density; Adler, *The
   Geometry of Random Fields*, 1981). ``1e-5`` per pixel is 4.24 noise
   units at a width of 1.3 px: 0.16 false detections in a 128x128 frame.
   Measured on 128x128 frames of noise, the pixel grid and the background's
   removal give 2-4 times that count for Gaussian-like noise (photon
   counts on a background of 50), and heavier tails more: 7 times on a
   background of 2-10 photons, 15 times for an EMCCD (gain 100) on 20
   photons, at ``1e-5``. One setting still serves every camera: the count
   does not depend on gain or offset.
5. **Maxima.** Pixels equal to the maximum of the 3x3 square around them
   (:func:`scipy.ndimage.maximum_filter`) and above the threshold, raised
   near the edges by the filtered noise's larger deviation there (the
   filter's reflected pixels count twice).

NumPy, SciPy and pandas only.
"""

import functools
import math
import os
from numbers import Integral, Real

import numpy as np
from scipy import ndimage, optimize
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["DETECTION_COLUMNS", "detect_spots", "false_alarm_threshold"]

#: The columns of :func:`detect_spots`' table, in order.
DETECTION_COLUMNS = ("frame", "row", "col", "score", "photons", "background")

_COLUMN_DTYPES = {
    "frame": np.int64,
    "row": np.int64,
    "col": np.int64,
    "score": np.float64,
    "photons": np.float64,
    "background": np.float64,
}

# Passes of the noise measured without the pixels near spots.
_NOISE_PASSES = 4
# Batches of fewer pixels are filtered in one thread.
_THREADED_PIXELS = 1 << 20
# The most pixels of a frame its noise is measured on.
_NOISE_SAMPLE = 8192

# Below this many noise units a threshold stops meaning "detection".
_LOWEST_THRESHOLD = 1.0


def _log_maxima_density(u, width):
    """Log of the expected local maxima above ``u`` per pixel of smoothed
    white noise."""
    return math.log(u) - 0.5 * u * u - math.log((2.0 * math.pi) ** 1.5 * 2.0 * width**2)


def false_alarm_threshold(false_alarm_rate, psf_sigma):
    """The detection threshold, in noise units, of a false-alarm rate.

    Parameters
    ----------
    false_alarm_rate : float
        Expected false detections per pixel in pure noise, > 0.

    psf_sigma : float
        Width of the Gaussian matched filter, in pixels, > 0.

    Returns
    -------
    threshold : float
        The level ``u`` at which white noise smoothed by the filter has
        ``false_alarm_rate`` local maxima above ``u`` per pixel.

    Examples
    --------
    >>> from pixel_regressor.detection import false_alarm_threshold
    >>> round(false_alarm_threshold(1e-5, 1.3), 2)
    4.24
    """
    rate = float(false_alarm_rate)
    width = float(psf_sigma)
    if not (math.isfinite(width) and width > 0):
        raise ValueError(f"psf_sigma must be a positive number, got {psf_sigma!r}.")
    highest = math.exp(_log_maxima_density(_LOWEST_THRESHOLD, width))
    if not (0 < rate <= highest):
        raise ValueError(
            f"false_alarm_rate must be in (0, {highest:.3g}] per pixel at "
            f"psf_sigma={width:g} (a threshold of at least {_LOWEST_THRESHOLD:g} "
            f"noise unit), got {false_alarm_rate!r}."
        )
    if rate == highest:
        return _LOWEST_THRESHOLD
    log_rate = math.log(rate)
    return optimize.brentq(
        lambda u: _log_maxima_density(u, width) - log_rate,
        _LOWEST_THRESHOLD,
        60.0,
    )


def _empty_table():
    import pandas as pd

    return pd.DataFrame(
        {name: np.empty(0, dtype=_COLUMN_DTYPES[name]) for name in DETECTION_COLUMNS}
    )


def check_frames(frames, name="frames"):
    """Check a stack of frames without reading it; return ``(n, height, width)``.

    ``frames`` is anything with ``len()``, a 3-D ``shape`` or frames of two
    dimensions, and slicing (a NumPy array, a memory map, a lazy reader).
    A 2-D array is one frame.
    """
    if isinstance(frames, (str, bytes)) or not hasattr(frames, "__getitem__"):
        raise TypeError(
            f"{name} must be an array of shape (n_frames, height, width), or an "
            f"object with len() and slicing that yields frames, got "
            f"{type(frames).__name__}."
        )
    shape = getattr(frames, "shape", None)
    if shape is None:
        try:
            n_frames = len(frames)
        except TypeError:
            raise TypeError(
                f"{name} must support len(), got {type(frames).__name__}."
            ) from None
        first = np.asarray(frames[0:1]) if n_frames else np.empty((0, 1, 1))
        shape = (n_frames, *first.shape[1:])
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise ValueError(
            f"{name} must have shape (n_frames, height, width), got shape {shape}."
        )
    if shape[1] < 1 or shape[2] < 1:
        raise ValueError(f"{name} must have frames of at least 1x1, got {shape}.")
    return shape


def drop_mapped_pages(array):
    """Let go of the pages of ``array``, a slice of a read-only memory map.

    ``madvise(MADV_DONTNEED)`` over the pages it spans: they leave the
    process's resident memory (the kernel's page cache keeps them while it
    has room), and a later read of them reads the file again. Nothing is
    done for a map that can be written (``mode`` other than ``"r"``: a
    copy-on-write map's changes would be lost), an array that is not
    C-contiguous, or where ``madvise`` is missing (not Linux or macOS).
    """
    import mmap

    handle = getattr(array, "_mmap", None)
    if (
        handle is None
        or getattr(array, "mode", None) != "r"
        or not hasattr(mmap, "MADV_DONTNEED")
        or not array.flags.c_contiguous
        or array.nbytes == 0
    ):
        return
    try:
        base = np.frombuffer(handle, dtype=np.uint8).ctypes.data
        begin = array.ctypes.data - base
        end = min(begin + array.nbytes, len(handle))
        begin -= begin % mmap.PAGESIZE
        if 0 <= begin < end:
            handle.madvise(mmap.MADV_DONTNEED, begin, end - begin)
    except (OSError, ValueError):  # a closed map, or a kernel that refuses
        pass


def read_batch(frames, start, stop):
    """Frames ``start:stop`` as a float32 array ``(k, height, width)``.

    Only these frames are read (a slice of a memory map or a lazy reader).
    Raises a ``ValueError`` for values that are not finite or not real.
    """
    if getattr(frames, "ndim", None) == 2:
        raw = frames
        batch = np.asarray(frames)[None]
    else:
        raw = frames[start:stop]
        batch = np.asarray(raw)
    if batch.ndim == 2:
        batch = batch[None]
    if batch.dtype.kind not in "biuf":
        raise TypeError(f"frames must hold real numbers, got dtype {batch.dtype}.")
    mapped = getattr(raw, "_mmap", None) is not None
    # A memory map's frames are copied, and its pages let go: a long movie
    # does not pile up in the process's resident memory.
    batch = batch.astype(np.float32, copy=mapped)
    if mapped:
        drop_mapped_pages(raw)
    if not np.isfinite(batch).all():
        raise ValueError(
            f"frames {start} to {stop - 1} hold NaN or infinite values: the "
            "frames must be finite."
        )
    return batch


def background_map(batch, size):
    """The slowly varying background of each frame: block medians, smoothed.

    ``batch`` is ``(k, height, width)`` float; the result has its shape.
    Blocks of ``size`` pixels (rounded up to even, when at least 8) take the
    median of their 2x2 pixel means: as robust to a spot, less biased by
    Poisson counts' skew than the pixels' median, and a quarter of the
    values to sort.
    """
    n, height, width = batch.shape
    size = max(1, min(int(size), height, width))
    binned = size >= 8
    if binned:
        size += size % 2
    rows, cols = -(-height // size), -(-width // size)
    padded = np.pad(
        batch,
        ((0, 0), (0, rows * size - height), (0, cols * size - width)),
        mode="symmetric",
    )
    if binned:
        half = size // 2
        cells = 0.25 * (
            padded[:, 0::2, 0::2]
            + padded[:, 1::2, 0::2]
            + padded[:, 0::2, 1::2]
            + padded[:, 1::2, 1::2]
        )
        blocks = cells.reshape(n, rows, half, cols, half).transpose(0, 1, 3, 2, 4)
        medians = np.median(blocks.reshape(n, rows, cols, half * half), axis=-1)
    else:
        blocks = padded.reshape(n, rows, size, cols, size).transpose(0, 1, 3, 2, 4)
        medians = np.median(blocks.reshape(n, rows, cols, size * size), axis=-1)
    if rows == 1 and cols == 1:
        return np.broadcast_to(medians.astype(np.float32), (n, height, width)).copy()
    # Each block's median spread over it and smoothed by a box of its size:
    # linear in the medians, so one matrix per axis does it.
    medians = medians.astype(np.float32, copy=False)
    return (
        _spread_weights(rows, size, height)
        @ medians
        @ _spread_weights(cols, size, width).T
    )


@functools.lru_cache(maxsize=32)
def _spread_weights(blocks, size, length):
    """``(length, blocks)``: each block's value repeated over its ``size``
    pixels, then a box of ``size`` (edges repeated) along one axis."""
    repeated = np.repeat(np.eye(blocks), size, axis=0)
    weights = ndimage.uniform_filter1d(repeated, size, axis=0, mode="nearest")
    weights = weights[:length].astype(np.float32)
    weights.flags.writeable = False
    return weights


def filter_frames(batch, psf_sigma, background_size):
    """The matched filter: ``(filtered, background)``, each ``(k, h, w)``."""
    background = background_map(batch, background_size)
    filtered = ndimage.gaussian_filter(
        batch - background, psf_sigma, mode="reflect", axes=(1, 2), truncate=3.0
    )
    return filtered, background


def _robust_std(values):
    centre = np.median(values)
    return 1.4826 * float(np.median(np.abs(values - centre)))


def frame_noise(filtered, psf_sigma=None):
    """Each filtered frame's robust standard deviation, ``(k,)``.

    With ``psf_sigma``, the pixels within two PSF widths of anything above
    4 noise units are left out and the deviation measured again
    (``_NOISE_PASSES`` times): in a crowded frame the spots' blobs
    cover a good share of the pixels and widen the plain one (measured:
    1.7 times the noise at 4 spots of 300-3,000 photons per 32x32 px on a
    background of 20, 6 times at 12; 1.1 and 1.6 times without them),
    which would raise the threshold and lose faint spots. A frame whose
    deviation drops by less than 5 % keeps the plain one.
    """
    n = len(filtered)
    # Every other pixel (the filtered noise is correlated over a few
    # pixels), or sparser in a large frame: at most about _NOISE_SAMPLE
    # pixels, whose robust deviation is within about 1 % of the frame's.
    _, height, width = filtered.shape
    step = max(2, math.ceil(math.sqrt(height * width / _NOISE_SAMPLE)))
    sample = filtered[:, ::step, ::step]
    plain = np.array([_robust_std(frame.ravel()) for frame in sample])
    noise = plain.copy()
    if psf_sigma is not None:
        # About two PSF widths, on the sample's grid.
        side = 2 * max(1, round(2 * psf_sigma / step)) + 1
        for _ in range(_NOISE_PASSES):
            finite = np.where(noise > 0, noise, np.inf)
            # 4 noise units: pure noise rarely gets there, and keeps its own.
            above = sample > 4 * finite[:, None, None]
            near = ndimage.maximum_filter(above, size=(1, side, side))
            for i in range(n):
                quiet = sample[i][~near[i]]
                # Too few quiet pixels: a frame full of spots keeps its own.
                if quiet.size >= max(64, near[i].size // 10):
                    noise[i] = _robust_std(quiet)
        noise = np.where(noise < 0.95 * plain, noise, plain)
    # A frame without noise (constant, or synthetic) has no detections.
    return np.where(noise > 0, noise, np.inf)


def neighbourhood(psf_sigma):
    """Side of the square in which a detection is the maximum: 3.

    Every local maximum of the smooth filtered frame, as the false-alarm
    rate counts them; a wider square loses a fainter spot 4-5 px from a
    brighter one, whose slope there is as high as the fainter's peak.
    """
    return 3


def _noise_gain(n, psf_sigma):
    """Standard deviation of the filtered noise along one axis of ``n``
    pixels, relative to the middle's: above 1 near the edges, where the
    filter's reflected pixels count twice."""
    size = min(n, 256)
    weights = ndimage.gaussian_filter1d(
        np.eye(size), psf_sigma, axis=0, mode="reflect", truncate=3.0
    )
    gain = (weights**2).sum(axis=1)
    middle = gain[size // 2]
    if size < n:
        half = size // 2
        gain = np.concatenate(
            [gain[:half], np.full(n - 2 * half, middle), gain[size - half :]]
        )
    return np.sqrt(gain / middle)


def edge_factor(shape, psf_sigma):
    """The filtered noise's standard deviation at each pixel of a frame of
    ``shape``, relative to the middle's: ``(height, width)``. The threshold
    is raised by it, so that the edges give no more false alarms than the
    middle (1.36 times as many noise units at an edge, 1.86 at a corner,
    for a width of 1.3 px)."""
    height, width = shape
    return np.outer(_noise_gain(height, psf_sigma), _noise_gain(width, psf_sigma))


def find_maxima(filtered, noise, threshold, psf_sigma):
    """Local maxima above ``threshold`` noise units: ``(frame, row, col)``.

    A pixel is a maximum when no pixel of the ``neighbourhood`` square
    around it is higher (``scipy.ndimage.maximum_filter``'s rule, with the
    frame's edge pixels repeated beyond it). Only the pixels above the
    threshold, a small share of a frame, are compared with their
    neighbours.
    """
    side = neighbourhood(psf_sigma)
    level = (threshold * noise)[:, None, None] * edge_factor(
        filtered.shape[1:], psf_sigma
    )[None]
    level = level.astype(np.float32)
    frame, row, col = np.nonzero(filtered > level)
    _, height, width = filtered.shape
    value = filtered[frame, row, col]
    keep = np.ones(len(frame), dtype=bool)
    half = side // 2
    for dr in range(-half, half + 1):
        r = np.clip(row + dr, 0, height - 1)
        for dc in range(-half, half + 1):
            if dr or dc:
                c = np.clip(col + dc, 0, width - 1)
                keep &= filtered[frame, r, c] <= value
    return frame[keep], row[keep], col[keep]


def signal_factor(psf_sigma):
    """From the filter's peak to the spot's signal (total counts).

    A spot of ``N`` counts, pixel-integrated Gaussian of width ``s``, gives a
    Gaussian-smoothed peak of about ``N / (2 pi (2 s**2 + 1/12))`` at its
    centre.
    """
    return 2.0 * math.pi * (2.0 * psf_sigma**2 + 1.0 / 12.0)


def _workers():
    """Threads for a batch's frames: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _filter_in_parts(batch, psf_sigma, background_size):
    """:func:`filter_frames` and :func:`frame_noise` of a batch, its frames
    split among threads (NumPy's and SciPy's loops let go of the GIL); each
    frame's result is the one it has alone."""

    def part(frames):
        filtered, background = filter_frames(frames, psf_sigma, background_size)
        return filtered, background, frame_noise(filtered, psf_sigma)

    n_parts = min(_workers(), len(batch))
    if n_parts < 2 or batch[0].size * len(batch) < _THREADED_PIXELS:
        return part(batch)
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, len(batch), n_parts + 1).astype(int)
    with ThreadPoolExecutor(n_parts) as pool:
        parts = list(
            pool.map(part, [batch[a:b] for a, b in zip(bounds[:-1], bounds[1:])])
        )
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def detect_batch(batch, psf_sigma, threshold, background_size):
    """Detections in one batch of frames, as a dict of arrays.

    Keys: ``frame`` (index in the batch), ``row``, ``col``, ``score``,
    ``photons``, ``background``, and ``filtered``, ``noise`` and
    ``background_map`` for the whole batch.
    """
    filtered, background, noise = _filter_in_parts(batch, psf_sigma, background_size)
    frame, row, col = find_maxima(filtered, noise, threshold, psf_sigma)
    peak = filtered[frame, row, col].astype(np.float64)
    order = np.lexsort((col, row, frame))
    frame, row, col, peak = frame[order], row[order], col[order], peak[order]
    return {
        "frame": frame,
        "row": row,
        "col": col,
        "score": peak / noise[frame],
        "photons": peak * signal_factor(psf_sigma),
        "background": background[frame, row, col].astype(np.float64),
        "filtered": filtered,
        "noise": noise,
        "background_map": background,
    }


def batches(n_frames, batch_frames):
    """``(start, stop)`` of each batch."""
    for start in range(0, n_frames, batch_frames):
        yield start, min(start + batch_frames, n_frames)


@validate_params(
    {
        "frames": ["array-like", object],
        "psf_sigma": [Interval(Real, 0, None, closed="neither")],
        "false_alarm_rate": [Interval(Real, 0, None, closed="neither")],
        "background_size": [Interval(Integral, 1, None, closed="left"), None],
        "batch_frames": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def detect_spots(
    frames,
    *,
    psf_sigma=1.3,
    false_alarm_rate=1e-5,
    background_size=None,
    batch_frames=64,
):
    """Find the spots of every frame, to the pixel.

    A Gaussian matched filter on the frame less its background, and its
    local maxima above a threshold set by each frame's own noise and the
    ``false_alarm_rate`` (see :mod:`pixel_regressor.detection`). The same
    setting works on photon counts and on any camera's units (gain, offset,
    EM gain): the threshold is in units of the frame's noise.

    Parameters
    ----------
    frames : array-like of shape (n_frames, height, width) or (height, width)
        The frames, in any real dtype and scale: a NumPy array, a memory map,
        or any object with ``len()`` and slicing that yields frames (a lazy
        TIFF reader). They are read ``batch_frames`` at a time.

    psf_sigma : float, default=1.3
        Width (standard deviation, pixels) of the Gaussian point-spread
        function, and of the matched filter.

    false_alarm_rate : float, default=1e-5
        Expected false detections per pixel in pure noise (1e-5 is 0.16 per
        128x128 frame, 2.6 per 512x512 frame). Lower finds fewer faint
        spots and fewer blobs of noise.

    background_size : int, default=None
        Side of the blocks whose medians give the background, in pixels.
        None: ``max(16, 8 * psf_sigma)``.

    batch_frames : int, default=64
        Frames filtered at once: memory holds a few copies of a batch, never
        the whole movie.

    Returns
    -------
    detections : pandas.DataFrame
        One row per detection, sorted by frame, row and column, with the
        columns

        - ``frame`` (int): the frame's index in ``frames``;
        - ``row``, ``col`` (int): the peak pixel of the filtered frame;
        - ``score`` (float): the filter's peak in units of the frame's noise;
        - ``photons`` (float): the spot's signal above the background,
          from the filter's peak, in the frames' units;
        - ``background`` (float): the background there, per pixel.

        Frames without a detection add no rows; no detection at all gives an
        empty DataFrame with these columns.

    See Also
    --------
    SpotLocator : Detection, then sub-pixel localisation of each spot.

    Examples
    --------
    >>> import numpy as np
    >>> from pixel_regressor.detection import detect_spots
    >>> rng = np.random.default_rng(0)
    >>> frames = rng.poisson(10.0, size=(2, 32, 32)).astype(float)
    >>> frames[0, 10:13, 20:23] += [[20, 40, 20], [40, 80, 40], [20, 40, 20]]
    >>> detect_spots(frames)[["frame", "row", "col"]]
       frame  row  col
    0      0   11   21
    """
    import pandas as pd

    n_frames, height, width = check_frames(frames)
    threshold = false_alarm_threshold(false_alarm_rate, psf_sigma)
    if background_size is None:
        background_size = max(16, int(math.ceil(8 * psf_sigma)))
    tables = []
    for start, stop in batches(n_frames, batch_frames):
        found = detect_batch(
            read_batch(frames, start, stop), psf_sigma, threshold, background_size
        )
        if len(found["frame"]):
            found["frame"] = found["frame"] + start
            tables.append(
                pd.DataFrame(
                    {
                        name: found[name].astype(_COLUMN_DTYPES[name])
                        for name in DETECTION_COLUMNS
                    }
                )
            )
    if not tables:
        return _empty_table()
    return pd.concat(tables, ignore_index=True)
