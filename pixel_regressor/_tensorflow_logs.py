"""Import TensorFlow without its start-up lines on the standard error.

Importing TensorFlow writes C++ log lines straight to file descriptor 2,
before Python can intervene: the absl "WARNING: All log messages before
absl::InitializeLog() is called" line, oneDNN's notice, the CPU-instruction
notice, "Could not find cuda drivers" and, when it first looks for GPUs on a
machine without one, an error-level ``failed call to cuInit``. Most of them
ignore ``TF_CPP_MIN_LOG_LEVEL``.

Importing :mod:`pixel_regressor` never imports TensorFlow, so, as
:mod:`pixel_regressor._keras_registration` does for the layers, a tiny import
hook waits for the first ``import keras`` or ``import tensorflow`` of the
process (by the package or by the user, after ``import pixel_regressor``) and
runs it through :func:`quiet_start`: ``TF_CPP_MIN_LOG_LEVEL=2`` unless the
user set a level, and the start-up lines filtered out of the standard error,
every other line kept. A user who sets ``TF_CPP_MIN_LOG_LEVEL=0`` sees
everything. The command line calls :func:`start_keras` for the same effect.
"""

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"

# TensorFlow's start-up messages: C++ log lines about the build and the
# hardware (oneDNN, CPU instructions, absent CUDA drivers and GPUs).
STARTUP_NOISE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|^[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*("
    r"oneDNN|cuda|CUDA|cuInit|cuDNN|cuFFT|cuBLAS|GPU|TensorRT|TF-TRT|NUMA"
    r"|cpu_feature_guard|This TensorFlow binary is optimized|rebuild TensorFlow)"
    # The second line of the CPU-instruction notice.
    r"|^To enable the following instructions: .*rebuild TensorFlow"
)

_WATCHED = ("keras", "tensorflow")
_starting = False  # inside quiet_start: nested imports are not hooked again


def is_startup_noise(line):
    """Whether ``line`` is one of TensorFlow's start-up messages."""
    return bool(STARTUP_NOISE.search(line))


@contextlib.contextmanager
def filtered_stderr(is_noise):
    """Capture file descriptor 2; replay the lines that are not ``is_noise``.

    C++ libraries write to the descriptor directly, so redirecting Python's
    ``sys.stderr`` would not reach them.
    """
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no standard error at all
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(True) if not is_noise(line)]
            if kept:
                os.write(2, "".join(kept).encode("utf-8", "replace"))


def _user_wants_everything():
    return os.environ[LEVEL_VARIABLE].strip() in ("", "0")


def _look_for_devices():
    """Let TensorFlow look for GPUs now, where its cuInit error is filtered.

    Listing the physical devices does not initialize the runtime: the user
    can still call ``tf.config.set_visible_devices`` or
    ``tf.config.experimental.set_memory_growth`` afterwards.
    """
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        with contextlib.suppress(Exception):
            tf.config.list_physical_devices()


@contextlib.contextmanager
def quiet_start():
    """Run an import of Keras or TensorFlow without TensorFlow's start-up lines.

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the environment already has a
    level; unless that level is 0 (or empty), filters the start-up lines out
    of the standard error while the body runs and while TensorFlow (if the
    body imported it) looks for GPUs.
    """
    global _starting
    os.environ.setdefault(LEVEL_VARIABLE, "2")
    if _starting or _user_wants_everything():
        yield
        return
    _starting = True
    try:
        with filtered_stderr(is_startup_noise):
            yield
            _look_for_devices()
    finally:
        _starting = False


def start_keras():
    """Import Keras (and its backend), quietly; return the ``keras`` module."""
    with quiet_start():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow  # noqa: F401
    return keras


class _QuietLoader(importlib.abc.Loader):
    """Wrap Keras's or TensorFlow's loader: run the module under quiet_start."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            with quiet_start():
                self._loader.exec_module(module)
        finally:
            if "tensorflow" in sys.modules:
                _uninstall()

    def __getattr__(self, name):  # e.g. get_resource_reader, is_package
        return getattr(self._loader, name)


class _TensorFlowImportFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder of the top-level ``keras`` and ``tensorflow`` imports.

    It finds the module with the finders after it (so that other hooks, such
    as the layers' registration, still see it) and wraps the loader they
    return.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _WATCHED or _starting:
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


_FINDER = _TensorFlowImportFinder()


def _uninstall():
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_FINDER)


def quiet_tensorflow_import():
    """Make the process's first import of TensorFlow quiet, if it is to come."""
    if "tensorflow" in sys.modules:
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
