"""The skip gate: a session with a skip or xfail whose reason is not in ALLOWED_SKIPS fails.

A skip hides whatever it skips: a broken install (a missing dev dependency or tool that the
project itself installs) or a test that stopped applying. So every skip (skip, skipif,
importorskip, xfail) of a session is collected, and one whose reason is not listed here fails
the session, with the list of offenders. This is the one place that lists the allowed skips,
each with why it is allowed (tests/README.md shows the same table); tests/conftest.py registers
the gate. Aim: none.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

ONE_CORE = "the benchmark pins the server and wrk to two different cores; this machine has one"

# skip reason, exactly as the test gives it -> why the skip is allowed
ALLOWED_SKIPS: dict[str, str] = {
    ONE_CORE: (
        "tests/bench/test_bench_smoke.py end-to-end run: a property of the machine, not of the "
        "install; `python -m bench` itself refuses to run on one core"
    ),
}


class Skip(NamedTuple):
    """One skipped (or xfailed) test or collector, and the reason it gave."""

    nodeid: str
    reason: str


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The reason of a skip or xfail report, as the test wrote it; None for anything else."""
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:  # xfail (outcome skipped) or a non-strict xpass (outcome passed)
        return f"xfail: {wasxfail}"
    if not report.skipped:
        return None
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


class SkipGate:
    """Collects the session's skips; fails the session on one whose reason is not allowed."""

    def __init__(self) -> None:
        self.skips: list[Skip] = []

    def not_allowed(self) -> list[Skip]:
        return [s for s in self.skips if s.reason not in ALLOWED_SKIPS]

    def _record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        reason = skip_reason(report)
        if reason is not None:
            self.skips.append(Skip(report.nodeid, reason))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Every phase's report: skipif marks skip in setup, pytest.skip() usually in call."""
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A module-level skip (importorskip, pytest.skip(allow_module_level=True))."""
        self._record(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A session with a skip that is not allowed fails, even if every test passed."""
        if self.not_allowed() and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        offenders = self.not_allowed()
        if not offenders:
            return
        terminalreporter.write_sep("=", f"{len(offenders)} skip(s) not allowed", red=True)
        for skip in offenders:
            terminalreporter.write_line(f"SKIP NOT ALLOWED {skip.nodeid}: {skip.reason}")
        terminalreporter.write_line(
            "A skip hides a broken install or a test that no longer applies: fix the cause (a "
            "dependency the project declares or installs must be present), or list the reason "
            "with its justification in ALLOWED_SKIPS (tests/support/skips.py) and tests/README.md.",
            red=True,
        )
