"""Process lifecycle flags shared by the worker, the middleware and the health endpoints.

The worker stops in one way (``service.worker``'s drain) for two reasons, and the flags say
which: draining (SIGTERM: the pod is going away, so readiness turns false too) or retiring
(the worker reached MAX_REQUESTS: the pod is fine, readiness stays). Either way every
answer from then on tells its client to close the connection, so no keep-alive connection
is cut under a request.
"""

from __future__ import annotations

import threading

__all__ = [
    "begin_draining",
    "begin_retiring",
    "is_draining",
    "is_retiring",
    "reset",
]

_draining = threading.Event()
_retiring = threading.Event()


def begin_draining() -> None:
    """Called on SIGTERM: readiness turns false from now on."""
    _draining.set()


def is_draining() -> bool:
    """True once shutdown has begun."""
    return _draining.is_set()


def begin_retiring() -> None:
    """Called when the worker has served its quota: responses close their connections."""
    _retiring.set()


def is_retiring() -> bool:
    """True once the worker is retiring or draining: connections should not be kept."""
    return _retiring.is_set() or _draining.is_set()


def reset() -> None:
    """For tests that simulate a drain in process."""
    _draining.clear()
    _retiring.clear()
