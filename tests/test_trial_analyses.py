"""The trial's tests against scipy / statsmodels / lifelines reference implementations."""

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test
from scipy.stats import binomtest, chi2_contingency, fisher_exact
from statsmodels.stats.power import normal_power_het

from sim.trial import analyses


@pytest.mark.parametrize("x_e, n_e, x_c, n_c", [(30, 50, 20, 50), (8, 40, 12, 45), (3, 7, 1, 9)])
def test_two_proportions_is_chi_square_and_fisher(x_e, n_e, x_c, n_c):
    table = np.array([[x_e, n_e - x_e], [x_c, n_c - x_c]])
    r = analyses.two_proportions(x_e, n_e, x_c, n_c)
    chi2 = chi2_contingency(table, correction=False)[0]
    assert r.z**2 == pytest.approx(chi2, rel=1e-9)
    assert math.copysign(1, r.z) == math.copysign(1, x_e / n_e - x_c / n_c)
    exact = analyses.two_proportions(x_e, n_e, x_c, n_c, exact=True)
    assert exact.p == pytest.approx(fisher_exact(table, alternative="greater")[1], rel=1e-9)


def test_one_proportion_exact_is_binomial_test():
    r = analyses.one_proportion(17, 30, 0.4, exact=True)
    assert r.p == pytest.approx(binomtest(17, 30, 0.4, alternative="greater").pvalue, rel=1e-9)
    z = analyses.one_proportion(17, 30, 0.4)
    assert z.z == pytest.approx((17 / 30 - 0.4) / math.sqrt(0.4 * 0.6 / 30))


def _survival_data(seed, hr=0.6, n=300, ties=False):
    gen = np.random.default_rng(seed)
    arm = gen.random(n) < 0.5
    t = gen.exponential(1.0 / np.where(arm, hr, 1.0))
    c = gen.uniform(0.5, 2.5, n)
    time, event = np.minimum(t, c), t <= c
    if ties:
        time = np.ceil(time * 20) / 20  # many tied times
    return time, event, arm


@pytest.mark.parametrize("ties", [False, True])
def test_logrank_matches_lifelines(ties):
    time, event, arm = _survival_data(3, ties=ties)
    r = analyses.logrank(time, event, arm)
    ref = logrank_test(time[arm], time[~arm], event[arm], event[~arm])
    assert r.z**2 == pytest.approx(ref.test_statistic, rel=1e-6)
    assert r.z > 0  # fewer deaths than expected on the experimental arm (HR 0.6)


def test_one_step_hazard_ratio_is_close_to_cox():
    time, event, arm = _survival_data(11, hr=0.7, n=600)
    r = analyses.logrank(time, event, arm)
    cox = CoxPHFitter().fit(pd.DataFrame({"t": time, "e": event, "x": arm.astype(float)}), "t", "e")
    # the Peto one-step estimate is close to Cox's for HRs near 1 (Collett 2015, s.2.6)
    assert math.log(r.estimate) == pytest.approx(cox.params_["x"], abs=0.03)


@pytest.mark.parametrize("p_e, p_c, n_e, n_c", [(0.55, 0.35, 90, 90), (0.3, 0.2, 150, 75)])
def test_two_proportion_power_is_statsmodels_normal_power_with_two_sds(p_e, p_c, n_e, n_c):
    """Fleiss eq. 4.14 is the normal power with the pooled (null) and unpooled
    (alternative) SDs of the difference: statsmodels' normal_power_het, to rounding."""
    pbar = (n_e * p_e + n_c * p_c) / (n_e + n_c)
    null_sd = math.sqrt(pbar * (1 - pbar) * (1 / n_e + 1 / n_c))
    alt_sd = math.sqrt(p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c)
    ref = normal_power_het(
        p_e - p_c, 1, 0.025, std_null=null_sd, std_alternative=alt_sd, alternative="larger"
    )
    ours = analyses.power_two_proportions(p_e, p_c, n_e, n_c, 0.025)
    assert ours == pytest.approx(ref, rel=1e-12)


def test_schoenfeld_events_round_trip():
    # Schoenfeld: D = 4 (z_a + z_b)^2 / log(HR)^2 events give power 1 - beta (1:1)
    hr, za, zb = 0.7, 1.959964, 0.841621
    d = 4 * (za + zb) ** 2 / math.log(hr) ** 2
    assert analyses.power_logrank(hr, d, 0.5, 0.025) == pytest.approx(0.8, abs=1e-5)


@pytest.mark.parametrize("p_e, p_c", [(0.55, 0.35), (0.4, 0.4)])
def test_exact_two_proportion_power_matches_a_simulation_of_the_test(p_e, p_c):
    """Enumeration vs 400,000 simulated trials of 90 + 90 patients (z test written out
    with numpy): within 4 binomial SEs; under the null it is the test's exact size."""
    exact = analyses.power_two_proportions_exact(p_e, p_c, 90, 90, 0.025)
    gen = np.random.default_rng(29)
    reps = 400_000
    xe, xc = gen.binomial(90, p_e, reps), gen.binomial(90, p_c, reps)
    pbar = (xe + xc) / 180
    sd = np.sqrt(pbar * (1 - pbar) * (2 / 90))
    z = np.divide(xe / 90 - xc / 90, sd, out=np.zeros(reps), where=sd > 0)
    share = (z >= 1.959963984540054).mean()
    assert abs(share - exact) < 4 * math.sqrt(exact * (1 - exact) / reps)


def test_km_at_matches_lifelines_and_greenwood():
    from lifelines import KaplanMeierFitter

    time, event, _ = _survival_data(5, ties=True)
    s, var = analyses.km_at(time, event, 1.0)
    kmf = KaplanMeierFitter().fit(time, event)
    assert s == pytest.approx(float(kmf.survival_function_at_times(1.0).iloc[0]), rel=1e-9)
    # Greenwood by a plain loop over distinct event times
    g = 0.0
    for t in np.unique(time[event & (time <= 1.0)]):
        n = (time >= t).sum()
        d = (event & (time == t)).sum()
        g += d / (n * (n - d))
    assert var == pytest.approx(s * s * g, rel=1e-9)


def test_km_difference_without_censoring_is_the_pooled_two_proportion_z():
    gen = np.random.default_rng(2)
    arm = gen.random(200) < 0.5
    died = gen.random(200) < np.where(arm, 0.4, 0.6)
    time = np.where(died, gen.uniform(0, 300, 200), 400.0)
    r = analyses.km_difference(time, died, arm, 365.0)
    pe, pc = 1 - died[arm].mean(), 1 - died[~arm].mean()
    z = analyses.two_proportions(
        int((~died & arm).sum()), int(arm.sum()), int((~died & ~arm).sum()), int((~arm).sum())
    ).z
    assert r.z == pytest.approx(z, rel=1e-9)
    assert r.estimate == pytest.approx(pe - pc)


def test_stratified_km_difference_without_censoring_is_cmh():
    gen = np.random.default_rng(4)
    n = 150
    strata = gen.integers(0, 5, n)
    arm = gen.random(n) < 0.5
    died = gen.random(n) < 0.3 + 0.1 * strata - 0.15 * arm
    time = np.where(died, gen.uniform(0, 300, n), 400.0)
    r = analyses.km_difference(time, died, arm, 365.0, strata)
    alive = ~died

    def count(mask):
        return np.bincount(strata[mask], minlength=5)

    cmh = analyses.two_proportions_stratified(
        count(alive & arm), count(arm), count(alive & ~arm), count(~arm)
    )
    assert r.z == pytest.approx(cmh.z, rel=1e-9)
    assert r.estimate == pytest.approx(cmh.estimate, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_cmh_matches_statsmodels_stratified_table(seed):
    """Our Cochran-Mantel-Haenszel z squared is statsmodels' CMH chi-square (no
    continuity correction); strata missing an arm carry no information and are dropped
    on both sides; the estimate is the Mantel-Haenszel risk difference (weights
    n_e n_c / N), computed here by hand."""
    from statsmodels.stats.contingency_tables import StratifiedTable

    gen = np.random.default_rng(seed)
    k = 6
    n_e, n_c = gen.integers(1, 30, k), gen.integers(1, 30, k)
    x_e, x_c = gen.binomial(n_e, 0.55), gen.binomial(n_c, 0.4)
    ours = analyses.two_proportions_stratified(
        np.r_[x_e, 0, 3], np.r_[n_e, 0, 5], np.r_[x_c, 2, 0], np.r_[n_c, 4, 0]
    )  # two strata with an empty arm
    cells = zip(x_e, n_e, x_c, n_c, strict=True)
    tables = [np.array([[a, b - a], [c, d - c]]) for a, b, c, d in cells]
    ref = StratifiedTable(tables).test_null_odds(correction=False)
    assert ours.z**2 == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p == pytest.approx(ref.pvalue / 2 if ours.z > 0 else 1 - ref.pvalue / 2)
    w = n_e * n_c / (n_e + n_c)
    rd = (w * (x_e / n_e - x_c / n_c)).sum() / w.sum()
    assert ours.estimate == pytest.approx(rd, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_stratified_logrank_matches_statsmodels_survdiff(seed):
    """Stratified log-rank with tied times: z squared equals statsmodels' survdiff
    chi-square with strata; the unstratified test equals survdiff without strata, and
    the two differ when strata matter."""
    from statsmodels.duration.survfunc import survdiff

    gen = np.random.default_rng(seed)
    n = 400
    strata = gen.integers(0, 4, n)
    arm = gen.random(n) < 0.5
    t = gen.exponential((1.0 + strata) / np.where(arm, 0.7, 1.0))  # strata differ in risk
    c = gen.uniform(0.5, 4.0, n)
    time, event = np.ceil(np.minimum(t, c) * 10) / 10, t <= c  # ties within and across arms
    ours = analyses.logrank(time, event, arm, strata)
    chi2, p = survdiff(time, event.astype(int), arm.astype(int), strata=strata)
    assert ours.z**2 == pytest.approx(chi2, rel=1e-12)
    assert 2 * min(ours.p, 1 - ours.p) == pytest.approx(p, rel=1e-9)
    plain = analyses.logrank(time, event, arm)
    chi2_plain, _ = survdiff(time, event.astype(int), arm.astype(int))
    assert plain.z**2 == pytest.approx(chi2_plain, rel=1e-12)
    assert abs(plain.z - ours.z) > 1e-6


# ------------------------------------------- log-rank with the permutation variance

_TIME = np.array(
    [3.0, 5.0, 5.0, 8.0, 9.0, 12.0, 12.0, 15.0, 20.0, 2.0, 4.0, 4.0, 7.0, 11.0, 13.0, 16.0]
)
_EVENT = np.array([1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0], dtype=bool)
_ARM = np.array([1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
_STRATUM = np.array([0] * 9 + [1] * 7)


def _o_minus_e(arm: np.ndarray) -> float:
    """Experimental O - E summed over the strata, from the hypergeometric form."""
    return sum(
        analyses._logrank_parts(_TIME[_STRATUM == s], _EVENT[_STRATUM == s], arm[_STRATUM == s])[0]
        for s in (0, 1)
    )


def test_logrank_scores_sum_to_the_observed_minus_expected():
    for s in (0, 1):
        on = _STRATUM == s
        a = analyses.logrank_scores(_TIME[on], _EVENT[on])
        assert a.sum() == pytest.approx(0.0, abs=1e-12)
        o_e = analyses._logrank_parts(_TIME[on], _EVENT[on], _ARM[on])[0]
        assert a[_ARM[on]].sum() == pytest.approx(o_e, abs=1e-12)


def test_permutation_variance_is_the_variance_over_every_re_randomisation():
    """Brute force: every way to pick each stratum's experimental patients (sizes kept)
    gives an O - E; their variance is the permutation variance the test divides by
    (ties and censoring included)."""
    import itertools

    per_stratum = []
    for s in (0, 1):
        idx = np.flatnonzero(_STRATUM == s)
        k = int(_ARM[idx].sum())
        per_stratum.append([np.isin(idx, c) for c in itertools.combinations(idx, k)])
    values = []
    for picks in itertools.product(*per_stratum):
        arm = np.zeros(len(_TIME), bool)
        for s, pick in zip((0, 1), picks, strict=True):
            arm[np.flatnonzero(_STRATUM == s)[pick]] = True
        values.append(_o_minus_e(arm))
    values = np.asarray(values)
    assert values.mean() == pytest.approx(0.0, abs=1e-12)
    r = analyses.logrank(_TIME, _EVENT, _ARM, _STRATUM, variance="permutation")
    assert r.z == pytest.approx(-_o_minus_e(_ARM) / math.sqrt(values.var()), rel=1e-12)
    # the hypergeometric version divides by a different V (and gives the same HR estimate)
    h = analyses.logrank(_TIME, _EVENT, _ARM, _STRATUM)
    assert h.z != pytest.approx(r.z, rel=1e-6)
    assert h.estimate == r.estimate
    with pytest.raises(ValueError, match="log-rank variance"):
        analyses.logrank(_TIME, _EVENT, _ARM, variance="exact")
