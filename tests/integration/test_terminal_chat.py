"""`python chat_app.py chat` through a pseudo-terminal (pexpect) and a pipe, against the fake
upstream: streaming, Ctrl+C, errors, commands, and the records the page reads."""

from __future__ import annotations

import re
import threading
from datetime import datetime

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from services import export_document
from services.accounts import Accounts
from services.personas import load_personas, system_prompt
from services.pricing import PriceTable
from services.records.models import UsageEvent
from services.records.repository import Records
from services.terminal.identity import LINK_PATH, link_token
from tests.conftest import TEST_KEY
from tests.fake_upstream import Error, Reply
from tests.terminal import Terminal, chat_env, owner, piped

EXPORTED = re.compile(r"^- (Exported|导出时间): .*$", re.MULTILINE)


@pytest.fixture
def database(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/chat.db"


@pytest.fixture
def terminals():
    """Start terminals with `terminals(env, *args)`; each is closed at the end."""
    started: list[Terminal] = []

    def start(env, *args: str) -> Terminal:
        terminal = Terminal(env, *args)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.close()


def read_records(url: str):
    records = Records(url)
    try:
        listed = records.list_conversations(owner())
        return listed, {c["id"]: records.history(owner(), c["id"]) for c in listed}
    finally:
        records.close()


def sent_messages(request) -> list[dict]:
    return request.body["messages"]


def test_a_reply_streams_and_ctrl_c_stops_it_keeping_what_arrived(
    fake, tmp_path, database, terminals
):
    arrived = threading.Event()
    fake.script(
        # The rest of the reply waits until the test has seen the first piece on screen.
        Reply("Bread needs flour, water and time.", chunk_size=11, hold=arrived, stall_after=1)
    )
    chat = terminals(chat_env(fake, tmp_path, DATABASE_URL=database))
    chat.send("How is bread made?")
    chat.expect("Bread needs")
    assert fake.requests[-1].finished.is_set() is False  # the rest was not even sent yet
    arrived.set()
    chat.expect(" flour, water and time.")
    chat.prompt()

    never = threading.Event()
    fake.script(Reply("Once upon a time there was", chunk_size=10, hold=never, stall_after=1))
    chat.send("Tell me a long story")
    chat.expect("Once upon ")
    chat.child.sendintr()  # Ctrl+C
    chat.expect("[You stopped this reply.]")
    chat.prompt()
    # The upstream request was hung up at once, not left generating for nobody.
    assert fake.requests[-1].client_disconnected.wait(10)

    # The program goes on: the next question is answered.
    chat.send("Still there?")
    chat.expect("Echo: Still there?")
    chat.prompt()
    assert chat.quit() == 0

    listed, histories = read_records(database)
    assert [c["title"] for c in listed] == ["How is bread made?"]
    entries = histories[listed[0]["id"]]
    replies = [(e["content"], e.get("status")) for e in entries if e["role"] == "assistant"]
    assert replies == [
        ("Bread needs flour, water and time.", "done"),
        ("Once upon ", "stopped"),  # as the page's Stop keeps it
        ("Echo: Still there?", "done"),
    ]


def test_a_429_is_said_plainly_and_the_question_can_be_retried(fake, tmp_path, terminals):
    fake.script(Error(429, "Rate limit reached", type="requests", code="rate_limit_exceeded"))
    chat = terminals(chat_env(fake, tmp_path, RECORDS_ENABLED="false"))
    chat.send("What is TCP?")
    chat.expect("Too many requests right now (429). Wait a moment, then retry.")
    chat.expect("type /retry to ask it again")
    chat.prompt()
    shown = chat.run("/retry")
    assert "Echo: What is TCP?" in shown
    assert "Echo: Explain UDP" in chat.run("Explain UDP")
    # The retry replaced the failed attempt: no error went upstream as context.
    assert [m["content"] for m in sent_messages(fake.requests[-1]) if m["role"] != "system"] == [
        "What is TCP?",
        "Echo: What is TCP?",
        "Explain UDP",
    ]
    assert "There is no command /frobnicate" in chat.run("/frobnicate")

    # Ctrl+C at the prompt drops the line typed so far (twice, and the program is still there).
    asked = len(fake.requests)
    chat.child.send("half a thought")
    chat.expect("half a thought")
    chat.child.sendintr()
    chat.prompt()
    chat.child.sendintr()
    chat.prompt()
    assert "Echo: A whole thought" in chat.run("A whole thought")
    assert [m["content"] for m in sent_messages(fake.requests[-1])][-1] == "A whole thought"
    assert len(fake.requests) == asked + 1

    # A reply's control characters show, rather than act on the terminal (retitle it, clear
    # it, write the clipboard), as the page never renders a reply as HTML.
    fake.script(Reply("Hi\x1b]0;owned\x07 there\x1b[2J\r!"))
    shown = chat.run("Say hi")
    assert "Hi\ufffd]0;owned\ufffd there\ufffd[2J\ufffd!" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    chat.quit()


def test_export_usage_and_multi_turn_off(fake, tmp_path, database, terminals):
    chat = terminals(chat_env(fake, tmp_path, DATABASE_URL=database))
    chat.run("first question")
    chat.run("second question")
    assert [m["content"] for m in sent_messages(fake.requests[-1])][-3:] == [
        "first question",
        "Echo: first question",
        "second question",
    ]
    assert "Multi-turn off" in chat.run("/multi off")
    chat.run("third question")
    # Multi-turn off: the persona's system prompt and the question, nothing earlier.
    assert [m["role"] for m in sent_messages(fake.requests[-1])] == ["system", "user"]

    usage = chat.run("/usage")
    target = tmp_path / "chat.md"
    assert f"Saved the conversation to {target}" in chat.run(f"/export {target}")

    # The file is the page's export of the same conversation (its record), to the second.
    listed, histories = read_records(database)
    history = histories[listed[0]["id"]]
    prices = PriceTable.from_file("prices.yaml")
    page = export_document.document(
        history, lang="en", prices=prices, default_model="gpt-4o-mini", now=datetime.now()
    )
    written = target.read_text(encoding="utf-8")
    assert EXPORTED.sub("-", written) == EXPORTED.sub("-", page)
    assert "first question" in written and "Echo: third question" in written
    # /usage says what the export's summary says.
    for line in export_document.summary(history, prices, "en"):
        assert line in usage

    # /clear empties the conversation on record too (it keeps its id, as the page's Clear),
    # and the next question may fix another persona.
    assert "The conversation is empty now." in chat.run("/clear")
    assert "Persona: teacher" in chat.run("/persona teacher")
    chat.run("fourth question")
    chat.quit()
    listed_after, histories = read_records(database)
    assert [c["id"] for c in listed_after] == [listed[0]["id"]]
    assert [e["content"] for e in histories[listed[0]["id"]]] == [
        "fourth question",
        "Echo: fourth question",
    ]
    records = Records(database)
    try:
        assert records.fixed_persona(owner(), listed[0]["id"])["persona"] == "teacher"
    finally:
        records.close()


def test_models_through_the_azure_mapping_and_a_persona_kept(fake, tmp_path, terminals):
    env = chat_env(
        fake,
        tmp_path,
        OPENAI_API_KEY=None,
        OPENAI_BASE_URL=None,
        AZURE_OPENAI_ENDPOINT=fake.azure_endpoint,
        AZURE_OPENAI_API_KEY=TEST_KEY,
        AZURE_OPENAI_MODEL_MAPPER="gpt-4o-mini=small-deploy,gpt-4o=big-deploy",
        RECORDS_ENABLED="false",
    )
    chat = terminals(env)
    listed = chat.run("/model")
    assert "* gpt-4o-mini" in listed and "  gpt-4o" in listed
    assert "There is no model gpt-5" in chat.run("/model gpt-5")
    assert "Model: gpt-4o" in chat.run("/model gpt-4o")
    assert "Persona: teacher" in chat.run("/persona teacher")
    chat.run("What is a noun?")
    request = fake.requests[-1]
    assert request.deployment == "big-deploy"
    teacher = load_personas("personas.yaml").get("teacher")
    assert sent_messages(request)[0] == {"role": "system", "content": system_prompt(teacher, "en")}
    # A started conversation keeps its persona, as the page's does.
    assert "keeps the persona it started with (teacher)" in chat.run("/persona general")
    assert "A new conversation starts" in chat.run("/new")
    assert "Persona: general" in chat.run("/persona general")
    chat.quit()


def test_a_locked_persona_cannot_be_changed(fake, tmp_path, terminals):
    env = chat_env(fake, tmp_path, PERSONA_LOCK="clinic-assistant", RECORDS_ENABLED="false")
    chat = terminals(env, "--persona", "teacher")
    listed = chat.run("/persona")
    assert "clinic-assistant" in listed and "teacher" not in listed
    assert "locked to clinic-assistant" in chat.run("/persona teacher")
    chat.run("Hello")
    locked = load_personas("personas.yaml").get("clinic-assistant")
    system = sent_messages(fake.requests[-1])[0]
    assert system == {"role": "system", "content": system_prompt(locked, "en")}
    chat.quit()


def test_pipe_mode_prints_one_reply_and_exits(fake, tmp_path, database):
    env = chat_env(fake, tmp_path, DATABASE_URL=database)
    done = piped(env, "What is 2+2?\n", "--no-multi-turn")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Echo: What is 2+2?\n", "")
    # Recorded like an interactive turn.
    listed, _ = read_records(database)
    assert [c["title"] for c in listed] == ["What is 2+2?"]

    fake.script(Error(503, "overloaded", type="server_error"))
    failed = piped(env, "again")
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "The model's server had an error. Retry in a moment." in failed.stderr

    # A configuration mistake is named, as the app names it at start-up (exit code 3).
    wrong = piped({**env, "PERSONA_LOCK": "nobody"}, "hello")
    assert wrong.returncode == 3
    assert "Configuration error: PERSONA_LOCK=nobody is not a persona" in wrong.stderr


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("C.UTF-8", "No API key is set, so the model cannot be asked. Set OPENAI_API_KEY"),
        (
            "zh_CN.UTF-8",
            "尚未设置 API 密钥，无法询问模型。请在环境变量或 .env 中设置 OPENAI_API_KEY",
        ),
    ],
)
def test_a_missing_key_says_how_to_set_it(fake, tmp_path, lang, words):
    # No key and the official API (a local OPENAI_BASE_URL, such as Ollama's, needs none).
    env = chat_env(fake, tmp_path, OPENAI_API_KEY=None, OPENAI_BASE_URL=None, LANG=lang)
    done = piped({**env, "RECORDS_ENABLED": "false"}, "hello")
    assert done.returncode == 1
    assert words in done.stderr
    assert fake.requests == []  # nothing went upstream without a key


def test_a_missing_key_in_the_terminal_keeps_it_going(fake, tmp_path, terminals):
    env = chat_env(fake, tmp_path, OPENAI_API_KEY=None, OPENAI_BASE_URL=None)
    chat = terminals({**env, "RECORDS_ENABLED": "false"})
    assert "Set OPENAI_API_KEY" in chat.run("hello")
    assert "Chat in the terminal" not in chat.run("/help")  # still answering commands
    assert chat.quit() == 0
    # readline kept the lines typed, in the test's HOME.
    history = tmp_path / ".chat_app_history"
    assert "hello" in history.read_text()
    assert history.stat().st_mode & 0o777 == 0o600  # the questions are the user's alone


def test_with_accounts_user_records_under_the_account_and_counts_its_quota(
    fake, tmp_path, database
):
    records = Records(database)
    records.upgrade()
    accounts = Accounts(records)
    amy = accounts.add_user("amy", "a long enough password")
    accounts.set_daily_tokens("amy", 60)
    env = chat_env(fake, tmp_path, DATABASE_URL=database, ACCOUNTS="true")
    try:
        unknown = piped(env, "hello", "--user", "nobody")
        assert unknown.returncode != 0 and "There is no active account nobody" in unknown.stderr

        done = piped(env, "Where is the library?", "--user", "amy")
        assert done.returncode == 0, done.stderr
        # Less is left of amy's day than a whole reply: held when it started, and the model is
        # told to write no more than what is left (as for the page's turn).
        sent = fake.requests[-1].body
        cap = sent.get("max_tokens") or sent.get("max_completion_tokens")
        assert cap is not None and 0 < cap < 60
        # The page's sidebar lists an account's conversations by its id, wherever it signs in.
        assert [c["title"] for c in records.list_conversations(amy.id)] == ["Where is the library?"]
        with records.engine.connect() as connection:
            rows = connection.execute(select(UsageEvent.owner, UsageEvent.source)).all()
        assert [tuple(row) for row in rows] == [(amy.id, "terminal")]

        # Without --user nothing is kept, but what it spent is counted (the console's costs).
        anonymous = piped(env, "What time is it?")
        assert anonymous.returncode == 0, anonymous.stderr
        with records.engine.connect() as connection:
            rows = connection.execute(select(UsageEvent.owner, UsageEvent.source)).all()
        assert sorted(tuple(row) for row in rows) == sorted(
            [(amy.id, "terminal"), ("terminal", "terminal")]
        )
        assert [c["title"] for c in records.list_conversations("terminal")] == []

        # The day's tokens are spent now: refused before anything goes upstream.
        asked = len(fake.requests)
        refused = piped(env, "And the canteen?", "--user", "amy")
        assert refused.returncode == 1
        assert "You have used all of today's tokens" in refused.stderr
        assert len(fake.requests) == asked
    finally:
        records.close()


# ---- the link that shows the terminal's conversations in a browser (api/terminal_link.py)


def test_the_link_gives_a_browser_the_terminals_identity(make_app, database):
    app = make_app(database_url=database)
    store = app.server.extensions["chat_records"]
    client = app.server.test_client()
    client.get("/")  # a browser with an identity of its own, and a conversation
    browser = client.get_cookie("chat_identity")
    assert browser is not None

    for refused in (
        client.get(f"{LINK_PATH}?token=forged"),
        client.post(LINK_PATH, data={"token": "forged"}),
    ):
        assert refused.status_code == 400
        assert "Type /link in the terminal chat" in refused.get_data(as_text=True)

    token = link_token(app.server.secret_key, owner())
    store.add_message(
        owner(), store.create_conversation(owner()), {"role": "user", "content": "From a shell"}
    )
    # The browser's identity (as the page's cookie names it) has a conversation too.
    browser_id = URLSafeSerializer(app.server.secret_key, salt="chat-identity").loads(browser.value)
    store.add_message(
        browser_id,
        store.create_conversation(browser_id),
        {"role": "user", "content": "From the page"},
    )
    # Another site sending the browser there (a link, a redirect, an image) is refused.
    for site in ("cross-site", "same-site"):
        lured = client.get(f"{LINK_PATH}?token={token}", headers={"Sec-Fetch-Site": site})
        assert lured.status_code == 403
        assert "paste it into the address bar" in lured.get_data(as_text=True)
    # Opened by hand (or from a link in a reply), it only asks: nothing has moved yet.
    for site in ("none", "same-origin"):
        asked = client.get(f"{LINK_PATH}?token={token}", headers={"Sec-Fetch-Site": site})
        assert asked.status_code == 200
        page = asked.get_data(as_text=True)
        assert "conversations in this browser?" in page
        assert 'id="terminal-link-submit"' in page and f'value="{token}"' in page
    assert client.get_cookie("chat_identity").value == browser.value
    assert len(store.list_conversations(browser_id)) == 1
    # Another site's page posting the form is refused by the cross-site check.
    forged = client.post(
        LINK_PATH,
        data={"token": token},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example"},
    )
    assert forged.status_code == 403
    assert client.get_cookie("chat_identity").value == browser.value

    opened = client.post(
        LINK_PATH, data={"token": token}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert opened.status_code == 303 and opened.headers["Location"] == "/"
    assert client.get_cookie("chat_identity").value != browser.value
    # The browser now sees the terminal's list, with what it had before moved into it.
    titles = sorted(c["title"] for c in store.list_conversations(owner()))
    assert titles == ["From a shell", "From the page"]
    assert store.list_conversations(browser_id) == []


@pytest.mark.parametrize(
    ("setting", "status"),
    [
        # With accounts the terminal records under `--user NAME`; the sign-in guard answers.
        ({"accounts": True}, 401),
        # Without records there is nothing to share.
        ({"records_enabled": False}, 404),
    ],
)
def test_no_link_with_accounts_or_without_records(make_app, setting, status):
    app = make_app(**setting)
    token = link_token(app.server.secret_key, owner())
    response = app.server.test_client().get(f"{LINK_PATH}?token={token}")
    assert response.status_code == status
    given = URLSafeSerializer(app.server.secret_key, salt="chat-identity").dumps(owner())
    assert given not in response.headers.get("Set-Cookie", "")
