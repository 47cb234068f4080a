"""Start-up shortcuts (issue 13) change nothing a user can see.

libyaml parses every shipped config to the same values as OmegaConf's own loader; the
config hash is the one the pure-Python parse gives; Hydra's mode probe is skipped only
when the command line does not set `hydra.mode`; and a run imports neither matplotlib
nor scipy.stats before it simulates. (No timings here: benchmarks/startup.py measures.)
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from sim.config import fastyaml
from sim.config.load import config_dir
from sim.core.io import config_hash

ROOT = Path(__file__).resolve().parent.parent
YAML_FILES = sorted(config_dir().rglob("*.yaml")) + sorted((ROOT / "examples").rglob("*.yaml"))


def _same(a, b) -> bool:
    """Equal values and equal types (1 vs 1.0 vs '1' matter), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@pytest.fixture(scope="module")
def loaders():
    loader = fastyaml.c_loader()
    if loader is None:
        pytest.fail("PyYAML without libyaml: the start-up shortcut is not in use")
    return fastyaml.python_loader(), loader


def test_the_comparison_can_fail():
    assert not _same({"a": 1}, {"a": 1.0})
    assert not _same({"a": "1e-3"}, {"a": 1e-3})
    assert not _same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert _same({"a": [float("nan"), None]}, {"a": [float("nan"), None]})


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_libyaml_loads_every_shipped_config_as_omegaconf_does(path, loaders):
    python, c = loaders
    text = path.read_text()
    assert _same(yaml.load(text, Loader=python), yaml.load(text, Loader=c))


def test_libyaml_keeps_omegaconf_rules(loaders):
    python, c = loaders
    text = "a: 1e-3\nb: 2020-01-01\nc: .inf\nd: 1_000\ne: yes\nf: ~\ng: [1, 2.5, x]\n"
    fast = yaml.load(text, Loader=c)
    assert _same(yaml.load(text, Loader=python), fast)
    assert fast["a"] == 0.001 and fast["b"] == "2020-01-01"  # float; no timestamps
    for loader in (python, c):
        with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key a"):
            yaml.load("a: 1\nb: 2\na: 3\n", Loader=loader)


def test_omegaconf_load_uses_libyaml(tmp_path):
    from omegaconf import _utils

    fastyaml.install()
    assert issubclass(_utils.get_yaml_loader(), yaml.CSafeLoader)
    f = tmp_path / "x.yaml"
    f.write_text("a: {b: 1e2, c: [x, 2]}\n")
    assert OmegaConf.to_container(OmegaConf.load(f)) == {"a": {"b": 100.0, "c": ["x", 2]}}


def test_config_hash_is_the_pure_python_parse():
    from sim.api import load_config  # noqa: F401  (registers the schema)
    from sim.config.load import compose_node

    text = OmegaConf.to_yaml(compose_node([]), resolve=True)
    cfg = yaml.safe_load(text)
    for k in ("progress", "print_summary"):
        cfg["output"].pop(k)
    import hashlib

    expected = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()
    assert config_hash(text) == expected[:16]


def test_mode_probe_runs_only_for_a_hydra_mode_override():
    from hydra._internal.hydra import Hydra

    from sim.app.hydra_app import _sets_mode

    assert getattr(Hydra.get_mode, "hydra_probe", None) is not None  # the shortcut is in
    assert not _sets_mode(["seed=1", "strategy=il7", "hydra.run.dir=x", "hydra/launcher=joblib"])
    for o in ("hydra.mode=MULTIRUN", "+hydra.mode=RUN", "++hydra.mode=RUN", "~hydra.mode"):
        assert _sets_mode(["seed=1", o])


def test_a_run_imports_no_plotting_before_it_simulates():
    code = (
        "import sys\n"
        "import sim.app.cli, sim.app.hydra_app, sim.app.validate, sim.app.tasks.simulate\n"
        "import sim.engine.run\n"
        "print(sorted(m for m in ('matplotlib', 'scipy.stats') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- dumping


def _compositions() -> list[list[str]]:
    conf = config_dir()
    sets = [[]] + [[f"+experiment={p.stem}"] for p in sorted((conf / "experiment").glob("*.yaml"))]
    sets += [[f"+trial={p.stem}"] for p in sorted((conf / "trial").glob("*.yaml"))]
    sets += [[f"model={p.stem}"] for p in sorted((conf / "model").glob("*.yaml"))]
    sets += [[f"economics={p.stem}"] for p in sorted((conf / "economics").glob("*.yaml"))]
    return sets


def _python_dump(data) -> str:
    """OmegaConf.to_yaml's own yaml.dump call (pure-Python emitter)."""
    return yaml.dump(
        data,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        Dumper=fastyaml.python_dumper(),
    )


def _c_dump(data) -> str:
    return yaml.dump(
        data,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        Dumper=fastyaml.c_dumper(),
    )


def test_libyaml_writes_every_shipped_config_as_omegaconf_does():
    """Hydra's .hydra/config.yaml and pml-sim's config.yaml (resolved) of every shipped
    experiment, trial design, model and economics set: the same text from both emitters,
    and the fast path is the one taken."""
    from sim.config.load import compose_node

    assert fastyaml.c_dumper() is not None, "PyYAML without libyaml"
    sets = _compositions()
    assert len(sets) > 15
    for overrides in sets:
        node = compose_node(overrides)
        for resolve in (False, True):
            data = OmegaConf.to_container(node, resolve=resolve, enum_to_str=True)
            assert fastyaml.c_safe(data), overrides
            assert _c_dump(data) == _python_dump(data), (overrides, resolve)


def test_libyaml_writes_printable_ascii_as_omegaconf_does():
    """Random printable-ASCII strings (quotes, colons, '#', numbers-as-text, long lines
    that wrap) as values and as keys up to MAX_C_KEY characters: the same text."""
    import random

    r = random.Random(20261206)
    pieces = [chr(i) for i in range(32, 127)] + ["yes", "null", "1e3", "0x1", " #", ": ", "  "]
    for _ in range(3000):
        s = "".join(r.choice(pieces) for _ in range(r.choice([0, 1, 3, 10, 60, 150])))
        key = s[: fastyaml.MAX_C_KEY] or "k"
        data = {"k": s, key: [s, {"m": s, "n": {"o": [s, 1.5, None, True]}}]}
        assert fastyaml.c_safe(data)
        assert _c_dump(data) == _python_dump(data), repr(s)


def test_strings_libyaml_writes_differently_take_the_python_path():
    """Where the emitters differ (a key over ~120 characters, a line break, a character
    outside printable ASCII) the guard says so, and OmegaConf.to_yaml still gives
    OmegaConf's own text."""
    fastyaml.install()
    original = OmegaConf.to_yaml.omegaconf_to_yaml  # the shortcut is in
    differ = [{"a" * 127: 1}, {"k": "smile \U0001f642"}, {"k": "x\ny"}, {"k": "tab\there"}]
    for data in differ:
        assert not fastyaml.c_safe(data)
    # the guard is needed: libyaml really writes these differently
    assert _c_dump(differ[0]) != _python_dump(differ[0])
    assert _c_dump(differ[1]) != _python_dump(differ[1])
    for data in [*differ, {"k": "plain", "n": [1, "yes", "1e3"]}, {"b": b"x"}]:
        node = OmegaConf.create(data)
        assert OmegaConf.to_yaml(node) == original(node)
        assert OmegaConf.to_yaml(node, resolve=True, sort_keys=True) == original(
            node, resolve=True, sort_keys=True
        )


# ----------------------------------------------------------------------------- imports


def test_a_run_imports_no_plotting_or_optimiser_before_it_simulates():
    """Everything a default run imports before its first chunk, minus what it does not
    need there: matplotlib, scipy.stats / optimize / interpolate, statsmodels, dask."""
    code = (
        "import sys\n"
        "import sim.app.cli, sim.app.hydra_app, sim.app.validate, sim.app.tasks.simulate\n"
        "import sim.app.report, sim.engine.run\n"
        "heavy = ('matplotlib', 'scipy.stats', 'scipy.optimize', 'scipy.interpolate',\n"
        "         'statsmodels', 'dask', 'distributed', 'joblib', 'sklearn', 'SALib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_numba_blas_probe_answered_without_scipy_linalg():
    """A compiled function's first call (here the random streams', loaded from numba's
    cache or compiled) no longer imports scipy.linalg for numba's BLAS probe; the probe's
    answer is the true one, and a compiled np.dot still gets numba's real BLAS check."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from sim.core import rng\n"
        "rng.uniform(rng.run_key(1), 'x', np.arange(3), 0)\n"
        "import numba.np.arraymath as am\n"
        "print('scipy.linalg' in sys.modules, am._HAVE_BLAS)\n"
        "from sim.core.jit import njit\n"
        "f = njit(lambda a: np.dot(a, a))\n"
        "print(f(np.arange(3.0)), 'scipy.linalg' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "5.0", "True"]


def test_help_and_argument_checks_import_no_hydra_numba_or_pandas():
    """`pml-sim --help` and the command line's own checks stay light."""
    code = (
        "import sys\n"
        "sys.argv = ['pml-sim', '--help']\n"
        "from sim.app.cli import main\n"
        "main()\n"
        "heavy = ('hydra', 'omegaconf', 'numba', 'pandas', 'pyarrow', 'scipy', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Config groups" in out.stdout
    assert out.stderr.strip() == "[]"


# ----------------------------------------------------------------------------- copying


def _same_tree(a, b, path="") -> None:
    """Two OmegaConf trees alike node by node: class, metadata (every attribute, equal
    and of the same type, the mutable ones not shared), flags and values."""
    from omegaconf import DictConfig, ListConfig

    assert type(a) is type(b), path
    ma, mb = a.__dict__["_metadata"], b.__dict__["_metadata"]
    assert ma is not mb and type(ma) is type(mb), path
    assert ma.__dict__.keys() == mb.__dict__.keys(), path
    for k, va in ma.__dict__.items():
        vb = mb.__dict__[k]
        assert type(va) is type(vb) and va == vb, (path, k)
        if isinstance(va, dict):
            assert va is not vb, (path, k)
    if isinstance(a, DictConfig | ListConfig):
        assert a.__dict__["_flags_cache"] == b.__dict__["_flags_cache"], path
        ca, cb = a.__dict__["_content"], b.__dict__["_content"]
        assert type(ca) is type(cb), path
        if isinstance(ca, dict):
            assert list(ca) == list(cb), path
            for k in ca:
                assert cb[k].__dict__["_parent"] is b, path
                _same_tree(ca[k], cb[k], f"{path}.{k}")
        elif isinstance(ca, list):
            assert len(ca) == len(cb), path
            for i, (x, y) in enumerate(zip(ca, cb, strict=True)):
                _same_tree(x, y, f"{path}[{i}]")
        else:
            assert ca == cb, path
    else:
        va, vb = a.__dict__["_val"], b.__dict__["_val"]
        assert type(va) is type(vb) and (va == vb or va != va), path  # NaN equals NaN


def test_metadata_deepcopy_is_the_generic_copy(monkeypatch):
    """The direct Metadata.__deepcopy__ gives what copy.deepcopy's generic path gives,
    on shipped configs composed (typed schema nodes, lists, interpolations; the default,
    the experiments with the most sections, a trial design, another model and economics
    set), and composing with it gives the same config."""
    import copy

    from omegaconf.base import Metadata

    from sim.config import fastcopy
    from sim.config.load import compose_node, to_object

    fastcopy.install()
    assert Metadata.__dict__["__deepcopy__"] is fastcopy.metadata_deepcopy
    sets = [
        [],
        ["+experiment=psa"],
        ["+experiment=calibrate"],
        ["+trial=pd1_vs_soc"],
        ["model=gross", "economics=us_payer"],
    ]
    for overrides in sets:
        node = compose_node(overrides)
        fast = copy.deepcopy(node)
        fast_yaml, fast_obj = OmegaConf.to_yaml(node), to_object(node)
        with monkeypatch.context() as m:
            m.delattr(Metadata, "__deepcopy__")
            generic = copy.deepcopy(node)
            composed = compose_node(overrides)  # every merge copied the generic way
            _same_tree(generic, fast, str(overrides))
            assert OmegaConf.to_yaml(composed) == fast_yaml
            assert to_object(composed) == fast_obj
    # and the check can fail
    other = OmegaConf.create({"a": {"b": 1}})
    twin = copy.deepcopy(other)
    twin.a.b = 2
    with pytest.raises(AssertionError):
        _same_tree(other, twin)


def test_every_shipped_config_resolves_to_its_unresolved_text():
    """The premise of `hydra_app.resolved_yaml` reusing Hydra's .hydra/config.yaml: a
    config with no interpolation resolves to the same text. Every shipped composition
    has none in its task config (the text test below catches one that would)."""
    from sim.config.load import compose_node

    fastyaml.install()
    for overrides in _compositions():
        node = compose_node(overrides)
        node = OmegaConf.masked_copy(node, [k for k in node if k != "hydra"])
        unresolved = OmegaConf.to_yaml(node)
        assert "${" not in unresolved, overrides
        assert OmegaConf.to_yaml(node, resolve=True) == unresolved, overrides


def test_resolved_yaml_reads_hydras_text_only_without_interpolations(tmp_path):
    """The saved unresolved text is returned as it stands when it holds no `${`; with an
    interpolation, or without the file, the node is resolved."""
    from sim.app.hydra_app import resolved_yaml

    node = OmegaConf.create({"horizon_days": 365.0, "output": {"survival_day": 200.0}})
    saved = tmp_path / "config.yaml"
    saved.write_text("marker: from the file\n")
    assert resolved_yaml(node, saved) == "marker: from the file\n"
    assert resolved_yaml(node, tmp_path / "missing.yaml") == OmegaConf.to_yaml(node)
    node = OmegaConf.create({"horizon_days": 365.0, "output": {"survival_day": "${horizon_days}"}})
    saved.write_text(OmegaConf.to_yaml(node))
    assert "survival_day: 365.0" in resolved_yaml(node, saved)


def test_a_run_with_an_interpolation_records_the_resolved_value(tmp_path):
    """End to end: an override that interpolates another key is resolved in the run
    folder's config.yaml (Hydra's own copy keeps the interpolation)."""
    from cli_helper import pml_sim

    run = tmp_path / "run"
    out = pml_sim(
        "strategy=soc",
        "cohort.n=50",
        "output.plots=false",
        "output.report=false",
        "uncertainty=none",
        "horizon_days=200",
        "output.survival_day=${horizon_days}",
        f"hydra.run.dir={run}",
    )
    assert out.returncode == 0, out.stderr
    assert "survival_day: ${horizon_days}" in (run / ".hydra" / "config.yaml").read_text()
    text = (run / "config.yaml").read_text()
    assert "survival_day: 200.0" in text and "${" not in text
