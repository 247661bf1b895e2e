"""Sending a message, streaming the reply, stopping it, and showing the thread.

One turn (issues 7 and 13):
1. Send runs in the browser (assets/chat.js `startTurn`, at the click): the question shows,
   and the page POSTs the turn to the stream route with the part of the thread that can still
   be context.
2. The route plans the request once and records the question while the upstream request opens
   (api/page_turn.py). The page reads the stream itself and draws the live reply.
3. The final event says what the server decided (the stored entries, the finished messages);
   the page puts them in the thread and the stored history by `Patch`. `finish_reply` then
   only adds the usage to the header's total. When no final event comes (Stop, a lost
   connection), `finish_reply` draws the end from what the page saw.
The thread is drawn whole (`show_thread`) only when it is loaded or replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    no_update,
    set_props,
)
from dash.exceptions import PreventUpdate
from pydantic import TypeAdapter, ValidationError

from api.identity import current_identity
from api.schemas import turn_versions
from callbacks.inputs import LocalRecords, local_data
from components import ids
from components.message import LIVE_ACTIVE_CLASS, LIVE_IDLE_CLASS, notice
from components.thread import render_thread, turn_count, turn_id
from components.turn import finished_turn
from components.usage import request_estimate, usage_summary
from extensions import chat_service, records
from services.branches import versions as versions_of
from services.conversation import STOPPED, record_result, result_from_event
from services.fixed_persona import PersonaChoice, chosen, fixed
from services.personas import CUSTOM_ID
from services.plan import context_tokens, next_history_start, plan_request
from services.pricing import add_usage, price_usage
from services.records.browser import BrowserRecords
from services.tokens import count_messages

_LOCAL_RECORDS = TypeAdapter(LocalRecords)

# What a request is built from. The page's send and the size estimate read the same choices,
# in this order, so the estimate is of what a send would do.
REQUEST_CHOICES = [
    State(ids.MULTI_TURN_SWITCH, "checked"),
    State(ids.LANG_STORE, "data"),
    State(ids.MODEL_SELECT, "value"),
    State(ids.PERSONA_SELECT, "value"),
    State(ids.PERSONA_CUSTOM_PROMPT, "value"),
    State(ids.CUSTOM_SAMPLING, "checked"),
    State(ids.MAX_TOKENS, "value"),
]


def _plan_choices(choices, **override) -> dict:
    """REQUEST_CHOICES as `plan_request` keywords."""
    multi_turn, lang, model, persona, custom_prompt, custom, max_tokens = choices
    return {
        "multi_turn": multi_turn is not False,
        "model": model,
        "persona_id": persona,
        "custom_prompt": custom_prompt,
        "lang": lang,
        "max_tokens": max_tokens if custom else None,
    } | override


# Send and Retry run in the browser, at the click (assets/chat.js startTurn): the question
# shows and the stream starts before Dash hears of it; the stream request carries the newest
# part of the thread once, and the server plans and records the turn there (api/routes.py).
# What Dash must know (the turn's state, the stored history, the emptied box, INPUT_PROBLEM)
# reaches it by dash_clientside.set_props once the first text is on screen.


@callback(
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Input(ids.INPUT_PROBLEM, "data"),
    State(ids.LANG_STORE, "data"),
    prevent_initial_call=True,
)
def explain_input_problem(problem, lang):
    """Why the browser did not send the message; the text stays in the box."""
    if not problem:
        raise PreventUpdate
    if problem.get("problem") == "too_long":
        return notice(
            "input.too_long", lang=lang, length=problem.get("length"), limit=problem.get("limit")
        )
    return notice("input.empty", lang=lang)


# What the page reports when a turn ends: see assets/chat.js finishTurn and stopReply.
@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Output(ids.HISTORY_LIST, "children", allow_duplicate=True),
    Output(ids.LIVE_QUESTION, "className", allow_duplicate=True),
    Output(ids.LIVE_REPLY, "className", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Output(ids.USAGE_TOTALS, "data", allow_duplicate=True),
    Output(ids.HEADER_USAGE, "children", allow_duplicate=True),
    Output(ids.CONTEXT_TOKENS, "data", allow_duplicate=True),
    Output(ids.SIDEBAR_REFRESH, "data", allow_duplicate=True),
    Input(ids.RESULT_STORE, "data"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.LANG_STORE, "data"),
    State(ids.USAGE_TOTALS, "data"),
    State(ids.SIDEBAR_REFRESH, "data"),
    State(ids.CONTEXT_TOKENS, "data"),
    State(ids.PERSONA_SELECT, "value"),
    prevent_initial_call=True,
)
def finish_reply(result, streaming, lang, totals, refresh, context, persona_id):
    """A turn ended: its usage joins the header's total, and the sidebar shows it first.

    Normally the page has drawn the turn from the stream's final event (`drawn`) and sends
    up only the usage. Without a final event (Stop, a lost connection, a refusal without one)
    the turn is drawn here, from what the page saw, by `Patch`: nothing of the thread goes up
    or down, and the finished messages replace the live ones in this same response.
    """
    if not result:
        raise PreventUpdate
    service = chat_service()
    # With server records the list shows this conversation first now; without, the browser's
    # copy changes and that redraws the list (callbacks/sidebar.py).
    sidebar = (refresh or 0) + 1 if records() is not None else no_update
    if result.get("drawn"):
        if result.get("listed"):
            sidebar = no_update  # a new conversation: its id drew the list already
        totals = add_usage(totals or {}, result.get("entries") or [])
        usage = usage_summary(price_usage(totals, service.prices), lang=lang)
        skip = [no_update] * 6
        return (*skip, totals, usage, no_update, sidebar)
    if not streaming or result.get("turn") != streaming.get("turn"):
        raise PreventUpdate  # a late report of a turn already cleared
    model = result.get("model") or service.default_model
    ended = _how_it_ended(result)
    entries = record_result([], ended, model=model)
    asked = result.get("index") or 0  # the question's place in the thread

    history = Patch()
    context_from = result.get("context_from")
    if isinstance(context_from, int) and context_from:
        history[asked]["context_from"] = context_from
    history.extend(entries)
    persona = service.locked_persona or service.personas.get(persona_id)
    number = result.get("number") or 0
    view = finished_turn(
        entries,
        question=result.get("question") or "",
        question_index=asked,
        retry=bool(result.get("retry")),
        start=context_from if isinstance(context_from, int) else 0,
        lang=lang,
        persona=persona,
        next_turn_id=turn_id(number + 1),
        versions=turn_versions(result.get("versions")),
        feedback=records() is not None,
        # The question's attachments as the page had them (refs: drawn as text and links).
        attachments=result.get("attachments")
        if isinstance(result.get("attachments"), list)
        else None,
    )
    thread = no_update
    if view["replace"]:
        thread = view["children"]
    else:
        set_props(turn_id(number), view["props"])

    totals = add_usage(totals or {}, entries)
    usage = usage_summary(price_usage(totals, service.prices), lang=lang)
    context = next_context(ended, result.get("question"), context, model)
    return (
        history,
        None,
        thread,
        LIVE_IDLE_CLASS,
        LIVE_IDLE_CLASS,
        result.get("conversation") or no_update,
        totals,
        usage,
        context,
        sidebar,
    )


def _how_it_ended(result: dict) -> dict:
    """`record_result`'s input from what the page saw: stopped, a final event, or a cut."""
    content = result.get("content") or ""
    if result.get("stopped"):
        return {"status": STOPPED, "content": content}
    if isinstance(result.get("final"), dict):
        return result_from_event(result["final"], content)
    lost = {"type": "network", "message": "connection lost"}
    return {"status": "error", "content": content, "error": lost}


def next_context(ended: dict, question: str | None, before: int | None, model: str):
    """The next request's context size after a turn without a final event.

    Only a stopped reply with text adds a round: to the count from before.
    """
    if ended.get("status") != STOPPED or not ended.get("content") or before is None:
        return no_update
    asked = {"role": "user", "content": question or ""}
    answered = {"role": "assistant", "content": ended["content"]}
    return before + count_messages([asked, answered], model) - count_messages([], model)


# The thread is drawn whole from the stored history only when it is loaded or replaced; a turn
# changes it by Patch. A stored thread is shown once the page has read it from local storage:
# its timestamp is older than the page. Later writes are this page's own turns.
# With records on, the server's record is drawn instead (OPEN_REQUEST: callbacks/sidebar.py).
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="redrawOnLoad"),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Output(ids.OPEN_REQUEST, "data", allow_duplicate=True),
    Input(ids.HISTORY_STORE, "modified_timestamp"),
    State(ids.CONVERSATION_STORE, "data"),
    State(ids.PAGE_CONFIG, "data"),
    prevent_initial_call="initial_duplicate",
)


@callback(
    Output(ids.HISTORY_LIST, "children"),
    Output(ids.LIVE_QUESTION, "className"),
    Output(ids.LIVE_REPLY, "className"),
    Output(ids.PERSONA_SELECT, "disabled"),
    Output(ids.HEADER_USAGE, "children"),
    Output(ids.USAGE_TOTALS, "data"),
    Output(ids.CONTEXT_TOKENS, "data"),
    Output(ids.HISTORY_START, "data"),
    Output(ids.TURN_NUMBER, "data"),
    # The picker shows the conversation's own persona (an output that is also an input: Dash
    # does not call a callback again for its own outputs).
    Output(ids.PERSONA_SELECT, "value"),
    Output(ids.PERSONA_CUSTOM_PROMPT, "value"),
    Output(ids.PERSONA_CUSTOM_PROMPT, "disabled"),
    Input(ids.THREAD_REDRAW, "data"),
    Input(ids.PERSONA_SELECT, "value"),
    State(ids.HISTORY_STORE, "data"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.CONVERSATION_STORE, "data"),
    State(ids.LOCAL_RECORDS, "data"),
    *REQUEST_CHOICES,
    prevent_initial_call=True,
)
def show_thread(_redraw, persona_id, history, streaming, conversation, local, *choices):
    """The one place the thread is drawn whole, from the stored history.

    The persona is fixed once the conversation has started: a loaded conversation (page
    load, sidebar, import) shows its own, locked; an emptied thread (New chat, Clear) starts
    afresh with the default persona.
    """
    service = chat_service()
    history = history or []
    shown = None
    if history:
        shown = _conversation_persona(service, conversation, local)
    elif ctx.triggered_id == ids.THREAD_REDRAW:
        shown = chosen(service, None, None)
    custom_prompt = choices[4]
    picked = no_update
    prompt = no_update
    if shown is not None:
        if shown.persona != persona_id:
            picked = persona_id = shown.persona
        if shown.persona == CUSTOM_ID and shown.custom_prompt != (custom_prompt or "").strip():
            prompt = custom_prompt = shown.custom_prompt
    choices = (*choices[:3], persona_id, custom_prompt, *choices[5:])
    versions = conversation_versions(conversation, local) if history else {}
    view = thread_view(history, streaming=bool(streaming), choices=choices, versions=versions)
    live = LIVE_ACTIVE_CLASS if streaming else LIVE_IDLE_CLASS
    locked_prompt = bool(history) and persona_id == CUSTOM_ID
    return (
        view.children,
        LIVE_IDLE_CLASS,
        live,
        bool(history),
        view.usage,
        view.totals,
        view.context,
        view.start,
        view.turns,
        picked,
        prompt,
        locked_prompt,
    )


@dataclass
class ThreadView:
    """The thread drawn whole, and what the page keeps beside it (SHOW_THREAD's outputs)."""

    children: list
    usage: object
    totals: dict
    context: int | None
    start: int
    turns: int


def thread_view(history: list[dict], *, streaming: bool, choices, versions) -> ThreadView:
    """`history` drawn whole (`versions`: `‹ k / n ›` by index), with its totals, the next
    request's context size, where its history starts and how many turns it has."""
    service = chat_service()
    lang, persona_id = choices[1], choices[3]
    persona = service.locked_persona or service.personas.get(persona_id)
    children = render_thread(
        history,
        lang=lang,
        streaming=streaming,
        persona=persona,
        versions=versions,
        feedback=records() is not None,
    )
    totals = add_usage({}, history)
    return ThreadView(
        children=children,
        usage=usage_summary(price_usage(totals, service.prices), lang=lang),
        totals=totals,
        context=context_tokens(service, history, **_plan_choices(choices, multi_turn=True)),
        start=next_history_start(history, service.settings.max_history_rounds),
        turns=turn_count(history),
    )


def conversation_store(local):
    """The server's records, or (records off) the browser's copy; None when that copy is not
    of the right shape."""
    store = records()
    if store is None:
        try:
            store = BrowserRecords(local_data(_LOCAL_RECORDS.validate_python(local or {})))
        except ValidationError:
            return None
    return store


def conversation_versions(conversation, local) -> dict[int, tuple[int, int]]:
    """`‹ k / n ›` by index for the open conversation (services/branches.py)."""
    store = conversation_store(local)
    if store is None or not isinstance(conversation, str) or not conversation:
        return {}
    return versions_of(store.branches(current_identity(), conversation))


def _conversation_persona(service, conversation, local) -> PersonaChoice | None:
    """The persona the open conversation was started with: from the server's records, or
    (records off) from the browser's copy. None when nothing says (not on record, imported)."""
    if not isinstance(conversation, str) or not conversation:
        return None
    store = conversation_store(local)
    if store is None:
        return None
    return fixed(service, store.fixed_persona(current_identity(), conversation))


# Typing pauses: the box's text goes on to the estimate only if the box still holds it. A pause
# that ends after the message was sent (Enter within the debounce wait: the box is emptied, or
# holds the next question by then) is stale, and the sent question does not go up again: it
# went once, in the stream request.
clientside_callback(
    """(typed, now) => typed === now ? now : window.dash_clientside.no_update""",
    Output(ids.ESTIMATE_TEXT, "data"),
    Input(ids.CHAT_INPUT, "debounceValue"),
    State(ids.CHAT_INPUT, "value"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.ESTIMATE, "children"),
    Input(ids.ESTIMATE_TEXT, "data"),
    State(ids.CONTEXT_TOKENS, "data"),
    *REQUEST_CHOICES,
    prevent_initial_call=True,
)
def estimate_next_request(text, context, *choices):
    """While typing: about how many tokens the next request will send, and what they cost.

    The thread's part is the number the last reply (or the last redraw) left in
    CONTEXT_TOKENS, so typing sends only the question (once).
    """
    if not text or not text.strip():
        return ""
    service = chat_service()
    plan = plan_request(service, [], text, **_plan_choices(choices))
    tokens = count_messages(plan.messages, plan.model)
    if choices[0] is not False and isinstance(context, int):
        tokens += context
    return request_estimate(tokens, service.prices.price(plan.model), lang=choices[1])


@callback(
    Output(ids.MODEL_SELECT, "value", allow_duplicate=True),
    Input(ids.PERSONA_SELECT, "value"),
    prevent_initial_call=True,
)
def use_persona_model(persona_id):
    """A persona may name its own default model; picking the persona picks the model too."""
    service = chat_service()
    persona = service.personas.get(persona_id)
    if persona is None or persona.model not in service.models:
        raise PreventUpdate
    return persona.model


# Stop: freeze the text at once and abort the request (the server then closes upstream).
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="stopReply"),
    Output(ids.RESULT_STORE, "data", allow_duplicate=True),
    Input(ids.STOP_BUTTON, "nClicks"),
    prevent_initial_call=True,
)

# Lock the composer while a reply streams.
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="applyStreamingState"),
    Output(ids.CHAT_INPUT, "disabled"),
    Output(ids.SEND_BUTTON, "style"),
    Output(ids.STOP_BUTTON, "style"),
    Input(ids.STREAMING_STORE, "data"),
)

# An example prompt on the welcome screen goes into the message box.
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="useExample"),
    Output(ids.CHAT_INPUT, "value", allow_duplicate=True),
    Input({"type": ids.EXAMPLE_PROMPT, "index": ALL}, "n_clicks"),
    State({"type": ids.EXAMPLE_PROMPT, "index": ALL}, "children"),
    prevent_initial_call=True,
)
