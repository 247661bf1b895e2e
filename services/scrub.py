"""One scrubber for everything that leaves the process: responses, stream events, logs.

Upstreams quote the key they were sent, and not always whole: OpenAI's 401 says
`sk-abc1****wxyz` (a prefix and the last four), a proxy may print `Basic base64(user:key)`, an
Azure error may quote the bare 32-hex key or part of it. So for every configured API key this
hides, as `[hidden]`, the whole word (a run of key-ish characters) that holds

- any run of FRAGMENT characters of the key, or of the key without its vendor prefix (`sk-`);
- a prefix (at least PREFIX characters) or a suffix (at least SUFFIX) next to a mask (`***`,
  `…`, `...`), or a prefix/suffix of PREFIX_ALONE characters standing alone;
- the base64 of the key at any of the three byte alignments (`user:key`, standard and url-safe).

Passwords and the cookie secret are never sent upstream, so nobody quotes a part of them: they
are hidden whole only. Secrets shorter than MIN_SECRET cannot be told from ordinary text and
are left alone (the README asks for long ones). A leaf module: it imports nothing of the app.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import threading
from collections.abc import Iterable

HIDDEN = "[hidden]"
MIN_SECRET = 8
FRAGMENT = 8
PREFIX = 3
SUFFIX = 2
PREFIX_ALONE = 6
# Vendor prefixes every key of a kind shares; the rest is the secret part.
VENDOR_PREFIX = re.compile(r"^(?:sk-(?:proj-|svcacct-|admin-|ant-)?|key-|pk-|rk-)")
# A word: key characters, base64's +/= and the mask characters upstreams put inside a key.
WORD = re.compile(
    r"(?=[A-Za-z0-9_\-+/=*•….]{4})[A-Za-z0-9_\-+/=*•…]+(?:\.{1,3}[A-Za-z0-9_\-+/=*•…]+)*"
)
MASK = re.compile(r"[*•…]+|\.{2,}|x{3,}|X{3,}")
# An OpenAI-style key that is not configured here (another key an upstream quotes), whole or
# masked; narrow, because it applies to model replies too ("sk-learn-based" stays).
KEY_LIKE = re.compile(r"\bsk-(?:[A-Za-z0-9_\-]{32,}|[A-Za-z0-9_\-]*\*{3,}[A-Za-z0-9]*)")


def _base64_cores(key: str) -> set[str]:
    """The parts of base64(anything + key + anything) that depend on the key's bytes alone."""
    raw = key.encode()
    cores = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw + b"\0\0\0")
        # Groups of 3 bytes -> 4 characters: skip the groups that mix in the padding.
        start = 4 if pad else 0
        end = ((pad + len(raw)) // 3) * 4
        core = encoded[start:end].decode()
        if len(core) >= FRAGMENT:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


class Scrubber:
    """Hides configured secrets in text; `add()` more at any time (thread-safe)."""

    def __init__(self, keys: Iterable[str] = (), whole: Iterable[str] = ()):
        self._lock = threading.Lock()
        self._grams: set[str] = set()
        self._prefixes: set[str] = set()
        self._suffixes: set[str] = set()
        self._whole: set[str] = set()
        self._keys: set[str] = set()
        self._alone: set[str] = set()
        self.add(keys, whole)

    def add(self, keys: Iterable[str] = (), whole: Iterable[str] = ()) -> None:
        """Hide `keys` in every shape, and `whole` (passwords, cookie secret) as they are."""
        grams, prefixes, suffixes, entire = set(), set(), set(), set()
        for key in filter(None, (k.strip() for k in keys if k)):
            if len(key) < MIN_SECRET or key in self._keys:
                continue
            self._keys.add(key)
            entire.add(key)
            bare = VENDOR_PREFIX.sub("", key)
            for text in {key, bare, *_base64_cores(key)}:
                grams.update(text[i : i + FRAGMENT] for i in range(len(text) - FRAGMENT + 1))
            for text in {key, bare}:
                prefixes.update(text[:n] for n in range(PREFIX, len(text) + 1))
                suffixes.update(text[-n:] for n in range(SUFFIX, len(text) + 1))
        entire.update(w for w in (w.strip() for w in whole if w) if len(w) >= MIN_SECRET)
        with self._lock:
            self._grams |= grams
            self._prefixes |= prefixes
            self._suffixes |= suffixes
            self._whole |= entire
            self._alone = {a for a in self._prefixes | self._suffixes if len(a) >= PREFIX_ALONE}

    def _secret_word(self, word: str) -> bool:
        if len(word) >= FRAGMENT:
            grams = self._grams
            for i in range(len(word) - FRAGMENT + 1):
                if word[i : i + FRAGMENT] in grams:
                    return True
        if word in self._alone:
            return True
        mask = MASK.search(word)
        if mask is None:
            return False
        before, after = word[: mask.start()], MASK.sub("", word[mask.end() :])
        return (len(before) >= PREFIX and before in self._prefixes) or (
            len(after) >= SUFFIX and after in self._suffixes
        )

    def scrub(self, text: str) -> str:
        """`text` with every configured secret, and anything shaped like a key, hidden."""
        if not text:
            return text
        for secret in self._whole:
            if secret in text:
                text = text.replace(secret, HIDDEN)
        if self._grams:
            text = WORD.sub(self._replace, text)
        return KEY_LIKE.sub(HIDDEN, text)

    def _replace(self, match: re.Match) -> str:
        word = match.group()
        head = word.rstrip(".")
        if not self._secret_word(head):
            return word
        # Keep a sentence's closing dot, which is not part of the key.
        return HIDDEN + word[len(head) :]

    def scrub_bytes(self, data: bytes) -> bytes:
        """`scrub` for an encoded body (UTF-8; undecodable bytes pass through unchanged)."""
        text = data.decode("utf-8", "surrogateescape")
        cleaned = self.scrub(text)
        return data if cleaned == text else cleaned.encode("utf-8", "surrogateescape")

    def scrub_value(self, value):
        """`value` with every string in it scrubbed, however deeply nested."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {key: self.scrub_value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub_value(item) for item in value]
        return value


# The process's one scrubber: every app built in it adds its secrets (tests build many).
SCRUBBER = Scrubber()


def scrub(text: str) -> str:
    """`text` without any secret configured in this process."""
    return SCRUBBER.scrub(text)


class ScrubFilter(logging.Filter):
    """Scrubs a record's message, its arguments and its traceback before a handler writes it.

    On the handlers, not the loggers: a handler sees every record that reaches it, including
    those propagated from libraries (the SDK, httpx, SQLAlchemy, gunicorn, werkzeug).
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw parts, scrubbed
            message = f"{record.msg} {record.args}"
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            # Formatters print exc_text when it is set, rather than render exc_info again.
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_FILTER = ScrubFilter()
LOGGERS = ("", "gunicorn.error", "gunicorn.access", "werkzeug")


def install_log_filter() -> None:
    """Put the scrubbing filter on every handler of the root and server loggers (idempotent),
    and send uncaught exceptions (threads included) through logging, so they are scrubbed."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        # gunicorn logs straight on its own loggers and makes new handlers on a reload (HUP):
        # a filter on the logger itself outlives them.
        if name and _FILTER not in logger.filters:
            logger.addFilter(_FILTER)

    def log_uncaught(exc_type, exc, tb, thread_name="main"):
        if issubclass(exc_type, SystemExit):
            return
        logging.getLogger("uncaught").error(
            "uncaught exception in %s", thread_name, exc_info=(exc_type, exc, tb)
        )

    sys.excepthook = log_uncaught
    threading.excepthook = lambda args: log_uncaught(
        args.exc_type, args.exc_value, args.exc_traceback, getattr(args.thread, "name", "?")
    )
