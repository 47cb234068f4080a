"""The composed-config cache (sim/config/cache.py) gives what Hydra composes, and composes
afresh whenever an input changed: a config file edited, added or removed, an override
changed, the entry damaged. The reference is always Hydra's own composition with the
cache off, compared as the full YAML text of the config including Hydra's node."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sim.config import cache
from sim.config.load import config_dir

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """The cache installed on Hydra's loader, in a fresh folder; removed afterwards."""
    from sim.app import hydra_app  # noqa: F401  (the CLI's own loader hooks, as in a run)

    monkeypatch.setenv("PML_SIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PML_SIM_CONFIG_CACHE", raising=False)
    cache.install()
    for k in cache.STATS:
        cache.STATS[k] = 0
    yield tmp_path / "cache" / "config"
    cache.uninstall()


def _compose(conf: Path, overrides: list[str], user_dirs=()) -> OmegaConf:
    """Hydra's compose API with Hydra's node kept, from the config folder `conf`."""
    from hydra import compose, initialize_config_dir

    extra = [f"hydra.searchpath=[{','.join(f'file://{d}' for d in user_dirs)}]"]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("config", overrides + (extra if user_dirs else []), True)


def _uncached(conf: Path, overrides: list[str], user_dirs=()) -> str:
    os.environ["PML_SIM_CONFIG_CACHE"] = "0"
    try:
        return OmegaConf.to_yaml(_compose(conf, overrides, user_dirs))
    finally:
        del os.environ["PML_SIM_CONFIG_CACHE"]


def _hits_misses() -> tuple[int, int]:
    return cache.STATS["hits"], cache.STATS["misses"]


@pytest.fixture
def conf_copy(tmp_path):
    dst = tmp_path / "conf"
    shutil.copytree(config_dir(), dst)
    return dst


def test_a_hit_is_hydras_composition(cached):
    conf = config_dir()
    overrides = ["strategy=il7", "seed=3", "hydra.verbose=true", "cohort.n=50"]
    fresh = _uncached(conf, overrides)
    first = OmegaConf.to_yaml(_compose(conf, overrides))
    assert _hits_misses() == (0, 1)
    second = OmegaConf.to_yaml(_compose(conf, overrides))
    assert _hits_misses() == (1, 1)
    assert first == fresh and second == fresh
    assert len(list(cached.glob("*.pickle"))) == 1


def test_changing_an_override_composes_afresh(cached):
    conf = config_dir()
    a = _compose(conf, ["seed=1"])
    b = _compose(conf, ["seed=2"])
    assert _hits_misses() == (0, 2)
    assert (a.seed, b.seed) == (1, 2)
    assert _compose(conf, ["seed=1"]).seed == 1
    assert _hits_misses() == (1, 2)


def test_editing_a_config_file_composes_afresh(cached, conf_copy):
    assert _compose(conf_copy, []).seed == 20220401
    assert _compose(conf_copy, []).seed == 20220401
    assert _hits_misses() == (1, 1)
    primary = conf_copy / "config.yaml"
    text = primary.read_text()
    assert "\nseed: 20220401 " in text
    primary.write_text(text.replace("\nseed: 20220401 ", "\nseed: 7 "))
    assert _compose(conf_copy, []).seed == 7
    assert _hits_misses() == (1, 2)
    # a group file, read only through the defaults list
    il7 = conf_copy / "strategy" / "il7.yaml"
    before = _compose(conf_copy, ["strategy=il7"])
    text = il7.read_text()
    assert "\ndescription: " in text
    il7.write_text(text.replace("\ndescription: ", "\ndescription: edited ", 1))
    after = _compose(conf_copy, ["strategy=il7"])
    assert _hits_misses() == (1, 4)
    assert after.strategy.il7.description.startswith("edited ")
    assert not before.strategy.il7.description.startswith("edited ")
    assert OmegaConf.to_yaml(after) == _uncached(conf_copy, ["strategy=il7"])


def test_adding_or_removing_a_config_file_composes_afresh(cached, conf_copy):
    _compose(conf_copy, ["strategy=il7"])
    extra = conf_copy / "strategy" / "zz_new.yaml"
    shutil.copy(conf_copy / "strategy" / "soc.yaml", extra)
    _compose(conf_copy, ["strategy=il7"])
    extra.unlink()
    _compose(conf_copy, ["strategy=il7"])
    _compose(conf_copy, ["strategy=il7"])
    assert _hits_misses() == (1, 3)


def test_a_users_config_folder_is_digested_too(cached, tmp_path):
    user = tmp_path / "user"
    (user / "strategy").mkdir(parents=True)
    mine = user / "strategy" / "mine.yaml"
    il7 = (config_dir() / "strategy" / "il7.yaml").read_text()
    mine.write_text(il7.replace("strategy.il7", "strategy.mine").replace("name: il7", "name: mine"))
    overrides = ["strategy=mine"]
    a = _compose(config_dir(), overrides, [user])
    assert "mine" in a.strategy
    mine.write_text(mine.read_text().replace("\ndescription: ", "\ndescription: v2 ", 1))
    b = _compose(config_dir(), overrides, [user])
    assert _hits_misses() == (0, 2)
    assert b.strategy.mine.description.startswith("v2 ")
    assert OmegaConf.to_yaml(b) == _uncached(config_dir(), overrides, [user])


def test_run_folder_overrides_do_not_pick_an_entry(cached):
    """`hydra.run.dir=...` is set on the stored composition: a hit, and the same config
    (value and Hydra's record of the command line, in order) as Hydra composes."""
    conf = config_dir()
    for run_dir in ("/tmp/a/run", "/tmp/b/run"):
        overrides = [
            "hydra.verbose=true",
            f"hydra.run.dir={run_dir}",
            "seed=4",
            "hydra.job.chdir=false",
        ]
        got = _compose(conf, overrides)
        assert got.hydra.run.dir == run_dir
        assert OmegaConf.to_yaml(got) == _uncached(conf, overrides)
    assert _hits_misses() == (1, 1)
    # set twice on the command line: keyed as any other override (Hydra's order rules)
    twice = ["hydra.run.dir=/tmp/c", "++hydra.run.dir=/tmp/d"]
    assert _compose(conf, twice).hydra.run.dir == "/tmp/d"
    assert _hits_misses() == (1, 2)


def test_entries_hold_no_resolved_times_or_process_ids(cached):
    conf = config_dir()
    first = _compose(conf, ["seed=5"])
    # Hydra's composition resolves `${now:}` (the run folder's date) and caches it
    assert first.__dict__["_metadata"].resolver_cache
    (entry,) = cached.glob("*.pickle")
    stored = pickle.loads(entry.read_bytes())["cfg"]
    assert not stored.__dict__["_metadata"].resolver_cache
    hit = _compose(conf, ["seed=5"])
    assert _hits_misses() == (1, 1)
    assert not hit.__dict__["_metadata"].resolver_cache


def test_a_damaged_entry_or_a_failed_composition(cached):
    conf = config_dir()
    good = OmegaConf.to_yaml(_compose(conf, ["seed=6"]))
    (entry,) = cached.glob("*.pickle")
    entry.write_bytes(b"not a pickle")
    assert OmegaConf.to_yaml(_compose(conf, ["seed=6"])) == good
    assert _hits_misses() == (0, 2)
    assert pickle.loads(entry.read_bytes())["format"] == cache.FORMAT  # rewritten
    from hydra.errors import HydraException

    with pytest.raises(HydraException):
        _compose(conf, ["strategy=bogus"])
    assert len(list(cached.glob("*.pickle"))) == 1  # nothing stored for it


def test_switched_off(cached, monkeypatch):
    monkeypatch.setenv("PML_SIM_CONFIG_CACHE", "0")
    _compose(config_dir(), ["seed=8"])
    assert _hits_misses() == (0, 0)
    assert not cached.exists()


def test_sources_digest_sees_contents_and_names(tmp_path):
    d = tmp_path / "c"
    (d / "g").mkdir(parents=True)
    (d / "g" / "a.yaml").write_text("x: 1\n")
    src = [("file", str(d))]
    one = cache.sources_digest(src)
    (d / "g" / "a.yaml").write_text("x: 2\n")
    two = cache.sources_digest(src)
    (d / "g" / "a.yaml").rename(d / "g" / "b.yaml")
    three = cache.sources_digest(src)
    (d / "notes.txt").write_text("not a config")
    assert len({one, two, three}) == 3
    assert cache.sources_digest(src) == three
    assert cache.sources_digest([("pkg", "hydra.conf")]) is not None
    assert cache.sources_digest([("weird", "x")]) is None


# ----------------------------------------------------------------------------- CLI


def _cli(args: list[str], cache_dir: Path, cwd: Path, on: bool = True):
    env = dict(
        os.environ, PML_SIM_CACHE_DIR=str(cache_dir), PML_SIM_CONFIG_CACHE="1" if on else "0"
    )
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_cli_runs_from_the_cache_write_what_a_fresh_composition_writes(tmp_path):
    store = tmp_path / "cache"
    args = ["strategy=il7", "cohort.n=200", "uncertainty=none", "output.plots=false"]
    args += ["output.progress=false", "output.print_summary=false", "output.report=false"]
    runs = {}
    for name, on in (("fresh", False), ("miss", True), ("hit", True)):
        out = _cli([*args, f"hydra.run.dir={tmp_path / name}"], store, tmp_path, on)
        assert out.returncode == 0, out.stderr
        runs[name] = tmp_path / name
        if name == "miss":
            (entry,) = (store / "config").glob("*.pickle")
            stamp = entry.stat().st_mtime_ns
    (entry,) = (store / "config").glob("*.pickle")
    assert entry.stat().st_mtime_ns == stamp  # the third run read it, wrote nothing

    def text(run: str, f: str) -> str:
        return (runs[run] / f).read_text().replace(str(runs[run]), "RUN")

    for f in (".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/hydra.yaml", "config.yaml"):
        assert text("hit", f) == text("fresh", f) == text("miss", f), f
    for f in ("summary.csv", "patients.parquet", "events.parquet", "labs.parquet"):
        assert (runs["hit"] / f).read_bytes() == (runs["fresh"] / f).read_bytes(), f


def test_cli_config_errors_and_cfg_job_from_the_cache(tmp_path):
    store = tmp_path / "cache"
    for _ in range(2):  # the second composes from the cache; validation still runs
        out = _cli(["cohort.n=-5", f"hydra.run.dir={tmp_path / 'bad'}"], store, tmp_path)
        assert out.returncode == 2
        assert "pml-sim: config error: cohort.n: must be an integer >= 1, got -5" in out.stderr
        assert not (tmp_path / "bad").exists()
    shown = [_cli(["--cfg", "job", "seed=11"], store, tmp_path).stdout for _ in range(2)]
    fresh = _cli(["--cfg", "job", "seed=11"], store, tmp_path, on=False).stdout
    assert shown[0] == shown[1] == fresh and "seed: 11" in fresh
