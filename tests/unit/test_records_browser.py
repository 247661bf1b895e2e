"""The browser-kept records (RECORDS_ENABLED=false) behave like the server's."""

from __future__ import annotations

from services.records.browser import BrowserRecords
from services.records.repository import auto_title
from tests.turns import user


def test_a_conversation_round_trips_and_is_titled_by_its_first_question() -> None:
    store = BrowserRecords(None)
    cid = store.create_conversation("ignored")
    store.add_message("x", cid, {"role": "user", "content": "  \nFirst line\nsecond"})
    store.add_message("x", cid, {"role": "assistant", "content": "answer", "status": "done"})
    assert store.conversation("x", cid)["title"] == "First line"
    assert [e["role"] for e in store.history("x", cid)] == ["user", "assistant"]
    # The data is plain JSON for the page's local storage, and reads back the same.
    again = BrowserRecords(store.data)
    assert again.history("x", cid) == store.history("x", cid)


def test_list_is_newest_first_and_search_looks_in_titles_and_messages() -> None:
    store = BrowserRecords(None)
    older = store.create_conversation("x")
    store.save_history(older, [{"role": "user", "content": "bread"}])
    newer = store.create_conversation("x")
    store.save_history(
        newer, [{"role": "user", "content": "tcp"}, {"role": "assistant", "content": "packets"}]
    )
    assert [c["id"] for c in store.list_conversations("x")] == [newer, older]
    assert [c["id"] for c in store.list_conversations("x", query="PACKETS")] == [newer]
    assert store.list_conversations("x", query="nothing") == []


def test_opening_a_conversation_does_not_move_it_up() -> None:
    store = BrowserRecords(None)
    cid = store.create_conversation("x")
    store.save_history(cid, [{"role": "user", "content": "q"}])
    before = store.conversation("x", cid)["updated_at"]
    store.save_history(cid, [{"role": "user", "content": "q"}])
    assert store.conversation("x", cid)["updated_at"] == before


def test_rename_and_delete() -> None:
    store = BrowserRecords(None)
    cid = store.create_conversation("x")
    assert store.rename("x", cid, "Mine") and store.conversation("x", cid)["title"] == "Mine"
    store.save_history(cid, [{"role": "user", "content": "a question"}])
    assert store.conversation("x", cid)["title"] == "Mine"  # a chosen title stays
    assert store.delete("x", cid) and store.conversation("x", cid) is None
    assert not store.delete("x", cid) and not store.rename("x", cid, "gone")
    assert store.history("x", cid) is None


def test_the_browsers_copy_is_titled_when_read_as_the_server_titles_records() -> None:
    """The page keeps conversations untitled (assets/chat.js keepConversation); reading them
    titles each by its first question with the records' own rule, unusual line breaks too."""
    texts = ["Title\u2028rest", "\ufeffTitle", "\x1c\x1d\nTitle\x0bmore", "\u3000" + "长" * 70]
    local = {
        f"c{i}": {"title": "", "updated_at": f"2026-01-0{i + 1}", "history": [user(text)]}
        for i, text in enumerate(texts)
    }
    local["blank"] = {"title": "", "updated_at": "2026-01-09", "history": []}
    store = BrowserRecords(local)
    titles = {c["id"]: c["title"] for c in store.list_conversations("browser")}
    # "blank" has no messages: not listed (the records' rule too).
    assert titles == {f"c{i}": auto_title(t) for i, t in enumerate(texts)}
    assert titles["c0"] == "Title" and titles["c3"].endswith("…")
    assert [c["id"] for c in store.list_conversations("browser", query="title")] == [
        "c2",
        "c1",
        "c0",
    ]
    assert store.data["c0"]["title"] == ""  # reading does not write


def test_clear_empties_the_conversation_and_unlists_it_until_its_next_question() -> None:
    store = BrowserRecords(None)
    cid = store.create_conversation("x")
    store.save_history(
        cid, [user("first"), {"role": "assistant", "content": "a", "status": "done"}]
    )
    store.rename("x", cid, "Renamed")
    other = store.create_conversation("x")
    store.save_history(other, [user("keep me")])
    kept = dict(store.data[other])

    assert store.clear("x", cid) is True
    assert store.history("x", cid) == []
    assert store.conversation("x", cid)["title"] == ""  # the rename goes too
    assert [c["id"] for c in store.list_conversations("x")] == [other]
    assert store.data[other] == kept
    # What the page stores back reads the same (local storage holds plain JSON).
    assert BrowserRecords(store.data).history("x", cid) == []

    store.save_history(cid, [user("second start")])
    listed = {c["id"]: c["title"] for c in store.list_conversations("x")}
    assert listed == {cid: "second start", other: "keep me"}
    assert store.clear("x", "0" * 32) is False


def test_versions_are_kept_with_the_browsers_copy():
    from services.branches import versions

    question, answer = {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}
    records = BrowserRecords({"c1": {"title": "", "updated_at": "", "history": [question, answer]}})
    assert records.fork("me", "c1", 1) == [question]
    assert records.data["c1"]["history"] == [question]
    records.save_history("c1", [question, {**answer, "content": "B"}])
    assert versions(records.branches("me", "c1")) == {1: (2, 2)}
    assert records.switch_version("me", "c1", 1, 0) == [question, answer]
    assert records.fork("me", "c1", 7) is None and records.fork("me", "nope", 0) is None
    # A copy of the wrong shape (the browser's storage is the user's) changes nothing.
    records.data["c1"]["branches"] = {"1": {"active": "x", "tails": 3}}
    assert records.switch_version("me", "c1", 1, 0) is None
    assert versions(records.branches("me", "c1")) == {}
    records.clear("me", "c1")
    assert records.branches("me", "c1") == {}
