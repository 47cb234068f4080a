"""The lever fit's profile likelihood against closed forms (sim.evidence.lever_fit)."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from sim.config.schema import Target, TargetPopulation
from sim.evidence.lever_fit import HALF_CHI2_95, log_likelihood, profile


def target(**kw) -> Target:
    base = dict(
        id="t", quantity="survival", value=0.625, n=8, source="test", population=TargetPopulation()
    )
    return Target(**{**base, **kw})


def binomial_lr_interval(k: int, n: int) -> tuple[float, float]:
    """The likelihood-ratio 95% interval of a binomial share, solved directly."""
    p = k / n

    def drop(q: float) -> float:
        ll = k * math.log(q) + (n - k) * math.log(1 - q)
        top = k * math.log(p) + (n - k) * math.log(1 - p)
        return top - ll - HALF_CHI2_95

    return brentq(drop, 1e-9, p), brentq(drop, p, 1 - 1e-9)


def test_chi2_constant():
    from scipy.stats import chi2

    assert HALF_CHI2_95 == pytest.approx(chi2.ppf(0.95, 1) / 2, rel=1e-12)


def test_binomial_figure_with_identity_model_gives_the_likelihood_ratio_interval():
    # model value = lever: the profile is the binomial likelihood of 5/8 itself
    grid = np.linspace(0.001, 0.999, 2001)
    fit = profile(target(), grid, grid)
    lo, hi = binomial_lr_interval(5, 8)
    assert fit.best == pytest.approx(0.625, abs=1e-4)
    assert fit.low == pytest.approx(lo, abs=1e-4)
    assert fit.high == pytest.approx(hi, abs=1e-4)
    assert not fit.low_at_bound and not fit.high_at_bound


def test_monotone_transform_moves_the_interval_through_its_inverse():
    # model value = lever^2: the fitted lever is the square root of the share's fit
    grid = np.linspace(0.001, 0.999, 4001)
    fit = profile(target(value=0.3, n=50), grid, grid**2)
    lo, hi = binomial_lr_interval(15, 50)
    assert fit.best == pytest.approx(math.sqrt(0.3), abs=1e-3)
    assert fit.low == pytest.approx(math.sqrt(lo), abs=1e-3)
    assert fit.high == pytest.approx(math.sqrt(hi), abs=1e-3)


def test_normal_figure_gives_plus_minus_1_96_se():
    t = target(quantity="csf_jcv_change_log10", value=-1.0, n=None, ci_low=-2.0, ci_high=0.0)
    se = 1.0 / 1.959963984540054
    grid = np.linspace(-4.0, 2.0, 3001)
    fit = profile(t, grid, grid)
    assert fit.best == pytest.approx(-1.0, abs=1e-6)
    assert fit.low == pytest.approx(-1.0 - 1.959963984540054 * se, abs=1e-3)
    assert fit.high == pytest.approx(-1.0 + 1.959963984540054 * se, abs=1e-3)


def test_flat_model_leaves_the_lever_unbounded():
    # a figure the lever cannot move: every value is as likely, the interval is the grid
    grid = np.linspace(0.0, 1.0, 11)
    fit = profile(target(), grid, np.full(11, 0.5))
    assert (fit.low, fit.high) == (0.0, 1.0)
    assert fit.low_at_bound and fit.high_at_bound


def test_interval_reaching_one_end_is_flagged_there_only():
    grid = np.linspace(0.3, 0.9, 61)
    fit = profile(target(), grid, grid)  # 5/8's interval starts near 0.29, below the grid
    assert fit.low_at_bound and fit.low == 0.3
    assert not fit.high_at_bound and fit.high < 0.9


def test_log_likelihood_handles_shares_of_zero_and_one():
    assert math.isfinite(log_likelihood(target(), 0.0))
    assert math.isfinite(log_likelihood(target(), 1.0))
    assert log_likelihood(target(), 0.625) > log_likelihood(target(), 0.3)
    assert log_likelihood(target(), math.nan) == -math.inf


def test_bad_grid_is_refused():
    with pytest.raises(ValueError, match="increasing"):
        profile(target(), np.array([0.0, 0.5, 0.4]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="one per grid"):
        profile(target(), np.linspace(0, 1, 5), np.zeros(4))


def test_uniform_posterior_of_identity_binomial_is_the_beta_posterior():
    # flat prior on the share, 5 of 8: posterior Beta(6, 4)
    from scipy.stats import beta

    from sim.evidence.lever_fit import beta_by_moments, uniform_posterior

    grid = np.linspace(0.0, 1.0, 4001)
    post = uniform_posterior(profile(target(), grid, grid))
    b = beta(6, 4)
    assert post.mean == pytest.approx(b.mean(), abs=1e-5)
    assert post.sd == pytest.approx(b.std(), abs=1e-5)
    assert post.q025 == pytest.approx(b.ppf(0.025), abs=1e-3)
    assert post.q975 == pytest.approx(b.ppf(0.975), abs=1e-3)
    a, c = beta_by_moments(b.mean(), b.std())
    assert (a, c) == (pytest.approx(6.0), pytest.approx(4.0))
    with pytest.raises(ValueError, match="no beta"):
        beta_by_moments(0.5, 0.6)


def test_uniform_posterior_of_a_flat_likelihood_is_the_uniform():
    from sim.evidence.lever_fit import uniform_posterior

    grid = np.linspace(0.0, 1.0, 11)
    post = uniform_posterior(profile(target(), grid, np.full(11, 0.4)))
    assert post.mean == pytest.approx(0.5)
    assert post.sd == pytest.approx(math.sqrt(1 / 12))
    assert (post.q025, post.q975) == (pytest.approx(0.025), pytest.approx(0.975))


def test_joint_profile_of_two_binomial_figures_pools_them():
    # two independent studies of the same share: 5/8 and 10/30 pool to 15/38
    from sim.evidence.lever_fit import joint_profile

    grid = np.linspace(0.001, 0.999, 4001)
    fit = joint_profile([(target(), grid), (target(id="u", value=1 / 3, n=30), grid)], grid)
    lo, hi = binomial_lr_interval(15, 38)
    assert fit.best == pytest.approx(15 / 38, abs=1e-4)
    assert (fit.low, fit.high) == (pytest.approx(lo, abs=1e-4), pytest.approx(hi, abs=1e-4))
    with pytest.raises(ValueError, match="at least one"):
        joint_profile([], grid)
