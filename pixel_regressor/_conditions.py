"""The conditions a spot model was trained on, and the images outside them.

A spot model's positions, and the deviations of ``return_std``, are
calibrated on its training images: saturated spots, another camera's gain or
offset, spots far brighter, fainter, wider or narrower than trained, and
spots at an edge where training had none can make them wrong while they look
sure. :func:`measure` takes, from each image and its
:func:`~pixel_regressor._uncertainty.statistics`, what needs no ground
truth; :func:`summarize` keeps the training images' ranges of it (the
estimator's ``training_conditions_``, a dict of floats); :func:`outside`
says which images leave them and :func:`warn` tells the user, naming each
condition and the share of images.

NumPy only.
"""

import warnings

import numpy as np

from .exceptions import OutsideTrainingWarning

__all__ = ["KEYS", "OPTIONAL_KEYS", "measure", "outside", "summarize", "warn"]

#: The keys of ``training_conditions_``: the 1st and 99th percentiles of the
#: spot's signal (the images' units), of its width (the PSF's standard
#: deviation, pixels), of the background's variance over its level (1 for
#: photon counts; a camera's gain multiplies it, an offset divides it); the
#: significance below which there is no spot above the noise (see
#: :func:`detection_of`); the share of images with a spot within
#: :data:`EDGE_PX` of an edge and with saturated pixels; the image size.
KEYS = (
    "signal_low",
    "signal_high",
    "width_low",
    "width_high",
    "dispersion_low",
    "dispersion_high",
    "detection_z",
    "edge_share",
    "saturated_share",
    "image_height",
    "image_width",
)
#: Keys absent when the training images' background had no positive level
#: (offset or background subtracted): the dispersion is then not measured.
OPTIONAL_KEYS = ("dispersion_low", "dispersion_high")
#: A spot whose centre is within this many pixels of the edge pixels'
#: centres is at the edge.
EDGE_PX = 1.5
_PERCENTILES = (1.0, 99.0)
# How far beyond the trained range an image is still taken as inside it:
# a factor on the signal and on the dispersion, a share of the width. The
# spot head's deviations stay within 0.8-1.3 of the errors' spread there
# (measured on a model trained on 300-3,000 photons, width 1.3 px).
_SIGNAL_SLACK = 3.0
# The width is measured, and checked, on spots this many standard errors
# above the noise: fainter ones' widths scatter far beyond the PSF's.
_WIDTH_SIGNIFICANCE = 15.0
_DISPERSION_SLACK = 1.5
_WIDTH_SLACK = 0.1
# A condition held by fewer training images than this share was not
# trained on. Images holding a condition are warned of when more than
# _WARN_SHARE of them do (one image alone always): in-range images stray
# past the trained 1st-99th percentiles now and then (1 % of a test set with
# hot pixels did, by width), and a warning on them would cry wolf.
_FEW = 0.01
_WARN_SHARE = 0.02
# Pixels at an image's maximum, well above its background, that make a
# flat-topped (clipped) peak: faint spots in photon counts tie three pixels
# at their maximum in about one image in a hundred, five hardly ever.
_FLAT_TOP = 5


def _saturated(images, stats):
    """Images with saturated pixels: one at an integer dtype's largest value,
    or :data:`_FLAT_TOP` at the image's maximum, five noise deviations above
    the background."""
    flat = np.asarray(images).reshape(len(images), -1)
    top = flat.max(axis=1)
    if np.issubdtype(flat.dtype, np.integer):
        clipped = top >= np.iinfo(flat.dtype).max
    else:
        clipped = np.zeros(len(flat), dtype=bool)
    at_top = (flat == top[:, None]).sum(axis=1)
    level, noise = stats[:, 8], np.sqrt(stats[:, 1])
    flat_topped = (at_top >= _FLAT_TOP) & (top.astype(np.float64) - level > 5 * noise)
    return clipped | flat_topped


def measure(images, stats, detection):
    """What each image says of its conditions, without its truth.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width, 1)
        The images, in their own dtype.
    stats : ndarray of shape (n_samples, 11)
        Their :func:`~pixel_regressor._uncertainty.statistics`.
    detection : float
        The significance below which there is no spot above the noise.

    Returns
    -------
    measured : dict of ndarrays of shape (n_samples,)
        ``signal``, ``width`` (pixels), ``dispersion`` (the background's
        variance, from its pixels below its level, over that level; NaN where
        the level is not positive),
        ``edge`` (the spot centre's distance to the edge, pixels), and the
        booleans ``saturated`` and ``detected`` (a spot above the noise).
    """
    level = stats[:, 8]
    positive = level > 0
    return {
        "signal": stats[:, 0],
        "width": np.sqrt(np.maximum(stats[:, 2] - 1 / 12, 0.0)),
        "dispersion": np.divide(
            stats[:, 9], level, out=np.full(len(stats), np.nan), where=positive
        ),
        "edge": stats[:, 10],
        "saturated": _saturated(images, stats),
        "significance": stats[:, 7],
        "detected": stats[:, 7] >= detection,
    }


def detection_of(significance):
    """The significance below which an image has no spot above the noise,
    for a model trained on images of these ``significance``: at most
    :data:`~pixel_regressor._uncertainty.DETECTION_Z`, and half the 1st
    percentile of the training images' (spots found at the detection limit
    are the training's, whose lost spots ``miss_odds_`` weighs)."""
    from ._uncertainty import DETECTION_Z

    if not len(significance):
        return DETECTION_Z
    low = 0.5 * float(np.percentile(significance, _PERCENTILES[0]))
    return float(min(DETECTION_Z, max(low, 0.0)))


def summarize(measured, image_shape):
    """``training_conditions_`` of the training images' :func:`measure`: a
    dict of floats (see :data:`KEYS`)."""
    spots = measured["detected"] & ~measured["saturated"]
    significance = measured["significance"][~measured["saturated"]]
    if not spots.any():
        spots = np.ones_like(spots)
    low, high = _PERCENTILES
    out = {}
    clear = spots & (measured["significance"] >= _WIDTH_SIGNIFICANCE)
    for name, rows in (("signal", spots), ("width", clear if clear.any() else spots)):
        values = measured[name][rows]
        out[f"{name}_low"] = float(np.percentile(values, low))
        out[f"{name}_high"] = float(np.percentile(values, high))
    dispersion = measured["dispersion"][spots]
    dispersion = dispersion[np.isfinite(dispersion)]
    if len(dispersion) >= 0.5 * spots.sum():
        out["dispersion_low"] = float(np.percentile(dispersion, low))
        out["dispersion_high"] = float(np.percentile(dispersion, high))
    out["detection_z"] = detection_of(significance)
    out["edge_share"] = float(np.mean(measured["edge"] < EDGE_PX))
    out["saturated_share"] = float(np.mean(measured["saturated"]))
    out["image_height"], out["image_width"] = (float(n) for n in image_shape)
    return out


def outside(conditions, measured, kind):
    """The images outside ``conditions``, condition by condition.

    ``kind`` is the head's ``std`` kind: ``"formula"`` (``head="spot"``,
    whose deviations take the signal in photons and the spot's width from
    training) is checked on every condition; ``"fisher"`` (``head="spot_fit"``,
    whose Gaussian fit gives its own deviations) on saturation, no spot, and
    a background too low for its counts (an offset). Returns a list of
    ``(description, mask)``.
    """
    found = measured["detected"]
    out = []
    if conditions["saturated_share"] < _FEW:
        out.append(
            (
                "saturated pixels (at the dtype's largest value, or a "
                "flat-topped peak): positions are biased and deviations wrong",
                measured["saturated"],
            )
        )
    out.append(
        (
            "no spot above the noise: their positions are arbitrary and their "
            "deviations the spread of a position anywhere in the image",
            ~found,
        )
    )
    if "dispersion_low" in conditions:
        dispersion = measured["dispersion"]
        low = conditions["dispersion_low"] / _DISPERSION_SLACK
        high = conditions["dispersion_high"] * _DISPERSION_SLACK
        with np.errstate(invalid="ignore"):
            if kind == "formula":
                other = ~((dispersion >= low) & (dispersion <= high))
            else:
                other = dispersion < low
        out.append(
            (
                "another camera gain or offset than trained (the background's "
                f"variance over its level outside {low:.3g}-{high:.3g}): "
                "deviations wrong",
                other & found,
            )
        )
    if kind == "formula":
        signal = measured["signal"]
        low = conditions["signal_low"] / _SIGNAL_SLACK
        high = conditions["signal_high"] * _SIGNAL_SLACK
        out.append(
            (
                f"spots brighter or fainter than trained (signal outside "
                f"{low:.3g}-{high:.3g}): deviations wrong",
                ~((signal >= low) & (signal <= high)) & found,
            )
        )
        width = measured["width"]
        low = conditions["width_low"] * (1 - _WIDTH_SLACK)
        high = conditions["width_high"] * (1 + _WIDTH_SLACK)
        out.append(
            (
                f"spot widths outside the trained {low:.2f}-{high:.2f} px: "
                "deviations wrong",
                ~((width >= low) & (width <= high))
                & found
                & (measured["significance"] >= _WIDTH_SIGNIFICANCE),
            )
        )
        if conditions["edge_share"] < _FEW:
            out.append(
                (
                    f"spots within {EDGE_PX} px of an edge, which the training "
                    "images hardly had: positions biased, deviations too small",
                    (measured["edge"] < EDGE_PX) & found,
                )
            )
    return out


def warn(conditions, measured, kind, n_images, stacklevel=3):
    """Warn, with an :class:`~pixel_regressor.exceptions.
    OutsideTrainingWarning`, of the conditions of :func:`outside` that more
    than :data:`_WARN_SHARE` of the images (``measured``, of ``n_images``
    checked) hold; nothing without ``conditions`` (a model saved before they
    were recorded)."""
    if conditions is None or not n_images:
        return
    held = [
        (description, float(np.mean(mask)))
        for description, mask in outside(conditions, measured, kind)
        if np.mean(mask) > _WARN_SHARE
    ]
    if not held:
        return
    checked = "the image" if n_images == 1 else f"the {n_images} images checked"
    listed = "; ".join(f"{share:.0%}: {description}" for description, share in held)
    warnings.warn(
        f"Images outside the conditions this spot model was trained on, of "
        f"{checked}: {listed}. See the user guide's spots page.",
        OutsideTrainingWarning,
        stacklevel=stacklevel,
    )
