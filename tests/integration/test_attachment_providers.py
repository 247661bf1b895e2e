"""A photo and a long PDF asked about on each kind of provider (issue 18's "done when"): the
official OpenAI kind, Azure OpenAI (its deployment path and `api-key`) and an OpenAI-compatible
endpoint whose model is told to see images in the providers file."""

from __future__ import annotations

import pytest

from tests.attachment_files import photo_with_gps
from tests.conftest import TEST_KEY
from tests.fake_upstream import Reply
from tests.integration.test_attachment_turns import final_event, image_parts, turn
from tests.integration.test_attachments import upload
from tests.sample_documents import QUESTION, SENTENCE, long_pdf


def provider_settings(kind: str, upstream, tmp_path) -> dict:
    if kind == "azure":
        return {
            "openai_api_key": None,
            "openai_base_url": None,
            "azure_openai_endpoint": upstream.azure_endpoint,
            "azure_openai_api_key": TEST_KEY,
            "azure_openai_model_mapper": "gpt-4o=my-gpt4o",
            "openai_model": "gpt-4o",
        }
    path = tmp_path / "providers.yaml"
    model = "gpt-4o" if kind == "openai" else "local-llava\n        vision: true"
    path.write_text(
        f"providers:\n  - id: p\n    kind: {kind}\n    base_url: {upstream.base_url}\n"
        f"    api_key_env: OPENAI_API_KEY\n    models:\n      - id: {model}\n",
        encoding="utf-8",
    )
    return {"providers_file": str(path)}


@pytest.mark.parametrize("kind", ["openai", "azure", "compatible"])
def test_a_photo_and_a_long_pdf_on_every_provider_kind(make_app, upstream, fake, tmp_path, kind):
    app = make_app(
        database_url=f"sqlite:///{tmp_path}/chat.db",
        attachment_dir=str(tmp_path / "files"),
        **provider_settings(kind, upstream, tmp_path),
    )
    client = app.server.test_client()
    photo = upload(client, photo_with_gps(size=(800, 600)), "作业.jpg").json
    pdf = upload(client, long_pdf(), "report.pdf").json
    fake.script(Reply("A worksheet."), Reply("The purple giraffe."))

    assert final_event(turn(client, "这张作业写了什么？", [photo["id"]]))["done"]
    assert final_event(turn(client, QUESTION, [pdf["id"]]))["done"]

    first, second = fake.requests
    assert len(image_parts(first.body["messages"][-1])) == 1
    text = second.body["messages"][-1]["content"]
    text = text if isinstance(text, str) else text[0]["text"]
    assert SENTENCE in text and 'location="page 150"' in text
    assert "page 3" not in text  # the matching passage, not the whole document
    if kind == "azure":
        assert first.path == "/openai/deployments/my-gpt4o/chat/completions"
        assert first.headers.get("api-key") == TEST_KEY
