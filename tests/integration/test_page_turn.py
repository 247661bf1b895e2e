"""The page's form of a chat request (`{"turn": {...}}`) end to end.

The page sends its question and the newest part of its thread that can still be context; the
route plans the upstream request (services/plan.py), records the question, and streams the
reply through the real `openai` SDK to the fake upstream. What the fake records is what the
model provider receives; it is held to `plan_request` on the page's *whole* thread, which is
what the page would have sent before it sent only a part.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from api.events import DeltaEvent, DoneEvent, ErrorEvent, TurnOpened
from api.identity import COOKIE
from services import context
from services.conversation import complete_rounds, record_result, result_from_event
from services.plan import context_tokens, plan_request, plan_turn
from services.tokens import count_messages
from tests.fake_upstream import Cut, Error, Reply
from tests.turns import MODEL, error, reply, user

ROOT = Path(__file__).resolve().parents[2]
CHOICES = {
    "multi_turn": True,
    "model": None,
    "persona_id": None,
    "custom_prompt": None,
    "lang": "en",
    "max_tokens": None,
}


# --------------------------------------------------------------------------- helpers


def rounds(n: int, start: int = 1) -> list[dict]:
    history = []
    for i in range(start, start + n):
        history += [user(f"question {i}"), reply(f"answer {i}")]
    return history


def shipped_prompt(persona_id: str, lang: str) -> str:
    import yaml

    data = yaml.safe_load((ROOT / "personas.yaml").read_text(encoding="utf-8"))
    persona = next(p for p in data["personas"] if p["id"] == persona_id)
    return persona["system_prompt"][lang].strip()


def tail_start(history: list[dict], max_rounds: int) -> int:
    """Where the page's tail starts: the question of the oldest of the newest `max_rounds`
    complete rounds, 0 when all fit (worked out here from complete_rounds, not from the page)."""
    found = complete_rounds(history)
    if len(found) <= max_rounds:
        return 0
    first = found[-max_rounds][0]
    return next(i for i, entry in enumerate(history) if entry is first)


def page_body(question: str, history=(), *, history_start: int = 0, **extra) -> dict:
    """A body like the one assets/chat.js startTurn posts; `turn_*` keys go into the turn."""
    turn = {
        "question": question,
        "history": list(history),
        "history_start": history_start,
        "multi_turn": True,
        "persona": None,
        "custom_prompt": None,
        "retry": False,
    }
    for key in list(extra):
        if key.startswith("turn_"):
            turn[key[len("turn_") :]] = extra.pop(key)
    return {"turn": turn, "model": None, "lang": "en", "conversation_id": None, **extra}


def parse_sse(body: str) -> list[dict]:
    assert body.endswith("\n\n"), body[-80:]
    events = []
    for block in body[:-2].split("\n\n"):
        assert block.startswith("data: ") and "\n" not in block, block
        events.append(json.loads(block[len("data: ") :]))
    return events


PLANNED = {"conversation_id", "context_from", "model", "saved"}


def stream_turn(client, body: dict) -> tuple[dict, str, dict]:
    """POST a page turn to the stream route: (the turn as planned, reply text, final event).

    Checks the stream's shape: a first event that says how the turn was planned (the
    conversation's id included), text events, then one final event (done or error) that says
    it again, with what the page draws from (api/page_turn.py).
    """
    response = client.post("/api/chat/stream", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    *events, final = parse_sse(response.get_data(as_text=True))
    # The planned turn comes once, while the upstream answers: before or after the first text.
    [opening] = [event for event in events if "delta" not in event]
    assert events.index(opening) <= 1, events[:3]
    assert set(opening) == {"turn"} and set(opening["turn"]) == PLANNED, opening
    TurnOpened.model_validate(opening)  # the models the OpenAPI document describes
    middle = [event for event in events if event is not opening]
    for event in middle:
        assert isinstance(event.get("delta"), str), f"not a text event: {event}"
        assert "done" not in event and "error" not in event and "turn" not in event
        DeltaEvent.model_validate(event)
    assert ("done" in final) != ("error" in final), final
    (DoneEvent if "done" in final else ErrorEvent).model_validate(final)
    assert set(final["turn"]) == PLANNED | {"history_start", "title"}, final
    assert {k: final["turn"][k] for k in PLANNED} == opening["turn"]
    assert type(final["context_tokens"]) is int, final
    assert isinstance(final["entries"], list)
    view = final["view"]
    # A first question redraws the thread; later ones fill their turn's container.
    assert isinstance(view["children"] if view["replace"] else view["props"]["children"], list)
    planned = {k: final["turn"][k] for k in PLANNED}
    return planned, "".join(e["delta"] for e in middle), final


def upstream_messages(fake) -> list[dict]:
    return fake.requests[-1].body["messages"]


def service_of(app):
    return app.server.extensions["chat_service"]


def store_of(app):
    return app.server.extensions["chat_records"]


def identity_of(client) -> str:
    client.get("/healthz")
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    signer = URLSafeSerializer("test-secret-not-for-production", salt="chat-identity")
    return signer.loads(cookie.value)


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(database_url=f"sqlite:///{tmp_path}/chat.db")


# --------------------------------------------------------------------------- the stream's shape


def test_text_streams_then_the_final_event_says_how_the_turn_was_planned(app, fake):
    text = "Paris, 巴黎 🇫🇷, is the capital."
    fake.script(Reply(text, chunk_size=3))
    client = app.server.test_client()

    planned, got, final = stream_turn(client, page_body("Capital of France?"))

    assert got == text
    assert final["done"] is True
    assert planned == {
        "conversation_id": planned["conversation_id"],
        "context_from": 0,
        "model": MODEL,
        "saved": True,
    }
    assert len(planned["conversation_id"]) == 32
    assert final["context_tokens"] > 0
    # Each conversation-less turn starts a conversation of its own.
    again, _, _ = stream_turn(client, page_body("Capital of France?"))
    assert again["conversation_id"] != planned["conversation_id"]


def test_with_snapshots_every_event_carries_the_text_so_far(app, fake):
    text = "One, two, three, four, five."
    fake.script(Reply(text, chunk_size=4))
    client = app.server.test_client()

    _, got, final = stream_turn(client, page_body("Count", snapshots=True))

    assert got == text
    assert final["content"] == text
    assert final["turn"]["context_from"] == 0


def test_the_json_route_refuses_the_pages_form(app, fake):
    """The page's form plans and records for the page's stream; scripts send `messages`."""
    client = app.server.test_client()

    response = client.post("/api/chat", json=page_body("And now?", rounds(2)))

    assert response.status_code == 400
    assert "/api/chat/stream" in response.get_json()["error"]["message"]
    assert fake.requests == []


def test_context_tokens_grows_with_a_longer_reply(app, fake):
    client = app.server.test_client()
    history = rounds(1)
    fake.script(Reply("Short."))
    _, _, short = stream_turn(client, page_body("Tell me", history))
    fake.script(Reply("A much longer reply, " * 40))
    _, _, long = stream_turn(client, page_body("Tell me", history))

    assert long["context_tokens"] > short["context_tokens"] > 0


def test_context_tokens_plus_the_next_question_is_the_next_requests_size(app, fake):
    """What the page's estimate adds up (callbacks/chat.py) is what the next request sends."""
    service = service_of(app)
    client = app.server.test_client()
    thread = rounds(3)
    fake.script(Reply("The third reply, with some words in it."))
    _, text, final = stream_turn(client, page_body("Question four?", thread))
    thread = [*thread, user("Question four?"), reply(text)]

    stream_turn(client, page_body("Question five, a bit longer than the others?", thread))

    sent = count_messages(upstream_messages(fake), MODEL)
    alone = plan_request(service, [], "Question five, a bit longer than the others?", **CHOICES)
    assert final["context_tokens"] + count_messages(alone.messages, MODEL) == sent


def page_thread_after(before: list[dict], question: str, text: str, final: dict) -> list[dict]:
    """The thread the page holds once the turn ended (finish_reply records the result)."""
    asked = [*before, user(question)]
    return record_result(asked, result_from_event(final, text), model=MODEL)


@pytest.mark.parametrize(
    ("scenario", "multi_turn"),
    [
        pytest.param(Reply("A finished reply."), True, id="done"),
        pytest.param(Reply("Cut short by max_tokens", finish_reason="length"), True, id="length"),
        pytest.param(Error(500, "boom", "server_error"), True, id="error-without-text"),
        # A cut reply stays in the page's thread, and with its question it is context.
        pytest.param(Cut("Half of a reply that was cut", chunk_size=4), True, id="cut"),
        # The page's count means "the context when multi-turn is on", whatever this turn did.
        pytest.param(Reply("Alone."), False, id="multi-turn-off"),
    ],
)
def test_context_tokens_is_the_context_of_the_thread_the_page_ends_with(
    app, fake, scenario, multi_turn
):
    """The same number show_thread computes when the page is reloaded (multi_turn=True)."""
    service = service_of(app)
    client = app.server.test_client()
    before = rounds(2)
    fake.script(scenario)

    _, text, final = stream_turn(
        client, page_body("What next?", before, turn_multi_turn=multi_turn)
    )

    after = page_thread_after(before, "What next?", text, final)
    assert final["context_tokens"] == context_tokens(service, after, **CHOICES)


# --------------------------------------------------------------------------- what goes upstream


def test_the_persona_prompt_goes_first_in_the_pages_language(app, fake):
    client = app.server.test_client()
    history = rounds(2)

    stream_turn(client, page_body("我该睡多久？", history, turn_persona="wellness", lang="zh-cn"))

    sent = upstream_messages(fake)
    assert sent[0] == {"role": "system", "content": shipped_prompt("wellness", "zh-cn")}
    assert sent[1:] == [{"role": e["role"], "content": e["content"]} for e in history] + [
        {"role": "user", "content": "我该睡多久？"}
    ]
    expected = plan_request(
        service_of(app),
        history,
        "我该睡多久？",
        **{**CHOICES, "persona_id": "wellness", "lang": "zh-cn"},
    )
    assert sent == expected.messages


def test_a_custom_prompt_is_the_system_prompt(app, fake):
    client = app.server.test_client()

    stream_turn(
        client,
        page_body("Hi", turn_persona="custom", turn_custom_prompt="  Talk like a pirate.  "),
    )

    assert upstream_messages(fake) == [
        {"role": "system", "content": "Talk like a pirate."},
        {"role": "user", "content": "Hi"},
    ]


def test_multi_turn_off_sends_only_the_question(app, fake):
    client = app.server.test_client()
    history = rounds(3)

    announced, _, _ = stream_turn(
        client, page_body("Alone?", history, history_start=0, turn_multi_turn=False)
    )

    sent = upstream_messages(fake)
    assert [m for m in sent if m["role"] != "system"] == [{"role": "user", "content": "Alone?"}]
    assert sent[0] == {"role": "system", "content": shipped_prompt("general", "en")}
    assert announced["context_from"] == 0


def test_only_complete_rounds_of_the_history_go_up(app, fake):
    """Errors, unanswered questions and empty replies are shown, never sent again."""
    client = app.server.test_client()
    history = [
        user("first"),
        reply("first answer"),
        user("failed"),
        error(),
        user("stopped before any text"),
        reply("", status="stopped"),
        user("cut"),
        reply("cut answer", status="cut"),
        error("stream_cut"),
        user("unanswered"),
    ]

    stream_turn(client, page_body("Now?", history))

    assert [m for m in upstream_messages(fake) if m["role"] != "system"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "cut"},
        {"role": "assistant", "content": "cut answer"},
        {"role": "user", "content": "Now?"},
    ]
    assert (
        upstream_messages(fake)
        == plan_request(service_of(app), history, "Now?", **CHOICES).messages
    )


def test_the_round_cap_applies_to_what_the_page_sends(make_app, fake):
    app = make_app(max_history_rounds=2)
    client = app.server.test_client()
    whole = rounds(5)

    announced, _, _ = stream_turn(client, page_body("Next?", whole))

    expected = plan_request(service_of(app), whole, "Next?", **CHOICES)
    assert upstream_messages(fake) == expected.messages
    assert [m["content"] for m in expected.messages[1:]] == [
        "question 4",
        "answer 4",
        "question 5",
        "answer 5",
        "Next?",
    ]
    assert announced["context_from"] == expected.context_from == 6


def test_history_start_makes_context_from_an_index_of_the_whole_thread(make_app, fake):
    """The page sends the tail; the answer is as if it had sent everything."""
    app = make_app(max_history_rounds=2)
    client = app.server.test_client()
    whole = [
        *rounds(2),
        user("lost"),
        error(),
        *rounds(3, start=3),
        user("unanswered"),
        error(),
    ]
    start = tail_start(whole, 2)
    assert start == 8  # "question 4"
    expected = plan_request(service_of(app), whole, "Next?", **CHOICES)

    announced, _, final = stream_turn(
        client, page_body("Next?", whole[start:], history_start=start)
    )

    assert upstream_messages(fake) == expected.messages
    assert announced["context_from"] == expected.context_from == start
    assert final["turn"]["context_from"] == start
    # The same tail without its offset would point into the wrong entries.
    stream_turn(client, page_body("Next?", whole[start:], history_start=0))
    assert upstream_messages(fake) == expected.messages


def test_history_start_with_a_window_too_small_for_every_kept_round(make_app, fake, tmp_path):
    """The model's window drops rounds beyond the cap: context_from moves past history_start."""
    app = small_window_app(make_app, fake, tmp_path, rounds=4)
    client = app.server.test_client()
    words = " ".join(["sleep", "water", "walk", "tea", "rest"] * 12)
    whole = []
    for i in range(7):
        whole += [user(f"Question {i}: {words}"), reply(f"Answer {i}: {words}")]
    start = tail_start(whole, 4)
    expected = plan_request(service_of(app), whole, "Next?", **CHOICES)
    assert expected.context_from > start  # the window, not only the cap, left rounds out

    announced, _, _ = stream_turn(client, page_body("Next?", whole[start:], history_start=start))

    assert upstream_messages(fake) == expected.messages
    assert announced["context_from"] == expected.context_from


def test_the_persona_temperature_applies_unless_the_page_sends_one(make_app, fake, tmp_path):
    path = tmp_path / "personas.yaml"
    path.write_text(
        "personas:\n"
        "  - {id: calm, name: Calm, system_prompt: Be calm., temperature: 0.2}\n"
        "  - {id: wild, name: Wild, system_prompt: Be wild., temperature: 1.5}\n",
        encoding="utf-8",
    )
    client = make_app(personas_file=str(path)).server.test_client()

    stream_turn(client, page_body("Hi", turn_persona="wild"))
    assert fake.requests[-1].body["temperature"] == 1.5
    assert upstream_messages(fake)[0] == {"role": "system", "content": "Be wild."}

    stream_turn(client, page_body("Hi", turn_persona="wild", temperature=0.3))
    assert fake.requests[-1].body["temperature"] == 0.3

    stream_turn(client, page_body("Hi", turn_persona="calm"))
    assert fake.requests[-1].body["temperature"] == 0.2


# --------------------------------------------------------------------------- records


def test_the_question_and_the_reply_are_recorded(app, fake):
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    fake.script(Reply("First answer."))

    first, _, _ = stream_turn(client, page_body("First question"))

    cid = first["conversation_id"]
    assert [(e["role"], e["content"]) for e in store.history(owner, cid)] == [
        ("user", "First question"),
        ("assistant", "First answer."),
    ]
    assert store.conversation(owner, cid)["title"] == "First question"

    fake.script(Reply("Second answer."))
    thread = [user("First question"), reply("First answer.")]
    second, _, _ = stream_turn(client, page_body("Second question", thread, conversation_id=cid))

    assert second["conversation_id"] == cid
    assert [e["content"] for e in store.history(owner, cid)] == [
        "First question",
        "First answer.",
        "Second question",
        "Second answer.",
    ]


def test_a_question_whose_context_moved_is_recorded_with_its_context_from(make_app, fake, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path}/chat.db", max_history_rounds=1)
    client = app.server.test_client()
    owner = identity_of(client)
    thread = rounds(2)

    announced, _, _ = stream_turn(client, page_body("Third?", thread[2:], history_start=2))

    assert announced["context_from"] == 2
    asked = store_of(app).history(owner, announced["conversation_id"])[0]
    assert asked["content"] == "Third?"
    assert asked["context_from"] == 2


def test_a_retry_does_not_record_the_question_twice(app, fake):
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)
    fake.script(Error(500, "boom", "server_error"))
    announced, _, final = stream_turn(client, page_body("Try me"))
    assert "error" in final
    cid = announced["conversation_id"]

    fake.script(Reply("Now it works."))
    stream_turn(client, page_body("Try me", conversation_id=cid, turn_retry=True))

    # The failed attempt goes from the record as it goes from the page: a reload shows the
    # thread the page showed (and positions, which edits and versions name, agree).
    recorded = store.history(owner, cid)
    assert [e["role"] for e in recorded] == ["user", "assistant"]
    assert [e.get("content") for e in recorded if e["role"] == "user"] == ["Try me"]

    # Without `retry` the same question is a new one, and recorded again.
    stream_turn(client, page_body("Try me", conversation_id=cid))
    assert [e["role"] for e in store.history(owner, cid)].count("user") == 2


@pytest.mark.parametrize("retry", [False, True])
@pytest.mark.parametrize(
    ("given", "kept"),
    [
        # The server names new conversations (its first event says the id): an id it does not
        # know (a conversation deleted in another tab, a made-up one) gets a new record.
        pytest.param("0123456789abcdef" * 2, False, id="well-formed"),
        pytest.param("not-an-id", False, id="malformed"),
        pytest.param("0123456789ABCDEF" * 2, False, id="upper-case"),
    ],
)
def test_an_unknown_conversation_gets_a_new_record_not_a_404(app, fake, retry, given, kept):
    client = app.server.test_client()
    owner = identity_of(client)
    store = store_of(app)

    planned, _, final = stream_turn(
        client, page_body("Hello again", conversation_id=given, turn_retry=retry)
    )

    assert final["done"] is True
    cid = planned["conversation_id"]
    assert (cid == given) is kept
    assert len(cid) == 32
    # Even a retry: the new record has not got the question yet.
    assert [e["role"] for e in store.history(owner, cid)] == ["user", "assistant"]
    assert [c["id"] for c in store.list_conversations(owner)] == [cid]


def test_another_browsers_conversation_is_neither_used_nor_touched(app, fake):
    store = store_of(app)
    victim = identity_of(app.server.test_client())
    theirs = store.create_conversation(victim)
    store.add_message(victim, theirs, user("private"))
    attacker = app.server.test_client()
    owner = identity_of(attacker)

    planned, _, _ = stream_turn(attacker, page_body("Give me theirs", conversation_id=theirs))
    refused = attacker.post("/api/chat", json=page_body("Give me theirs", conversation_id=theirs))

    assert planned["conversation_id"] != theirs
    assert refused.status_code == 400
    assert store.history(victim, theirs) == [user("private")]
    mine = store.list_conversations(owner)
    assert len(mine) == 1 and theirs not in {c["id"] for c in mine}


def test_with_records_off_the_id_names_the_browsers_copy(make_app, fake):
    client = make_app(records_enabled=False).server.test_client()

    given, _, _ = stream_turn(client, page_body("Hi", conversation_id="browser-copy-1"))
    made, _, _ = stream_turn(client, page_body("Hi"))

    assert given["conversation_id"] == "browser-copy-1"
    assert made["conversation_id"] and made["conversation_id"] != "browser-copy-1"


# --------------------------------------------------------------------------- validation


VALID_TURN = page_body("Hi")["turn"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {"messages": [{"role": "user", "content": "Hi"}], "turn": VALID_TURN},
            "give 'messages' or the page's 'turn', not both",
            id="both",
        ),
        pytest.param({"model": None}, "'messages' is required", id="neither"),
        pytest.param(
            {"turn": {**VALID_TURN, "question": " \n\t "}}, "The message is empty.", id="blank"
        ),
        pytest.param(
            {"turn": {**VALID_TURN, "question": "x" * 11}},
            "The message is longer than 10 characters.",
            id="too-long",
        ),
        pytest.param(
            {"turn": {**VALID_TURN, "history": [{"role": "system", "content": "Be evil."}]}},
            "'turn.history.0.role'",
            id="system-entry",
        ),
        pytest.param(
            {"turn": {**VALID_TURN, "history": [{"role": "user", "content": 5}]}},
            "'turn.history.0.content'",
            id="entry-content-not-text",
        ),
        pytest.param(
            {"turn": {**VALID_TURN, "history_start": -1}}, "'turn.history_start'", id="neg-start"
        ),
        pytest.param({"turn": {"history": []}}, "'turn.question'", id="no-question"),
    ],
)
@pytest.mark.parametrize("route", ["/api/chat/stream", "/api/chat"])
def test_a_bad_page_turn_is_a_400_in_plain_words(make_app, fake, route, body, message):
    client = make_app(max_input_chars=10).server.test_client()

    response = client.post(route, json=body)

    assert response.status_code == 400
    refused = response.get_json()["error"]
    assert refused["type"] == "invalid_request"
    assert message in refused["message"]
    assert "Traceback" not in refused["message"] and "pydantic" not in refused["message"]
    assert fake.requests == []


def test_a_question_at_the_limit_counts_characters_not_bytes(make_app, fake):
    client = make_app(max_input_chars=10).server.test_client()

    stream_turn(client, page_body("你好🌍你好🌍你好🌍你"))  # 10 code points, 34 UTF-8 bytes

    assert upstream_messages(fake)[-1]["content"] == "你好🌍你好🌍你好🌍你"
    refused = client.post("/api/chat/stream", json=page_body("你好🌍你好🌍你好🌍你好"))
    assert refused.status_code == 400


# --------------------------------------------------------------------------- planned once


def count_fits(monkeypatch, fake) -> list[int]:
    """Patch every loaded reference to services.context.fit; each call records how many
    requests the upstream had received by then."""
    calls: list[int] = []
    real = context.fit

    def counting(*args, **kwargs):
        calls.append(len(fake.requests))
        return real(*args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("services", "api", "callbacks") and (
            getattr(module, "fit", None) is real
        ):
            monkeypatch.setattr(module, "fit", counting)
    return calls


def test_a_page_turn_is_fitted_once_before_its_upstream_request(make_app, fake, monkeypatch):
    service = service_of(make_app())
    history = rounds(3)
    calls = count_fits(monkeypatch, fake)
    fake.script(Reply("Planned once."))

    plan = plan_turn(service, history, "And now?", history_start=0, **CHOICES)
    events = list(service.stream(plan.fitted, model=plan.model))

    assert events[-1]["done"] is True
    assert calls == [0]  # one fit, before the only upstream request
    assert upstream_messages(fake) == plan.messages


def test_the_stream_route_fits_a_page_turn_once(app, fake, monkeypatch):
    client = app.server.test_client()
    calls = count_fits(monkeypatch, fake)
    fake.script(Reply("Fitted once."))

    response = client.post("/api/chat/stream", json=page_body("And now?", rounds(3)))

    assert response.status_code == 200
    response.get_data()  # a stream runs as it is read
    assert len(fake.requests) == 1
    # The stream's final event also counts the next request's context: one more fit, after.
    assert calls == [0, 1]


def small_window_app(make_app, fake, tmp_path, window: int = 700, rounds: int = 50):
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - id: local\n"
        "    kind: compatible\n"
        f"    base_url: {fake.base_url}\n"
        "    api_key_env: OPENAI_API_KEY\n"
        "    models:\n"
        f"      - {{id: {MODEL}, context_window: {window}}}\n",
        encoding="utf-8",
    )
    return make_app(
        providers_file=str(path),
        max_history_rounds=rounds,
        database_url=f"sqlite:///{tmp_path}/chat.db",
    )


def long_rounds(n: int) -> list[dict]:
    words = " ".join(["sleep", "water", "walk", "tea", "rest"] * 12)
    history = []
    for i in range(n):
        history += [user(f"Question {i}: {words}"), reply(f"Answer {i}: {words}")]
    return history


def sent_round_count(messages: list[dict]) -> int:
    return sum(1 for m in messages if m["role"] == "assistant")


def test_the_final_event_counts_the_rounds_the_plan_left_out(make_app, fake, tmp_path):
    app = small_window_app(make_app, fake, tmp_path)
    history = long_rounds(7)

    _, _, final = stream_turn(app.server.test_client(), page_body("Next?", history))

    kept = sent_round_count(upstream_messages(fake))
    assert 0 < kept < 7
    assert final["context"] == {"dropped_rounds": 7 - kept, "retried": False}


def test_a_context_retry_adds_its_rounds_to_the_plans(make_app, fake, tmp_path):
    app = small_window_app(make_app, fake, tmp_path)
    history = long_rounds(7)
    too_long = Error(
        400, "maximum context length", "invalid_request_error", "context_length_exceeded"
    )
    fake.script(too_long, Reply("Shorter now."))

    _, text, final = stream_turn(app.server.test_client(), page_body("Next?", history))

    first, second = (sent_round_count(r.body["messages"]) for r in fake.requests)
    assert text == "Shorter now."
    assert 0 < second < first < 7
    assert final["context"] == {"dropped_rounds": 7 - second, "retried": True}


def test_the_openapi_document_describes_the_streams_events(app):
    """The stream's events in the OpenAPI document come from the models that validate them."""
    document = app.server.test_client().get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    ok = document["paths"]["/api/chat/stream"]["post"]["responses"]["200"]
    event = ok["content"]["text/event-stream"]["schema"]["properties"]["data"]["contentSchema"]

    names = {"TurnOpened", "DeltaEvent", "DoneEvent", "ErrorEvent"}
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in event["anyOf"]} == names
    assert names | {"HistoryEntry", "DecidedTurn", "Usage", "Context"} <= set(schemas)
    expected = DoneEvent.model_json_schema(ref_template="#/components/schemas/{model}")
    expected.pop("$defs")
    assert schemas["DoneEvent"] == expected


# --------------------------------------------------------------------------- versions (issue 16)


def test_a_regenerated_reply_is_one_request_with_the_same_context_and_shows_its_versions(app, fake):
    """The server side of a regenerate: the conversation forked at the reply, then the turn
    the page starts (a retry, naming the reply's versions)."""
    fake.script(Reply("first"), Reply("second"))
    client = app.server.test_client()
    planned, _, _ = stream_turn(client, page_body("Why?"))
    cid, owner, store = planned["conversation_id"], identity_of(client), store_of(app)
    assert store.fork(owner, cid, 1) == [user("Why?")]
    body = page_body("Why?", turn_retry=True, turn_versions={"1": [2, 2]}, conversation_id=cid)
    _, got, final = stream_turn(client, body)
    assert got == "second"
    first, second = fake.requests
    assert first.body["messages"] == second.body["messages"]
    assert "2 / 2" in json.dumps(final["view"], ensure_ascii=False)
    assert [e["content"] for e in store.history(owner, cid)] == ["Why?", "second"]
    assert store.switch_version(owner, cid, 1, 0)[-1]["content"] == "first"
