"""scikit-learn's own estimator checks, run on BrightPixelRegressor.

scikit-learn's checks use small random data with arbitrary feature counts and
1-D targets: ``image_shape=(1, -1)`` reads each sample as a one-row image.
"""

from sklearn.base import is_regressor
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from pixel_regressor import BrightPixelRegressor


# Every check passes, including the weight-equivalence check that shuffled
# mini-batches used to fail (weights differing by about 1e-6): it compares
# predictions, and the soft-argmax head's come from the heatmap's peak pixel
# and its neighbours, which such differences do not move.
@parametrize_with_checks(
    [BrightPixelRegressor(image_shape=(1, -1), epochs=1, random_state=0)],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_is_a_regressor_to_scikit_learn():
    estimator = BrightPixelRegressor()
    assert is_regressor(estimator)
    tags = get_tags(estimator)
    assert tags.estimator_type == "regressor"
    assert tags.target_tags.required
    assert tags.target_tags.multi_output
    assert not tags.input_tags.allow_nan
    assert not tags.input_tags.sparse
    assert tags.input_tags.two_d_array
