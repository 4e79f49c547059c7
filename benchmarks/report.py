"""Render benchmark results (the JSON written by ``run.py``) as Markdown.

Usage::

    python benchmarks/report.py [benchmarks/results/latest.json]

Prints the Markdown and writes it beside the JSON file, with the suffix
``.md`` (``benchmarks/results/latest.md`` by default), which the
documentation's benchmarks page shows. The report holds a summary table
(each result, its reference, the ratio, the target and whether it is met)
followed by the detail of each measurement: training, accuracy, throughput,
data generation, import and scaling. It needs
the standard library only.
"""

import argparse
import json
import sys
from pathlib import Path

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def _table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    for row in rows:
        cells = [str(cell).replace("|", "\\|") for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _get(mapping, *keys):
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def _num(value, spec, suffix=""):
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _mib(value):
    return _num(None if value is None else value / 2**20, ",.0f")


def _pct(value):
    return _num(None if value is None else 100 * value, ".2f")


def _load(values):
    return "n/a" if not values else " / ".join(f"{v:.2f}" for v in values)


def _met(value):
    return {True: "met", False: "**not met**", None: ""}[value]


def _header(document):
    machine = document.get("machine", {})
    versions = machine.get("versions", {})
    ram = machine.get("ram_bytes")
    lines = ["# pixel_regressor benchmarks", ""]
    if document.get("quick"):
        config = document.get("config", {})
        lines += [
            f"> **Quick run** ({config.get('samples')} images, "
            f"{config.get('notebook_epochs')} epochs for the notebook's CNN and "
            "the dense head): for checking the benchmark code, not comparable "
            "to a full run. To save start-up time, its measurements share one "
            "process, so only the first of them has a peak RSS of its own.",
            "",
        ]
    lines += [
        f"Command: `{document.get('command', 'python benchmarks/run.py')}`, "
        f"{document.get('mode', '?')} mode, {document.get('wall_time_s', 0):.0f} s "
        f"in all, {machine.get('date', '?')}.",
        "",
        f"Machine: {machine.get('cpu_model', '?')}, {machine.get('cpu_count', '?')} "
        f"cores, {_num(None if ram is None else ram / 2**30, '.0f')} GiB RAM, "
        f"{machine.get('platform', '?')}; load average "
        f"{_load(machine.get('load_average_start'))} at the start, "
        f"{_load(machine.get('load_average_end'))} at the end (1, 5 and 15 "
        "minutes; other work on the machine slows every timing).",
        "",
        f"Python {machine.get('python', '?')}, "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + f"; Keras backend: {machine.get('keras_backend', '?')}.",
    ]
    lines += ["", _source(document)]
    return "\n".join(lines)


def _describe_source(source):
    changed = source.get("uncommitted_package_files") or []
    text = f"commit `{(source.get('commit') or '?')[:12]}`"
    if changed:
        text += f" with uncommitted changes to {', '.join(changed)}"
    return text


def _source(document):
    """Which source was measured; every version if it changed during the run."""
    start = _get(document, "machine", "source") or {}
    by_source = {}
    for key, result in document.get("measurements", {}).items():
        source = result.get("source", start) if isinstance(result, dict) else start
        by_source.setdefault(json.dumps(source, sort_keys=True), []).append(key)
    if len(by_source) <= 1:
        source = json.loads(next(iter(by_source))) if by_source else start
        return f"Source: {_describe_source(source)}."
    lines = ["Source: the package changed during the run; measured were"]
    for source, keys in by_source.items():
        lines.append(f"- {_describe_source(json.loads(source))}: {', '.join(keys)}")
    return "\n".join(lines)


def _summary(document):
    rows = document.get("rows", [])
    parts = ["## Summary"]
    met = [row["met"] for row in rows if row["met"] is not None]
    parts.append(f"{sum(met)} of {len(met)} targets met.")
    section = None
    table = []
    for row in rows:
        if row["section"] != section:
            if table:
                parts.append(_table(*table))
            section = row["section"]
            parts.append(f"### {section}")
            table = [["What", "Ours", "Reference", "Ratio", "Target", "Met"], []]
        table[1].append(
            [
                row["name"],
                row["ours"],
                row["reference"],
                row["ratio"],
                row["target"],
                _met(row["met"]),
            ]
        )
    if table:
        parts.append(_table(*table))
    return "\n\n".join(parts)


def _training(measurements):
    rows = []
    for key, label in (
        ("notebook", "Notebook's code"),
        ("dense", 'BrightPixelRegressor(head="dense")'),
        ("default", "BrightPixelRegressor() (soft-argmax)"),
    ):
        result = measurements.get(key, {})
        fit, epochs = result.get("fit_s"), result.get("epochs")
        rows.append(
            [
                label,
                _num(result.get("n_params"), ","),
                _num(result.get("n_train"), ","),
                _num(epochs, "d"),
                _num(fit, ".2f"),
                _num(fit / epochs if fit and epochs else None, ".2f"),
                _num(_get(result, "scores", "mae"), ".4f"),
                _pct(_get(result, "scores", "exact")),
                _num(_get(result, "scores", "euclidean"), ".4f"),
                _mib(result.get("rss_before_fit")),
                _mib(result.get("peak_rss")),
            ]
        )
    header = [
        "Model",
        "Weights",
        "Train images",
        "Epochs",
        "Fit (s)",
        "s/epoch",
        "Test MAE (px)",
        "Exact (%)",
        "Mean error (px)",
        "RSS before fit (MiB)",
        "Peak RSS (MiB)",
    ]
    return (
        "### Training on the notebook protocol\n\nSplit 70/15/15 with the "
        "notebook's `train_test_split(..., random_state=1234)` twice; trained on "
        "70 % with the 15 % validation set passed to `fit`, scored on `x_temp`. "
        "Each row is a fresh process; RSS before fit covers the imports, the data "
        "and the model; the peak covers the whole process.\n\n" + _table(header, rows)
    )


def _accuracy(measurements):
    rows = []
    for head, label in (("soft_argmax", "default (soft-argmax)"), ("dense", "dense")):
        result = _get(measurements, "quadrant", "heads", head) or {}
        rows.append(
            [
                f"Held-out quadrant, {label}",
                _num(result.get("epochs"), "d"),
                _num(_get(result, "scores", "mae"), ".4f"),
                _pct(_get(result, "scores", "exact")),
                _num(_get(result, "scores", "euclidean"), ".4f"),
                _num(_get(result, "scores", "n_test"), ","),
            ]
        )
    other = _get(measurements, "default", "other_size") or {}
    size = "x".join(str(side) for side in other.get("image_size", ["?", "?"]))
    rows.append(
        [
            f"Trained on 50x50, predicts {size}, default",
            "",
            _num(_get(other, "scores", "mae"), ".4f"),
            _pct(_get(other, "scores", "exact")),
            _num(_get(other, "scores", "euclidean"), ".4f"),
            _num(_get(other, "scores", "n_test"), ","),
        ]
    )
    for level, result in (measurements.get("noise") or {}).items():
        if not isinstance(result, dict) or "scores" not in result:
            continue
        for name, scores in (
            ("default", result["scores"]),
            ("np.argmax", result["argmax_scores"]),
        ):
            rows.append(
                [
                    f"Noise {level}, {name}",
                    _num(result.get("epochs"), "d") if name == "default" else "",
                    _num(scores["mae"], ".4f"),
                    _pct(scores["exact"]),
                    _num(scores["euclidean"], ".4f"),
                    _num(scores["n_test"], ","),
                ]
            )
    header = ["Test", "Epochs", "MAE (px)", "Exact (%)", "Mean error (px)", "Images"]
    return (
        "### Accuracy\n\nHeld-out quadrant: trained with no pixel at row >= 25 "
        "and col >= 25, tested only there. Other size: 3-D images passed to "
        "`predict`. Noise: Gaussian, standard deviation on the 0-255 scale, in "
        "training and test data, notebook protocol.\n\n" + _table(header, rows)
    )


_THROUGHPUT_LABELS = {
    "notebook_cnn_batch_32": "Notebook CNN, `model.predict` (batch 32)",
    "notebook_cnn_batch_1024": "Notebook CNN, `model.predict(batch_size=1024)`",
    "dense_estimator": 'BrightPixelRegressor(head="dense").predict',
    "default_estimator": "BrightPixelRegressor().predict",
    "argmax": "np.argmax over flattened images",
}


def _throughput(measurements):
    result = measurements.get("throughput") or {}
    rows = []
    for name, stats in (result.get("candidates") or {}).items():
        rows.append(
            [
                _THROUGHPUT_LABELS.get(name, name),
                _num(stats.get("images_per_s"), ",.0f"),
                _num(stats.get("images_per_s_median"), ",.0f"),
                _num(1e3 * stats["best_s"], ".1f"),
            ]
        )
    return (
        f"### Prediction throughput\n\n{_num(result.get('n_images'), ',')} images "
        "of 50x50, one warm-up call each, then the candidates in turn, "
        f"{_num(result.get('repeats'), 'd')} rounds (np.argmax 10 calls a "
        "round).\n\n"
        + _table(["Candidate", "Best (img/s)", "Median (img/s)", "Best (ms)"], rows)
    )


def _datagen(measurements):
    result = measurements.get("datagen") or {}
    labels = {
        "notebook_loop": "Notebook's `dataset()` loop + `/255` + `expand_dims`",
        "make_bright_pixel_dataset": "`make_bright_pixel_dataset`",
    }
    rows = []
    for name, stats in (result.get("candidates") or {}).items():
        peak, nbytes = stats.get("traced_peak_bytes"), stats.get("X_nbytes")
        rows.append(
            [
                labels.get(name, name),
                _num(_get(stats, "call", "best_s"), ".3f"),
                _num(_get(stats, "touched", "best_s"), ".3f"),
                _mib(peak),
                _mib(nbytes),
                _num(peak / nbytes if peak and nbytes else None, ".2f"),
            ]
        )
    header = [
        "Generator",
        "Call (s)",
        "Call + X.sum() (s)",
        "Traced peak (MiB)",
        "X (MiB)",
        "Peak / X",
    ]
    return (
        f"### Data generation\n\n{_num(result.get('samples'), ',')} images of "
        f"50x50, best of {_num(result.get('repeats'), 'd')}; memory traced with "
        "`tracemalloc` in a separate call.\n\n" + _table(header, rows)
    )


def _imports(measurements):
    result = measurements.get("import") or {}
    seconds = ", ".join(f"{s:.3f}" for s in result.get("all_s", []))
    heavy = ", ".join(result.get("heavy_modules_imported", [])) or "none"
    default = measurements.get("default") or {}
    return (
        "### Import\n\n"
        f"`import pixel_regressor` in fresh interpreters: {seconds} s (best "
        f"{_num(result.get('best_s'), '.3f')} s); heavy modules it imported: "
        f"{heavy}. In the training process: importing the package "
        f"{_num(default.get('import_s'), '.3f')} s, first use of "
        f"`BrightPixelRegressor` "
        f"{_num(default.get('estimator_import_s'), '.2f')} s, importing Keras "
        f"and its backend {_num(default.get('keras_import_s'), '.2f')} s, first "
        f"fit {_num(default.get('fit_s'), '.2f')} s."
    )


def _scaling(measurements, sizes):
    rows = []
    for n in sizes:
        result = measurements.get(f"scaling_{n}") or {}
        before, peak = result.get("rss_before_data"), result.get("peak_rss")
        added = peak - before if peak is not None and before is not None else None
        nbytes = result.get("X_nbytes")
        rows.append(
            [
                f"{n:,}",
                _num(result.get("fit_s"), ".2f"),
                _num(result.get("fit_us_per_image"), ".1f"),
                _num(result.get("predict_s"), ".2f"),
                _num(result.get("predict_us_per_image"), ".1f"),
                _mib(nbytes),
                _mib(before),
                _mib(result.get("rss_with_data")),
                _mib(peak),
                _num(added / nbytes if added is not None and nbytes else None, ".2f"),
                _pct(result.get("train_exact")),
            ]
        )
    header = [
        "n",
        "Fit (s)",
        "Fit (us/img)",
        "Predict (s)",
        "Predict (us/img)",
        "X (MiB)",
        "RSS before data (MiB)",
        "RSS with data (MiB)",
        "Peak RSS (MiB)",
        "(Peak - before) / X",
        "Exact on train (%)",
    ]
    return (
        "### Scaling of the default estimator\n\nFitted on n images (default "
        "settings), then predicting the same n; one fresh process per n, Keras "
        "imported before the baseline RSS is read.\n\n" + _table(header, rows)
    )


def render(document):
    """The Markdown report of a results document (the parsed JSON)."""
    measurements = document.get("measurements", {})
    sizes = _get(document, "config", "scaling") or []
    parts = [
        _header(document),
        _summary(document),
        "## Details",
        _training(measurements),
        _accuracy(measurements),
        _throughput(measurements),
        _datagen(measurements),
        _imports(measurements),
        _scaling(measurements, sizes),
    ]
    errors = [
        f"- `{key}`: {value['error'].splitlines()[-1] if value['error'] else '?'}"
        for key, value in measurements.items()
        if isinstance(value, dict) and "error" in value
    ]
    if errors:
        parts.append("## Failed measurements\n\n" + "\n".join(errors))
    return "\n\n".join(parts) + "\n"


def write_markdown(json_path, md_path=None):
    """Render ``json_path`` and write it to ``md_path`` (default: same stem, .md)."""
    json_path = Path(json_path)
    md_path = Path(md_path) if md_path else json_path.with_suffix(".md")
    markdown = render(json.loads(json_path.read_text()))
    md_path.write_text(markdown)
    return markdown


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="?", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--md", type=Path, default=None, help="Markdown file to write")
    args = parser.parse_args(argv)
    sys.stdout.write(write_markdown(args.json, args.md))


if __name__ == "__main__":
    main()
