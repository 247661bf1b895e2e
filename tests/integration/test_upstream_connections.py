"""Replies reuse the connection to the upstream (no new TCP and TLS handshake per reply).

The SDK stops reading a stream at `data: [DONE]` and closes it; a response closed before its
body's end takes its connection down. services/llm_client.py reads the rest after `[DONE]`,
so the connection returns to the pool. The fake records each request's client address: one
connection means one client port.
"""

from __future__ import annotations

from tests.fake_upstream import Error, Reply

USER = [{"role": "user", "content": "Hello"}]


def ports(fake) -> list[int]:
    return [request.client_address[1] for request in fake.requests]


def test_consecutive_streams_share_one_upstream_connection(client, fake) -> None:
    for text in ("one", "two", "three"):
        fake.script(Reply(text, chunk_size=2))
        response = client.post("/api/chat/stream", json={"messages": USER})
        body = response.get_data(as_text=True)
        assert '"done":true' in body

    assert len(fake.requests) == 3
    assert len(set(ports(fake))) == 1, ports(fake)


def test_the_text_before_done_is_whole_and_a_page_turn_reuses_it_too(client, fake) -> None:
    fake.script(Reply("Paris is the capital.", chunk_size=4))
    first = client.post("/api/chat/stream", json={"messages": USER}).get_data(as_text=True)
    fake.script(Reply("Second answer.", chunk_size=50))
    turn = {"turn": {"question": "And Spain?"}}
    second = client.post("/api/chat/stream", json=turn).get_data(as_text=True)

    assert "Paris is the capital." in "".join(
        part.split('"delta":"')[1].split('"')[0]
        for part in first.split("\n\n")
        if '"delta"' in part
    )
    assert "Second answer." in second
    assert len(set(ports(fake))) == 1, ports(fake)


def test_an_error_answer_does_not_break_the_next_reply(client, fake) -> None:
    fake.script(Error(500, "boom", "server_error"))
    failed = client.post("/api/chat/stream", json={"messages": USER}).get_data(as_text=True)
    assert '"type":"upstream_error"' in failed
    fake.script(Reply("fine"))
    body = client.post("/api/chat/stream", json={"messages": USER}).get_data(as_text=True)
    assert '"delta":"fine"' in body
