"""`python chat_app.py chat`: the loop around a Session (readline, Ctrl+C, pipes).

Interactive (stdin is a terminal): a prompt with readline line editing and history; a reply is
printed as it arrives. Ctrl+C while a reply streams stops that reply (the upstream request is
hung up at once: services/cancel.py) and keeps what arrived, as the page's Stop does; Ctrl+C at
the prompt clears the line, and Ctrl+D (or /quit) leaves: Python's own REPL does the same.

Piped (`echo hi | python chat_app.py chat`): all of stdin is one question, its reply goes to
stdout, any error to stderr with exit code 1, and the program ends.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from config import APP_DIR, Settings, load_settings
from i18n import negotiate, t
from services.cancel import Cancel
from services.chat import ChatService
from services.input_rules import input_problem
from services.quota import Quota
from services.secret_key import load_secret
from services.terminal.identity import TERMINAL_OWNER, link_url, terminal_identity
from services.terminal.session import QUIT, RETRY, Records, Session, TurnEnd

log = logging.getLogger(__name__)

PROMPT = "> "
# Exit codes: a failed reply (pipe mode), bad arguments or input, a configuration error (as
# the app's), a reply stopped with Ctrl+C.
FAILED, USAGE, CONFIGURATION, INTERRUPTED = 1, 2, 3, 130


def terminal_lang(environ: dict) -> str:
    """The language of the terminal's locale (LC_ALL, then LC_MESSAGES, then LANG): zh_CN reads
    as 简体中文; C, POSIX and unknown ones as English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = (environ.get(name) or "").strip()
        if value:
            tag = value.split(".")[0].split("@")[0].replace("_", "-").lower()
            return negotiate(None, tag)
    return negotiate(None, None)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python chat_app.py chat",
        description="Chat with the model in the terminal, on the same services as the page. "
        "Piped input (echo hi | python chat_app.py chat) prints one reply and exits.",
    )
    parser.add_argument("--model", help="the model to start with (see /model)")
    parser.add_argument("--persona", help="the persona to start with (see /persona)")
    parser.add_argument(
        "--no-multi-turn",
        action="store_true",
        help="send each question alone, without the earlier rounds (/multi on|off)",
    )
    parser.add_argument(
        "--user",
        help="with ACCOUNTS=true: the account whose sidebar shows these conversations",
    )
    parser.add_argument(
        "--url",
        help="the page's address, for /link (default http://HOST:PORT)",
    )
    return parser.parse_args(argv)


def _records(settings: Settings, args, open_records: Callable | None, lang: str):
    """(Records, a note for the user, a link maker or None); exits on an unknown --user."""
    if not settings.records_enabled or open_records is None:
        return Records(), t(lang, "term.records_off"), None
    from services.records.journal import Journal

    store = open_records(settings.database_url)
    journal = Journal(
        store,
        batch_seconds=settings.record_batch_seconds,
        batch_chars=settings.record_batch_chars,
    )
    quota = Quota.for_records(store, settings.user_daily_tokens, settings.quota_timezone)
    if settings.accounts:
        if not args.user:
            # Not kept (whose would they be?), but counted, as the gateway's own keys are.
            return Records(owner=TERMINAL_OWNER, quota=quota), t(lang, "term.records_no_user"), None
        from services.accounts import Accounts

        user = Accounts(store.records).by_name(args.user)
        if user is None or user.disabled:
            sys.exit(t(lang, "term.no_such_user", user=args.user))
        note = t(lang, "term.records_user", user=user.username)
        return Records(store, journal, user.id, quota, user), note, None
    secret = load_secret(settings.variable("SECRET_KEY"), APP_DIR / "data")
    owner = terminal_identity(secret)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base = args.url or f"http://{host}:{settings.port}"
    return (
        Records(store, journal, owner, quota),
        t(lang, "term.records_terminal"),
        lambda: link_url(base, secret, owner),
    )


# Control characters a terminal acts on (ESC starts sequences that can retitle the window,
# write the clipboard, clear or hide text; CR overwrites a line), except newline and tab.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """`text` safe to print to a terminal: model- and user-written text is untrusted, as HTML
    is in the page, so its control characters show as U+FFFD instead of acting."""
    return _CONTROLS.sub("\ufffd", text.replace("\r\n", "\n"))


def _write(stream: TextIO) -> Callable[[str], None]:
    # Into a file or another program the reply goes as it came (`chat > answer.md`).
    clean = shown if stream.isatty() else str

    def write(text: str) -> None:
        stream.write(clean(text))
        stream.flush()  # each piece shows as it arrives

    return write


def run_turn(session: Session, question: str, out: TextIO, *, retry: bool = False) -> TurnEnd:
    """Ask in a worker thread, so Ctrl+C (KeyboardInterrupt, which only the main thread gets)
    can stop the reply: it cancels the stream, which hangs up upstream, and the turn ends with
    what arrived, marked stopped."""
    cancel = Cancel()
    outcome: dict = {}
    # An Event rather than Thread.join: a join interrupted by Ctrl+C can leave the thread
    # looking finished while it still runs (a CPython quirk).
    finished = threading.Event()

    def work() -> None:
        try:
            outcome["end"] = session.ask(question, _write(out), cancel, retry=retry)
        except BaseException as exc:  # shown by the main thread
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=work, name="terminal-turn", daemon=True).start()
    while not finished.is_set():
        try:
            finished.wait()
        except KeyboardInterrupt:
            cancel.cancel()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["end"]


def _tell_end(session: Session, end: TurnEnd, out: TextIO, err: TextIO) -> None:
    if any(e.get("role") == "assistant" and e.get("content") for e in end.entries):
        out.write("\n")
    if end.stopped:
        out.write(t(session.lang, "term.stopped") + "\n")
    if end.saved is False:
        err.write(t(session.lang, "term.not_saved") + "\n")
    if end.error:
        err.write(shown(end.error) + "\n")  # it may hold the upstream's own words
    out.flush()
    err.flush()


def _history_file(settings: Settings) -> Path | None:
    name = (settings.chat_history_file or "").strip()
    return Path(name).expanduser() if name else None


def _with_readline(path: Path | None) -> Callable[[], None]:
    """Line editing, and the history kept in `path` (none when None); returns the saver."""
    try:
        import readline
    except ImportError:  # not on every platform; input() still works without it
        return lambda: None
    if path is None:
        return lambda: None
    with contextlib.suppress(FileNotFoundError, OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)

    def save() -> None:
        with contextlib.suppress(OSError):  # a read-only home: the chat still worked
            readline.write_history_file(path)
            path.chmod(0o600)  # the questions asked are nobody else's to read

    return save


def interactive(session: Session, settings: Settings, note: str) -> int:
    out, err = sys.stdout, sys.stderr
    lang = session.lang
    save_history = _with_readline(_history_file(settings))
    print(t(lang, "term.banner", model=session.model, persona=session.persona))
    print(note)
    if not session.service.has_credentials:
        err.write(t(lang, "term.missing_key", variable="OPENAI_API_KEY") + "\n")
    try:
        while True:
            try:
                line = input(PROMPT)
            except KeyboardInterrupt:
                print()  # the line is dropped; a fresh prompt
                continue
            except EOFError:
                print()
                return 0
            text = line.strip()
            if not text:
                continue
            retry = False
            if text.startswith("/") and not text.startswith("//"):
                reply = session.command(text)
                if reply.text:
                    (err if reply.error else out).write(shown(reply.text) + "\n")
                if reply.action == QUIT:
                    return 0
                if reply.action != RETRY:
                    continue
                text, retry = session.failed_question, True
            elif text.startswith("//"):
                text = text[1:]
            if input_problem(text, settings.max_input_chars) == "too_long":
                limit = settings.max_input_chars
                err.write(t(lang, "input.too_long", length=len(text), limit=limit) + "\n")
                continue
            try:
                end = run_turn(session, text, out, retry=retry)
            except Exception:
                # A bug or a broken database must not end the chat: say so, keep the prompt.
                log.exception("the turn failed")
                err.write(t(lang, "error.internal_error") + "\n")
                continue
            _tell_end(session, end, out, err)
            if end.error:
                err.write(t(lang, "term.retry_hint") + "\n")
    finally:
        save_history()


def piped(session: Session, settings: Settings) -> int:
    """One question from all of stdin, one reply to stdout."""
    lang = session.lang
    question = sys.stdin.read()
    problem = input_problem(question, settings.max_input_chars)
    if problem == "empty":
        print(t(lang, "term.empty_pipe"), file=sys.stderr)
        return USAGE
    if problem == "too_long":
        limit = settings.max_input_chars
        print(t(lang, "input.too_long", length=len(question), limit=limit), file=sys.stderr)
        return USAGE
    end = run_turn(session, question.strip(), sys.stdout)
    _tell_end(session, end, sys.stdout, sys.stderr)
    if end.stopped:
        return INTERRUPTED
    return FAILED if end.error else 0


def main(argv: list[str], *, open_records: Callable | None = None) -> int:
    """Run the terminal chat; `open_records(url)` opens the records as the app does."""
    import os

    args = parse_args(argv)
    lang = terminal_lang(dict(os.environ))
    # The turn's words say what went wrong; the service's warnings would say it twice.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.ERROR)
    try:
        settings = load_settings()
        service = ChatService(settings)
    except ValueError as exc:  # a bad .env value, model mapper, personas or providers file
        print(f"Configuration error: {exc}", file=sys.stderr)
        return CONFIGURATION
    if args.model and args.model not in service.models:
        known = ", ".join(service.models)
        print(t(lang, "term.unknown_model", model=args.model, known=known), file=sys.stderr)
        return USAGE
    if args.persona and service.personas.get(args.persona) is None:
        known = ", ".join(service.personas.ids)
        print(t(lang, "term.unknown_persona", persona=args.persona, known=known), file=sys.stderr)
        return USAGE
    records, note, link = _records(settings, args, open_records, lang)
    session = Session(
        service,
        lang=lang,
        model=args.model,
        persona=args.persona,
        multi_turn=not args.no_multi_turn,
        records=records,
        link=link,
    )
    if args.persona and service.locked_persona is not None and args.persona != session.persona:
        print(t(lang, "term.persona_locked", persona=session.persona), file=sys.stderr)
    try:
        if not sys.stdin.isatty():
            return piped(session, settings)
        return interactive(session, settings, note)
    except KeyboardInterrupt:  # while reading a pipe, say: no traceback
        return INTERRUPTED
