"""The page's files travel compressed; the reply stream never does (it would be buffered)."""

from __future__ import annotations

import gzip
import re

import brotli

QUESTION = {"messages": [{"role": "user", "content": "hello"}]}


def test_scripts_are_brotli_compressed_and_cached_for_a_year(client):
    page = client.get("/").get_data(as_text=True)
    script = re.search(r'src="(/_dash-component-suites/[^"]*feffery_markdown[^"]*)"', page)[1]
    plain = client.get(script, headers={"Accept-Encoding": "identity"})
    packed = client.get(script, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "br"
    assert "max-age=31536000" in packed.headers["Cache-Control"]
    assert brotli.decompress(packed.get_data()) == plain.get_data()
    assert len(packed.get_data()) < len(plain.get_data()) / 2.5
    again = client.get(script, headers={"Accept-Encoding": "br"})  # from the per-process cache
    assert again.get_data() == packed.get_data()


def test_layout_and_callbacks_fall_back_to_gzip(client):
    layout = client.get("/_dash-layout", headers={"Accept-Encoding": "gzip"})
    assert layout.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(layout.get_data()).startswith(b"{")
    assert "Accept-Encoding" in layout.headers["Vary"]


def test_the_reply_stream_is_never_compressed(client):
    response = client.post(
        "/api/chat/stream",
        json=QUESTION,
        headers={"Accept-Encoding": "gzip, br, zstd", "Accept": "text/event-stream"},
    )
    assert "Content-Encoding" not in response.headers
    assert response.get_data(as_text=True).startswith("data: ")
