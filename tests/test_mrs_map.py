"""Each posterior draw's own damage -> mRS map (sim/evidence/mrs_map.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config
from sim.config.schema import ConfigError, MrsMapConfig
from sim.evidence.mrs_map import COLUMNS, cutpoints, per_draw


def test_cutpoints_put_the_published_shares_below_each_cut():
    # 100,000 uniform damages: cut j sits at the cumulative share of mRS < j
    x = np.random.default_rng(3).uniform(size=100_000)
    counts = [0.5, 8.0, 6.0, 5.0, 5.0, 0.5]
    got = cutpoints(x, counts)
    want = np.cumsum(counts)[:-1] / sum(counts)
    np.testing.assert_allclose(got, want, atol=4 * np.sqrt(0.25 / len(x)))
    levels = np.searchsorted(got, x, side="right")  # mRS of each damage under the map
    share = np.bincount(levels, minlength=6) / len(x)
    np.testing.assert_allclose(share, np.asarray(counts) / sum(counts), atol=0.005)


def test_each_draw_reads_its_own_survivors_at_the_published_shares():
    """The same values give the same map (the same patients for every draw). A draw
    with twice the damage rate gets another map; through its own map its survivors sit
    at the published mRS shares, through the first draw's map they do not: why one map
    for every draw misreads disability."""
    from sim.config.paths import with_values
    from sim.engine.run import simulate
    from sim.evidence.mrs_map import population
    from sim.model.disability import mrs_level

    cfg = load_config(["+experiment=posterior"])
    key = "model.damage_rate_per_day"
    rate = cfg.model.damage_rate_per_day
    draws = pd.DataFrame({"draw": [0, 1, 2], key: [rate, 2 * rate, rate]})
    m = MrsMapConfig(n=4000)  # ~1,100 survivors at twice the damage rate
    got = per_draw(cfg, draws, m)
    assert list(got.columns) == COLUMNS and list(got.index) == [0, 1, 2]
    assert got.loc[0].tolist() == got.loc[2].tolist()
    assert (got.diff(axis=1).iloc[:, 1:] > 0).all().all()
    pts, _, _ = simulate(with_values(population(cfg, m), {key: 2 * rate}))
    alive = pts["residual_disability"].dropna().to_numpy()
    want = np.asarray(m.counts) / sum(m.counts)

    def shares(cuts):
        return np.bincount(mrs_level(alive, cuts), minlength=6) / len(alive)

    # its own map: quantiles of these very survivors (ties and rounding: 2 patients)
    assert np.abs(shares(got.loc[1].tolist()) - want).max() < 2.5 / len(alive) + 1e-6
    # the first draw's map: off by far more than that (total variation 0.13 measured;
    # a multinomial sample of ~1,100 would differ from its own shares by ~0.03)
    assert 0.5 * np.abs(shares(got.loc[0].tolist()) - want).sum() > 0.05


def test_the_default_model_map_is_what_the_script_fits():
    """At the model's own values the map equals the quantile fit of
    experiments/fit_mrs_cutpoints.py's population (HIV under SOC, its seed)."""
    cfg = load_config(["+experiment=posterior"])
    m = MrsMapConfig(n=600)
    got = per_draw(cfg, pd.DataFrame({"draw": [0]}), m).loc[0].tolist()
    from sim.engine.run import simulate
    from sim.evidence.mrs_map import population

    pts, _, _ = simulate(population(cfg, m))
    want = cutpoints(pts["residual_disability"].dropna().to_numpy(), m.counts)
    assert got == pytest.approx(want, abs=5e-7)  # rounded to 6 decimals


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("posterior.mrs_map.n=-1", "posterior.mrs_map.n"),
        ("posterior.mrs_map.n=10", "posterior.mrs_map.n"),
        ("posterior.mrs_map.counts=[1,2,3]", "posterior.mrs_map.counts"),
        ("posterior.mrs_map.counts=[1,2,3,4,5,-1]", "posterior.mrs_map.counts"),
        ("posterior.mrs_map.cohort=no_such_cohort", "posterior.mrs_map"),
    ],
)
def test_bad_map_input_names_its_key(override, key):
    from sim.evidence.validate import validate_posterior

    with pytest.raises(ConfigError) as e:
        validate_posterior(load_config(["+experiment=posterior", override]))
    assert e.value.key == key
