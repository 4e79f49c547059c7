"""Turning a user's ``X`` into images, and checking image shapes.

scikit-learn hands estimators 2-D ``X`` of shape ``(n_samples, n_features)``;
image users hand over ``(n, height, width)`` or ``(n, height, width, 1)``.
Everything here is NumPy only.
"""

import math
import numbers

import numpy as np

__all__ = ["images_from_array", "resolve_image_shape", "check_image_shape_param"]


def check_image_shape_param(image_shape):
    """Validate the ``image_shape`` parameter; return a tuple or None."""
    if image_shape is None:
        return None
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 2:
        raise TypeError(
            "image_shape must be None or a (height, width) pair of ints, one of "
            f"which may be -1, got {image_shape!r}."
        )
    for side in image_shape:
        if isinstance(side, bool) or not isinstance(side, numbers.Integral):
            raise TypeError(f"image_shape must hold ints, got {image_shape!r}.")
        if side != -1 and side < 1:
            raise ValueError(
                "image_shape sides must be positive ints or a single -1, got "
                f"{image_shape!r}."
            )
    if tuple(image_shape) == (-1, -1):
        raise ValueError("image_shape may hold at most one -1, got (-1, -1).")
    return tuple(int(side) for side in image_shape)


def resolve_image_shape(n_features, image_shape):
    """The ``(height, width)`` of flattened images with ``n_features`` pixels.

    Parameters
    ----------
    n_features : int
        Number of features (pixels) of each flattened sample.
    image_shape : tuple of (int, int) or None
        The user's ``image_shape``; one side may be -1, inferred as in
        :func:`numpy.reshape`. None means square images.

    Returns
    -------
    shape : tuple of (int, int)

    Examples
    --------
    >>> from pixel_regressor._validation import resolve_image_shape
    >>> resolve_image_shape(2500, None), resolve_image_shape(12, (1, -1))
    ((50, 50), (1, 12))
    """
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"X has {n_features} features, which is not a square image. Pass "
                "images as a 3-D array (n_samples, height, width), or set "
                "image_shape=(height, width) (one side may be -1)."
            )
        return side, side
    height, width = image_shape
    if height == -1 or width == -1:
        known = width if height == -1 else height
        if n_features % known:
            raise ValueError(
                f"image_shape={image_shape} does not fit X's {n_features} "
                f"features: {n_features} is not a multiple of {known}."
            )
        other = n_features // known
        return (other, width) if height == -1 else (height, other)
    if height * width != n_features:
        raise ValueError(
            f"image_shape={image_shape} holds {height * width} pixels, but X has "
            f"{n_features} features."
        )
    return height, width


def images_from_array(X, image_shape):
    """Reshape a validated ``X`` (2-D, 3-D or 4-D) to ``(n, height, width, 1)``.

    No data is copied: the result is a view of ``X`` whenever NumPy can make
    one (always, for C-contiguous input).

    Parameters
    ----------
    X : ndarray of 2, 3 or 4 dimensions
        Flattened images, images, or one-channel images.
    image_shape : tuple of (int, int) or None
        Used for flattened ``X`` only; see :func:`resolve_image_shape`.

    Returns
    -------
    images : ndarray of shape (n_samples, height, width, 1)
    """
    if X.ndim == 1:
        raise ValueError(
            "Expected 2D array, got 1D array instead. Reshape your data either "
            "using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    if X.ndim == 2:
        height, width = resolve_image_shape(X.shape[1], image_shape)
        return X.reshape(X.shape[0], height, width, 1)
    if X.ndim == 3:
        images = X[..., np.newaxis]
    elif X.ndim == 4 and X.shape[3] == 1:
        images = X
    elif X.ndim == 4:
        raise ValueError(
            f"Expected grayscale images of shape (n_samples, height, width, 1), "
            f"got {X.shape[3]} channels in X of shape {X.shape}."
        )
    else:
        raise ValueError(
            "X must be 2-D (n_samples, height * width), 3-D (n_samples, height, "
            f"width) or 4-D (n_samples, height, width, 1), got shape {X.shape}."
        )
    if (
        image_shape is not None
        and -1 not in image_shape
        and tuple(images.shape[1:3]) != tuple(image_shape)
    ):
        raise ValueError(
            f"X holds images of shape {images.shape[1:3]}, but image_shape="
            f"{tuple(image_shape)}."
        )
    return images
