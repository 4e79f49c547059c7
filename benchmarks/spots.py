"""Blurred spots: each localiser's error beside the Cramer-Rao lower bound.

Usage::

    python benchmarks/spots.py [--quick] [--methods M [M ...]]
                               [--train-size N] [--test-size N] [--mle-size N]
                               [--bayes-size N] [--out PATH]
    python benchmarks/spots.py --render benchmarks/results/spots.json

Images of ``make_bright_spot_dataset``: 32x32, a Gaussian PSF of width 1.3 px,
a background of 10 expected counts per pixel, Poisson noise. Test sets of
``--test-size`` images (default 2,000) at 100, 300, 1,000 and 3,000 photons,
at 1,000 photons with 3 hot pixels per image (3x the image's largest
expected value), and at 1,000 photons in an EMCCD camera's units (0.5 ADU per
electron after an EM gain of 100, a baseline of 100 ADU; its bound includes
the excess noise, and the three likelihood methods below, written for photon
counts, are not run there); a training set of ``--train-size`` images
(default 20,000) of each. Side by side, in one process:

- ``argmax``: ``np.argmax`` of each image.
- ``smoothed_centroid``: the hand pipeline a user would write with
  :mod:`scipy.ndimage`: smooth with a Gaussian of the PSF's width, take the
  peak, then the centroid of the 7x7 square around it after subtracting the
  image's median (negative values set to 0).
- ``photutils_2dg`` and ``photutils_com``: ``photutils.centroids.
  centroid_sources`` with ``centroid_2dg`` (a 2-D Gaussian fit) and
  ``centroid_com`` (centre of mass) in a 7x7 box around the smoothed peak, on
  the image minus its median, as photutils' documentation does.
- ``picasso_mle``: Picasso's Gaussian maximum-likelihood fit
  (``picasso.gaussmle.gaussmle``, one free width, Newton iterations to a
  tolerance of 1e-3, at most 100), on the same 7x7 boxes, as Picasso
  localises; one thread. Skipped, with a note, when Picasso is not installed
  (``benchmarks/README.md`` says how).
- ``mle``: the per-image Poisson maximum-likelihood fit of the image model
  (``pixel_regressor._psf.fit_spot``; row, col, photons and background free),
  the estimator known to reach the bound. It runs on the first
  ``--mle-size`` test images of each set (default 500).
- ``posterior_mean``: the Bayes estimator under squared error, a reference
  rather than a method: the mean of the position's posterior given the
  condition's true photons and background, a uniform prior over the
  generator's positions (``[margin, 31 - margin]`` on each axis) and the
  Poisson likelihood of the pixel counts under the exact pixel-integrated
  PSF (``pixel_regressor._psf.posterior_mean_positions``, a grid integral).
  On test images drawn this way no estimator of any kind has a smaller
  expected RMSE; it can fall below the bound, which holds for unbiased
  estimators that know neither photons nor background. Not run with hot
  pixels, which its model lacks. Its expected RMSE at 100 photons is also
  estimated from the posterior variances (their mean is its expected squared
  error) of ``--bayes-size`` more images (default 20,000): less noisy than
  its errors on the test set, which a few spots lost in the noise dominate.
- ``dense``: ``BrightPixelRegressor(head="dense")``, defaults.
- ``spot``: ``BrightPixelRegressor(head="spot")``, defaults.
- ``spot_fit``: ``BrightPixelRegressor(head="spot_fit")``, defaults: the spot
  head, its position polished by a Poisson maximum-likelihood fit of a
  Gaussian spot, its ``return_std`` the fit's Fisher information.

The three estimators are trained on each training set and tested on its test
set, and once more on photons drawn log-uniformly in [100, 3000] ("range"),
tested at every level. ``--methods`` picks the methods (all by default).

The ``spot_fit`` head is also trained once on images drawn over photons
100-10,000 (log-uniform), background 1-100 (log-uniform) and PSF width 1-2
px (uniform), each image weighted by 1 / its bound squared, and tested at
fixed conditions: 300 to 10,000 photons at each corner of the background
and width ranges and at the benchmark's own (10, 1.3 px); goals: within
1.10x the bound and calibrated ``return_std`` at every one. The ``spot``
head, trained and tested alike, is shown beside it (no goals). Beside them,
the posterior mean at each condition (on the first 1,000 test images), which
knows the condition: where even it is above 1.10x the bound by more than two
standard errors (spots too faint to be found), no estimator meets that goal,
and a second goal row counts the other conditions only. ``--methods
spot_fit_wide spot_wide`` runs this part alone; ``--wide-train-size``,
``--wide-epochs`` and ``--wide-filters`` train both models otherwise than
with the heads' defaults.

For the spot heads, also the calibration of ``predict(X, return_std=True)``
on each test set: the standard deviation of the z-scores ``(pred - true) /
std`` per axis (all images, and the found spots), and the predicted
deviation over the bound; goals for the model trained on the photon range:
z-scores' standard deviation within 0.9-1.1 at every level, and the
deviation within 10 % of the bound from 300 photons up.

For each method and test set: the root-mean-square error per axis (px,
both axes pooled, and each axis), the ratio to the Cramer-Rao bound of
``localization_crlb`` (averaged over the test images' positions as variances:
``sqrt(mean(crlb ** 2))``), the share of gross misses (more than 3 px off),
the fit time and the prediction time. Throughput: each method but the
per-image fits predicts the 1,000-photon test set three more times; the best
counts. The goals (the spot head within 1.05x the bound at 300, 1,000 and
3,000 photons and on the EMCCD, 1.2x at 100, 1.25x with hot pixels; better than the hand
pipeline and both photutils centroids everywhere; fit <= 60 s; predict >=
20,000 images/s and >= 100x faster per image than the fit) are marked met or
not met. Under them, for reference: the posterior mean's RMSE over the bound
at 100 photons, measured and expected, and the spot head's RMSE over the
posterior mean's.

Writes ``benchmarks/results/spots.json`` (``spots_quick.json`` with
``--quick``; ``--out`` to choose), renders it to Markdown beside it and draws
RMSE against photons, log-log, beside the bound (``.png``). ``--quick`` (a
smoke test of this script: 1,000 training images, 200 test images, 40
fits, 1,000 images for the expected RMSE, 2 epochs) is labelled quick and
not comparable to a full run. Exits with status 1 if a method failed.
``--render`` measures nothing: it renders an existing results JSON to
Markdown and PNG again.
"""

import argparse
import contextlib
import functools
import json
import os
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import report
from run import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SEED = 0

IMAGE_SIZE = 32
PSF_SIGMA = 1.3
BACKGROUND = 10.0
LEVELS = (100, 300, 1000, 3000)
HOT_PIXELS = 3
HOT_PHOTONS = 1000
PHOTON_RANGE = (100, 3000)
# An EMCCD camera's 16-bit-like ADU: 0.5 ADU per electron after an EM gain of
# 100, on a baseline of 100 ADU.
CAMERA = {"gain": 0.5, "offset": 100.0, "em_gain": 100.0}
CAMERA_PHOTONS = 1000
CAMERA_KEY = f"N={CAMERA_PHOTONS} EMCCD (ADU)"
BOX = 7  # the centroid window, px
GROSS_MISS_PX = 3.0
THROUGHPUT_REPEATS = 3

# Goals
RATIO_GOALS = {
    "N=100": 1.2,
    "N=300": 1.05,
    "N=1000": 1.05,
    "N=3000": 1.05,
    CAMERA_KEY: 1.05,  # the camera's own bound, with its excess noise
}
RATIO_GOAL_HOT = 1.25
Z_STD_BAND = (0.9, 1.1)  # return_std: std of the z-scores, per axis
STD_OVER_CRLB_TOLERANCE = 0.10  # return_std over the bound, from 300 photons
STD_TRACKS_FROM = 300
FIT_S = 60.0
PREDICT_IMAGES_PER_S = 20_000
SPEEDUP_VS_MLE = 100.0

# One model for a range of conditions: trained once on images drawn over
# these ranges, tested on fixed conditions inside them.
WIDE_RANGE = {"photons": (100, 10_000), "background": (1, 100), "psf_sigma": (1.0, 2.0)}
WIDE_LEVELS = (300, 1000, 3000, 10_000)
# (background, PSF width): the corners of the ranges and the benchmark's own.
WIDE_CONDITIONS = ((1, 1.0), (100, 1.0), (10, 1.3), (1, 2.0), (100, 2.0))
WIDE_MARGIN = 6.0  # 3x the widest PSF: the training set's default margin
WIDE_RATIO_GOAL = 1.10
# Picasso's gaussmle: its convergence tolerance and iteration cap.
PICASSO_EPS = 1e-3
PICASSO_MAX_IT = 100

BASELINES = (
    "argmax",
    "smoothed_centroid",
    "photutils_2dg",
    "photutils_com",
    "picasso_mle",
    "mle",
    "posterior_mean",
)
# Methods whose likelihood is of photon counts: not run on camera units.
PHOTON_LIKELIHOODS = ("picasso_mle", "mle", "posterior_mean")
ESTIMATORS = ("dense", "spot", "spot_fit")
METHODS = BASELINES + ESTIMATORS
# Besides the methods: the spot_fit and spot heads trained once on the ranges.
SECTIONS = ("spot_fit_wide", "spot_wide")
LABELS = {
    "crlb": "Cramer-Rao bound",
    "argmax": "`np.argmax`",
    "smoothed_centroid": "smoothed argmax + 7x7 centroid",
    "photutils_2dg": "photutils `centroid_2dg`",
    "photutils_com": "photutils `centroid_com`",
    "picasso_mle": "Picasso `gaussmle` (7x7 box, width free)",
    "mle": "per-image MLE fit",
    "posterior_mean": "posterior mean (Bayes, least expected RMSE)",
    "dense": 'BrightPixelRegressor(head="dense")',
    "spot": 'BrightPixelRegressor(head="spot")',
    "dense_range": 'head="dense", trained on [100, 3000]',
    "spot_range": 'head="spot", trained on [100, 3000]',
    "spot_fit": 'BrightPixelRegressor(head="spot_fit")',
    "spot_fit_range": 'head="spot_fit", trained on [100, 3000]',
    "spot_wide": 'head="spot", trained once on photons, background and PSF ranges',
    "spot_fit_wide": (
        'head="spot_fit", trained once on photons, background and PSF ranges'
    ),
}

MODES = {
    "full": {
        "train_size": 20_000,
        "test_size": 2_000,
        "mle_size": 500,
        "bayes_size": 20_000,
        "wide_bayes_size": 1_000,
        "epochs": None,
    },
    "quick": {
        "train_size": 1_000,
        "test_size": 200,
        "mle_size": 40,
        "bayes_size": 1_000,
        "wide_bayes_size": 50,
        "epochs": 2,
    },
}
BAYES_BATCH = 2_000  # images per call of the posterior mean (memory)


def scenarios():
    """The test conditions: key, photons, hot pixels, camera (None: photons)."""
    fixed = [(f"N={n}", n, 0, None) for n in LEVELS]
    return [
        *fixed,
        (f"N={HOT_PHOTONS} + {HOT_PIXELS} hot", HOT_PHOTONS, HOT_PIXELS, None),
        (CAMERA_KEY, CAMERA_PHOTONS, 0, CAMERA),
    ]


def make_data(n, photons, hot_pixels, seed, camera=None):
    from pixel_regressor import make_bright_spot_dataset

    return make_bright_spot_dataset(
        n,
        image_size=IMAGE_SIZE,
        psf_sigma=PSF_SIGMA,
        photons=photons,
        background=BACKGROUND,
        hot_pixels=hot_pixels,
        return_X_y=False,
        random_state=seed,
        **(camera or {}),
    )


# ---------------------------------------------------------------------------
# the baselines, written as a user would


def predict_argmax(images):
    flat = images.reshape(len(images), -1).argmax(axis=1)
    return np.stack(np.divmod(flat, images.shape[2]), axis=1).astype(np.float64)


def smoothed_peaks(images):
    """(row, col) of the peak of each image smoothed by the PSF."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(
        images.astype(np.float64), sigma=(0, PSF_SIGMA, PSF_SIGMA)
    )
    flat = smooth.reshape(len(images), -1).argmax(axis=1)
    return np.divmod(flat, images.shape[2])


def boxes(images):
    """The 7x7 box around each smoothed peak, moved inside the image at the
    edges: the boxes (float64), their rows and their columns."""
    n, height, width = images.shape
    rows, cols = smoothed_peaks(images)
    top = np.clip(rows - BOX // 2, 0, height - BOX)
    left = np.clip(cols - BOX // 2, 0, width - BOX)
    window_rows = top[:, None] + np.arange(BOX)
    window_cols = left[:, None] + np.arange(BOX)
    windows = images[
        np.arange(n)[:, None, None], window_rows[:, :, None], window_cols[:, None, :]
    ].astype(np.float64)
    return windows, window_rows, window_cols


def predict_smoothed_centroid(images):
    n = len(images)
    windows, window_rows, window_cols = boxes(images)
    windows -= np.median(images.reshape(n, -1), axis=1)[:, None, None]
    np.clip(windows, 0.0, None, out=windows)
    total = windows.sum(axis=(1, 2))
    total[total == 0] = np.nan
    row = (windows.sum(axis=2) * window_rows).sum(axis=1) / total
    col = (windows.sum(axis=1) * window_cols).sum(axis=1) / total
    return np.stack([row, col], axis=1)


def _photutils(images, centroid_func):
    from photutils.centroids import centroid_sources

    rows, cols = smoothed_peaks(images)
    out = np.empty((len(images), 2))
    for i, image in enumerate(images.astype(np.float64)):
        x, y = centroid_sources(
            image - np.median(image),
            cols[i],
            rows[i],
            box_size=BOX,
            centroid_func=centroid_func,
        )
        out[i] = y[0], x[0]
    return out


def predict_photutils_2dg(images):
    from photutils.centroids import centroid_2dg

    return _photutils(images, centroid_2dg)


def predict_photutils_com(images):
    from photutils.centroids import centroid_com

    return _photutils(images, centroid_com)


def picasso_missing():
    """Why Picasso cannot run here (None if it can)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from picasso import gaussmle  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure to import: skipped
        return f"{type(exc).__name__}: {exc}"
    return None


def predict_picasso_mle(images):
    """Picasso's Gaussian MLE on the 7x7 box around the smoothed peak.

    ``picasso.gaussmle.gaussmle`` with one free width (``method="sigma"``),
    as Picasso's localisation does on its boxes; one thread (what Picasso's
    own thread pool takes of 2 cores). Its ``x`` is the column and ``y`` the
    row, from the box's first pixel centre. Boxes it cannot fit (it divides
    by zero on some faint ones) are NaN, counted as misses.
    """
    from picasso.gaussmle import gaussmle

    windows, window_rows, window_cols = boxes(images)
    windows = windows.astype(np.float32)
    with warnings.catch_warnings():
        # gaussmle warns of its deprecation in favour of picasso.fitting.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            thetas, *_ = gaussmle(windows, PICASSO_EPS, PICASSO_MAX_IT, "sigma")
        except ZeroDivisionError:
            # A box that is all background can divide by zero in its start
            # values, which stops the whole call: fit box by box, and such a
            # box fails (NaN: scored as a miss).
            thetas = np.full((len(windows), 6), np.nan, dtype=np.float32)
            for i in range(len(windows)):
                with contextlib.suppress(ZeroDivisionError):
                    thetas[i] = gaussmle(
                        windows[i : i + 1], PICASSO_EPS, PICASSO_MAX_IT, "sigma"
                    )[0][0]
    return np.stack(
        [window_rows[:, 0] + thetas[:, 1], window_cols[:, 0] + thetas[:, 0]], axis=1
    ).astype(np.float64)


def predict_mle(images):
    from pixel_regressor._psf import fit_spot

    return np.array([fit_spot(image, PSF_SIGMA)[:2] for image in images])


def predict_posterior_mean(
    images,
    photons,
    margin,
    return_std=False,
    psf_sigma=PSF_SIGMA,
    background=BACKGROUND,
):
    """Posterior mean (and standard deviation) of each spot's position.

    The condition's true ``photons``, ``background`` and ``psf_sigma``,
    positions uniform over ``[margin, size - 1 - margin]`` on each axis as the
    generator draws them.
    """
    from pixel_regressor._psf import posterior_mean_positions

    support = [(margin, size - 1 - margin) for size in images.shape[1:]]
    return posterior_mean_positions(
        images, psf_sigma, photons, background, support, return_std=return_std
    )


PREDICT = {
    "argmax": predict_argmax,
    "smoothed_centroid": predict_smoothed_centroid,
    "photutils_2dg": predict_photutils_2dg,
    "photutils_com": predict_photutils_com,
    "picasso_mle": predict_picasso_mle,
    "mle": predict_mle,
}


def make_estimator(method, epochs, **params):
    from pixel_regressor import BrightPixelRegressor

    head = {"dense": "dense", "spot": "spot", "spot_fit": "spot_fit"}[method]
    params = {"head": head, "random_state": SEED, **params}
    if epochs is not None:
        params["epochs"] = epochs
    return BrightPixelRegressor(**params)


# ---------------------------------------------------------------------------
# measuring


def crlb_of(data):
    """The bound of each image of a generated set, at its own conditions."""
    from pixel_regressor import localization_crlb

    return localization_crlb(
        data.image_shape,
        psf_sigma=data.psf_sigma,
        photons=data.photons,
        background=data.background,
        read_noise=data.read_noise,
        gain=data.gain,
        offset=data.offset,
        em_gain=data.em_gain,
        position=data.target,
    )


def score(predicted, target, crlb):
    """RMSE per axis, its ratio to the bound, gross misses."""
    failed = ~np.all(np.isfinite(predicted), axis=1)
    # A failed prediction counts as a miss at the image's centre.
    predicted = np.where(failed[:, None], (IMAGE_SIZE - 1) / 2, predicted)
    errors = predicted - target
    rmse = float(np.sqrt(np.mean(errors**2)))
    bound = float(np.sqrt(np.mean(crlb**2)))
    misses = np.hypot(errors[:, 0], errors[:, 1]) > GROSS_MISS_PX
    kept = errors[~misses]
    without = float(np.sqrt(np.mean(kept**2))) if len(kept) else None
    return {
        "n_images": len(target),
        "rmse_px": rmse,
        "rmse_se_px": _rmse_standard_error(np.mean(errors**2, axis=1)),
        "rmse_row_px": float(np.sqrt(np.mean(errors[:, 0] ** 2))),
        "rmse_col_px": float(np.sqrt(np.mean(errors[:, 1] ** 2))),
        "crlb_px": bound,
        "ratio_to_crlb": rmse / bound,
        "gross_miss_share": float(misses.mean()),
        "rmse_without_misses_px": without,
        "ratio_without_misses_to_crlb": None if without is None else without / bound,
        "failed": int(failed.sum()),
    }


def _rmse_standard_error(squares):
    """Standard error of ``sqrt(mean(squares))`` (the delta method)."""
    if len(squares) < 2 or not np.any(squares):
        return None
    rmse = np.sqrt(np.mean(squares))
    return float(np.std(squares, ddof=1) / np.sqrt(len(squares)) / (2 * rmse))


def timed(function, *args):
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = function(*args)
    return value, time.perf_counter() - start, len(caught)


def evaluate(predict, data, crlb):
    predicted, seconds, n_warnings = timed(predict, data.images)
    result = score(predicted, data.target, crlb)
    result.update(
        predict_s=seconds,
        seconds_per_image=seconds / len(data.target),
        images_per_s=len(data.target) / seconds,
        warnings=n_warnings,
    )
    return result


def bayes_risk(size, photons, seed):
    """The posterior mean's expected RMSE, from its posterior variances.

    The expected squared error of the posterior mean is the mean of the
    posterior variance, which varies less from image to image than the
    squared error: its average over ``size`` more images drawn at
    ``photons`` (per axis) estimates the lowest expected RMSE any estimator
    can reach there, with a standard error.
    """
    data = make_data(size, photons, 0, seed)
    start = time.perf_counter()
    variances = []
    for first in range(0, size, BAYES_BATCH):
        _, std = predict_posterior_mean(
            data.images[first : first + BAYES_BATCH],
            photons,
            data.margin,
            return_std=True,
        )
        variances.append(np.mean(std**2, axis=1))
    seconds = time.perf_counter() - start
    variances = np.concatenate(variances)
    expected = float(np.sqrt(np.mean(variances)))
    bound = float(np.sqrt(np.mean(crlb_of(data) ** 2)))
    return {
        "key": f"N={photons}",
        "n_images": size,
        "expected_rmse_px": expected,
        "expected_rmse_se_px": _rmse_standard_error(variances),
        "crlb_px": bound,
        "expected_ratio_to_crlb": expected / bound,
        "seconds": seconds,
    }


def best_throughput(predict, images):
    best = min(timed(predict, images)[1] for _ in range(THROUGHPUT_REPEATS))
    return {"n_images": len(images), "best_s": best, "images_per_s": len(images) / best}


def _error(exc):
    return {"error": f"{type(exc).__name__}: {exc}"}


def run(methods, config, log=print):
    """Every measurement: the scenarios, results by method, throughput."""
    test_size, train_size = config["test_size"], config["train_size"]
    mle_size = config["mle_size"]
    skipped = {}
    if "picasso_mle" in methods and (reason := picasso_missing()) is not None:
        skipped["picasso_mle"] = reason
        methods = [m for m in methods if m != "picasso_mle"]
        log(f"picasso_mle skipped, Picasso is not installed here: {reason}")
    if "picasso_mle" in methods:  # numba compiles on the first call: not timed
        predict_picasso_mle(make_data(8, 1000, 0, SEED).images)
    results = {method: {} for method in methods}
    predictors = {m: PREDICT[m] for m in methods if m in PREDICT}
    tests = {}
    estimators = [m for m in methods if m in ESTIMATORS]
    for index, (key, photons, hot, camera) in enumerate(scenarios()):
        log(f"{key}: generating {test_size:,} test images")
        test = make_data(test_size, photons, hot, SEED + 1000 + index, camera)
        crlb = crlb_of(test)
        tests[key] = (test, crlb)
        for method in [m for m in methods if m in BASELINES]:
            if camera is not None and method in PHOTON_LIKELIHOODS:
                continue
            if method == "posterior_mean":
                if hot:  # not the Bayes estimator with hot pixels: skipped
                    continue
                predict = functools.partial(
                    predict_posterior_mean, photons=photons, margin=test.margin
                )
                results[method][key] = _evaluate_safely(predict, test, crlb)
            elif method == "mle":  # slow: a subset
                subset = SimpleNamespace(
                    images=test.images[:mle_size], target=test.target[:mle_size]
                )
                results[method][key] = _evaluate_safely(
                    PREDICT[method], subset, crlb[:mle_size]
                )
            else:
                results[method][key] = _evaluate_safely(PREDICT[method], test, crlb)
            log(f"  {method}: {_brief(results[method][key])}")
        if not estimators:
            continue
        log(f"{key}: generating {train_size:,} training images")
        train = make_data(train_size, photons, hot, SEED + index, camera)
        for method in estimators:
            scores, predict = fit_and_evaluate(
                method, train, {key: tests[key]}, config["epochs"]
            )
            results[method][key] = scores[key]
            if key == f"N={HOT_PHOTONS}" and predict is not None:
                predictors[method] = predict
            log(f"  {method}: {_brief(results[method][key])}")
    if estimators:
        log(f"photons in {list(PHOTON_RANGE)}: generating {train_size:,} images")
        train = make_data(train_size, PHOTON_RANGE, 0, SEED + 99)
        levels = {f"N={n}": tests[f"N={n}"] for n in LEVELS}
        for method in estimators:
            results[f"{method}_range"], _ = fit_and_evaluate(
                method, train, levels, config["epochs"]
            )
            for key, result in results[f"{method}_range"].items():
                log(f"  {method}_range, {key}: {_brief(result)}")
    for section, head in (("spot_fit_wide", "spot_fit"), ("spot_wide", "spot")):
        if section in methods:
            # The posterior mean (the same for both) with the first only.
            first = section == next(m for m in SECTIONS if m in methods)
            results[section] = wide_model(config, log, head, posterior=first)
    extra = {"skipped": skipped}
    if "posterior_mean" in methods and config["bayes_size"]:
        size = config["bayes_size"]
        log(f"N={LEVELS[0]}: the posterior mean's expected RMSE on {size:,} images")
        try:
            extra["bayes_risk"] = bayes_risk(size, LEVELS[0], SEED + 2000)
            log(
                f"  {extra['bayes_risk']['expected_ratio_to_crlb']:.3f}x CRLB, "
                f"{extra['bayes_risk']['seconds']:.1f} s"
            )
        except Exception as exc:  # noqa: BLE001 - recorded in the report
            extra["bayes_risk"] = _error(exc)
    # Throughput: the fast methods, on the 1,000-photon test set.
    reference = tests[f"N={HOT_PHOTONS}"][0].images
    throughput = {}
    for method, predict in predictors.items():
        if method in ("mle", "photutils_2dg", "photutils_com"):
            continue
        try:
            throughput[method] = best_throughput(predict, reference)
        except Exception as exc:  # noqa: BLE001 - recorded in the report
            throughput[method] = _error(exc)
    return {
        "scenarios": [
            {"key": key, "photons": photons, "hot_pixels": hot, "camera": camera}
            for key, photons, hot, camera in scenarios()
        ],
        "results": results,
        "throughput": throughput,
        **extra,
    }


def wide_conditions():
    """(key, photons, background, PSF width) of the wide model's test sets."""
    return [
        (f"N={n}, bg={background:g}, psf={sigma:g}", n, background, sigma)
        for background, sigma in WIDE_CONDITIONS
        for n in WIDE_LEVELS
    ]


def inverse_bound_weights(data):
    """Sample weights ``1 / crlb ** 2`` (mean of the axes), scaled to mean 1.

    Over a range of conditions the squared errors span orders of magnitude:
    unweighted, the faintest images set the loss. Weighted, every image
    counts in units of its own bound, and the model learns each condition.
    """
    weights = 1.0 / np.mean(crlb_of(data) ** 2, axis=1)
    return weights / weights.mean()


def wide_model(config, log, head="spot_fit", posterior=True):
    """``head`` trained once on :data:`WIDE_RANGE`, weighted by
    :func:`inverse_bound_weights`, scored on each of :func:`wide_conditions`
    with its calibration (and the posterior mean's score if
    ``posterior``)."""
    from pixel_regressor import make_bright_spot_dataset

    size = config.get("wide_train_size") or config["train_size"]
    log(f"one model for {WIDE_RANGE}: generating {size:,} images")
    train = make_bright_spot_dataset(
        size,
        image_size=IMAGE_SIZE,
        return_X_y=False,
        random_state=SEED + 98,
        **WIDE_RANGE,
    )
    tests = {}
    for index, (key, photons, background, sigma) in enumerate(wide_conditions()):
        test = make_bright_spot_dataset(
            config["test_size"],
            image_size=IMAGE_SIZE,
            photons=photons,
            background=background,
            psf_sigma=sigma,
            margin=WIDE_MARGIN,
            return_X_y=False,
            random_state=SEED + 3000 + index,
        )
        tests[key] = (test, crlb_of(test))
    params = {}
    if config.get("wide_filters"):
        params["filters"] = tuple(config["wide_filters"])
    scores, _ = fit_and_evaluate(
        head,
        train,
        tests,
        config.get("wide_epochs") or config["epochs"],
        inverse_bound_weights(train),
        **params,
    )
    for key, result in scores.items():
        if "error" not in result:
            result["params"] = {"epochs": config.get("wide_epochs"), **params}
        log(f"  {head}, {key}: {_brief(result)}")
    size = config.get("wide_bayes_size", 0) if posterior else 0
    for key, photons, background, sigma in wide_conditions() if size else []:
        if "error" in scores[key]:
            continue
        scores[key]["posterior_mean"] = wide_posterior_mean(
            tests[key], size, photons, background, sigma
        )
        log(f"  posterior mean, {key}: {_brief(scores[key]['posterior_mean'])}")
    return scores


def wide_posterior_mean(test, size, photons, background, sigma):
    """The posterior mean's score on the first ``size`` images of a wide
    model's test set (at most :data:`BAYES_BATCH`, one call): the least RMSE
    any estimator reaches on them in expectation, knowing the condition's
    photons, background and PSF width and that positions are uniform at least
    :data:`WIDE_MARGIN` px from the edges."""
    data, crlb = test
    subset = SimpleNamespace(images=data.images[:size], target=data.target[:size])
    predict = functools.partial(
        predict_posterior_mean,
        photons=photons,
        margin=WIDE_MARGIN,
        psf_sigma=sigma,
        background=background,
    )
    return _evaluate_safely(predict, subset, crlb[:size])


def _evaluate_safely(predict, data, crlb):
    try:
        return evaluate(predict, data, crlb)
    except Exception as exc:  # noqa: BLE001 - recorded in the report
        return _error(exc)


def fit_and_evaluate(method, train, tests, epochs, sample_weight=None, **params):
    """Fit ``method`` (with estimator ``params``) on ``train`` (with
    ``sample_weight``), evaluate on ``tests`` (key: (data, crlb)).

    Returns the scores by key and the fitted estimator's ``predict`` (None if
    the fit failed).
    """
    try:
        estimator = make_estimator(method, epochs, **params)
        fit = functools.partial(estimator.fit, sample_weight=sample_weight)
        _, fit_s, _ = timed(fit, train.data, train.target)
        first = next(iter(tests.values()))[0]
        estimator.predict(first.images[:16])  # warm-up: the first call traces
    except Exception as exc:  # noqa: BLE001 - recorded in the report
        return {key: _error(exc) for key in tests}, None
    scores = {}
    for key, (data, crlb) in tests.items():
        scores[key] = _evaluate_safely(estimator.predict, data, crlb)
        if "error" not in scores[key]:
            scores[key].update(fit_s=fit_s, train_size=len(train.target))
            if method in ("spot", "spot_fit"):
                scores[key].update(calibration(estimator, data, crlb))
    return scores, estimator.predict


def calibration(estimator, data, crlb):
    """How well ``predict(X, return_std=True)`` describes the errors.

    Per axis: the standard deviation of the z-scores ``(pred - true) / std``
    over all images and over the found spots (gross misses left out), and
    the predicted deviation over the bound, both averaged as variances.
    """
    try:
        predicted, std = estimator.predict(data.images, return_std=True)
    except Exception as exc:  # noqa: BLE001 - recorded in the report
        return {"calibration_error": str(exc)}
    errors = predicted - data.target
    z = errors / std
    found = np.hypot(errors[:, 0], errors[:, 1]) <= GROSS_MISS_PX
    ratio = np.sqrt(np.mean(std**2, axis=0) / np.mean(crlb**2, axis=0))
    return {
        "z_std": [float(v) for v in z.std(axis=0)],
        "z_std_found": [float(v) for v in z[found].std(axis=0)],
        "std_over_crlb": [float(v) for v in ratio],
        "miss_odds": [float(v) for v in estimator.miss_odds_],
    }


def _brief(result):
    if "error" in result:
        return result["error"].splitlines()[0][:120]
    return (
        f"RMSE {result['rmse_px']:.4f} px = {result['ratio_to_crlb']:.2f}x CRLB, "
        f"misses {100 * result['gross_miss_share']:.1f} %, "
        f"{result['seconds_per_image'] * 1e3:.3f} ms/image"
    )


# ---------------------------------------------------------------------------
# goals


def _value(document, method, key, field):
    return report._get(document, "results", method, key, field)


def _met(condition, *values):
    if any(value is None for value in values):
        return None
    return bool(condition())


def goals(document):
    """Each goal: what, the measured value (text), met (True/False/None)."""
    rows = []
    for key, goal in [
        *RATIO_GOALS.items(),
        (f"N={HOT_PHOTONS} + {HOT_PIXELS} hot", RATIO_GOAL_HOT),
    ]:
        ratio = _value(document, "spot", key, "ratio_to_crlb")
        rows.append(
            {
                "goal": f"spot head RMSE <= {goal:g}x CRLB, {key}",
                "value": report._num(ratio, ".3f", "x"),
                "met": _met(lambda r=ratio, g=goal: r <= g, ratio),
            }
        )
    for key, *_ in scenarios():
        spot = _value(document, "spot", key, "rmse_px")
        others = [
            _value(document, other, key, "rmse_px")
            for other in ("smoothed_centroid", "photutils_2dg", "photutils_com")
        ]
        best = None if None in others else min(others)
        rows.append(
            {
                "goal": f"spot head better than the hand pipeline and both "
                f"photutils centroids, {key}",
                "value": f"{report._num(spot, '.4f')} px vs best of them "
                f"{report._num(best, '.4f')} px",
                "met": _met(lambda s=spot, b=best: s < b, spot, best),
            }
        )
    for key in [f"N={n}" for n in LEVELS]:
        result = report._get(document, "results", "spot_range", key) or {}
        z, ratio = result.get("z_std"), result.get("std_over_crlb")
        rows.append(
            {
                "goal": f"spot head (photon range) return_std: z-scores' std within "
                f"{Z_STD_BAND[0]:g}-{Z_STD_BAND[1]:g} per axis, {key}",
                "value": "n/a" if z is None else " / ".join(f"{v:.3f}" for v in z),
                "met": _met(
                    lambda z=z: all(Z_STD_BAND[0] <= v <= Z_STD_BAND[1] for v in z), z
                ),
            }
        )
        if int(key[2:]) >= STD_TRACKS_FROM:
            rows.append(
                {
                    "goal": "spot head (photon range) return_std / CRLB within "
                    f"{STD_OVER_CRLB_TOLERANCE:.0%} per axis, {key}",
                    "value": "n/a"
                    if ratio is None
                    else " / ".join(f"{v:.3f}x" for v in ratio),
                    "met": _met(
                        lambda r=ratio: all(
                            abs(v - 1) <= STD_OVER_CRLB_TOLERANCE for v in r
                        ),
                        ratio,
                    ),
                }
            )
    rows += wide_goals(report._get(document, "results", "spot_fit_wide") or {})
    fits = [
        result.get("fit_s")
        for name in ("spot", "spot_range")
        for result in (report._get(document, "results", name) or {}).values()
        if isinstance(result, dict)
    ]
    fit = None if not fits or None in fits else max(fits)
    rows.append(
        {
            "goal": f"spot head fit <= {FIT_S:g} s (the longest of its fits)",
            "value": report._num(fit, ".1f", " s"),
            "met": _met(lambda: fit <= FIT_S, fit),
        }
    )
    rate = report._get(document, "throughput", "spot", "images_per_s")
    rows.append(
        {
            "goal": f"spot head predict >= {PREDICT_IMAGES_PER_S:,} images/s",
            "value": report._num(rate, ",.0f", " img/s"),
            "met": _met(lambda: rate >= PREDICT_IMAGES_PER_S, rate),
        }
    )
    mle = _value(document, "mle", f"N={HOT_PHOTONS}", "seconds_per_image")
    speedup = None if rate is None or mle is None else mle * rate
    rows.append(
        {
            "goal": f"spot head >= {SPEEDUP_VS_MLE:g}x faster per image than the "
            "per-image fit",
            "value": report._num(speedup, ",.0f", "x"),
            "met": _met(lambda: speedup >= SPEEDUP_VS_MLE, speedup),
        }
    )
    return rows


def _surely_above(result, ratio):
    """Whether an RMSE is above ``ratio`` times the bound by more than two
    standard errors (a small sample's noise does not count)."""
    se = result.get("rmse_se_px") or 0.0
    return (result["rmse_px"] - 2 * se) / result["crlb_px"] > ratio


def wide_goals(wide):
    """Goals of the model trained once on the ranges: each over every test
    condition, "k of m met" and the worst."""
    if not wide:
        return []
    entries = [(key, wide.get(key)) for key, *_ in wide_conditions()]
    entries = [(k, r) for k, r in entries if isinstance(r, dict) and "error" not in r]
    checks = [
        (
            f"RMSE <= {WIDE_RATIO_GOAL:g}x CRLB",
            lambda r: [r["ratio_to_crlb"]],
            lambda v: v <= WIDE_RATIO_GOAL,
            lambda v: abs(v - 1),
        ),
        (
            f"return_std: z-scores' std within {Z_STD_BAND[0]:g}-{Z_STD_BAND[1]:g} "
            "per axis",
            lambda r: r.get("z_std"),
            lambda v: Z_STD_BAND[0] <= v <= Z_STD_BAND[1],
            lambda v: abs(v - 1),
        ),
        (
            f"return_std / CRLB within {STD_OVER_CRLB_TOLERANCE:.0%} per axis",
            lambda r: r.get("std_over_crlb"),
            lambda v: abs(v - 1) <= STD_OVER_CRLB_TOLERANCE,
            lambda v: abs(v - 1),
        ),
    ]
    rows = []
    for what, values_of, ok, distance in checks:
        measured = [(key, values_of(r)) for key, r in entries]
        measured = [(key, values) for key, values in measured if values]
        if not measured:
            continue
        met = sum(all(ok(v) for v in values) for _, values in measured)
        worst_key, worst = max(
            ((key, v) for key, values in measured for v in values),
            key=lambda item: distance(item[1]),
        )
        rows.append(
            {
                "goal": f"{LABELS['spot_fit_wide']}: {what}, at every "
                f"condition from {WIDE_LEVELS[0]} photons",
                "value": f"{met} of {len(measured)} conditions; furthest "
                f"{worst:.3f} ({worst_key})",
                "met": met == len(measured) == len(wide_conditions()),
            }
        )
    # The bound is not reached by any estimator where spots are too faint to
    # be found: there, the posterior mean (which knows the condition) is the
    # fair yardstick.
    reachable = [
        (key, r)
        for key, r in entries
        if isinstance(r.get("posterior_mean"), dict)
        and "error" not in r["posterior_mean"]
    ]
    beyond = [
        (key, r["posterior_mean"]["ratio_to_crlb"])
        for key, r in reachable
        if _surely_above(r["posterior_mean"], WIDE_RATIO_GOAL)
    ]
    reachable = [(key, r) for key, r in reachable if key not in dict(beyond)]
    if reachable:
        met = sum(r["ratio_to_crlb"] <= WIDE_RATIO_GOAL for _, r in reachable)
        worst_key, worst = max(
            ((key, r["ratio_to_crlb"]) for key, r in reachable),
            key=lambda item: item[1],
        )
        outside = "; ".join(
            f"{key}: the posterior mean is at {ratio:.2f}x" for key, ratio in beyond
        )
        rows.append(
            {
                "goal": f"{LABELS['spot_fit_wide']}: RMSE <= "
                f"{WIDE_RATIO_GOAL:g}x CRLB where the posterior mean is (the "
                "conditions some estimator can meet)",
                "value": f"{met} of {len(reachable)} conditions; furthest "
                f"{worst:.3f} ({worst_key})"
                + (f"; left out: {outside}" if outside else ""),
                "met": met == len(reachable),
            }
        )
    return rows


def picasso_note(document):
    """One line: the spot head beside Picasso's MLE at 1,000 photons, or why
    Picasso did not run. None if neither applies."""
    reason = report._get(document, "skipped", "picasso_mle")
    if reason is not None:
        return (
            "Picasso's `gaussmle` was skipped: it is not installed here "
            f"({reason}). `benchmarks/README.md` says how to install it."
        )
    rate = report._get(document, "throughput", "spot", "images_per_s")
    parts = []
    for n in LEVELS:
        key = f"N={n}"
        picasso = _value(document, "picasso_mle", key, "ratio_to_crlb")
        fits = _value(document, "picasso_mle", key, "images_per_s")
        spot = _value(document, "spot", key, "ratio_to_crlb")
        if None in (picasso, fits, spot, rate):
            continue
        parts.append(
            f"{key}: Picasso {picasso:.3f}x the bound at {fits:,.0f} fits/s, "
            f"the spot head {spot:.3f}x, {rate / fits:.1f}x faster"
        )
    if not parts:
        return None
    return (
        "Beside Picasso's `gaussmle` (one thread; its fits/s on each test set, "
        f"the spot head's best rate, {rate:,.0f} images/s, at {HOT_PHOTONS} "
        "photons): " + "; ".join(parts) + "."
    )


def reference_note(document):
    """One line on the posterior mean at the lowest photon level: its RMSE
    over the bound, measured and expected, and the spot head's RMSE over
    its own. None if not measured."""
    key = f"N={LEVELS[0]}"
    result = report._get(document, "results", "posterior_mean", key)
    risk = document.get("bayes_risk")
    if not isinstance(risk, dict) or "error" in risk:
        risk = None
    if not isinstance(result, dict) or "error" in result:
        result = None
    if result is None and risk is None:
        return None

    def ratio(value, se, bound):
        text = f"{value:.3f}x CRLB"
        return text if se is None else f"{text} (standard error {se / bound:.3f})"

    parts = [
        f"Reference, not a goal: at {key}, the posterior mean has the lowest "
        "expected RMSE of any estimator on these images"
    ]
    if result is not None:
        parts.append(
            "its RMSE on the test set is "
            + ratio(
                result["ratio_to_crlb"], result.get("rmse_se_px"), result["crlb_px"]
            )
        )
    if risk is not None:
        expected, se = risk["expected_ratio_to_crlb"], risk["expected_rmse_se_px"]
        parts.append(
            f"its expected RMSE, from the posterior variances of {risk['n_images']:,} "
            "more images, is " + ratio(expected, se, risk["crlb_px"])
        )
        goal = RATIO_GOALS.get(key)
        if goal is not None and se is not None:
            if expected - 2 * se / risk["crlb_px"] > goal:
                parts.append(
                    f"more than two standard errors above the {goal:g}x goal: no "
                    "estimator meets that goal in expectation"
                )
            else:
                parts.append(
                    f"not more than two standard errors above the {goal:g}x goal, "
                    "which this does not show out of reach"
                )
    text = "; ".join(parts) + "."
    spot = _value(document, "spot", key, "rmse_px")
    if spot is not None and result is not None:
        text += (
            f" The spot head's RMSE is {spot / result['rmse_px']:.2f}x the "
            "posterior mean's."
        )
    return text


# ---------------------------------------------------------------------------
# report


def _method_rows(document):
    """(name, results by scenario) in display order."""
    for name in (*METHODS, "dense_range", "spot_range", "spot_fit_range"):
        results = report._get(document, "results", name)
        if results:
            yield name, results


def _cell(result, field, spec, scale=1.0):
    if not isinstance(result, dict):
        return ""
    if "error" in result:
        return "failed"
    value = result.get(field)
    return report._num(None if value is None else scale * value, spec)


def render(document):
    config = document.get("config", {})
    machine = document.get("machine", {})
    keys = [s["key"] for s in document.get("scenarios", [])]
    lines = ["# Bright spots: localisation error beside the Cramer-Rao bound", ""]
    if document.get("quick"):
        lines += [
            "> **Quick run**: a smoke test of the benchmark code, small data and "
            "2 epochs; not comparable to a full run.",
            "",
        ]
    lines += [
        f"Command: `{document.get('command')}`, {document.get('wall_time_s', 0):.0f} "
        f"s in all, {machine.get('date', '?')}. Machine: "
        f"{machine.get('cpu_model', '?')}, {machine.get('cpu_count', '?')} cores, "
        f"load average {report._load(machine.get('load_average_start'))} at the "
        f"start, {report._load(document.get('load_average_end'))} at the end.",
        "",
        f"Images: {IMAGE_SIZE}x{IMAGE_SIZE}, Gaussian PSF of width {PSF_SIGMA} px, "
        f"background {BACKGROUND:g} counts per pixel, Poisson noise; "
        + (
            f"{config.get('train_size'):,} training and "
            if set(document.get("methods", [])) & set(ESTIMATORS)
            else ""
        )
        + f"{config.get('test_size'):,} test images per condition (the per-image "
        "fit: the first "
        f"{config.get('mle_size'):,} test images). RMSE per axis, in px; the bound "
        "is `localization_crlb` at each test image's position, averaged as a "
        "variance. Gross miss: more than 3 px off."
        + (
            f" {CAMERA_KEY}: the same spots in an EMCCD camera's units ("
            f"{CAMERA['gain']:g} ADU per electron after an EM gain of "
            f"{CAMERA['em_gain']:g}, baseline {CAMERA['offset']:g} ADU); its bound "
            "includes the excess noise (sqrt(2)), and the likelihood methods, "
            "written for photon counts, are not run."
            if CAMERA_KEY in keys
            else ""
        )
        + (
            " The posterior mean knows the photons and the background, and is "
            "not run with hot pixels."
            if report._get(document, "results", "posterior_mean")
            else ""
        ),
        "",
        "## Goals",
        "",
        report._table(
            ["Goal", "Measured", "Met"],
            [[g["goal"], g["value"], report._met(g["met"])] for g in document["goals"]],
        ),
    ]
    for note in (reference_note(document), picasso_note(document)):
        if note is not None:
            lines += ["", note]
    bound_row = ["**Cramer-Rao bound (px)**"]
    for key in keys:
        bounds = [
            r[key]["crlb_px"]
            for _, r in _method_rows(document)
            if isinstance(r.get(key), dict) and "crlb_px" in r[key]
        ]
        bound_row.append(report._num(bounds[0] if bounds else None, ".4f"))
    tables = [
        ("RMSE / CRLB", "ratio_to_crlb", ".2f", 1.0),
        ("RMSE per axis (px)", "rmse_px", ".4f", 1.0),
        ("Gross misses (%)", "gross_miss_share", ".2f", 100.0),
        (
            "RMSE without the gross misses / CRLB (the bound is local: it "
            "assumes the spot was found)",
            "ratio_without_misses_to_crlb",
            ".2f",
            1.0,
        ),
    ]
    for title, field, spec, scale in tables:
        rows = [bound_row] if field in ("ratio_to_crlb", "rmse_px") else []
        for name, results in _method_rows(document):
            rows.append(
                [LABELS.get(name, name)]
                + [_cell(results.get(key), field, spec, scale) for key in keys]
            )
        lines += ["", f"## {title}", "", report._table(["Method", *keys], rows)]
    rows = []
    for name in ("spot", "spot_range", "spot_fit", "spot_fit_range"):
        results = report._get(document, "results", name) or {}
        for field, what in (
            ("z_std", "std of z, all"),
            ("z_std_found", "std of z, found spots"),
            ("std_over_crlb", "return_std / CRLB"),
        ):
            cells = []
            for key in keys:
                values = report._get(results, key, field)
                cells.append(
                    "-" if values is None else " / ".join(f"{v:.3f}" for v in values)
                )
            if any(cell != "-" for cell in cells):
                rows.append([f"{LABELS.get(name, name)}: {what}", *cells])
    if rows:
        lines += [
            "",
            "## Per-spot standard deviations (`predict(X, return_std=True)`)",
            "",
            "Row / col. z = (prediction - truth) / predicted std: its standard "
            "deviation is 1 for calibrated deviations. Found spots: without the "
            "gross misses. return_std / CRLB: both averaged as variances.",
            "",
            report._table(["Spot head", *keys], rows),
        ]
    for section in SECTIONS:
        lines += render_wide(
            report._get(document, "results", section) or {}, section, document
        )
    rows = []
    for name, results in _method_rows(document):
        reference = results.get(f"N={HOT_PHOTONS}", {})
        fits = [r.get("fit_s") for r in results.values() if isinstance(r, dict)]
        fits = [f for f in fits if f is not None]
        rate = report._get(document, "throughput", name, "images_per_s")
        rows.append(
            [
                LABELS.get(name, name),
                report._num(max(fits), ".1f") if fits else "-",
                _cell(reference, "images_per_s", ",.0f"),
                report._num(rate, ",.0f"),
                _cell(reference, "seconds_per_image", ".4f", 1e3),
            ]
        )
    lines += [
        "",
        "## Time",
        "",
        f"Fit: the longest fit of the method. Predict: the {HOT_PHOTONS}-photon "
        f"test set, first call (the per-image fit: its subset); best of "
        f"{THROUGHPUT_REPEATS} more calls where measured.",
        "",
        report._table(
            [
                "Method",
                "Fit (s)",
                "Predict, first call (img/s)",
                f"Predict, best of {THROUGHPUT_REPEATS} (img/s)",
                "Time per image (ms)",
            ],
            rows,
        ),
    ]
    errors = [
        f"- `{name}`, {key}: {result['error'].splitlines()[0]}"
        for name, results in _method_rows(document)
        for key, result in results.items()
        if isinstance(result, dict) and "error" in result
    ]
    risk = document.get("bayes_risk")
    if isinstance(risk, dict) and "error" in risk:
        errors.append(
            f"- `posterior_mean`, expected RMSE: {risk['error'].splitlines()[0]}"
        )
    if errors:
        lines += ["", "## Failed", "", *errors]
    return "\n".join(lines) + "\n"


def _posterior_cell(result):
    posterior = result.get("posterior_mean")
    if not isinstance(posterior, dict):
        return ""
    if "error" in posterior:
        return "failed"
    return (
        f"{posterior['ratio_to_crlb']:.3f}, "
        f"{100 * posterior['gross_miss_share']:.2f} % of {posterior['n_images']:,}"
    )


def render_wide(wide, section, document):
    """A model trained once on the ranges: its tables, a row per (background,
    PSF width), a column per photon level. The posterior mean's is taken
    from whichever section holds it."""
    if not wide:
        return []
    posterior = {}
    for other in SECTIONS:
        for key, result in (report._get(document, "results", other) or {}).items():
            if isinstance(result, dict) and "posterior_mean" in result:
                posterior.setdefault(key, result["posterior_mean"])
    wide = {
        key: {**r, "posterior_mean": posterior[key]}
        if isinstance(r, dict) and "error" not in r and key in posterior
        else r
        for key, r in wide.items()
    }
    lines = [
        "",
        f"## One model for a range of conditions: {LABELS[section]}",
        "",
        f"{LABELS[section]}: photons {WIDE_RANGE['photons']} (log-uniform), "
        f"background {WIDE_RANGE['background']} (log-uniform), PSF width "
        f"{WIDE_RANGE['psf_sigma']} (uniform), each training image weighted by "
        "1 / its bound squared (the loss counts every image in units of its own "
        "bound). Tested at fixed conditions, spots at least "
        f"{WIDE_MARGIN:g} px from the edges."
        + "".join(
            f" {r['train_size']:,} training images, fit in {r['fit_s']:.1f} s."
            + "".join(
                f" {name}={value}"
                for name, value in r.get("params", {}).items()
                if value is not None
            )
            for r in list(wide.values())[:1]
            if isinstance(r, dict) and "fit_s" in r
        )
        + "".join(
            " The odds of a lost spot fitted after training (`miss_odds_`, "
            "tau * t1 * (t - t1) + beta): "
            f"tau {r['miss_odds'][0]:.3f}, beta {r['miss_odds'][1]:.3f}."
            for r in list(wide.values())[:1]
            if isinstance(r, dict) and "miss_odds" in r
        ),
    ]
    fields = [
        ("RMSE / CRLB", lambda r: report._num(r.get("ratio_to_crlb"), ".3f")),
        (
            "Posterior mean (knows the condition): RMSE / CRLB, gross misses "
            "(first images of each test set)",
            _posterior_cell,
        ),
        ("Gross misses (%)", lambda r: report._num(100 * r["gross_miss_share"], ".2f")),
        (
            "return_std: std of z (row / col)",
            lambda r: " / ".join(f"{v:.2f}" for v in r.get("z_std", [])),
        ),
        (
            "return_std / CRLB (row / col)",
            lambda r: " / ".join(f"{v:.2f}" for v in r.get("std_over_crlb", [])),
        ),
    ]
    for title, cell in fields:
        rows = []
        for background, sigma in WIDE_CONDITIONS:
            row = [f"background {background:g}, PSF {sigma:g} px"]
            for n in WIDE_LEVELS:
                result = wide.get(f"N={n}, bg={background:g}, psf={sigma:g}")
                if not isinstance(result, dict):
                    row.append("")
                elif "error" in result:
                    row.append("failed")
                else:
                    row.append(cell(result))
            rows.append(row)
        lines += [
            "",
            f"### {title}",
            "",
            report._table(["Condition", *(f"N={n}" for n in WIDE_LEVELS)], rows),
        ]
    return lines


def plot(document, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pixel_regressor import localization_crlb

    fig, ax = plt.subplots(figsize=(7, 5))
    grid = np.geomspace(LEVELS[0] * 0.8, LEVELS[-1] * 1.25, 50)
    bound = [
        localization_crlb(
            IMAGE_SIZE, psf_sigma=PSF_SIGMA, photons=n, background=BACKGROUND
        )[0]
        for n in grid
    ]
    ax.plot(grid, bound, color="black", linewidth=2, label="Cramer-Rao bound")
    colours = dict(zip(METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for name, results in _method_rows(document):
        levels, rmse = [], []
        for n in LEVELS:
            value = report._get(results, f"N={n}", "rmse_px")
            if value is not None:
                levels.append(n)
                rmse.append(value)
        if levels:
            style = {"posterior_mean": ":"}.get(
                name, "--" if name.endswith("_range") else "-"
            )
            ax.plot(
                levels,
                rmse,
                style,
                marker="o",
                color=colours[name.removesuffix("_range")],
                label=LABELS.get(name, name).replace("`", ""),
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("photons per spot")
    ax.set_ylabel("RMSE per axis (px)")
    ax.set_title(
        f"{IMAGE_SIZE}x{IMAGE_SIZE}, PSF width {PSF_SIGMA} px, background "
        f"{BACKGROUND:g}" + (" (quick run)" if document.get("quick") else "")
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _write_atomically(path, text):
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS + SECTIONS,
        default=list(METHODS + SECTIONS),
        help="methods to run, and spot_fit_wide / spot_wide for the spot_fit / "
        "spot head trained once on the ranges (default: all)",
    )
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--mle-size", type=int, default=None)
    parser.add_argument(
        "--bayes-size",
        type=int,
        default=None,
        help="images for the posterior mean's expected RMSE at 100 photons (0: none)",
    )
    parser.add_argument(
        "--wide-train-size",
        type=int,
        default=None,
        help="training images of the model trained once on the ranges "
        "(default: --train-size)",
    )
    parser.add_argument(
        "--wide-epochs",
        type=int,
        default=None,
        help="its epochs (default: the spot head's)",
    )
    parser.add_argument(
        "--wide-filters",
        type=int,
        nargs="+",
        default=None,
        help="its filters (default: the spot head's)",
    )
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: render this results JSON to Markdown and PNG again",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        document = json.loads(args.render.read_text())
        document["goals"] = goals(document)
        _write_atomically(args.render.with_suffix(".md"), render(document))
        plot(document, args.render.with_suffix(".png"))
        return 0

    mode = "quick" if args.quick else "full"
    config = dict(MODES[mode])
    for name in (
        "train_size",
        "test_size",
        "mle_size",
        "bayes_size",
        "wide_train_size",
        "wide_epochs",
        "wide_filters",
    ):
        if getattr(args, name) is not None:
            config[name] = getattr(args, name)
    out = args.out or RESULTS / ("spots_quick.json" if args.quick else "spots.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    document = {
        "command": " ".join(["python benchmarks/spots.py", *(argv or sys.argv[1:])]),
        "mode": mode,
        "quick": args.quick,
        "config": config,
        "methods": args.methods,
        "machine": machine_info(),
    }
    document.update(run(args.methods, config, log=lambda text: print(text, flush=True)))
    document["wall_time_s"] = time.perf_counter() - start
    document["load_average_end"] = list(os.getloadavg())
    document["goals"] = goals(document)
    _write_atomically(out, json.dumps(document, indent=2) + "\n")
    markdown = render(document)
    _write_atomically(out.with_suffix(".md"), markdown)
    plot(document, out.with_suffix(".png"))
    print(markdown)
    failed = "error" in (document.get("bayes_risk") or {}) or any(
        isinstance(result, dict) and "error" in result
        for results in document["results"].values()
        for result in results.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
