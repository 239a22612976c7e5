"""The skip gate (tests/support/skips.py): a session with a skip it does not allow fails.

Each case runs a small inner pytest session with the gate registered, as the suite's own
``conftest.py`` registers it.
"""

from __future__ import annotations

import pytest

from tests.support.skips import ONE_CORE

pytest_plugins = ("pytester",)

GATE = (
    "from tests.support.skips import SkipGate\n"
    "def pytest_configure(config):\n"
    "    config.pluginmanager.register(SkipGate(), 'skip-gate')\n"
)

# (test module source, exit code, whether the gate names an offender)
CASES = [
    ("def test_ok():\n    pass\n", 0, False),
    ("import pytest\ndef test_s():\n    pytest.skip('tool missing')\n", 1, True),
    ("import pytest\n@pytest.mark.skipif(True, reason='no')\ndef test_s():\n    pass\n", 1, True),
    ("import pytest\nnope = pytest.importorskip('no_such_module_xyz')\n", 1, True),
    ("import pytest\n@pytest.mark.xfail(reason='later')\ndef test_x():\n    assert 0\n", 1, True),
    (f"import pytest\ndef test_s():\n    pytest.skip({ONE_CORE!r})\n", 0, False),
]  # fmt: skip


@pytest.mark.parametrize(("source", "code", "named"), CASES)
def test_the_gate_fails_a_session_with_a_skip_it_does_not_allow(
    pytester: pytest.Pytester, source: str, code: int, named: bool
) -> None:
    pytester.makeconftest(GATE)
    pytester.makepyfile(test_case=source)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == code, result.stdout.str()
    assert ("SKIP NOT ALLOWED" in result.stdout.str()) is named
