"""Production server settings: `gunicorn chat_app:server` reads this file from the repo root.

Why gthread: a streamed reply keeps its HTTP request open for as long as the model writes
(often 10-60 s). A sync worker serves one request at a time, so one reply would block every
other visitor, and its timeout kills long replies. gthread gives each open stream its own
thread, needs no monkey-patching (gevent patches sockets and threads under the openai SDK),
and its timeout only watches the worker's heartbeat, not how long a request lasts.
Capacity = WEB_CONCURRENCY x GUNICORN_THREADS open streams (2 x 32 = 64 by default).

Why buffered_worker: plain gthread gives a thread to a connection as soon as it is readable, so
clients that send headers and then trickle the body held every thread (see buffered_worker.py).
Its threads only get requests read whole, by the worker's event loop, within
REQUEST_READ_TIMEOUT seconds and MAX_REQUEST_BYTES.
"""

import os

# PORT (Render, Heroku-likes, App Service); WEBSITES_PORT is App Service's name for the port
# an operator picked (startup.sh prefers it there).
bind = f"0.0.0.0:{os.environ.get('PORT') or os.environ.get('WEBSITES_PORT') or '8050'}"
worker_class = "buffered_worker.BufferingThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# On SIGTERM (a deploy) a streaming reply may go on this long; then it ends with a final event
# and its record, well before graceful_timeout kills the worker (api/lifecycle.py). Not a
# gunicorn setting (gunicorn ignores names it does not know).
STREAM_STOP_GRACE = float(os.environ.get("STREAM_STOP_GRACE", "20"))
keepalive = 5
accesslog = "-"
# Method and path only: bodies (the conversation), headers and query strings (a
# /terminal/link token is one) are not logged.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
# Load the app once in the master and fork workers from it: the token tables (about 100 MB)
# are then shared by every worker instead of loaded by each (see when_ready).
preload_app = True

# Render and most PaaS terminate TLS in a proxy in front of us (App Service: startup.sh sets
# '*', since its front end is the only way in).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server):
    """Load the token tables and the SDK's lazy parts in the master, before workers fork
    (they share the pages, and no visitor's first reply waits for them)."""
    from services.llm_client import warm_sdk
    from services.tokens import warm

    warm()
    warm_sdk()


def post_worker_init(worker):
    """Mark the replies a dead worker left streaming interrupted; on SIGTERM, end open streams
    with a final event and a record before the worker exits."""
    from api.lifecycle import worker_started

    worker_started(worker, grace=min(STREAM_STOP_GRACE, graceful_timeout - 5))


def worker_int(worker):
    """SIGINT/SIGQUIT: open streams end at once, recorded, before the worker exits."""
    from api.lifecycle import worker_interrupted

    worker_interrupted(worker)
