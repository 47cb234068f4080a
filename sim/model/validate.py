"""Checks of the model's config sections that the typed schema cannot express: run
length, cohort, model parameters, therapy catalog, strategies and monitoring."""

from __future__ import annotations

import math
from dataclasses import fields

from sim.config import CONDITIONS, ConfigError, RunConfig
from sim.config.checks import distribution, number, one_of, probability
from sim.model.cohort import GROWTH_KINDS, LESION_MODELS
from sim.model.rules import MARKERS, OPS, TRIGGERS
from sim.model.therapies import LEVERS

MAX_HORIZON_DAYS = 36525.0  # 100 years: longer is a slip (e.g. inf), not a scenario
MAX_HILL = 50.0  # Hill / power exponents beyond this are step functions; nothing gains
MAX_LOG_HR = 3.0  # a hazard ratio of e^3 = 20 per decade (or for women) is beyond any cohort


def validate_model(cfg: RunConfig) -> None:
    """Raise ConfigError (key, allowed range) for the first bad value of these sections."""
    if cfg.seed < 0:
        raise ConfigError("seed", f"must be an integer >= 0, got {cfg.seed}")
    number("horizon_days", cfg.horizon_days, 0.0, MAX_HORIZON_DAYS, open_low=True)

    # cohort
    if cfg.cohort.n < 1:
        raise ConfigError("cohort.n", f"must be an integer >= 1, got {cfg.cohort.n}")
    for c, w in cfg.cohort.mix.items():
        one_of(f"cohort.mix.{c}", c, CONDITIONS)
        number(f"cohort.mix.{c}", w, 0.0)
    if sum(cfg.cohort.mix.values()) <= 0.0:
        raise ConfigError(
            "cohort.mix", f"needs a positive weight for at least one of: {', '.join(CONDITIONS)}"
        )

    # model
    m = cfg.model
    number("model.dt_days", m.dt_days, 0.0, 30.0, open_low=True)
    number("model.dt_first_days", m.dt_first_days, 0.0, 30.0, open_low=True)
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
        number(f"model.{key}", getattr(m, key), 0.0)
    for key in (
        "natalizumab_half_life_days",
        "natalizumab_half_block",
        "natalizumab_desaturation_half_life_days",
        "iris_rate_ref",
        "cd4_max",
    ):
        number(f"model.{key}", getattr(m, key), 0.0, open_low=True)
    for key in (
        "viral_growth_gsd",
        "viral_kill_gsd",
        "damage_gsd",
        "frailty_gsd",
        "iris_susceptibility_gsd",
        "iris_duration_gsd",
        "cytokine_response_gsd",
    ):
        number(f"model.{key}", getattr(m, key), 1.0)
    for key in (
        "frailty_age_log_hr_per_decade",
        "frailty_female_log_hr",
        "recovery_age_log_rr_per_decade",
        "t_cell_function_age_logit_per_decade",
        "t_cell_function_female_logit",
    ):
        number(f"model.{key}", getattr(m, key), -MAX_LOG_HR, MAX_LOG_HR)
    one_of("model.viral_growth_parametrisation", m.viral_growth_parametrisation, GROWTH_KINDS)
    number("model.viral_gross_growth_log10_per_day", m.viral_gross_growth_log10_per_day, 0.0)
    number("model.cd4_new_lymphocyte_share", m.cd4_new_lymphocyte_share, 0.0, 1.0, open_low=True)
    number("model.death_damage_half", m.death_damage_half, 0.0, 1.0, open_low=True)
    probability("model.iris_cytokine_weight", m.iris_cytokine_weight)
    probability("model.viral_growth_coupling", m.viral_growth_coupling)
    probability("model.death_activity_weight", m.death_activity_weight)
    one_of("model.lesion_burden_model", m.lesion_burden_model, LESION_MODELS)
    if m.lesion_burden_model == "detection_lag":
        onset = m.lesion_burden_at_onset
        distribution("model.lesion_burden_at_onset", onset)
        if onset.low < 0.0 or onset.high >= 1.0:
            raise ConfigError(
                "model.lesion_burden_at_onset",
                f"low/high must lie in [0, 1), got {onset.low}/{onset.high}",
            )
        number("model.surveillance_burden_ratio", m.surveillance_burden_ratio, 0.0, 1.0)
    if m.viral_activity_ref_log10 <= m.viral_activity_floor_log10:
        raise ConfigError(
            "model.viral_activity_ref_log10",
            f"must be > model.viral_activity_floor_log10 ({m.viral_activity_floor_log10})",
        )
    if m.jcv_max_log10 <= m.jcv_min_log10:
        raise ConfigError(
            "model.jcv_max_log10", f"must be > model.jcv_min_log10 ({m.jcv_min_log10})"
        )
    for f in fields(m):  # no parameter may be NaN or infinite
        value = getattr(m, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"model.{f.name}", f"must be a finite number, got {value}")
    for key in ("death_damage_hill", "iris_rate_exponent", "natalizumab_hill"):
        number(f"model.{key}", getattr(m, key), 0.0, MAX_HILL, open_low=True)
    cuts = list(m.mrs_cutpoints)
    increasing = all(a < b for a, b in zip(cuts, cuts[1:], strict=False))
    if len(cuts) != 5 or not increasing or cuts[0] <= 0.0 or cuts[-1] > 1.0:
        raise ConfigError(
            "model.mrs_cutpoints",
            f"must be 5 strictly increasing damage values in (0, 1] (mRS 1..5), got {cuts}",
        )
    for c in CONDITIONS:
        if c not in m.conditions:
            raise ConfigError(f"model.conditions.{c}", "missing: every condition needs parameters")
    for c, p in m.conditions.items():
        key = f"model.conditions.{c}"
        one_of(key, c, CONDITIONS)
        for d in ("age", "cd4", "cd4_fraction", "csf_jcv_log10", "lesion_burden"):
            distribution(f"{key}.{d}", getattr(p, d))
        if m.lesion_burden_model == "detection_lag":
            for d in ("diagnostic_delay_days", "surveillance_delay_days"):
                distribution(f"{key}.{d}", getattr(p, d))
                if getattr(p, d).low < 0.0:
                    raise ConfigError(f"{key}.{d}.low", "a delay is >= 0 days")
            probability(f"{key}.surveillance_fraction", p.surveillance_fraction)
        probability(f"{key}.female_fraction", p.female_fraction)
        number(f"{key}.t_cell_function", p.t_cell_function, 0.0, 1.0, open_low=True)
        if p.t_cell_function >= 1.0:
            raise ConfigError(f"{key}.t_cell_function", "must be in (0, 1)")
        number(f"{key}.cd4_ceiling", p.cd4_ceiling, 0.0)
        number(f"{key}.ceiling_gsd", p.ceiling_gsd, 1.0)
        number(f"{key}.recovery_gsd", p.recovery_gsd, 1.0)
        number(f"{key}.recovery_half_life_days", p.recovery_half_life_days, 0.0, open_low=True)
        number(f"{key}.excess_mortality_per_year", p.excess_mortality_per_year, 0.0)
        for i, t in enumerate(p.soc_therapies):
            one_of(f"{key}.soc_therapies[{i}]", t, cfg.therapies)

    # therapies
    if not cfg.therapies:
        raise ConfigError("therapies", "the therapy catalog is empty")
    for name, t in cfg.therapies.items():
        key = f"therapies.{name}"
        for i, c in enumerate(t.applies_to):
            one_of(f"{key}.applies_to[{i}]", c, (*CONDITIONS, "all"))
        for lever, value in t.levers.items():
            one_of(f"{key}.levers.{lever}", lever, LEVERS)
            lo, hi = LEVERS[lever][2]
            number(f"{key}.levers.{lever}", value, lo, hi)
        number(f"{key}.onset_days", t.onset_days, 0.0)
        if t.n_doses < 1:
            raise ConfigError(f"{key}.n_doses", f"must be an integer >= 1, got {t.n_doses}")
        number(f"{key}.dose_interval_days", t.dose_interval_days, 0.0)
        if t.course_days is not None:
            number(f"{key}.course_days", t.course_days, 0.0, open_low=True)
        number(f"{key}.taper_days", t.taper_days, 0.0)
        if t.taper_days > 0.0:
            if t.course_days is None:
                raise ConfigError(
                    f"{key}.taper_days", "a taper needs a planned course: set course_days"
                )
            if t.onset_days + t.taper_days > t.course_days:
                raise ConfigError(
                    f"{key}.taper_days",
                    f"must be <= course_days - onset_days = {t.course_days - t.onset_days:g} "
                    f"(the onset ramp and the taper may not overlap), got {t.taper_days:g}",
                )
        seen: set[str] = set()
        for j, se in enumerate(t.side_effects):
            # the name keys the side effect's random numbers (sim.core.rng): unique
            if not se.name or se.name in seen:
                what = "empty" if not se.name else f"{se.name!r} appears twice"
                raise ConfigError(
                    f"{key}.side_effects[{j}].name", f"must be a unique non-empty name; {what}"
                )
            seen.add(se.name)
            probability(f"{key}.side_effects[{j}].probability", se.probability)
            number(f"{key}.side_effects[{j}].onset_days", se.onset_days, 0.0)

    # strategies
    if not cfg.strategy:
        raise ConfigError("strategy", "select at least one strategy, e.g. strategy=soc")
    visit_days = set(cfg.monitoring.visit_days)
    for sname, s in cfg.strategy.items():
        key = f"strategy.{sname}"
        for i, x in enumerate(s.therapies):
            one_of(f"{key}.therapies[{i}].therapy", x.therapy, cfg.therapies)
            number(f"{key}.therapies[{i}].start_day", x.start_day, 0.0)
            if x.stop_day is not None and x.stop_day <= x.start_day:
                raise ConfigError(f"{key}.therapies[{i}].stop_day", "must be > start_day")
        for i, r in enumerate(s.rules):
            rk = f"{key}.rules[{i}]"
            one_of(f"{rk}.trigger", r.trigger, TRIGGERS)
            one_of(f"{rk}.marker", r.marker, MARKERS)
            one_of(f"{rk}.op", r.op, OPS)
            number(f"{rk}.delay_days", r.delay_days, 0.0)
            if r.trigger == "iris_diagnosis" and (r.marker != "always" or r.at_day is not None):
                raise ConfigError(
                    rk,
                    "a rule with trigger: iris_diagnosis acts at every IRIS diagnosis: "
                    "no at_day, and marker must be 'always' (nothing is measured then)",
                )
            if r.trigger == "visit" and r.at_day is not None and r.at_day not in visit_days:
                raise ConfigError(
                    f"{rk}.at_day",
                    f"{r.at_day} is not a visit day; allowed: {sorted(visit_days)} "
                    "(monitoring.visit_days)",
                )
            for j, t in enumerate(r.start):
                one_of(f"{rk}.start[{j}]", t, cfg.therapies)
            for j, t in enumerate(r.stop):
                one_of(f"{rk}.stop[{j}]", t, cfg.therapies)
            if not r.start and not r.stop:
                raise ConfigError(rk, "a rule needs at least one therapy to start or stop")

    # monitoring
    mon = cfg.monitoring
    for d in mon.visit_days:
        number("monitoring.visit_days", d, 0.0)
    if len(visit_days) < len(mon.visit_days):  # the day keys the visit's assay noise
        twice = sorted({d for d in mon.visit_days if mon.visit_days.count(d) > 1})
        raise ConfigError("monitoring.visit_days", f"days must be distinct, got {twice} twice")
    for key in ("csf_days", "mri_days"):
        for d in getattr(mon, key):
            if d not in visit_days:
                raise ConfigError(
                    f"monitoring.{key}", f"{d} is not in monitoring.visit_days {sorted(visit_days)}"
                )
    for key in ("cd4_cv", "lymphocyte_cv", "csf_jcv_sd_log10", "mri_sd"):
        number(f"monitoring.{key}", getattr(mon, key), 0.0)
    number("monitoring.csf_jcv_lod_copies", mon.csf_jcv_lod_copies, 0.0, open_low=True)
