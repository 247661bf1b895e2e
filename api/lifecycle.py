"""A gunicorn worker's start and stop, for the replies it streams (hooks in gunicorn.conf.py).

At start, the replies that a dead worker left streaming are marked interrupted (the master
swept at its own start too, but a worker killed later is replaced without one). On SIGTERM
(a deploy, a restart) open streams get `grace` seconds to finish, then end with a final event
and a record (services/stopping.py), before graceful_timeout runs out and the worker is killed.
On SIGINT/SIGQUIT (a quick stop) they end at once, and the worker waits for their records.
"""

from __future__ import annotations

import logging
import signal

from extensions import JOURNAL
from services import stopping

log = logging.getLogger(__name__)

# How long a quick stop waits for open streams to send their final event and be recorded.
QUICK_STOP_WAIT = 5.0


def worker_started(worker, *, grace: float) -> None:
    """Sweep and start the journal; end open streams gracefully on SIGTERM."""
    journal = worker.wsgi.extensions.get(JOURNAL) if hasattr(worker.wsgi, "extensions") else None
    if journal is not None:
        journal.start()  # sweeps first, in its own thread: the worker serves at once
    exit_on_term = worker.handle_exit

    def on_term(signum, frame) -> None:
        stopping.begin(grace)
        exit_on_term(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    # As gunicorn has it: the signal must not interrupt the requests' system calls.
    signal.siginterrupt(signal.SIGTERM, False)


def worker_interrupted(_worker) -> None:
    """SIGINT/SIGQUIT: end open streams now, and give them a moment to be recorded."""
    stopping.begin(0)
    if not stopping.wait_idle(QUICK_STOP_WAIT):
        log.warning("streams still open after %.0f s may lose a batch", QUICK_STOP_WAIT)
