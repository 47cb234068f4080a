"""Nothing lost, nothing overwritten: own folders for simultaneous runs, SIGTERM like
Ctrl-C, stale temporaries removed, orphaned workers exit, one bad sweep job fails alone,
full-precision CSVs, a full disk reported in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_helper import pml_sim

SMALL = ["cohort.n=200", "strategy=[soc]", "output.progress=false", "output.plots=false",
         "uncertainty=none"]  # fmt: skip


def _start(*args, cwd=None):
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_simultaneous_runs_get_their_own_folders(tmp_path):
    procs = [_start(*SMALL, f"seed={s}", cwd=tmp_path) for s in (1, 2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    runs = sorted(tmp_path.glob("results/*/*/run.json"))
    assert len(runs) == 2
    seeds = sorted(json.loads(r.read_text())["seed"] for r in runs)
    assert seeds == [1, 2]


def _wait_for(predicate, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    out = tmp_path / "run"
    p = _start(
        "cohort.n=400000",
        "strategy=[soc]",
        "uncertainty=none",
        "engine.chunk_size=5000",
        "output.progress=false",
        f"hydra.run.dir={out}",
    )
    assert _wait_for(lambda: any(out.glob(".*.tmp"))), "the run never started writing"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 143
    err = p.stderr.read()
    assert "terminated" in err and "Traceback" not in err
    assert not list(out.glob(".*.tmp")) and not (out / "run.json").exists()


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = 2**22 + 12345  # above pid_max's default: no such process
    stale = [out / f".patients.parquet.{dead}.tmp", out / f".summary.csv.{dead}.tmp"]
    for s in stale:
        s.write_text("half-written")
    (out / f".events.parquet.{dead}.tmp").mkdir()
    (out / f".events.parquet.{dead}.tmp" / "part-00000.parquet").write_text("x")
    alive = out / f".labs.parquet.{os.getpid()}.tmp"  # a live process's file stays
    alive.write_text("busy")
    r = pml_sim(*SMALL, f"hydra.run.dir={out}")
    assert r.returncode == 0, r.stderr
    assert not any(s.exists() for s in stale)
    assert not (out / f".events.parquet.{dead}.tmp").exists()
    assert alive.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_workers_exit_when_the_parent_dies(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, time\n"
        "from sim.config.schema import ExecutorConfig\n"
        "from sim.engine.executors import ordered_map\n"
        "if __name__ == '__main__':\n"
        "    with ordered_map(ExecutorConfig(kind='processes', workers=2)) as run:\n"
        "        pids = list(run(os.getpid, [(), (), (), ()]))\n"
        "        print(' '.join(map(str, sorted(set(pids)))), flush=True)\n"
        "        time.sleep(120)\n"
    )
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    pids = [int(x) for x in p.stdout.readline().split()]
    assert pids
    p.kill()  # SIGKILL: no cleanup code of the parent runs
    p.wait()

    def gone():
        return not any(
            Path(f"/proc/{pid}").exists()
            and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
            for pid in pids
            if Path(f"/proc/{pid}/stat").exists()
        )

    assert _wait_for(gone, timeout=15), "orphaned workers still running"


def test_one_bad_value_in_a_sweep_fails_that_job_only(tmp_path):
    sweep = tmp_path / "sweep"
    r = pml_sim(
        "-m",
        "cohort.n=100,-5,200",
        "strategy=[soc]",
        "uncertainty=none",
        "output.progress=false",
        "output.plots=false",
        f"hydra.sweep.dir={sweep}",
    )
    assert r.returncode == 1
    assert "cohort.n: must be an integer >= 1, got -5" in r.stderr
    assert "1 job(s) of the sweep failed" in r.stderr
    assert (sweep / "0" / "run.json").is_file() and (sweep / "2" / "run.json").is_file()
    assert not (sweep / "1" / "run.json").exists()
    assert "cohort.n" in (sweep / "1" / "error.txt").read_text()


def test_corrupt_run_json_is_run_again(tmp_path):
    out = tmp_path / "run"
    assert pml_sim(*SMALL, f"hydra.run.dir={out}").returncode == 0
    (out / "run.json").write_text("{not json")
    r = pml_sim(*SMALL, f"hydra.run.dir={out}")
    assert r.returncode == 0 and "skipped" not in r.stdout
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_resuming_a_sweep_reruns_only_the_job_with_a_corrupt_run_json(tmp_path):
    """A sweep re-run into its folder skips complete jobs; a job whose run.json is
    corrupt (a crash while writing it, a disk error) is not complete: it runs again and
    gives the same numbers, and the complete job is left untouched."""
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=1,2", *SMALL, "output.print_summary=false", f"hydra.sweep.dir={sweep}"]
    assert pml_sim(*args).returncode == 0
    summary0 = (sweep / "0" / "summary.csv").read_bytes()
    stamp1 = (sweep / "1" / "run.json").read_bytes()
    (sweep / "0" / "run.json").write_text('{"status": "complete", "config_hash": ')  # cut short
    r = pml_sim(*args)
    assert r.returncode == 0, r.stderr
    assert f"{sweep / '1'} is already complete with this config; skipped" in r.stdout
    assert f"{sweep / '0'} is already complete" not in r.stdout
    assert json.loads((sweep / "0" / "run.json").read_text())["status"] == "complete"
    assert (sweep / "0" / "summary.csv").read_bytes() == summary0
    assert (sweep / "1" / "run.json").read_bytes() == stamp1


def test_csv_keeps_full_precision(tmp_path):
    from sim.core import io

    x = 1234567.891234567
    df = pd.DataFrame({"cost": [x, 1 / 3], "icer": [2.0 / 3.0 * 1e6, 0.1]})
    io.write_csv(tmp_path / "t.csv", df)
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["cost"].tolist() == [x, 1 / 3]  # exact round trip
    assert back["icer"].tolist() == df["icer"].tolist()


def test_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    """A write that fails with ENOSPC: the run fails with one line and no 0-byte error.txt."""
    import errno

    from sim.app import hydra_app

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("sim.core.io.write_text", full)
    where = hydra_app._write_error(tmp_path, "traceback")
    assert where == "not written: No space left on device"
    assert not (tmp_path / "error.txt").exists()


def test_real_full_disk(tmp_path):
    """On a 200 kB tmpfs (needs root to mount; skipped where mounting is not allowed)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    ok = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True
    )
    if ok.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        r = pml_sim(
            "cohort.n=3000",
            "strategy=[soc]",
            "uncertainty=none",
            "output.progress=false",
            f"hydra.run.dir={mnt / 'run'}",
        )
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0], r.stderr
        assert not (mnt / "run" / "run.json").exists()
        assert not list((mnt / "run").glob(".*.tmp"))
        err = mnt / "run" / "error.txt"
        assert not err.exists() or err.stat().st_size > 0  # never a 0-byte error.txt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_one_process_pool_per_run(tmp_path):
    """Every simulation call of a run reuses the same worker processes (no new spawn)."""
    script = tmp_path / "twice.py"
    script.write_text(
        "import os\n"
        "from sim.config.schema import ExecutorConfig\n"
        "from sim.engine.executors import ordered_map\n"
        "if __name__ == '__main__':\n"
        "    ex = ExecutorConfig(kind='processes', workers=2)\n"
        "    seen = []\n"
        "    for _ in range(3):\n"
        "        with ordered_map(ex) as run:\n"
        "            seen.append(set(run(os.getpid, [()] * 8)))\n"
        "    print(len(set().union(*seen)))\n"
    )
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) <= 2  # 3 calls x 8 tasks on at most the 2 workers of one pool


def test_a_signal_wrapped_by_a_compiled_call_still_stops_the_run():
    # numba turns an exception raised by a signal handler inside a jitted call into
    # SystemError (seen in CI: exit 1 "run failed" instead of 143)
    from sim.app.cli import Terminated
    from sim.app.hydra_app import _interrupt_in_chain

    def wrapped(inner: BaseException) -> Exception:
        try:
            try:
                raise inner
            except BaseException as e:
                raise SystemError("returned a result with an exception set") from e
        except SystemError as outer:
            try:
                raise RuntimeError("simpy re-raise") from outer
            except RuntimeError as top:
                return top

    assert isinstance(_interrupt_in_chain(wrapped(Terminated())), Terminated)
    assert _interrupt_in_chain(wrapped(ValueError("a real failure"))) is None


def test_an_interrupted_run_removes_its_own_temporaries_only(tmp_path):
    # the safety net on the way out of Ctrl-C / SIGTERM (CI once kept an events .tmp)
    from sim.app.hydra_app import remove_stale_temporaries

    mine = tmp_path / f".events.parquet.{os.getpid()}.tmp"
    mine_dir = tmp_path / f".labs.parquet.{os.getpid()}.tmp"
    other_alive = tmp_path / f".patients.parquet.{os.getppid()}.tmp"
    dead = tmp_path / f".summary.csv.{2**22 + 12345}.tmp"
    for p in (mine, other_alive, dead):
        p.write_text("x")
    mine_dir.mkdir()
    (mine_dir / "part-00000.parquet").write_text("x")
    removed = remove_stale_temporaries(tmp_path, own=True)
    assert sorted(removed) == sorted([mine.name, mine_dir.name])
    assert other_alive.exists() and dead.exists()  # dead ones: the next run's job
