"""The economic evaluation from the command line: output contract, determinism, bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config
from sim.config.schema import ConfigError
from tests.cli_helper import pml_sim

SMALL = [
    "+experiment=psa",
    "cohort.n=300",
    "economics.psa.draws=6",
    "economics.psa.n_patients=40",
    "economics.psa.wtp_points=5",
    "executor=inprocess",  # small: spawning workers would cost more than it saves
    "output.progress=false",
]


@pytest.fixture(scope="module")
def psa_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("psa") / "run"
    r = pml_sim(*SMALL, f"hydra.run.dir={out}")
    assert r.returncode == 0, r.stderr
    return out, r


def test_psa_run_writes_the_contract(psa_run):
    out, r = psa_run
    cea = pd.read_csv(out / "cea.csv")
    for col in ("strategy", "cost", "qaly", "life_years", "icer", "nmb", "dominated"):
        assert col in cea.columns
    assert sorted(cea["strategy"]) == ["il7", "pd1", "soc", "vst"]
    frontier = cea[~cea["dominated"]]
    assert frontier["cost"].is_monotonic_increasing and frontier["qaly"].is_monotonic_increasing
    assert np.allclose(cea["nmb"], 30000 * cea["qaly"] - cea["cost"])  # uk_nhs wtp

    psa = pd.read_parquet(out / "psa.parquet")
    assert len(psa) == 6 * 4 and set(psa["draw"]) == set(range(6))
    ceac = pd.read_csv(out / "ceac.csv")
    assert list(ceac.columns[:3]) == ["wtp", "strategy", "probability"]
    assert np.allclose(ceac.groupby("wtp")["probability"].sum(), 1.0)
    evpi = pd.read_csv(out / "evpi.csv")
    assert list(evpi.columns) == ["wtp", "evpi"] and (evpi["evpi"] >= 0).all()
    evppi = pd.read_csv(out / "evppi.csv")
    merged = evppi.merge(evpi, on="wtp")
    assert (merged["evppi"] <= merged["evpi"] + 1e-6 * (1 + merged["evpi"])).all()
    dsa = pd.read_csv(out / "dsa.csv")
    assert dsa["swing"].is_monotonic_decreasing and len(dsa) == 10
    for f in ("ce_plane.png", "ceac.png", "evpi.png", "tornado.png", "report.md"):
        assert (out / f).stat().st_size > 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["psa_draws"] == 6
    assert "ICER" in r.stdout  # the incremental table is printed


def test_same_seed_same_numbers(psa_run, tmp_path):
    out, _ = psa_run
    again = tmp_path / "again"
    r = pml_sim(*SMALL, f"hydra.run.dir={again}")
    assert r.returncode == 0, r.stderr
    for name in ("cea.csv", "ceac.csv", "evpi.csv", "dsa.csv"):
        assert (out / name).read_text() == (again / name).read_text()
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "psa.parquet"), pd.read_parquet(again / "psa.parquet")
    )


@pytest.mark.parametrize(
    "override,key",
    [
        ("economics.costs.mri=-5", "economics.costs.mri"),
        ("economics.costs.therapies.vst.per_dose=-1", "economics.costs.therapies.vst.per_dose"),
        ("economics.utilities.by_mrs=[1.2,0.8,0.7,0.6,0.4,0.2]", "economics.utilities.by_mrs.0"),
        ("economics.utilities.by_mrs=[0.9,0.8]", "economics.utilities.by_mrs"),
        ("economics.psa.params.0.kind=weibull", "economics.psa.params.0.kind"),
        ("economics.psa.params.6.sd=0.9", "economics.psa.params.6.sd"),
        ("economics.psa.params.0.key=economics.costs.nope", "economics.costs.nope"),
        ("economics.discount.costs=1.5", "economics.discount.costs"),
        ("economics.psa.correlations.0.rho=1.5", "economics.psa.correlations.0.rho"),
        ("economics.dsa.comparator=nope", "economics.dsa.comparator"),
        ("~economics.costs.therapies.plex", "economics.costs.therapies.plex"),
    ],
)
def test_bad_economics_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(["+experiment=psa", override])
    assert err.value.key == key


def test_bad_input_fails_at_start_with_one_line_and_no_results(tmp_path):
    out = tmp_path / "bad"
    r = pml_sim("+experiment=cea", "economics.costs.hospital_day=-400", f"hydra.run.dir={out}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "pml-sim: config error: economics.costs.hospital_day: must be >= 0.0, got -400.0"
    )
    assert not out.exists()


def test_swapping_the_whole_economics_set_is_one_override():
    uk = load_config(["+experiment=cea"]).economics
    us = load_config(["+experiment=cea", "economics=us_payer"]).economics
    assert (uk.currency, us.currency) == ("GBP", "USD")
    assert (uk.discount.costs, us.discount.costs) == (0.035, 0.03)
    assert us.costs.therapies["plex"].per_dose != uk.costs.therapies["plex"].per_dose


def test_a_sweep_over_willingness_to_pay_collects_into_one_table(tmp_path):
    from sim.app.collect import collect

    sweep = tmp_path / "sweep"
    r = pml_sim(
        "-m",
        "+experiment=cea",
        "cohort.n=100",
        "economics.dsa.params=[]",
        "output.progress=false",
        "economics.wtp=20000,40000",
        f"hydra.sweep.dir={sweep}",
    )
    assert r.returncode == 0, r.stderr
    tables = collect(sweep)
    cea = tables["merged_cea"]
    assert len(cea) == 2 * 4 and set(cea["economics.wtp"]) == {20000, 40000}
    # same patients, same costs and QALYs; only the NMB moves with the WTP
    a, b = (cea[cea["economics.wtp"] == w].set_index("strategy") for w in (20000, 40000))
    assert np.allclose(a["qaly"], b.loc[a.index, "qaly"])
    assert np.allclose(b["nmb"] - a.loc[b.index, "nmb"], 20000 * a["qaly"])
