"""Results are written atomically: a failed run leaves nothing that looks complete."""

import pytest

import sim.app.tasks.simulate as run_mod
from sim.api import load_config


def test_failed_run_leaves_no_result(tmp_path, monkeypatch):
    cfg = load_config(
        [
            "cohort.n=40",
            "strategy=[soc,il7]",
            "engine.chunk_size=10",
            "output.progress=false",
            "output.print_summary=false",
        ]
    )
    real = run_mod.chunks

    def dying(cfg, progress=None):
        for i, c in enumerate(real(cfg, progress)):
            if i == 3:
                raise KeyboardInterrupt  # as if the user hit Ctrl-C mid-run
            yield c

    monkeypatch.setattr(run_mod, "chunks", dying)
    with pytest.raises(KeyboardInterrupt):
        run_mod.run(cfg, tmp_path, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no parquet, no temp files


BASE_OUTPUTS = {
    "summary.csv",
    "patients.parquet",
    "events.parquet",
    "labs.parquet",
    "config.yaml",
    "report.html",
}


@pytest.mark.parametrize(
    "uncertainty, extra",
    [
        (["uncertainty=none"], set()),
        # the default: nested posterior simulation (few draws here) adds its two tables
        (
            ["uncertainty.draws=3", "uncertainty.n_per_draw=20"],
            {"survival_band.csv", "uncertainty_draws.csv"},
        ),
    ],
)
def test_complete_run_lists_its_outputs(tmp_path, uncertainty, extra):
    cfg = load_config(
        [
            "cohort.n=40",
            "strategy=soc",
            "output.progress=false",
            "output.print_summary=false",
            "output.plots=false",
            *uncertainty,
        ]
    )
    run_mod.run(cfg, tmp_path, "seed: 1\n")
    import json

    meta = json.loads((tmp_path / "run.json").read_text())
    assert set(meta["outputs"]) == BASE_OUTPUTS | extra


def test_parquet_parts_commit_replace_and_abort(tmp_path):
    import pandas as pd

    from sim.core.io import ParquetParts

    path = tmp_path / "patients.parquet"
    frames = [pd.DataFrame({"patient_id": range(i * 10, i * 10 + 10), "x": 0.5}) for i in range(3)]
    parts = ParquetParts(path)
    for f in frames:
        parts.append(f)
    assert not path.exists()  # nothing visible before commit
    parts.commit()
    assert sorted(p.name for p in path.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    got = pd.read_parquet(path).sort_values("patient_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, pd.concat(frames, ignore_index=True))
    # a re-run replaces the dataset as a whole
    again = ParquetParts(path)
    again.append(frames[0])
    again.commit()
    assert len(pd.read_parquet(path)) == 10
    # a killed run leaves neither parts nor a temporary directory
    killed = ParquetParts(tmp_path / "events.parquet")
    killed.append(frames[0])
    killed.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patients.parquet"]


@pytest.mark.parametrize("kind", ["ParquetStream", "ParquetParts"])
def test_parquet_writer_thread_errors_surface_and_leave_nothing(tmp_path, kind):
    """Appends are written on a thread: a chunk that cannot be written (a column that
    does not fit the first chunk's schema) fails the next append or the commit, in the
    caller, and nothing that looks like a result (nor a temporary) is left."""
    import pandas as pd

    from sim.core import io

    good = pd.DataFrame({"patient_id": [1, 2], "x": [0.5, 1.5]})
    bad = pd.DataFrame({"patient_id": [3], "x": ["not a number"]})
    s = getattr(io, kind)(tmp_path / "patients.parquet")
    s.append(good)
    s.append(bad)  # handed to the thread; its error is raised at the next call
    with pytest.raises((ValueError, TypeError)):
        s.append(good)
        s.commit()
    s.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # in order, and the same table as written in line
    ok = getattr(io, kind)(tmp_path / "labs.parquet")
    frames = [good.assign(patient_id=good.patient_id + 10 * i) for i in range(5)]
    for f in frames:
        ok.append(f)
    ok.commit()
    got = pd.read_parquet(tmp_path / "labs.parquet")
    pd.testing.assert_frame_equal(got, pd.concat(frames, ignore_index=True))


def test_abort_all_stops_every_stream_even_when_one_abort_fails(tmp_path):
    """On the way out of an interrupt: a stream whose writer cannot close still loses its
    temp file, and the streams after it are still stopped and cleaned (a stream left
    running would write its temp file after the run's clean-up)."""
    import pandas as pd

    from sim.core import io

    df = pd.DataFrame({"patient_id": [1, 2], "x": [0.5, 1.5]})
    broken, after = io.ParquetStream(tmp_path / "a.parquet"), io.ParquetParts(tmp_path / "b")
    for s in (broken, after):
        s.append(df)
    broken._wait()  # its writer exists now

    class CloseFails:
        def close(self):
            raise OSError("disk gone")

    broken._writer = CloseFails()
    with pytest.raises(OSError, match="disk gone"):
        io.abort_all([broken, after])
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert after._pool is None  # its writer thread was stopped too
