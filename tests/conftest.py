import os
import shutil
import tempfile

import pytest

from sim.api import load_config
from sim.engine.run import simulate

# Test dependencies (pyproject's `test` extra) that tests compare against. Missing one is
# an error for the whole session, never a silent skip: a skipped reference test looks
# like a passing one in a summary line.
REFERENCE_PACKAGES = ("lifelines", "statsmodels", "scipy")


def pytest_configure(config):
    # CLI runs in tests keep their composed configs (sim/config/cache.py) in a folder
    # of this session, not the user's cache
    if "PML_SIM_CACHE_DIR" not in os.environ:
        config._pml_cache = tempfile.mkdtemp(prefix="pml-sim-test-cache-")
        os.environ["PML_SIM_CACHE_DIR"] = config._pml_cache
    missing = []
    for name in REFERENCE_PACKAGES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise pytest.UsageError(
            f"test dependencies missing: {', '.join(missing)} "
            "(install them with: pip install -e '.[test]')"
        )


def pytest_unconfigure(config):
    folder = getattr(config, "_pml_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def run():
    """run(overrides) -> (patients, events, labs), cached per override tuple."""
    cache = {}

    def _run(*overrides):
        if overrides not in cache:
            cfg = load_config([*overrides, "output.progress=false"])
            cache[overrides] = simulate(cfg)
        return cache[overrides]

    return _run


@pytest.fixture(autouse=True)
def _fresh_boundaries():
    """Efficacy boundaries are cached per process (lru_cache in sim.trial.boundaries;
    single-arm exact crossing probabilities in sim.trial.analyses):
    clear the cache so each test computes the boundaries it checks. Without this a
    test can pass on values an earlier test computed, and mutation testing (mutmut
    forks each mutant from a process that already ran the tests) never reaches the
    boundary code."""
    from sim.trial import analyses, boundaries

    boundaries._cached.cache_clear()
    analyses.one_proportion_crossing.cache_clear()  # the exact single-arm enumeration, likewise
    yield


@pytest.fixture
def outer_sizes(monkeypatch):
    """`watch(*modules)`: from then on, every `ordered_map` call made through those
    modules records the `outer_patients` it was given (the size `executor=auto` decides
    by) in the returned list, and runs as before."""
    import sim.engine.executors as ex

    seen: list[int] = []
    real = ex.ordered_map

    def spy(executor, outer_patients=0):
        seen.append(outer_patients)
        return real(executor, outer_patients)

    def watch(*modules) -> list[int]:
        for m in modules:
            monkeypatch.setattr(m, "ordered_map", spy)
        return seen

    return watch
