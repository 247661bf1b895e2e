"""OpenAI-style content parts in the chat API's `messages`, and the page turn's attachment ids:
data URLs only, within the server's limits (api/schemas.py)."""

from __future__ import annotations

import base64
import json

import pytest

from api.schemas import MAX_BODY_BYTES, BadRequest, body_limit, parse_chat_request

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 100).decode()


def image(url: str = f"data:image/png;base64,{PNG}", **more) -> dict:
    return {"type": "image_url", "image_url": {"url": url, **more}}


def parts(*content) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": list(content)}]}).encode()


def parse(raw: bytes, *, max_attachments: int = 5, mb: float = 1):
    return parse_chat_request(
        raw,
        "application/json",
        max_input_chars=100,
        models=["gpt-4o"],
        max_attachments=max_attachments,
        max_attachment_mb=mb,
    )


def refused(raw: bytes, **limits) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse(raw, **limits)
    return info.value


def test_text_and_image_parts():
    request = parse(parts({"type": "text", "text": "What is this?"}, image(detail="low")))
    message = request.messages[0]
    assert request.question == message.text == "What is this?"
    assert len(request.images) == request.attached == 1
    assert message.upstream() == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {
                "type": "image_url",
                "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
            },
        ],
    }


def test_a_picture_alone_is_a_question():
    assert parse(parts(image())).question == ""
    assert refused(parts({"type": "text", "text": " "})).message == "The message is empty."


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cat.png",
        "http://127.0.0.1:8080/admin",
        "file:///etc/passwd",
        "data:image/svg+xml;base64,PHN2Zz4=",
        "data:text/html;base64,PGI+",
        "data:image/png,rawbytes",
    ],
)
def test_only_image_data_urls(url):
    error = refused(parts({"type": "text", "text": "hi"}, image(url)))
    assert error.status == 400
    assert "'messages.0.content.1.image_url.url'" in error.message


def test_images_only_from_the_user():
    raw = json.dumps(
        {
            "messages": [
                {"role": "assistant", "content": [image()]},
                {"role": "user", "content": "and?"},
            ]
        }
    ).encode()
    assert "only user messages can have images" in refused(raw).message


def test_too_many_images():
    error = refused(parts(*[image() for _ in range(3)]), max_attachments=2)
    assert (error.status, error.kind, error.params) == (400, "too_many", {"limit": 2})
    assert "At most 2" in error.message


def test_no_images_when_attachments_are_off():
    assert refused(parts(image()), max_attachments=0).kind == "unsupported"


def test_an_image_over_the_size_limit_is_413():
    big = base64.b64encode(b"\0" * (1024 * 1024 + 3)).decode()
    error = refused(parts(image(f"data:image/png;base64,{big}")), mb=1)
    assert (error.status, error.kind, error.params) == (413, "too_large", {"limit_mb": "1"})
    just = base64.b64encode(b"\0" * (1024 * 1024)).decode()
    assert parse(parts(image(f"data:image/png;base64,{just}")), mb=1).attached == 1


def test_a_large_body_needs_images():
    # Text alone over MAX_BODY_BYTES is refused as before, however much room images have.
    text = {"type": "text", "text": "x" * 60_000}
    raw = parts(*[text] * 20)
    assert len(raw) > MAX_BODY_BYTES
    assert "larger than" in refused(raw).message
    # With images, the room of MAX_ATTACHMENTS images of MAX_ATTACHMENT_MB.
    big = base64.b64encode(b"\0" * (900 * 1024)).decode()
    raw = parts({"type": "text", "text": "two"}, *[image(f"data:image/png;base64,{big}")] * 2)
    assert MAX_BODY_BYTES < len(raw) <= body_limit(2, 1)
    assert parse(raw, max_attachments=2).attached == 2
    error = refused(raw + b" " * body_limit(2, 1), max_attachments=2)
    assert (error.status, error.kind) == (413, "too_large")


def page_turn(**turn) -> bytes:
    return json.dumps({"turn": {"question": "hi", **turn}}).encode()


def test_page_turn_attachment_ids():
    ids = ["0123456789abcdef0123456789abcdef", "f" * 32]
    request = parse(page_turn(attachments=ids))
    assert request.turn.attachments == ids and request.attached == 2
    assert refused(page_turn(attachments=ids), max_attachments=1).kind == "too_many"
    assert "attachments" in refused(page_turn(attachments=["../etc/passwd"])).message


def test_history_entries_keep_their_refs():
    ref = {"id": "a" * 32, "name": "cat.png", "kind": "image", "mime": "image/png", "size": 9}
    history = [{"role": "user", "content": "look", "attachments": [ref]}]
    request = parse(page_turn(history=history))
    assert request.turn.history[0].attachments[0].model_dump() == ref
