"""Visits: what the clinician measures, with assay noise and the PCR detection limit.

Blood counts get log-normal noise (coefficient of variation `cd4_cv`,
`lymphocyte_cv`); CSF JCV gets normal noise on the log10 scale and reads
"undetectable" below the detection limit (rules then read half the limit); MRI
lesion burden gets additive noise.
The noise of an assay at a visit comes from the patient's random stream named by the
assay and the visit day (`lab_noise/<assay>/day <day>`), so every strategy sees the
same noise at the same visit, and adding or removing a visit day or an assay leaves
the noise of every other measurement unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.config.schema import ModelConfig, MonitoringConfig
from sim.core import rng
from sim.model.cohort import Patients
from sim.model.dynamics import State

# assay names: part of the random-stream names of their noise (sim.core.rng)
_CD4, _LYMPH, _CSF, _MRI = "cd4", "lymphocytes", "csf_jcv_log10", "mri_lesion_burden"


def noise_stream(assay: str, day: float) -> str:
    """Name of the random stream of an assay's noise at the visit on `day`."""
    return f"lab_noise/{assay}/day {float(day)!r}"


_RTOL, _ATOL = 1e-5, 1e-8  # np.isclose's defaults


def on_day(day: float, days: Sequence[float]) -> bool:
    """Whether `day` is one of `days`, to np.isclose's default tolerance (written out:
    np.isclose costs more than a visit's other work for a small cohort)."""
    return any(day == d or abs(day - d) <= _ATOL + _RTOL * abs(d) for d in days)


def measure(
    day: float,
    p: Patients,
    st: State,
    mon: MonitoringConfig,
    model: ModelConfig,
    key: np.uint64,
    memory: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Lab and MRI values at a visit; `memory` keeps baseline CD4 and the last MRI."""
    pid = p.patient_id

    def z(assay: str) -> np.ndarray:
        return rng.normal(key, noise_stream(assay, day), pid)

    n = len(p)
    nan = np.full(n, np.nan)
    cd4 = st.cd4 * np.exp(mon.cd4_cv * z(_CD4))
    lymph = st.lymphocytes(p, model) * np.exp(mon.lymphocyte_cv * z(_LYMPH))
    csf = nan.copy()
    detectable = nan.copy()
    if on_day(day, mon.csf_days):
        csf = st.jcv + mon.csf_jcv_sd_log10 * z(_CSF)
        lod = np.log10(mon.csf_jcv_lod_copies)
        detectable = (csf >= lod).astype(float)
        # below the limit a rule reads half the limit (the usual convention); the
        # labs table reports NaN with detectable = 0
        csf = np.where(csf >= lod, csf, lod - np.log10(2.0))
    lesion = nan.copy()
    growth = nan.copy()
    if on_day(day, mon.mri_days):
        lesion = st.damage + mon.mri_sd * z(_MRI)
        growth = lesion - memory.get("last_mri", nan)
        memory["last_mri"] = lesion
    if "cd4_baseline" not in memory:
        memory["cd4_baseline"] = cd4
    return {
        "always": np.ones(n),
        "cd4": cd4,
        "lymphocytes": lymph,
        "cd4_ratio": cd4 / memory["cd4_baseline"],
        "csf_jcv_log10": csf,
        "csf_jcv_detectable": detectable,
        "lesion_burden": lesion,
        "lesion_growth": growth,
    }
