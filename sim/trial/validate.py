"""Range and name checks of `cfg.trial` (task=trial): one `ConfigError` naming the key."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sim.config.checks import number, one_of
from sim.config.schema import CONDITIONS, ConfigError, RunConfig
from sim.config.trial import DesignConfig, TrialConfig
from sim.model.validate import MAX_HORIZON_DAYS
from sim.trial.accrual import DAYS_PER_MONTH
from sim.trial.analyses import VARIANCES
from sim.trial.borrowing import PRIORS
from sim.trial.boundaries import BETA_TYPES, TYPES
from sim.trial.conditional import SSR_RULES, SSR_STATISTICS
from sim.trial.design import BINARY, ENDPOINTS, HISTORICAL
from sim.trial.gs_maxcombo import SPENDING_TYPES
from sim.trial.mams import MAMS_SHAPES, MULTIPLICITY
from sim.trial.phase2 import DESIGNS, MAX_SEARCH_N
from sim.trial.safety import RULES as SAFETY_RULES

EFFECTS = ("model", "assumed")
COMPARATORS = ("randomised", "historical")
TESTS = ("z", "fisher", "km", "logrank", "po", "fh", "maxcombo")
SURVIVAL_TESTS = ("logrank", "fh", "maxcombo")  # time_to_death
MAX_FH_EXPONENT = 5.0  # FH weights S^rho (1 - S)^gamma: rho, gamma in [0, this]
MAX_MAXCOMBO = 8  # at most this many FH statistics in a MaxCombo test
MRS_DAY = 365.0  # mrs_12m: the mRS is read at the model horizon, which must be 12 months
MAX_SSR_FACTOR = 10.0  # re-estimation: at most this x the planned n
DEAD_MRS = 6  # mRS 6: dead
TIMINGS = ("information", "calendar")
ANALYSES = ("followup", "events")
P_VALUES = ("asymptotic", "rerandomisation")
MAX_RERANDOMISATIONS = 1_000_000  # shuffles per analysis: beyond it memory, not precision, binds


def _int(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(key, f"must be an integer >= {low}, got {value}")


def _increasing(key: str, values: list[float], low: float, high: float) -> None:
    ok = all(low < v <= high for v in values) and all(
        a < b for a, b in zip(values, values[1:], strict=False)
    )
    if not values or not ok:
        raise ConfigError(key, f"must be increasing values in ({low}, {high}], got {list(values)}")


def _single_arm_design(key: str, d: DesignConfig, t: TrialConfig) -> None:
    """A design with its own rule and n (sim.trial.phase2)."""
    one_of(f"{key}.design", d.design, DESIGNS)
    if d.design == "group_sequential":
        if d.p1 is not None:
            raise ConfigError(f"{key}.p1", f"only used with design: {', '.join(DESIGNS[1:])}")
        return
    if t.comparator != "historical":
        raise ConfigError(
            f"{key}.design",
            f"{d.design} is a single-arm design: needs trial.comparator: historical",
        )
    if d.test != "fisher":
        raise ConfigError(f"{key}.test", f"{d.design} is an exact binomial rule: use test: fisher")
    own = (
        d.type_of_design == "none"
        and list(d.information_rates) == [1.0]
        and d.futility_z is None
        and d.type_beta_spending == "none"
        and d.timing == "information"
    )
    if not own:
        raise ConfigError(
            f"{key}.type_of_design",
            f"{d.design} has its own looks: leave type_of_design: none, information_rates: "
            "[1.0], timing: information, no futility_z or type_beta_spending",
        )
    number(f"{key}.beta", d.beta, 0.0, 1.0 - t.alpha, open_low=True)
    p0 = getattr(t.historical, d.endpoint, None)
    if d.p1 is not None and p0 is not None and not p0 < d.p1 < 1.0:
        raise ConfigError(
            f"{key}.p1", f"must be in (p0 = trial.historical.{d.endpoint} = {p0}, 1), got {d.p1}"
        )
    if d.design == "predictive":
        number(f"{key}.pp_fraction", d.pp_fraction, 0.0, 1.0, open_low=True)
        if d.pp_fraction == 1.0:
            raise ConfigError(f"{key}.pp_fraction", "must be in (0, 1) (an interim), got 1.0")
        number(f"{key}.pp_threshold", d.pp_threshold, 0.0, 1.0)
        number(f"{key}.pp_prior_a", d.pp_prior_a, 0.0, open_low=True)
        number(f"{key}.pp_prior_b", d.pp_prior_b, 0.0, open_low=True)
    if not 2 <= d.n_max <= MAX_SEARCH_N:
        raise ConfigError(
            f"{key}.n_max", f"must be an integer in [2, {MAX_SEARCH_N}], got {d.n_max}"
        )


def _time_to_event(key: str, d: DesignConfig, horizon_days: float) -> None:
    """Event-driven analysis and the secondary RMST analysis (time_to_death only)."""
    one_of(f"{key}.analysis", d.analysis, ANALYSES)
    if d.analysis == "events":
        if d.endpoint != "time_to_death":
            raise ConfigError(f"{key}.analysis", "events (event-driven) needs time_to_death")
        if d.type_beta_spending != "none" or d.timing != "information":
            raise ConfigError(
                f"{key}.analysis",
                "event-driven designs take looks at information_rates x target_events, with "
                "futility_z (no beta spending, no calendar timing)",
            )
    if d.target_events is not None:
        if d.analysis != "events":
            raise ConfigError(f"{key}.target_events", "only used with analysis: events")
        _int(f"{key}.target_events", d.target_events, 1)
    if d.rmst_tau_days is not None:
        if d.endpoint != "time_to_death":
            raise ConfigError(f"{key}.rmst_tau_days", "the RMST analysis needs time_to_death")
        number(f"{key}.rmst_tau_days", d.rmst_tau_days, 0.0, horizon_days, open_low=True)


def _p_value(key: str, d: DesignConfig, t: TrialConfig) -> None:
    """Re-randomisation p-values (sim/trial/rerandomise.py): log-rank-type tests of a
    randomised two-arm trial at one look, with enough shuffles to reach alpha."""
    one_of(f"{key}.p_value", d.p_value, P_VALUES)
    if d.p_value == "asymptotic":
        return
    if d.endpoint != "time_to_death" or d.test not in SURVIVAL_TESTS:
        raise ConfigError(
            f"{key}.p_value", "rerandomisation is for time_to_death (logrank, fh, maxcombo)"
        )
    if t.comparator != "randomised":
        raise ConfigError(f"{key}.p_value", "rerandomisation needs a randomised comparator")
    if d.type_of_design != "none" or d.ssr != "none":
        raise ConfigError(
            f"{key}.p_value", "rerandomisation is analysed at one look (type_of_design: none)"
        )
    if d.logrank_variance != "hypergeometric":
        raise ConfigError(
            f"{key}.logrank_variance",
            "the re-randomisation p needs no variance choice: keep hypergeometric",
        )
    # p >= 1 / (B + 1): fewer shuffles than 1 / alpha - 1 could never reject
    low = math.ceil(1.0 / t.alpha - 1.0 - 1e-9)
    if not low <= d.rerandomisations <= MAX_RERANDOMISATIONS:
        raise ConfigError(
            f"{key}.rerandomisations",
            f"must be an integer in [{low}, {MAX_RERANDOMISATIONS}] "
            f"(at least 1 / alpha - 1), got {d.rerandomisations}",
        )


def _weighted(key: str, d: DesignConfig) -> None:
    """Weighted log-rank tests (fh, maxcombo; sim/trial/weighted.py): fh at one look;
    maxcombo at one look or group-sequential with a spending function
    (sim/trial/gs_maxcombo.py), without beta spending or re-estimation."""
    if d.test == "fh" and (d.type_of_design != "none" or d.ssr != "none"):
        raise ConfigError(
            f"{key}.type_of_design",
            "fh is analysed at one look (type_of_design: none): a group-sequential "
            "FH test is not implemented (test: maxcombo with one [rho, gamma] pair is)",
        )
    if d.test == "maxcombo":
        if d.type_of_design not in ("none", *SPENDING_TYPES):
            raise ConfigError(
                f"{key}.type_of_design",
                f"group-sequential maxcombo needs a spending function "
                f"({', '.join(SPENDING_TYPES)}) or none, got {d.type_of_design!r}",
            )
        if d.type_beta_spending != "none" or d.ssr != "none":
            raise ConfigError(
                f"{key}.type_beta_spending" if d.ssr == "none" else f"{key}.ssr",
                "maxcombo has no beta-spending futility or re-estimation (futility_z only)",
            )
    if d.test == "fh":
        number(f"{key}.fh_rho", d.fh_rho, 0.0, MAX_FH_EXPONENT)
        number(f"{key}.fh_gamma", d.fh_gamma, 0.0, MAX_FH_EXPONENT)
    elif (d.fh_rho, d.fh_gamma) != (0.0, 0.0):
        raise ConfigError(f"{key}.fh_rho", "fh_rho and fh_gamma are only used with test: fh")
    pairs = [
        list(p) if isinstance(p, Sequence) and not isinstance(p, str) else p
        for p in d.maxcombo_weights
    ]
    if d.test != "maxcombo":
        if pairs != DesignConfig().maxcombo_weights:
            raise ConfigError(f"{key}.maxcombo_weights", "only used with test: maxcombo")
        return
    if not 1 <= len(pairs) <= MAX_MAXCOMBO:
        raise ConfigError(
            f"{key}.maxcombo_weights",
            f"must hold 1 to {MAX_MAXCOMBO} [rho, gamma] pairs, got {len(pairs)}",
        )
    for i, p in enumerate(pairs):
        numeric = isinstance(p, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in p
        )
        if not numeric or len(p) != 2:
            raise ConfigError(
                f"{key}.maxcombo_weights[{i}]", f"must be [rho, gamma] (two numbers), got {p}"
            )
        for v in p:
            number(f"{key}.maxcombo_weights[{i}]", float(v), 0.0, MAX_FH_EXPONENT)
    if len({tuple(p) for p in pairs}) != len(pairs):
        raise ConfigError(f"{key}.maxcombo_weights", f"pairs must be distinct, got {pairs}")


def _mrs(key: str, d: DesignConfig, t: TrialConfig, horizon_days: float) -> None:
    """The mRS endpoints (mrs_12m, death_or_disability): two arms, model outcomes, read
    at a 12-month horizon (stratified: adjusted for the condition strata)."""
    if horizon_days != MRS_DAY:
        raise ConfigError(
            "horizon_days", f"{d.endpoint} reads the mRS at the horizon: needs {MRS_DAY:g}"
        )
    if t.effect.kind != "model":
        raise ConfigError(
            "trial.effect.kind",
            f"{d.endpoint} needs the model's outcomes (an assumed HR moves deaths only)",
        )
    if d.endpoint == "death_or_disability" and t.survival_day != MRS_DAY:
        raise ConfigError(
            "trial.survival_day",
            f"death_or_disability counts deaths to the 12-month mRS: needs {MRS_DAY:g}, "
            f"got {t.survival_day:g}",
        )


def _ssr(key: str, d: DesignConfig, t: TrialConfig) -> None:
    """Promising-zone re-estimation (sim/trial/conditional.py): two-arm binary designs
    with one interim at a planned information fraction."""
    one_of(f"{key}.ssr", d.ssr, SSR_RULES)
    number(f"{key}.ssr_cp_min", d.ssr_cp_min, 0.0, 1.0)
    number(f"{key}.ssr_cp_target", d.ssr_cp_target, d.ssr_cp_min, 1.0, open_low=True)
    if d.ssr_cp_target == 1.0:
        raise ConfigError(
            f"{key}.ssr_cp_target", f"must be in ({d.ssr_cp_min}, 1) (1 needs infinite n), got 1.0"
        )
    one_of(f"{key}.ssr_statistic", d.ssr_statistic, SSR_STATISTICS)
    if d.ssr == "none":
        return
    number(f"{key}.ssr_max_factor", d.ssr_max_factor, 1.0, MAX_SSR_FACTOR, open_low=True)
    if t.comparator != "randomised" or d.endpoint not in BINARY:
        raise ConfigError(
            f"{key}.ssr",
            f"re-estimation is for two randomised arms and a binary endpoint ({', '.join(BINARY)})",
        )
    two_looks = (
        len(d.information_rates) == 2
        and d.timing == "information"
        and d.type_of_design != "none"
        and d.type_beta_spending == "none"
        and d.design == "group_sequential"
    )
    if not two_looks:
        raise ConfigError(
            f"{key}.ssr",
            "re-estimation needs two looks: information_rates [t1, 1.0], timing: information, "
            "an efficacy boundary (type_of_design), futility_z or none (no beta spending)",
        )


def _safety(cfg: RunConfig) -> None:
    """trial.safety: the IRIS safety boundary (sim/trial/safety.py)."""
    t = cfg.trial
    s = t.safety
    one_of("trial.safety.rule", s.rule, SAFETY_RULES)
    if s.rule == "none":
        return
    number("trial.safety.threshold", s.threshold, 0.0, 1.0, open_low=True)
    number("trial.safety.cutoff", s.cutoff, 0.0, 1.0, open_low=True)
    if s.threshold == 1.0 or s.cutoff == 1.0:
        raise ConfigError(
            "trial.safety.threshold" if s.threshold == 1.0 else "trial.safety.cutoff",
            "must be in (0, 1), got 1.0",
        )
    number("trial.safety.prior_a", s.prior_a, 0.0, open_low=True)
    number("trial.safety.prior_b", s.prior_b, 0.0, open_low=True)
    looks = list(s.looks)
    if not looks or looks[0] < 1 or any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
        raise ConfigError(
            "trial.safety.looks", f"must be increasing integers >= 1 (patients), got {looks}"
        )
    number("trial.safety.window_days", s.window_days, 0.0, cfg.horizon_days, open_low=True)
    for i, r in enumerate(s.report_rates):
        if not 0.0 < r < 1.0:
            raise ConfigError(f"trial.safety.report_rates[{i}]", f"must be in (0, 1), got {r}")
    if t.platform.arms:
        raise ConfigError("trial.safety.rule", "must be none for a platform trial (not done)")
    for name, d in t.designs.items():
        if d.design != "group_sequential":
            raise ConfigError(
                "trial.safety.rule",
                f"must be none with trial.designs.{name}.design: {d.design} (a single-arm "
                "design with its own rule is not safety-monitored)",
            )


def _borrowing(t: TrialConfig) -> None:
    """trial.borrowing (sim/trial/borrowing.py, conflict.py)."""
    b = t.borrowing
    one_of("trial.borrowing.prior", b.prior, PRIORS)
    if b.prior == "none":
        return
    if t.comparator != "randomised":
        raise ConfigError("trial.borrowing.prior", "borrowing needs two randomised arms")
    one_of("trial.borrowing.endpoint", b.endpoint, BINARY)
    _int("trial.borrowing.historical_n", b.historical_n, 1)
    if not 0 <= b.historical_x <= b.historical_n:
        raise ConfigError(
            "trial.borrowing.historical_x",
            f"must be in [0, historical_n = {b.historical_n}], got {b.historical_x}",
        )
    number("trial.borrowing.vague_a", b.vague_a, 0.0, open_low=True)
    number("trial.borrowing.vague_b", b.vague_b, 0.0, open_low=True)
    number("trial.borrowing.power_delta", b.power_delta, 0.0, 1.0)
    number("trial.borrowing.map_weight", b.map_weight, 0.0, 1.0)
    number("trial.borrowing.threshold", b.threshold, 0.5, 1.0, open_low=True)
    if not b.control_rates:
        raise ConfigError("trial.borrowing.control_rates", "give at least one rate")
    for i, r in enumerate(b.control_rates):
        if not 0.0 < r < 1.0:
            raise ConfigError(f"trial.borrowing.control_rates[{i}]", f"must be in (0, 1), got {r}")


CONTROL_MODES = ("concurrent", "all")
MAX_TREND = 1.0  # |change of 1-year survival per year|: a probability cannot move more


def _platform(cfg: RunConfig) -> None:
    """trial.platform (sim/trial/platform.py): arms, allocation, shared control, trend;
    its designs: 1-year survival by the z (or CMH) test at planned information looks."""
    t = cfg.trial
    pf = t.platform
    one_of("trial.platform.control", pf.control, CONTROL_MODES)
    if not pf.arms:
        return
    if t.comparator != "randomised":
        raise ConfigError("trial.comparator", "a platform trial needs randomised (shared control)")
    if t.effect.kind != "model":
        raise ConfigError("trial.effect.kind", "platform arms take their effects from the model")
    if t.assurance.draws:
        raise ConfigError("trial.assurance.draws", "must be 0 for a platform trial (not done)")
    if t.borrowing.prior != "none":
        raise ConfigError("trial.borrowing.prior", "must be none for a platform trial (not done)")
    cap = t.accrual.max_accrual_months
    for name, arm in pf.arms.items():
        one_of(f"trial.platform.arms.{name}", name, cfg.strategy)
        if name == t.control:
            raise ConfigError(
                f"trial.platform.arms.{name}", f"is the control strategy (trial.control: {name})"
            )
        number(f"trial.platform.arms.{name}.entry_months", arm.entry_months, 0.0, cap)
        if arm.entry_months == cap:
            raise ConfigError(
                f"trial.platform.arms.{name}.entry_months",
                f"must be in [0, {cap:g}) (before trial.accrual.max_accrual_months), got {cap:g}",
            )
    _int("trial.platform.control_ratio", pf.control_ratio, 1)
    _int("trial.platform.blocks_per_cycle", pf.blocks_per_cycle, 1)
    number("trial.platform.time_trend_per_year", pf.time_trend_per_year, -MAX_TREND, MAX_TREND)
    for name, d in t.designs.items():
        key = f"trial.designs.{name}"
        if d.endpoint != "survival_1y" or d.test != "z":
            raise ConfigError(
                f"{key}.endpoint",
                "a platform design analyses survival_1y with test: z (stratified: CMH)",
            )
        if d.multiplicity == "dunnett" and d.type_of_design not in MAMS_SHAPES:
            raise ConfigError(
                f"{key}.type_of_design",
                f"multiplicity dunnett takes {', '.join(MAMS_SHAPES)} (Dunnett, "
                f"Magirr-Jaki-Whitehead shapes), got {d.type_of_design!r}; spending "
                "functions go with multiplicity: bonferroni",
            )
        if d.timing != "information" or d.type_beta_spending != "none":
            raise ConfigError(
                f"{key}.timing",
                "platform arms are looked at at planned information_rates of their own n, "
                "with futility_z (no calendar timing, no beta spending)",
            )


def check_assurance(cfg: RunConfig) -> None:
    a = cfg.trial.assurance
    if a.draws < 0:
        raise ConfigError("trial.assurance.draws", f"must be an integer >= 0, got {a.draws}")
    if a.draws == 0:
        return
    if a.draws == 1:
        raise ConfigError("trial.assurance.draws", "must be 0 (off) or >= 2, got 1")
    one_of("trial.assurance.source", a.source, ("posterior", "ensemble"))
    if a.pool_per_arm < 1:
        raise ConfigError(
            "trial.assurance.pool_per_arm", f"must be an integer >= 1, got {a.pool_per_arm}"
        )
    from sim.outcomes.uncertainty import load_sets

    load_sets(cfg.model.name, a.source, 1, "trial.assurance.source")


def check_trial(cfg: RunConfig) -> None:
    t = cfg.trial
    check_assurance(cfg)
    one_of("trial.experimental", t.experimental, cfg.strategy)
    one_of("trial.control", t.control, cfg.strategy)
    one_of("trial.comparator", t.comparator, COMPARATORS)
    number("trial.alpha", t.alpha, 0.0, 0.5, open_low=True)
    number("trial.survival_day", t.survival_day, 0.0, cfg.horizon_days, open_low=True)
    if t.csf_day not in cfg.monitoring.csf_days:
        raise ConfigError(
            "trial.csf_day", f"{t.csf_day} is not in monitoring.csf_days {cfg.monitoring.csf_days}"
        )
    _int("trial.pool_per_arm", t.pool_per_arm, 100)

    el = t.eligibility
    for i, c in enumerate(el.conditions):
        one_of(f"trial.eligibility.conditions[{i}]", c, (*CONDITIONS, "all"))
    number("trial.eligibility.cd4_min", el.cd4_min, 0.0)
    number("trial.eligibility.cd4_max", el.cd4_max, el.cd4_min)
    if not 0 <= el.max_baseline_mrs <= 5:
        raise ConfigError(
            "trial.eligibility.max_baseline_mrs", f"must be in [0, 5], got {el.max_baseline_mrs}"
        )
    number("trial.eligibility.screen_fail", el.screen_fail, 0.0, 0.99)
    delay = el.randomisation_delay_days
    cap_days = t.accrual.max_accrual_months * DAYS_PER_MONTH
    high = min(cap_days, MAX_HORIZON_DAYS - cfg.horizon_days)
    if not 0.0 <= delay < high:
        raise ConfigError(
            "trial.eligibility.randomisation_delay_days",
            f"must be in [0, {high:g}) days (below the accrual cap), got {delay}",
        )

    acc = t.accrual
    _int("trial.accrual.sites", acc.sites, 1)
    number("trial.accrual.ramp_up_months", acc.ramp_up_months, 0.0)
    if len(acc.rate_per_site_month) != len(acc.rate_change_months) + 1:
        raise ConfigError(
            "trial.accrual.rate_per_site_month",
            "needs one rate more than trial.accrual.rate_change_months "
            f"({len(acc.rate_change_months)} changes), got {len(acc.rate_per_site_month)}",
        )
    for i, r in enumerate(acc.rate_per_site_month):
        number(f"trial.accrual.rate_per_site_month[{i}]", r, 0.0)
    number("trial.accrual.rate_per_site_month[-1]", acc.rate_per_site_month[-1], 0.0, open_low=True)
    if acc.rate_change_months:
        _increasing("trial.accrual.rate_change_months", acc.rate_change_months, 0.0, math.inf)
    number("trial.accrual.max_accrual_months", acc.max_accrual_months, 0.0, open_low=True)

    ra = t.randomisation
    if len(ra.allocation) != 2 or min(ra.allocation) < 1:
        raise ConfigError(
            "trial.randomisation.allocation",
            f"must be two integers >= 1 (experimental, control), got {list(ra.allocation)}",
        )
    if ra.block_size < 1 or ra.block_size % sum(ra.allocation):
        raise ConfigError(
            "trial.randomisation.block_size",
            f"must be a positive multiple of sum(allocation) = {sum(ra.allocation)}, "
            f"got {ra.block_size}",
        )
    number("trial.followup.min_followup_months", t.followup.min_followup_months, 0.0)
    number("trial.followup.dropout_per_year", t.followup.dropout_per_year, 0.0)
    one_of("trial.effect.kind", t.effect.kind, EFFECTS)
    number("trial.effect.hazard_ratio", t.effect.hazard_ratio, 0.0, open_low=True)
    for k in ("survival_1y", "csf_clearance_12w", "no_iris"):
        v = getattr(t.historical, k)
        if not 0.0 < v < 1.0:
            raise ConfigError(f"trial.historical.{k}", f"must be in (0, 1), got {v}")

    if not t.designs:
        raise ConfigError("trial.designs", "define at least one design")
    for name, d in t.designs.items():
        key = f"trial.designs.{name}"
        one_of(f"{key}.endpoint", d.endpoint, ENDPOINTS)
        one_of(f"{key}.test", d.test, TESTS)
        if (d.endpoint == "mrs_12m") != (d.test == "po"):
            raise ConfigError(f"{key}.test", "mrs_12m uses po (proportional odds), and only it")
        if d.endpoint in ("mrs_12m", "death_or_disability"):
            _mrs(key, d, t, cfg.horizon_days)
        elif (d.endpoint == "time_to_death") != (d.test in SURVIVAL_TESTS):
            raise ConfigError(
                f"{key}.test",
                "time_to_death uses logrank, fh or maxcombo; binary endpoints use z or fisher",
            )
        _weighted(key, d)
        _p_value(key, d, t)
        if d.test == "km" and (d.endpoint != "survival_1y" or t.comparator == "historical"):
            raise ConfigError(f"{key}.test", "km compares 1-year survival between two arms")
        if t.comparator == "historical" and d.endpoint not in HISTORICAL:
            raise ConfigError(
                f"{key}.endpoint",
                f"a single-arm design needs a binary endpoint with a historical value "
                f"({', '.join(HISTORICAL)})",
            )
        if d.stratified and (d.test == "fisher" or t.comparator == "historical"):
            raise ConfigError(
                f"{key}.stratified",
                "stratified analyses are CMH (test z), KM, log-rank or po, two arms",
            )
        one_of(f"{key}.logrank_variance", d.logrank_variance, VARIANCES)
        if d.logrank_variance != "hypergeometric" and d.test != "logrank":
            raise ConfigError(f"{key}.logrank_variance", "only used with test: logrank")
        one_of(f"{key}.multiplicity", d.multiplicity, MULTIPLICITY)
        _single_arm_design(key, d, t)
        _ssr(key, d, t)
        _time_to_event(key, d, cfg.horizon_days)
        one_of(f"{key}.type_of_design", d.type_of_design, TYPES)
        one_of(f"{key}.timing", d.timing, TIMINGS)
        _increasing(f"{key}.information_rates", d.information_rates, 0.0, 1.0)
        if d.information_rates[-1] != 1.0:
            raise ConfigError(f"{key}.information_rates", "the last look must be at 1.0")
        if d.type_of_design == "none" and (len(d.information_rates) > 1 or d.look_months):
            raise ConfigError(
                f"{key}.type_of_design", "interim looks need a boundary (asOF, asP, OF, P)"
            )
        one_of(f"{key}.type_beta_spending", d.type_beta_spending, BETA_TYPES)
        if d.type_beta_spending != "none":
            if d.futility_z is not None:
                raise ConfigError(
                    f"{key}.futility_z", "give futility_z or type_beta_spending, not both"
                )
            if d.timing != "information" or len(d.information_rates) < 2:
                raise ConfigError(
                    f"{key}.type_beta_spending",
                    "beta spending needs interim looks at planned information_rates",
                )
            number(f"{key}.beta", d.beta, 0.0, 1.0 - t.alpha, open_low=True)
        if d.timing == "calendar":
            if d.type_of_design in ("OF", "P"):
                raise ConfigError(
                    f"{key}.type_of_design",
                    "calendar looks need a spending function (asOF, asP): fractions are not "
                    "known in advance",
                )
            _increasing(f"{key}.look_months", d.look_months, 0.0, math.inf)
        elif d.look_months:
            raise ConfigError(f"{key}.look_months", "only used with timing: calendar")

    if not 1 <= t.disability_mrs <= DEAD_MRS:
        raise ConfigError(
            "trial.disability_mrs", f"must be an integer in [1, {DEAD_MRS}], got {t.disability_mrs}"
        )
    _borrowing(t)
    _platform(cfg)
    _safety(cfg)
    sz = t.sizing
    if not sz.n:
        raise ConfigError("trial.sizing.n", "give at least one sample size")
    for i, n in enumerate(sz.n):
        _int(f"trial.sizing.n[{i}]", n, 2)
    if len(set(sz.n)) != len(sz.n):
        raise ConfigError("trial.sizing.n", f"sample sizes must be distinct, got {list(sz.n)}")
    _int("trial.sizing.trials", sz.trials, 1)
    _int("trial.sizing.chunk_trials", sz.chunk_trials, 1)
    if not sz.accrual_scale:
        raise ConfigError("trial.sizing.accrual_scale", "give at least one accrual scale")
    for i, s in enumerate(sz.accrual_scale):
        number(f"trial.sizing.accrual_scale[{i}]", s, 0.0, open_low=True)
    number("trial.sizing.target_power", sz.target_power, 0.0, 1.0, open_low=True)
    number("trial.sizing.min_p_recruited", sz.min_p_recruited, 0.0, 1.0)
    _grid(t)
    _sensitivity(t)


GRIDS = ("list", "auto")  # trial.sizing.grid


def _grid(t: TrialConfig) -> None:
    """trial.sizing.grid: list (sizing.n) or auto (centred on the analytic n)."""
    sz = t.sizing
    one_of("trial.sizing.grid", sz.grid, GRIDS)
    if not sz.auto_factors:
        raise ConfigError("trial.sizing.auto_factors", "give at least one factor")
    for i, f in enumerate(sz.auto_factors):
        number(f"trial.sizing.auto_factors[{i}]", f, 0.0, 10.0, open_low=True)
    if sz.auto_design is not None and sz.auto_design not in t.designs:
        raise ConfigError(
            "trial.sizing.auto_design",
            f"unknown design {sz.auto_design!r}; available: {', '.join(t.designs)}",
        )
    if sz.grid == "auto" and t.platform.arms:
        raise ConfigError("trial.sizing.grid", "auto is not available for platform trials")


def _sensitivity(t: TrialConfig) -> None:
    """trial.sensitivity: effect multipliers > 0, a known condition, a shift in (0, 1)."""
    s = t.sensitivity
    if not s.enabled:
        return
    if t.platform.arms:
        raise ConfigError("trial.sensitivity.enabled", "not available for platform trials")
    if not s.effect_multipliers:
        raise ConfigError("trial.sensitivity.effect_multipliers", "give at least one multiplier")
    for i, m in enumerate(s.effect_multipliers):
        number(f"trial.sensitivity.effect_multipliers[{i}]", m, 0.0, 10.0, open_low=True)
    one_of("trial.sensitivity.shift_condition", s.shift_condition, CONDITIONS)
    number("trial.sensitivity.shift", s.shift, 0.0, 1.0, open_low=True)
