"""Every spot of a movie: SpotLocator beside trackpy, photutils and Picasso.

Usage::

    python benchmarks/frames.py [--quick] [--test-frames N] [--out PATH]
    python benchmarks/frames.py --render benchmarks/results/frames.json

Simulated movies of ``make_spot_frames``: 128x128 frames, photons drawn
log-uniformly in 300-3,000 per spot, a background of 10-50 per pixel
(log-uniform, per frame), a PSF width of 1.0-1.6 px (uniform, per spot),
Poisson noise, at three densities: 1, 4 and 12 spots per 32x32 px on average
(16, 64 and 192 per frame). For each density, a test movie of
``--test-frames`` frames (default 40) and a validation movie of
``--validation-frames`` frames (default 10), drawn with other seeds.

Methods, each end to end on the test movie (detection and localisation, the
frames already in memory):

- ``locator``: :class:`pixel_regressor.SpotLocator` with its defaults,
  fitted without truth on each test movie itself, as a user fits it
  (``fit`` calibrates the camera, measures the spots' width, photons,
  background and density there, and trains its spot head on crops of a movie
  it simulates to match); ``locate`` gives every row its ``row_std`` and
  ``col_std``. No parameter tuned.
- ``trackpy``: ``trackpy.batch`` (``diameter`` and ``minmass`` tuned).
- ``photutils_dao``: ``photutils.detection.DAOStarFinder`` on each frame less
  its median, its own centroids (``threshold`` in units of the frame's MAD
  standard deviation, and ``fwhm``, tuned).
- ``photutils_2dg``: the same detections, each refined by ``centroid_2dg``
  (``photutils.centroids.centroid_sources``, box tuned).
- ``picasso``: Picasso's ``identify`` (net-gradient threshold and box tuned)
  and ``gaussmle`` (one free width, the ``identify`` box) on the boxes of
  ``get_spots``. Skipped, with a note, when Picasso is not importable
  (``benchmarks/README.md`` says how to install it).

Each peer's detection parameters are tuned per density on that density's
validation movie, for its best Jaccard index over a small grid; the locator
keeps its defaults everywhere.

Scores (``pixel_regressor.metrics``): localisations matched one to one to the
truth within ``RADIUS`` = 2 px (the SMLM challenge's pairing); the Jaccard
index; the matched RMSE per axis (``sqrt(mean(d_row**2 + d_col**2) / 2)``)
over the bound, ``sqrt(mean(crlb**2))`` of ``localization_crlb`` for each
matched spot on its own (its photons, background and width, the 15x15
window around it cut by the frame's edges), and over the bound in its scene
(the same window with the true neighbours within 3 px of it, all their
positions and photons unknown: a neighbour's light raises the bound, most at
the highest density); the efficiency ``E`` (100 nm pixels,
alpha 0.01 per nm);
frames/s end to end (detection and localisation, ``return_std`` on for the
locator; the best of two runs for the locator, one for the peers). For the
locator, the spread (standard deviation) of the z-scores ``(pred - true) /
std`` over the matched spots, both axes pooled, all and without those flagged
``close_pair``.

Also frames/s on ``--large-frames`` (default 100: more than a batch of 64,
as a movie is) 512x512 frames with about 50 spots each, the locator (fitted
at the lowest density) beside Picasso (its parameters of the lowest
density), both on the same frames, best of two runs.

Writes ``benchmarks/results/frames.json`` (``frames_quick.json`` with
``--quick``) and renders it to Markdown beside it. ``--quick`` (10 test
frames, a model trained on 2,000 crops for 2 epochs) checks the code; its
figures mean nothing.
"""

import argparse
import contextlib
import io
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from run import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

SHAPE = (128, 128)
DENSITIES = (1.0, 4.0, 12.0)
PHOTONS = (300.0, 3000.0)
BACKGROUND = (10.0, 50.0)
PSF_SIGMA = (1.0, 1.6)
RADIUS = 2.0
PIXEL_SIZE = 100.0
CRLB_SHAPE = (15, 15)
LARGE_SHAPE = (512, 512)
LARGE_SPOTS = 50
PICASSO_EPS = 1e-3
PICASSO_MAX_IT = 100

MODES = {
    "full": {
        "test_frames": 40,
        "validation_frames": 10,
        "training_size": None,
        "epochs": None,
        "large_frames": 100,
    },
    "quick": {
        "test_frames": 10,
        "validation_frames": 3,
        "training_size": 2000,
        "epochs": 2,
        "large_frames": 2,
    },
}

# The peers' grids, tuned per density on the validation movie.
GRIDS = {
    "trackpy": [
        {"diameter": d, "minmass": m}
        for d in (5, 7, 9)
        for m in (10.0, 25.0, 50.0, 100.0, 200.0, 400.0)
    ],
    "photutils_dao": [
        {"threshold": t, "fwhm": f}
        for t in (2.0, 3.0, 5.0)
        for f in (2.0, 2.5, 3.0, 3.5)
    ],
    "photutils_2dg": [{"box": b} for b in (5, 7)],
    "picasso": [
        {"minimum_ng": g, "box": b}
        for g in (125.0, 250.0, 500.0, 1000.0, 2000.0)
        for b in (5, 7)
    ],
}

LABELS = {
    "locator": "SpotLocator (defaults, fitted on the movie)",
    "trackpy": "trackpy `batch`",
    "photutils_dao": "photutils `DAOStarFinder`",
    "photutils_2dg": "photutils `DAOStarFinder` + `centroid_2dg`",
    "picasso": "Picasso identify + `gaussmle`",
}


def movie(n_frames, density, seed):
    from pixel_regressor import make_spot_frames

    return make_spot_frames(
        n_frames,
        shape=SHAPE,
        density=density,
        photons=PHOTONS,
        background=BACKGROUND,
        psf_sigma=PSF_SIGMA,
        random_state=seed,
    )


def _table(frame, row, col, **extra):
    import pandas as pd

    columns = {
        "frame": np.asarray(frame, dtype=np.int64),
        "row": np.asarray(row, dtype=np.float64),
        "col": np.asarray(col, dtype=np.float64),
    }
    columns.update({k: np.asarray(v) for k, v in extra.items()})
    return pd.DataFrame(columns)


# ----------------------------------------------------------------------
# The peers
def run_trackpy(frames, diameter, minmass):
    import trackpy

    trackpy.quiet()
    found = trackpy.batch(frames, diameter, minmass=minmass)
    return _table(found["frame"], found["y"], found["x"])


def _dao_detect(frames, threshold, fwhm):
    from astropy.stats import mad_std
    from photutils.detection import DAOStarFinder

    out = []
    for i, image in enumerate(frames):
        data = image - np.median(image)
        finder = DAOStarFinder(threshold=threshold * mad_std(data), fwhm=fwhm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no sources found"
            found = finder(data)
        if found is None:
            continue
        out.append(
            (i, data, np.asarray(found["ycentroid"]), np.asarray(found["xcentroid"]))
        )
    return out


def run_photutils_dao(frames, threshold, fwhm):
    found = _dao_detect(frames, threshold, fwhm)
    if not found:
        return _table([], [], [])
    return _table(
        np.concatenate([np.full(len(r), i) for i, _, r, _ in found]),
        np.concatenate([r for _, _, r, _ in found]),
        np.concatenate([c for _, _, _, c in found]),
    )


def run_photutils_2dg(frames, threshold, fwhm, box):
    from photutils.centroids import centroid_2dg, centroid_sources

    frame, rows, cols = [], [], []
    for i, data, r, c in _dao_detect(frames, threshold, fwhm):
        # DAOStarFinder's centroids can fall just outside the frame.
        r = np.clip(r, 0, data.shape[0] - 1)
        c = np.clip(c, 0, data.shape[1] - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fits that do not converge
            x, y = centroid_sources(
                data, c, r, box_size=box, centroid_func=centroid_2dg
            )
        frame.append(np.full(len(r), i))
        rows.append(y)
        cols.append(x)
    if not frame:
        return _table([], [], [])
    return _table(np.concatenate(frame), np.concatenate(rows), np.concatenate(cols))


def picasso_missing():
    """Why Picasso cannot run here (None if it can)."""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            from picasso import gaussmle, localize  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure to import: skipped
        return f"{type(exc).__name__}: {exc}"
    return None


def run_picasso(frames, minimum_ng, box):
    """identify, get_spots and gaussmle, as Picasso's Localize does."""
    from picasso import gaussmle, localize

    camera = {"Baseline": 0.0, "Sensitivity": 1.0, "Gain": 1.0, "Qe": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = localize.identify(frames, minimum_ng, box, return_info=False)
        if not len(ids):
            return _table([], [], [])
        spots = localize.get_spots(frames, ids, box, camera)
        theta, crlbs, likelihoods, iterations = gaussmle.gaussmle(
            spots, PICASSO_EPS, PICASSO_MAX_IT, method="sigma"
        )
        locs = gaussmle.locs_from_fits(ids, theta, crlbs, likelihoods, iterations, box)
    locs = locs[np.isfinite(locs["x"]) & np.isfinite(locs["y"])]
    return _table(locs["frame"], locs["y"], locs["x"])


RUNNERS = {
    "trackpy": run_trackpy,
    "photutils_dao": run_photutils_dao,
    "photutils_2dg": run_photutils_2dg,
    "picasso": run_picasso,
}


# ----------------------------------------------------------------------
def scores(truth, locs, shape=SHAPE):
    """Jaccard, RMSE over the bound, efficiency and the locator's z spread."""
    from pixel_regressor.metrics import (
        localization_efficiency,
        match_localizations,
    )

    t, k, _ = match_localizations(truth, locs, radius=RADIUS)
    n_truth, n_locs, tp = len(truth), len(locs), len(t)
    jaccard = tp / (n_truth + n_locs - tp) if (n_truth + n_locs - tp) else 1.0
    result = {
        "n_truth": n_truth,
        "n_locs": n_locs,
        "matched": tp,
        "jaccard": jaccard,
        "efficiency": float(
            localization_efficiency(truth, locs, radius=RADIUS, pixel_size=PIXEL_SIZE)
        ),
    }
    if tp == 0:
        return result
    matched = truth.iloc[t]
    d_row = locs["row"].to_numpy()[k] - matched["row"].to_numpy()
    d_col = locs["col"].to_numpy()[k] - matched["col"].to_numpy()
    crlb = spot_bounds(matched, shape)
    rmse = math.sqrt(np.mean(np.concatenate([d_row, d_col]) ** 2))
    bound = math.sqrt(np.mean(crlb**2))
    scene = scene_bounds(matched, truth, shape)
    finite = np.isfinite(scene).all(axis=1)
    scene_rmse = math.sqrt(np.mean(np.concatenate([d_row[finite], d_col[finite]]) ** 2))
    result.update(
        rmse_px=rmse,
        crlb_px=bound,
        ratio_to_crlb=rmse / bound,
        scene_crlb_px=math.sqrt(np.mean(scene[finite] ** 2)),
        ratio_to_scene_crlb=scene_rmse / math.sqrt(np.mean(scene[finite] ** 2)),
        no_scene_bound=int((~finite).sum()),
        bias_px=[float(np.mean(d_row)), float(np.mean(d_col))],
    )
    if "row_std" in locs:
        z = np.concatenate(
            [
                d_row / locs["row_std"].to_numpy()[k],
                d_col / locs["col_std"].to_numpy()[k],
            ]
        )
        single = ~np.tile(locs["close_pair"].to_numpy()[k], 2)
        result.update(
            z_spread=float(np.std(z)),
            z_spread_single=float(np.std(z[single])) if single.any() else None,
            z_spread_robust=float(1.4826 * np.median(np.abs(z - np.median(z)))),
            std_over_crlb=float(
                math.sqrt(
                    np.mean(
                        np.concatenate(
                            [
                                locs["row_std"].to_numpy()[k],
                                locs["col_std"].to_numpy()[k],
                            ]
                        )
                        ** 2
                    )
                )
                / bound
            ),
        )
    return result


def _windows(positions, shape):
    """The ``CRLB_SHAPE`` window around each ``(row, col)``, cut by the
    frame's edges: its first and last pixels, ``(low, high)``, each
    ``(n, 2)``."""
    half = np.array(CRLB_SHAPE) // 2
    centre = np.clip(np.round(positions).astype(int), 0, np.array(shape) - 1)
    return np.maximum(centre - half, 0), np.minimum(centre + half, np.array(shape) - 1)


def spot_bounds(spots, shape=SHAPE):
    """Each spot's bound, alone in the ``CRLB_SHAPE`` window around it, the
    window cut by the frame's edges (a spot at the edge loses pixels):
    ``(n, 2)``."""
    from pixel_regressor.metrics import localization_crlb

    low, high = _windows(spots[["row", "col"]].to_numpy(), shape)
    shapes = high - low + 1
    position = spots[["row", "col"]].to_numpy() - low
    position = np.clip(position, -0.5, shapes - 0.5)
    crlb = np.empty((len(spots), 2))
    keys = shapes[:, 0] * 1000 + shapes[:, 1]
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        crlb[rows] = localization_crlb(
            tuple(int(v) for v in shapes[rows[0]]),
            psf_sigma=spots["psf_sigma"].to_numpy()[rows],
            photons=spots["photons"].to_numpy()[rows],
            background=spots["background"].to_numpy()[rows],
            position=position[rows],
        )
    return crlb


def scene_bounds(spots, truth, shape=SHAPE):
    """Each spot's bound in its scene: ``(n, 2)``.

    The ``CRLB_SHAPE`` window around the spot (cut by the frame's edges)
    with every true spot of its frame whose centre lies within 3 px of the
    window: the Fisher information of the window's Poisson pixels for all
    their rows, columns and photons and one background, inverted. A
    neighbour's light makes the spot's position harder to tell; with none
    near it is :func:`spot_bounds`'s.
    """
    from pixel_regressor._psf import expected_counts_and_derivatives

    by_frame = dict(tuple(truth.groupby("frame")))
    lows, highs = _windows(spots[["row", "col"]].to_numpy(), shape)
    out = np.empty((len(spots), 2))
    for i, spot in enumerate(spots.itertuples(index=False)):
        low, high = lows[i], highs[i]
        window = tuple(int(v) for v in high - low + 1)
        scene = by_frame[spot.frame]
        rows, cols = scene["row"].to_numpy(), scene["col"].to_numpy()
        near = (
            (rows >= low[0] - 3)
            & (rows <= high[0] + 3)
            & (cols >= low[1] - 3)
            & (cols <= high[1] + 3)
        )
        # The spot itself first.
        own = np.flatnonzero(near & (rows == spot.row) & (cols == spot.col))[:1]
        others = np.setdiff1d(np.flatnonzero(near), own)
        chosen = np.concatenate([own, others])
        positions = np.column_stack([rows[chosen], cols[chosen]]) - low
        mu, jac = expected_counts_and_derivatives(
            window,
            positions,
            scene["psf_sigma"].to_numpy()[chosen],
            scene["photons"].to_numpy()[chosen],
            0.0,
        )
        total = mu.sum(axis=0) + spot.background
        gradients = np.concatenate(
            [jac[:, :3].reshape(-1, window[0] * window[1]), np.ones((1, mu[0].size))]
        )
        information = (gradients / total.ravel()) @ gradients.T
        try:
            covariance = np.linalg.inv(information)
            out[i] = np.sqrt(np.clip(np.diag(covariance)[:2], 0, None))
        except np.linalg.LinAlgError:  # two spots at one place: no bound
            out[i] = np.inf
    return out


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    return out, time.perf_counter() - start


def tune(method, frames, truth, log, base=None):
    """The grid point with the best Jaccard on the validation movie."""
    best, best_params, tried = -1.0, None, []
    for params in GRIDS[method]:
        full = {**(base or {}), **params}
        try:
            locs = RUNNERS[method](frames, **full)
            jaccard = scores(truth, locs)["jaccard"]
        except Exception as exc:  # noqa: BLE001 - a grid point that fails
            log(f"  {method} {full}: {type(exc).__name__}: {exc}")
            jaccard = float("nan")
        tried.append({**full, "jaccard": jaccard})
        if jaccard > best:
            best, best_params = jaccard, full
    return best_params, tried


def fit_locator(config, frames, log):
    """A locator with its defaults, fitted (without truth) on ``frames``."""
    from pixel_regressor import BrightPixelRegressor, SpotLocator

    params = {}
    if config["training_size"] is not None:
        params["training_size"] = config["training_size"]
    estimator = None
    if config["epochs"] is not None:
        estimator = BrightPixelRegressor(head="spot", epochs=config["epochs"])
    locator = SpotLocator(estimator, random_state=0, **params)
    locator, seconds = timed(locator.fit, frames)
    log(
        f"locator fitted in {seconds:.0f} s, psf_sigma_={locator.psf_sigma_:.3f}, "
        f"density_={locator.density_:.2f}, gain {locator.camera_.adu_per_photon:.3f}"
    )
    return locator, {
        "fit_s": seconds,
        "psf_sigma_": locator.psf_sigma_,
        "psf_sigma_range_": [float(v) for v in locator.psf_sigma_range_],
        "photons_range_": list(locator.photons_range_),
        "background_range_": list(locator.background_range_),
        "density_": locator.density_,
        "adu_per_photon": locator.camera_.adu_per_photon,
        "offset": locator.camera_.offset,
        "std_scale_": [float(v) for v in locator.std_scale_],
        "threshold_": locator.threshold_,
        "params": {k: repr(v) for k, v in locator.get_params(deep=False).items()},
    }


METHODS = ("locator", "trackpy", "photutils_dao", "photutils_2dg", "picasso")


def run(config, methods=METHODS, log=print):
    results, tuned, skipped = {}, {}, {}
    methods = list(methods)
    if "photutils_2dg" in methods and "photutils_dao" not in methods:
        methods.insert(methods.index("photutils_2dg"), "photutils_dao")
    if "picasso" in methods and (reason := picasso_missing()) is not None:
        skipped["picasso"] = reason
        methods.remove("picasso")
        log(f"picasso skipped: {reason}")
    if "trackpy" in methods:
        try:
            import trackpy  # noqa: F401
        except ImportError as exc:
            skipped["trackpy"] = f"{type(exc).__name__}: {exc}"
            methods.remove("trackpy")
    locator, locator_info, first = None, {}, None
    # numba compiles on the first call: not timed
    warm, _ = movie(2, 4.0, seed=2)
    if "picasso" in methods:
        run_picasso(warm, 4000.0, 7)
    if "trackpy" in methods:
        run_trackpy(warm, 7, 100.0)
    for density in DENSITIES:
        key = f"{density:g}"
        validation = movie(
            config["validation_frames"], density, seed=100 + int(density)
        )
        test_frames, test_truth = movie(
            config["test_frames"], density, seed=200 + int(density)
        )
        results[key], tuned[key] = {}, {}
        if "locator" in methods:
            locator, locator_info[key] = fit_locator(config, test_frames, log)
            first = first or locator
        for method in methods:
            try:
                if method == "locator":
                    locs, seconds = timed(locator.locate, test_frames)
                    seconds = min(seconds, timed(locator.locate, test_frames)[1])
                else:
                    base = None
                    if method == "photutils_2dg":
                        base = {
                            k: v
                            for k, v in tuned[key]["photutils_dao"]["best"].items()
                            if k in ("threshold", "fwhm")
                        }
                    best, tried = tune(method, *validation, log, base=base)
                    tuned[key][method] = {"best": best, "grid": tried}
                    locs, seconds = timed(RUNNERS[method], test_frames, **best)
                result = scores(test_truth, locs)
                result["frames_per_s"] = len(test_frames) / seconds
                result["seconds"] = seconds
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                result = {"error": f"{type(exc).__name__}: {exc}"}
            results[key][method] = result
            log(f"density {key} {method}: " + _brief(result))
    large = {}
    if config["large_frames"]:
        large = large_frames(config, first, methods, tuned, log)
    return {
        "results": results,
        "tuned": tuned,
        "skipped": skipped,
        "locator": locator_info,
        "large": large,
    }


def large_frames(config, locator, methods, tuned, log):
    """Frames/s on 512x512 frames with about 50 spots each (the locator and
    Picasso, Picasso with its parameters tuned at the lowest density)."""
    from pixel_regressor import make_spot_frames

    density = LARGE_SPOTS * 1024 / (LARGE_SHAPE[0] * LARGE_SHAPE[1])
    frames, truth = make_spot_frames(
        config["large_frames"],
        shape=LARGE_SHAPE,
        density=density,
        photons=PHOTONS,
        background=BACKGROUND,
        psf_sigma=PSF_SIGMA,
        random_state=300,
    )
    out = {"frames": len(frames), "spots_per_frame": len(truth) / len(frames)}
    lowest = f"{DENSITIES[0]:g}"
    for method in ("locator", "picasso"):
        if method not in methods:
            continue
        try:
            if method == "locator":
                runner = locator.locate
            else:
                best = tuned[lowest]["picasso"]["best"]

                def runner(movie, best=best):
                    return run_picasso(movie, **best)

            locs, seconds = timed(runner, frames)
            seconds = min(seconds, timed(runner, frames)[1])
            result = scores(truth, locs, LARGE_SHAPE)
            result["frames_per_s"] = len(frames) / seconds
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            result = {"error": f"{type(exc).__name__}: {exc}"}
        out[method] = result
        log(f"512x512 {method}: " + _brief(result))
    return out


def _brief(result):
    if "error" in result:
        return result["error"]
    parts = [f"J {result['jaccard']:.3f}", f"E {result['efficiency']:.3f}"]
    if "ratio_to_crlb" in result:
        parts.append(f"RMSE/bound {result['ratio_to_crlb']:.3f}")
    if "z_spread" in result:
        parts.append(f"z {result['z_spread']:.3f}")
    parts.append(f"{result['frames_per_s']:.1f} frames/s")
    return ", ".join(parts)


# ----------------------------------------------------------------------
def _f(value, spec):
    return "-" if value is None else format(value, spec)


def goals(document):
    """Each goal of the movie benchmark that this run measures, met or not."""
    results = document["results"]
    rows = []
    keys = list(results)
    for i, key in enumerate(keys):
        ours = results[key].get("locator", {})
        peers = {
            m: r for m, r in results[key].items() if m != "locator" and "error" not in r
        }
        if "jaccard" not in ours or not peers:
            continue
        best_j = max(r["jaccard"] for r in peers.values())
        margin = 0.05 if i == len(keys) - 1 else 0.0
        rows.append(
            {
                "goal": f"Jaccard >= best peer's{' + 0.05' if margin else ''} "
                f"(density {key})",
                "value": ours["jaccard"],
                "target": best_j + margin,
                "met": ours["jaccard"] >= best_j + margin,
            }
        )
        ratios = [r["ratio_to_crlb"] for r in peers.values() if "ratio_to_crlb" in r]
        if "ratio_to_crlb" in ours and ratios:
            rows.append(
                {
                    "goal": f"RMSE / bound <= best peer's (density {key})",
                    "value": ours["ratio_to_crlb"],
                    "target": min(ratios),
                    "met": ours["ratio_to_crlb"] <= min(ratios),
                }
            )
        if i == 0 and "ratio_to_crlb" in ours:
            rows.append(
                {
                    "goal": f"RMSE / bound <= 1.10 (density {key})",
                    "value": ours["ratio_to_crlb"],
                    "target": 1.10,
                    "met": ours["ratio_to_crlb"] <= 1.10,
                }
            )
        if i == 0 and "ratio_to_scene_crlb" in ours:
            rows.append(
                {
                    "goal": f"(information) RMSE / bound with the neighbours' light "
                    f"<= 1.10 (density {key})",
                    "value": ours["ratio_to_scene_crlb"],
                    "target": 1.10,
                    "met": ours["ratio_to_scene_crlb"] <= 1.10,
                }
            )
        if i < 2 and "z_spread" in ours:
            rows.append(
                {
                    "goal": f"z-score spread in 0.9-1.1 (density {key})",
                    "value": ours["z_spread"],
                    "target": "0.9-1.1",
                    "met": 0.9 <= ours["z_spread"] <= 1.1,
                }
            )
    large = document.get("large") or {}
    ours, picasso = large.get("locator", {}), large.get("picasso", {})
    if "frames_per_s" in ours and "frames_per_s" in picasso:
        rows.append(
            {
                "goal": "frames/s >= Picasso's (512x512, about 50 spots)",
                "value": ours["frames_per_s"],
                "target": picasso["frames_per_s"],
                "met": ours["frames_per_s"] >= picasso["frames_per_s"],
            }
        )
    return rows


def render(document):
    mode = "quick (figures mean nothing)" if document["quick"] else "full"
    config = document["config"]
    lines = [
        "# Every spot of a movie: SpotLocator beside its peers",
        "",
        f"Command: `{document['command']}` ({mode}); "
        f"{document.get('wall_time_s', 0):.0f} s on "
        f"{document['machine'].get('cpu_count')} cores, load average "
        f"{document.get('load_average_end', ['?'])[0]:.1f} at the end.",
        "",
        f"128x128 frames, photons {PHOTONS[0]:,.0f}-{PHOTONS[1]:,.0f}, background "
        f"{BACKGROUND[0]:g}-{BACKGROUND[1]:g}, PSF width "
        f"{PSF_SIGMA[0]}-{PSF_SIGMA[1]} px; {config['test_frames']} test frames and "
        f"{config['validation_frames']} validation frames per density. Matching "
        f"radius {RADIUS:g} px; efficiency with "
        f"{PIXEL_SIZE:g} nm pixels. The bound: each matched spot's own, alone in "
        "the 15x15 window around it (cut by the frame's edges). The locator: "
        "its defaults, fitted without truth on each test movie (fit "
        + ", ".join(
            f"{_f(info.get('fit_s'), '.0f')} s, psf_sigma_ "
            f"{_f(info.get('psf_sigma_'), '.3f')}, density_ "
            f"{_f(info.get('density_'), '.2f')}"
            for info in (document.get("locator") or {}).values()
            if isinstance(info, dict)
        )
        + "); the peers tuned per density on the validation movie for their "
        "best Jaccard.",
        "",
        "| density (per 32x32 px) | method | Jaccard | RMSE (px) | RMSE / bound "
        "| RMSE / scene bound | efficiency | frames/s | z spread (all / single / "
        "robust) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, methods in document["results"].items():
        for method, r in methods.items():
            if "error" in r:
                lines.append(f"| {key} | {LABELS[method]} | {r['error']} | | | | | | |")
                continue
            z = "-"
            if "z_spread" in r:
                z = (
                    f"{r['z_spread']:.3f} / {_f(r['z_spread_single'], '.3f')} / "
                    f"{r['z_spread_robust']:.3f}"
                )
            lines.append(
                f"| {key} | {LABELS[method]} | {r['jaccard']:.3f} | "
                f"{_f(r.get('rmse_px'), '.4f')} | "
                f"{_f(r.get('ratio_to_crlb'), '.3f')} | "
                f"{_f(r.get('ratio_to_scene_crlb'), '.3f')} | "
                f"{r['efficiency']:.3f} | {r['frames_per_s']:.1f} | {z} |"
            )
    lines += [
        "",
        "## Goals",
        "",
        "| goal | value | target | met |",
        "| --- | --- | --- | --- |",
    ]
    for row in document["goals"]:
        target = (
            row["target"] if isinstance(row["target"], str) else f"{row['target']:.3f}"
        )
        lines.append(
            f"| {row['goal']} | {row['value']:.3f} | {target} | "
            f"{'yes' if row['met'] else 'no'} |"
        )
    large = document.get("large") or {}
    if any(m in large for m in ("locator", "picasso")):
        lines += [
            "",
            f"## 512x512 frames, about {LARGE_SPOTS} spots each",
            "",
            f"{large['frames']} frames, {large['spots_per_frame']:.1f} spots per "
            "frame; Picasso with its parameters of the lowest density; best of two "
            "runs.",
            "",
            "| method | Jaccard | RMSE / bound | frames/s |",
            "| --- | --- | --- | --- |",
        ]
        for method in ("locator", "picasso"):
            r = large.get(method)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {LABELS[method]} | {r['error']} | | |")
                continue
            lines.append(
                f"| {LABELS[method]} | {r['jaccard']:.3f} | "
                f"{_f(r.get('ratio_to_crlb'), '.3f')} | {r['frames_per_s']:.1f} |"
            )
    lines += ["", "## Tuned parameters (best Jaccard on the validation movie)", ""]
    for key, methods in document["tuned"].items():
        for method, entry in methods.items():
            best = entry["best"]
            jaccard = max(
                (g["jaccard"] for g in entry["grid"] if g["jaccard"] == g["jaccard"]),
                default=float("nan"),
            )
            lines.append(
                f"- density {key}, {method}: {best} (validation Jaccard {jaccard:.3f})"
            )
    for method, reason in document["skipped"].items():
        lines += ["", f"{method} skipped: {reason}"]
    return "\n".join(lines) + "\n"


def _write_atomically(path, text):
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--test-frames", type=int, default=None)
    parser.add_argument("--validation-frames", type=int, default=None)
    parser.add_argument("--large-frames", type=int, default=None)
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        help="methods to run (default: all)",
    )
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: render this results JSON to Markdown again",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        document = json.loads(args.render.read_text())
        document["goals"] = goals(document)
        _write_atomically(args.render.with_suffix(".md"), render(document))
        return 0
    mode = "quick" if args.quick else "full"
    config = dict(MODES[mode])
    for name in ("test_frames", "validation_frames", "large_frames"):
        if getattr(args, name) is not None:
            config[name] = getattr(args, name)
    out = args.out or RESULTS / ("frames_quick.json" if args.quick else "frames.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    document = {
        "command": " ".join(["python benchmarks/frames.py", *(argv or sys.argv[1:])]),
        "mode": mode,
        "quick": args.quick,
        "config": config,
        "machine": machine_info(),
    }
    document["methods"] = args.methods
    document.update(run(config, args.methods, log=lambda text: print(text, flush=True)))
    document["wall_time_s"] = time.perf_counter() - start
    document["load_average_end"] = list(os.getloadavg())
    document["goals"] = goals(document)
    _write_atomically(out, json.dumps(document, indent=2, default=float) + "\n")
    markdown = render(document)
    _write_atomically(out.with_suffix(".md"), markdown)
    print(markdown)
    failed = any("error" in r for m in document["results"].values() for r in m.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
