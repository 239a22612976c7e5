"""The micro-batcher's settings reach its policy, and bad values stop the server at start.

``BATCH_*`` environment variables -> :class:`Settings` -> ``create_app`` -> the data plane's
:class:`BatchPolicy` (milliseconds become seconds). A value the policy cannot honour is
refused by validation with the variable's name and the bound it broke. The 503 +
Retry-After of a full queue, configured the same way, is in tests/test_batching.py
(``test_each_door_sheds_load_with_503_and_retry_after``).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.batching import Batcher, BatchPolicy
from service.models import ModelRepository
from service.rest.app import create_app
from service.settings import Settings

BATCH_VARIABLES = (
    "BATCH_ENABLED",
    "BATCH_MAX_ROWS",
    "BATCH_MAX_WAIT_MS",
    "BATCH_QUEUE_ROWS",
    "BATCH_INLINE_MS",
)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No BATCH_* variable from the machine running the tests."""
    for name in BATCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def policy_of(repository: ModelRepository) -> BatchPolicy | None:
    """The policy of the batcher the app built from the environment (None: no batcher)."""
    batcher = create_app(Settings(), repository=repository).state.dataplane.batcher
    if batcher is None:
        return None
    assert isinstance(batcher, Batcher)
    return batcher.policy


@pytest.mark.parametrize(
    ("env", "policy"),
    [
        ({}, None),  # off by default
        ({"BATCH_ENABLED": "false", "BATCH_MAX_ROWS": "7"}, None),  # knobs alone do not enable
        ({"BATCH_ENABLED": "true"}, BatchPolicy()),  # the settings' defaults are the policy's
        (
            {
                "BATCH_ENABLED": "1",
                "BATCH_MAX_ROWS": "7",
                "BATCH_MAX_WAIT_MS": "3.5",
                "BATCH_QUEUE_ROWS": "11",
                "BATCH_INLINE_MS": "0.25",
            },
            BatchPolicy(max_rows=7, max_wait=0.0035, queue_rows=11, inline_below=0.00025),
        ),
        (
            {"BATCH_ENABLED": "yes", "BATCH_MAX_WAIT_MS": "0", "BATCH_INLINE_MS": "0"},
            BatchPolicy(max_wait=0.0, inline_below=0.0),  # no window; every pass threaded
        ),
    ],
)
def test_batch_settings_reach_the_policy(
    environment: pytest.MonkeyPatch,
    default_repository: ModelRepository,
    env: dict[str, str],
    policy: BatchPolicy | None,
):
    for name, value in env.items():
        environment.setenv(name, value)
    assert policy_of(default_repository) == policy  # these milliseconds convert exactly


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BATCH_ENABLED", "maybe", "Input should be a valid boolean"),
        ("BATCH_MAX_ROWS", "0", "Input should be greater than or equal to 1"),
        ("BATCH_MAX_ROWS", "-3", "Input should be greater than or equal to 1"),
        ("BATCH_MAX_ROWS", "2.5", "Input should be a valid integer"),
        ("BATCH_MAX_WAIT_MS", "-1", "Input should be greater than or equal to 0"),
        ("BATCH_MAX_WAIT_MS", "nan", "Input should be a finite number"),
        ("BATCH_MAX_WAIT_MS", "inf", "Input should be a finite number"),  # no bound at all
        ("BATCH_INLINE_MS", "inf", "Input should be a finite number"),
        ("BATCH_MAX_WAIT_MS", "2ms", "Input should be a valid number"),
        ("BATCH_QUEUE_ROWS", "0", "Input should be greater than or equal to 1"),
        ("BATCH_INLINE_MS", "-0.1", "Input should be greater than or equal to 0"),
    ],
)
def test_bad_batch_settings_are_refused_at_start(
    environment: pytest.MonkeyPatch, name: str, value: str, message: str
):
    """Refused even with batching off: a bad value is a typo to report, not to ignore."""
    environment.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    (error,) = refused.value.errors()
    assert error["loc"] == (name.lower(),)
    assert error["msg"].startswith(message)
    assert error["input"] == value
    assert name.lower() in str(refused.value)
