"""The page's turn on the stream route: planned once, recorded alongside the upstream request,
and ended by an event that says everything the server decided.

The page (assets/chat.js) reads the stream itself and draws the text as it comes. What it needs
to draw the finished turn, it is told here rather than working out itself:
- first, `{"turn": {"conversation_id"}}`, sent while the upstream request opens (the question is
  recorded meanwhile, so a new conversation gets its id from the server);
- last, the usual `done`/`error` event, plus `turn` (how it was planned, where the next
  request's history starts), `context_tokens` (the next request's context), `entries` (what is
  stored for this turn) and `view` (the finished messages as Dash components). The reply's text
  is not sent again: `entries` and `view` hold `REPLY_SLOT` where the page puts the text it
  has, and `view` holds `QUESTION_SLOT` for the question.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from api import sse
from api.events import DecidedTurn, PlannedTurn, TurnOpened
from api.schemas import ChatRequest
from components.turn import QUESTION_SLOT, REPLY_SLOT, finished_turn, view_json
from services.fixed_persona import PersonaChoice
from services.plan import Plan, TurnAttachments, context_tokens, next_history_start
from services.recording import recorded
from services.records.repository import question_title

log = logging.getLogger(__name__)

# Tells api/sse.py to send the text it holds back (see `event_stream`'s `coalesce`).
FLUSH = {"flush": True}
# How long the final event waits for the question's record (it is written alongside the
# upstream request, normally long done by then).
RECORD_WAIT = 10.0


@dataclass
class PageTurnStream:
    """One page turn on its way through the stream route."""

    service: object  # services.chat.ChatService
    request: ChatRequest
    plan: Plan
    store: object | None  # the records repository, None when records are off
    owner: str
    journal: object | None = None  # services.records.journal.Journal, with the store
    # The persona the turn uses (the conversation's own, see services/fixed_persona.py), and
    # whether the conversation has none on record yet, so this turn fixes it.
    persona: PersonaChoice | None = None
    store_persona: bool = True
    conversation_id: str | None = None
    # Whether the question went on record (None: records are off).
    saved: bool | None = None
    # The reply on its way to the record (with records on).
    keeper: object | None = None
    # The seq of the question on record, which the reply's writes name (Records.clear).
    question_seq: int | None = None
    # The question's attachments (services/attachments/turn.py), each the caller's, and
    # their store, which links them to the conversation when the question is recorded.
    files: object | None = None
    attachment_store: object | None = None
    # What counts the reply's usage (api/usage.py, reserved already under a budget); None
    # with records off.
    meter: object | None = None
    _recorded: threading.Event = field(default_factory=threading.Event)

    @property
    def turn(self):
        return self.request.turn

    @property
    def question_index(self) -> int:
        """The question's place in the page's thread."""
        return self.turn.history_start + len(self.turn.history)

    @property
    def attachment_refs(self) -> list[dict] | None:
        """The question's attachments as its entry keeps them (None without any)."""
        if self.files is None or not self.files.attached:
            return None
        return [ref.model_dump() for ref in self.files.refs]

    def asked(self) -> dict:
        entry = {"role": "user", "content": self.turn.question}
        if self.plan.context_from:
            entry["context_from"] = self.plan.context_from
        if self.attachment_refs:
            # On record in messages.extra; the page keeps them in its thread (DecidedTurn).
            entry["attachments"] = self.attachment_refs
        return entry

    def opening(self) -> Iterable[str]:
        """Record the question (runs while the upstream request opens); the first event."""
        try:
            self.conversation_id = self._record_question()
            if self.keeper is not None:
                # The reply is on record from now on, empty: see Journal.open_now.
                self.journal.open_now(self.keeper)
            # The records answer "not saving" after a failed write (services/records/guarded).
            if self.store is not None:
                self.saved = getattr(self.store, "saving", True)
        except Exception:
            log.exception("could not record the question")
            self.conversation_id = self.conversation_id or uuid.uuid4().hex
            self.saved = False if self.store is not None else None
        finally:
            self._recorded.set()
            if self.keeper is not None:
                self.keeper.catch_up()
        return [sse.encode(TurnOpened(turn=self._planned()).model_dump())]

    def _planned(self) -> PlannedTurn:
        return PlannedTurn(
            conversation_id=self.conversation_id,
            context_from=self.plan.context_from,
            model=self.plan.model,
            saved=self.saved,
            attachments=self.attachment_refs,
        )

    def _record_question(self) -> str:
        """Store the question in its conversation (made on first use); the conversation's id.

        An id the caller does not own is never used: a new conversation is made instead (the
        page's conversation may have been deleted in another tab). Without records, the id
        names the browser's own copy. A retried question is already on record.
        """
        wanted = self.request.conversation_id
        store = self.store
        if store is None:
            return wanted or uuid.uuid4().hex
        retry = self.turn.retry
        persona = self._choice
        if not wanted or store.conversation(self.owner, wanted) is None:
            wanted = store.create_conversation(
                self.owner,
                model=self.plan.model,
                persona=persona.persona,
                persona_prompt=persona.stored_prompt,
            )
            retry = False
        elif self.store_persona:
            # An imported (or emptied) conversation: its persona is fixed by this question.
            store.set_persona(self.owner, wanted, persona.persona, persona.stored_prompt)
        if retry:
            store.drop_failed_attempt(self.owner, wanted)
        else:
            store.add_message(self.owner, wanted, self.asked())
            self._link_attachments(wanted)
        self.question_seq = store.newest_question(self.owner, wanted)
        return wanted

    def _link_attachments(self, conversation_id: str) -> None:
        """The question's attachments belong to its conversation from now on: kept and
        deleted with it (services/attachments/store.py)."""
        if self.files is None or not self.files.attached or self.attachment_store is None:
            return
        try:
            self.attachment_store.link(self.owner, self.files.ids, conversation_id)
        except Exception:
            # The question is on record; its files stay pending (and expire) rather than
            # the turn failing.
            log.exception("could not link the question's attachments")

    def events(self, source: Iterable[dict]) -> Iterator[dict]:
        """`source`'s events, the final one completed; the reply is on record as it streams
        (after the question: see `opening`), and however it ends."""
        if self.store is not None and self.journal is not None:
            self.keeper = self.journal.reply(
                self.owner,
                lambda: self.conversation_id,
                self.plan.model,
                ready=self._recorded,
                question=lambda: self.question_seq,
            )
        return recorded(
            source, self.keeper, self.plan.model, finish=self._finish, spent=self._spent()
        )

    def _spent(self):
        """What counts the reply's usage when it ends (api/usage.py); None with records off."""
        return self.meter.ended if self.meter is not None else None

    def usage_conversation(self) -> str | None:
        """The conversation the reply's usage row names: its id comes with the question's
        record, so this waits for it (briefly)."""
        self._recorded.wait(RECORD_WAIT)
        return self.conversation_id

    def keep_going(self) -> bool:
        """Whether the reply goes on when the page has left (reloaded, closed, offline): yes
        while it is on record and nobody stopped it (Stop marks it first, then hangs up:
        api/stop.py), so a returning page finds it, finished or still coming. Without
        records nobody could see it: it stops."""
        if self.keeper is None:
            return False
        return self.journal.still_wanted(self.keeper)

    def _finish(self, final: dict, entries: list[dict], reply: str) -> Iterator[dict]:
        yield FLUSH  # the last text leaves before the final event is put together
        self._recorded.wait(RECORD_WAIT)
        yield {**final, **self._decided(entries, reply)}

    def _decided(self, entries: list[dict], reply: str) -> dict:
        """What the final event adds for the page (see the module's docstring)."""
        turn = self.turn
        history = [entry.model_dump(exclude_defaults=True) for entry in turn.history]
        thread = [*history, self.asked(), *entries]
        start = next_history_start(thread, self.service.settings.max_history_rounds)
        decided_turn = DecidedTurn(
            **self._planned().model_dump(),
            history_start=turn.history_start + start,
            title=question_title(turn.question, self.attachment_refs),
        )
        decided: dict = {
            "turn": decided_turn.model_dump(),
            "entries": [_with_slot(entry, reply) for entry in entries],
        }
        try:
            decided["context_tokens"] = context_tokens(
                self.service,
                thread,
                # The thread's images count in the next request's context (documents are
                # searched again by the next question, so they are not counted here).
                attachments=TurnAttachments(earlier_images=self.files.plan.earlier_images)
                if self.files is not None
                else None,
                model=self.plan.model,
                persona_id=self._choice.persona,
                custom_prompt=self._choice.custom_prompt,
                lang=self.request.lang,
                max_tokens=self.request.max_tokens,
                multi_turn=True,
            )
        except Exception:
            log.exception("could not count the next request's context")
        view = finished_turn(
            decided["entries"],
            question=QUESTION_SLOT,
            question_index=self.question_index,
            retry=turn.retry,
            start=self.plan.context_from,
            lang=self.request.lang,
            persona=self._persona(),
            versions=turn.version_map(),
            feedback=self.store is not None,
            # The question's attachments, drawn above its words in the finished turn.
            attachments=self.attachment_refs,
        )
        decided["view"] = view_json(view, lang=self.request.lang)
        return decided

    @property
    def _choice(self) -> PersonaChoice:
        # The route always says; the request's own choice is only a fallback.
        return self.persona or PersonaChoice(self.turn.persona or "", self.turn.custom_prompt)

    def _persona(self):
        service = self.service
        return service.locked_persona or service.personas.get(self._choice.persona)


def _with_slot(entry: dict, reply: str) -> dict:
    """The entry with the reply's text (which the page has) replaced by REPLY_SLOT."""
    if entry.get("role") == "assistant" and entry.get("content") == reply:
        return {**entry, "content": REPLY_SLOT}
    return entry
