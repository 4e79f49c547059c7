"""A locator that calibrates itself: cameras it is not told about.

Usage::

    python benchmarks/calibration.py [--quick] [--frames N] [--out PATH]
    python benchmarks/calibration.py --render benchmarks/results/calibration.json

For each of three cameras, a simulated movie of ``make_spot_frames``
(``--frames`` frames, default 100, of 128x128 px; 4 spots per 32x32 px;
photons log-uniform in 300-3,000; background 10-50 photons per pixel, per
frame; PSF width 1.3 px; the camera's noise):

- ``photons``: photon counts (gain 1, offset 0);
- ``scmos``: 2.2 ADU per electron, offset 100 ADU, read noise 1.5 e-;
- ``emccd``: an EMCCD of electron-multiplying gain 100 and 0.5 ADU per
  electron (50 ADU per photoelectron), offset 100 ADU, read noise 20 e-
  after the register.

Two locators per camera, both fitted without truth on the first half of the
movie and scored on the second half (``benchmarks/frames.py``'s scores:
localisations matched within 2 px, the RMSE per axis, the z-scores'
spread):

- ``self-calibrated``: ``SpotLocator(random_state=0).fit(frames)``, every
  default: it measures the camera, the spots' photons, background and width,
  and the density on the frames;
- ``told``: the same, told the true camera (``camera=`` the simulator's
  figures), PSF width (1.3) and ranges (photons 300-3,000, background 10-50).

For the EMCCD, also the camera calibrated with 20 dark frames
(``calibrate_camera(frames, dark=...)``), whose offset the movie alone
tells only roughly at these backgrounds.

The goals: the gain (ADU per photoelectron) within 10 %, the offset within
2 ADU, the PSF width within 5 %; the self-calibrated locator's matched RMSE
within 5 % of the told one's; the z-scores' spread within 0.9-1.1.

Writes ``benchmarks/results/calibration.json`` and its Markdown beside it.
``--quick`` (20 frames, 2,000 training crops for 2 epochs) checks the code;
its figures mean nothing.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from frames import _write_atomically, scores
from run import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

SHAPE = (128, 128)
DENSITY = 4.0
PHOTONS = (300.0, 3000.0)
BACKGROUND = (10.0, 50.0)
PSF_SIGMA = 1.3
CAMERAS = {
    "photons": {"gain": 1.0, "offset": 0.0, "em_gain": 1.0, "read_noise": 0.0},
    "scmos": {"gain": 2.2, "offset": 100.0, "em_gain": 1.0, "read_noise": 1.5},
    "emccd": {"gain": 0.5, "offset": 100.0, "em_gain": 100.0, "read_noise": 20.0},
}
MODES = {
    "full": {"frames": 100, "training_size": None, "epochs": None},
    "quick": {"frames": 20, "training_size": 2000, "epochs": 2},
}


def movie(n_frames, camera, seed):
    from pixel_regressor import make_spot_frames

    return make_spot_frames(
        n_frames,
        shape=SHAPE,
        density=DENSITY,
        photons=PHOTONS,
        background=BACKGROUND,
        psf_sigma=PSF_SIGMA,
        random_state=seed,
        **camera,
    )


def locator(config, **params):
    from pixel_regressor import BrightPixelRegressor, SpotLocator

    estimator = None
    if config["epochs"] is not None:
        estimator = BrightPixelRegressor(head="spot", epochs=config["epochs"])
    if config["training_size"] is not None:
        params["training_size"] = config["training_size"]
    return SpotLocator(estimator, random_state=0, **params)


def run(config, log=print):
    import numpy as np

    results = {}
    for k, (name, camera) in enumerate(CAMERAS.items()):
        frames, truth = movie(config["frames"], camera, seed=10 + k)
        half = len(frames) // 2
        test, test_truth = frames[half:], truth[truth.frame >= half].copy()
        test_truth["frame"] -= half
        entry = {"camera": camera}
        fitted = {}
        for kind, params in (
            ("self-calibrated", {}),
            (
                "told",
                {
                    "camera": camera,
                    "psf_sigma": PSF_SIGMA,
                    "photons": PHOTONS,
                    "background": BACKGROUND,
                },
            ),
        ):
            start = time.perf_counter()
            fitted[kind] = locator(config, **params).fit(frames[:half])
            fit_s = time.perf_counter() - start
            table = fitted[kind].locate(test)
            entry[kind] = {"fit_s": fit_s, **scores(test_truth, table, SHAPE)}
            log(
                f"{name}, {kind}: fitted in {fit_s:.0f} s; RMSE/bound "
                f"{entry[kind].get('ratio_to_crlb', math.nan):.3f}, z spread "
                f"{entry[kind].get('z_spread', math.nan):.3f}, Jaccard "
                f"{entry[kind]['jaccard']:.3f}"
            )
        measured = fitted["self-calibrated"]
        adu = camera["gain"] * camera["em_gain"]
        found = measured.camera_
        entry["measured"] = {
            "adu_per_photon": found.adu_per_photon,
            "adu_per_photon_std": found.gain_std * found.em_gain,
            "offset": found.offset,
            "offset_std": found.offset_std,
            "em_gain": found.em_gain,
            "read_noise": found.read_noise,
            "method": found.method,
            "psf_sigma": measured.psf_sigma_,
            "photons_range": list(measured.photons_range_),
            "background_range": list(measured.background_range_),
            "density": measured.density_,
            "std_scale": np.asarray(measured.std_scale_).tolist(),
        }
        entry["errors"] = {
            "gain_rel": found.adu_per_photon / adu - 1,
            "offset_adu": found.offset - camera["offset"],
            "psf_sigma_rel": measured.psf_sigma_ / PSF_SIGMA - 1,
            "rmse_rel": entry["self-calibrated"]["rmse_px"] / entry["told"]["rmse_px"]
            - 1,
        }
        if camera["em_gain"] > 1:
            # An EMCCD's offset is its weakest figure at these backgrounds:
            # with 20 dark frames (no light, the same settings) it is given.
            from pixel_regressor import make_spot_frames
            from pixel_regressor.calibration import calibrate_camera

            dark, _ = make_spot_frames(
                20, shape=SHAPE, density=0, background=0, random_state=99, **camera
            )
            with_dark = calibrate_camera(frames[:half], dark=dark, random_state=0)
            entry["with_dark_frames"] = {
                "adu_per_photon": with_dark.adu_per_photon,
                "offset": with_dark.offset,
                "offset_error_adu": with_dark.offset - camera["offset"],
                "gain_rel": with_dark.adu_per_photon / adu - 1,
            }
        log(f"{name}: {entry['errors']}")
        results[name] = entry
    return {"results": results}


def goals(document):
    rows = []
    for name, entry in document["results"].items():
        errors, ours = entry["errors"], entry["self-calibrated"]
        for goal, value, met in (
            ("gain within 10 %", errors["gain_rel"], abs(errors["gain_rel"]) <= 0.10),
            (
                "offset within 2 ADU",
                errors["offset_adu"],
                abs(errors["offset_adu"]) <= 2.0,
            ),
            (
                "PSF width within 5 %",
                errors["psf_sigma_rel"],
                abs(errors["psf_sigma_rel"]) <= 0.05,
            ),
            (
                "matched RMSE within 5 % of the told locator's",
                errors["rmse_rel"],
                errors["rmse_rel"] <= 0.05,
            ),
            (
                "z spread in 0.9-1.1",
                ours.get("z_spread", math.nan),
                0.9 <= ours.get("z_spread", math.nan) <= 1.1,
            ),
        ):
            rows.append({"camera": name, "goal": goal, "value": value, "met": met})
    return rows


def render(document):
    lines = [
        "# A locator that calibrates itself",
        "",
        f"Command: `{document['command']}` ({document['wall_time_s']:.0f} s; "
        f"{document['machine'].get('cpu_count', '?')} cores, load average at "
        f"the end {document['load_average_end'][0]:.1f}).",
        "",
        "| camera | locator | RMSE / bound | z spread (all / single / robust) | "
        "Jaccard | fit (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in document["results"].items():
        for kind in ("self-calibrated", "told"):
            r = entry[kind]
            lines.append(
                f"| {name} | {kind} | {r.get('ratio_to_crlb', math.nan):.3f} | "
                f"{r.get('z_spread', math.nan):.3f} / "
                f"{r.get('z_spread_single') or math.nan:.3f} / "
                f"{r.get('z_spread_robust', math.nan):.3f} | {r['jaccard']:.3f} | "
                f"{r['fit_s']:.0f} |"
            )
    lines += [
        "",
        "| camera | true ADU/e- | measured | true offset | measured | PSF width "
        "measured | method |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in document["results"].items():
        camera, m = entry["camera"], entry["measured"]
        lines.append(
            f"| {name} | {camera['gain'] * camera['em_gain']:g} | "
            f"{m['adu_per_photon']:.4g} +- {m['adu_per_photon_std']:.2g} | "
            f"{camera['offset']:g} | {m['offset']:.2f} +- {m['offset_std']:.2f} | "
            f"{m['psf_sigma']:.3f} | {m['method']} |"
        )
    for name, entry in document["results"].items():
        if "with_dark_frames" in entry:
            dark = entry["with_dark_frames"]
            lines += [
                "",
                f"{name} with 20 dark frames (`calibrate_camera(frames, dark=...)`): "
                f"{dark['adu_per_photon']:.4g} ADU/e- ({dark['gain_rel']:+.1%}), "
                f"offset {dark['offset']:.2f} ADU ({dark['offset_error_adu']:+.2f}).",
            ]
    lines += [
        "",
        "## Goals",
        "",
        "| camera | goal | value | met |",
        "| --- | --- | --- | --- |",
    ]
    for row in document["goals"]:
        lines.append(
            f"| {row['camera']} | {row['goal']} | {row['value']:+.3f} | "
            f"{'yes' if row['met'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    parser.add_argument("--render", type=Path, default=None, metavar="JSON")
    args = parser.parse_args(argv)
    if args.render is not None:
        document = json.loads(args.render.read_text())
        document["goals"] = goals(document)
        _write_atomically(args.render.with_suffix(".md"), render(document))
        return 0
    mode = "quick" if args.quick else "full"
    config = dict(MODES[mode])
    if args.frames is not None:
        config["frames"] = args.frames
    out = args.out or RESULTS / (
        "calibration_quick.json" if args.quick else "calibration.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    document = {
        "command": " ".join(
            ["python benchmarks/calibration.py", *(argv or sys.argv[1:])]
        ),
        "mode": mode,
        "config": config,
        "machine": machine_info(),
    }
    document.update(run(config, log=lambda text: print(text, flush=True)))
    document["wall_time_s"] = time.perf_counter() - start
    document["load_average_end"] = list(os.getloadavg())
    document["goals"] = goals(document)
    _write_atomically(out, json.dumps(document, indent=2, default=float) + "\n")
    markdown = render(document)
    _write_atomically(out.with_suffix(".md"), markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
