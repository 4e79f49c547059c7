"""Spots outside the training set: are the spot heads' deviations honest, or
is the user warned?

Usage::

    python benchmarks/hostile.py [--quick] [--train-size N] [--test-size N]
                                 [--epochs N] [--out PATH]

A ``head="spot"`` and a ``head="spot_fit"`` model are trained once, on
``--train-size`` images (default 3,000) of ``make_bright_spot_dataset``:
20x20, photons drawn log-uniformly in 300-3,000, background 10, PSF width
1.3 px, the default margin, photon counts, 3 epochs. Each is then asked for
``predict(X, return_std=True)`` on ``--test-size`` images (default 300) of
each hostile case:

- ``in range``: the training conditions (the reference);
- ``edge (margin 0)``: spots anywhere, ``margin=0``; ``edge (within 1.5
  px)``: those of them within 1.5 px of an edge; ``corner (0, 0)``: every
  spot at ``(0, 0)``;
- ``saturated uint16`` / ``uint8``: 2e6 photons, in a 16-bit and an 8-bit
  camera that clip;
- ``gain 1000``: a camera of 1,000 ADU per photon; ``EMCCD``: gain 2,
  offset 100, EM gain 100; ``offset 1000``: a camera baseline of 1,000 ADU;
- ``1e5 photons``, ``psf_sigma 0.5``: outside the trained brightness and
  width;
- ``two spots 7.8 px apart``: two spots of 1,000 photons each, their
  truth one of the two at random (the toss-up the answer is);
- ``no spot``: a constant image, a linear ramp (0 to 100 along the
  columns), and background alone (Poisson noise of 10 counts), the truth
  drawn uniformly over the image.

For each case and model it prints the spread of the z-scores ``(prediction -
truth) / std`` (their standard deviation over both axes), the share of
``|z| > 5``, and whether ``predict`` warned (the first line of the
warning). A case passes when it warns, or when its z spread is within
0.8-1.5 with at most 1 % of ``|z| > 5``. ``--quick`` (600 training images,
100 test images, 2 epochs) checks the script. Writes
``benchmarks/results/hostile.md`` (``hostile_quick.md`` with ``--quick``;
``--out`` to choose) and exits with status 1 when a case fails.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SEED = 0

IMAGE_SIZE = 20
TRAINING = {"photons": (300, 3000), "background": 10.0, "psf_sigma": 1.3}
Z_BAND = (0.8, 1.5)
MAX_GROSS_SHARE = 0.01
HEADS = ("spot", "spot_fit")
MODES = {
    "full": {"train_size": 3000, "test_size": 300, "epochs": 3},
    "quick": {"train_size": 600, "test_size": 100, "epochs": 2},
}


def _dataset(n, seed, **options):
    from pixel_regressor import make_bright_spot_dataset

    settings = {**TRAINING, **options}
    return make_bright_spot_dataset(
        n, image_size=IMAGE_SIZE, random_state=seed, **settings
    )


def _two_spots(n, seed, distance=7.8, photons=1000.0):
    """Two equal spots ``distance`` px apart; the truth one of them."""
    from pixel_regressor._psf import expected_counts

    rng = np.random.default_rng(seed)
    centre = (IMAGE_SIZE - 1) / 2 + rng.uniform(-1, 1, size=(n, 2))
    angle = rng.uniform(0, np.pi, size=n)
    half = 0.5 * distance * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    first, second = centre - half, centre + half
    shape = (IMAGE_SIZE, IMAGE_SIZE)
    sigma = TRAINING["psf_sigma"]
    mu = expected_counts(shape, first, sigma, photons, TRAINING["background"])
    mu += expected_counts(shape, second, sigma, photons, 0.0)
    images = rng.poisson(mu).astype(np.float32)
    truth = np.where(rng.random(n)[:, None] < 0.5, first, second)
    return images, truth


def _uniform_truth(n, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, IMAGE_SIZE - 1, size=(n, 2))


def _no_spot(kind, n, seed):
    rng = np.random.default_rng(seed)
    shape = (n, IMAGE_SIZE, IMAGE_SIZE)
    if kind == "constant":
        images = np.full(shape, 10.0, dtype=np.float32)
    elif kind == "ramp":
        ramp = np.linspace(0.0, 100.0, IMAGE_SIZE, dtype=np.float32)
        images = np.broadcast_to(ramp, shape).copy()
    else:
        images = rng.poisson(TRAINING["background"], size=shape).astype(np.float32)
    return images, _uniform_truth(n, seed + 1)


def cases(n):
    """``(name, images, truth)`` of each hostile case, ``n`` images each."""
    from pixel_regressor._psf import expected_counts

    out = [("in range", *_dataset(n, 101))]
    edge_images, edge_truth = _dataset(4 * n, 102, margin=0)
    out.append(("edge (margin 0)", edge_images[:n], edge_truth[:n]))
    near = np.min(
        np.concatenate([edge_truth, IMAGE_SIZE - 1 - edge_truth], axis=1), axis=1
    )
    near = np.flatnonzero(near <= 1.5)[:n]
    out.append(("edge (within 1.5 px)", edge_images[near], edge_truth[near]))
    rng = np.random.default_rng(104)
    photons = np.exp(rng.uniform(*np.log(TRAINING["photons"]), size=n))
    mu = expected_counts(
        (IMAGE_SIZE, IMAGE_SIZE),
        np.zeros((n, 2)),
        TRAINING["psf_sigma"],
        photons,
        TRAINING["background"],
    )
    corner = rng.poisson(mu).astype(np.float32)
    out.append(("corner (0, 0)", corner, np.zeros((n, 2))))
    for dtype in ("uint16", "uint8"):
        out.append((f"saturated {dtype}", *_dataset(n, 105, photons=2e6, dtype=dtype)))
    out.append(("gain 1000", *_dataset(n, 106, gain=1000.0)))
    out.append(("EMCCD", *_dataset(n, 107, gain=2.0, offset=100.0, em_gain=100.0)))
    out.append(("offset 1000", *_dataset(n, 108, offset=1000.0)))
    out.append(("1e5 photons", *_dataset(n, 109, photons=1e5)))
    out.append(("psf_sigma 0.5", *_dataset(n, 110, psf_sigma=0.5)))
    out.append(("two spots 7.8 px apart", *_two_spots(n, 111)))
    for kind in ("constant", "ramp", "background only"):
        out.append((f"no spot: {kind}", *_no_spot(kind, n, 112)))
    return out


def measure(estimator, images, truth):
    """z spread, share of |z| > 5, and the first warning's first line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predicted, std = estimator.predict(images, return_std=True)
    messages = [
        str(w.message).splitlines()[0]
        for w in caught
        if issubclass(w.category, UserWarning)
    ]
    z = (predicted - truth) / std
    finite = np.isfinite(z)
    return {
        "z_spread": float(np.sqrt(np.mean(np.square(z[finite])))),
        "gross_share": float(np.mean(~finite | (np.abs(z) > 5))),
        "warning": "; ".join(messages),
        "median_std": float(np.median(std)),
    }


def passes(result):
    low, high = Z_BAND
    calibrated = (
        low <= result["z_spread"] <= high and result["gross_share"] <= MAX_GROSS_SHARE
    )
    return bool(result["warning"]) or calibrated


def render(results, config, seconds):
    lines = [
        "# Hostile conditions: honest deviations, or a warning",
        "",
        f"Trained once per head on {config['train_size']} images of 20x20 spots, "
        f"photons 300-3,000 (log-uniform), background 10, PSF width 1.3 px, "
        f"{config['epochs']} epochs; {config['test_size']} test images per case. "
        "z spread: the root mean square of `(prediction - truth) / std` over "
        "both axes. Passes: a warning, or a z spread within "
        f"{Z_BAND[0]}-{Z_BAND[1]} with at most {MAX_GROSS_SHARE:.0%} of |z| > 5. "
        f"{seconds:.0f} s in all (`python benchmarks/hostile.py"
        f"{' --quick' if config.get('quick') else ''}`).",
        "",
        "| case | head | z spread | |z| > 5 | median std (px) | warning | passes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (case, head), result in results.items():
        warning = result["warning"] or "-"
        if len(warning) > 140:
            warning = warning[:137] + "..."
        lines.append(
            f"| {case} | {head} | {result['z_spread']:.2f} | "
            f"{100 * result['gross_share']:.1f} % | {result['median_std']:.3g} | "
            f"{warning.replace('|', '/')} | {'yes' if passes(result) else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="results Markdown")
    args = parser.parse_args(argv)
    config = dict(MODES["quick" if args.quick else "full"], quick=args.quick)
    for name in ("train_size", "test_size", "epochs"):
        if getattr(args, name) is not None:
            config[name] = getattr(args, name)
    out = args.out or RESULTS / ("hostile_quick.md" if args.quick else "hostile.md")

    from pixel_regressor import BrightPixelRegressor

    start = time.perf_counter()
    X, y = _dataset(config["train_size"], SEED)
    models = {
        head: BrightPixelRegressor(
            head=head, epochs=config["epochs"], random_state=SEED
        ).fit(X, y)
        for head in HEADS
    }
    results = {}
    for case, images, truth in cases(config["test_size"]):
        for head, estimator in models.items():
            result = measure(estimator, images, truth)
            results[case, head] = result
            print(
                f"{case:24s} {head:8s} z spread {result['z_spread']:8.2f}  "
                f"|z|>5 {100 * result['gross_share']:5.1f} %  "
                f"{'warns' if result['warning'] else 'silent'}  "
                f"{'ok' if passes(result) else 'FAILS'}",
                flush=True,
            )
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, config, seconds))
    print(f"wrote {out}")
    return 0 if all(passes(r) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
