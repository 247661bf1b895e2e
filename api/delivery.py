"""How the page's files travel: compressed (brotli, else gzip), never the event stream.

The page's scripts are about 7.7 MB as files (the feffery components are most of it): 2.0 MB
with brotli at the level a server can afford per request, 1.76 MB at brotli's best level,
which takes about 10 s. So `python chat_app.py precompress` (Render's build step) writes the
best-level files once, and they are served when present. Dash already gives the scripts
fingerprinted URLs with a one-year cache lifetime, so a returning browser fetches only the
page, its layout and its callbacks, a few KB compressed. See bench/page_weight.py.
"""

from __future__ import annotations

import mimetypes
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import brotli
import rcssmin
import rjsmin
from dash import Dash
from dash.fingerprint import check_fingerprint
from flask import Flask, Request, Response, request
from flask_compress import Compress

from config import APP_DIR

PRECOMPRESSED_DIR = APP_DIR / "data" / "precompressed"
SUITES_ENDPOINT = "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>"
ASSETS_ENDPOINT = "_dash_assets.static"
MINIFIERS = {".js": rjsmin.jsmin, ".css": rcssmin.cssmin}
ONE_YEAR = 31536000

# Fingerprinted: a URL's content never changes, so its compressed body can be kept.
STATIC_PREFIX = "/_dash-component-suites/"


class _StaticFilesCache:
    """Compressed bodies of fingerprinted script files, once per process; nothing else."""

    def __init__(self) -> None:
        self._bodies: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self._bodies.get(key)

    def set(self, key: str, value: bytes) -> None:
        if STATIC_PREFIX in key:
            with self._lock:
                self._bodies[key] = value


def _cache_key(current: Request) -> str:
    return current.full_path


def init_delivery(server: Flask) -> None:
    """Compress responses on `server` (call once, before the first request)."""
    server.config.update(
        COMPRESS_ALGORITHM=["br", "gzip"],
        # Brotli 5: about as fast as gzip 6 on the layout and callbacks, 10% smaller.
        COMPRESS_BR_LEVEL=5,
        # Streamed responses are compressed only for the types listed (flask-compress's
        # defaults: scripts, CSS, JSON, HTML...; Flask sends files from assets/ as streams).
        # text/event-stream is not one of them: a compressed reply would arrive in bursts.
        COMPRESS_STREAMS=True,
        COMPRESS_CACHE_BACKEND=_StaticFilesCache,
        COMPRESS_CACHE_KEY=_cache_key,
    )
    Compress(server)


def _source_file(package: str, path_in_package: str) -> Path | None:
    module = sys.modules.get(package)
    if module is None or not getattr(module, "__file__", None):
        return None
    return Path(module.__file__).parent / path_in_package


def _precompressed_file(package: str, path_in_package: str, directory: Path) -> Path | None:
    """Where the best-level brotli copy of a package file lives (named for its version and
    size, so an upgraded package never gets a stale copy)."""
    source = _source_file(package, path_in_package)
    if source is None or not source.is_file():
        return None
    version = getattr(sys.modules[package], "__version__", "0")
    return directory / package / version / f"{path_in_package}.{source.stat().st_size}.br"


# Async chunks bigger than this are features the page does not use (plotly, MathJax, editors,
# players); brotli's best level would take minutes on them for nothing.
MAX_ASYNC_CHUNK = 1_000_000


def _page_scripts(app: Dash) -> set[tuple[str, str]]:
    """(package, path) of the scripts the page loads: its script tags and the small async
    chunks its components fetch on demand."""
    with app.server.test_request_context("/"):
        page = app.index()  # also fills app.registered_paths, the files Dash may serve
    tags = {
        (package, check_fingerprint(path)[0])
        for package, path in re.findall(r'/_dash-component-suites/([^/"]+)/([^"?]+)', page)
    }
    wanted = set()
    for package, paths in app.registered_paths.items():
        for path_in_package in paths:
            source = _source_file(package, path_in_package)
            if not path_in_package.endswith(".js") or source is None or not source.is_file():
                continue
            small = source.stat().st_size <= MAX_ASYNC_CHUNK
            if (package, path_in_package) in tags or small:
                wanted.add((package, path_in_package))
    return wanted


def precompress(app: Dash, directory: Path = PRECOMPRESSED_DIR, *, quality: int = 11) -> list[Path]:
    """Write a best-level brotli copy of every script file the page loads; returns them."""
    written = []
    for package, path_in_package in sorted(_page_scripts(app)):
        target = _precompressed_file(package, path_in_package, directory)
        if target is None or target.exists():
            continue
        data = _source_file(package, path_in_package).read_bytes()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(brotli.compress(data, quality=quality))
        partial.replace(target)  # whole or absent, whatever else reads the directory
        written.append(target)
    return written


def _serve_precompressed(app: Dash, view: Callable, directory: Path) -> Callable:
    """Dash's script route, answering with the precompressed copy when there is one.

    Copies are looked up once per file and process (the build step runs before the app
    starts), so a page visit reads no file and stats none.
    """
    copies: dict[tuple[str, str], bytes | None] = {}

    def copy_of(package: str, path_in_package: str) -> bytes | None:
        key = (package, path_in_package)
        if key not in copies:
            copy = _precompressed_file(package, path_in_package, directory)
            copies[key] = copy.read_bytes() if copy is not None and copy.is_file() else None
        return copies[key]

    def serve(package_name: str, fingerprinted_path: str):
        path_in_package, fingerprinted = check_fingerprint(fingerprinted_path)
        accepts_br = "br" in request.headers.get("Accept-Encoding", "")
        registered = path_in_package in app.registered_paths.get(package_name, ())
        if fingerprinted and accepts_br and registered:
            body = copy_of(package_name, path_in_package)
            if body is not None:
                return _cached_for_a_year(_brotli_response(body, path_in_package))
        return view(package_name, fingerprinted_path)

    return serve


def _brotli_response(body: bytes, filename: str) -> Response:
    mimetype = mimetypes.types_map.get(Path(filename).suffix, "application/octet-stream")
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Encoding"] = "br"
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _cached_for_a_year(response: Response) -> Response:
    """For fingerprinted URLs, whose content never changes."""
    response.cache_control.max_age = ONE_YEAR
    response.cache_control.public = True
    return response


def serve_precompressed(app: Dash, directory: Path | None = None) -> None:
    """Let Dash's script route use the files `precompress` wrote (when it was run), and serve
    the app's own assets minified and compressed at brotli's best level."""
    server = app.server
    server.view_functions[SUITES_ENDPOINT] = _serve_precompressed(
        app, server.view_functions[SUITES_ENDPOINT], directory or PRECOMPRESSED_DIR
    )
    server.view_functions[ASSETS_ENDPOINT] = _serve_assets(
        Path(app.config.assets_folder), server.view_functions[ASSETS_ENDPOINT]
    )


def _serve_assets(folder: Path, view: Callable) -> Callable:
    """The assets route (assets/chat.js, style.css...), for the URLs Dash fingerprints.

    Dash adds `?m=<modification time>` to every asset URL it writes into the page, so such a
    URL's content never changes: it may be cached for a year, and its minified, best-level
    brotli body made once per process (chat.js: 7.3 kB at the per-request level, 3.9 kB so).
    The minified copy goes only to brotli clients; the file itself is what the repo shows.
    """
    bodies: dict[tuple[str, str], bytes | None] = {}

    def best(filename: str, stamp: str) -> bytes | None:
        key = (filename, stamp)
        if key not in bodies:
            source = (folder / filename).resolve()
            minify = MINIFIERS.get(source.suffix)
            inside = source.is_relative_to(folder.resolve()) and source.is_file()
            if minify is None or not inside:
                bodies[key] = None
            else:
                text = minify(source.read_text(encoding="utf-8"))
                bodies[key] = brotli.compress(text.encode("utf-8"), quality=11)
        return bodies[key]

    def serve(filename: str):
        stamp = request.args.get("m")
        if not stamp:
            return view(filename)
        body = best(filename, stamp) if "br" in request.headers.get("Accept-Encoding", "") else None
        response = view(filename) if body is None else _brotli_response(body, filename)
        if response.status_code == 200:
            response.cache_control.no_cache = None
            _cached_for_a_year(response)
        return response

    return serve
