"""What a turn costs on the wire, and the context line it moves, in Chromium.

A turn sends the earlier part of the thread up once, in the stream request; Dash callbacks
carry neither it up nor its rendering down (finish_reply patches, the thread is drawn whole
only when loaded), and a question sent before typing paused is not sent again for the size
estimate. Earlier turns use made-up words found nowhere else, so finding one in a
request or response body means the thread travelled there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Frame, Page, Request, Response, expect

from tests.fake_upstream import Reply

pytestmark = pytest.mark.e2e

DASH_UPDATE = "/_dash-update-component"
REPORTED = "chat-stream-result"  # the store the page reports a finished turn in
STREAM = "/api/chat/stream"
THREAD = "#chat-history-list"


def send(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def wait_idle(page: Page, replies: int) -> None:
    expect(page.locator("#chat-send-button")).to_be_visible(timeout=15_000)
    expect(page.locator("#chat-stop-button")).to_be_hidden()
    expect(page.locator(f"{THREAD} .chat-message-assistant")).to_have_count(replies)


def reports_the_turn(response: Response) -> bool:
    """The answer to finish_reply's callback, which the page calls with its report of a turn
    (the header's total, the sidebar): the last of a turn's traffic."""
    return DASH_UPDATE in response.url and REPORTED in (response.request.post_data or "")


def typing_paused(page: Page, text: str) -> None:
    """Wait until the message box's debounced value is `text`: the pause after typing it
    (debounceWait) has come, whether before or after the message was sent, and whatever it
    sets off is set off by now."""
    page.wait_for_function(
        """(text) => {
            const box = window.dash_component_api.getLayout("chat-input");
            return Boolean(box) && box.props.debounceValue === text;
        }""",
        arg=text,
        timeout=15_000,
    )


def turn(page: Page, text: str, replies: int) -> None:
    """Send `text`; return once the reply is drawn, finish_reply has answered and the typing's
    pause has come, so that nothing of this turn is still to go on the wire when the next one
    is listened to."""
    with page.expect_response(reports_the_turn, timeout=30_000):
        send(page, text)
        wait_idle(page, replies)
    typing_paused(page, text)


@dataclass
class Wire:
    """Every request the current page load makes (and every Dash response to one) while the
    page is listened to.

    A reload while listening starts afresh at the new document's commit: what the page before
    it sent, or received after the navigation began, belongs to another load (and the bodies
    of its late answers are gone with it). The navigation request of the main frame marks a
    new document; a same-document navigation (history API) has none and changes nothing.
    """

    page: Page
    requests: list[tuple[str, str]] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    # This load's Request objects by id (held, so that no id is reused while listening).
    _current: dict[int, Request] = field(default_factory=dict)
    _new_document: bool = False

    def on_request(self, request: Request) -> None:
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self._new_document = True
        self.requests.append((request.url, request.post_data or ""))
        self._current[id(request)] = request

    def on_navigated(self, frame: Frame) -> None:
        if frame == self.page.main_frame and self._new_document:
            self._new_document = False
            self.requests.clear()
            self.responses.clear()
            self._current.clear()

    def on_response(self, response: Response) -> None:
        # 204: a callback that did not update (PreventUpdate), with no body to read.
        if (
            DASH_UPDATE in response.url
            and response.status != 204
            and self._current.get(id(response.request)) is response.request
        ):
            self.responses.append(response)

    def bodies(self, path: str) -> list[str]:
        return [body for url, body in self.requests if path in url]


def listen(page: Page) -> Wire:
    wire = Wire(page)
    page.on("request", wire.on_request)
    page.on("framenavigated", wire.on_navigated)
    page.on("response", wire.on_response)
    return wire


def stop(page: Page, wire: Wire) -> list[str]:
    """Stop listening; the Dash response bodies of the current load, read now that they are
    complete. Every one must be readable: none is skipped."""
    page.remove_listener("request", wire.on_request)
    page.remove_listener("framenavigated", wire.on_navigated)
    page.remove_listener("response", wire.on_response)
    return [response.text() for response in wire.responses]


# The first question's first line is the conversation's title, which the sidebar rightly shows
# (it comes down with the list after each reply): the made-up words are on its second line.
EARLIER = [
    ("Trip planning\nWhere do QUOKKAFIRSTQ live?", "QUOKKAFIRSTA live on Rottnest Island."),
    ("And what do NUMBATSECONDQ eat?", "NUMBATSECONDA eat termites, thousands a day."),
    ("Is the BILBYTHIRDQ endangered?", "BILBYTHIRDA is vulnerable, yes."),
]


FOURTH = ("Fourth question, on WOMBATFOURTHQ?", "WOMBATFOURTHA dig long burrows.")


def earlier_words(turns) -> list[str]:
    return [w for q, a in turns for w in re.findall(r"[A-Z]{8,}", q + " " + a)]


def check_one_turn(page: Page, wire: Wire, words: list[str]) -> None:
    """After `turn` (which waited for finish_reply's answer): what the wire saw of it."""
    dash_responses = stop(page, wire)
    streams = wire.bodies(STREAM)
    assert len(streams) == 1, f"{len(streams)} stream requests for one message"
    everything_sent = "\n".join(body for _, body in wire.requests)
    for word in words:
        # Up exactly once, in the stream request, and never in a Dash callback's request...
        assert streams[0].count(word) == 1, word
        assert everything_sent.count(word) == 1, [
            (url, body[:300]) for url, body in wire.requests if word in body
        ]
        assert not [b for b in wire.bodies(DASH_UPDATE) if word in b], word
        # ... nor back down in a callback's response.
        assert not [b for b in dash_responses if word in b], word
    # The check sees the Dash traffic at all: the turn was reported to finish_reply.
    assert wire.bodies(DASH_UPDATE) and dash_responses
    assert any(reports_the_turn(response) for response in wire.responses)


def test_a_new_message_sends_the_earlier_turns_once_and_only_to_the_stream(
    app_server, open_page, fake
):
    page = open_page(app_server.url)
    for n, (question, answer) in enumerate(EARLIER, start=1):
        fake.script(Reply(answer, chunk_size=5))
        turn(page, question, n)
    words = earlier_words(EARLIER)
    assert len(words) == 6

    # Live: the thread on screen was built by patches.
    wire = listen(page)
    fake.script(Reply(FOURTH[1]))
    turn(page, FOURTH[0], 4)
    check_one_turn(page, wire, words)
    sent = fake.requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"][:6] == [
        text for pair in EARLIER for text in pair
    ]

    # Stored: the thread was read back from local storage and drawn whole on load; the load
    # itself may send it, the next message not again.
    loading = listen(page)
    page.reload()
    # The load's own drawing is done: the thread, and the sidebar's list.
    expect(page.locator(f"{THREAD} .chat-message-assistant")).to_have_count(4)
    expect(page.locator(".sidebar-title")).to_have_text(["Trip planning"])
    # The whole-thread drawing on load does bring it down: the listening sees such traffic.
    assert any(words[0] in body for body in stop(page, loading))
    wire = listen(page)
    fake.script(Reply("Fifth answer."))
    turn(page, "Fifth question?", 5)
    check_one_turn(page, wire, earlier_words([*EARLIER, FOURTH]))


def test_a_question_sent_before_typing_paused_goes_up_once(app_server, open_page, fake):
    """The size estimate follows typing once it pauses (debounceWait); a pause that comes
    after the message was sent must not send the question again."""
    page = open_page(app_server.url)
    question = "Where do DUGONGONLYONCE graze?"
    wire = listen(page)
    fake.script(Reply("Seagrass meadows."))
    with page.expect_response(reports_the_turn, timeout=30_000):
        # Typed and sent in one go, as a quick typist does: the pause comes after the send.
        page.evaluate(
            """(text) => {
                const box = document.getElementById("chat-input");
                const area = HTMLTextAreaElement.prototype;
                Object.getOwnPropertyDescriptor(area, "value").set.call(box, text);
                box.dispatchEvent(new Event("input", { bubbles: true }));
                document.getElementById("chat-send-button").click();
            }""",
            question,
        )
        wait_idle(page, 1)
    typing_paused(page, question)
    # Whatever the pause set off has left before the estimate of the next text comes back.
    page.fill("#chat-input", "And in winter?")
    expect(page.locator("#composer-estimate")).to_contain_text("tokens")
    stop(page, wire)
    carrying = [url for url, body in wire.requests if "DUGONGONLYONCE" in body]
    assert carrying == [f"{app_server.url}{STREAM}"], carrying


def thread_classes(page: Page) -> list[str]:
    """The thread as shown, in page order: q/a/e for messages ('-' when dimmed), | for the
    context line (only when it shows)."""
    return page.eval_on_selector_all(
        f"{THREAD} .chat-message, {THREAD} .chat-context-line",
        """found => found.filter((el) => el.offsetParent !== null).map((el) => {
            const c = el.classList;
            if (c.contains("chat-context-line")) return "|";
            const kind = c.contains("chat-message-user") ? "q"
                : c.contains("chat-message-assistant") ? "a"
                : c.contains("chat-message-error") ? "e" : "?";
            const dimmed = Number(getComputedStyle(el).opacity) < 1;
            return dimmed ? "-" + kind : kind;
        })""",
    )


def test_rounds_beyond_the_cap_are_dimmed_under_one_line_live_and_after_reload(
    start_app, open_page, fake
):
    app = start_app(MAX_HISTORY_ROUNDS="1")
    page = open_page(app.url)

    for n in (1, 2):
        send(page, f"Question {n}")
        wait_idle(page, n)
    # One earlier round is all the cap allows, and that one was sent: nothing is dimmed yet.
    assert thread_classes(page) == ["q", "a", "q", "a"]

    send(page, "Question 3")
    wait_idle(page, 3)
    # The third question went with round 2 only: round 1 is outside, without a reload.
    expect(page.locator(f"{THREAD} .chat-context-line:visible")).to_have_count(1)
    assert thread_classes(page) == ["-q", "-a", "|", "q", "a", "q", "a"]
    assert [m["content"] for m in fake.requests[-1].body["messages"][1:]] == [
        "Question 2",
        "Echo: Question 2",
        "Question 3",
    ]

    send(page, "Question 4")
    wait_idle(page, 4)
    # The line moved down a round; still one line.
    expect(page.locator(f"{THREAD} .chat-outside-context")).to_have_count(2)  # two turns
    assert thread_classes(page) == ["-q", "-a", "-q", "-a", "|", "q", "a", "q", "a"]
    assert page.locator(f"{THREAD} .chat-context-line:visible").count() == 1

    page.reload()
    expect(page.locator(f"{THREAD} .chat-message-assistant")).to_have_count(4)
    assert thread_classes(page) == ["-q", "-a", "-q", "-a", "|", "q", "a", "q", "a"]
    expect(page.locator(".chat-context-line:visible")).to_have_text(re.compile("no longer sent"))
