"""Turning a user's ``X`` into images, and checking image shapes.

scikit-learn hands estimators 2-D ``X`` of shape ``(n_samples, n_features)``;
image users hand over ``(n, height, width)`` or ``(n, height, width, 1)``.
Everything here is NumPy only.
"""

import math
import numbers

import numpy as np

__all__ = [
    "check_image_shape",
    "check_pixel_dtype",
    "images_from_array",
    "is_keras_dataset",
    "resolve_image_shape",
]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_keras_dataset(X):
    """True for a ``keras.utils.PyDataset``, without importing Keras."""
    return any(
        cls.__name__ == "PyDataset" and cls.__module__.startswith("keras")
        for cls in type(X).__mro__
    )


def check_image_shape(
    value,
    name="image_shape",
    *,
    allow_none=False,
    allow_int=False,
    allow_inferred=False,
):
    """Validate an image-shape parameter; return ``(height, width)`` or None.

    The one check behind every parameter that gives the size of an image:
    the generators' ``image_size``, the displays' and the estimator's
    ``image_shape``. Errors name the parameter and read the same everywhere:
    a ``TypeError`` for a value of the wrong kind, a ``ValueError`` for a
    value of the right kind out of range.

    Parameters
    ----------
    value : int, tuple of (int, int), list or None
        The parameter's value: a ``(height, width)`` pair (a tuple, a list or
        a 1-D array of two ints), or what the flags below allow.

    name : str, default="image_shape"
        The parameter's name, used in error messages.

    allow_none : bool, default=False
        Whether None is accepted (and returned).

    allow_int : bool, default=False
        Whether an int ``n`` is accepted, meaning a square ``(n, n)`` image.

    allow_inferred : bool, default=False
        Whether one side of the pair may be -1, to be inferred from the
        number of pixels (see :func:`resolve_image_shape`).

    Returns
    -------
    shape : tuple of (int, int) or None
        The ``(height, width)`` as Python ints; None only for None.

    Raises
    ------
    TypeError
        If ``value`` is not one of the accepted kinds, or a side is not an int.
    ValueError
        If a side is smaller than 1 (other than one allowed -1), or both sides
        are -1.

    Examples
    --------
    >>> from pixel_regressor._validation import check_image_shape
    >>> check_image_shape([28, 28]), check_image_shape(5, "image_size", allow_int=True)
    ((28, 28), (5, 5))
    >>> check_image_shape((1, -1), allow_inferred=True)
    (1, -1)
    >>> check_image_shape((3, 0))
    Traceback (most recent call last):
    ...
    ValueError: image_shape[1] (width) must be a positive int, got 0.
    """
    pair = "a (height, width) pair of ints"
    if allow_inferred:
        pair += ", one of which may be -1"
    kinds = ", ".join(["None"] * allow_none + ["an int (a square image)"] * allow_int)
    expected = f"{name} must be {kinds + ' or ' if kinds else ''}{pair}"

    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{expected}, got None.")
    if _is_int(value):
        if not allow_int:
            raise TypeError(f"{expected}, got {value!r}.")
        if value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
        return int(value), int(value)
    is_sequence = isinstance(value, (tuple, list)) or (
        isinstance(value, np.ndarray) and value.ndim == 1
    )
    if not is_sequence or len(value) != 2:
        raise TypeError(f"{expected}, got {value!r}.")

    side_kind = "a positive int or -1" if allow_inferred else "a positive int"
    sides = []
    for index, (side, label) in enumerate(zip(value, ("height", "width"))):
        what = f"{name}[{index}] ({label}) must be {side_kind}"
        if not _is_int(side):
            raise TypeError(f"{what}, got {type(side).__name__} {side!r}.")
        if side < 1 and not (allow_inferred and side == -1):
            raise ValueError(f"{what}, got {side!r}.")
        sides.append(int(side))
    if sides == [-1, -1]:
        raise ValueError(f"{name} may hold at most one -1, got (-1, -1).")
    return tuple(sides)


def check_pixel_dtype(dtype, name="X"):
    """Refuse a dtype that does not hold real pixel values.

    The one check behind every input of images or camera values: the
    estimator's ``X``, :func:`~pixel_regressor.adu_to_photons`'s ``X`` and
    the images the command line reads. Integers and floats are pixel values;
    booleans (a mask, not an image), complex numbers, strings and objects
    are not.

    Parameters
    ----------
    dtype : numpy dtype
        The dtype of the values.

    name : str, default="X"
        What holds them, used in the error message.

    Raises
    ------
    TypeError
        If ``dtype`` is not an integer or a float type. The message names
        ``name`` and ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from pixel_regressor._validation import check_pixel_dtype
    >>> check_pixel_dtype(np.dtype(np.uint16))
    >>> check_pixel_dtype(np.dtype(bool))
    Traceback (most recent call last):
    ...
    TypeError: X holds bool values, not real pixel values: ...
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "iuf":
        return
    hint = "; convert a boolean mask first, e.g. X.astype(np.uint8)"
    raise TypeError(
        f"{name} holds {dtype} values, not real pixel values: it must hold real "
        f"numbers (integers or floats){hint if dtype.kind == 'b' else ''}."
    )


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

    Raises
    ------
    TypeError
        If ``X`` holds booleans or other values that are not real pixel
        values (see :func:`check_pixel_dtype`).
    """
    check_pixel_dtype(X.dtype)
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
