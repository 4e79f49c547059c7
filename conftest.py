"""Test configuration shared by the tests and the doctests."""

import os

# Quiet TensorFlow's C++ logs; must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Plots are drawn off screen.
os.environ.setdefault("MPLBACKEND", "Agg")
