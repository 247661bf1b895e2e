"""The terminal chat's session and loop helpers, without a terminal or a model."""

from __future__ import annotations

import pytest

from config import Settings
from services.chat import ChatService
from services.terminal.identity import link_token, linked_identity, terminal_identity
from services.terminal.repl import _history_file, shown, terminal_lang
from services.terminal.session import QUIT, RETRY, Session


@pytest.fixture
def session() -> Session:
    service = ChatService(Settings(_env_file=None, openai_api_key="sk-test-unit-0000"))
    return Session(service)


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh-cn"),
        ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "zh-cn"),  # LC_ALL wins
        ({"LC_MESSAGES": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "de_DE@euro"}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_follows_the_locale(environ, lang):
    assert terminal_lang(environ) == lang


def test_control_characters_show_instead_of_acting():
    assert shown("a\r\nb\tc\x1b[31md\x07\x9b") == "a\nb\tc\ufffd[31md\ufffd\ufffd"
    assert shown("简体中文 ✓") == "简体中文 ✓"


def test_commands_answer_in_plain_words(session):
    assert session.command("/quit").action == QUIT
    assert session.command("/retry").error  # nothing failed yet
    unknown = session.command("/nope")
    assert unknown.error and "/nope" in unknown.text
    assert "Multi-turn is on" in session.command("/multi").text
    assert session.command("/multi maybe").error
    assert session.command("/multi off").text.startswith("Multi-turn off")
    assert session.multi_turn is False
    assert session.command("/export").error  # no file named
    assert session.command("/export x.md").text == "There is nothing to export yet."
    assert session.command("/usage").text == "No tokens used in this conversation yet."
    assert session.command("/link").error  # records are not kept by this session


def test_a_started_conversation_keeps_its_persona(session):
    assert "Persona: teacher" in session.command("/persona teacher").text
    session.history = [{"role": "user", "content": "hi"}]
    kept = session.command("/persona general")
    assert kept.error and "(teacher)" in kept.text
    assert session.persona == "teacher"
    session.command("/new")
    assert session.command("/persona general").text.startswith("Persona: general")


def test_retry_is_offered_after_a_failure(session):
    session.failed_question = "What is TCP?"
    assert session.command("/retry").action == RETRY


def test_the_link_token_names_the_terminal_and_expires():
    owner = terminal_identity("key-one")
    assert owner == terminal_identity("key-one") != terminal_identity("key-two")
    token = link_token("key-one", owner)
    assert linked_identity("key-one", token) == owner
    assert linked_identity("key-two", token) is None  # another deployment's key
    assert linked_identity("key-one", token + "x") is None


def test_the_history_file_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    kept = Settings(_env_file=None)
    assert _history_file(kept) == tmp_path / ".chat_app_history"
    assert _history_file(Settings(_env_file=None, chat_history_file="")) is None
    assert _history_file(Settings(_env_file=None, chat_history_file="  ")) is None
