"""The chat app. `python chat_app.py [local]` runs it; `gunicorn chat_app:server` serves it.

`local` sends upstream traffic through LOCAL_PROXY (default http://127.0.0.1:10809).
`python chat_app.py records export|purge ...`, `python chat_app.py db upgrade` and
`python chat_app.py users ...` are the operator commands (see services/records/cli.py and
services/accounts/cli.py); `python chat_app.py precompress` is a build
step (see api/delivery.py).
"""

from __future__ import annotations

import logging
import sys

import flask
from dash import Dash
from dash._utils import interpolate_str
from dash.dash import _default_index
from markupsafe import escape
from sqlalchemy.exc import OperationalError

import api
import callbacks  # noqa: F401 - registers every callback
import extensions
from api.accounts import init_accounts
from api.admin import init_admin, is_admin
from api.auth import SESSION_LIFETIME, VIEWPORT, init_auth
from api.callback_guard import init_callback_guard
from api.delivery import init_delivery, serve_precompressed
from api.identity import init_identity
from api.install import BRAND_COLOR, ICON_PATH, MANIFEST_PATH
from api.limits import init_limits
from api.scrubbing import init_scrubbing
from api.security import QuietRequestHandler, cookie_options, init_security
from api.teams_tab import init_teams_tab
from callbacks.sidebar import keep_in_browser
from components.attachments import AttachOptions
from components.layout import PageOptions, page
from components.theme import boot_tag
from config import APP_DIR, Settings, load_settings
from i18n import html_lang, negotiate
from services.accounts import Accounts
from services.attachments.store import open_store
from services.chat import ChatService
from services.providers import ProvidersFileError
from services.quota import Quota
from services.records.guarded import GuardedRecords
from services.records.journal import Journal
from services.records.repository import Records
from services.secret_key import load_secret
from services.sessions import SessionStore

LANG_COOKIE = "chat_lang"
# Dash's page with `<html lang>` left for each request to fill (screen readers, fonts, and
# the browser's translate offer read it), and the theme set before the first paint.
INDEX_STRING = _default_index.replace("<html>", '<html lang="{%html_lang%}">', 1).replace(
    "<head>", "<head>\n        " + boot_tag(), 1
)


class ChatDash(Dash):
    """Dash whose page says its language (the visitor's, negotiated per request) and links its
    install manifest. `index_hooks` may change the parts of a page per request (the console
    at /admin fetches its layout early and loads only the scripts it uses: api/admin.py)."""

    index_hooks: tuple = ()

    def interpolate_index(self, **parts: str) -> str:
        # Filled first, so a title or meta tag holding the same placeholder is left as it is.
        lang = escape(html_lang(_visitor_language()))
        # Beside the favicon: the browser fetches these itself, only when it needs them.
        manifest = escape(self.get_relative_path(MANIFEST_PATH))
        touch_icon = escape(self.get_relative_path(f"{ICON_PATH}apple-touch-icon.png"))
        parts["favicon"] = (
            parts.get("favicon", "")
            + f'\n<link rel="manifest" href="{manifest}">'
            + f'\n<link rel="apple-touch-icon" href="{touch_icon}">'
        )
        for hook in self.index_hooks:
            parts = hook(parts)
        return interpolate_str(self.index_string, html_lang=lang, **parts)


def _visitor_language() -> str:
    if not flask.has_request_context():
        return negotiate(None, None)
    request = flask.request
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


def create_app(settings: Settings | None = None, service: ChatService | None = None) -> Dash:
    """Build the Dash app (and its Flask server) for `settings`."""
    settings = settings or load_settings()
    service = service or ChatService(settings)
    app = ChatDash(
        __name__,
        index_string=INDEX_STRING,
        title=settings.app_title,
        update_title=None,
        # The stream's event source is created per reply, after the first layout.
        suppress_callback_exceptions=True,
        meta_tags=[
            {"name": "viewport", "content": VIEWPORT},
            # The browser's and an installed app's title bar, in the brand colour.
            {"name": "theme-color", "content": BRAND_COLOR},
        ],
        # Served, not put in the page: assets/markdown.js loads a diagram library from vendor/
        # only when a reply has a diagram, and console/ holds the admin console's
        # stylesheet, which only /admin links (api/admin.py); teams/ and TeamsJS are linked
        # only with TEAMS_TAB (api/teams_tab.py).
        assets_path_ignore=["vendor", "console", "teams"],
    )
    # A layout function runs per page load, so each visitor gets their own language.
    options = PageOptions(
        title=settings.app_title,
        has_credentials=service.has_credentials,
        model_options=service.registry.options(),
        default_model=service.default_model,
        personas=service.personas,
        locked=service.locked_persona is not None,
        max_input_chars=settings.max_input_chars,
        max_history_rounds=settings.max_history_rounds,
        max_reply_tokens=settings.max_reply_tokens,
        default_temperature=1.0
        if settings.openai_temperature is None
        else settings.openai_temperature,
        records_enabled=settings.records_enabled,
        can_logout=bool(settings.access_passwords) or settings.accounts,
        quota=settings.accounts,
        accounts=settings.accounts,
        attachments=AttachOptions.from_settings(settings),
        vision_models=tuple(service.registry.vision_models),
    )
    app.layout = lambda: page(options, lang=_visitor_language(), admin=is_admin())
    _say_what_is_missing(service)
    store = journal = None
    if settings.records_enabled:
        store = _open_records(settings.database_url)
        journal = Journal(
            store,
            batch_seconds=settings.record_batch_seconds,
            batch_chars=settings.record_batch_chars,
        )
        journal.sweep()  # replies a stopped process left streaming
    else:
        keep_in_browser(app)
    extensions.init_app(app.server, service, store, journal)
    if store is not None:
        # Usage per reply, and per-user daily budgets with ACCOUNTS=true (services/quota.py).
        app.server.extensions[extensions.QUOTA] = Quota.for_records(
            store, settings.user_daily_tokens, settings.quota_timezone
        )
    if settings.accounts:
        if store is None:
            raise SystemExit(
                "ACCOUNTS=true keeps each user's conversations on the server: "
                "RECORDS_ENABLED must not be false."
            )
        app.server.extensions[extensions.ACCOUNTS] = Accounts(store.records)
    # Uploaded images and documents: rows beside the records (or in a scratch database with
    # records off), files under ATTACHMENT_DIR.
    app.server.extensions[extensions.ATTACHMENTS] = open_store(settings, store)
    secret = load_secret(settings.variable("SECRET_KEY"), APP_DIR / "data")
    app.server.secret_key = secret
    # Order matters: cross-site refusal, then the login guard, then identity and the routes.
    init_security(app, settings)
    if settings.accounts:
        init_accounts(
            app.server,
            app.server.extensions[extensions.ACCOUNTS],
            settings.app_title,
            _sessions(settings),
            signup_code=settings.signup_code.get_secret_value() if settings.signup_code else None,
        )
    else:
        init_auth(app.server, settings.access_passwords, settings.app_title, _sessions(settings))
    init_identity(app.server, secret, cookie_options=lambda: cookie_options(settings))
    api.register(app.server)
    init_teams_tab(app, settings)  # TEAMS_TAB: TeamsJS tells the host the tab has loaded
    init_admin(app, _visitor_language)  # /admin (ACCOUNTS=true): the console, admins only
    init_callback_guard(app)  # after the login guard: no session is a 401 first
    init_limits(app.server, settings)
    init_delivery(app.server)
    init_scrubbing(app.server, settings, service, secret)
    serve_precompressed(app)
    _finish_dash_setup(app)
    return app


def _sessions(settings: Settings) -> SessionStore | None:
    """Where sign-ins are kept (behind a password or accounts): DATABASE_URL's database."""
    if not settings.access_passwords and not settings.accounts:
        return None
    return SessionStore(
        settings.database_url,
        idle=settings.session_idle_minutes * 60,
        lifetime=SESSION_LIFETIME.total_seconds(),
    )


def _open_records(url: str) -> GuardedRecords:
    """The records, migrated (safe when several workers start at once).

    An SQLite file that cannot be written at start-up (a full disk) leaves the app serving
    chats unsaved, as it does when the disk fills later; any other database must be reachable
    at start-up, so a wrong DATABASE_URL stops the app with the reason.
    """
    records = Records(url)
    try:
        records.upgrade()
    except OperationalError as error:
        if not records.is_sqlite:
            raise
        guarded = GuardedRecords(records)
        guarded.failed(error)
        return guarded
    return GuardedRecords(records)


def _finish_dash_setup(app: Dash) -> None:
    """Finish Dash's one-time server setup now, not on the first request.

    Dash sets itself up on a process's first request, and flags that as done before it is:
    requests arriving meanwhile are served half set up. Its list of script files it may serve
    is still empty then, so a browser's concurrent script requests got 500 and the page never
    started. Under gunicorn's preload_app this runs once, in the master, before workers fork.
    """
    app.server.test_client().get("/healthz")


USAGE = """usage: python chat_app.py [COMMAND]

Without a command, runs the app on http://HOST:PORT (default 127.0.0.1:8050).

commands:
  local          the same, with the upstream client going through LOCAL_PROXY
  records ...    the conversation records: export, purge, ... (records --help)
  db ...         the same as records
  users ...      accounts (ACCOUNTS=true): add NAME [--admin] [--password-stdin], list,
                 disable NAME, enable NAME, reset-password NAME, token NAME [--name LABEL],
                 delete NAME --keep-records|--purge-records (users --help)
  precompress    write best-level brotli copies of the page's scripts (a build step)
  teams-package --url URL [--name NAME] [--out PATH]
                 write a Microsoft Teams app package (zip) for the app as a tab; prints
                 its path (teams-package --help)
  chat ...       chat in the terminal: [--model M] [--persona P] [--no-multi-turn] (chat --help)

Settings come from the environment and an optional .env file (see .env.example).
In production: gunicorn chat_app:server"""


def _settings_from_argv(argv: list[str]) -> Settings:
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE)
        sys.exit(0)
    unknown = [arg for arg in argv if arg != "local"]
    if unknown:
        sys.exit(f"{USAGE}\n\nunknown argument: {unknown[0]}")
    return load_settings(use_local_proxy="local" in argv)


def _say_what_is_missing(service: ChatService) -> None:
    """The operator's fix for an app with no key, in the server's log at start-up (the page
    only tells its users that the assistant is not set up yet)."""
    if not service.has_credentials:
        logging.getLogger(__name__).warning(
            "No API key is configured, so no reply can be made. Set OPENAI_API_KEY (or "
            "AZURE_OPENAI_API_KEY with AZURE_OPENAI_ENDPOINT, or OPENAI_BASE_URL for a local "
            "model such as Ollama) in .env next to chat_app.py or in the environment, then "
            "restart the app."
        )


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
# One INFO line per upstream request is noise; failures still reach the log as warnings.
logging.getLogger("httpx2").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)
if __name__ == "__main__" and sys.argv[1:2] in (["records"], ["db"]):
    # Operator commands (`python chat_app.py records export ...`) need no web app.
    from services.records.cli import main as records_cli

    sys.exit(records_cli(sys.argv[1:]))

if __name__ == "__main__" and sys.argv[1:2] == ["users"]:
    # Accounts (`python chat_app.py users add NAME --admin`): the first admin is made here.
    from services.accounts.cli import main as users_cli

    sys.exit(users_cli(sys.argv[2:]))

if __name__ == "__main__" and sys.argv[1:2] == ["chat"]:
    # The terminal chat (services/terminal): the page's services, no web server.
    from services.terminal.repl import main as chat_main

    sys.exit(chat_main(sys.argv[2:], open_records=_open_records))

if __name__ == "__main__" and sys.argv[1:2] == ["precompress"]:
    # A build step (Render's buildCommand): best-level brotli copies of the page's scripts.
    from api.delivery import PRECOMPRESSED_DIR, precompress

    written = precompress(create_app(load_settings(records_enabled=False)))
    print(f"precompressed {len(written)} script files into {PRECOMPRESSED_DIR}")
    sys.exit(0)

if __name__ == "__main__" and sys.argv[1:2] == ["teams-package"]:
    # The Teams app zip for a tab showing this app (docs/azure.md); needs no web app.
    from services.teams_package import main as teams_package

    sys.exit(teams_package(sys.argv[2:]))

try:
    _settings = _settings_from_argv(sys.argv[1:]) if __name__ == "__main__" else load_settings()
    app = create_app(_settings)
except (ProvidersFileError, ValueError) as exc:
    # A bad .env value, model mapper or providers file: say which, not a traceback. Exit code 3
    # is gunicorn's "worker failed to boot", which stops it instead of restarting forever.
    print(f"Configuration error: {exc}", file=sys.stderr)
    sys.exit(3)
server = app.server

if __name__ == "__main__":
    if _settings.use_local_proxy:
        logging.getLogger(__name__).info("upstream traffic goes through %s", _settings.local_proxy)
    app.run(
        host=_settings.host, port=_settings.port, debug=False, request_handler=QuietRequestHandler
    )
