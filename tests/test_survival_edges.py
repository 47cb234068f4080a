"""Kaplan-Meier and cumulative incidence (sim.outcomes.survival): input checks with
their messages, and edge cases of the step functions, worked by hand. Written for
issue 17's mutation survivors (docs/mutation/sim.outcomes.survival.txt).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from sim.outcomes.survival import (
    cif_at,
    cumulative_incidence,
    kaplan_meier,
    median_survival,
    survival_at,
)

T = np.array([1.0, 2.0, 3.0])
E = np.array([1, 0, 1])


# ------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "time, event, message",
    [
        (np.ones((2, 2)), [1, 1], r"^time must be one-dimensional, got shape \(2, 2\)$"),
        (np.array([]), [], r"^time must contain at least one observation$"),
        (np.array(["1.0", "2.0"]), [1, 1], r"^time must be numeric, got dtype <U3$"),
        (np.array([True, False]), [1, 1], r"^time must be numeric, got dtype bool$"),
        ([1.0, np.nan], [1, 1], r"^time must be finite \(no NaN or inf\)$"),
        ([1.0, -2.0], [1, 1], r"^time must be non-negative \(min is "),
        (T, np.ones((3, 1)), r"^event must be one-dimensional, got shape \(3, 1\)$"),
        (T, [1, 1], r"^time and event must have the same length \(3 != 2\)$"),
        (T, np.array(["a", "b", "c"]), r"^event must be numeric or boolean, got dtype <U1$"),
        (T, [1.0, 0.5, 0.0], r"^event must contain integer values only$"),
        (T, np.array([1.0, 0.5, 0.0], dtype=np.float32), r"integer values only"),
        (T, [1.0, np.inf, 0.0], r"^event must contain integer values only$"),
        (T, [1, -1, 0], r"^event must be non-negative \(0 = censored\)$"),
        (T, [2, 3, 1], r"^event must be 0/1 \(or boolean\); found values \[2 3\]$"),
    ],
)
def test_kaplan_meier_refuses_bad_input_naming_it(time, event, message):
    with pytest.raises(ValueError, match=message):
        kaplan_meier(time, event)


def test_accepted_input_types():
    # integer times, float and boolean events, float32 integer-valued events
    ref = kaplan_meier(T, E)
    for time, event in (
        (np.array([1, 2, 3]), E),
        (T, np.array([1.0, 0.0, 1.0])),
        (T, np.array([True, False, True])),
        (T, np.array([1.0, 0.0, 1.0], dtype=np.float32)),
    ):
        pd.testing.assert_frame_equal(kaplan_meier(time, event), ref)
    assert ref.columns.tolist() == ["time", "at_risk", "events", "survival", "lo", "hi"]
    assert ref.at_risk.dtype == np.int64 and ref.events.dtype == np.int64
    # by hand: S = 1, 2/3 at 1, 2/3 at 2 (censored), 0 at 3
    assert ref.survival.tolist() == pytest.approx([1.0, 2 / 3, 2 / 3, 0.0])
    assert ref.at_risk.tolist() == [3, 3, 2, 1]


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_alpha_must_lie_strictly_between_0_and_1(alpha):
    with pytest.raises(ValueError, match=r"^alpha must lie strictly between 0 and 1, got "):
        kaplan_meier(T, E, alpha=alpha)
    with pytest.raises(ValueError, match=r"^alpha must lie strictly between 0 and 1, got "):
        cumulative_incidence(T, E, 1, alpha=alpha)


def test_table_and_t_checks_name_the_expected_producer():
    km = kaplan_meier(T, E)
    cif = cumulative_incidence(T, E, 1)
    with pytest.raises(ValueError, match=r"^t must not be NaN$"):
        survival_at(km, float("nan"))
    with pytest.raises(ValueError, match=r"^t must not be NaN$"):
        cif_at(cif, float("nan"))
    with pytest.raises(ValueError, match=r"^expected a DataFrame from kaplan_meier\(\), got list$"):
        survival_at([1, 2], 1.0)
    with pytest.raises(ValueError, match=r"^expected a DataFrame from kaplan_meier\(\), got dict$"):
        median_survival({})
    with pytest.raises(
        ValueError,
        match=r"^table is missing columns \['lo', 'hi'\]; expected the output of kaplan_meier\(\)$",
    ):
        survival_at(km[["time", "survival"]], 1.0)
    with pytest.raises(
        ValueError, match=r"^table is empty; expected the output of kaplan_meier\(\)$"
    ):
        median_survival(km.iloc[:0])
    with pytest.raises(
        ValueError, match=r"^table is missing columns \['cif'\]; expected the output of "
        r"cumulative_incidence\(\)$",
    ):  # fmt: skip
        cif_at(km, 1.0)
    with pytest.raises(ValueError, match=r"^event_code must be non-negative"):
        cumulative_incidence(T, [1, -1, 0], 1)
    with pytest.raises(ValueError, match=r"^time and event_code must have the same length"):
        cumulative_incidence(T, [1, 1], 1)


@pytest.mark.parametrize("cause", [True, 1.5, 0, -1])
def test_cause_must_be_a_positive_integer(cause):
    with pytest.raises(ValueError, match=r"^cause must be a positive integer event code"):
        cumulative_incidence(T, E, cause)


# ------------------------------------------------------------------- the estimates


def test_no_division_warnings_when_everyone_at_risk_has_the_event():
    # at the last time all 2 at risk die (n = d): Greenwood's term d / (n (n - d)) divides
    # by zero; the estimate handles it (S = 0, band 0) without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        km = kaplan_meier([1.0, 2.0, 3.0, 3.0], [0, 1, 1, 1])
        cif = cumulative_incidence([1.0, 2.0, 3.0, 3.0], [0, 2, 1, 1], 1)
    assert km.survival.iloc[-1] == 0.0 and km.lo.iloc[-1] == 0.0 and km.hi.iloc[-1] == 0.0
    # CIF of cause 1: 0 until 3; at 3: S(3-) * 2 / 2 = 1 * (1 - 1/3) = 2/3
    assert cif.cif.tolist() == pytest.approx([0.0, 0.0, 0.0, 2 / 3])


def test_cif_reaching_one_has_the_band_one():
    cif = cumulative_incidence([1.0, 2.0, 2.0], [1, 1, 1], 1)
    assert cif.cif.tolist() == pytest.approx([0.0, 1 / 3, 1.0])
    assert cif.lo.iloc[-1] == 1.0 and cif.hi.iloc[-1] == 1.0
    assert cif.columns.tolist() == ["time", "cif", "lo", "hi"]


def test_a_time_zero_row_is_added_when_the_first_time_is_after_zero():
    for first in (0.25, 1.0, 7.0):
        km = kaplan_meier([first, first + 1], [1, 0])
        cif = cumulative_incidence([first, first + 1], [1, 0], 1)
        assert km.time.tolist() == [0.0, first, first + 1]
        assert cif.time.tolist() == [0.0, first, first + 1]
        assert cif.cif.tolist() == pytest.approx([0.0, 0.5, 0.5])
        assert km.at_risk.dtype == np.int64 and km.events.dtype == np.int64


def test_step_functions_at_zero_with_events_at_zero():
    # 4 patients: one event at time 0, one of cause 1 at 0; right-continuous curves
    # include the drop at 0: S(0) = 3/4 ... and CIF_1(0) = 1/4
    time = [0.0, 0.0, 2.0, 5.0]
    km = kaplan_meier(time, [1, 0, 1, 0])
    assert km.time.iloc[0] == 0.0
    assert survival_at(km, 0.0)[0] == pytest.approx(3 / 4)
    assert survival_at(km, -1.0) == (1.0, 1.0, 1.0)
    cif = cumulative_incidence(time, [1, 2, 1, 0], 1)
    assert cif_at(cif, 0.0) == pytest.approx(1 / 4)
    assert cif_at(cif, -0.5) == 0.0
    assert cif_at(cif, 3.0) == pytest.approx(1 / 4 + (3 / 4 - 1 / 4) * 1 / 2)


def test_beyond_the_last_time():
    # curve reaching 0 with S > 0 at its second row: beyond the end it stays 0
    km = kaplan_meier([1.0, 2.0, 3.0], [0, 1, 1])
    assert km.survival.iloc[1] > 0.0 and km.survival.iloc[-1] == 0.0
    assert survival_at(km, 10.0) == (0.0, 0.0, 0.0)
    open_km = kaplan_meier([1.0, 2.0, 3.0], [1, 1, 0])
    assert all(math.isnan(v) for v in survival_at(open_km, 10.0))
    # CIF final beyond the last time: its last value (not the second, not the one before)
    cif = cumulative_incidence([1.0, 2.0, 3.0, 3.0], [2, 1, 1, 1], 1)
    assert cif.attrs["final_beyond_last_time"] is True
    assert cif_at(cif, 10.0) == pytest.approx(cif.cif.iloc[-1]) == pytest.approx(3 / 4)
    assert cif.cif.iloc[-2] != cif.cif.iloc[-1]
    # without the attribute (e.g. a table read back from CSV) beyond the end is unknown
    plain = pd.DataFrame(cif.to_dict("list"))
    assert plain.attrs == {}
    assert math.isnan(cif_at(plain, 10.0))
    assert cif_at(plain, 2.5) == pytest.approx(cif.cif.iloc[-2])
