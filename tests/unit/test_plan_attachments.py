"""services.plan with attachments: a question's images as content parts, an earlier
question's again while its round is in the context, documents in the current question only."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from services.conversation import user_content, with_text_before
from services.plan import MAX_DOCUMENT_TOKENS, TurnAttachments, context_tokens, plan_request
from services.tokens import count_messages
from tests.turns import reply, service, user, window_service


def png(size=(64, 32)) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": url, "detail": "auto"}}


CAT, DOG = png((64, 32)), png((32, 64))
REF = {"id": "a" * 32, "name": "dog.png", "kind": "image", "mime": "image/png", "size": 9}


def earlier(entry: dict) -> list[dict]:
    return [DOG for ref in entry["attachments"] if ref["kind"] == "image"]


def plan(svc, history, question="What is it?", **kw):
    args = dict(
        multi_turn=True, model=None, persona_id=None, custom_prompt=None, lang="en",
        max_tokens=None,
    )  # fmt: skip
    return plan_request(svc, history, question, **{**args, **kw})


def test_content_helpers():
    assert user_content("hi") == "hi"
    assert user_content("hi", [CAT]) == [{"type": "text", "text": "hi"}, CAT]
    assert user_content("", [CAT]) == [CAT]  # a picture alone: no empty text part
    assert with_text_before([CAT], "doc") == [{"type": "text", "text": "doc"}, CAT]
    assert with_text_before("q", "doc") == "doc\n\nq"
    assert with_text_before([{"type": "text", "text": "q"}, CAT], "doc") == [
        {"type": "text", "text": "doc\n\nq"},
        CAT,
    ]


def test_images_go_as_parts_and_again_while_their_round_is_kept():
    history = [user("Look", attachments=[REF]), reply("A dog.")]
    attachments = TurnAttachments(images=(CAT,), earlier_images=earlier)
    sent = plan(service(), history, attachments=attachments).messages
    assert sent[-3]["content"] == [{"type": "text", "text": "Look"}, DOG]
    assert sent[-1]["content"] == [{"type": "text", "text": "What is it?"}, CAT]

    # The images count: one tile each (85 + 170).
    def texts(message: dict) -> dict:
        content = message["content"]
        return {**message, "content": content if isinstance(content, str) else content[0]["text"]}

    without = [texts(m) for m in sent]
    assert count_messages(sent, "gpt-4o-mini") == count_messages(without, "gpt-4o-mini") + 510
    # Multi-turn off: only the question, with its own image.
    alone = plan(service(), history, attachments=attachments, multi_turn=False).messages
    assert [m["content"] for m in alone if m["role"] == "user"] == [sent[-1]["content"]]
    # The next request's context counts the earlier image too.
    choices = dict(
        model=None, persona_id=None, custom_prompt=None, lang="en", max_tokens=None,
        multi_turn=True,
    )  # fmt: skip
    with_image = context_tokens(service(), history, attachments=attachments, **choices)
    assert with_image == context_tokens(service(), history, **choices) + 255


def test_a_text_only_model_is_sent_no_images(tmp_path: Path):
    svc = window_service(tmp_path, 100_000)
    history = [user("Look", attachments=[REF]), reply("A dog.")]
    attachments = TurnAttachments(images=(CAT,), earlier_images=earlier)
    sent = plan(svc, history, model="other-model", attachments=attachments).messages
    assert all(isinstance(m["content"], str) for m in sent)


def test_documents_go_before_the_current_question_within_the_budget(tmp_path: Path):
    asked: list[tuple[str, int]] = []

    def documents(question: str, budget: int) -> str:
        asked.append((question, budget))
        return '<document name="lesson.pdf">\nThe lesson.\n</document>'

    history = [user("First?"), reply("First.")]
    svc = window_service(tmp_path, 8_000)
    sent = plan(svc, history, attachments=TurnAttachments(documents=documents)).messages
    assert sent[-1]["content"] == (
        '<document name="lesson.pdf">\nThe lesson.\n</document>\n\nWhat is it?'
    )
    assert sent[-3]["content"] == "First?"
    question, budget = asked[0]
    assert question == "What is it?"
    # Half of what the window leaves after the messages and the reply's room (8000 // 4).
    assert 0 < budget < (8_000 - 2_000) // 2
    # A large window: at most MAX_DOCUMENT_TOKENS.
    plan(service(), history, attachments=TurnAttachments(documents=documents))
    assert asked[-1][1] == MAX_DOCUMENT_TOKENS


def test_no_room_no_documents(tmp_path: Path):
    history = [user("x " * 200), reply("y " * 200)]
    svc = window_service(tmp_path, 600)

    def documents(question: str, budget: int) -> str:
        raise AssertionError("not asked without room")

    sent = plan(svc, history, "z " * 600, attachments=TurnAttachments(documents=documents))
    assert sent.messages[-1]["content"] == "z " * 600
