#!/bin/sh
# Azure App Service's startup command (docs/azure.md): set it to `sh startup.sh`.
#
# App Service's Python image would otherwise look for app.py and run gunicorn with its own
# flags; this runs ours (gunicorn.conf.py: gthread workers, streams that may last minutes)
# and writes the compressed scripts first if the build did not.
set -eu
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"

# The port App Service's front end sends requests to: the PORT the platform gives the
# process (it follows WEBSITES_PORT when the operator set one), else WEBSITES_PORT, else
# App Service's default, 8000.
export PORT="${PORT:-${WEBSITES_PORT:-8000}}"
# The front end is the only way in and adds one hop to X-Forwarded-For/-Proto/-Host: trust
# exactly that one, so the app sees https and the client's address (its limits key on it).
export TRUSTED_PROXIES="${TRUSTED_PROXIES:-1}"
export FORWARDED_ALLOW_IPS="${FORWARDED_ALLOW_IPS:-*}"

# Best-level brotli copies of the page's scripts (skipped files already written). Set
# PRECOMPRESS=false when the build ran it (POST_BUILD_COMMAND) and the start must be quick.
if [ "${PRECOMPRESS:-true}" != "false" ]; then
    "$PYTHON" chat_app.py precompress ||
        echo "startup.sh: precompress failed; scripts are compressed as they are served" >&2
fi

exec "$PYTHON" -m gunicorn chat_app:server
