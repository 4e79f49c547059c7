"""The camera and the spots of a movie, measured from its frames alone.

A learned localiser is as good as its training simulation matches the camera
and the optics. This module measures both from unlabelled frames:

- :func:`calibrate_camera`: the camera's offset (ADU) and gain (ADU per
  photoelectron), whether it multiplies electrons (an EMCCD), and its read
  noise, each with an uncertainty, as a :class:`CameraCalibration`.
- :func:`measure_spot_conditions`: the photons, background and PSF width of
  the movie's isolated spots, from the package's Poisson maximum-likelihood
  Gaussian fit with the width free, as a :class:`SpotConditions` whose
  :meth:`~SpotConditions.simulation_kwargs` feed
  :func:`~pixel_regressor.make_spot_frames`.

How the camera is calibrated
----------------------------
A pixel of a camera reads ``offset + G * n + e``: ``n`` photoelectrons
(Poisson of mean ``lam``), multiplied by ``G = gain * em_gain`` ADU each
(an EMCCD's register multiplies each electron by an exponential number of
mean ``em_gain``), plus Gaussian read noise ``e`` of ``s`` ADU. The first
three cumulants of a pixel's value are::

    mean = offset + G lam
    var  = F2 G**2 lam + s**2       = F2 G (mean - offset) + s**2
    k3   = c3 G**3 lam              = c3 G**2 (mean - offset)

with ``F2 = c3 = 1`` without electron multiplication and ``F2 = 2, c3 = 6``
for an EMCCD (its excess noise). Each sampled frame is cut into 16x16
tiles; the pixels within a few PSF widths of a spot (a matched filter's
values three noise units up, :mod:`pixel_regressor.detection`) are left
out, and each tile gives its spot-free pixels' mean, and the variance and
third cumulant (unbiased k-statistics) of each pixel's difference from the
mean of its 8 neighbours, scaled back to one pixel's: the difference keeps
the noise and drops light that varies over a few pixels, the tails of
faint spots the mask misses (in a crowded movie, most of the frame).
Across tiles whose backgrounds differ (between
frames, or across the field):

1. **Gain.** The slope of the variance against the mean is ``F2 G``: a
   weighted least-squares line (weights from the fitted line, not the noisy
   variances, which would bias the slope low), tiles more than five robust
   deviations off it dropped (hot pixels, missed spots).
2. **Offset.** The variance's intercept mixes the offset with the read
   noise; the third cumulant does not hold the read noise: each tile gives
   ``offset = mean - k3 / (c3 G**2)``, averaged with weights ``n /
   var**3``. The read noise follows from the intercept.
3. **EMCCD.** The third cumulant's slope over the square of the variance's
   is ``c3 / F2**2``: 1 for a camera without multiplication, 1.5 for an
   EMCCD. ``em_gain="auto"`` takes the one the ratio is consistent with
   (within 2.5 bootstrap deviations; the nearer when neither is), and says
   when both are (then: no multiplication). An EMCCD taken for a camera
   without multiplication reads twice its gain: give ``em_gain`` when known.
4. **Uncertainty.** The standard deviation of each figure over bootstrap
   resamples of the frames.

What the frames can and cannot tell
-----------------------------------
- The gain needs a **range of background levels**: a movie with one
  background level everywhere gives one point of the curve, and the gain is
  then not separable from the offset and the read noise; this is refused
  with a message asking for dark frames (``dark``, which give the offset and
  the read noise, after which one level suffices) or the camera's figures.
  Frame-to-frame changes (blinking, bleaching, a varying illumination) or a
  nonuniform illumination provide the range.
- Of an EMCCD, only the product ``gain * em_gain`` (ADU per photoelectron)
  is measured; with ``em_gain="auto"`` a nominal em_gain of 100 is reported
  and ``gain`` is the product over it (a simulation with these figures is
  the same camera).
- An EMCCD's **offset** is poorly determined from the frames at backgrounds
  of ten photoelectrons or more: an ADU is a small fraction of an electron,
  and the third cumulant's noise is large; its ``offset_std`` says how
  poorly (tens of ADU at a gain of 50 ADU per photoelectron). Pass dark
  frames (``dark``) or the known ``offset``.
- Fixed-pattern noise (pixel-to-pixel offsets of an sCMOS camera) adds to
  the spatial variance and lowers the gain found; dark frames do not remove
  it from the bright frames. Calibrate such cameras with their maps.

NumPy, SciPy and pandas only.
"""

import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import detection as _detection
from ._random import as_generator

__all__ = [
    "CameraCalibration",
    "SpotConditions",
    "calibrate_camera",
    "measure_spot_conditions",
]

#: The fewest frames :func:`calibrate_camera` takes: fewer give no
#: bootstrap worth the name, nor a range of backgrounds.
MIN_FRAMES = 10
# Tiles of this side give one point of the photon-transfer curve each.
_TILE = 16
# A tile with fewer spot-free pixels than this share of its area is dropped.
_TILE_FILL = 0.25
# Pixels within this many PSF widths (plus one pixel) of a matched filter's
# value this many noise units up are left out of the camera's statistics.
_MASK_SIGMAS = 4.0
_MASK_THRESHOLD = 3.0
# A tile needs this many pixels whose 8 neighbours are spot-free too.
_MIN_DIFFERENCES = 16
# The pixels' and the differences' ADU per electron agree within this share.
_AGREE = 0.05
# Tiles this many robust deviations off the fitted curve are dropped.
_OUTLIER = 5.0
_BOOTSTRAP = 200
# The third cumulant's slope over the square of the variance's: 1 without
# electron multiplication, 1.5 with; the decision is taken at the middle.
_RATIO_CONVENTIONAL, _RATIO_EMCCD = 1.0, 1.5
_NOMINAL_EM_GAIN = 100.0
_CONSISTENT = 2.5
# The background levels must spread this many times the noise of a tile's
# mean for the slope to be measured.
_MIN_SPREAD = 5.0


def _fmt(value, std=None, digits=3):
    text = f"{value:.{digits}g}"
    if std is not None and np.isfinite(std):
        text += f" +- {std:.2g}"
    return text


@dataclass(frozen=True, repr=False)
class CameraCalibration:
    """A camera measured from its frames (see :func:`calibrate_camera`).

    Attributes
    ----------
    gain, gain_std : float
        ADU per electron out of the camera's register (the ``gain`` of
        :func:`~pixel_regressor.make_spot_frames`), and its standard
        deviation.
    offset, offset_std : float
        The baseline, in ADU, and its standard deviation.
    em_gain : float
        The EMCCD's electron-multiplying gain (1: none): given, or nominal
        (100) when recognised but not given.
    excess : float
        The square of the excess noise factor: 2 for an EMCCD, 1 otherwise.
    read_noise : float
        The read noise's standard deviation in electrons (after the EM
        register, before ``gain``, as :func:`~pixel_regressor.make_spot_frames`
        takes it).
    emccd_ratio, emccd_ratio_std : float
        The third cumulant's slope over the square of the variance's: about
        1 without electron multiplication, 1.5 with.
    method : str
        How the figures were found, in words.
    n_frames, n_tiles : int
        The frames sampled and the tiles that made the curve.
    """

    gain: float
    gain_std: float
    offset: float
    offset_std: float
    em_gain: float
    excess: float
    read_noise: float
    emccd_ratio: float
    emccd_ratio_std: float
    method: str
    n_frames: int
    n_tiles: int

    @property
    def adu_per_photon(self):
        """ADU per photoelectron: ``gain * em_gain``."""
        return self.gain * self.em_gain

    def camera(self):
        """The camera as keyword arguments of
        :func:`~pixel_regressor.make_spot_frames`,
        :func:`~pixel_regressor.make_bright_spot_dataset` and
        :func:`~pixel_regressor.adu_to_photons` (``gain``, ``offset`` at
        least 0, ``em_gain``, ``read_noise``)."""
        return {
            "gain": float(self.gain),
            "offset": float(max(self.offset, 0.0)),
            "em_gain": float(self.em_gain),
            "read_noise": float(self.read_noise),
        }

    def to_photons(self, X):
        """Frames in ADU to photoelectrons: ``(X - offset) / (gain * em_gain)``,
        as float64 (values below the offset stay negative)."""
        return (np.asarray(X, dtype=np.float64) - self.offset) / self.adu_per_photon

    def __repr__(self):
        return (
            "CameraCalibration(\n"
            f"    gain={_fmt(self.gain, self.gain_std)} ADU/e-,\n"
            f"    offset={_fmt(self.offset, self.offset_std, 4)} ADU,\n"
            f"    em_gain={_fmt(self.em_gain)}, excess={_fmt(self.excess)}, "
            f"emccd_ratio={_fmt(self.emccd_ratio, self.emccd_ratio_std)},\n"
            f"    read_noise={_fmt(self.read_noise)} e-,\n"
            f"    method={self.method!r},\n"
            f"    n_frames={self.n_frames}, n_tiles={self.n_tiles},\n"
            ")"
        )


def _sample_frames(n_frames, max_frames, generator):
    if n_frames <= max_frames:
        return np.arange(n_frames)
    return np.sort(generator.choice(n_frames, size=max_frames, replace=False))


def _check_count(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}.")
    return int(value)


def _check_positive_real(value, name, *, allow_none=False, minimum=0.0, closed=False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    ok = value >= minimum if closed else value > minimum
    if not (math.isfinite(value) and ok):
        relation = ">=" if closed else ">"
        raise ValueError(
            f"{name} must be finite and {relation} {minimum:g}, got {value!r}."
        )
    return value


def _check_movie(frames, min_frames, name="frames"):
    n_frames, height, width = _detection.check_frames(frames, name)
    if getattr(frames, "ndim", 3) == 2:
        n_frames = 1
    if n_frames < min_frames:
        raise ValueError(
            f"{name} must hold at least {min_frames} frames, got {n_frames}: the "
            "camera is measured from how its pixels vary over many frames."
        )
    if height < _TILE or width < _TILE:
        raise ValueError(
            f"{name} must be at least {_TILE}x{_TILE} pixels, got {height}x{width}."
        )
    return n_frames, height, width


def _spot_free(frame, psf_sigma, background_size):
    """The pixels of ``frame`` (2-D float) far from any spot or hot pixel."""
    from scipy import ndimage

    filtered, _ = _detection.filter_frames(frame[None], psf_sigma, background_size)
    noise = _detection.frame_noise(filtered)
    bright = filtered[0] > _MASK_THRESHOLD * noise[0]
    radius = int(math.ceil(_MASK_SIGMAS * psf_sigma)) + 1
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = yy * yy + xx * xx <= radius * radius
    return ~ndimage.binary_dilation(bright, structure=disk)


def _tile_statistics(frame, free):
    """Each tile's statistics, two ways: ``(pixels, differences)``.

    Both are ``(t, 4)`` arrays of ``(mean, k2, k3, n)`` over the same tiles.
    ``pixels``: the spot-free pixels' mean, variance and third cumulant
    (unbiased k-statistics). ``differences``: the same mean; the variance
    and third cumulant of each pixel's difference from the mean of its 8
    neighbours, where the pixel and its neighbours are all spot-free, scaled
    back to one pixel's (``8 / 9`` and ``64 / 63`` for independent pixels);
    ``n`` counts the differences. The differences keep the pixels' noise and
    drop light that varies over a few pixels (the tails of faint spots the
    mask misses, which a crowded frame is full of and which add to a tile's
    variance and skew), at the price of a noisier estimate.
    """
    height, width = frame.shape
    padded = np.pad(frame, 1, mode="edge")
    padded_free = np.pad(free, 1, constant_values=False)
    neighbours = np.zeros_like(frame)
    usable = free.copy()
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                neighbours += padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
                usable &= padded_free[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
    residual = frame - neighbours / 8.0
    rows, cols = height // _TILE, width // _TILE

    def tiles(array):
        array = array[: rows * _TILE, : cols * _TILE]
        array = array.reshape(rows, _TILE, cols, _TILE).transpose(0, 2, 1, 3)
        return array.reshape(-1, _TILE * _TILE)

    def cumulants(values, keep, n):
        centre = np.where(keep, values, 0.0).sum(axis=1) / n
        deviation = np.where(keep, values - centre[:, None], 0.0)
        m2 = (deviation**2).sum(axis=1) / n
        m3 = (deviation**3).sum(axis=1) / n
        return centre, m2 * n / (n - 1), m3 * n * n / ((n - 1) * (n - 2))

    values, keep = tiles(frame), tiles(free)
    residual, usable = tiles(residual), tiles(usable)
    n_free = keep.sum(axis=1).astype(np.float64)
    n = usable.sum(axis=1).astype(np.float64)
    used = (n_free >= _TILE_FILL * _TILE * _TILE) & (n >= _MIN_DIFFERENCES)
    mean, k2, k3 = cumulants(values[used], keep[used], n_free[used])
    _, d2, d3 = cumulants(residual[used], usable[used], n[used])
    pixels = np.column_stack([mean, k2, k3, n_free[used]])
    differences = np.column_stack([mean, d2 * (8.0 / 9.0), d3 * (64.0 / 63.0), n[used]])
    return pixels, differences


def _weighted_line(x, y, w):
    """Slope and intercept of the weighted least-squares line."""
    sw = w.sum()
    xm, ym = (w * x).sum() / sw, (w * y).sum() / sw
    sxx = (w * (x - xm) ** 2).sum()
    if sxx <= 0:
        return np.nan, np.nan
    slope = (w * (x - xm) * (y - ym)).sum() / sxx
    return slope, ym - slope * xm


def _robust_scale(z):
    return 1.4826 * np.median(np.abs(z - np.median(z))) + 1e-300


def _fit_curve(stats, excess, c3, offset=None, read_var=None):
    """Gain, offset, read variance and EMCCD ratio from tile statistics.

    ``stats`` is ``(t, 4)``: mean, k2, k3, n. ``offset`` and ``read_var``
    fixed when known (dark frames). Returns a dict.
    """
    mean, k2, k3, n = stats.T
    keep = np.ones(len(mean), dtype=bool)
    predicted = np.full(len(mean), np.median(k2))
    known = offset is not None and read_var is not None
    slope = intercept = np.nan
    for _ in range(4):
        w = n[keep] / np.maximum(predicted[keep], 1e-12) ** 2
        if known:
            x = mean[keep] - offset
            sxx = (w * x * x).sum()
            slope = (w * x * (k2[keep] - read_var)).sum() / sxx if sxx > 0 else np.nan
            intercept = read_var - slope * offset
        else:
            slope, intercept = _weighted_line(mean[keep], k2[keep], w)
        if not np.isfinite(slope):
            break
        predicted = np.maximum(slope * mean + intercept, 1e-12 * np.abs(mean).max())
        z = (k2 - predicted) / (predicted * np.sqrt(2.0 / n))
        keep = np.abs(z) <= _OUTLIER * _robust_scale(z[keep])
    adu = slope / excess
    w3 = n[keep] / predicted[keep] ** 3
    t_free, _ = _weighted_line(mean[keep], k3[keep], w3)
    ratio = t_free / slope**2 if slope > 0 else np.nan
    if offset is None:
        t = c3 * adu**2
        each = mean[keep] - k3[keep] / t
        spread = _robust_scale(each * np.sqrt(w3))
        good = np.abs(each - np.median(each)) * np.sqrt(w3) <= _OUTLIER * spread
        offset = float((w3[good] * each[good]).sum() / w3[good].sum())
    if read_var is None:
        read_var = intercept + slope * offset
    return {
        "adu": float(adu),
        "offset": float(offset),
        "read_var": float(max(read_var, 0.0)),
        "ratio": float(ratio),
        "n_tiles": int(keep.sum()),
        "keep": keep,
        "predicted": predicted,
    }


def _dark_level(dark):
    """Offset (ADU) and read variance (ADU**2) of dark frames."""
    n_dark, height, width = _detection.check_frames(dark, "dark")
    if getattr(dark, "ndim", 3) == 2:
        n_dark = 1
    total = np.zeros((height, width))
    total_sq = np.zeros((height, width))
    for index in range(n_dark):
        frame = _detection.read_batch(dark, index, index + 1)[0].astype(np.float64)
        total += frame
        total_sq += frame * frame
    mean = total / n_dark
    offset = float(np.median(mean))
    if n_dark > 1:
        per_pixel = (total_sq - n_dark * mean * mean) / (n_dark - 1)
        read_var = float(np.median(per_pixel))
    else:
        read_var = float(_robust_scale(mean) ** 2)
    return offset, read_var


def calibrate_camera(
    frames,
    *,
    em_gain="auto",
    offset=None,
    dark=None,
    psf_sigma=1.3,
    max_frames=200,
    random_state=None,
):
    """Measure a camera's offset, gain, excess noise and read noise from a movie.

    The photon-transfer curve of the frames' spot-free pixels: within each
    16x16 tile of each sampled frame, the mean, variance and third cumulant
    of the pixels away from any spot; the variance's slope against the mean
    gives the gain, the third cumulant (which read noise does not hold) the
    offset, and the ratio of the two slopes tells an EMCCD's excess noise
    (see :mod:`pixel_regressor.calibration` for the model, and for what the
    frames cannot tell). The uncertainties are bootstrap standard deviations
    over the frames.

    The movie needs backgrounds that differ, between frames or across the
    field, unless ``dark`` frames are given.

    Parameters
    ----------
    frames : array-like of shape (n_frames, height, width)
        The movie, in ADU, any real dtype: an array, a memory map or a lazy
        reader with ``len()`` and slicing. At least 10 frames of at least
        16x16 pixels. Only ``max_frames`` of them are read, one at a time.

    em_gain : "auto", None or float, default="auto"
        The EMCCD's electron-multiplying gain, >= 1, when known (1 or None:
        not an EMCCD). ``"auto"`` recognises an EMCCD from the third
        cumulant (the ratio of slopes is 1.5 for an EMCCD, 1 otherwise);
        when the two are not told apart, not an EMCCD. An EMCCD recognised
        reports a nominal ``em_gain`` of 100: only ``gain * em_gain`` is
        measured.

    offset : float, default=None
        The camera's baseline in ADU, when known: then only the gain and the
        read noise are measured.

    dark : array-like of shape (n_dark, height, width), default=None
        Frames taken without light (same camera settings): their mean is the
        offset and their pixels' variance over frames the read noise; one
        background level then suffices for the gain.

    psf_sigma : float, default=1.3
        The PSF's width in pixels, for leaving out the pixels near spots.

    max_frames : int, default=200
        Frames sampled from the movie (all of them when fewer): memory and
        time are bounded whatever the movie's length.

    random_state : int, RandomState instance, Generator instance or None, \
            default=None
        Determines the frames sampled and the bootstrap.

    Returns
    -------
    calibration : CameraCalibration
        ``gain``, ``offset`` with their standard deviations, ``em_gain``,
        ``excess``, ``read_noise``; :meth:`CameraCalibration.camera` gives
        them as keyword arguments of the package's simulators.

    Raises
    ------
    ValueError
        Too few frames, frames smaller than 16x16, values not finite, a
        parameter out of range, or a movie whose background levels do not
        spread enough to measure the gain (the message asks for ``dark``).

    See Also
    --------
    measure_spot_conditions : The spots' photons, background and width.
    pixel_regressor.adu_to_photons : Frames to photoelectrons, given the camera.

    Examples
    --------
    A camera of 2.2 ADU per electron, an offset of 100 ADU and some read
    noise, whose background changes between frames:

    >>> from pixel_regressor import make_spot_frames
    >>> from pixel_regressor.calibration import calibrate_camera
    >>> frames, _ = make_spot_frames(
    ...     40, shape=64, background=(10, 50), gain=2.2, offset=100,
    ...     read_noise=0.7, random_state=0,
    ... )
    >>> camera = calibrate_camera(frames, random_state=0)
    >>> round(camera.gain, 1), abs(camera.offset - 100) < 2, camera.em_gain
    (2.2, True, 1.0)
    >>> sorted(camera.camera())
    ['em_gain', 'gain', 'offset', 'read_noise']
    """
    if isinstance(em_gain, str):
        if em_gain != "auto":
            raise ValueError(
                f'em_gain must be "auto", None or a float >= 1, got {em_gain!r}.'
            )
    elif em_gain is not None:
        em_gain = _check_positive_real(em_gain, "em_gain", minimum=1.0, closed=True)
    offset = _check_positive_real(offset, "offset", allow_none=True, closed=True)
    psf_sigma = _check_positive_real(psf_sigma, "psf_sigma")
    max_frames = _check_count(max_frames, "max_frames", MIN_FRAMES)
    n_frames, _, _ = _check_movie(frames, MIN_FRAMES)
    generator = as_generator(random_state)

    read_var = None
    if dark is not None:
        dark_offset, read_var = _dark_level(dark)
        if offset is None:
            offset = dark_offset

    chosen = _sample_frames(n_frames, max_frames, generator)
    background_size = max(_TILE, int(math.ceil(8 * psf_sigma)))
    per_frame = []
    for index in chosen:
        frame = _detection.read_batch(frames, index, index + 1)[0].astype(np.float64)
        free = _spot_free(frame, psf_sigma, background_size)
        per_frame.append(_tile_statistics(frame, free))
    group = np.concatenate([np.full(len(p), k) for k, (p, _) in enumerate(per_frame)])
    stats = np.concatenate([p for p, _ in per_frame])
    differences = np.concatenate([d for _, d in per_frame])
    if len(stats) < 3:
        raise ValueError(
            "Too few pixels away from spots to measure the camera: the frames are "
            "too crowded or too small."
        )

    # Is there a range of levels? The tiles' means must spread well beyond
    # the noise of one mean.
    mean, k2, _, n = stats.T
    noise_of_mean = float(np.median(np.sqrt(np.abs(k2) / n)))
    spread = float(np.std(mean))
    if read_var is None and not spread > _MIN_SPREAD * noise_of_mean:
        raise ValueError(
            f"The frames' background hardly changes (the spot-free tiles' means "
            f"spread by {spread:.3g} ADU, {spread / max(noise_of_mean, 1e-300):.2g} "
            "times their noise): the gain cannot be told apart from the offset "
            "and the read noise. Give dark frames (dark=...) taken with the "
            "same settings, or the camera's gain and offset, or calibrate on a "
            "movie whose background varies between frames or across the field."
        )

    def solve(rows, emccd):
        excess, c3 = (2.0, 6.0) if emccd else (1.0, 1.0)
        return _fit_curve(stats[rows], excess, c3, offset, read_var)

    everything = np.arange(len(stats))
    emccd_given = em_gain is not None and em_gain != "auto" and em_gain > 1
    first = solve(everything, emccd_given)
    # The pixels' own statistics are the more precise; where light between
    # the spots (faint ones the mask misses) makes them disagree with the
    # differences from the neighbours, the differences are taken.
    excess, c3 = (2.0, 6.0) if emccd_given else (1.0, 1.0)
    other = _fit_curve(differences, excess, c3, offset, read_var)
    notes = []
    if other["adu"] > 0 and not (abs(first["adu"] / other["adu"] - 1) <= _AGREE):
        notes.append(
            f"the spot-free pixels read {first['adu']:.4g} ADU/e-, their "
            f"differences from their neighbours {other['adu']:.4g}: light "
            "between the spots (a crowded movie); the differences taken"
        )
        stats, first = differences, other
    if not (first["adu"] > 0):
        raise ValueError(
            "The variance of the spot-free pixels does not grow with their mean: "
            "these frames are not a camera's counts (offset or background "
            "subtracted, or rescaled?). Give dark frames (dark=...) or the camera's "
            "gain and offset."
        )

    # Bootstrap over frames (tiles of one frame share its noise).
    frames_in = [np.flatnonzero(group == k) for k in range(len(per_frame))]
    picks = [
        generator.integers(0, len(per_frame), len(per_frame)) for _ in range(_BOOTSTRAP)
    ]

    def bootstrap(emccd):
        rows = (np.concatenate([frames_in[k] for k in pick]) for pick in picks)
        return [solve(r, emccd) for r in rows if len(r) >= 3]

    boot = bootstrap(emccd_given)
    ratio_std = float(np.nanstd([b["ratio"] for b in boot]))
    ratio = first["ratio"]

    if em_gain == "auto":
        # Each model fits when the ratio lies within _CONSISTENT deviations of
        # its value; when both do, they are not told apart (none taken).
        fits_none = abs(ratio - _RATIO_CONVENTIONAL) <= _CONSISTENT * ratio_std
        fits_emccd = abs(ratio - _RATIO_EMCCD) <= _CONSISTENT * ratio_std
        middle = 0.5 * (_RATIO_CONVENTIONAL + _RATIO_EMCCD)
        emccd = bool(ratio > middle) if fits_none == fits_emccd else fits_emccd
        if fits_none and fits_emccd:
            emccd = False
            notes.append(
                f"EMCCD not told apart (ratio {ratio:.2f} +- {ratio_std:.2f}): "
                "taken as none"
            )
        elif emccd:
            notes.append(
                f"EMCCD recognised (ratio {ratio:.2f} +- {ratio_std:.2f}); em_gain "
                f"not given: nominal {_NOMINAL_EM_GAIN:g}, only gain * em_gain measured"
            )
        if emccd:
            first = solve(everything, True)
            boot = bootstrap(True)
        value = _NOMINAL_EM_GAIN if emccd else 1.0
    else:
        emccd = emccd_given
        value = 1.0 if em_gain is None else em_gain

    adu_std = float(np.nanstd([b["adu"] for b in boot]))
    offset_std = (
        0.0 if offset is not None else float(np.nanstd([b["offset"] for b in boot]))
    )
    gain = first["adu"] / value
    read_noise_electrons = math.sqrt(first["read_var"]) / gain
    if dark is not None:
        how = "dark frames' offset and read noise; gain from the spot-free pixels"
    elif offset is not None:
        how = "offset given; gain from the spot-free pixels' photon-transfer curve"
    else:
        how = "photon-transfer curve and third cumulant of the spot-free pixels"
    return CameraCalibration(
        gain=float(gain),
        gain_std=adu_std / value,
        offset=first["offset"],
        offset_std=offset_std,
        em_gain=float(value),
        excess=2.0 if emccd else 1.0,
        read_noise=float(read_noise_electrons),
        emccd_ratio=float(ratio),
        emccd_ratio_std=ratio_std,
        method="; ".join([how, *notes]),
        n_frames=len(per_frame),
        n_tiles=first["n_tiles"],
    )


# ---------------------------------------------------------------------------
# The spots' conditions


_PERCENTILES = (5.0, 50.0, 95.0)
# Isolated: no other detection within this many PSF widths.
_ISOLATION = 4.0
# Fitted widths outside these bounds (pixels) are failed fits.
_WIDTH_BOUNDS = (0.3, 10.0)
_MIN_SPOTS = 5
# Crop pixels within this many PSF widths (plus a pixel) of another
# detection are left out of a spot's fit.
_NEIGHBOUR_REACH = 3.0


@dataclass(frozen=True, repr=False)
class SpotConditions:
    """The photons, background and PSF width of a movie's isolated spots.

    Attributes
    ----------
    photons, background, psf_sigma : tuple of float
        The 5th percentile, median and 95th percentile of each spot's fitted
        photons (photoelectrons), background (photoelectrons per pixel) and
        PSF width (pixels).
    n_spots : int
        The isolated spots fitted.
    n_frames : int
        The frames they were found in (a sample of the movie).
    camera : CameraCalibration or dict
        The camera the frames were converted to photoelectrons with.
    spots : pandas.DataFrame
        One row per spot: ``frame``, ``row``, ``col``, ``photons``,
        ``background``, ``psf_sigma``.
    """

    photons: tuple
    background: tuple
    psf_sigma: tuple
    n_spots: int
    n_frames: int
    camera: object
    spots: object

    def simulation_kwargs(self):
        """Keyword arguments of :func:`~pixel_regressor.make_spot_frames` (and
        :func:`~pixel_regressor.make_bright_spot_dataset`) that cover these
        conditions: the 5th-95th percentile ranges of photons, background and
        PSF width, and the camera."""
        camera = self.camera
        camera = camera.camera() if hasattr(camera, "camera") else dict(camera)
        return {
            "photons": (self.photons[0], self.photons[2]),
            "background": (
                max(self.background[0], 1e-3),
                max(self.background[2], 1e-3),
            ),
            "psf_sigma": (self.psf_sigma[0], self.psf_sigma[2]),
            **camera,
        }

    def __repr__(self):
        def row(name, values, unit):
            low, median, high = values
            return (
                f"    {name}: median {median:.4g}, 5-95 % {low:.4g} to {high:.4g}"
                f" {unit},\n"
            )

        return (
            "SpotConditions(\n"
            + row("photons", self.photons, "photoelectrons")
            + row("background", self.background, "per pixel")
            + row("psf_sigma", self.psf_sigma, "px")
            + f"    n_spots={self.n_spots}, n_frames={self.n_frames},\n)"
        )


def _share_and_derivatives(centres, n_pixels, sigma):
    """Pixel shares of 1-D Gaussians and their derivatives in centre and width.

    ``centres`` and ``sigma`` have shape ``(m,)``; each result ``(m, n)``.
    """
    from scipy.special import erf

    edges = np.arange(n_pixels + 1, dtype=np.float64) - 0.5
    s = sigma[:, None]
    z = (edges - centres[:, None]) / s
    cdf = 0.5 * erf(z / math.sqrt(2.0))
    density = np.exp(-0.5 * z * z) / (math.sqrt(2.0 * math.pi) * s)
    share = np.diff(cdf, axis=1)
    d_centre = density[:, :-1] - density[:, 1:]
    # d/ds Phi((e - c) / s) = -density * z
    d_sigma = -(density * z)[:, 1:] + (density * z)[:, :-1]
    return share, d_centre, d_sigma


def _model(theta, side):
    """Expected counts ``(m, side * side)`` and Jacobian ``(m, 5, side * side)``."""
    row, col, photons, background, sigma = theta.T
    r, dr, sr = _share_and_derivatives(row, side, sigma)
    c, dc, sc = _share_and_derivatives(col, side, sigma)
    m = len(theta)
    outer = r[:, :, None] * c[:, None, :]
    jacobian = np.empty((m, 5, side, side))
    jacobian[:, 0] = photons[:, None, None] * dr[:, :, None] * c[:, None, :]
    jacobian[:, 1] = photons[:, None, None] * r[:, :, None] * dc[:, None, :]
    jacobian[:, 2] = outer
    jacobian[:, 3] = 1.0
    jacobian[:, 4] = photons[:, None, None] * (
        sr[:, :, None] * c[:, None, :] + r[:, :, None] * sc[:, None, :]
    )
    mu = photons[:, None, None] * outer + background[:, None, None]
    return mu.reshape(m, -1), jacobian.reshape(m, 5, -1)


def _negative_log_likelihood(mu, data, weights):
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.sum(weights * (mu - data * np.log(mu)), axis=1)
    return np.where(np.all(mu > 0, axis=1), value, np.inf)


def _fit_spots_with_width(
    crops, psf_sigma, read_noise=0.0, weights=None, n_iterations=60
):
    """Poisson maximum-likelihood ``(row, col, photons, background, psf_sigma)``.

    The image model of :mod:`pixel_regressor._psf` (pixel-integrated
    Gaussian on a uniform background) with the width free: Fisher scoring
    with a Levenberg-Marquardt damping per crop, all crops at once. Read
    noise (photoelectrons) shifts data and model by ``read_noise ** 2`` as
    :func:`pixel_regressor._psf.fit_spot` does.

    Parameters
    ----------
    crops : ndarray of shape (m, side, side)
        Crops in photoelectrons, each centred on one spot.
    psf_sigma : float
        The starting width.
    weights : ndarray of shape (m, side, side), default=None
        1 for the pixels that count, 0 for those left out (nearer another
        spot); all count if None.

    Returns
    -------
    theta : ndarray of shape (m, 5)
    converged : ndarray of shape (m,) of bool
    """
    crops = np.asarray(crops, dtype=np.float64)
    m, side, _ = crops.shape
    shift = float(read_noise) ** 2
    data = crops.reshape(m, -1) + shift
    weights = (
        np.ones_like(data) if weights is None else np.reshape(weights, (m, -1)) * 1.0
    )
    border = np.ones((side, side), dtype=bool)
    border[1:-1, 1:-1] = False
    background = np.median(crops[:, border], axis=1)
    photons = np.maximum((crops.reshape(m, -1) - background[:, None]).sum(axis=1), 1.0)
    centre = (side - 1) / 2.0
    theta = np.column_stack(
        [
            np.full(m, centre),
            np.full(m, centre),
            photons,
            np.maximum(background, 1e-3),
            np.full(m, float(psf_sigma)),
        ]
    )
    shifted = theta.copy()
    shifted[:, 3] += shift
    mu, _ = _model(shifted, side)
    nll = _negative_log_likelihood(mu, data, weights)
    damping = np.full(m, 1e-3)
    low = np.array([-0.5, -0.5, 1e-6, -shift + 1e-9, _WIDTH_BOUNDS[0]])
    high = np.array([side - 0.5, side - 0.5, np.inf, np.inf, _WIDTH_BOUNDS[1]])
    converged = np.zeros(m, dtype=bool)
    for _ in range(n_iterations):
        shifted = theta.copy()
        shifted[:, 3] += shift
        mu, jacobian = _model(shifted, side)
        gradient = np.einsum("mkp,mp->mk", jacobian, weights * (1.0 - data / mu))
        information = np.einsum(
            "mkp,mlp->mkl", jacobian * (weights / mu)[:, None, :], jacobian
        )
        diagonal = np.diagonal(information, axis1=1, axis2=2)
        damped = information + damping[:, None, None] * (
            diagonal[:, :, None] * np.eye(5)
        )
        try:
            step = -np.linalg.solve(damped, gradient[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -gradient / np.maximum(diagonal, 1e-12)
        trial = np.clip(theta + step, low, high)
        trial_shifted = trial.copy()
        trial_shifted[:, 3] += shift
        trial_mu, _ = _model(trial_shifted, side)
        trial_nll = _negative_log_likelihood(trial_mu, data, weights)
        better = trial_nll < nll
        change = np.abs(nll - trial_nll)
        theta[better] = trial[better]
        converged |= better & (change < 1e-7 * np.maximum(np.abs(nll), 1.0))
        nll = np.where(better, trial_nll, nll)
        damping = np.where(better, damping / 3.0, damping * 4.0)
        damping = np.clip(damping, 1e-9, 1e9)
        if np.all(converged | (damping >= 1e9)):
            break
    return theta, converged | (damping < 1e9)


def _as_camera(camera, frames, random_state):
    if camera is None:
        return calibrate_camera(frames, random_state=random_state)
    if isinstance(camera, CameraCalibration):
        return camera
    if isinstance(camera, dict):
        unknown = set(camera) - {"gain", "offset", "em_gain", "read_noise"}
        if unknown:
            raise ValueError(
                f"camera takes the keys gain, offset, em_gain and read_noise, got "
                f"{sorted(unknown)}."
            )
        values = {"gain": 1.0, "offset": 0.0, "em_gain": 1.0, "read_noise": 0.0}
        values.update(camera)
        for name, value in values.items():
            minimum = 1.0 if name == "em_gain" else 0.0
            closed = name in ("offset", "read_noise", "em_gain")
            values[name] = _check_positive_real(
                value, f"camera[{name!r}]", minimum=minimum, closed=closed
            )
        return values
    raise TypeError(
        "camera must be None (calibrated from the frames), a CameraCalibration "
        f"or a dict of gain, offset, em_gain and read_noise, got {camera!r}."
    )


def _camera_figures(camera):
    """``(offset, adu_per_photon, read_noise_photons)`` of a camera."""
    if isinstance(camera, CameraCalibration):
        gain, offset, em_gain = camera.gain, camera.offset, camera.em_gain
        read_noise = camera.read_noise
    else:
        gain, offset = camera["gain"], camera["offset"]
        em_gain, read_noise = camera["em_gain"], camera["read_noise"]
    # Read noise in electrons after the register: over em_gain in photoelectrons.
    return offset, gain * em_gain, read_noise / em_gain


def _isolated_crops(batch, psf_sigma, threshold, half, isolation):
    """Crops ``(m, 2 half + 1, 2 half + 1)`` of isolated detections, and where."""
    from scipy.spatial import cKDTree

    found = _detection.detect_batch(
        batch, psf_sigma, threshold, max(16, int(math.ceil(8 * psf_sigma)))
    )
    frame, row, col = found["frame"], found["row"], found["col"]
    _, height, width = batch.shape
    keep = (row >= half) & (row < height - half) & (col >= half) & (col < width - half)
    if len(frame) > 1:
        points = np.column_stack([frame * 1e6 + row, col]).astype(np.float64)
        distance, _ = cKDTree(points).query(points, k=2)
        keep &= distance[:, 1] > isolation * psf_sigma
    others = np.column_stack([frame * 1e6 + row, col]).astype(np.float64)
    frame, row, col = frame[keep], row[keep], col[keep]
    offsets = np.arange(-half, half + 1)
    rows = row[:, None, None] + offsets[None, :, None]
    cols = col[:, None, None] + offsets[None, None, :]
    crops = batch[frame[:, None, None], rows, cols]
    # Pixels within reach of another detection's light are left out of the fit.
    weights = np.ones(crops.shape)
    if len(frame) and len(others) > 1:
        pixels = np.column_stack(
            [
                (frame[:, None, None] * 1e6 + rows + 0 * cols).ravel(),
                (cols + 0 * rows).ravel(),
            ]
        ).astype(np.float64)
        distance, _ = cKDTree(others).query(pixels, k=2)
        # The nearest is the spot itself, unless another is nearer.
        own = np.repeat(
            np.column_stack([frame * 1e6 + row, col]).astype(np.float64),
            crops.shape[1] * crops.shape[2],
            axis=0,
        )
        to_own = np.hypot(*(pixels - own).T)
        nearest_other = np.where(
            np.isclose(distance[:, 0], to_own), distance[:, 1], distance[:, 0]
        )
        reach = _NEIGHBOUR_REACH * psf_sigma + 1.0
        weights = (nearest_other > reach).reshape(crops.shape).astype(np.float64)
    return crops, weights, frame, row, col


def measure_spot_conditions(
    frames,
    *,
    camera=None,
    psf_sigma=None,
    max_frames=200,
    false_alarm_rate=1e-5,
    isolation=_ISOLATION,
    random_state=None,
):
    """The photons, background and PSF width of a movie's isolated spots.

    Detects the spots (:func:`~pixel_regressor.detection.detect_spots`'
    matched filter), keeps those with no other detection within
    ``isolation`` PSF widths and whose crop lies inside the frame, converts
    the crops to photoelectrons with the camera, and fits each with a
    Poisson maximum-likelihood pixel-integrated Gaussian whose position,
    photons, background and width are all free (the image model of the
    package's :func:`~pixel_regressor.localization_crlb`; widths from fits,
    not image moments, which read wide). The percentiles of the fitted
    values are what a training simulation should cover.

    The spots found are those the detector sees: the faintest of the movie
    are missed, so the low end of ``photons`` reads high.

    Parameters
    ----------
    frames : array-like of shape (n_frames, height, width)
        The movie in ADU (any real dtype), or one frame.

    camera : None, CameraCalibration or dict, default=None
        The camera: None calibrates it from the frames
        (:func:`calibrate_camera`, which needs 10 frames or more); a dict
        holds any of ``gain``, ``offset``, ``em_gain`` and ``read_noise``
        (the defaults: photon counts).

    psf_sigma : float, default=None
        The PSF width for detection and the fits' start, in pixels. None:
        1.3 first, then the median fitted width (one more pass when it
        differs by more than 10 %).

    max_frames : int, default=200
        Frames sampled from the movie.

    false_alarm_rate : float, default=1e-5
        The detector's false detections per pixel of noise.

    isolation : float, default=4.0
        The fewest PSF widths between a kept spot and any other detection.

    random_state : int, RandomState instance, Generator instance or None, \
            default=None
        Determines the frames sampled (and the camera's calibration).

    Returns
    -------
    conditions : SpotConditions
        Percentiles (5th, 50th, 95th) of photons, background and width; the
        count of spots; the camera; each spot's fit as a DataFrame;
        :meth:`SpotConditions.simulation_kwargs` for the simulators.

    Raises
    ------
    ValueError
        Fewer than 5 isolated spots found, or a parameter out of range.
    TypeError
        A camera of another type.

    See Also
    --------
    calibrate_camera : The camera from the frames.
    pixel_regressor.make_spot_frames : Simulated movies of these conditions.

    Examples
    --------
    >>> from pixel_regressor import make_spot_frames
    >>> from pixel_regressor.calibration import measure_spot_conditions
    >>> frames, truth = make_spot_frames(
    ...     20, shape=64, density=2, psf_sigma=1.5, photons=2000, random_state=0
    ... )
    >>> conditions = measure_spot_conditions(frames, camera={})
    >>> round(conditions.psf_sigma[1], 1), round(conditions.background[1])
    (1.5, 10)
    """
    generator = as_generator(random_state)
    max_frames = _check_count(max_frames, "max_frames", 1)
    if psf_sigma is not None:
        psf_sigma = _check_positive_real(psf_sigma, "psf_sigma")
    false_alarm_rate = _check_positive_real(false_alarm_rate, "false_alarm_rate")
    isolation = _check_positive_real(isolation, "isolation")
    n_frames, height, width = _detection.check_frames(frames)
    if getattr(frames, "ndim", 3) == 2:
        frames = np.asarray(frames)[None]
        n_frames = 1
    camera = _as_camera(camera, frames, random_state)
    offset, adu_per_photon, read_noise = _camera_figures(camera)
    chosen = _sample_frames(n_frames, max_frames, generator)

    def measure(sigma):
        threshold = _detection.false_alarm_threshold(false_alarm_rate, sigma)
        half = int(math.ceil(3.0 * sigma)) + 1
        parts = []
        for start in range(0, len(chosen), 32):
            index = chosen[start : start + 32]
            batch = np.stack(
                [_detection.read_batch(frames, i, i + 1)[0] for i in index]
            )
            crops, weights, frame, row, col = _isolated_crops(
                batch, sigma, threshold, half, isolation
            )
            if not len(frame):
                continue
            crops = (crops.astype(np.float64) - offset) / adu_per_photon
            theta, ok = _fit_spots_with_width(crops, sigma, read_noise, weights)
            centre = half
            ok &= np.all(np.abs(theta[:, :2] - centre) <= 1.5, axis=1)
            ok &= (theta[:, 4] > _WIDTH_BOUNDS[0] * 1.01) & (
                theta[:, 4] < _WIDTH_BOUNDS[1] * 0.99
            )
            parts.append(
                np.column_stack(
                    [
                        index[frame[ok]],
                        row[ok] - half + theta[ok, 0],
                        col[ok] - half + theta[ok, 1],
                        theta[ok, 2:],
                    ]
                )
            )
        return np.concatenate(parts) if parts else np.empty((0, 6))

    sigma = 1.3 if psf_sigma is None else psf_sigma
    fitted = measure(sigma)
    if psf_sigma is None and len(fitted) >= _MIN_SPOTS:
        median = float(np.median(fitted[:, 5]))
        if abs(median - sigma) > 0.1 * sigma:
            fitted = measure(median)
    if len(fitted) < _MIN_SPOTS:
        raise ValueError(
            f"Found {len(fitted)} isolated spots in {len(chosen)} frames; at least "
            f"{_MIN_SPOTS} are needed: give more frames, a higher "
            "false_alarm_rate, a smaller isolation, or the right psf_sigma."
        )
    import pandas as pd

    spots = pd.DataFrame(
        {
            "frame": fitted[:, 0].astype(np.int64),
            "row": fitted[:, 1],
            "col": fitted[:, 2],
            "photons": fitted[:, 3],
            "background": fitted[:, 4],
            "psf_sigma": fitted[:, 5],
        }
    )

    def percentiles(values):
        return tuple(float(v) for v in np.percentile(values, _PERCENTILES))

    return SpotConditions(
        photons=percentiles(spots["photons"]),
        background=percentiles(spots["background"]),
        psf_sigma=percentiles(spots["psf_sigma"]),
        n_spots=len(spots),
        n_frames=len(chosen),
        camera=camera,
        spots=spots,
    )
