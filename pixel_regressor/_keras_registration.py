"""Register the package's Keras layers once Keras is imported, lazily.

``keras.saving.load_model`` finds custom layers only through Keras's registry
of serializable objects. Importing :mod:`pixel_regressor` must stay cheap
(no Keras, no TensorFlow), so instead of importing Keras to register our
layers we wait for the user to import it: a tiny import hook notices the first
``import keras`` and then imports :mod:`pixel_regressor._layers`, whose
decorators do the registration. If Keras is already imported, we register at
once.
"""

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import sys

_LAYERS_MODULE = "pixel_regressor._layers"


def _register_now():
    importlib.import_module(_LAYERS_MODULE)


class _RegisterAfterExec(importlib.abc.Loader):
    """Wrap Keras's own loader and register our layers after it has run."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        # Never break `import keras` itself.
        with contextlib.suppress(Exception):
            _register_now()

    def __getattr__(self, name):  # e.g. get_resource_reader, is_package
        return getattr(self._loader, name)


class _KerasImportFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that fires once, on the top-level ``keras`` import."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        _uninstall()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _RegisterAfterExec(spec.loader)
        return spec


_FINDER = _KerasImportFinder()


def _uninstall():
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_FINDER)


def register_when_keras_is_imported():
    """Register our layers now if Keras is imported, else on its import."""
    if "keras" in sys.modules:
        _register_now()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
