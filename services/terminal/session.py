"""One terminal conversation: its thread, its choices, its turns and its commands.

No terminal I/O here: `Session.ask` streams a turn through callbacks and `Session.command`
returns the words to print, so both are testable without a terminal. A turn is planned,
sent, recorded and accounted exactly as the page's is (services/plan.py, ChatService.stream,
services/recording.py's `recorded`, the journal), and the thread keeps the page's entries
(services/conversation.py), so export, usage and the records read it as they read the page's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import i18n
from i18n import t
from services import export_document
from services.cancel import Cancel, cancel_scope
from services.chat import ChatService, Sampling
from services.conversation import STOPPED, record_result
from services.error_words import error_advice
from services.fixed_persona import PersonaChoice, chosen
from services.metering import DaySpent, Meter
from services.personas import localized
from services.plan import plan_request
from services.quota import REFUSAL_KIND
from services.recording import recorded

log = logging.getLogger(__name__)

QUIT = "quit"  # Reply.action: the loop ends
RETRY = "retry"  # Reply.action: ask the kept question again


@dataclass
class Reply:
    """What a command answers: words to print, and what the loop does next."""

    text: str = ""
    action: str | None = None
    error: bool = False


@dataclass
class TurnEnd:
    """How one turn ended: its thread entries (`record_result`'s), its words when it failed."""

    entries: list[dict]
    error: str = ""
    stopped: bool = False
    # The question went on record (None: records are off or not kept for this terminal).
    saved: bool | None = None


@dataclass
class Records:
    """Where the terminal's conversations go on record (None fields: they do not)."""

    store: object | None = None  # services.records.guarded.GuardedRecords
    journal: object | None = None  # services.records.journal.Journal
    owner: str | None = None
    # Where each reply's usage is counted (services/quota.py; the admin console reads it), and
    # the account whose daily budget applies (`--user`, with accounts).
    quota: object | None = None
    user: object | None = None

    @property
    def on(self) -> bool:
        return self.store is not None and self.owner is not None


@dataclass
class Session:
    """The terminal's conversation, as the page would hold it."""

    service: ChatService
    lang: str = "en"
    model: str | None = None
    persona: str | None = None
    multi_turn: bool = True
    records: Records = field(default_factory=Records)
    # What a link to this terminal's conversations is made with (`/link`), None without one.
    link: Callable[[], str] | None = None
    history: list[dict] = field(default_factory=list)
    conversation_id: str | None = None
    # The question of the newest failed turn, kept so `/retry` asks it again.
    failed_question: str | None = None

    def __post_init__(self) -> None:
        self.persona = self.choice.persona
        if self.model not in self.service.models:
            # The persona's own model when it names one, as picking it in the page does.
            own = self.service.personas.get(self.persona)
            own_model = own.model if own is not None else None
            models = self.service.models
            self.model = own_model if own_model in models else self.service.default_model

    # ---- turns

    @property
    def choice(self) -> PersonaChoice:
        """The persona the next turn uses (the lock wins, an unknown id is the default)."""
        return chosen(self.service, self.persona, None)

    @property
    def started(self) -> bool:
        """Whether a question has been asked in this conversation (its persona is fixed)."""
        return any(entry.get("role") == "user" for entry in self.history)

    def ask(
        self,
        question: str,
        on_delta: Callable[[str], None],
        cancel: Cancel | None = None,
        *,
        retry: bool = False,
    ) -> TurnEnd:
        """Send `question` after the thread; each piece of the reply goes to `on_delta` as it
        arrives. `cancel` stops it (what arrived is kept, marked stopped, as the page's Stop
        does). `retry` asks the kept failed question again in place of its failed attempt."""
        cancel = cancel or Cancel()
        if retry:
            self._drop_failed_attempt()
        if self._day_spent():
            return self._refused(question)
        plan = plan_request(
            self.service,
            self.history,
            question,
            multi_turn=self.multi_turn,
            model=self.model,
            persona_id=self.choice.persona,
            custom_prompt=None,
            lang=self.lang,
            max_tokens=None,
        )
        meter = self._meter(plan)
        try:
            # Under a budget with less left than a whole reply, the reply gets what is left.
            capped = self._hold(meter)
        except DaySpent:
            # Others (the page, another terminal) took the rest of the day meanwhile.
            return self._refused(question)
        asked = {"role": "user", "content": question}
        if self.multi_turn and plan.context_from:
            asked["context_from"] = plan.context_from
        saved, keeper = self._record_question(asked, plan.model, retry=retry)
        parts: list[str] = []
        ended: list[dict] = []

        def finish(final: dict, entries: list[dict], reply: str):
            ended.extend(entries)
            yield final

        sampling = Sampling(temperature=plan.temperature, max_tokens=capped)
        with cancel_scope(cancel):
            events = recorded(
                self.service.stream(
                    plan.fitted, model=plan.model, sampling=sampling, lang=self.lang, cancel=cancel
                ),
                keeper,
                plan.model,
                finish=finish,
                spent=meter.ended if meter is not None else None,
            )
            for event in events:
                if "delta" in event:
                    parts.append(event["delta"])
                    on_delta(event["delta"])
        if not ended:
            # Cancelled: no final event came; the recorder kept the same entries.
            ended = record_result(
                [], {"status": STOPPED, "content": "".join(parts)}, model=plan.model
            )
        self.history += [asked, *ended]
        error = next((e for e in ended if e.get("role") == "error"), None)
        self.failed_question = question if error is not None else None
        return TurnEnd(
            ended,
            error=self.error_words(error) if error is not None else "",
            stopped=any(e.get("status") == STOPPED for e in ended),
            saved=saved,
        )

    def _day_spent(self) -> bool:
        """Whether the `--user` account has used all of today's tokens (ACCOUNTS=true)."""
        records = self.records
        if records.quota is None or records.user is None:
            return False
        state = records.quota.left(records.user)
        return state is not None and state.spent

    def _refused(self, question: str) -> TurnEnd:
        """The day's tokens are spent: refused before anything is recorded or sent, as the
        page's turn is; the question is kept for /retry."""
        self.history.append({"role": "user", "content": question})
        self.history.append({"role": "error", "kind": REFUSAL_KIND})
        self.failed_question = question
        return TurnEnd([], error=t(self.lang, "error.daily_quota"))

    def _hold(self, meter: Meter | None) -> int | None:
        """Hold the reply's worst case under the `--user` account's budget, as the page's
        turn does (api/usage.py `metered`), so a terminal and a page starting together
        cannot both spend the same tokens: the reply's cap when less is left."""
        records = self.records
        if meter is None or records.user is None:
            return None
        budget = records.quota.budget(records.user)
        if budget is None:
            return None
        return meter.hold(budget, self.service.settings.max_reply_tokens)

    def _meter(self, plan) -> Meter | None:
        """What counts the reply's usage when it ends, as the page's does (api/usage.py)."""
        records = self.records
        # Counted whenever there is a database, also when the conversation is not kept
        # (accounts on and no --user: the console still sees what the terminal spent).
        if records.quota is None or records.owner is None:
            return None
        return Meter(
            records.quota,
            self.service.prices,
            records.owner,
            "terminal",
            plan.model,
            list(plan.messages),
            self.choice.persona or None,
            lambda: self.conversation_id if records.on else None,
        )

    def error_words(self, entry: dict) -> str:
        """An error entry in plain words, as the page says it; the terminal's user runs the
        app, so a missing key says which variable to set."""
        kind = entry.get("kind")
        if kind == "missing_api_key":
            variable = entry.get("detail") or "OPENAI_API_KEY"
            return t(self.lang, "term.missing_key", variable=variable)
        advice, detail = error_advice(entry, self.lang)
        if i18n.has(f"check.error.{kind}"):
            # The page tells its users to ask the operator; here the operator reads it.
            advice = t(self.lang, f"check.error.{kind}", detail=detail)
        return f"{advice}\n{t(self.lang, 'error.detail', detail=detail)}" if detail else advice

    def _record_question(self, asked: dict, model: str, *, retry: bool):
        """Put the question on record as the page's turn does (api/page_turn.py); returns
        (saved, the reply's keeper). A failed write is logged: the turn still goes."""
        records = self.records
        if not records.on:
            return None, None
        store, owner = records.store, records.owner
        try:
            wanted = self.conversation_id
            if not wanted or store.conversation(owner, wanted) is None:
                choice = self.choice
                wanted = store.create_conversation(
                    owner, model=model, persona=choice.persona, persona_prompt=None
                )
                retry = False
            elif not self.started:
                # Emptied by /clear (its persona went with it): this question fixes it again.
                store.set_persona(owner, wanted, self.choice.persona, None)
            self.conversation_id = wanted
            if retry:
                store.drop_failed_attempt(owner, wanted)
            else:
                store.add_message(owner, wanted, asked)
            seq = store.newest_question(owner, wanted)
        except Exception:
            log.exception("could not record the question")
            return False, None
        keeper = None
        if records.journal is not None:
            keeper = records.journal.reply(owner, lambda: wanted, model, question=lambda: seq)
            records.journal.open_now(keeper)
        return bool(getattr(store, "saving", True)), keeper

    def _drop_failed_attempt(self) -> None:
        """The thread without its newest failed attempt (the question, a cut reply, the error),
        as the page's retry leaves it."""
        while self.history and self.history[-1].get("role") != "user":
            self.history.pop()
        if self.history:
            self.history.pop()

    # ---- commands

    def command(self, line: str) -> Reply:
        """Run a `/command` line; unknown ones are answered in plain words."""
        name, _, arg = line.strip().partition(" ")
        arg = arg.strip()
        handler = {
            "/help": self._help,
            "/quit": lambda _arg: Reply(action=QUIT),
            "/exit": lambda _arg: Reply(action=QUIT),
            "/new": self._new,
            "/clear": self._clear,
            "/export": self._export,
            "/model": self._model,
            "/persona": self._persona,
            "/multi": self._multi,
            "/usage": self._usage,
            "/retry": self._retry,
            "/link": self._link,
        }.get(name.lower())
        if handler is None:
            return Reply(t(self.lang, "term.unknown", command=name), error=True)
        return handler(arg)

    def _help(self, _arg: str) -> Reply:
        return Reply(t(self.lang, "term.help"))

    def _new(self, _arg: str) -> Reply:
        self.history, self.conversation_id, self.failed_question = [], None, None
        return Reply(t(self.lang, "term.new"))

    def _clear(self, _arg: str) -> Reply:
        """Empty this conversation (on record too), as the page's clear does; it keeps its id."""
        if self.records.on and self.conversation_id:
            try:
                self.records.store.clear(self.records.owner, self.conversation_id)
            except Exception:
                log.exception("could not clear the conversation's record")
        self.history, self.failed_question = [], None
        return Reply(t(self.lang, "term.cleared"))

    def _export(self, arg: str) -> Reply:
        """Write the page's export (services/export_document.py) to FILE."""
        if not arg:
            return Reply(t(self.lang, "term.export_usage"), error=True)
        if not any(e.get("role") in ("user", "assistant") for e in self.history):
            return Reply(t(self.lang, "export.empty"), error=True)  # the page's words too
        text = export_document.document(
            self.history,
            lang=self.lang,
            prices=self.service.prices,
            default_model=self.service.default_model,
            now=datetime.now().astimezone(),
        )
        path = Path(arg).expanduser()
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            return Reply(t(self.lang, "term.export_failed", path=str(path), why=exc.strerror))
        return Reply(t(self.lang, "term.exported", path=str(path)))

    def _model(self, arg: str) -> Reply:
        models = self.service.models
        if not arg:
            listed = "\n".join(f"{'*' if m == self.model else ' '} {m}" for m in models)
            return Reply(f"{t(self.lang, 'term.models')}\n{listed}")
        if arg not in models:
            known = ", ".join(models)
            return Reply(t(self.lang, "term.unknown_model", model=arg, known=known), error=True)
        self.model = arg
        return Reply(t(self.lang, "term.model_set", model=arg))

    def _persona(self, arg: str) -> Reply:
        service = self.service
        locked = service.locked_persona
        if not arg:
            lines = [t(self.lang, "term.personas")]
            for persona in [locked] if locked is not None else service.personas.personas:
                mark = "*" if persona.id == self.persona else " "
                lines.append(f"{mark} {persona.id}  {localized(persona.name, self.lang)}")
            if locked is not None:
                lines.append(t(self.lang, "term.persona_locked", persona=locked.id))
            return Reply("\n".join(lines))
        if locked is not None:
            return Reply(t(self.lang, "term.persona_locked", persona=locked.id), error=True)
        persona = service.personas.get(arg)
        if persona is None:
            known = ", ".join(service.personas.ids)
            return Reply(t(self.lang, "term.unknown_persona", persona=arg, known=known), error=True)
        if self.started and persona.id != self.persona:
            # A conversation keeps the persona it started with (services/fixed_persona.py).
            return Reply(t(self.lang, "term.persona_kept", persona=self.persona), error=True)
        self.persona = persona.id
        if persona.model and persona.model in service.models:
            self.model = persona.model  # the persona's own model, as the page picks it
        return Reply(t(self.lang, "term.persona_set", persona=persona.id, model=self.model))

    def _multi(self, arg: str) -> Reply:
        if arg.lower() not in ("on", "off"):
            state = "on" if self.multi_turn else "off"
            return Reply(t(self.lang, "term.multi_usage", state=state), error=arg != "")
        self.multi_turn = arg.lower() == "on"
        return Reply(t(self.lang, "term.multi_on" if self.multi_turn else "term.multi_off"))

    def _usage(self, _arg: str) -> Reply:
        """This conversation's tokens and cost, counted as the page's export counts them."""
        lines = export_document.summary(self.history, self.service.prices, self.lang)
        return Reply("\n".join(lines) if lines else t(self.lang, "term.no_usage"))

    def _retry(self, _arg: str) -> Reply:
        if self.failed_question is None:
            return Reply(t(self.lang, "term.nothing_to_retry"), error=True)
        return Reply(action=RETRY)

    def _link(self, _arg: str) -> Reply:
        if self.link is None:
            return Reply(t(self.lang, "term.no_link"), error=True)
        return Reply(t(self.lang, "term.link", url=self.link()))
