"""The kept parameter sets of a calibrated model (`conf/model/<name>_ensemble.csv`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.config.errors import ConfigError
from sim.config.load import config_dir


def load_ensemble(name: str = "calibrated", conf_model_dir: Path | None = None) -> pd.DataFrame:
    """The kept parameter sets of model=<name> (one row per set, columns = dotted keys);
    or, if `name` is not a model, the draws of conf/model/<name>.csv (e.g.
    calibrated_posterior: the Bayesian calibration's posterior sample).

    For uncertainty analyses: apply a row with `sim.evidence.targets.with_values(cfg, row)`.
    """
    folder = conf_model_dir or config_dir() / "model"
    path = folder / f"{name}_ensemble.csv"
    if not path.is_file() and (folder / f"{name}.csv").is_file():
        # a named set of parameter draws, e.g. calibrated_posterior (the posterior sample)
        path = folder / f"{name}.csv"
    if not path.is_file():
        raise ConfigError("model", f"no ensemble for model={name} ({path} not found)")
    return pd.read_csv(path).drop(columns=["draw"], errors="ignore")
