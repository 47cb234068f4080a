"""Results do not depend on how the work was split or where it ran."""

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config
from sim.config.schema import ConfigError
from sim.core import rng
from sim.engine.batch import simulate_batch
from sim.engine.executors import _windowed
from sim.engine.run import simulate, simulate_chunk, simulate_strategies
from sim.model import cohort
from sim.model.strategies import compile_strategy
from sim.model.therapies import Catalog

BASE = ["strategy=[soc,il7]", "cohort.n=500", "output.progress=false"]


@pytest.fixture(scope="module")
def reference():
    return simulate(load_config([*BASE, "engine.chunk_size=1000"]))


@pytest.mark.parametrize(
    "split",
    [
        ["executor=processes", "executor.workers=2", "engine.chunk_size=120"],
        ["executor=dask", "executor.workers=2", "engine.chunk_size=200"],  # real LocalCluster
    ],
)
def test_same_numbers_whatever_the_executor_and_chunking(reference, split):
    got = simulate(load_config([*BASE, *split]))
    for ref, frame in zip(reference, got, strict=True):
        pd.testing.assert_frame_equal(ref.reset_index(drop=True), frame.reset_index(drop=True))


@pytest.mark.parametrize("engine", ["batch", "reference"])
def test_strategies_on_one_cohort_equal_each_strategy_alone(engine):
    """simulate_strategies shares the patients between strategies: a strategy that
    changed them would change the next strategy's results, and this would fail."""
    n = 60 if engine == "reference" else 400
    cfg = load_config(
        ["strategy=[il7,soc,pd1,vst]", f"cohort.n={n}", "output.progress=false"]
        + [f"engine.kind={engine}", "cohort=mixed_seed000"]
    )
    shared = list(simulate_strategies(cfg, 0, n))
    assert [c.strategy for c in shared] == list(cfg.strategy)
    lean = list(simulate_strategies(cfg, 0, n, labs=False))
    bare = list(simulate_strategies(cfg, 0, n, labs=False, events=False))
    for c, c_lean, c_bare in zip(shared, lean, bare, strict=True):
        alone = simulate_chunk(cfg, c.strategy, 0, n)
        for a, b in ((c.patients, alone.patients), (c.events, alone.events), (c.labs, alone.labs)):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        # without the lab table: the same patients (month-1 columns included) and events
        assert len(c.labs) > 0 and len(c_lean.labs) == 0
        pd.testing.assert_frame_equal(c_lean.patients, c.patients, check_exact=True)
        pd.testing.assert_frame_equal(c_lean.events, c.events, check_exact=True)
        # without the event table too: the same patients, an empty table of the same columns
        assert len(c.events) > 0 and len(c_bare.events) == 0
        assert list(c_bare.events.columns) == list(c.events.columns)
        pd.testing.assert_frame_equal(c_bare.patients, c.patients, check_exact=True)


@pytest.mark.parametrize("engine", ["batch", "reference"])
def test_without_labs_only_month1_visits_are_measured_and_visit_rules_still_act(engine):
    """labs=False measures only the visits the month-1 columns read, unless a visit rule
    reads the markers: il7_maraviroc's rule reads the MRI growth from day 28 to day 84
    (skipping those measurements would silence it and this would fail)."""
    n = 40 if engine == "reference" else 1500
    cfg = load_config(
        ["strategy=[il7_maraviroc,il7]", f"cohort.n={n}", "output.progress=false"]
        + [f"engine.kind={engine}"]
    )
    full = list(simulate_strategies(cfg, 0, n))
    lean = list(simulate_strategies(cfg, 0, n, labs=False))
    for c, c_lean in zip(full, lean, strict=True):
        pd.testing.assert_frame_equal(c_lean.patients, c.patients, check_exact=True)
        pd.testing.assert_frame_equal(c_lean.events, c.events, check_exact=True)
    fired = full[0].events["event"].astype(str).eq("rule_fired").sum()
    assert fired > 0  # the rule acted, so its measurements were taken
    # a strategy without visit rules measures the baseline and month-1 visits only
    key, cat = rng.run_key(cfg.seed), Catalog.build(cfg.therapies)
    pts = cohort.build(key, cfg.cohort, cfg.model, np.arange(min(n, 50)))
    comp = compile_strategy(cfg.strategy["il7"], cfg.model, cat)
    args = (pts, comp, cat, cfg.model, cfg.monitoring, key, cfg.horizon_days)
    lean_days = (0.0, cfg.monitoring.month1_day)
    days = {float(lab["day"][0]) for lab in simulate_batch(*args, lab_days=lean_days).labs}
    assert days == set(lean_days)
    all_days = {float(lab["day"][0]) for lab in simulate_batch(*args).labs}
    assert len(all_days) > len(lean_days) and days < all_days


def test_auto_runs_chunks_here_and_only_large_outer_loops_on_processes(monkeypatch):
    import sim.engine.executors as ex
    from sim.config.schema import ExecutorConfig
    from sim.engine.executors import resolve

    auto = ExecutorConfig(kind="auto", workers=2, min_parallel_patients=1000)
    monkeypatch.setattr(ex, "_AUTO_PROCESSES", [False])  # from Python: never workers
    assert resolve(auto, outer_patients=10**9) == "inprocess"
    ex.allow_auto_processes()  # as the pml-sim command does
    assert resolve(auto) == "inprocess"  # a run's chunks
    assert resolve(auto, outer_patients=999) == "inprocess"
    assert resolve(auto, outer_patients=1000) == "processes"
    assert resolve(ExecutorConfig(kind="auto", workers=1), outer_patients=10**9) == "inprocess"
    monkeypatch.setattr(ex, "usable_cores", lambda: 1)  # one core: workers only cost
    assert resolve(auto, outer_patients=10**9) == "inprocess"
    monkeypatch.setattr(ex, "usable_cores", lambda: 8)
    assert ex.auto_workers(auto) == 2 and resolve(auto, outer_patients=1000) == "processes"
    for kind in ("inprocess", "processes", "dask"):
        assert resolve(ExecutorConfig(kind=kind, workers=2), outer_patients=10**9) == kind
    assert load_config([]).executor.kind == "auto"  # the default


def test_only_the_pml_sim_command_lets_auto_start_workers():
    """From Python `auto` never spawns (a user's script may lack a main guard, and
    spawned workers re-import it); the command allows it."""
    import subprocess
    import sys

    probe = (
        "import sys; from sim.engine import executors as ex; before = ex._AUTO_PROCESSES[0]\n"
        "from sim.app import cli; sys.argv = ['pml-sim', '--cfg', 'job']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print('FLAGS', before, ex._AUTO_PROCESSES[0], file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "FLAGS False True" in r.stderr, r.stderr[-2000:]


def test_windowed_map_keeps_order_and_bounds_work_in_flight():
    in_flight, peak = [0], [0]

    class Done:
        def __init__(self, value):
            self.value = value
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])

        def result(self):
            in_flight[0] -= 1
            return self.value

    out = list(_windowed(lambda x: Done(x * x), ((i,) for i in range(20)), window=3))
    assert out == [i * i for i in range(20)]
    assert peak[0] == 3


def test_unknown_executor_is_a_config_error():
    with pytest.raises(ConfigError, match="executor.kind"):
        load_config([*BASE, "executor.kind=mpi"])
    with pytest.raises(ConfigError, match="executor.workers"):
        load_config([*BASE, "executor=processes", "executor.workers=0"])


def test_dask_by_address_uses_the_running_cluster(reference):
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as cluster:
        cfg = load_config(
            [
                *BASE,
                "executor=dask",
                f"executor.address={cluster.scheduler_address}",
                "engine.chunk_size=300",
            ]
        )
        got = simulate(cfg)
    for ref, frame in zip(reference, got, strict=True):
        pd.testing.assert_frame_equal(ref.reset_index(drop=True), frame.reset_index(drop=True))
