"""Random streams are named, not numbered: adding, removing or reordering a therapy, a
side effect, an assay, a visit or a PSA input leaves every other random number as it was
(sim/core/rng.py)."""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config, simulate
from sim.config.economics import Correlation, PSAConfig, PSAParam
from sim.config.schema import ConfigError, SideEffect, TherapyConfig
from sim.core import rng
from sim.economics.sampling import draw_parameters
from sim.economics.validate import validate_economics
from sim.model.levers import lever_levels
from sim.model.schedule import Schedule
from sim.model.therapies import Catalog

N = 400
# rhIL-7 (side effects), PD-1 (one that stops the therapy), steroids (restarted courses)
STRATEGIES = "strategy=[il7,pd1,steroids_prophylactic]"
SORT = {
    "patients": ["strategy", "patient_id"],
    "events": ["strategy", "patient_id", "time_days", "event", "detail"],
    "labs": ["strategy", "patient_id", "day"],
}


def _cfg():
    return load_config(
        ["cohort=mixed_seed000", f"cohort.n={N}", STRATEGIES, "output.progress=false"]
    )


def _tables(cfg) -> dict[str, pd.DataFrame]:
    """The run's tables in a canonical row order (rows at equal times in any order)."""
    out = {}
    for name, t in zip(SORT, simulate(cfg), strict=True):
        # compare names, not category lists (adding a therapy adds a category)
        t = t.astype({c: str for c in t.columns if t[c].dtype in (object, "category")})
        out[name] = t.sort_values(SORT[name], kind="stable").reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def base():
    return _tables(_cfg())


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in SORT:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_the_base_run_exercises_side_effects_stops_and_restarts(base):
    ev = base["events"]
    se = ev[ev.event == "side_effect"].detail
    assert (se == "rhil7:local_or_flu_like").sum() > 20
    assert (se == "pembrolizumab:irae_discontinuation").sum() > 10
    starts = ev[(ev.event == "therapy_start") & (ev.detail == "corticosteroids")]
    assert (starts.time_days > 0).sum() > 20  # second courses


def test_a_therapy_added_first_changes_no_other_random_number(base):
    cfg = _cfg()
    copy_ = dataclasses.replace(copy.deepcopy(cfg.therapies["rhil7"]), label="copy")
    cfg.therapies = {"aaa_rhil7_copy": copy_, **cfg.therapies}
    # it takes catalog index 0 (the config's first key, and first by name): every other
    # therapy's index moves up by one, which used to move its side-effect numbers
    assert Catalog.build(cfg.therapies).index("aaa_rhil7_copy") == 0
    _assert_same(_tables(cfg), base)


def test_a_therapy_removed_changes_no_other_random_number(base):
    cfg = _cfg()
    del cfg.therapies["art"]  # first in the config; only HIV patients' SOC uses it
    for c in cfg.model.conditions.values():
        c.soc_therapies = [t for t in c.soc_therapies if t != "art"]
    got = _tables(cfg)
    hiv = set(base["patients"].patient_id[base["patients"].condition == "hiv"])
    assert hiv and len(hiv) < N
    for name in SORT:  # patients without HIV are the same people with the same course
        a, b = (t[~t.patient_id.isin(hiv)].reset_index(drop=True) for t in (got[name], base[name]))
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)


def test_a_side_effect_added_changes_no_other_side_effect(base):
    cfg = _cfg()
    new = SideEffect(name="headache", probability=0.5, onset_days=3.0)
    for t in ("rhil7", "pembrolizumab", "corticosteroids"):  # first in each list
        cfg.therapies[t].side_effects.insert(0, new)
    got = _tables(cfg)
    ev = got["events"]
    added = ev.detail.str.endswith(":headache")
    assert added.sum() > 100
    pd.testing.assert_frame_equal(
        ev[~added].reset_index(drop=True), base["events"], check_exact=True
    )
    pd.testing.assert_frame_equal(got["labs"], base["labs"], check_exact=True)
    p, q = got["patients"], base["patients"]
    assert (p.n_side_effects >= q.n_side_effects).all()
    assert (p.n_side_effects > q.n_side_effects).any()
    same = [c for c in q.columns if c not in ("side_effect", "n_side_effects")]
    pd.testing.assert_frame_equal(p[same], q[same], check_exact=True)


def test_the_therapy_catalog_order_does_not_even_change_row_order():
    cfg = _cfg()
    rows = simulate(cfg)
    cfg.therapies = dict(reversed(list(cfg.therapies.items())))
    for a, b in zip(simulate(cfg), rows, strict=True):  # the tables as written, unsorted
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_lever_levels_do_not_depend_on_the_catalog_order():
    # three therapies adding to one lever: floating-point sums depend on their order
    # ((0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)), so the catalog is taken in name order
    mags = {"a": 0.1, "b": 0.2, "c": 0.3}
    levels = []
    for names in (["a", "b", "c"], ["c", "b", "a"]):
        cat = Catalog.build(
            {x: TherapyConfig(label=x, levers={"iris_resolution_speedup": mags[x]}) for x in names}
        )
        sch = Schedule(cat, np.zeros((3, 1)), np.full((3, 1), np.inf), [0, 1, 2], np.ones((3, 1)))
        levels.append(lever_levels(0.0, 1.0, cat, sch)[0]["iris_resolution_speedup"])
    assert levels[0].tolist() == levels[1].tolist()
    assert levels[0][0] == pytest.approx(0.6)


def test_reordering_config_keys_and_lists_changes_nothing(base):
    cfg = _cfg()
    cfg.therapies = dict(reversed(list(cfg.therapies.items())))
    for t in cfg.therapies.values():
        t.side_effects.reverse()
        t.levers = dict(reversed(list(t.levers.items())))
    cfg.cohort.mix = dict(reversed(list(cfg.cohort.mix.items())))
    cfg.model.conditions = dict(reversed(list(cfg.model.conditions.items())))
    for key in ("visit_days", "csf_days", "mri_days"):
        getattr(cfg.monitoring, key).reverse()
    _assert_same(_tables(cfg), base)


def test_a_visit_added_changes_no_other_measurement(base):
    cfg = _cfg()
    cfg.monitoring.visit_days = [*cfg.monitoring.visit_days, 7.0]  # before all others but 0
    labs = _tables(cfg)["labs"]
    # strategies without visit rules: the course is the same, only a row of labs more
    labs = labs[labs.strategy.isin(["il7", "pd1"])]
    old = base["labs"][base["labs"].strategy.isin(["il7", "pd1"])]
    assert (labs.day == 7.0).sum() > 0.9 * 2 * N
    pd.testing.assert_frame_equal(
        labs[labs.day != 7.0].reset_index(drop=True), old.reset_index(drop=True), check_exact=True
    )


def test_names_must_stay_unique_where_they_key_random_numbers():
    with pytest.raises(ConfigError, match="monitoring.visit_days.*distinct"):
        load_config(["strategy=soc", "monitoring.visit_days=[0.0,14.0,14.0,28.0]"])


# ---------------------------------------------------------------------- the generator


def test_named_streams_are_uncorrelated():
    n = 100_000
    ids = np.arange(n)
    key = rng.run_key(1)
    a = rng.uniform(key, "side_effect/rhil7/local_or_flu_like", ids)
    pairs = {
        "other therapy, same side effect": "side_effect/aaa_rhil7_copy/local_or_flu_like",
        "one character apart": "side_effect/rhil7/local_or_flu_likf",
        "another purpose": "baseline/cd4",
    }
    bound = 4 / np.sqrt(n)  # sd of r between independent samples is 1 / sqrt(n)
    for what, name in pairs.items():
        b = rng.uniform(key, name, ids)
        assert abs(np.corrcoef(a, b)[0, 1]) < bound, what
        # and not just linearly: the share with both below 0.1 is 0.01 (binomial sd)
        both = np.mean((a < 0.1) & (b < 0.1))
        assert abs(both - 0.01) < 4 * np.sqrt(0.01 * 0.99 / n), what
    # the next course (slot), the next patient and another seed
    for b in (
        rng.uniform(key, "side_effect/rhil7/local_or_flu_like", ids, 1),
        rng.uniform(key, "side_effect/rhil7/local_or_flu_like", ids + 1),
        rng.uniform(rng.run_key(2), "side_effect/rhil7/local_or_flu_like", ids),
    ):
        assert abs(np.corrcoef(a, b)[0, 1]) < bound


def test_stream_numbers_do_not_depend_on_the_python_process():
    # the name hash is BLAKE2b, not Python's salted hash(): another interpreter with
    # another hash seed gets the same numbers
    code = (
        "import numpy as np; from sim.core import rng; "
        "print(repr(rng.uniform(rng.run_key(3), 'baseline/cd4', np.arange(3), 2).tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    here = rng.uniform(rng.run_key(3), "baseline/cd4", np.arange(3), 2).tolist()
    assert out.stdout.strip() == repr(here)


def test_slots_outside_their_range_and_empty_names_are_refused():
    key = rng.run_key(0)
    with pytest.raises(ValueError, match="slot"):
        rng.uniform(key, "x", np.arange(3), rng.MAX_SLOT + 1)
    with pytest.raises(ValueError, match="slot"):
        rng.uniform(key, "x", np.arange(3), -1)
    with pytest.raises(ValueError, match="name"):
        rng.uniform(key, "", np.arange(3))
    rng.uniform(key, "x", np.arange(3), rng.MAX_SLOT)


# ---------------------------------------------------------------------------- the PSA


def _psa(params, correlations=()):
    return PSAConfig(draws=200, params=list(params), correlations=list(correlations))


def test_psa_inputs_keep_their_draws_when_others_are_added_or_reordered():
    b = PSAParam(key="b", kind="beta", mean=0.3, sd=0.05)
    g = PSAParam(key="g", kind="gamma", mean=400.0, sd=100.0)
    u3 = PSAParam(key="u3", kind="beta", mean=0.62, sd=0.05)
    u4 = PSAParam(key="u4", kind="beta", mean=0.41, sd=0.06)
    mix = PSAParam(kind="dirichlet", keys=["x", "y"], counts=[3.0, 5.0])
    rho = [Correlation(a="u3", b="u4", rho=0.6)]
    ref = draw_parameters(_psa([b, u3, u4, mix], rho), seed=4)
    more = draw_parameters(_psa([g, u4, mix, u3, b], rho), seed=4)
    assert not np.allclose(more["g"], ref["b"])
    for k in ("b", "u3", "u4", "x", "y"):
        np.testing.assert_array_equal(more[k], ref[k], err_msg=k)
    # declaring the correlation the other way round is the same correlation
    flipped = draw_parameters(_psa([u4, u3], [Correlation(a="u4", b="u3", rho=0.6)]), seed=4)
    for k in ("u3", "u4"):
        np.testing.assert_array_equal(flipped[k], ref[k], err_msg=k)


def test_psa_keys_must_be_unique():
    # a key names its input's random numbers: two inputs with one key would share them
    cfg = load_config(["+experiment=psa"])
    psa = cfg.economics.psa
    validate_economics(cfg)
    first = next(p for p in psa.params if p.kind != "dirichlet")
    psa.params.append(dataclasses.replace(first))
    with pytest.raises(ConfigError, match=f"economics.psa.params.*twice.*{first.key}"):
        validate_economics(cfg)
