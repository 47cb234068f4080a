"""The borrowing table of a sizing run (sim.trial.conflict) for the borrowing_pd1
preset: its cells are the exact operating characteristics of sim.trial.borrowing at
the planned sizes (checked there against closed forms), traced over the true control
rate; and bad borrowing input names its key."""

from __future__ import annotations

import pytest

from sim.api import load_config
from sim.config.schema import ConfigError
from sim.trial.borrowing import control_prior, operating_characteristics
from sim.trial.conflict import conflict_markdown, conflict_table
from sim.trial.design import Spec, superpopulation
from sim.trial.pool import build_pool

PRESET = [
    "+experiment=trial_sizing",
    "trial=borrowing_pd1",
    "trial.sizing.n=[60]",
    "trial.pool_per_arm=2000",
    "trial.borrowing.control_rates=[0.4,0.55]",
    "output.progress=false",
]


@pytest.fixture(scope="module")
def table():
    cfg = load_config(PRESET)
    spec = Spec(cfg.seed, cfg.trial, build_pool(cfg))
    return cfg, spec, conflict_table(spec)


def test_the_table_is_the_exact_operating_characteristics(table):
    cfg, spec, tab = table
    b = cfg.trial.borrowing
    sp = superpopulation(spec, "survival_1y")
    assert set(tab["prior"]) == {"none", "power", "robust_map"}
    assert tab["true_control"].tolist()[-1] == pytest.approx(sp["p_c"])  # the model's rate
    for _, r in tab.iterrows():
        prior = control_prior(r["prior"], 40, 100, (1.0, 1.0), b.power_delta, b.map_weight)
        h0 = operating_characteristics(30, 30, prior, (1.0, 1.0), 0.975, r["true_control"],
                                       r["true_control"])  # fmt: skip
        assert r["type1_error"] == pytest.approx(h0.reject, abs=1e-12)
        assert r["posterior_mean_bias"] == pytest.approx(h0.posterior_mean_bias, abs=1e-12)
    # conflict: a true control above the historical 0.40 inflates the power prior's type I
    # error above no borrowing's; the robust MAP prior sits in between
    at = tab[tab["true_control"] == 0.55].set_index("prior")["type1_error"]
    assert at["none"] < at["robust_map"] < at["power"]
    md = conflict_markdown(tab, spec)
    assert "robust_map" in md and "*" in md


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trial.borrowing.prior=map", "trial.borrowing.prior"),
        ("trial.borrowing.historical_x=101", "trial.borrowing.historical_x"),
        ("trial.borrowing.map_weight=1.5", "trial.borrowing.map_weight"),
        ("trial.borrowing.control_rates=[0.0]", "trial.borrowing.control_rates[0]"),
        ("trial.borrowing.endpoint=time_to_death", "trial.borrowing.endpoint"),
    ],
)
def test_bad_borrowing_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config([*PRESET, override])
    assert e.value.key == key
