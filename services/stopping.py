"""A graceful stop of this process: open streams end with a final event and a record.

A leaf module (standard library only): the gunicorn hooks (api/lifecycle.py) start the stop,
api/sse.py's relay and services/recording.py obey it, and neither may import the other.

Why a grace: a deploy's SIGTERM comes in the middle of replies; most finish within seconds,
so they get `grace` seconds to do so. Then each open stream is cancelled (the upstream is hung
up) and ends with SERVER_STOPPING as its final event, its text on record, before gunicorn's
graceful_timeout kills the worker.
"""

from __future__ import annotations

import threading
import time

_lock = threading.Condition()
_deadline: float | None = None
_open = 0

# The final event of a stream the server ended (services.conversation.SERVER_STOPPING).
STOPPING_EVENT = {
    "error": {
        "message": "The server restarted in the middle of this reply. Retry in a moment.",
        "type": "server_stopping",
    }
}


def begin(grace: float) -> None:
    """Stop: streams still open after `grace` seconds are ended (an earlier stop stands)."""
    global _deadline
    with _lock:
        deadline = time.monotonic() + max(0.0, grace)
        if _deadline is None or deadline < _deadline:
            _deadline = deadline
        _lock.notify_all()


def stopping() -> bool:
    """Whether this process is stopping."""
    return _deadline is not None


def due() -> bool:
    """Whether open streams must end now."""
    return _deadline is not None and time.monotonic() >= _deadline


def opened() -> None:
    """A stream starts (see `wait_idle`)."""
    global _open
    with _lock:
        _open += 1


def closed() -> None:
    """A stream is over: its final event sent, its record written."""
    global _open
    with _lock:
        _open -= 1
        _lock.notify_all()


def wait_idle(timeout: float) -> bool:
    """Wait until no stream is open; False if some still are after `timeout` seconds."""
    with _lock:
        return _lock.wait_for(lambda: _open <= 0, timeout)


def reset() -> None:
    """Forget a stop (for tests, which stop and go on in one process)."""
    global _deadline
    with _lock:
        _deadline = None
