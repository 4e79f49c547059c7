"""Benchmark the estimator's fast paths: compiled predict, bounded memory.

Usage::

    python benchmarks/fast_paths.py [--quick] [--out benchmarks/results/fast_paths.json]

Every measurement runs in a fresh Python process (``--job``), so that its
peak resident memory is its own and each backend is the one Keras loaded.
Ratios are measured side by side in one process (candidates interleaved,
best of several rounds), since absolute figures on a shared machine are
noisy.

1. Predict throughput on 20,000 images of 50x50 per backend (TensorFlow and
   JAX) and head: ``predict``, the compiled function on its own where
   ``predict`` does not use it (the default head, computed at its peak in
   NumPy), the same batches through Keras's ``predict_on_batch`` (the
   uncompiled path) and ``np.argmax``; and the spot head's ``predict`` on
   as many blurred spots of 32x32 (``make_bright_spot_dataset``), beside
   ``np.argmax`` on them.
   Goals: the default head at least 10 % of ``np.argmax``; JAX at least as
   fast as TensorFlow for every head.
2. Batch size: each head's compiled function, per backend, at batches of 32
   to 1024 images of 50x50 (``PIXEL_BUDGET`` is 2**20 pixels: 256 such
   images).
3. Memory added by ``fit`` on 15,000 and 150,000 in-memory 50x50 float32
   images (peak RSS minus RSS with the data loaded, over the array's size),
   the batch-fed path against Keras's own array path (the previous one), with
   their fit times and accuracy. Goal: at most 1.3x.
4. Robustness: memory added by ``predict`` on 1 image of 3000x3000 and on 33
   images of 1000x1000 (the previous path padded every batch to 32 or 1024
   images: 5.4 GB and 17 GB), through the compiled function and through
   ``predict``'s own choice (``auto``: the default head at its peak). Goal:
   at most 3x the input.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from measurements import (
    _peak_rss_since_reset,
    _reset_peak_rss,
    current_rss_bytes,
    peak_rss_bytes,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SEED = 0


def _best(calls, repeats):
    """Best seconds of each call, interleaved round by round."""
    for call in calls.values():
        call()  # warm-up: compilation, thread pools
    seconds = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
    return {name: min(times) for name, times in seconds.items()}


# ----------------------------------------------------------------------------
# jobs, each run in its own process
def throughput(n_images, repeats, fit_samples):
    import keras

    from pixel_regressor import (
        BrightPixelRegressor,
        _inference,
        make_bright_pixel_dataset,
        make_bright_spot_dataset,
    )
    from pixel_regressor.models import HEADS

    X, _ = make_bright_pixel_dataset(n_images, random_state=SEED)
    images = X.reshape(n_images, 50, 50, 1)
    X_fit, y_fit = make_bright_pixel_dataset(fit_samples, random_state=SEED + 1)
    calls = {
        "argmax": lambda: np.divmod(np.argmax(X, axis=1), 50),
    }
    for head in sorted(HEADS):
        reg = BrightPixelRegressor(head, epochs=1, random_state=SEED)
        reg.fit(X_fit, y_fit)
        calls[f"{head}_predict"] = lambda reg=reg: reg.predict(X)
        if _inference._pixel_peak_weights(reg.model_) is not None:
            # predict computes this model at its peak in NumPy; the compiled
            # function is measured on its own.
            calls[f"{head}_compiled"] = lambda reg=reg: reg._predict_batch(
                images, path="compiled"
            )
        calls[f"{head}_uncompiled"] = lambda reg=reg: reg._predict_batch(
            images, path="keras"
        )
    # The spot head on what it is for: blurred spots in photon noise, 32x32
    # (the same number of images).
    spots, _ = make_bright_spot_dataset(n_images, image_size=32, random_state=SEED)
    spots_fit, y_spots = make_bright_spot_dataset(
        fit_samples, image_size=32, random_state=SEED + 1
    )
    reg = BrightPixelRegressor("spot", epochs=1, random_state=SEED)
    reg.fit(spots_fit, y_spots)
    calls["argmax_32x32"] = lambda: np.argmax(spots.reshape(n_images, -1), axis=1)
    calls["spot_predict_32x32"] = lambda reg=reg: reg.predict(spots)
    best = _best(calls, repeats)
    return {
        "backend": keras.backend.backend(),
        "n_images": n_images,
        "images_per_s": {name: n_images / s for name, s in best.items()},
    }


def batch_sizes(n_images, repeats, sizes, head):
    from pixel_regressor import (
        BrightPixelRegressor,
        _inference,
        make_bright_pixel_dataset,
    )

    X, _ = make_bright_pixel_dataset(n_images, random_state=SEED)
    images = X.reshape(n_images, 50, 50, 1)
    X_fit, y_fit = make_bright_pixel_dataset(1000, random_state=SEED + 1)
    reg = BrightPixelRegressor(head, epochs=1, random_state=SEED).fit(X_fit, y_fit)
    calls = {}
    for size in sizes:

        def call(size=size):
            _inference.PIXEL_BUDGET = size * 2500
            _inference.predict(reg.model_, images, 2, path="compiled")

        calls[str(size)] = call
    best = _best(calls, repeats)
    return {"images_per_s": {k: n_images / s for k, s in best.items()}}


def fit_memory(samples, path):
    import keras  # noqa: F401 - loaded before the baseline

    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset
    from pixel_regressor.metrics import exact_pixel_accuracy

    if path == "keras_arrays":
        # The previous path: scikeras's own _fit_keras_model on the arrays,
        # which Keras copies.
        from scikeras.wrappers import KerasRegressor

        from pixel_regressor._keras_regressor import ImageKerasRegressor

        def _fit_keras_model(self, X, y, *args, shuffle_seed=None, **kwargs):
            X = X.astype(np.float32, copy=False)
            return KerasRegressor._fit_keras_model(self, X, y, *args, **kwargs)

        ImageKerasRegressor._fit_keras_model = _fit_keras_model
    # A small fit first: the training graph and thread pools are not data.
    X_small, y_small = make_bright_pixel_dataset(500, random_state=SEED + 2)
    BrightPixelRegressor(epochs=1, random_state=SEED).fit(X_small, y_small)
    X, y = make_bright_pixel_dataset(samples, random_state=SEED)
    X.sum()  # resident
    X_test, y_test = make_bright_pixel_dataset(2000, random_state=SEED + 1)
    before = current_rss_bytes()
    start = time.perf_counter()
    reg = BrightPixelRegressor(random_state=SEED).fit(X, y)
    fit_s = time.perf_counter() - start
    added = peak_rss_bytes() - before
    return {
        "samples": samples,
        "path": path,
        "X_nbytes": X.nbytes,
        "added_bytes": added,
        "added_over_X": added / X.nbytes,
        "fit_s": fit_s,
        "test_exact": exact_pixel_accuracy(y_test, reg.predict(X_test)),
    }


def predict_memory(shape, path):
    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

    X, y = make_bright_pixel_dataset(300, image_size=16, random_state=SEED)
    reg = BrightPixelRegressor(epochs=1, random_state=SEED).fit(X, y)
    reg._predict_batch(X.reshape(-1, 16, 16, 1), path=path)
    images = np.zeros((*shape, 1), np.float32)
    images[:, 5, 7] = 1.0
    images.sum()
    # The fit's own peak must not count.
    _reset_peak_rss()
    before = current_rss_bytes()
    start = time.perf_counter()
    pred = reg._predict_batch(images, path=path)
    seconds = time.perf_counter() - start
    added = _peak_rss_since_reset() - before
    return {
        "shape": list(shape),
        "path": path,
        "input_nbytes": images.nbytes,
        "added_bytes": added,
        "added_over_input": added / images.nbytes,
        "seconds": seconds,
        "correct": bool(np.allclose(pred, [5, 7], atol=0.01)),
    }


def layer_times(repeats, heads, size=256):
    """Each layer's compiled call on its own, in microseconds per image.

    The layer's inputs are the model's own intermediate tensors for ``size``
    images of 50x50; the call is compiled as ``predict`` compiles the whole
    model (``tf.function``, with XLA where ``_use_xla`` says so; ``jax.jit``).
    Under JAX, convolutions and poolings are also timed in the other
    formulations tried for XLA's CPU code: a convolution as a sum of shifted
    products (``shifted``; what ``predict`` uses for one input channel, see
    ``shifted_convolutions``, and the model row includes) or as one matrix
    product of the stacked shifts (``im2col``), a pooling as a reshape and a
    maximum (``reshape``).
    """
    import keras

    from pixel_regressor import (
        BrightPixelRegressor,
        _inference,
        make_bright_pixel_dataset,
    )

    backend = keras.backend.backend()
    X, _ = make_bright_pixel_dataset(size, random_state=SEED)
    batch = X.reshape(size, 50, 50, 1).astype(np.float32)
    X_fit, y_fit = make_bright_pixel_dataset(1000, random_state=SEED + 1)
    times = {}
    for head in heads:
        model = BrightPixelRegressor(head, epochs=1, random_state=SEED)
        model = model.fit(X_fit, y_fit).model_
        calls = {
            "model": lambda model=model: _inference.predict(
                model, batch, 2, path="compiled"
            )
        }
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            inputs = keras.Model(model.inputs, layer.input).predict_on_batch(batch)
            # Converted once, so that the calls time the layer alone.
            inputs = keras.tree.map_structure(keras.ops.convert_to_tensor, inputs)
            forms = {"": lambda x, layer=layer: layer(x, training=False)}
            if backend == "jax":
                forms.update(_jax_alternatives(layer))
            for form, function in forms.items():
                compiled = _compiled(function, backend, _inference._use_xla(model))
                calls[f"{layer.name}{form and ' ' + form}"] = (
                    lambda compiled=compiled, inputs=inputs: _ready(compiled(inputs))
                )
        best = _best(calls, repeats)
        times[head] = {name: 1e6 * s / size for name, s in best.items()}
    return {"backend": backend, "us_per_image": times}


def _compiled(function, backend, jit_compile):
    if backend == "jax":
        import jax

        return jax.jit(function)
    import tensorflow as tf

    return tf.function(function, jit_compile=jit_compile, autograph=False)


def _ready(outputs):
    """Wait for every output (JAX dispatches asynchronously)."""
    for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        np.asarray(output)


def _jax_alternatives(layer):
    """The other formulations of a valid, unit-stride convolution or pooling."""
    import jax.numpy as jnp
    import keras

    from pixel_regressor._layers import PixelConv2D, shifted_convolutions

    if isinstance(layer, keras.layers.MaxPooling2D):
        a, b = layer.pool_size
        if tuple(layer.strides) != (a, b) or layer.padding != "valid":
            return {}

        def reshape(x):
            n, h, w, c = x.shape
            x = x[:, : h // a * a, : w // b * b]
            return x.reshape(n, h // a, a, w // b, b, c).max(axis=(2, 4))

        return {"reshape": reshape}
    if not (
        isinstance(layer, keras.layers.Conv2D)
        and layer.padding == "valid"
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.groups == 1
    ):
        return {}
    # Copies: Keras's JAX trainer may delete a variable's arrays when it
    # replaces them.
    kernel = np.array(layer.kernel)
    bias = np.array(layer.bias) if layer.use_bias else np.float32(0)
    kh, kw, cin, cout = kernel.shape

    def shifts(x):
        oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
        return [x[:, i : i + oh, j : j + ow] for i in range(kh) for j in range(kw)]

    def shifted(x):
        if cin == 1 and isinstance(layer, PixelConv2D):
            # The package's own, as predict computes it on JAX.
            with shifted_convolutions():
                return layer(x)
        k = kernel.reshape(kh * kw, cin, cout)
        out = sum(jnp.dot(s, k[i]) for i, s in enumerate(shifts(x)))
        return layer.activation(out + bias)

    def im2col(x):
        cols = jnp.concatenate(shifts(x), axis=-1)
        return layer.activation(jnp.dot(cols, kernel.reshape(-1, cout)) + bias)

    return {"shifted": shifted, "im2col": im2col}


JOBS = {
    "layer_times": layer_times,
    "throughput": throughput,
    "batch_sizes": batch_sizes,
    "fit_memory": fit_memory,
    "predict_memory": predict_memory,
}


def run_job(name, kwargs, backend="tensorflow", timeout=1800):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND=backend)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE.parent), env.get("PYTHONPATH")) if p
    )
    command = [sys.executable, __file__, "--job", name, json.dumps(kwargs)]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout
    )
    if result.returncode:
        return {"error": result.stderr[-2000:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------
def plan(quick):
    n = 2000 if quick else 20000
    repeats = 3 if quick else 5
    jobs = []
    for backend in ("tensorflow", "jax"):
        jobs.append(
            (
                f"throughput_{backend}",
                "throughput",
                {"n_images": n, "repeats": repeats, "fit_samples": 1000},
                backend,
            )
        )
    for backend in ("tensorflow", "jax"):
        for head in ("soft_argmax", "dense", "spot"):
            jobs.append(
                (
                    f"batch_sizes_{head}_{backend}",
                    "batch_sizes",
                    {
                        "n_images": n // 2 if head == "dense" else n,
                        "repeats": repeats,
                        "sizes": [32, 64, 128, 256, 512, 1024],
                        "head": head,
                    },
                    backend,
                )
            )
        jobs.append(
            (
                f"layer_times_{backend}",
                "layer_times",
                {"repeats": repeats * 4, "heads": ["dense", "spot"]},
                backend,
            )
        )
    for samples in (1500, 6000) if quick else (15000, 150000):
        for path in ("batches", "keras_arrays"):
            jobs.append(
                (
                    f"fit_memory_{samples}_{path}",
                    "fit_memory",
                    {"samples": samples, "path": path},
                    "tensorflow",
                )
            )
    for backend in ("tensorflow", "jax"):
        for shape in ((1, 3000, 3000), (33, 1000, 1000)):
            for path in ("compiled", "auto"):
                jobs.append(
                    (
                        f"predict_memory_{'x'.join(map(str, shape))}_{backend}_{path}",
                        "predict_memory",
                        {"shape": list(shape), "path": path},
                        backend,
                    )
                )
    return jobs


def _pct(a, b):
    return None if a is None or b is None else 100.0 * a / b


def rows(results):
    """Markdown lines: each figure beside its reference and goal."""
    lines = ["| measurement | figure | goal |", "| --- | --- | --- |"]
    rates = {}
    for backend in ("tensorflow", "jax"):
        r = results.get(f"throughput_{backend}", {}).get("images_per_s", {})
        rates[backend] = r
        for name, value in sorted(r.items()):
            if name.startswith("argmax"):
                continue
            # Each figure beside np.argmax on the same images.
            size = "_32x32" if name.endswith("_32x32") else ""
            argmax = r.get("argmax" + size)
            goal = ">= 10 %" if name == "soft_argmax_predict" else ""
            lines.append(
                f"| {backend} {name} | {value:,.0f} img/s = "
                f"{_pct(value, argmax):.1f} % of np.argmax ({argmax:,.0f}) | {goal} |"
            )
    for name in sorted(rates["tensorflow"]):
        tf_rate, jax_rate = rates["tensorflow"].get(name), rates["jax"].get(name)
        if not name.startswith("argmax") and tf_rate and jax_rate:
            lines.append(
                f"| JAX / TensorFlow, {name} | {jax_rate / tf_rate:.2f}x | "
                f"{'>= 1x' if '_predict' in name else ''} |"
            )
    layers = {
        backend: results.get(f"layer_times_{backend}", {}).get("us_per_image", {})
        for backend in ("tensorflow", "jax")
    }
    for head, jax_times in layers["jax"].items():
        tf_times = layers["tensorflow"].get(head, {})
        for name, jax_us in jax_times.items():
            tf_us = tf_times.get(name)
            text = f"JAX {jax_us:.2f}"
            if tf_us:
                text = f"TensorFlow {tf_us:.2f}, {text} (JAX {tf_us / jax_us:.2f}x)"
            lines.append(f"| {head} {name}, µs per image | {text} | |")
    for key, value in results.items():
        if key.startswith("batch_sizes_") and "error" not in value:
            head, backend = key[len("batch_sizes_") :].rsplit("_", 1)
            text = ", ".join(f"{k}: {v:,.0f}" for k, v in value["images_per_s"].items())
            lines.append(
                f"| compiled {head} by batch size, {backend} (img/s) | {text} | |"
            )
    for key, value in results.items():
        if key.startswith("fit_memory") and "error" not in value:
            lines.append(
                f"| fit memory, n={value['samples']:,}, {value['path']} | "
                f"{value['added_over_X']:.2f}x X ({value['X_nbytes'] / 2**20:.0f} "
                f"MiB), fit {value['fit_s']:.1f} s, exact "
                f"{100 * value['test_exact']:.2f} % | <= 1.3x |"
            )
        if key.startswith("predict_memory") and "error" not in value:
            lines.append(
                f"| predict memory, {key[len('predict_memory_') :]} | "
                f"{value['added_bytes'] / 2**20:.0f} MiB = "
                f"{value['added_over_input']:.2f}x the input "
                f"({value['input_nbytes'] / 2**20:.0f} MiB), "
                f"{value['seconds']:.2f} s, correct {value['correct']} | <= 3x |"
            )
    for key, value in results.items():
        if "error" in value:
            lines.append(f"| {key} | error | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", default=None, help="run the jobs whose key has this")
    parser.add_argument(
        "--job", nargs=2, metavar=("NAME", "KWARGS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.job:
        name, kwargs = args.job
        print(json.dumps(JOBS[name](**json.loads(kwargs))))
        return 0
    out = args.out or RESULTS / (
        "fast_paths_quick.json" if args.quick else "fast_paths.json"
    )
    results = {}
    for key, name, kwargs, backend in plan(args.quick):
        if args.only and args.only not in key:
            continue
        start = time.perf_counter()
        results[key] = run_job(name, kwargs, backend)
        status = "error" if "error" in results[key] else "ok"
        print(f"{time.perf_counter() - start:7.1f} s  {key} {status}", file=sys.stderr)
    document = {
        "command": " ".join(
            ["python", "benchmarks/fast_paths.py", *(argv or sys.argv[1:])]
        ),
        "quick": args.quick,
        "load_average_end": list(os.getloadavg()),
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    markdown = rows(results)
    out.with_suffix(".md").write_text(markdown + "\n")
    print(markdown)
    return 1 if any("error" in v for v in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
