"""scikit-learn's own estimator checks, run on BrightPixelRegressor.

scikit-learn's checks use small random data with arbitrary feature counts and
1-D targets: ``image_shape=(1, -1)`` reads each sample as a one-row image.
"""

import pytest
from sklearn.base import is_regressor
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from pixel_regressor import BrightPixelRegressor

# Each entry: a check a stochastic, mini-batch trained network cannot pass.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "Training draws shuffled mini-batches: a sample of weight 2 and the "
        "same sample repeated twice land in different batches, so the weights "
        "after training differ (by about 1e-6 here), beyond the check's rtol "
        "of 1e-7."
    ),
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


@parametrize_with_checks(
    [BrightPixelRegressor(image_shape=(1, -1), epochs=1, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
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


@pytest.mark.parametrize("check_name", sorted(EXPECTED_FAILED_CHECKS))
def test_expected_failures_are_real_checks(check_name):
    import sklearn.utils.estimator_checks as checks

    assert hasattr(checks, check_name)
