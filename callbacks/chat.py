"""Sending a message, streaming the reply, stopping it, and showing the thread.

One turn, for speed and for bytes that do not grow with the thread (issue 7):
1. Send runs in the browser (assets/chat.js `sendMessage`): the question shows, and the stream
   request goes out with the newest part of the thread that can still be context.
2. The stream route plans the request (persona, round cap, the model's window) and records the
   question; its final event says how, and how big the next request's context is
   (api/routes.py).
3. `finish_reply` adds the question and the finished reply with `Patch`, to the thread on
   screen and to the stored history; only the reply goes up and only its rendering comes down.
The thread is drawn whole (`show_thread`) only when it is loaded or replaced.
"""

from __future__ import annotations

from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    no_update,
)
from dash.exceptions import PreventUpdate

from components import ids
from components.message import (
    LIVE_ACTIVE_CLASS,
    LIVE_IDLE_CLASS,
    assistant_message,
    error_message,
    notice,
    user_message,
)
from components.thread import render_thread
from components.usage import request_estimate, usage_summary
from extensions import chat_service, records
from services.conversation import record_result
from services.plan import context_tokens, plan_request
from services.pricing import add_usage, price_usage
from services.tokens import count_messages

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


# Send (and Retry) run in the browser: the question shows and the stream starts with no server
# round trip before it. The stream request carries the newest part of the thread once; the
# server plans and records the turn there (api/routes.py). See assets/chat.js sendMessage.
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="sendMessage"),
    # What must show at once. The turn's state, the stored history, the emptied box and the
    # rest are set (dash_clientside.set_props) once the first text is on screen, or 150 ms
    # after the click if the model is slower: each costs a round of Dash's renderer.
    Output(ids.STREAM_HOLDER, "children", allow_duplicate=True),
    Output(ids.HISTORY_LIST, "children", allow_duplicate=True),
    Output(ids.LIVE_QUESTION, "className", allow_duplicate=True),
    Output(ids.LIVE_QUESTION_TEXT, "children"),
    Output(ids.LIVE_REPLY, "className", allow_duplicate=True),
    Output(ids.INPUT_PROBLEM, "data"),
    Input(ids.SEND_BUTTON, "nClicks"),
    Input({"type": ids.RETRY_BUTTON, "index": ALL}, "nClicks"),
    State(ids.CHAT_INPUT, "value"),
    State(ids.HISTORY_STORE, "data"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.CONVERSATION_STORE, "data"),
    State(ids.TEMPERATURE, "value"),
    State(ids.TOP_P, "value"),
    *REQUEST_CHOICES,
    State(ids.NOTICE, "children"),
    State(ids.ESTIMATE, "children"),
    State(ids.PAGE_CONFIG, "data"),
    prevent_initial_call=True,
)


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


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.STREAM_HOLDER, "children", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Output(ids.HISTORY_LIST, "children", allow_duplicate=True),
    Output(ids.LIVE_QUESTION, "className", allow_duplicate=True),
    Output(ids.LIVE_REPLY, "className", allow_duplicate=True),
    Output(ids.LIVE_MARKDOWN, "markdownStr", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Output(ids.USAGE_TOTALS, "data", allow_duplicate=True),
    Output(ids.HEADER_USAGE, "children", allow_duplicate=True),
    Output(ids.CONTEXT_TOKENS, "data", allow_duplicate=True),
    Output(ids.SIDEBAR_REFRESH, "data", allow_duplicate=True),
    Output(ids.CONTEXT_FROM, "data"),
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
    """Add the question and how its reply ended to the thread, by `Patch`: nothing of the
    thread goes up or down.

    The finished messages replace the live ones in this same response: they never blink out.
    """
    if not result or not streaming or result.get("turn") != streaming.get("turn"):
        raise PreventUpdate  # a late event of a turn already stopped or cleared
    service = chat_service()
    announced = result.get("meta") or {}
    model = announced.get("model") or streaming.get("model") or service.default_model
    entries = record_result([], result, model=model)
    asked = streaming.get("index", 0)  # the question's place in the thread

    history = Patch()
    context_from = announced.get("context_from")
    if isinstance(context_from, int):
        history[asked]["context_from"] = context_from
    history.extend(entries)
    thread = _thread_after(service, streaming.get("question"), asked, entries, lang, persona_id)

    totals = add_usage(totals or {}, entries)
    usage = usage_summary(price_usage(totals, service.prices), lang=lang)
    context = next_context(result, context, model)
    # The page named a new conversation itself; the server may have had to pick another.
    conversation = announced.get("conversation_id") or streaming.get("conversation") or no_update
    # With server records the list shows this conversation first now; without, the browser's
    # copy changes and that redraws the list (callbacks/sidebar.py).
    sidebar = (refresh or 0) + 1 if records() is not None else no_update
    return (
        history,
        [],
        None,
        thread,
        LIVE_IDLE_CLASS,
        LIVE_IDLE_CLASS,
        "",
        conversation,
        totals,
        usage,
        context,
        sidebar,
        context_from if isinstance(context_from, int) else no_update,
    )


def _thread_after(service, question, asked: int, entries: list[dict], lang: str, persona_id):
    """The thread's change: the question (unless a retry's, already there), then `entries`.

    The first question replaces the welcome screen, so the thread is drawn anew then.
    """
    if question is not None and asked == 0:
        persona = service.locked_persona or service.personas.get(persona_id)
        turn = [{"role": "user", "content": question}, *entries]
        return render_thread(turn, lang=lang, streaming=False, persona=persona)
    thread = Patch()
    if question is not None:
        thread.append(user_message(question, lang=lang))
    for offset, entry in enumerate(entries, start=1):
        if entry["role"] == "assistant":
            thread.append(assistant_message(entry, lang=lang))
        else:
            last = offset == len(entries)
            thread.append(error_message(entry, lang=lang, index=asked + offset, retry=last))
    return thread


def next_context(result: dict, before: int | None, model: str) -> int | object:
    """The next request's context size: the server's count from the final event.

    A stopped reply has no final event: its round is added to the count from before.
    """
    counted = result.get("context_tokens")
    if isinstance(counted, int):
        return counted
    if result.get("status") != "stopped" or not result.get("content") or before is None:
        return no_update
    asked = {"role": "user", "content": result.get("question") or ""}
    answered = {"role": "assistant", "content": result["content"]}
    return before + count_messages([asked, answered], model) - count_messages([], model)


# The thread is drawn whole from the stored history only when it is loaded or replaced; a turn
# changes it by Patch. A stored thread is shown once the page has read it from local storage:
# its timestamp is older than the page. Later writes are this page's own turns.
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="redrawOnLoad"),
    Output(ids.THREAD_REDRAW, "data", allow_duplicate=True),
    Input(ids.HISTORY_STORE, "modified_timestamp"),
    prevent_initial_call="initial_duplicate",
)


# When the context moves (the round cap, the model's window), older entries are dimmed under a
# line, in the browser: it has the thread at hand, and the server need not see it.
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="markContext"),
    Output(ids.HISTORY_LIST, "children", allow_duplicate=True),
    Input(ids.CONTEXT_FROM, "data"),
    State(ids.HISTORY_STORE, "data"),
    State(ids.HISTORY_LIST, "children"),
    State(ids.PAGE_CONFIG, "data"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.HISTORY_LIST, "children"),
    Output(ids.LIVE_QUESTION, "className"),
    Output(ids.LIVE_REPLY, "className"),
    Output(ids.LIVE_MARKDOWN, "markdownStr"),
    Output(ids.PERSONA_SELECT, "disabled"),
    Output(ids.HEADER_USAGE, "children"),
    Output(ids.USAGE_TOTALS, "data"),
    Output(ids.CONTEXT_TOKENS, "data"),
    Input(ids.THREAD_REDRAW, "data"),
    Input(ids.PERSONA_SELECT, "value"),
    State(ids.HISTORY_STORE, "data"),
    State(ids.STREAMING_STORE, "data"),
    *REQUEST_CHOICES,
    prevent_initial_call=True,
)
def show_thread(_redraw, persona_id, history, streaming, *choices):
    """The one place the thread is drawn whole, from the stored history.

    The persona is fixed once the conversation has started.
    """
    service = chat_service()
    history = history or []
    lang = choices[1]
    persona = service.locked_persona or service.personas.get(persona_id)
    children = render_thread(history, lang=lang, streaming=bool(streaming), persona=persona)
    totals = add_usage({}, history)
    usage = usage_summary(price_usage(totals, service.prices), lang=lang)
    live = (LIVE_ACTIVE_CLASS, no_update) if streaming else (LIVE_IDLE_CLASS, "")
    context = context_tokens(service, history, **_plan_choices(choices, multi_turn=True))
    return children, LIVE_IDLE_CLASS, *live, bool(history), usage, totals, context


@callback(
    Output(ids.ESTIMATE, "children"),
    Input(ids.CHAT_INPUT, "debounceValue"),
    State(ids.CHAT_INPUT, "value"),
    State(ids.CONTEXT_TOKENS, "data"),
    *REQUEST_CHOICES,
    prevent_initial_call=True,
)
def estimate_next_request(text, current, context, *choices):
    """While typing: about how many tokens the next request will send, and what they cost.

    The thread's part is the number the last reply (or the last redraw) left in
    CONTEXT_TOKENS, so typing sends only the question.
    """
    # A debounced value can arrive after the message was sent and the box emptied.
    if not text or not text.strip() or not (current or "").strip():
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


# Every stream event lands here (in the browser): show the text, and report the end once.
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="onStreamEvent"),
    Output(ids.LIVE_MARKDOWN, "markdownStr", allow_duplicate=True),
    Output(ids.RESULT_STORE, "data", allow_duplicate=True),
    Input(ids.EVENT_SOURCE, "data"),
    Input(ids.EVENT_SOURCE, "status"),
    Input(ids.EVENT_SOURCE, "errorEvent"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.RESULT_STORE, "data"),
    State(ids.LIVE_MARKDOWN, "markdownStr"),
    prevent_initial_call=True,
)

# Stop: freeze the text at once and abort the request (the server then closes upstream).
clientside_callback(
    ClientsideFunction(namespace="chat", function_name="stopReply"),
    Output(ids.RESULT_STORE, "data", allow_duplicate=True),
    Input(ids.STOP_BUTTON, "nClicks"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.RESULT_STORE, "data"),
    State(ids.LIVE_MARKDOWN, "markdownStr"),
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
