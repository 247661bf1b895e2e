"""Sending a message, streaming the reply, stopping it, and showing the thread."""

from __future__ import annotations

import uuid

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
)
from dash.exceptions import PreventUpdate

from api.identity import current_identity
from components import ids
from components.message import (
    LIVE_ACTIVE_CLASS,
    LIVE_IDLE_CLASS,
    assistant_message,
    error_message,
    notice,
    user_message,
)
from components.stream import event_source
from components.thread import render_thread
from components.usage import request_estimate, usage_summary
from extensions import chat_service, records
from services.conversation import input_problem, record_result, retry_point
from services.plan import plan_request
from services.pricing import conversation_totals
from services.tokens import count_messages

# What a request is built from. send_message and the size estimate read the same choices,
# in this order, so the estimate is of exactly what a send would do.
REQUEST_CHOICES = [
    State(ids.MULTI_TURN_SWITCH, "checked"),
    State(ids.LANG_STORE, "data"),
    State(ids.MODEL_SELECT, "value"),
    State(ids.PERSONA_SELECT, "value"),
    State(ids.PERSONA_CUSTOM_PROMPT, "value"),
    State(ids.CUSTOM_SAMPLING, "checked"),
    State(ids.MAX_TOKENS, "value"),
]


def _plan(service, history, question, choices):
    multi_turn, lang, model, persona, custom_prompt, custom, max_tokens = choices
    return plan_request(
        service,
        history,
        question,
        multi_turn=multi_turn is not False,
        model=model,
        persona_id=persona,
        custom_prompt=custom_prompt,
        lang=lang,
        max_tokens=max_tokens if custom else None,
    )


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.CHAT_INPUT, "value"),
    Output(ids.STREAM_HOLDER, "children", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Output(ids.NOTICE, "children", allow_duplicate=True),
    Output(ids.ESTIMATE, "children", allow_duplicate=True),
    Output(ids.CONVERSATION_STORE, "data", allow_duplicate=True),
    Output(ids.HISTORY_LIST, "children", allow_duplicate=True),
    Output(ids.LIVE_REPLY, "className", allow_duplicate=True),
    Input(ids.SEND_BUTTON, "nClicks"),
    Input({"type": ids.RETRY_BUTTON, "index": ALL}, "nClicks"),
    State(ids.CHAT_INPUT, "value"),
    State(ids.HISTORY_STORE, "data"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.CONVERSATION_STORE, "data"),
    State(ids.TEMPERATURE, "value"),
    State(ids.TOP_P, "value"),
    *REQUEST_CHOICES,
    prevent_initial_call=True,
)
def send_message(
    _send, _retries, text, history, streaming, conversation, temperature, top_p, *choices
):
    """Validate the message, store it, build the upstream request and start streaming."""
    if streaming or not ctx.triggered or not ctx.triggered[0]["value"]:
        # One reply at a time; and a retry button that merely appeared is not a click.
        raise PreventUpdate
    service = chat_service()
    settings = service.settings
    history = history or []
    lang, custom, max_tokens = choices[1], choices[5], choices[6]

    retry = isinstance(ctx.triggered_id, dict)
    if retry:
        point = retry_point(history)
        if point is None:
            raise PreventUpdate
        history, question = point
        previous = history[:-1]
        new_input = no_update
    else:
        problem = input_problem(text, settings.max_input_chars)
        if problem == "empty":
            empty = notice("input.empty", lang=lang)
            return no_update, no_update, no_update, no_update, empty, *[no_update] * 4
        if problem == "too_long":
            # The text stays in the box: nothing the user typed is lost.
            warning = notice(
                "input.too_long", lang=lang, length=len(text), limit=settings.max_input_chars
            )
            return no_update, no_update, no_update, no_update, warning, *[no_update] * 4
        question = text
        previous = history
        new_input = ""

    plan = _plan(service, previous, question, choices)
    asked = {"role": "user", "content": question}
    if plan.context_from:
        asked["context_from"] = plan.context_from
    history = [*previous, asked]

    request = {"messages": plan.messages, "model": plan.model, "lang": lang}
    if custom:
        request |= {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens or None}
    elif plan.temperature is not None:
        request["temperature"] = plan.temperature  # the persona's own
    # The server keeps the record: the question now, the reply when the stream ends.
    request["conversation_id"] = conversation = record_question(
        conversation, asked, model=plan.model, persona=choices[3], retry=retry
    )
    request = {key: value for key, value in request.items() if value is not None}
    turn = uuid.uuid4().hex
    streaming = {"turn": turn, "model": plan.model}
    source = event_source(turn, request)
    # The estimate was for the text just sent; the box is empty now.
    return (
        history,
        new_input,
        source,
        streaming,
        None,
        "",
        conversation,
        *_show_question_now(service, previous, question, retry, lang, choices[3]),
    )


def _show_question_now(service, previous, question, retry, lang, persona_id):
    """The question, and the reply's bubble, on screen with this response.

    show_thread redraws the whole thread from the stored history right after; without this
    the question would wait for that second round trip (about 200 ms measured).
    """
    if retry:
        return no_update, no_update
    if not previous:  # the welcome screen gives way to the conversation
        persona = service.locked_persona or service.personas.get(persona_id)
        asked = [{"role": "user", "content": question}]
        thread = render_thread(asked, lang=lang, streaming=True, persona=persona)
    else:
        thread = Patch()
        thread.append(user_message(question, lang=lang))
    return thread, LIVE_ACTIVE_CLASS


def record_question(
    conversation: str | None, asked: dict, *, model: str, persona: str | None, retry: bool
) -> str | None:
    """Store the question in the browser's current conversation record (made on first use).

    Returns the conversation id.
    """
    store = records()
    if store is None:
        # No server records: the id names the browser's own copy (see callbacks/sidebar.py).
        return conversation or uuid.uuid4().hex
    owner = current_identity()
    if not conversation or store.conversation(owner, conversation) is None:
        conversation = store.create_conversation(owner, model=model, persona=persona)
    if not retry:  # a retried question is already on record
        store.add_message(owner, conversation, asked)
    return conversation


@callback(
    Output(ids.HISTORY_STORE, "data", allow_duplicate=True),
    Output(ids.STREAM_HOLDER, "children", allow_duplicate=True),
    Output(ids.STREAMING_STORE, "data", allow_duplicate=True),
    Output(ids.HISTORY_LIST, "children", allow_duplicate=True),
    Output(ids.LIVE_REPLY, "className", allow_duplicate=True),
    Input(ids.RESULT_STORE, "data"),
    State(ids.HISTORY_STORE, "data"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.LANG_STORE, "data"),
    prevent_initial_call=True,
)
def finish_reply(result, history, streaming, lang):
    """Store how the streamed turn ended and drop the finished event source.

    The finished reply replaces the live one in this same response (never a blink, and one
    round trip before show_thread's full redraw, which follows).
    """
    if not result or not streaming or result.get("turn") != streaming.get("turn"):
        raise PreventUpdate  # a late event of a turn already stopped or cleared
    before = len(history or [])
    history = record_result(history or [], result, model=streaming.get("model", ""))
    thread = Patch()
    for index in range(before, len(history)):
        entry = history[index]
        if entry.get("role") == "assistant":
            thread.append(assistant_message(entry, lang=lang))
        elif entry.get("role") == "error":
            retry = index == len(history) - 1
            thread.append(error_message(entry, lang=lang, index=index, retry=retry))
    return history, [], None, thread, LIVE_IDLE_CLASS


@callback(
    Output(ids.HISTORY_LIST, "children"),
    Output(ids.LIVE_REPLY, "className"),
    Output(ids.LIVE_MARKDOWN, "markdownStr"),
    Output(ids.PERSONA_SELECT, "disabled"),
    Output(ids.HEADER_USAGE, "children"),
    Input(ids.HISTORY_STORE, "modified_timestamp"),
    Input(ids.PERSONA_SELECT, "value"),
    State(ids.HISTORY_STORE, "data"),
    State(ids.STREAMING_STORE, "data"),
    State(ids.LANG_STORE, "data"),
)
def show_thread(_modified, persona_id, history, streaming, lang):
    """The one place the thread is drawn from the stored history.

    The live reply is hidden in the same response that shows the finished reply in the
    thread, so it never blinks out. While streaming, its text belongs to the stream alone.
    The persona is fixed once the conversation has started.
    """
    service = chat_service()
    history = history or []
    persona = service.locked_persona or service.personas.get(persona_id)
    children = render_thread(history, lang=lang, streaming=bool(streaming), persona=persona)
    usage = usage_summary(conversation_totals(history, service.prices), lang=lang)
    live = (LIVE_ACTIVE_CLASS, no_update) if streaming else (LIVE_IDLE_CLASS, "")
    return children, *live, bool(history), usage


@callback(
    Output(ids.ESTIMATE, "children"),
    Input(ids.CHAT_INPUT, "debounceValue"),
    State(ids.CHAT_INPUT, "value"),
    State(ids.HISTORY_STORE, "data"),
    *REQUEST_CHOICES,
    prevent_initial_call=True,
)
def estimate_next_request(text, current, history, *choices):
    """While typing: about how many tokens the next request will send, and what they cost."""
    # A debounced value can arrive after the message was sent and the box emptied.
    if not text or not text.strip() or not (current or "").strip():
        return ""
    service = chat_service()
    plan = _plan(service, history or [], text, choices)
    tokens = count_messages(plan.messages, plan.model)
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
