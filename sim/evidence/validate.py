"""Checks of the evidence sections: targets, the virtual study and calibration."""

from __future__ import annotations

from sim.config import ConfigError, RunConfig
from sim.config.checks import number, one_of, probability
from sim.config.paths import get_value
from sim.evidence.calibrate import check_params
from sim.evidence.targets import CSF_QUANTITIES, Citation, check_targets, validation_citations

# Config values whose source comment cites a validation target (found by
# sim.evidence.targets.validation_citations), known and listed as open problems in
# docs/validation.md. A new one fails config validation of task=study / calibrate;
# tests/test_validation.py fails when one listed here is fixed (remove it then). Empty
# since 2026-12-07 (issue 12 item 8: the PD-1 and T-cell levers, the natalizumab
# desaturation and the coarse-fit start now come from other sources; docs/validation.md).
KNOWN_VALIDATION_CITATIONS: dict[str, str] = {}


def check_validation_citations(cfg: RunConfig) -> list[Citation]:
    """Every shipped config value citing a validation target (ConfigError on one that
    is not a known, documented open problem); returns them all."""
    found = validation_citations(cfg.targets.items)
    for c in found:
        if c.where not in KNOWN_VALIDATION_CITATIONS:
            raise ConfigError(
                f"conf/{c.file}",
                f"line {c.line} ({c.key}) cites {c.cited}, the source of validation target "
                f"{c.target_id} ({c.why}); a validation figure must not inform a parameter "
                "(docs/validation.md): source the value elsewhere, or make the target role: fit",
            )
    return found


def validate_study(cfg: RunConfig) -> None:
    """Targets and the virtual study's settings (task=study, and behind calibrate)."""
    check_targets(cfg.targets.items)
    check_validation_citations(cfg)
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
    # a CSF figure is measured on a visit day; the target's population gets a lumbar
    # puncture that day (sim.evidence.targets.Evaluator)
    visits = set(cfg.monitoring.visit_days)
    for i, t in enumerate(cfg.targets.items):
        if t.quantity in CSF_QUANTITIES and t.at_days not in visits:
            raise ConfigError(
                f"targets.items[{i}].at_days",
                f"{t.at_days} is not a visit day {sorted(visits)} (monitoring.visit_days)",
            )


def validate_calibration(cfg: RunConfig) -> None:
    validate_study(cfg)
    check_params(cfg)
    items = {t.id: t for t in cfg.targets.items}
    for i, tid in enumerate(cfg.calibration.fit):
        if tid in items and items[tid].role == "validation":
            raise ConfigError(
                f"calibration.fit[{i}]",
                f"{tid} is a validation target: fitting it leaves nothing to validate"
                " (docs/validation.md); make it role: fit in conf/targets/ if that is meant",
            )


def validate_gsa(cfg: RunConfig) -> None:
    """task=gsa: the method, sizes, conditions and every factor's key and range."""
    from sim.config.schema import CONDITIONS
    from sim.evidence.gsa import FITTED_MODES, factors
    from sim.evidence.sensitivity import METHODS

    g = cfg.gsa
    one_of("gsa.method", g.method, METHODS)
    one_of("gsa.fitted", g.fitted, FITTED_MODES)
    low = 2 if g.method == "sobol" else 8
    if g.base_samples < low:
        raise ConfigError("gsa.base_samples", f"must be an integer >= {low}, got {g.base_samples}")
    if g.method == "sobol" and g.base_samples & (g.base_samples - 1):
        raise ConfigError(
            "gsa.base_samples", f"must be a power of 2 for method sobol, got {g.base_samples}"
        )
    if g.n_per_condition < 1:
        raise ConfigError(
            "gsa.n_per_condition", f"must be an integer >= 1, got {g.n_per_condition}"
        )
    if g.resamples < 10:
        raise ConfigError("gsa.resamples", f"must be an integer >= 10, got {g.resamples}")
    if g.batch < 1:
        raise ConfigError("gsa.batch", f"must be an integer >= 1, got {g.batch}")
    number("gsa.fixable_below", g.fixable_below, 0.0, 1.0, open_low=True)
    for i, c in enumerate(g.conditions):
        one_of(f"gsa.conditions[{i}]", c, CONDITIONS)
    if len(cfg.strategy) < 1:
        raise ConfigError("strategy", "task=gsa needs at least one strategy")
    fs = factors(cfg)
    if g.method == "prcc" and g.base_samples < len(fs) + 4:
        raise ConfigError(
            "gsa.base_samples",
            f"must be >= {len(fs) + 4} for method prcc with {len(fs)} factors, "
            f"got {g.base_samples}",
        )


def validate_posterior(cfg: RunConfig) -> None:
    """task=posterior: the fit targets, the prior box and the sampler's sizes."""
    from sim.evidence.calibrate import fit_targets

    validate_study(cfg)
    check_params(cfg)
    fit_targets(cfg)
    from sim.evidence.posterior import prior_params

    p = cfg.posterior
    params = prior_params(cfg)  # ConfigError on an unknown or repeated assumption key
    d = len(params)
    for q in params[len(cfg.calibration.params) :]:
        get_value(cfg, q.key)  # the key exists in the model and is numeric
    sizes = [
        ("posterior.waves", p.waves, 1),
        ("posterior.design_per_wave", p.design_per_wave, d + 2),
        ("posterior.n_per_scenario", p.n_per_scenario, 50),
        ("posterior.candidates", p.candidates, p.design_per_wave),
        ("posterior.walkers", p.walkers, 2 * d + 2),
        ("posterior.burn", p.burn, 0),
        ("posterior.steps", p.steps, p.burn + 1),
        ("posterior.draws", p.draws, 1),
        ("posterior.ppc_draws", p.ppc_draws, 2),
        ("posterior.batch", p.batch, 1),
        ("posterior.hyper_points", p.hyper_points, 0),
        ("posterior.variance_points", p.variance_points, 0),
    ]
    for key, value, low in sizes:
        if value < low:
            raise ConfigError(key, f"must be an integer >= {low}, got {value}")
    number("posterior.cutoff", p.cutoff, 0.0, open_low=True)
    mm = p.mrs_map
    if mm.n < 0:
        raise ConfigError("posterior.mrs_map.n", f"must be an integer >= 0, got {mm.n}")
    if mm.n and mm.n < 50:
        raise ConfigError("posterior.mrs_map.n", f"must be 0 (off) or >= 50, got {mm.n}")
    if len(mm.counts) != 6 or min(mm.counts) < 0 or sum(mm.counts) <= 0:
        raise ConfigError(
            "posterior.mrs_map.counts",
            f"must be 6 counts (mRS 0..5), none negative, some positive; got {mm.counts}",
        )
    if mm.n:  # the population it is fitted on must compose (not after a 30-minute run)
        from sim.evidence.mrs_map import population

        try:
            population(cfg, mm)
        except Exception as e:  # Hydra's own errors for an unknown preset, or ours
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(
                "posterior.mrs_map",
                f"cohort={mm.cohort} strategy={mm.strategy} do not compose: {first}",
            ) from e
    from sim.evidence.emulator import MOVES  # here: scipy.stats is not for every run

    one_of("posterior.moves", p.moves, MOVES)
    if p.draws > p.walkers * (p.steps - p.burn):
        raise ConfigError(
            "posterior.draws",
            f"must be <= walkers x (steps - burn) = {p.walkers * (p.steps - p.burn)}, "
            f"got {p.draws}",
        )
