"""The records repository on SQLite. `RecordsBehaviour` is also run against PostgreSQL by
tests/integration/test_records_postgres.py, with its own `records` fixture."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from services.branches import versions
from services.records import Records
from services.records.repository import MIGRATIONS, auto_title, database_url
from tests.records_db import add_messages_worker, age, run_processes, sqlite_url, upgrade_worker

QUESTION = {"role": "user", "content": "How do I boil an egg?", "context_from": 0}
ANSWER = {
    "role": "assistant",
    "content": "Put it in **boiling** water for 7 minutes.",
    "model": "gpt-4o-mini",
    "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
    "status": "done",
    "context": {"dropped_rounds": 1, "retried": True},
}
ESTIMATED = {
    "role": "assistant",
    "content": "Roughly.",
    "model": "llama3",
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "estimated": True},
    "status": "length",
}
NO_USAGE = {
    "role": "assistant",
    "content": "",
    "model": "gpt-4o",
    "usage": None,
    "status": "stopped",
}
CUT = {"role": "assistant", "content": "Half a rep", "model": "gpt-4o", "status": "cut"}
ERROR = {"role": "error", "kind": "rate_limit", "detail": "429: slow down — 请稍后"}


@pytest.fixture
def records(tmp_path) -> Records:
    records = Records(sqlite_url(tmp_path))
    records.upgrade()
    yield records
    records.close()


def parse(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    assert moment.utcoffset() == timedelta(0), stamp
    return moment


class RecordsBehaviour:
    """What every backend must do; the subclasses supply the `records` fixture."""

    def test_create_and_read_back(self, records):
        cid = records.create_conversation("alice", title=" Eggs ", model="gpt-4o", persona="chef")
        assert len(cid) == 32 and int(cid, 16) >= 0
        found = records.conversation("alice", cid)
        assert found == {
            "id": cid,
            "title": "Eggs",
            "model": "gpt-4o",
            "persona": "chef",
            "created_at": found["created_at"],
            "updated_at": found["updated_at"],
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }
        assert parse(found["created_at"]) == parse(found["updated_at"])
        assert abs(parse(found["created_at"]) - datetime.now(timezone.utc)) < timedelta(minutes=1)
        assert records.history("alice", cid) == []

    def test_missing_conversation(self, records):
        assert records.conversation("alice", "0" * 32) is None
        assert records.history("alice", "0" * 32) is None
        assert records.add_message("alice", "0" * 32, QUESTION) is False
        assert records.rename("alice", "0" * 32, "x") is False
        assert records.delete("alice", "0" * 32) is False

    def test_an_owner_is_required(self, records):
        with pytest.raises(ValueError):
            records.create_conversation("")

    def test_list_newest_updated_first(self, records):
        first = records.create_conversation("alice", title="first")
        second = records.create_conversation("alice", title="second")
        assert records.list_conversations("alice") == []  # no messages: not listed
        records.add_message("alice", first, QUESTION)
        records.add_message("alice", second, QUESTION)
        assert [c["id"] for c in records.list_conversations("alice")] == [second, first]
        records.add_message("alice", first, QUESTION)  # bumps updated_at
        assert [c["id"] for c in records.list_conversations("alice")] == [first, second]
        assert [c["id"] for c in records.list_conversations("alice", limit=1)] == [first]
        assert records.list_conversations("nobody") == []

    def test_rename_and_delete(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        assert records.rename("alice", cid, "  Breakfast  ") is True
        assert records.conversation("alice", cid)["title"] == "Breakfast"
        assert records.delete("alice", cid) is True
        assert records.conversation("alice", cid) is None
        assert records.history("alice", cid) is None
        assert records.list_conversations("alice") == []
        assert records.delete("alice", cid) is False
        with records.engine.connect() as connection:
            # The messages went with it (ON DELETE CASCADE).
            assert connection.scalar(text("SELECT count(*) FROM messages")) == 0

    def test_search_title_and_content_case_insensitive(self, records):
        eggs = records.create_conversation("alice", title="Breakfast ideas")
        records.add_message("alice", eggs, QUESTION)
        records.add_message("alice", eggs, ANSWER)
        umlaut = records.create_conversation("alice", title="Äpfel und Birnen")
        percent = records.create_conversation("alice", title="100% sure")
        for cid in (umlaut, percent):
            records.add_message("alice", cid, {"role": "user", "content": "fruit"})
        records.create_conversation("bob", title="Breakfast for bob")

        def found(query):
            return {c["id"] for c in records.list_conversations("alice", query=query)}

        assert found("BREAKFAST") == {eggs}  # title; bob's is not listed
        assert found("** WATER") == {eggs}  # assistant message content
        assert found("EGG") == {eggs}  # user message content
        assert found("äpfel") == {umlaut}  # not only ASCII folds
        assert found("%") == {percent}  # a literal %, not a wildcard
        assert found("_") == set()
        assert found("nothing like this") == set()
        assert found("  ") == found(None) == {eggs, umlaut, percent}

    def test_another_owner_sees_nothing(self, records):
        cid = records.create_conversation("alice", title="private")
        records.add_message("alice", cid, QUESTION)
        assert records.conversation("mallory", cid) is None
        assert records.history("mallory", cid) is None
        assert records.list_conversations("mallory") == []
        assert records.list_conversations("mallory", query="private") == []
        assert records.add_message("mallory", cid, ANSWER) is False
        assert records.rename("mallory", cid, "mine now") is False
        assert records.delete("mallory", cid) is False
        # Nothing changed for the owner.
        assert records.conversation("alice", cid)["title"] == "private"
        assert records.history("alice", cid) == [QUESTION]
        assert records.conversation("alice", cid)["completion_tokens"] == 0

    def test_every_entry_kind_round_trips(self, records):
        cid = records.create_conversation("alice")
        entries = [QUESTION, ANSWER, QUESTION, ESTIMATED, QUESTION, NO_USAGE, QUESTION, CUT, ERROR]
        for entry in entries:
            assert records.add_message("alice", cid, entry) is True
        # A cut reply had no usage key; it comes back as usage None, which reads the same.
        expected = [*entries[:7], {**CUT, "usage": None}, ERROR]
        assert records.history("alice", cid) == expected

    def test_unknown_role_is_refused(self, records):
        cid = records.create_conversation("alice")
        with pytest.raises(ValueError):
            records.add_message("alice", cid, {"role": "system", "content": "x"})
        assert records.history("alice", cid) == []

    def test_auto_title_from_first_question(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, {"role": "user", "content": "\n  Line one  \nline two"})
        assert records.conversation("alice", cid)["title"] == "Line one"
        records.add_message("alice", cid, {"role": "user", "content": "a later question"})
        assert records.conversation("alice", cid)["title"] == "Line one"

        long = records.create_conversation("alice")
        records.add_message("alice", long, {"role": "user", "content": "word " * 40})
        title = records.conversation("alice", long)["title"]
        assert len(title) == 60 and title.endswith("…") and title.startswith("word word")

        named = records.create_conversation("alice", title="Given")
        records.add_message("alice", named, QUESTION)
        assert records.conversation("alice", named)["title"] == "Given"

        # Emptied after the first question: a later one does not rename it.
        records.rename("alice", cid, "")
        records.add_message("alice", cid, {"role": "user", "content": "third"})
        assert records.conversation("alice", cid)["title"] == ""

    def test_token_totals(self, records):
        cid = records.create_conversation("alice")
        before = records.conversation("alice", cid)["updated_at"]
        for entry in (QUESTION, ANSWER, QUESTION, ESTIMATED, NO_USAGE, CUT, ERROR):
            records.add_message("alice", cid, entry)
        found = records.conversation("alice", cid)
        assert (found["prompt_tokens"], found["completion_tokens"]) == (12 + 5, 30 + 2)
        assert parse(found["updated_at"]) > parse(before)

    def test_export_rows(self, records):
        cid = records.create_conversation("alice", persona="chef")
        for entry in (QUESTION, ANSWER, ERROR):
            records.add_message("alice", cid, entry)
        other = records.create_conversation("bob")
        records.add_message("bob", other, {"role": "user", "content": "Привет"})
        rows = list(records.export())
        assert [(r["conversation_id"], r["seq"]) for r in rows] == [
            (cid, 1),
            (cid, 2),
            (cid, 3),
            (other, 1),
        ]
        assert rows[1] == {
            "conversation_id": cid,
            "owner": "alice",
            "title": "How do I boil an egg?",
            "persona": "chef",
            "seq": 2,
            "role": "assistant",
            "content": ANSWER["content"],
            "model": "gpt-4o-mini",
            "status": "done",
            "error_kind": None,
            "error_detail": None,
            "prompt_tokens": 12,
            "completion_tokens": 30,
            "created_at": rows[1]["created_at"],
            "feedback": None,
            "feedback_comment": None,
            "feedback_at": None,
            "attachments": None,
        }
        parse(rows[1]["created_at"])
        assert (rows[2]["role"], rows[2]["error_kind"]) == ("error", "rate_limit")
        assert rows[2]["error_detail"] == ERROR["detail"]
        assert rows[3]["owner"] == "bob" and rows[3]["content"] == "Привет"

    def test_export_since(self, records):
        old = records.create_conversation("alice")
        records.add_message("alice", old, QUESTION)
        age(records, old, days=10)
        new = records.create_conversation("alice")
        records.add_message("alice", new, QUESTION)
        week_ago = datetime.now(timezone.utc) - timedelta(days=7)
        assert [r["conversation_id"] for r in records.export(since=week_ago)] == [new]
        naive = week_ago.replace(tzinfo=None)  # taken as UTC
        assert [r["conversation_id"] for r in records.export(since=naive)] == [new]
        assert len(list(records.export())) == 2

    def test_purge(self, records):
        old = records.create_conversation("alice")
        records.add_message("alice", old, QUESTION)
        age(records, old, days=31)
        recent = records.create_conversation("bob")
        age(records, recent, days=29)
        assert records.purge(older_than_days=30) == 1
        assert records.conversation("alice", old) is None
        assert records.conversation("bob", recent) is not None
        assert records.purge(older_than_days=30) == 0
        with records.engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM messages")) == 0
        with pytest.raises(ValueError):
            records.purge(older_than_days=0)

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
    def test_a_forked_worker_gets_its_own_connections(self, records):
        # As gunicorn's preload_app does: the parent has used the pool, then forks.
        cid = records.create_conversation("alice")
        assert records.engine.pool.checkedin() == 1
        pid = os.fork()
        if pid == 0:  # the child must never return into pytest
            code = 1
            try:
                fresh = records.engine.pool.checkedin() == 0
                code = 0 if fresh and records.add_message("alice", cid, QUESTION) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The parent's own connection still works.
        assert records.history("alice", cid) == [QUESTION]
        assert records.engine.pool.checkedin() == 1

    def test_a_conversation_keeps_its_persona_and_a_custom_prompt(self, records):
        cid = records.create_conversation(
            "alice", persona="custom", persona_prompt="You are a pirate librarian."
        )
        assert records.fixed_persona("alice", cid) == {
            "persona": "custom",
            "custom_prompt": "You are a pirate librarian.",
            "started": False,
        }
        records.add_message("alice", cid, QUESTION)
        assert records.fixed_persona("alice", cid)["started"] is True
        # Once it has a question, its persona stays.
        assert records.set_persona("alice", cid, "teacher") is False
        assert records.fixed_persona("alice", cid)["persona"] == "custom"
        assert records.fixed_persona("bob", cid) is None  # not bob's: as if it did not exist

    def test_an_imported_conversation_gets_its_persona_from_its_next_question(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        assert records.fixed_persona("alice", cid) == {
            "persona": None,
            "custom_prompt": None,
            "started": True,
        }
        assert records.set_persona("alice", cid, "teacher") is True
        assert records.fixed_persona("alice", cid)["persona"] == "teacher"
        assert records.set_persona("bob", cid, "wellness") is False

    def test_regenerate_and_edit_keep_versions(self, records):
        cid = records.create_conversation("alice")
        second = {**ANSWER, "content": "Seven minutes, then cold water."}
        for entry in (QUESTION, ANSWER):
            records.add_message("alice", cid, entry)
        assert records.branches("alice", cid) == {}
        # Regenerate: the reply goes to a version, the question stays; a reply asked again
        # is appended with a new seq (late writes of the old one name seqs never reused).
        assert records.fork("alice", cid, 1) == [QUESTION]
        assert records.history("alice", cid) == [QUESTION]
        records.add_message("alice", cid, second, after=records.newest_question("alice", cid))
        assert records.history("alice", cid) == [QUESTION, second]
        assert versions(records.branches("alice", cid)) == {1: (2, 2)}
        # The first answer's tokens were paid: the totals keep them.
        assert records.conversation("alice", cid)["completion_tokens"] == 60

        assert records.switch_version("alice", cid, 1, 0) == [QUESTION, ANSWER]
        assert records.history("alice", cid) == [QUESTION, ANSWER]
        assert versions(records.branches("alice", cid)) == {1: (1, 2)}
        assert records.conversation("alice", cid)["completion_tokens"] == 60

        # Edit the question: the whole turn becomes the earlier version at 0.
        assert records.fork("alice", cid, 0) == []
        edited = {"role": "user", "content": "How do I poach an egg?"}
        records.add_message("alice", cid, edited)
        assert versions(records.branches("alice", cid)) == {0: (2, 2)}
        assert records.switch_version("alice", cid, 0, 0) == [QUESTION, ANSWER]
        assert versions(records.branches("alice", cid)) == {0: (1, 2), 1: (1, 2)}
        assert records.switch_version("alice", cid, 1, 1) == [QUESTION, second]

        # Clear forgets the versions too.
        records.clear("alice", cid)
        assert records.branches("alice", cid) == {}

    def test_versions_are_the_owners_only(self, records):
        cid = records.create_conversation("alice")
        for entry in (QUESTION, ANSWER):
            records.add_message("alice", cid, entry)
        assert records.fork("mallory", cid, 1) is None
        assert records.branches("mallory", cid) is None
        assert records.fork("alice", "0" * 32, 1) is None
        assert records.fork("alice", cid, 1) == [QUESTION]
        assert records.switch_version("mallory", cid, 1, 0) is None
        assert records.history("alice", cid) == [QUESTION]
        # Positions and versions that are not there change nothing.
        assert records.fork("alice", cid, 5) is None
        assert records.switch_version("alice", cid, 1, 7) is None
        assert records.switch_version("alice", cid, 0, 0) is None
        assert records.history("alice", cid) == [QUESTION]

    def test_no_fork_while_a_reply_streams(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        records.open_reply("alice", cid, "half", model="m", writer="w")
        assert records.fork("alice", cid, 0) is None
        assert len(records.history("alice", cid)) == 2

    def test_upgrade_is_idempotent(self, records):
        cid = records.create_conversation("alice")
        records.upgrade()
        records.upgrade()
        assert records.conversation("alice", cid) is not None
        with records.engine.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0009"
            tables = set(inspect(connection).get_table_names())
        assert {"conversations", "messages", "alembic_version"} <= tables

    def test_models_match_the_migrations(self, records):
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with records.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.check(config)  # raises when autogenerate would write a new revision

    # ---- Clear (callbacks/history.py clear_history)

    def test_clear_empties_the_conversation_and_keeps_its_id(self, records):
        cid = records.create_conversation("alice", model="gpt-4o", persona="chef")
        for entry in (QUESTION, ANSWER, ERROR):
            records.add_message("alice", cid, entry)
        other = records.create_conversation("alice", persona="teacher")
        records.add_message("alice", other, {"role": "user", "content": "Keep me"})
        records.add_message("alice", other, ANSWER)
        kept = records.conversation("alice", other)

        assert records.clear("alice", cid) is True
        assert records.history("alice", cid) == []
        cleared = records.conversation("alice", cid)
        assert (cleared["title"], cleared["persona"]) == ("", None)
        assert (cleared["prompt_tokens"], cleared["completion_tokens"]) == (0, 0)
        # Not listed while empty (the sidebar's rule), searched or not.
        assert [c["id"] for c in records.list_conversations("alice")] == [other]
        assert records.list_conversations("alice", query="egg") == []
        assert list(records.export()) == [
            r for r in records.export() if r["conversation_id"] == other
        ]
        with records.engine.connect() as connection:
            left = "SELECT count(*) FROM messages WHERE conversation_id = :cid"
            assert connection.scalar(text(left), {"cid": cid}) == 0
        # The other conversation is untouched.
        assert records.conversation("alice", other) == kept
        assert [e["content"] for e in records.history("alice", other)] == [
            "Keep me",
            ANSWER["content"],
        ]

        # Its next question lists it again, under that question's title; a persona is free.
        assert records.set_persona("alice", cid, "teacher") is True
        records.add_message("alice", cid, {"role": "user", "content": "A new start"})
        assert records.set_persona("alice", cid, "chef") is False  # fixed once it has a question
        assert [c["id"] for c in records.list_conversations("alice")] == [cid, other]
        again = records.conversation("alice", cid)
        assert (again["title"], again["persona"]) == ("A new start", "teacher")
        assert records.history("alice", cid) == [{"role": "user", "content": "A new start"}]

    def test_clear_is_only_the_owners(self, records):
        cid = records.create_conversation("alice", persona="chef")
        records.add_message("alice", cid, QUESTION)
        records.add_message("alice", cid, ANSWER)
        before = records.conversation("alice", cid)
        # The same answer as for an id nobody has: ids cannot be probed.
        assert records.clear("mallory", cid) is records.clear("mallory", "0" * 32) is False
        assert records.set_persona("mallory", cid, "x") is records.set_persona(
            "mallory", "0" * 32, "x"
        )
        assert records.newest_question("mallory", cid) is None
        assert records.conversation("alice", cid) == before
        assert records.history("alice", cid) == [QUESTION, ANSWER]
        assert [c["id"] for c in records.list_conversations("alice")] == [cid]

    def test_a_reply_streaming_into_a_cleared_conversation_writes_nothing(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        asked = records.newest_question("alice", cid)
        row = records.open_reply("alice", cid, "Put", model="m", writer="h:1:2", after=asked)
        assert row is not None
        records.clear("alice", cid)
        # The page's next question, in the same conversation (SQLite may hand out the cleared
        # rows' ids again): the old reply's late writes must not touch it.
        records.add_message("alice", cid, {"role": "user", "content": "Next"})
        next_asked = records.newest_question("alice", cid)
        assert next_asked > asked  # seqs are never given twice
        new_row = records.open_reply(
            "alice", cid, "New", model="m", writer="h:1:2", after=next_asked
        )
        records.update_replies({row: "Put it in"}, {row: asked})
        assert records.finish_reply("alice", cid, row, [ANSWER, ERROR], after=asked) is False
        assert records.history("alice", cid) == [
            {"role": "user", "content": "Next"},
            {
                "role": "assistant",
                "content": "New",
                "model": "m",
                "usage": None,
                "status": "streaming",
            },
        ]
        assert records.conversation("alice", cid)["completion_tokens"] == 0
        records.update_replies({new_row: "New text"}, {new_row: next_asked})
        assert records.history("alice", cid)[-1]["content"] == "New text"

    def test_a_finished_reply_whose_row_was_cleared_writes_nothing(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        row = records.open_reply("alice", cid, "Put", model="m", writer="h:1:2")
        records.clear("alice", cid)
        # Even without naming its question: the row is gone, so are the entries after it.
        assert records.finish_reply("alice", cid, row, [CUT, ERROR]) is False
        assert records.history("alice", cid) == []
        assert records.conversation("alice", cid)["prompt_tokens"] == 0

    def test_a_reply_not_yet_on_record_when_cleared_writes_nothing(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        asked = records.newest_question("alice", cid)
        records.clear("alice", cid)
        assert (
            records.open_reply("alice", cid, "late", model="m", writer="h:1:2", after=asked) is None
        )
        assert records.add_message("alice", cid, ANSWER, after=asked) is False
        assert records.history("alice", cid) == []
        assert records.list_conversations("alice") == []
        # While its question is there, the same calls write.
        records.add_message("alice", cid, QUESTION)
        asked = records.newest_question("alice", cid)
        assert records.add_message("alice", cid, ANSWER, after=asked) is True
        assert records.history("alice", cid) == [QUESTION, ANSWER]

    # ---- replies on record while they stream (services/records/journal.py)

    def test_a_streaming_reply_is_on_record_and_ends_in_place(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        row = records.open_reply("alice", cid, "Put it", model="gpt-4o-mini", writer="h:1:2")
        assert records.history("alice", cid)[-1] == {
            "role": "assistant",
            "content": "Put it",
            "model": "gpt-4o-mini",
            "usage": None,
            "status": "streaming",
        }
        records.update_replies({row: "Put it in **boiling**"})
        assert records.history("alice", cid)[-1]["content"] == "Put it in **boiling**"
        assert records.finish_reply("alice", cid, row, [ANSWER])
        assert records.history("alice", cid) == [QUESTION, ANSWER]
        assert records.conversation("alice", cid)["completion_tokens"] == 30
        # Ended: later batches (a late writer) change nothing.
        records.update_replies({row: "stale"})
        assert records.history("alice", cid)[-1]["content"] == ANSWER["content"]

    def test_a_cut_reply_keeps_its_row_and_the_error_follows(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        row = records.open_reply("alice", cid, "Half", model="gpt-4o", writer="h:1:2")
        records.add_message("alice", cid, {"role": "user", "content": "meanwhile"})
        assert records.finish_reply("alice", cid, row, [CUT, ERROR])
        history = records.history("alice", cid)
        assert [e.get("status") or e["role"] for e in history] == ["user", "cut", "user", "error"]
        assert history[1]["content"] == "Half a rep"

    def test_a_streaming_reply_is_only_the_owners(self, records):
        cid = records.create_conversation("alice")
        assert records.open_reply("mallory", cid, "x", model=None, writer="h:1:2") is None
        row = records.open_reply("alice", cid, "x", model=None, writer="h:1:2")
        assert not records.finish_reply("mallory", cid, row, [ANSWER])
        assert records.history("alice", cid)[0]["status"] == "streaming"

    def test_sweep_marks_only_dead_or_silent_writers(self, records):
        cid = records.create_conversation("alice")
        dead = records.open_reply("alice", cid, "dead's", model=None, writer="h:1:dead")
        live = records.open_reply("alice", cid, "live's", model=None, writer="h:2:live")
        silent = records.open_reply("alice", cid, "silent's", model=None, writer="other:3:x")
        records.finish_reply("alice", cid, live, [ANSWER])  # a finished reply is never swept
        live = records.open_reply("alice", cid, "live's", model=None, writer="h:2:live")
        records.beat("h:2:live")
        long_ago = datetime.now(timezone.utc) + timedelta(seconds=-60)
        with records.engine.begin() as connection:
            connection.execute(
                text("UPDATE messages SET heartbeat_at = :t WHERE id = :id"),
                {
                    "t": long_ago
                    if records.engine.dialect.name != "sqlite"
                    else long_ago.replace(tzinfo=None),
                    "id": silent,
                },
            )
        since = datetime.now(timezone.utc) - timedelta(seconds=30)
        assert records.sweep(silent_since=since, gone=lambda w: w == "h:1:dead") == 2
        by_content = {e["content"]: e["status"] for e in records.history("alice", cid)}
        assert by_content == {
            "dead's": "interrupted",
            "silent's": "interrupted",
            ANSWER["content"]: "done",
            "live's": "streaming",
        }
        assert records.sweep(silent_since=since, gone=lambda w: True) == 1  # now live's too
        assert dead and live

    # ---- a reply that outlives its page (api/running.py)

    def test_a_running_reply_is_read_and_stopped_by_its_owner_only(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        row = records.open_reply("alice", cid, "", model="gpt-4o", writer="h:1:2")
        assert records.reply_streaming(row)
        records.update_replies({row: "Put it in"})
        assert records.running_reply("alice", cid) == {"content": "Put it in", "model": "gpt-4o"}
        # Another owner sees nothing running and stops nothing, as for an unknown id.
        assert records.running_reply("mallory", cid) is None
        assert records.request_stop("mallory", cid) is False
        assert records.request_stop("alice", "0" * 32) is False
        assert records.reply_streaming(row)

        assert records.request_stop("alice", cid) is True
        assert not records.reply_streaming(row)  # its writer ends it at its next look
        assert records.running_reply("alice", cid) is None
        records.update_replies({row: "Put it in boiling"})  # a batch still on its way
        assert records.history("alice", cid)[-1]["content"] == "Put it in"
        stopped = {**NO_USAGE, "content": "Put it in boiling", "status": "stopped"}
        assert records.finish_reply("alice", cid, row, [stopped])
        assert records.history("alice", cid) == [QUESTION, stopped]
        assert records.request_stop("alice", cid) is False  # nothing runs any more

    def test_an_error_before_any_text_leaves_no_empty_reply(self, records):
        cid = records.create_conversation("alice")
        records.add_message("alice", cid, QUESTION)
        row = records.open_reply("alice", cid, "", model="gpt-4o", writer="h:1:2")
        assert records.finish_reply("alice", cid, row, [ERROR])
        assert records.history("alice", cid) == [QUESTION, ERROR]
        assert not records.reply_streaming(row)


class TestSQLite(RecordsBehaviour):
    def test_creates_the_data_directory(self, tmp_path):
        records = Records(f"sqlite:///{tmp_path}/a/b/chat.db")
        records.upgrade()
        records.close()
        assert (tmp_path / "a" / "b" / "chat.db").is_file()

    def test_connection_settings(self, records):
        with records.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 5000
            assert pragma("PRAGMA foreign_keys").scalar() == 1

    def test_times_are_aware_utc(self, records):
        from services.records.models import Conversation

        cid = records.create_conversation("alice")
        with records.engine.connect() as connection:
            stored = connection.scalar(
                Conversation.__table__.select().with_only_columns(Conversation.created_at)
            )
            raw = connection.exec_driver_sql("SELECT created_at FROM conversations").scalar()
        assert stored.tzinfo is timezone.utc
        # Stored as naive UTC text, so that it sorts and compares as text.
        assert raw == stored.replace(tzinfo=None).isoformat(sep=" ")
        assert records.conversation("alice", cid)["created_at"] == stored.isoformat()

    def test_concurrent_writers(self, tmp_path):
        url = sqlite_url(tmp_path)
        records = Records(url)
        records.upgrade()
        cid = records.create_conversation("alice")
        run_processes(add_messages_worker, [(url, "alice", cid, 50)] * 4)
        with records.engine.connect() as connection:
            seqs = connection.scalars(text("SELECT seq FROM messages ORDER BY seq")).all()
        assert seqs == list(range(1, 201))
        assert len(records.history("alice", cid)) == 200
        records.close()

    def test_concurrent_upgrades(self, tmp_path):
        url = sqlite_url(tmp_path)
        run_processes(upgrade_worker, [(url,)] * 3)
        records = Records(url)
        assert records.conversation("alice", records.create_conversation("alice"))
        records.close()


def test_auto_title_rules():
    assert auto_title("short") == "short"
    assert auto_title("x" * 60) == "x" * 60
    assert auto_title("x" * 61) == "x" * 59 + "…"
    assert auto_title("\n\n  ") == ""


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg"),
        ("postgresql://u:p@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_database_url_driver(given, driver):
    assert database_url(given).drivername == driver


def test_a_picture_alone_is_titled_by_its_file():
    from services.records.repository import question_title

    photo = {"id": "a" * 32, "name": "作业第3页.jpg", "kind": "image"}
    assert question_title("", [photo]) == "作业第3页.jpg"
    assert question_title("What is this?", [photo]) == "What is this?"
    assert question_title("  \n", None) == ""
