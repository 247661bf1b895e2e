"""Turns with attachments through the real app: an uploaded image goes upstream as one
`image_url` part, its question keeps the refs; refusals (a text-only model, another identity's
attachment) before anything is recorded or sent; content parts in the API's `messages`; the
gateway passes parts through to OpenAI and Azure unchanged."""

from __future__ import annotations

import base64
import io
import json

import openai
import pytest
from PIL import Image

from extensions import ATTACHMENTS, RECORDS
from tests.attachment_files import exe_bytes, image_bytes, photo_with_gps
from tests.conftest import TEST_KEY, LiveServer, settings_for
from tests.fake_upstream import Reply
from tests.integration.test_attachments import client_identity, upload
from tests.integration.test_page_turn import page_body, parse_sse


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(
        database_url=f"sqlite:///{tmp_path}/chat.db",
        attachment_dir=str(tmp_path / "attachments"),
        openai_model="gpt-4o-mini",
    )


def turn(client, question: str, ids=(), history=(), **extra):
    body = page_body(question, history, turn_attachments=list(ids), **extra)
    return client.post("/api/chat/stream", json=body)


def final_event(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse_sse(response.get_data(as_text=True))[-1]


def image_parts(message: dict) -> list[dict]:
    content = message["content"]
    return [p for p in content if p["type"] == "image_url"] if isinstance(content, list) else []


def test_an_uploaded_image_goes_upstream_and_stays_with_its_question(app, fake):
    client = app.server.test_client()
    info = upload(client, photo_with_gps(size=(1200, 900)), "worksheet.jpg").json
    ref = {k: info[k] for k in ("id", "name", "kind", "mime", "size")}
    fake.script(Reply("It is a worksheet."), Reply("Still a worksheet."))

    final = final_event(turn(client, "What is this?", [info["id"]]))
    assert final["done"] and final["turn"]["attachments"] == [ref]
    (request,) = fake.requests
    question = request.body["messages"][-1]
    assert question["content"][0] == {"type": "text", "text": "What is this?"}
    (part,) = image_parts(question)
    url = part["image_url"]["url"]
    assert part["image_url"]["detail"] == "auto" and url.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))
    assert sent.size == (768, 1024) and not sent.getexif()  # upright, resized, no EXIF
    # The image counts in the usage estimate the server keeps and the next context.
    assert final["context_tokens"] > 765

    # On record: the question keeps the refs, the attachment belongs to the conversation.
    owner, conversation = client_identity(client), final["turn"]["conversation_id"]
    entries = app.server.extensions[RECORDS].history(owner, conversation)
    assert entries[0]["attachments"] == [ref]
    store = app.server.extensions[ATTACHMENTS]
    assert [i.id for i in store.for_conversation(owner, conversation)] == [info["id"]]

    # The next question: the earlier image goes again while its round is in the context.
    history = [{"role": "user", "content": "What is this?", "attachments": [ref]}]
    history.append({"role": "assistant", "content": "It is a worksheet.", "status": "done"})
    final = final_event(
        turn(client, "Sure?", history=history, conversation_id=conversation, turn_retry=False)
    )
    assert final["done"]
    messages = fake.requests[1].body["messages"]
    assert [len(image_parts(m)) for m in messages if m["role"] == "user"] == [1, 0]
    assert messages[-1]["content"] == "Sure?"


def test_a_text_only_model_is_refused_before_anything(make_app, fake, tmp_path):
    app = make_app(
        database_url=f"sqlite:///{tmp_path}/chat.db",
        attachment_dir=str(tmp_path / "attachments"),
        openai_model="gpt-3.5-turbo",
    )
    client = app.server.test_client()
    info = upload(client, image_bytes()).json
    answer = turn(client, "What is this?", [info["id"]])
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["type"] == "no_vision" and error["params"] == {"model": "gpt-3.5-turbo"}
    assert "The model gpt-3.5-turbo cannot see images" in error["message"]
    assert fake.requests == []
    owner = client_identity(client)
    assert app.server.extensions[RECORDS].list_conversations(owner) == []


def test_another_identitys_attachment_is_missing(app, fake):
    owner, stranger = app.server.test_client(), app.server.test_client()
    info = upload(owner, image_bytes()).json
    for ids in ([info["id"]], ["0123456789abcdef0123456789abcdef"]):
        answer = turn(stranger, "What is this?", ids)
        assert answer.status_code == 400
        assert answer.get_json()["error"]["type"] == "missing"
    assert fake.requests == []
    # A history entry naming it sends nothing of it either.
    ref = {"id": info["id"], "name": "x.png", "kind": "image", "mime": "image/png", "size": 1}
    history = [{"role": "user", "content": "Look", "attachments": [ref]}]
    history.append({"role": "assistant", "content": "A picture.", "status": "done"})
    fake.script(Reply("Hm."))
    assert final_event(turn(stranger, "And?", history=history))["done"]
    assert all(isinstance(m["content"], str) for m in fake.requests[0].body["messages"])


def test_records_off_the_browser_copy_names_the_attachments(make_app, fake, tmp_path):
    app = make_app(records_enabled=False, attachment_dir=str(tmp_path / "attachments"))
    client = app.server.test_client()
    info = upload(client, image_bytes(size=(300, 200))).json
    fake.script(Reply("A picture."), Reply("Yes."))
    final = final_event(turn(client, "What is this?", [info["id"]]))
    assert final["turn"]["attachments"][0]["id"] == info["id"]
    assert len(image_parts(fake.requests[0].body["messages"][-1])) == 1
    history = [
        {"role": "user", "content": "What is this?", "attachments": final["turn"]["attachments"]}
    ]
    history.append({"role": "assistant", "content": "A picture.", "status": "done"})
    final_event(turn(client, "Sure?", history=history))
    assert len(image_parts(fake.requests[1].body["messages"][-3])) == 1


# ---- the API's messages with content parts


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def parts_body(*images: str, model: str | None = None) -> dict:
    content = [{"type": "text", "text": "Describe it."}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    body = {"messages": [{"role": "user", "content": content}]}
    return {**body, "model": model} if model else body


@pytest.mark.parametrize("route", ["/api/chat", "/api/chat/stream"])
def test_api_content_parts_go_upstream_made_ready(app, fake, route):
    client = app.server.test_client()
    fake.script(Reply("A photo."))
    answer = client.post(route, json=parts_body(data_url(photo_with_gps(), "image/jpeg")))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    (request,) = fake.requests
    (part,) = image_parts(request.body["messages"][0])
    url = part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert b"PhoneMaker" not in base64.b64decode(url.partition(",")[2])  # EXIF dropped
    assert request.body["messages"][0]["content"][0] == {"type": "text", "text": "Describe it."}


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (parts_body("https://example.com/cat.png"), 400, "invalid_request"),
        (parts_body(data_url(exe_bytes())), 400, "mismatch"),
        (parts_body(*[data_url(image_bytes())] * 6), 400, "too_many"),
        (parts_body(data_url(b"\x89PNG" + b"\0" * (1024 * 1024 + 1))), 413, "too_large"),
        (parts_body(data_url(image_bytes()), model="gpt-3.5-turbo"), 400, "no_vision"),
    ],
    ids=["http-url", "mismatch", "too-many", "over-size", "text-only-model"],
)
@pytest.mark.parametrize("route", ["/api/chat", "/api/chat/stream"])
def test_api_content_parts_refused(make_app, fake, tmp_path, route, body, status, kind):
    app = make_app(
        max_attachment_mb=1,
        attachment_dir=str(tmp_path / "attachments"),
        providers_file=str(two_models(tmp_path, fake)),
    )
    answer = app.server.test_client().post(route, json=body)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["type"] == kind
    assert fake.requests == []


def two_models(tmp_path, fake):
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - id: openai\n"
        "    kind: compatible\n"
        f"    base_url: {fake.base_url}\n"
        "    api_key_env: OPENAI_API_KEY\n"
        "    models:\n"
        "      - {id: gpt-4o-mini}\n"
        "      - {id: gpt-3.5-turbo}\n",
        encoding="utf-8",
    )
    return path


# ---- the gateway


@pytest.mark.parametrize("kind", ["openai", "azure", "compatible"])
def test_the_gateway_passes_parts_through_unchanged(upstream, fake, tmp_path, kind):
    from chat_app import create_app

    values = {"gateway_api_keys": "gw-token", "openai_model": "gpt-4o"}
    if kind == "azure":
        values |= {
            "azure_openai_endpoint": upstream.azure_endpoint,
            "azure_openai_api_key": TEST_KEY,
            "openai_api_version": "2024-10-21",
            "azure_openai_model_mapper": "gpt-4o=my-gpt4o",
        }
    elif kind == "openai":  # the official API's kind, at the fake's address
        path = tmp_path / "providers.yaml"
        path.write_text(
            "providers:\n  - id: openai\n    kind: openai\n"
            f"    base_url: {upstream.base_url}\n    api_key_env: OPENAI_API_KEY\n"
            "    models:\n      - {id: gpt-4o}\n",
            encoding="utf-8",
        )
        values["providers_file"] = str(path)
    app = create_app(settings_for(upstream, **values))
    # A big image (over MAX_BODY_BYTES as base64), as a client sent it: not resized here.
    big = Image.effect_noise((1100, 1100), 64).convert("RGB")
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    assert len(buffer.getvalue()) > 1_000_000
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url(buffer.getvalue()), "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    fake.script(Reply("Noise and a cat."))
    with LiveServer(app.server) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="gw-token", max_retries=0)
        completion = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": content}]
        )
    assert completion.choices[0].message.content == "Noise and a cat."
    (request,) = fake.requests
    assert request.body["messages"] == [{"role": "user", "content": content}]
    if kind == "azure":
        assert request.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert json.dumps(request.body).count("image_url") == 4  # two parts, untouched


def test_an_estimated_usage_counts_the_image(app, fake):
    """A server that reports no usage: the local count of what was sent has the image's
    tokens by OpenAI's formula (the usage line, the quota and the cost come from it)."""
    from services.tokens import count_messages, image_tokens
    from tests.fake_upstream import Error

    client = app.server.test_client()
    info = upload(client, image_bytes(size=(600, 400))).json
    fake.script(Error(400, "Unknown parameter: 'stream_options'.", code="unknown_parameter"))
    fake.script(Reply("A picture."))
    final = final_event(turn(client, "What is this?", [info["id"]]))
    sent = fake.requests[1].body["messages"]
    text_only = [{**m, "content": m["content"][0]["text"]} if image_parts(m) else m for m in sent]
    image = image_tokens(600, 400)
    assert image == info["tokens"] == 425
    assert final["usage"]["estimated"] is True
    assert final["usage"]["prompt_tokens"] == count_messages(text_only, "gpt-4o-mini") + image


def test_a_retried_question_sends_its_image_again(app, fake):
    """The attachment is in the conversation once its question is recorded: a retry of that
    question (the page sends its ids again) still resolves it, and nobody else's turn can."""
    from tests.fake_upstream import Error

    client = app.server.test_client()
    info = upload(client, image_bytes()).json
    fake.script(Error(500, "The server had an error", "server_error"), Reply("A red square."))
    failed = parse_sse(turn(client, "What is this?", [info["id"]]).get_data(as_text=True))[-1]
    assert "error" in failed
    conversation = failed["turn"]["conversation_id"]
    final = final_event(
        turn(client, "What is this?", [info["id"]], conversation_id=conversation, turn_retry=True)
    )
    assert final["done"] and final["turn"]["attachments"][0]["id"] == info["id"]
    assert len(image_parts(fake.requests[1].body["messages"][-1])) == 1
    # In another conversation (even the owner's own) it is no longer pending: refused.
    answer = turn(client, "Again?", [info["id"]])
    assert answer.status_code == 400 and answer.get_json()["error"]["type"] == "missing"
