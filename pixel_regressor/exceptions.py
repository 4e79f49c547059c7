"""Warnings of the package.

Import them to filter or catch them, e.g.::

    import warnings
    from pixel_regressor.exceptions import OutsideTrainingWarning

    warnings.simplefilter("error", OutsideTrainingWarning)
"""

__all__ = ["OutsideTrainingWarning"]


class OutsideTrainingWarning(UserWarning):
    """Images outside the conditions a spot model was trained on.

    Raised by ``BrightPixelRegressor.predict`` (``head="spot"`` or
    ``"spot_fit"``) when images have saturated pixels, another camera gain or
    offset than the training images, spots brighter, fainter, wider or
    narrower than trained, spots at the edge where training had none, or no
    spot above the noise: there the positions, and the deviations of
    ``return_std=True``, may be wrong. The message names each condition and
    the share of images it holds for. See the user guide's spots page.
    """
