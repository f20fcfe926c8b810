"""tnkit.run.Progress on a log: a heartbeat while work goes on, rate and time left, silence for short work."""

from __future__ import annotations

import io
import threading
import time

from tnkit.run import Progress, format_duration


def _lines(log: io.StringIO) -> list[str]:
    return log.getvalue().splitlines()


def test_heartbeat_while_one_unit_takes_longer_than_the_interval() -> None:
    log = io.StringIO()
    with Progress(3, "job", unit="epoch", stream=log, log_every=0.2) as bar:
        bar.set_postfix(loss=0.5)
        time.sleep(0.75)  # one long epoch: no update at all meanwhile
        assert len(_lines(log)) >= 2 and all(line.startswith("job: 0/3 epochs (0%)") for line in _lines(log))
        bar.update()
    assert _lines(log)[-1].startswith("job: 1/3 epochs (33%)") and "loss=0.5" in _lines(log)[-1]


def test_lines_carry_rate_and_time_left() -> None:
    log = io.StringIO()
    with Progress(10, "sweep", unit="sweep", stream=log, log_every=0.1) as bar:
        for _ in range(4):
            time.sleep(0.06)
            bar.update()
        time.sleep(0.15)
    line = next(x for x in _lines(log) if x.startswith("sweep: 4/10"))
    assert " sweeps/s" in line and "left" in line


def test_rate_counts_only_this_processs_work_after_a_resume() -> None:
    log = io.StringIO()
    with Progress(100, "resumed", unit="step", stream=log, log_every=0.05, initial=90):
        time.sleep(0.12)  # nothing done by this process yet: no rate, no estimate
    assert all("/s" not in x and "left" not in x for x in _lines(log))
    assert _lines(log)[-1].startswith("resumed: 90/100 steps (90%)")


def test_short_work_is_silent_and_close_stops_the_heartbeat() -> None:
    log = io.StringIO()
    before = threading.active_count()
    with Progress(2, "quick", stream=log, log_every=5.0) as bar:
        bar.update(2)
    time.sleep(0.05)
    assert log.getvalue() == "" and threading.active_count() == before


def test_disabled_and_environment_silence(monkeypatch) -> None:
    log = io.StringIO()
    with Progress(2, "off", stream=log, log_every=0.01, enabled=False) as bar:
        time.sleep(0.05)
        bar.update()
    monkeypatch.setenv("TNKIT_NO_PROGRESS", "1")
    with Progress(2, "env", stream=log, log_every=0.01) as bar:
        time.sleep(0.05)
        bar.update()
    assert log.getvalue() == ""


def testformat_durations_read_naturally() -> None:
    assert [format_duration(s) for s in (12.06, 245, 7620)] == ["12.1 s", "4 min 05 s", "2 h 07 min"]
