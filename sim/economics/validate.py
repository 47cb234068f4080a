"""Checks of the economics config: each failure names the key and what is allowed.

Run at start (before anything is simulated or written), so a negative price, a utility
above 1 or an unknown distribution never produces a half-finished evaluation.
"""

from __future__ import annotations

import math

import numpy as np

from sim.config.checks import number, one_of
from sim.config.economics import MRS_LEVELS
from sim.config.paths import get_value
from sim.config.schema import CONDITIONS, ConfigError, RunConfig
from sim.economics.discount import DAYS_PER_YEAR
from sim.economics.inflation import validate_prices
from sim.economics.sampling import DIST_KINDS, correlation_matrix
from sim.economics.societal import CARE_METHODS, METHODS, PERSPECTIVES, SOCIETAL

UTILITY_MIN = -1.0  # worse-than-death states exist (EQ-5D-3L UK tariff reaches -0.594)


def _levels(key: str, values: list[float], low: float, high: float) -> None:
    if len(values) != MRS_LEVELS:
        raise ConfigError(key, f"needs {MRS_LEVELS} values (mRS 0..5), got {len(values)}")
    for i, v in enumerate(values):
        number(f"{key}.{i}", v, low, high)


def _param(key: str, p, cfg: RunConfig) -> None:
    one_of(f"{key}.kind", p.kind, DIST_KINDS)
    if p.kind == "dirichlet":
        if not p.keys or len(p.keys) != len(p.counts):
            raise ConfigError(f"{key}.counts", "dirichlet needs one count per entry of keys")
        for i, (k, c) in enumerate(zip(p.keys, p.counts, strict=True)):
            get_value(cfg, k)
            number(f"{key}.counts.{i}", c, 0.0, open_low=True)
        return
    get_value(cfg, p.key)  # the key names a number of the config
    if p.kind == "beta":
        if not 0.0 < p.mean < 1.0:
            raise ConfigError(f"{key}.mean", f"beta mean must be in (0, 1), got {p.mean}")
        limit = math.sqrt(p.mean * (1.0 - p.mean))
        if not 0.0 < p.sd < limit:
            raise ConfigError(f"{key}.sd", f"beta sd must be in (0, {limit:.4g}), got {p.sd}")
    elif p.kind == "gamma":
        number(f"{key}.mean", p.mean, 0.0, open_low=True)
        number(f"{key}.sd", p.sd, 0.0, open_low=True)
    elif p.kind == "lognormal":
        number(f"{key}.mean", p.mean, 0.0, open_low=True)
        number(f"{key}.sd", p.sd, 1.0)
    elif p.kind == "normal":
        number(f"{key}.sd", p.sd, 0.0)
        if p.low >= p.high:
            raise ConfigError(f"{key}.low", f"must be < {key}.high ({p.high}), got {p.low}")
    elif p.kind == "uniform":
        if not (math.isfinite(p.low) and math.isfinite(p.high)) or p.low >= p.high:
            raise ConfigError(f"{key}.low", "uniform needs finite low < high")


def validate_economics(cfg: RunConfig) -> None:
    e = cfg.economics
    number("economics.wtp", e.wtp, 0.0)
    for i, w in enumerate(e.wtp_thresholds):
        number(f"economics.wtp_thresholds.{i}", w, 0.0)
    number("economics.discount.costs", e.discount.costs, 0.0, 1.0)
    number("economics.discount.qalys", e.discount.qalys, 0.0, 1.0)
    c = e.costs
    for name in (
        "hospital_day",
        "admission_days",
        "iris_hospital_days",
        "iris_management",
        "visit",
        "mri",
        "lumbar_puncture",
        "side_effect",
        "severe_side_effect",
        "death",
    ):
        number(f"economics.costs.{name}", getattr(c, name), 0.0)
    _levels("economics.costs.long_term_care_per_year", c.long_term_care_per_year, 0.0, math.inf)
    for name in ("condition_care_per_year", "condition_care_acute_per_year"):
        for cond, v in getattr(c, name).items():
            one_of(f"economics.costs.{name}.{cond}", cond, CONDITIONS)
            number(f"economics.costs.{name}.{cond}", v, 0.0)
    number("economics.costs.post_discharge_care_share", c.post_discharge_care_share, 0.0, 1.0)
    unpriced = [t for t in cfg.therapies if t not in c.therapies]
    if unpriced:  # a silent zero would flatter the strategies that use it
        raise ConfigError(
            f"economics.costs.therapies.{unpriced[0]}",
            "every therapy in the catalog needs a price (per_dose / per_day, 0 allowed); "
            f"missing: {', '.join(unpriced)}",
        )
    for t, tc in c.therapies.items():
        one_of(f"economics.costs.therapies.{t}", t, cfg.therapies)
        number(f"economics.costs.therapies.{t}.per_dose", tc.per_dose, 0.0)
        number(f"economics.costs.therapies.{t}.per_day", tc.per_day, 0.0)
    u = e.utilities
    _levels("economics.utilities.by_mrs", u.by_mrs, UTILITY_MIN, 1.0)
    for i in range(1, MRS_LEVELS):
        if u.by_mrs[i] > u.by_mrs[i - 1]:
            raise ConfigError(
                f"economics.utilities.by_mrs.{i}",
                f"must be <= the utility of mRS {i - 1} ({u.by_mrs[i - 1]}): utilities may not "
                f"rise with disability, got {u.by_mrs[i]}",
            )
    number("economics.utilities.iris_decrement", u.iris_decrement, 0.0, 1.0)
    number(
        "economics.utilities.severe_side_effect_qaly_loss", u.severe_side_effect_qaly_loss, 0.0, 1.0
    )
    lt = e.lifetime
    number("economics.lifetime.max_age", lt.max_age, 0.0, open_low=True)
    for sex in ("male", "female"):
        g = getattr(lt, f"background_{sex}")
        number(f"economics.lifetime.background_{sex}.a", g.a, 0.0, open_low=True)
        number(f"economics.lifetime.background_{sex}.b", g.b, 0.0, open_low=True)
    _levels("economics.lifetime.mrs_mortality_hr", lt.mrs_mortality_hr, 0.0, math.inf)
    for cond, v in lt.excess_mortality_per_year.items():
        one_of(f"economics.lifetime.excess_mortality_per_year.{cond}", cond, CONDITIONS)
        number(f"economics.lifetime.excess_mortality_per_year.{cond}", v, 0.0)

    psa = e.psa
    if psa.draws < 0:
        raise ConfigError("economics.psa.draws", f"must be an integer >= 0, got {psa.draws}")
    if psa.n_patients < 2:
        raise ConfigError(
            "economics.psa.n_patients", f"must be an integer >= 2, got {psa.n_patients}"
        )
    number("economics.psa.wtp_max", psa.wtp_max, 0.0, open_low=True)
    if psa.evppi_permutations < 0:
        raise ConfigError(
            "economics.psa.evppi_permutations",
            f"must be an integer >= 0, got {psa.evppi_permutations}",
        )
    if psa.wtp_points < 2:
        raise ConfigError("economics.psa.wtp_points", f"must be >= 2, got {psa.wtp_points}")
    for i, p in enumerate(psa.params):
        _param(f"economics.psa.params.{i}", p, cfg)
    scalar = [p.key for p in psa.params if p.kind != "dirichlet"]
    every = scalar + [k for p in psa.params if p.kind == "dirichlet" for k in p.keys]
    twice = sorted({k for k in every if every.count(k) > 1})
    if twice:  # a key names the parameter's random numbers (sim.economics.sampling)
        raise ConfigError("economics.psa.params", f"each key at most once; twice: {twice}")
    for i, corr in enumerate(psa.correlations):
        key = f"economics.psa.correlations.{i}"
        for side in ("a", "b"):
            one_of(f"{key}.{side}", getattr(corr, side), scalar)
        number(f"{key}.rho", corr.rho, -1.0, 1.0)
    if psa.correlations:
        r = correlation_matrix(psa, scalar)
        if np.linalg.eigvalsh(r).min() <= 0.0:
            raise ConfigError(
                "economics.psa.correlations",
                "the copula correlation matrix (2 sin(pi rho / 6) of each Spearman rho) is "
                "not positive definite; weaken some rho values",
            )
    if psa.draws > 0 and psa.ensemble:
        from sim.config.ensemble import load_ensemble

        ens = load_ensemble(psa.ensemble)  # raises a ConfigError if missing
        for k in ens.columns:
            get_value(cfg, k)

    d = e.dsa
    for i, p in enumerate(d.params):
        key = f"economics.dsa.params.{i}"
        get_value(cfg, p.key)
        if p.low > p.high:
            raise ConfigError(f"{key}.low", f"must be <= {key}.high ({p.high}), got {p.low}")
    for side in ("strategy", "comparator"):
        name = getattr(d, side)
        if name:
            one_of(f"economics.dsa.{side}", name, cfg.strategy)
    if d.strategy and d.strategy == d.comparator:
        raise ConfigError(
            "economics.dsa.comparator", f"must differ from economics.dsa.strategy ({d.strategy})"
        )
    if d.params and len(cfg.strategy) < 2:
        raise ConfigError("economics.dsa.params", "a one-way analysis needs >= 2 strategies")

    _validate_extras(cfg)
    _validate_societal(cfg)
    validate_prices(cfg)


PRICE_UNITS = ("dose", "day")


def _validate_societal(cfg: RunConfig) -> None:
    """economics.perspective and the inputs of the societal perspective."""
    e = cfg.economics
    if e.perspective not in PERSPECTIVES and " " in e.perspective.strip():
        # deprecation path: until 2026-12-06 economics.perspective was the report's text
        import warnings

        warnings.warn(
            "economics.perspective now selects healthcare|societal; free text there is "
            "deprecated: it is read as economics.perspective_label, perspective healthcare",
            FutureWarning,
            stacklevel=2,
        )
        e.perspective_label = e.perspective_label or e.perspective
        e.perspective = "healthcare"
    one_of("economics.perspective", e.perspective, PERSPECTIVES)
    s = e.societal
    key = "economics.societal"
    number(f"{key}.weekly_earnings", s.weekly_earnings, 0.0)
    number(f"{key}.retirement_age", s.retirement_age, 0.0, e.lifetime.max_age)
    if not s.employment_ages or len(s.employment_ages) != len(s.employment_rates):
        raise ConfigError(
            f"{key}.employment_rates",
            f"needs one rate per entry of {key}.employment_ages ({len(s.employment_ages)}), "
            f"got {len(s.employment_rates)}",
        )
    for i, (age, rate) in enumerate(zip(s.employment_ages, s.employment_rates, strict=True)):
        low = s.employment_ages[i - 1] if i else 0.0
        number(f"{key}.employment_ages.{i}", age, low, open_low=i > 0)
        number(f"{key}.employment_rates.{i}", rate, 0.0, 1.0)
    _levels(f"{key}.return_to_work_by_mrs", s.return_to_work_by_mrs, 0.0, 1.0)
    one_of(f"{key}.productivity_method", s.productivity_method, METHODS)
    number(f"{key}.friction_days", s.friction_days, 0.0, cfg.horizon_days)
    _levels(f"{key}.informal_care_hours_per_week", s.informal_care_hours_per_week, 0.0, 168.0)
    number(f"{key}.informal_care_hour_cost", s.informal_care_hour_cost, 0.0)
    one_of(f"{key}.informal_care_method", s.informal_care_method, CARE_METHODS)
    number(f"{key}.carer_hour_earnings", s.carer_hour_earnings, 0.0)
    if e.perspective != SOCIETAL:
        return
    if s.weekly_earnings == 0.0 and s.informal_care_hour_cost == 0.0:
        raise ConfigError(
            "economics.perspective",
            f"societal needs the inputs of economics.societal (earnings, informal care); "
            f"the set {e.name!r} has none: use healthcare or give them",
        )
    if s.informal_care_method == "opportunity" and s.carer_hour_earnings == 0.0:
        raise ConfigError(
            f"{key}.carer_hour_earnings",
            f"must be > 0 with {key}.informal_care_method=opportunity (the carer's gross "
            f"hourly earnings, {e.currency} per hour); the set {e.name!r} gives none",
        )


def _validate_extras(cfg: RunConfig) -> None:
    """Threshold prices, budget impact and EVSI (issue 15's features)."""
    e = cfg.economics
    for i, item in enumerate(e.threshold_prices):
        key = f"economics.threshold_prices.{i}"
        one_of(f"{key}.therapy", item.therapy, e.costs.therapies)
        one_of(f"{key}.per", item.per, PRICE_UNITS)
        if item.comparator and item.comparator == item.strategy:
            raise ConfigError(f"{key}.comparator", f"must differ from {key}.strategy")
    sv = e.severity
    if sv.current_strategy:
        one_of("economics.severity.current_strategy", sv.current_strategy, cfg.strategy)
    for i, st in enumerate(sv.steps):
        key = f"economics.severity.steps.{i}"
        number(f"{key}.absolute", st.absolute, 0.0)
        number(f"{key}.proportional", st.proportional, 0.0, 1.0)
        number(f"{key}.weight", st.weight, 1.0)
    tw = e.two_way
    if tw.axes:
        if len(tw.axes) != 2:
            raise ConfigError("economics.two_way.axes", f"needs two axes, got {len(tw.axes)}")
        for i, a in enumerate(tw.axes):
            key = f"economics.two_way.axes.{i}"
            one_of(f"{key}.therapy", a.therapy, e.costs.therapies)
            one_of(f"{key}.per", a.per, PRICE_UNITS)
            number(f"{key}.low", a.low, 0.0)
            if a.high <= a.low:
                raise ConfigError(f"{key}.high", f"must be > {key}.low ({a.low}), got {a.high}")
        if tw.points < 2:
            raise ConfigError("economics.two_way.points", f"must be >= 2, got {tw.points}")
    b = e.budget_impact
    number("economics.budget_impact.population", b.population, 0.0, open_low=True)
    number("economics.budget_impact.incidence_per_100k", b.incidence_per_100k, 0.0)
    for i, u in enumerate(b.uptake):
        number(f"economics.budget_impact.uptake.{i}", u, 0.0, 1.0)
    for side in ("new_strategy", "current_strategy"):
        name = getattr(b, side)
        if name:
            one_of(f"economics.budget_impact.{side}", name, cfg.strategy)
    if b.uptake and cfg.horizon_days > DAYS_PER_YEAR:
        raise ConfigError(
            "economics.budget_impact.uptake",
            f"the budget impact puts the simulated acute phase in budget year 1, so it needs "
            f"horizon_days <= {DAYS_PER_YEAR} (got {cfg.horizon_days:g}); set "
            "economics.budget_impact.uptake=[] to switch it off",
        )
    names = set()
    for i, sc in enumerate(e.scenarios):
        key = f"economics.scenarios.{i}"
        if not sc.name or sc.name == "base" or sc.name in names:
            raise ConfigError(
                f"{key}.name", f"needs a unique name other than 'base', got {sc.name!r}"
            )
        names.add(sc.name)
        if not sc.values:
            raise ConfigError(f"{key}.values", "give at least one key: value")
        for k in sc.values:
            if k.split(".")[0] in ("strategy", "task") or k.startswith("economics.scenarios"):
                raise ConfigError(f"{key}.values.{k}", "a scenario may not change this key")
        from sim.economics.scenarios import scenario_config

        scenario_config(cfg, i, sc)  # every key exists and takes its value's type
    v = e.evsi
    if not v.enabled:
        return
    if e.psa.draws < 2:
        raise ConfigError(
            "economics.evsi.enabled", f"needs economics.psa.draws >= 2, got {e.psa.draws}"
        )
    trial = cfg.trial
    for side in ("experimental", "control"):
        own = getattr(v, side)
        key = f"economics.evsi.{side}" if own else f"trial.{side}"
        one_of(key, own or getattr(trial, side), cfg.strategy)
    if (v.experimental or trial.experimental) == (v.control or trial.control):
        raise ConfigError("economics.evsi.control", "the trial's arms must differ")
    key, sizes = ("economics.evsi.n", v.n) if v.n else ("trial.sizing.n", trial.sizing.n)
    if not sizes:
        raise ConfigError(key, "give at least one sample size")
    alloc = trial.randomisation.allocation
    if len(alloc) != 2 or min(alloc) <= 0:
        raise ConfigError("trial.randomisation.allocation", f"needs two ratios > 0, got {alloc}")
    least = sum(alloc) / min(alloc)  # every arm gets at least one patient
    for i, n in enumerate(sizes):
        if int(n) != n or n < least:
            raise ConfigError(f"{key}.{i}", f"must be an integer >= {least:g}, got {n}")
    number("economics.evsi.fixed_cost", v.fixed_cost, 0.0)
    number("economics.evsi.cost_per_patient", v.cost_per_patient, 0.0)
    number("economics.evsi.decision_years", v.decision_years, 0.0, open_low=True)
    number("economics.evsi.reporting_months", v.reporting_months, 0.0)
    if v.eligibility_patients < 1:
        raise ConfigError(
            "economics.evsi.eligibility_patients",
            f"must be an integer >= 1, got {v.eligibility_patients}",
        )
