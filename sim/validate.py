"""Range and name checks that the typed schema cannot express.

Each failure raises `ConfigError(key, allowed)`, which the CLI prints as one line,
e.g. `cohort.n: must be an integer >= 1, got -5`.
"""

from __future__ import annotations

import math

from sim.config import CONDITIONS, ConfigError, Dist, RunConfig
from sim.strategies import MARKERS, OPS, TRIGGERS
from sim.therapies import LEVERS

ENGINES = ("batch", "reference")
TASKS = ("simulate", "study", "calibrate", "economics", "trial")
EXECUTORS = ("inprocess", "processes", "dask")
DISTS = ("normal", "lognormal", "beta")


def _num(key: str, value: float, low: float = -math.inf, high: float = math.inf, *, open_low=False):
    ok = (value > low if open_low else value >= low) and value <= high and not math.isnan(value)
    if not ok:
        if high == math.inf:
            allowed = f"> {low}" if open_low else f">= {low}"
        else:
            allowed = f"in ({low}, {high}]" if open_low else f"in [{low}, {high}]"
        raise ConfigError(key, f"must be {allowed}, got {value}")


def _prob(key: str, value: float) -> None:
    _num(key, value, 0.0, 1.0)


def _name(key: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ConfigError(key, f"unknown name {value!r}; allowed: {', '.join(sorted(allowed))}")


def _dist(key: str, d: Dist) -> None:
    _name(f"{key}.kind", d.kind, DISTS)
    if d.low > d.high:
        raise ConfigError(f"{key}.low", f"must be <= {key}.high ({d.high}), got {d.low}")
    if d.kind == "normal":
        _num(f"{key}.sd", d.sd, 0.0)
    elif d.kind == "lognormal":
        _num(f"{key}.mean", d.mean, 0.0, open_low=True)
        _num(f"{key}.sd", d.sd, 1.0)
    else:
        _num(f"{key}.mean", d.mean, 0.0, 1.0, open_low=True)
        if d.mean >= 1.0:
            raise ConfigError(f"{key}.mean", f"beta mean must be in (0, 1), got {d.mean}")
        if not 0.0 < d.sd**2 < d.mean * (1.0 - d.mean):
            limit = math.sqrt(d.mean * (1.0 - d.mean))
            raise ConfigError(f"{key}.sd", f"beta sd must be in (0, {limit:.4g}), got {d.sd}")


def validate(cfg: RunConfig) -> None:
    if cfg.seed < 0:
        raise ConfigError("seed", f"must be an integer >= 0, got {cfg.seed}")
    _num("horizon_days", cfg.horizon_days, 0.0, open_low=True)

    # cohort
    if cfg.cohort.n < 1:
        raise ConfigError("cohort.n", f"must be an integer >= 1, got {cfg.cohort.n}")
    for c, w in cfg.cohort.mix.items():
        _name(f"cohort.mix.{c}", c, CONDITIONS)
        _num(f"cohort.mix.{c}", w, 0.0)
    if sum(cfg.cohort.mix.values()) <= 0.0:
        raise ConfigError(
            "cohort.mix", f"needs a positive weight for at least one of: {', '.join(CONDITIONS)}"
        )

    # model
    m = cfg.model
    _num("model.dt_days", m.dt_days, 0.0, 30.0, open_low=True)
    for key in (
        "viral_net_growth_log10_per_day",
        "viral_kill_log10_per_day",
        "effector_rate_per_day",
        "cd4_half_saturation",
        "damage_rate_per_day",
        "death_hazard_max_per_day",
        "iris_hazard_scale",
        "iris_damage_rate_per_day",
        "iris_death_hazard_per_day",
        "iris_duration_days",
        "iris_diagnosis_delay_days",
        "transferred_effector_half_life_days",
        "t_cell_function_logit_sd",
    ):
        _num(f"model.{key}", getattr(m, key), 0.0)
    for key in (
        "natalizumab_half_life_days",
        "natalizumab_half_block",
        "natalizumab_desaturation_half_life_days",
        "iris_rate_ref",
        "cd4_max",
    ):
        _num(f"model.{key}", getattr(m, key), 0.0, open_low=True)
    for key in (
        "viral_growth_gsd",
        "viral_kill_gsd",
        "damage_gsd",
        "frailty_gsd",
        "iris_susceptibility_gsd",
        "iris_duration_gsd",
        "cytokine_response_gsd",
    ):
        _num(f"model.{key}", getattr(m, key), 1.0)
    _num("model.cd4_new_lymphocyte_share", m.cd4_new_lymphocyte_share, 0.0, 1.0, open_low=True)
    _num("model.death_damage_half", m.death_damage_half, 0.0, 1.0, open_low=True)
    _prob("model.iris_cytokine_weight", m.iris_cytokine_weight)
    if m.viral_activity_ref_log10 <= m.viral_activity_floor_log10:
        raise ConfigError(
            "model.viral_activity_ref_log10",
            f"must be > model.viral_activity_floor_log10 ({m.viral_activity_floor_log10})",
        )
    if m.jcv_max_log10 <= m.jcv_min_log10:
        raise ConfigError(
            "model.jcv_max_log10", f"must be > model.jcv_min_log10 ({m.jcv_min_log10})"
        )
    if list(m.mrs_cutpoints) != sorted(m.mrs_cutpoints) or len(m.mrs_cutpoints) != 5:
        raise ConfigError("model.mrs_cutpoints", "must be 5 increasing damage values (mRS 1..5)")
    for c in CONDITIONS:
        if c not in m.conditions:
            raise ConfigError(f"model.conditions.{c}", "missing: every condition needs parameters")
    for c, p in m.conditions.items():
        key = f"model.conditions.{c}"
        _name(key, c, CONDITIONS)
        for d in ("age", "cd4", "cd4_fraction", "csf_jcv_log10", "lesion_burden"):
            _dist(f"{key}.{d}", getattr(p, d))
        _prob(f"{key}.female_fraction", p.female_fraction)
        _num(f"{key}.t_cell_function", p.t_cell_function, 0.0, 1.0, open_low=True)
        if p.t_cell_function >= 1.0:
            raise ConfigError(f"{key}.t_cell_function", "must be in (0, 1)")
        _num(f"{key}.cd4_ceiling", p.cd4_ceiling, 0.0)
        _num(f"{key}.ceiling_gsd", p.ceiling_gsd, 1.0)
        _num(f"{key}.recovery_gsd", p.recovery_gsd, 1.0)
        _num(f"{key}.recovery_half_life_days", p.recovery_half_life_days, 0.0, open_low=True)
        _num(f"{key}.excess_mortality_per_year", p.excess_mortality_per_year, 0.0)
        for i, t in enumerate(p.soc_therapies):
            _name(f"{key}.soc_therapies[{i}]", t, cfg.therapies)

    # therapies
    if not cfg.therapies:
        raise ConfigError("therapies", "the therapy catalog is empty")
    for name, t in cfg.therapies.items():
        key = f"therapies.{name}"
        for i, c in enumerate(t.applies_to):
            _name(f"{key}.applies_to[{i}]", c, (*CONDITIONS, "all"))
        for lever, value in t.levers.items():
            _name(f"{key}.levers.{lever}", lever, LEVERS)
            lo, hi = LEVERS[lever][2]
            _num(f"{key}.levers.{lever}", value, lo, hi)
        _num(f"{key}.onset_days", t.onset_days, 0.0)
        if t.n_doses < 1:
            raise ConfigError(f"{key}.n_doses", f"must be an integer >= 1, got {t.n_doses}")
        _num(f"{key}.dose_interval_days", t.dose_interval_days, 0.0)
        if t.course_days is not None:
            _num(f"{key}.course_days", t.course_days, 0.0, open_low=True)
        for j, se in enumerate(t.side_effects):
            _prob(f"{key}.side_effects[{j}].probability", se.probability)
            _num(f"{key}.side_effects[{j}].onset_days", se.onset_days, 0.0)

    # strategies
    if not cfg.strategy:
        raise ConfigError("strategy", "select at least one strategy, e.g. strategy=soc")
    visit_days = set(cfg.monitoring.visit_days)
    for sname, s in cfg.strategy.items():
        key = f"strategy.{sname}"
        for i, x in enumerate(s.therapies):
            _name(f"{key}.therapies[{i}].therapy", x.therapy, cfg.therapies)
            _num(f"{key}.therapies[{i}].start_day", x.start_day, 0.0)
            if x.stop_day is not None and x.stop_day <= x.start_day:
                raise ConfigError(f"{key}.therapies[{i}].stop_day", "must be > start_day")
        for i, r in enumerate(s.rules):
            rk = f"{key}.rules[{i}]"
            _name(f"{rk}.trigger", r.trigger, TRIGGERS)
            _name(f"{rk}.marker", r.marker, MARKERS)
            _name(f"{rk}.op", r.op, OPS)
            _num(f"{rk}.delay_days", r.delay_days, 0.0)
            if r.trigger == "visit" and r.at_day is not None and r.at_day not in visit_days:
                raise ConfigError(
                    f"{rk}.at_day",
                    f"{r.at_day} is not a visit day; allowed: {sorted(visit_days)} "
                    "(monitoring.visit_days)",
                )
            for j, t in enumerate(r.start):
                _name(f"{rk}.start[{j}]", t, cfg.therapies)
            for j, t in enumerate(r.stop):
                _name(f"{rk}.stop[{j}]", t, cfg.therapies)
            if not r.start and not r.stop:
                raise ConfigError(rk, "a rule needs at least one therapy to start or stop")

    # monitoring
    mon = cfg.monitoring
    for d in mon.visit_days:
        _num("monitoring.visit_days", d, 0.0)
    for key in ("csf_days", "mri_days"):
        for d in getattr(mon, key):
            if d not in visit_days:
                raise ConfigError(
                    f"monitoring.{key}", f"{d} is not in monitoring.visit_days {sorted(visit_days)}"
                )
    for key in ("cd4_cv", "lymphocyte_cv", "csf_jcv_sd_log10", "mri_sd"):
        _num(f"monitoring.{key}", getattr(mon, key), 0.0)
    _num("monitoring.csf_jcv_lod_copies", mon.csf_jcv_lod_copies, 0.0, open_low=True)

    # engine and output
    _name("engine.kind", cfg.engine.kind, ENGINES)
    if cfg.engine.chunk_size < 1:
        raise ConfigError(
            "engine.chunk_size", f"must be an integer >= 1, got {cfg.engine.chunk_size}"
        )
    _num("output.survival_day", cfg.output.survival_day, 0.0, open_low=True)
    _name("executor.kind", cfg.executor.kind, EXECUTORS)
    if cfg.executor.workers < 1:
        raise ConfigError(
            "executor.workers", f"must be an integer >= 1, got {cfg.executor.workers}"
        )
    _validate_task(cfg)


def _validate_task(cfg: RunConfig) -> None:
    """Targets, virtual study and calibration settings (only checked when used)."""
    from sim.calibrate import check_params
    from sim.targets import check_targets

    _name("task", cfg.task, TASKS)
    if cfg.task == "simulate":
        return
    if cfg.task == "economics":
        from sim.economics.validate import validate_economics

        validate_economics(cfg)
        return
    if cfg.task == "trial":
        from sim.trial.validate import check_trial

        check_trial(cfg)
        return
    check_targets(cfg.targets.items)
    ids = {t.id for t in cfg.targets.items}
    for i, tid in enumerate(cfg.study.targets):
        _name(f"study.targets[{i}]", tid, ids)
    st = cfg.study
    if st.study_n < 2:
        raise ConfigError("study.study_n", f"must be an integer >= 2, got {st.study_n}")
    if st.replicates < 1:
        raise ConfigError("study.replicates", f"must be an integer >= 1, got {st.replicates}")
    _prob("study.csf_month1_available", st.csf_month1_available)
    _num("study.lymphocyte_rise", st.lymphocyte_rise, 0.0, open_low=True)
    _num("study.cd4_rise", st.cd4_rise, 0.0, open_low=True)
    _num("study.csf_jcv_fall_log10", st.csf_jcv_fall_log10, 0.0)
    csf_days = set(cfg.monitoring.csf_days)
    for i, t in enumerate(cfg.targets.items):
        if t.quantity == "csf_jcv_change_log10" and t.at_days not in csf_days:
            raise ConfigError(
                f"targets.items[{i}].at_days",
                f"{t.at_days} is not a lumbar-puncture day {sorted(csf_days)}"
                " (monitoring.csf_days)",
            )
    if cfg.task == "calibrate":
        check_params(cfg)
