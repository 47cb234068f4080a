import pytest

from sim.api import load_config
from sim.engine.run import simulate


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
