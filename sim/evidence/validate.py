"""Checks of the evidence sections: targets, the virtual study and calibration."""

from __future__ import annotations

from sim.config import ConfigError, RunConfig
from sim.config.checks import number, one_of, probability
from sim.evidence.calibrate import check_params
from sim.evidence.targets import check_targets


def validate_study(cfg: RunConfig) -> None:
    """Targets and the virtual study's settings (task=study, and behind calibrate)."""
    check_targets(cfg.targets.items)
    ids = {t.id for t in cfg.targets.items}
    for i, tid in enumerate(cfg.study.targets):
        one_of(f"study.targets[{i}]", tid, ids)
    st = cfg.study
    if st.study_n < 2:
        raise ConfigError("study.study_n", f"must be an integer >= 2, got {st.study_n}")
    if st.replicates < 1:
        raise ConfigError("study.replicates", f"must be an integer >= 1, got {st.replicates}")
    probability("study.csf_month1_available", st.csf_month1_available)
    number("study.lymphocyte_rise", st.lymphocyte_rise, 0.0, open_low=True)
    number("study.cd4_rise", st.cd4_rise, 0.0, open_low=True)
    number("study.csf_jcv_fall_log10", st.csf_jcv_fall_log10, 0.0)
    csf_days = set(cfg.monitoring.csf_days)
    for i, t in enumerate(cfg.targets.items):
        if t.quantity == "csf_jcv_change_log10" and t.at_days not in csf_days:
            raise ConfigError(
                f"targets.items[{i}].at_days",
                f"{t.at_days} is not a lumbar-puncture day {sorted(csf_days)}"
                " (monitoring.csf_days)",
            )


def validate_calibration(cfg: RunConfig) -> None:
    validate_study(cfg)
    check_params(cfg)
