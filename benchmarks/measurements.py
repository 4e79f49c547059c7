"""The benchmark measurements, each run in a fresh interpreter by ``run.py``.

Every function here is one measurement. ``run.py`` starts a new Python
process per measurement (``python benchmarks/measurements.py --jobs JSON
--result FILE``), so that the peak resident memory the process reports
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that measurement
alone, and TensorFlow's state (threads, traced functions, allocator caches)
left by one measurement cannot speed up or slow down the next. (A quick run
shares one process between several measurements to save start-up time; there
only the first measurement of a process has its own peak RSS.)

Protocols shared by the measurements:

- *Notebook protocol*: ``n`` images of 50x50, split 70/15/15 by the notebook's
  own two ``train_test_split(..., random_state=1234)`` calls; models train on
  the 70 %, the test set is the notebook's ``x_temp`` (15 %).
- *Scores* on a test set: the mean absolute error per coordinate (Keras's
  ``mae``), the exact-pixel accuracy (``rint(prediction) == target`` in both
  coordinates) and the mean Euclidean error in pixels, the last two from
  :mod:`pixel_regressor.metrics`.
- Timings use :func:`time.perf_counter`; repeated timings report the best
  (the least disturbed by other work on the machine) and the median.

The measurements:

``notebook_training``
    The notebook's code (``notebook_reference.py``): its dataset loop,
    preprocessing, split, CNN and ``fit`` with ``validation_data``; the time of
    ``import tensorflow``, of the data, of ``fit``; test scores; the resident
    memory just before ``fit`` (imports, data and model) and the peak.
``estimator_training``
    The same protocol through the public API: ``make_bright_pixel_dataset``,
    the same split, ``BrightPixelRegressor(head).fit(X_train, y_train,
    validation_data=(X_val, y_val))``. It also times ``import
    pixel_regressor`` and the first use of the estimator (which imports
    Keras), so that import plus first fit is measured in a fresh process
    (the data, prepared in between, is not counted; NumPy and scikit-learn
    are already imported by then, as they are before the notebook's
    ``import tensorflow`` is timed).
    Optionally, after the peak RSS is read, the fitted model predicts images
    of another size (80x120, given as 3-D arrays).
``quadrant``
    Train on images whose pixel is never in the bottom-right quadrant (row >=
    25 and col >= 25), test only on images whose pixel is in it.
``noise``
    Gaussian noise of a given standard deviation (0-255 scale) in training and
    test data, notebook protocol; ``np.argmax`` scored on the same test set.
``throughput``
    Prediction speed on the same images for every candidate, interleaved
    round by round so that load from other processes hits all of them alike:
    the notebook's CNN through ``model.predict`` at batch 32 and 1024, the
    dense and default estimators' ``predict``, and ``np.argmax``. One warm-up
    call each first. The notebook's CNN is untrained (the speed of a network
    does not depend on its weights); the estimators are fitted on a small set.
``datagen``
    The notebook's ``dataset()`` loop plus its preprocessing against
    ``make_bright_pixel_dataset``: time of the call, time of the call plus
    ``X.sum()`` (``np.zeros`` maps pages lazily, so an untouched array is not
    yet fully paid for), and the peak of memory traced by :mod:`tracemalloc`
    (measured in a separate call, since tracing slows Python code down).
``scaling``
    The default estimator fitted on, and predicting, ``n`` images: fit and
    predict times per image, resident memory before the data, after it, and
    the peak.
``predict_memory``
    Robustness to large images: the memory one ``predict`` call adds (its
    peak resident memory, reset just before the call, minus the resident
    memory then) on images of a given shape, against their size.
"""

import argparse
import json
import resource
import statistics
import sys
import time
import traceback
import tracemalloc
from pathlib import Path

import notebook_reference as nb
import numpy as np

IMAGE_SIZE = 50


# ----------------------------------------------------------------------------
# helpers
def peak_rss_bytes():
    """Peak resident memory of this process so far, in bytes (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes():
    """Resident memory of this process now, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None  # pragma: no cover - not Linux


def scores(y_true, y_pred):
    """MAE per coordinate, exact-pixel accuracy and mean Euclidean error."""
    from pixel_regressor import exact_pixel_accuracy, mean_pixel_error

    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return {
        "mae": float(np.mean(np.abs(y_pred - y_true))),
        "exact": exact_pixel_accuracy(y_true, y_pred),
        "euclidean": mean_pixel_error(y_true, y_pred),
        "n_test": len(y_true),
    }


def argmax_coordinates(X, width):
    """``(row, col)`` of the brightest pixel of each flattened image."""
    return np.column_stack(np.divmod(np.argmax(X, axis=1), width))


def timed(function, *args, **kwargs):
    """Call ``function``; return its result and the seconds it took."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def summary(seconds):
    """Best and median of repeated timings."""
    return {
        "best_s": min(seconds),
        "median_s": statistics.median(seconds),
        "all_s": list(seconds),
    }


def estimator_params(head, epochs, seed):
    """Parameters of a ``BrightPixelRegressor``; ``epochs=None`` keeps "auto"."""
    params = {"head": head, "random_state": seed}
    if epochs is not None:
        params["epochs"] = epochs
    return params


# ----------------------------------------------------------------------------
# measurements
def notebook_training(samples, epochs, seed):
    """The notebook's own code on the notebook protocol."""
    start = time.perf_counter()
    import tensorflow  # noqa: F401 - the notebook's first cell
    from tensorflow import keras

    import_s = time.perf_counter() - start

    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    images, labels = nb.dataset(samples)
    images = nb.preprocess(images)
    data_s = time.perf_counter() - start
    x_train, y_train, x_val, y_val, x_temp, y_temp = nb.split(images, labels)
    del images, labels

    model = nb.build_model()
    rss_before_fit = current_rss_bytes()
    history, fit_s = timed(
        nb.train, model, x_train, y_train, x_val, y_val, epochs=epochs, verbose=0
    )
    test_loss, test_mae = nb.evaluate(model, x_temp, y_temp, verbose=0)
    y_pred = model.predict(x_temp, verbose=0)
    return {
        "import_s": import_s,
        "data_s": data_s,
        "fit_s": fit_s,
        "first_fit_s": import_s + fit_s,
        "epochs": len(history.history["loss"]),
        "n_train": len(x_train),
        "n_params": model.count_params(),
        "evaluate_mae": float(test_mae),
        "evaluate_loss": float(test_loss),
        "scores": scores(y_temp, y_pred),
        "rss_before_fit": rss_before_fit,
        "peak_rss": peak_rss_bytes(),
        "keras_backend": keras.backend.backend(),
    }


def estimator_training(head, samples, epochs, seed, other_size=None):
    """``BrightPixelRegressor`` on the notebook protocol, in a fresh process."""
    start = time.perf_counter()
    import pixel_regressor

    import_s = time.perf_counter() - start
    heavy_after_import = [
        name for name in ("tensorflow", "keras", "numpy") if name in sys.modules
    ]
    from pixel_regressor import make_bright_pixel_dataset

    (X, y), data_s = timed(make_bright_pixel_dataset, samples, random_state=seed)
    x_train, y_train, x_val, y_val, x_temp, y_temp = nb.split(X, y)
    del X, y

    start = time.perf_counter()
    BrightPixelRegressor = pixel_regressor.BrightPixelRegressor
    estimator_import_s = time.perf_counter() - start
    # Keras and its backend, imported before the fit is timed, as the
    # notebook's measurement imports TensorFlow before its fit (fit_s); the
    # import counts in first_fit_s.
    start = time.perf_counter()
    import keras

    keras_import_s = time.perf_counter() - start
    estimator = BrightPixelRegressor(**estimator_params(head, epochs, seed))
    rss_before_fit = current_rss_bytes()
    _, fit_s = timed(estimator.fit, x_train, y_train, validation_data=(x_val, y_val))
    y_pred = estimator.predict(x_temp)
    result = {
        "import_s": import_s,
        "heavy_modules_after_import": heavy_after_import,
        "estimator_import_s": estimator_import_s,
        "keras_import_s": keras_import_s,
        "data_s": data_s,
        "fit_s": fit_s,
        "fit_time_": estimator.fit_time_,
        "first_fit_s": import_s + estimator_import_s + keras_import_s + fit_s,
        "epochs": estimator.n_iter_,
        "n_train": len(x_train),
        "n_params": estimator.model_.count_params(),
        "scores": scores(y_temp, y_pred),
        "rss_before_fit": rss_before_fit,
        "peak_rss": peak_rss_bytes(),
    }
    result["keras_backend"] = keras.backend.backend()
    if other_size is not None:
        # Read after the peak RSS above, so that it does not count there.
        height, width, n_test = other_size
        X_big, y_big = make_bright_pixel_dataset(
            n_test, image_size=(height, width), random_state=seed + 1
        )
        y_big_pred = estimator.predict(X_big.reshape(n_test, height, width))
        result["other_size"] = {
            "image_size": [height, width],
            "scores": scores(y_big, y_big_pred),
        }
    return result


def quadrant(heads, n_train, n_test, seed, dense_epochs=None):
    """Train without the bottom-right quadrant, test only inside it."""
    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

    half = IMAGE_SIZE // 2
    held_out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    held_out[half:, half:] = True
    X_train, y_train = make_bright_pixel_dataset(
        n_train, mask=~held_out, random_state=seed
    )
    X_test, y_test = make_bright_pixel_dataset(
        n_test, mask=held_out, random_state=seed + 1
    )
    result = {"n_train": n_train, "n_test": n_test, "heads": {}}
    for head in heads:
        epochs = dense_epochs if head == "dense" else None
        estimator = BrightPixelRegressor(**estimator_params(head, epochs, seed))
        _, fit_s = timed(estimator.fit, X_train, y_train)
        result["heads"][head] = {
            "fit_s": fit_s,
            "epochs": estimator.n_iter_,
            "scores": scores(y_test, estimator.predict(X_test)),
        }
    return result


def noise(levels, samples, seed):
    """Noisy images, notebook protocol; ``np.argmax`` on the same test sets."""
    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

    result = {}
    for level in levels:
        X, y = make_bright_pixel_dataset(samples, noise=level, random_state=seed)
        x_train, y_train, _, _, x_temp, y_temp = nb.split(X, y)
        estimator = BrightPixelRegressor(random_state=seed)
        _, fit_s = timed(estimator.fit, x_train, y_train)
        result[str(level)] = {
            "noise": level,
            "fit_s": fit_s,
            "epochs": estimator.n_iter_,
            "scores": scores(y_temp, estimator.predict(x_temp)),
            "argmax_scores": scores(y_temp, argmax_coordinates(x_temp, IMAGE_SIZE)),
        }
    return result


def throughput(n_images, repeats, fit_samples, seed):
    """Images per second of every candidate's prediction, interleaved."""
    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

    X, _ = make_bright_pixel_dataset(n_images, random_state=seed)
    x_notebook = nb.preprocess(X.reshape(n_images, IMAGE_SIZE, IMAGE_SIZE))
    X_fit, y_fit = make_bright_pixel_dataset(fit_samples, random_state=seed + 1)
    notebook_cnn = nb.build_model()
    dense = BrightPixelRegressor("dense", epochs=1, random_state=seed).fit(X_fit, y_fit)
    default = BrightPixelRegressor(random_state=seed).fit(X_fit, y_fit)

    # name -> (call, calls per round: cheap calls are repeated more often)
    candidates = {
        "notebook_cnn_batch_32": (
            lambda: notebook_cnn.predict(x_notebook, verbose=0),
            1,
        ),
        "notebook_cnn_batch_1024": (
            lambda: notebook_cnn.predict(x_notebook, batch_size=1024, verbose=0),
            1,
        ),
        "dense_estimator": (lambda: dense.predict(X), 1),
        "default_estimator": (lambda: default.predict(X), 1),
        "argmax": (lambda: argmax_coordinates(X, IMAGE_SIZE), 10),
    }
    for call, _ in candidates.values():
        call()  # warm-up: tracing, thread pools, caches
    seconds = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, (call, calls) in candidates.items():
            for _ in range(calls):
                seconds[name].append(timed(call)[1])
    result = {"n_images": n_images, "repeats": repeats, "candidates": {}}
    for name, times in seconds.items():
        stats = summary(times)
        stats["images_per_s"] = n_images / stats["best_s"]
        stats["images_per_s_median"] = n_images / stats["median_s"]
        result["candidates"][name] = stats
    return result


def _notebook_data(samples, seed):
    np.random.seed(seed)  # noqa: NPY002 - the notebook's loop uses the global RNG
    images, labels = nb.dataset(samples)
    images = nb.preprocess(images)
    return images, labels


def _our_data(samples, seed):
    from pixel_regressor import make_bright_pixel_dataset

    return make_bright_pixel_dataset(samples, random_state=seed)


def datagen(samples, repeats, seed):
    """The notebook's data loop against ``make_bright_pixel_dataset``."""
    import pixel_regressor  # noqa: F401 - imported before any timing

    generators = {
        "notebook_loop": _notebook_data,
        "make_bright_pixel_dataset": _our_data,
    }
    call_s = {name: [] for name in generators}
    touched_s = {name: [] for name in generators}
    for _ in range(repeats):
        for name, generate in generators.items():
            start = time.perf_counter()
            X, _ = generate(samples, seed)
            middle = time.perf_counter()
            X.sum()
            end = time.perf_counter()
            call_s[name].append(middle - start)
            touched_s[name].append(end - start)
            del X
    result = {"samples": samples, "repeats": repeats, "candidates": {}}
    for name, generate in generators.items():
        tracemalloc.start()
        tracemalloc.reset_peak()
        X, y = generate(samples, seed)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        result["candidates"][name] = {
            "call": summary(call_s[name]),
            "touched": summary(touched_s[name]),
            "traced_peak_bytes": peak,
            "X_nbytes": X.nbytes,
            "X_shape": list(X.shape),
            "X_dtype": str(X.dtype),
            "y_nbytes": y.nbytes,
        }
        del X, y
    return result


def scaling(samples, seed):
    """Fit and predict times and memory of the default estimator at size n."""
    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

    estimator = BrightPixelRegressor(random_state=seed)
    import keras  # noqa: F401 - loaded before the baseline memory is read

    rss_before_data = current_rss_bytes()
    X, y = make_bright_pixel_dataset(samples, random_state=seed)
    X.sum()  # touch every page, so that the data is resident
    rss_with_data = current_rss_bytes()
    _, fit_s = timed(estimator.fit, X, y)
    y_pred, predict_s = timed(estimator.predict, X)
    return {
        "samples": samples,
        "fit_s": fit_s,
        "predict_s": predict_s,
        "fit_us_per_image": 1e6 * fit_s / samples,
        "predict_us_per_image": 1e6 * predict_s / samples,
        "epochs": estimator.n_iter_,
        "X_nbytes": X.nbytes,
        "rss_before_data": rss_before_data,
        "rss_with_data": rss_with_data,
        "peak_rss": peak_rss_bytes(),
        "train_exact": scores(y, y_pred)["exact"],
    }


def training_memory(how, calls, samples, seed):
    """RSS after each of ``calls`` training calls, each on fresh data.

    ``how``: ``"partial_fit"`` (one estimator, a new chunk of ``samples``
    50x50 images per call), ``"fit"`` (one estimator refitted on a new set
    each call) or ``"sequence"`` (``fit`` on a new ``BrightPixelSequence`` of
    ``samples`` images each call). Every call's data is dropped before the
    RSS is read: memory that grows with the calls is data kept by training.
    """
    import gc

    from pixel_regressor import (
        BrightPixelRegressor,
        BrightPixelSequence,
        make_bright_pixel_dataset,
    )

    estimator = BrightPixelRegressor(epochs=1, random_state=seed)
    rss_after = []
    start = time.perf_counter()
    for call in range(calls):
        if how == "sequence":
            data = BrightPixelSequence(
                samples, batch_size=256, random_state=seed + call
            )
            estimator.fit(data)
        else:
            X, y = make_bright_pixel_dataset(samples, random_state=seed + call)
            getattr(estimator, how)(X, y)
            del X, y
        data = None
        gc.collect()
        rss_after.append(current_rss_bytes())
    return {
        "how": how,
        "calls": calls,
        "samples": samples,
        "chunk_nbytes": samples * IMAGE_SIZE * IMAGE_SIZE * 4,
        "rss_after_call": rss_after,
        "growth_bytes": rss_after[-1] - rss_after[1],
        "seconds": time.perf_counter() - start,
        "epochs": estimator.n_iter_,
    }


def _reset_peak_rss():
    """Reset the process's peak RSS (Linux: write 5 to clear_refs); True if done."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - not Linux
        return False
    return True


def _peak_rss_since_reset():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None  # pragma: no cover - not Linux


def predict_memory(shape, seed):
    """Memory and time of the default estimator's predict on ``shape`` images."""
    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

    X, y = make_bright_pixel_dataset(300, image_size=16, random_state=seed)
    estimator = BrightPixelRegressor(epochs=1, random_state=seed).fit(X, y)
    estimator.predict(X)
    images = np.zeros(shape, dtype=np.float32)
    images[:, 5, 7] = 1.0
    images.sum()  # resident
    reset = _reset_peak_rss()
    before = current_rss_bytes()
    y_pred, seconds = timed(estimator.predict, images)
    peak = _peak_rss_since_reset() if reset else peak_rss_bytes()
    return {
        "shape": list(shape),
        "input_nbytes": images.nbytes,
        "rss_before": before,
        "peak_rss": peak,
        "added_bytes": peak - before,
        "predict_s": seconds,
        "correct": bool(np.allclose(y_pred, [5, 7], atol=0.01)),
    }


def archive_refusal(seed, inflated_bytes=4 * 2**30):
    """Time and memory to refuse a model whose weights inflate to 4 GiB.

    A saved default estimator whose ``model.keras`` weights member is
    replaced by ``inflated_bytes`` of zeros, deflated (a few MB on disk).
    """
    import tempfile
    import tracemalloc
    import zipfile

    from pixel_regressor import (
        BrightPixelRegressor,
        load_model,
        make_bright_pixel_dataset,
    )

    X, y = make_bright_pixel_dataset(100, image_size=10, random_state=seed)
    estimator = BrightPixelRegressor(epochs=1, random_state=seed).fit(X, y)
    with tempfile.TemporaryDirectory() as tmp:
        directory = estimator.save(Path(tmp) / "model")
        archive = directory / "model.keras"
        members = {}
        with zipfile.ZipFile(archive) as original:
            for info in original.infolist():
                members[info.filename] = original.read(info)
        chunk = bytes(2**24)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb:
            for name, content in members.items():
                if name != "model.weights.h5":
                    bomb.writestr(name, content)
            with bomb.open("model.weights.h5", "w", force_zip64=True) as member:
                for _ in range(inflated_bytes // len(chunk)):
                    member.write(chunk)
        archive_bytes = archive.stat().st_size
        reset = _reset_peak_rss()
        before = current_rss_bytes()
        tracemalloc.start()
        start = time.perf_counter()
        try:
            load_model(directory)
        except ValueError as exc:
            message = str(exc)
        else:  # pragma: no cover - a failure of the check
            message = None
        seconds = time.perf_counter() - start
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak = _peak_rss_since_reset() if reset else peak_rss_bytes()
    return {
        "archive_bytes": archive_bytes,
        "inflated_bytes": inflated_bytes,
        "refused": message is not None,
        "message": message,
        "refuse_s": seconds,
        "traced_peak_bytes": traced,
        "added_bytes": peak - before,
    }


def _natural_crops(n, size, seed, *, top=220.0, bright=230.0):
    """Crops of scikit-learn's sample photographs, grey, scaled to [0, top],
    with one pixel set to ``bright``; and that pixel's ``(row, col)``."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = [image.mean(axis=2) for image in load_sample_images().images]
    images = np.empty((n, size, size))
    targets = rng.integers(0, size, size=(n, 2))
    for i in range(n):
        photo = photos[i % len(photos)]
        row = rng.integers(0, photo.shape[0] - size)
        col = rng.integers(0, photo.shape[1] - size)
        crop = photo[row : row + size, col : col + size]
        images[i] = (crop - crop.min()) / max(np.ptp(crop), 1e-12) * top
    images[np.arange(n), targets[:, 0], targets[:, 1]] = bright
    return images, targets


def low_contrast(samples, n_test, seed, size=50, noise_levels=(0, 80)):
    """Models trained on generator images, tested on low-contrast photographs.

    For each training noise level: the default estimator trained on
    ``samples`` generator images, tested on ``n_test`` photo crops with the
    bright pixel 10 grey levels above the rest, and on clean generator
    images; ``np.argmax`` on the same test sets.
    """
    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

    crops, crop_targets = _natural_crops(n_test, size, seed + 1)
    clean, clean_targets = make_bright_pixel_dataset(
        n_test, image_size=size, random_state=seed + 2
    )
    result = {
        "argmax_crops_exact": scores(
            crop_targets, argmax_coordinates(crops.reshape(n_test, -1), size)
        )["exact"],
        "argmax_clean_exact": scores(clean_targets, argmax_coordinates(clean, size))[
            "exact"
        ],
    }
    for level in noise_levels:
        X, y = make_bright_pixel_dataset(
            samples, image_size=size, noise=level, random_state=seed
        )
        estimator, fit_s = timed(BrightPixelRegressor(random_state=seed).fit, X, y)
        result[f"noise_{level}"] = {
            "fit_s": fit_s,
            "crops_exact": scores(crop_targets, estimator.predict(crops))["exact"],
            "clean_exact": scores(clean_targets, estimator.predict(clean))["exact"],
        }
    return result


MEASUREMENTS = {
    "archive_refusal": archive_refusal,
    "low_contrast": low_contrast,
    "notebook_training": notebook_training,
    "estimator_training": estimator_training,
    "quadrant": quadrant,
    "noise": noise,
    "throughput": throughput,
    "datagen": datagen,
    "scaling": scaling,
    "predict_memory": predict_memory,
    "training_memory": training_memory,
}


def run_jobs(jobs):
    """Run ``[key, measurement, parameters]`` jobs in order; return their results.

    A job that raises is reported as ``{"error": traceback}`` and the next one
    still runs.
    """
    results = {}
    for key, name, params in jobs:
        start = time.perf_counter()
        try:
            result = MEASUREMENTS[name](**params)
        except Exception:  # report it, run the rest
            result = {"error": traceback.format_exc()}
        result["measurement_wall_s"] = time.perf_counter() - start
        results[key] = result
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run benchmark measurements.")
    parser.add_argument(
        "--jobs",
        required=True,
        help='JSON list of [key, measurement, parameters], e.g. \'[["g", "datagen", '
        '{"samples": 100, "repeats": 1, "seed": 0}]]\'',
    )
    parser.add_argument("--result", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    results = run_jobs(json.loads(args.jobs))
    Path(args.result).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
