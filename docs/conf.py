"""Sphinx configuration for the pixel_regressor documentation.

Build the HTML pages, running every example of the gallery, with::

    python -m pip install -e ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

Add ``-D plot_gallery=0`` for a quick build that does not run the examples.

Links to the Python, NumPy, scikit-learn and Keras documentation
(intersphinx) need network access to fetch their inventories, so they are
off by default: set ``PIXEL_REGRESSOR_DOCS_INTERSPHINX=1`` to turn them on.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Local extensions (docs/_ext) and, for a build without installing the
# package, the package itself.
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(1, str(ROOT))

# The examples import TensorFlow and draw with matplotlib: keep TensorFlow's C++
# logs quiet and never open a window.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pixel_regressor

# -- Project information ------------------------------------------------------

project = "pixel_regressor"
author = "pixel_regressor developers"
copyright = "pixel_regressor developers"  # noqa: A001 - Sphinx's name
version = release = pixel_regressor.__version__

# -- General configuration ----------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "pixel_regressor_docs",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_templates",
    "_ext",
    "Thumbs.db",
    ".DS_Store",
    # sphinx-gallery's table of the examples' run times, across galleries.
    "sg_execution_times.rst",
]
root_doc = "index"
default_role = "literal"

# -- intersphinx ----------------------------------------------------------------

# Keras's documentation (keras.io) publishes no Sphinx inventory: the few Keras
# objects these pages mention are linked by docs/_ext/pixel_regressor_docs.py,
# online or not.

INTERSPHINX = os.environ.get("PIXEL_REGRESSOR_DOCS_INTERSPHINX", "0") == "1"
if INTERSPHINX:
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }
else:
    # Offline: no inventory to fetch, so nothing can fail to download.
    intersphinx_mapping = {}
intersphinx_timeout = 10

# -- autodoc, autosummary, numpydoc -------------------------------------------

# One page per public object, written to docs/api/generated/ from the
# ``:toctree: generated`` of docs/api/index.rst. The estimator's HTML repr
# links to api/generated/pixel_regressor.BrightPixelRegressor.html.
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Types in Parameters/Returns/Attributes become links where they name a known
# object (with intersphinx, also NumPy's, scikit-learn's, ...). Words that
# only describe a type are left as text.
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "ndarray": "numpy.ndarray",
    "RandomState": "numpy.random.RandomState",
    "Generator": "numpy.random.Generator",
    "Bunch": "sklearn.utils.Bunch",
    "Axes": "matplotlib.axes.Axes",
    "Figure": "matplotlib.figure.Figure",
    "Line2D": "matplotlib.lines.Line2D",
    "BrightPixelRegressor": "pixel_regressor.BrightPixelRegressor",
    "TrainingHistoryDisplay": "pixel_regressor.plotting.TrainingHistoryDisplay",
    "CoordinatePredictionDisplay": (
        "pixel_regressor.plotting.CoordinatePredictionDisplay"
    ),
    "SampleImageDisplay": "pixel_regressor.plotting.SampleImageDisplay",
}
if not INTERSPHINX:
    # numpydoc's default aliases point words at the Python and NumPy
    # documentation ("bool", "array-like", ...); unresolved, glossary terms and
    # labels warn and the others show their "python:" prefix. Without
    # intersphinx, show the word alone.
    from numpydoc.xref import DEFAULT_LINKS

    for _word, _link in DEFAULT_LINKS.items():
        if _link.startswith(":"):
            numpydoc_xref_aliases.setdefault(_word, f":obj:`{_word}`")
    del _word, _link
numpydoc_xref_ignore = {
    "of",
    "or",
    "and",
    "to",
    "shape",
    "default",
    "optional",
    "instance",
    "array-like",
    "path-like",
    "matplotlib",
    "numpy",
    "keras",
    "dtype",
    "positive",
    "non-negative",
}

# -- sphinx-gallery -------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Run every example (not only those changed since the last build).
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("pixel_regressor",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"pixel_regressor": None},
    "remove_config_comments": True,
    "download_all_examples": False,
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
}

# -- HTML output ----------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"pixel_regressor {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"index": [], "getting_started": []}
html_static_path = []
html_show_sourcelink = True
