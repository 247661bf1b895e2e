"""A plain Gradio ChatInterface that streams from the fake upstream: versus.py's other app.

    python bench/_gradio_app.py --port 7860 --base-url http://127.0.0.1:PORT/v1

What a Gradio user would write: `gr.ChatInterface(fn)` whose fn streams through the openai SDK
(`stream=True`) and yields the growing text. Defaults everywhere else, except what must not
reach the internet: analytics and the version check (GRADIO_ANALYTICS_ENABLED=False), Hugging
Face telemetry, server-side rendering (needs Node), share links. Needs bench/requirements.txt.
"""

from __future__ import annotations

import argparse
import inspect
import os

# Before gradio is imported: it reads them at import and at launch.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "GRADIO_SSR_MODE": "False",
}


def build(base_url: str, api_key: str):
    """The ChatInterface (not launched)."""
    import gradio as gr
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)

    def reply(message: str, history: list):
        # Every measured run starts a new chat, so the question is all there is to send.
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": message}], stream=True
        )
        text = ""
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
                yield text

    options: dict = {"title": "Gradio ChatInterface", "analytics_enabled": False}
    # Gradio 5 needs type="messages" to pass history as role/content dicts; 6 has no other type.
    if "type" in inspect.signature(gr.ChatInterface).parameters:
        options["type"] = "messages"
    return gr.ChatInterface(reply, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--base-url", required=True, help="the fake upstream's /v1 URL")
    parser.add_argument("--api-key", default="sk-test-fake-key-0000")
    args = parser.parse_args()
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    demo = build(args.base_url, args.api_key)
    demo.launch(
        server_name="127.0.0.1",
        server_port=args.port,
        share=False,
        ssr_mode=False,
        quiet=True,
    )


if __name__ == "__main__":
    main()
