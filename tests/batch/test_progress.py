"""Progress lines for ``kubectl logs`` (a pipe), a bar on a terminal."""

from __future__ import annotations

import io
import logging

import pytest

from batch.progress import Progress, eta_text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (59.4, "0:59"), (61, "1:01"), (3725, "1:02:05")]
)
def test_eta_reads_as_a_clock(seconds: float, text: str) -> None:
    assert eta_text(seconds) == text


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_line_says_rows_done_the_rate_and_the_time_left() -> None:
    progress = Progress("shard 2/4", 1_000_000, every=60, stream=_Pipe())
    progress.started -= 10  # ten seconds ago
    progress.done = 250_000
    line = progress.line()
    assert line.startswith("shard 2/4: 250,000 of 1,000,000 rows (25.0 %), ")
    rate = int(line.split(", ")[1].split(" ")[0].replace(",", ""))
    assert 24_000 <= rate <= 25_000
    assert line.endswith("ETA 0:30") or line.endswith("ETA 0:31")


def test_lines_go_to_the_log_no_more_often_than_asked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("batch")
    logger.addHandler(caplog.handler)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # as the CLI configures it: caplog's handler only, once
    try:
        progress = Progress("shard 1/1", 100, every=3600, stream=_Pipe())
        progress.advance(10)
        progress.advance(10)
        assert caplog.records == []
        progress.every = 0
        progress.advance(10)
        assert [r.getMessage()[:31] for r in caplog.records] == ["shard 1/1: 30 of 100 rows (30.0"]
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)
        logger.propagate = propagate


def test_a_terminal_gets_a_bar() -> None:
    screen = _Terminal()
    progress = Progress("shard 1/1", 100, every=0, stream=screen)
    progress.advance(50)
    progress.close()
    assert "shard 1/1" in screen.getvalue()
    assert "50%|#####" in screen.getvalue()
