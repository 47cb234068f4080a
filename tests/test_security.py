"""A config file cannot run code: callbacks, `_target_` and logging factories are
refused before Hydra acts on them (the probes of the foundation issue)."""

from __future__ import annotations

import pytest
from cli_helper import pml_sim
from omegaconf import OmegaConf

from sim.config import ConfigError
from sim.config.guard import check_composed

PROBES = {
    "os_system": ("_target_: os.system", "command: touch {marker}"),
    "builtins_open": ("_target_: builtins.open", "file: {marker}\n      mode: w"),
}


def _write_probe(folder, name, marker):
    target, arg = PROBES[name]
    (folder / "hooks").mkdir(parents=True, exist_ok=True)
    (folder / "hooks" / f"{name}.yaml").write_text(
        "# @package _global_\nhydra:\n  callbacks:\n    evil:\n"
        f"      {target}\n      {arg.format(marker=marker)}\n"
    )


@pytest.mark.parametrize("probe", sorted(PROBES))
@pytest.mark.parametrize("mode", ["run", "multirun", "cfg"])
def test_callbacks_in_a_user_config_are_refused(tmp_path, probe, mode):
    marker = tmp_path / "PWNED"
    _write_probe(tmp_path / "conf", probe, marker)
    args = ["--config-dir", str(tmp_path / "conf"), f"+hooks={probe}", "cohort.n=20"]
    if mode == "multirun":
        args = ["-m", *args, "seed=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    elif mode == "cfg":
        args = [*args, "--cfg", "job"]
    else:
        args = [*args, f"hydra.run.dir={tmp_path / 'run'}"]
    r = pml_sim(*args)
    assert not marker.exists(), "the probe ran"
    assert r.returncode == 2, r.stderr
    assert "hydra.callbacks.evil: callbacks are not allowed" in r.stderr
    assert "Traceback" not in r.stderr


def test_logging_factory_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    hooks = tmp_path / "conf" / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "log.yaml").write_text(
        "# @package _global_\nhydra:\n  job_logging:\n    handlers:\n      evil:\n"
        f"        (): os.system\n        command: touch {marker}\n"
    )
    r = pml_sim(
        "--config-dir",
        str(tmp_path / "conf"),
        "+hooks=log",
        "cohort.n=20",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert r.returncode == 2 and not marker.exists()
    assert "logging factories" in r.stderr


def test_target_anywhere_in_the_job_config_is_refused():
    node = OmegaConf.create({"cohort": {"n": 5, "x": {"_target_": "os.system"}}})
    with pytest.raises(ConfigError, match=r"cohort\.x\._target_"):
        check_composed(node)
    launcher = OmegaConf.create(
        {"hydra": {"launcher": {"_target_": "hydra_plugins.x.Launcher"}, "callbacks": {}}}
    )
    check_composed(launcher)  # Hydra loads launchers only from hydra_plugins: allowed
