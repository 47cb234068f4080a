"""The event log: typed fields, labels written from them, declared names only."""

import numpy as np
import pandas as pd
import pytest

from sim.model.events import COLUMNS, Event, EventLog, event_codes


def _log() -> EventLog:
    return EventLog(therapies=("art", "steroids"), side_effects=("rash",), rules=("on_iris",))


def test_typed_fields_and_the_labels_written_from_them():
    log = _log()
    p = np.array([0, 1])
    log.add(p, 0.0, Event.DIAGNOSIS)
    log.add(p, 0.0, Event.THERAPY_START, therapy="art", course=1)
    log.add(p[:1], 3.0, Event.SIDE_EFFECT, therapy="art", course=1, side_effect="rash", severe=True)
    log.add(p[1:], 5.0, Event.RULE_FIRED, rule="on_iris")
    ev = log.to_frame()
    assert list(ev.columns) == list(COLUMNS)
    row = ev[(ev.patient_id == 0) & (ev.event == "side_effect")].iloc[0]
    assert (row.detail, row.therapy, row.course, row.side_effect, row.severe) == (
        "art:rash",
        "art",
        1,
        "rash",
        True,
    )
    fired = ev[ev.event == "rule_fired"].iloc[0]
    assert (fired.detail, fired.rule, fired.course) == ("on_iris", "on_iris", 0)
    assert pd.isna(fired.therapy)
    start = ev[ev.event == "therapy_start"]
    assert start.detail.tolist() == ["art", "art"] and not start.severe.any()
    dx = ev[ev.event == "diagnosis"]
    assert dx.detail.tolist() == ["", ""] and dx.therapy.isna().all()
    # the categories are the declared names, whatever was logged
    assert list(ev.therapy.cat.categories) == ["art", "steroids"]
    assert list(ev.rule.cat.categories) == ["on_iris"]


def test_ties_are_ordered_by_code_label_and_course_not_by_logging_order():
    log = _log()
    p = np.array([0])
    log.add(p, 7.0, Event.THERAPY_START, therapy="steroids", course=2)
    log.add(p, 7.0, Event.THERAPY_STOP, therapy="steroids", course=1)
    log.add(p, 7.0, Event.THERAPY_START, therapy="art", course=1)
    log.add(p, 7.0, Event.VISIT)
    ev = log.to_frame()
    got = list(zip(ev.event.astype(str), ev.detail, ev.course, strict=True))
    assert got == [
        ("visit", "", 0),
        ("therapy_start", "art", 1),
        ("therapy_start", "steroids", 2),
        ("therapy_stop", "steroids", 1),
    ]


def test_rows_alike_in_all_five_keys_keep_their_logging_order():
    """The rows are a stable sort of the log by patient, time, code, label and course:
    rows alike in all five (here a side effect, severe or not, of the same course) stay
    in the order they were logged, whatever order their entries were first stored in.
    Reference: pandas' stable sort of the rows as logged."""
    log = _log()
    rash = dict(therapy="art", course=1, side_effect="rash")
    log.add(np.array([5]), 1.0, Event.SIDE_EFFECT, severe=True, **rash)  # stored first
    log.add(np.array([0]), 0.0, Event.DIAGNOSIS)
    log.add(np.array([0, 1]), 3.0, Event.SIDE_EFFECT, severe=False, **rash)
    log.add(np.array([0, 1]), 3.0, Event.SIDE_EFFECT, severe=True, **rash)
    log.add(np.array([1]), 3.0, Event.SIDE_EFFECT, severe=False, **rash)
    logged = pd.DataFrame(
        {
            "patient_id": [5, 0, 0, 1, 0, 1, 1],
            "time_days": [1.0, 0.0, 3.0, 3.0, 3.0, 3.0, 3.0],
            "code": [5, 0, 5, 5, 5, 5, 5],
            "detail": ["art:rash", "", "art:rash", "art:rash", "art:rash", "art:rash", "art:rash"],
            "course": [1, 0, 1, 1, 1, 1, 1],
            "severe": [True, False, False, False, True, True, False],
        }
    )
    expected = logged.sort_values(
        ["patient_id", "time_days", "code", "detail", "course"], kind="stable"
    )
    ev = log.to_frame()
    cols = ["patient_id", "time_days", "detail", "course", "severe"]
    assert ev[cols].astype(object).values.tolist() == expected[cols].astype(object).values.tolist()
    assert ev[ev.patient_id == 0].severe.tolist() == [False, False, True]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"code": Event.THERAPY_START, "therapy": "artt", "course": 1}, "therapy 'artt'"),
        ({"code": Event.THERAPY_START, "therapy": "art"}, "course"),
        ({"code": Event.VISIT, "therapy": "art", "course": 1}, "therapy events only"),
        (
            {"code": Event.SIDE_EFFECT, "therapy": "art", "course": 1, "side_effect": "itch"},
            "side effect 'itch'",
        ),
        ({"code": Event.SIDE_EFFECT, "therapy": "art", "course": 1}, "side_effect"),
        ({"code": Event.DOSE, "therapy": "art", "course": 1, "severe": True}, "severe"),
        ({"code": Event.RULE_FIRED}, "rule"),
        ({"code": Event.RULE_FIRED, "rule": "on_mri"}, "rule 'on_mri'"),
    ],
)
def test_an_undeclared_name_or_a_misplaced_field_raises_when_logged(kwargs, message):
    log = _log()
    kwargs = dict(kwargs)  # a copy: the parameter set is shared by every run of the test
    code = kwargs.pop("code")
    with pytest.raises(ValueError, match=message):
        log.add(np.array([0]), 1.0, code, **kwargs)


def test_event_codes_reads_names_and_rejects_unknown_ones():
    ev = pd.DataFrame({"event": ["visit", "death", "visit"]})
    assert event_codes(ev).tolist() == [Event.VISIT, Event.DEATH, Event.VISIT]
    with pytest.raises(ValueError, match="unknown event 'dosing'"):
        event_codes(pd.DataFrame({"event": ["visit", "dosing"]}))


@pytest.mark.parametrize(
    "values, categories",
    [
        (["visit", "death", "visit", "dose"], None),
        (["visit", "death", "visit"], ["visit", "death", "dosing"]),  # unused: no error
        (["visit", "dosing", "visit"], None),
        (["visit", None, "death"], None),  # a missing event is unknown ("nan")
        ([], None),
    ],
)
def test_event_codes_read_a_categorical_as_its_text(values, categories):
    """The categorical shortcut gives what the text gives, errors included."""
    cat = pd.DataFrame({"event": pd.Categorical(values, categories=categories)})
    text = pd.DataFrame({"event": pd.Series(cat["event"].astype(str), dtype=object)})

    def outcome(ev):
        try:
            return event_codes(ev).tolist()
        except ValueError as e:
            return str(e)

    got, want = outcome(cat), outcome(text)
    assert got == want
    assert isinstance(got, list) == ("dosing" not in values and None not in values)


def test_an_empty_log_has_every_column():
    ev = _log().to_frame()
    assert list(ev.columns) == list(COLUMNS) and len(ev) == 0


# the schema of `events.parquet`: every chunk writes these types, whatever it logged
SCHEMA = {
    "patient_id": "int64",
    "time_days": "float64",
    "event": "category",
    "detail": "object",
    "therapy": "category",
    "course": "int16",
    "side_effect": "category",
    "severe": "bool",
    "rule": "category",
}


def test_the_frame_has_the_same_column_types_empty_or_not():
    empty = _log().to_frame()
    log = _log()
    log.add(np.array([3, 1], dtype=np.int32), 2, Event.VISIT)  # int32 ids, an int time
    log.add([2], 4.5, Event.THERAPY_START, therapy="art", course=1)
    log.add([2], 6.0, Event.SIDE_EFFECT, therapy="art", course=1, side_effect="rash")
    for ev in (empty, log.to_frame()):
        assert {c: str(t) for c, t in ev.dtypes.items()} == SCHEMA


def test_each_row_keeps_its_own_time():
    log = _log()
    log.add(np.array([5, 6, 7]), np.array([3.0, 1.5, 9.25]), Event.IRIS_ONSET)
    log.add(np.array([5, 6]), 2.0, Event.VISIT)
    log.add(np.array([7]), 365.0, Event.END_OF_FOLLOW_UP)
    ev = log.to_frame()
    got = list(zip(ev.patient_id, ev.time_days, ev.event.astype(str), strict=True))
    assert got == [
        (5, 2.0, "visit"),
        (5, 3.0, "iris_onset"),
        (6, 1.5, "iris_onset"),
        (6, 2.0, "visit"),
        (7, 9.25, "iris_onset"),
        (7, 365.0, "end_of_follow_up"),
    ]


def test_each_distinct_entry_is_stored_once():
    """Rows hold an index into the log's entries: logging the same typed fields again
    (every visit, every dose) adds rows, not entries."""
    log = _log()
    for day in range(50):
        log.add(np.arange(10), float(day), Event.VISIT)
        log.add(np.arange(3), float(day), Event.DOSE, therapy="art", course=1)
    log.add(np.arange(3), 60.0, Event.DOSE, therapy="art", course=2)
    assert len(log.entries) == 3
    assert len(log.to_frame()) == 50 * 13 + 3


def test_event_codes_are_int8_and_keep_the_column_shape():
    ev = pd.DataFrame({"event": pd.Categorical(["death", "visit", "dose", "visit"])})
    codes = event_codes(ev)
    assert codes.dtype == np.int8 and codes.shape == (4,)
    assert codes.tolist() == [Event.DEATH, Event.VISIT, Event.DOSE, Event.VISIT]


def test_the_rule_column_takes_the_runs_rules_and_refuses_a_missing_one():
    """A chunk's table has the run's rule names as categories (every strategy's, so the
    chunks share one schema); a log whose strategy has a rule the run does not list is
    an error, fired or not."""
    log = _log()
    log.add(np.array([0, 1]), 5.0, Event.RULE_FIRED, rule="on_iris")
    ev = log.to_frame(("at_visit", "on_iris"))
    assert list(ev["rule"].cat.categories) == ["at_visit", "on_iris"]
    assert ev["rule"].astype(str).tolist() == ["on_iris", "on_iris"]
    with pytest.raises(ValueError, match=r"rules \['on_iris'\] logged but not among"):
        log.to_frame(("at_visit",))
    quiet = _log()  # the rule never fired: still refused
    quiet.add(np.array([0]), 0.0, Event.DIAGNOSIS)
    with pytest.raises(ValueError, match="on_iris"):
        quiet.to_frame(())
