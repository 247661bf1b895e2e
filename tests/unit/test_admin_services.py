"""The admin console's services (services/admin) against a real database: figures as SQL
aggregates, tables paged in the database, search with SQL metacharacters, CSV, and the rules
of the account actions. `AdminBehaviour` runs on SQLite here and on PostgreSQL in
tests/integration/test_admin_postgres.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from services.accounts import AccountError, Accounts
from services.admin import csv_export, tables, usage, view
from services.admin.users import AdminActions
from services.pricing import Price, PriceTable
from services.records import Records
from services.records.models import AuditEntry, Conversation, Message, UsageEvent, User, new_id
from tests.admin_seed import seed

# A Wednesday: the week began on Monday the 7th, the month on the 1st.
NOW = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
HTML = "<img src=x onerror=alert(1)>"
PRICES = PriceTable(
    {
        "gpt-4o": Price(Decimal("2.5"), Decimal("10"), "USD"),
        "deepseek-chat": Price(Decimal("2"), Decimal("8"), "CNY"),
    },
    "USD",
)
INJECTION = "%' OR 1=1 --"


def at(days_ago: float, hour: int = 10) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC).replace(
        hour=hour
    )


def add_conversation(engine, owner, *, title="", persona=None, model="m1", texts=(), when=None):
    """A conversation with alternating user / assistant messages `texts`, all at `when`."""
    cid = new_id()
    when = when or at(0)
    with engine.begin() as connection:
        connection.execute(
            insert(Conversation).values(
                id=cid,
                owner=owner,
                title=title,
                persona=persona,
                model=model,
                created_at=when,
                updated_at=when,
                last_seq=len(texts),
            )
        )
        for seq, text in enumerate(texts, start=1):
            connection.execute(
                insert(Message).values(
                    conversation_id=cid,
                    seq=seq,
                    role="user" if seq % 2 else "assistant",
                    content=text,
                    created_at=when,
                )
            )
    return cid


def add_usage(
    engine, owner, when, *, model="m1", persona=None, tokens=(10, 20), cost=0.5, currency="USD"
):
    with engine.begin() as connection:
        connection.execute(
            insert(UsageEvent).values(
                at=when,
                owner=owner,
                source="page",
                model=model,
                persona=persona,
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
                cost=cost,
                currency=currency,
            )
        )


def rate(engine, cid, seq, rating, when, comment=None):
    with engine.begin() as connection:
        connection.execute(
            Message.__table__.update()
            .where(Message.conversation_id == cid, Message.seq == seq)
            .values(feedback=rating, feedback_comment=comment, feedback_at=when)
        )


class AdminBehaviour:
    """Needs a `records` fixture: a migrated, empty Records."""

    @pytest.fixture
    def accounts(self, records) -> Accounts:
        return Accounts(records)

    @pytest.fixture
    def people(self, accounts):
        amy = accounts.add_user("amy", "password-amy-1", admin=True)
        bob = accounts.add_user("bob", "password-bob-1")
        return amy, bob

    # ---- figures

    def test_overview_counts_today_the_week_and_the_month(self, records, people):
        amy, bob = people
        engine = records.engine
        add_usage(engine, amy.id, at(0), tokens=(100, 50), cost=1.25)
        add_usage(engine, bob.id, at(1), tokens=(10, 5), cost=0.25)  # Tuesday: this week
        add_usage(engine, bob.id, at(5), tokens=(1, 1), cost=0.5)  # the 4th: this month
        add_usage(engine, bob.id, at(40), tokens=(1000, 1000), cost=9)  # last month: nowhere
        add_conversation(engine, amy.id, texts=("q", "a"), when=at(0))
        add_conversation(engine, bob.id, texts=("q",), when=at(3))
        found = usage.overview(engine, now=NOW)
        today = usage.Totals(active_users=1, conversations=1, tokens=150, cost={"USD": 1.25})
        assert found.today == today
        week = usage.Totals(active_users=2, conversations=1, tokens=165, cost={"USD": 1.5})
        assert found.week == week
        month = usage.Totals(active_users=2, conversations=2, tokens=167, cost={"USD": 2.0})
        assert found.month == month

    def test_daily_usage_split_by_model_persona_and_user(self, records, people):
        amy, bob = people
        engine = records.engine
        add_usage(engine, amy.id, at(0), model="m1", persona="teacher", tokens=(1, 2), cost=1)
        add_usage(engine, amy.id, at(0, 11), model="m2", persona=None, tokens=(3, 4), cost=2)
        add_usage(engine, bob.id, at(2), model="m1", persona="teacher", tokens=(5, 5), cost=4)
        start, end = TODAY - timedelta(days=2), TODAY
        days = [d.isoformat() for d in (start, start + timedelta(days=1), end)]
        by_model = {line.key: line for line in usage.daily(engine, "tokens", "model", start, end)}
        assert by_model["m1"].days == days
        assert by_model["m1"].values == [10, 0, 3]
        assert by_model["m2"].values == [0, 0, 7]
        by_persona = {
            line.key: line.values for line in usage.daily(engine, "cost", "persona", start, end)
        }
        assert by_persona == {"teacher": [4, 0, 1], usage.NONE: [0, 0, 2]}
        by_user = {
            line.label: line.values for line in usage.daily(engine, "cost", "user", start, end)
        }
        assert by_user == {"amy": [0, 0, 3], "bob": [4, 0, 0]}

    # ---- costs in several currencies (prices.yaml prices each model in its own)

    def spend_in_two_currencies(self, engine, amy, bob):
        add_usage(engine, amy.id, at(0), model="gpt-4o", cost=1.25, currency="USD")
        add_usage(engine, amy.id, at(0, 11), model="deepseek-chat", cost=8.5, currency="CNY")
        add_usage(engine, bob.id, at(1), model="deepseek-chat", cost=2.0, currency="CNY")
        # Rows from before migration 0008 have no currency: their model's current price names
        # it (deepseek-chat: CNY), else the table's default (USD).
        add_usage(engine, bob.id, at(1, 11), model="deepseek-chat", cost=0.5, currency=None)
        add_usage(engine, bob.id, at(5), model="retired-model", cost=0.25, currency=None)
        # Unpriced: no cost, no currency, in no sum.
        add_usage(engine, bob.id, at(0), model="unpriced", cost=None, currency=None)

    def test_overview_totals_are_per_currency_never_added(self, records, people):
        amy, bob = people
        self.spend_in_two_currencies(records.engine, amy, bob)
        found = usage.overview(records.engine, now=NOW, prices=PRICES)
        assert found.today.cost == {"CNY": 8.5, "USD": 1.25}
        assert found.week.cost == {"CNY": 11.0, "USD": 1.25}
        assert found.month.cost == {"CNY": 11.0, "USD": 1.5}
        assert list(found.month.cost) == ["CNY", "USD"]  # the biggest first
        assert view.costs_text(found.month.cost) == "¥11.00 · $1.50"
        # Without a price table a row without a currency counts in the default currency.
        assert usage.overview(records.engine, now=NOW).month.cost == {"CNY": 10.5, "USD": 2.0}

    def test_daily_cost_is_drawn_in_one_currency(self, records, people):
        amy, bob = people
        self.spend_in_two_currencies(records.engine, amy, bob)
        engine, start, end = records.engine, TODAY - timedelta(days=5), TODAY
        spent = usage.spend_by_currency(engine, start, end, PRICES)
        assert spent == {"CNY": 11.0, "USD": 1.5}

        def by_model(**picked):
            lines = usage.daily(engine, "cost", "model", start, end, prices=PRICES, **picked)
            return {line.key: line.values for line in lines}

        nothing = [0.0] * 4
        assert by_model() == {"deepseek-chat": [*nothing, 2.5, 8.5]}  # the biggest: CNY
        assert by_model(currency="CNY") == by_model()
        assert by_model(currency="USD") == {
            "gpt-4o": [*nothing, 0.0, 1.25],
            "retired-model": [0.25, *nothing, 0.0],
        }
        assert by_model(currency="EUR") == {}

    def test_the_cost_chart_offers_the_currencies_spent(self, records, people):
        amy, bob = people
        self.spend_in_two_currencies(records.engine, amy, bob)
        start, end = TODAY - timedelta(days=5), TODAY

        def charts(currency=None, metric="cost", lang="en"):
            return view.usage_charts(
                records.engine,
                start,
                end,
                metric,
                "model",
                lang=lang,
                currency=currency,
                prices=PRICES,
            )

        found = charts()
        assert found["currencies"] == ["CNY", "USD"] and found["currency"] == "CNY"
        figure = found["usage_figure"]
        assert figure["layout"]["title"]["text"] == "Cost in CNY per day, by model"
        assert figure["layout"]["yaxis"]["tickprefix"] == "¥"
        [bar] = figure["data"]
        assert bar["y"][-2:] == [2.5, 8.5] and bar["customdata"][-2:] == ["¥2.50", "¥8.50"]
        usd = charts("USD", lang="zh-cn")
        assert usd["currency"] == "USD"
        assert usd["usage_figure"]["layout"]["title"]["text"] == "每日费用（USD）（按模型）"
        assert {bar["name"] for bar in usd["usage_figure"]["data"]} == {"gpt-4o", "retired-model"}
        # A currency not spent in the range falls back to the biggest; tokens have none.
        assert charts("EUR")["currency"] == "CNY"
        assert charts(metric="tokens")["currencies"] == []

    def test_daily_messages_come_from_the_messages(self, records, people):
        amy, bob = people
        add_conversation(records.engine, amy.id, model="m1", texts=("q", "a", "q2"), when=at(0))
        add_conversation(records.engine, bob.id, model="m2", texts=("q", "a"), when=at(1))
        lines = usage.daily(records.engine, "messages", "user", TODAY - timedelta(days=1), TODAY)
        assert {line.label: line.values for line in lines} == {"amy": [0, 3], "bob": [2, 0]}

    def test_small_keys_are_summed_into_other(self, records, people):
        amy, _ = people
        for n in range(usage.TOP_KEYS + 3):
            add_usage(records.engine, amy.id, at(0), model=f"model-{n:02d}", tokens=(n + 1, 0))
        lines = usage.daily(records.engine, "tokens", "model", TODAY, TODAY)
        assert len(lines) == usage.TOP_KEYS + 1
        other = next(line for line in lines if line.key == usage.OTHER)
        assert other.values == [1 + 2 + 3]  # the three smallest
        assert sum(line.values[0] for line in lines) == sum(range(1, usage.TOP_KEYS + 4))

    def test_feedback_rate_per_day(self, records, people):
        amy, _ = people
        cid = add_conversation(records.engine, amy.id, texts=("q", "a", "q", "a", "q", "a"))
        rate(records.engine, cid, 2, "up", at(0))
        rate(records.engine, cid, 4, "down", at(0), "wrong")
        rate(records.engine, cid, 6, "up", at(1))
        found = usage.feedback_days(records.engine, TODAY - timedelta(days=3), TODAY)
        assert [(d.day, d.up, d.rated) for d in found] == [
            ((TODAY - timedelta(days=1)).isoformat(), 1, 1),
            (TODAY.isoformat(), 1, 2),
        ]
        assert found[1].rate == 0.5

    # ---- tables

    def test_users_page_in_the_database_with_todays_tokens(self, records, people, accounts):
        _, bob = people
        with records.engine.begin() as connection:  # argon2 is slow on purpose: no hashing
            connection.execute(
                insert(User),
                [
                    {
                        "id": new_id(),
                        "username": f"user{n:02d}",
                        "username_key": f"user{n:02d}",
                        "password_hash": "-",
                        "created_at": NOW,
                    }
                    for n in range(23)
                ],
            )
        add_usage(records.engine, bob.id, at(0), tokens=(7, 8))
        add_usage(records.engine, bob.id, at(1), tokens=(100, 100))  # yesterday: not today
        first = tables.fetch_page(
            records.engine, tables.users_query(now=NOW), tables.UserRow, 1, 10
        )
        assert first.total == 25 and len(first.rows) == 10
        assert [row.username for row in first.rows[:2]] == ["amy", "bob"]
        assert first.rows[1].tokens_today == 15
        last = tables.fetch_page(records.engine, tables.users_query(now=NOW), tables.UserRow, 3, 10)
        assert [row.username for row in last.rows] == [f"user{n}" for n in range(18, 23)]
        beyond = tables.fetch_page(
            records.engine, tables.users_query(now=NOW), tables.UserRow, 9, 10
        )
        assert beyond.page == 3 and beyond.rows == last.rows
        odd = tables.fetch_page(records.engine, tables.users_query(), tables.UserRow, -1, 7)
        assert (odd.page, odd.size) == (1, 10)

    def test_tokens_today_count_from_the_quotas_day_start(self, records, people):
        _, bob = people
        add_usage(records.engine, bob.id, at(1, 22), tokens=(40, 2))  # yesterday 22:00 UTC
        add_usage(records.engine, bob.id, at(0, 9), tokens=(1, 1))

        def used(**when):
            page = tables.fetch_page(
                records.engine, tables.users_query("bob", **when), tables.UserRow, 1, 10
            )
            return page.rows[0].tokens_today

        assert used(now=NOW) == 2
        # QUOTA_TIMEZONE=Asia/Shanghai: the day began at 16:00 UTC the day before.
        assert used(day_start=at(1, 16)) == 44

    def test_search_treats_sql_metacharacters_and_html_as_text(self, records, people):
        amy, bob = people
        engine = records.engine
        add_conversation(engine, amy.id, title="Sale 50%_off", texts=("hi",))
        add_conversation(engine, amy.id, title="Sale 50xxoff", texts=("hi",))
        add_conversation(engine, bob.id, title=HTML, texts=(f"say {INJECTION} now", "ok"))
        add_conversation(engine, bob.id, title="plain", texts=("nothing",))

        def search(text):
            query = tables.conversations_query(tables.ConversationFilter(text=text))
            return [
                row.title
                for row in tables.fetch_page(engine, query, tables.ConversationRow, 1, 50).rows
            ]

        assert search("50%_off") == ["Sale 50%_off"]  # neither % nor _ is a wildcard
        assert search(INJECTION) == [HTML]  # found in a message, verbatim; nothing else
        assert search("' OR '1'='1") == []
        assert search("<img src=x") == [HTML]
        assert len(search("")) == 4
        users = tables.users_query(INJECTION)
        assert tables.fetch_page(engine, users, tables.UserRow, 1, 10).total == 0

    def test_conversation_filters(self, records, people):
        amy, bob = people
        engine = records.engine
        old = add_conversation(
            engine, amy.id, title="old", persona="teacher", model="m1", texts=("q",), when=at(10)
        )
        new = add_conversation(
            engine, bob.id, title="new", persona="coder", model="m2", texts=("q",), when=at(0)
        )
        add_conversation(engine, bob.id, title="empty", texts=(), when=at(0))  # no messages

        def keys(**filters):
            query = tables.conversations_query(tables.ConversationFilter(**filters))
            return [
                row.key
                for row in tables.fetch_page(engine, query, tables.ConversationRow, 1, 50).rows
            ]

        assert keys() == [new, old]
        assert keys(owner=amy.id) == [old]
        assert keys(persona="coder") == [new]
        assert keys(model="m1") == [old]
        assert keys(start=TODAY - timedelta(days=11), end=TODAY - timedelta(days=9)) == [old]
        assert keys(start=TODAY, end=TODAY) == [new]
        assert tables.options(engine) == {"persona": ["coder", "teacher"], "model": ["m1", "m2"]}
        page = tables.fetch_page(
            engine,
            tables.conversations_query(tables.ConversationFilter()),
            tables.ConversationRow,
            1,
            10,
        )
        assert {row.username for row in page.rows} == {"amy", "bob"}
        assert all(row.messages == 1 for row in page.rows)

    def test_feedback_rows_have_the_question_and_the_reply(self, records, people):
        amy, _ = people
        cid = add_conversation(
            records.engine, amy.id, title=HTML, texts=("first?", "one", "second?", "two")
        )
        rate(records.engine, cid, 4, "down", at(0), comment=HTML)
        rate(records.engine, cid, 2, "up", at(1))
        rows = tables.fetch_page(
            records.engine, tables.feedback_query(), tables.FeedbackRow, 1, 10
        ).rows
        assert [(r.rating, r.question, r.reply, r.comment) for r in rows] == [
            ("down", "second?", "two", HTML),
            ("up", "first?", "one", None),
        ]
        assert rows[0].username == "amy" and rows[0].title == HTML
        downs = tables.fetch_page(
            records.engine, tables.feedback_query("down"), tables.FeedbackRow, 1, 10
        )
        assert downs.total == 1

    def test_a_rated_reply_regenerated_away_stays_in_the_feedback(self, records, people):
        """👎 then regenerate (the common case): the 👎 reply is in a version now, and the
        table and the rate still have it, once; switching back does not list it twice."""
        amy, _ = people
        question = {"role": "user", "content": "How long?"}
        answer = {"role": "assistant", "content": "Seven minutes.", "status": "done"}
        cid = records.create_conversation(amy.id)
        records.add_message(amy.id, cid, question)
        records.add_message(amy.id, cid, answer)
        records.set_feedback(amy.id, cid, 1, "down", "too short")
        records.fork(amy.id, cid, 1)
        records.add_message(amy.id, cid, {**answer, "content": "Eight."})
        records.set_feedback(amy.id, cid, 1, "up")

        def listed():
            page = tables.fetch_page(
                records.engine, tables.feedback_query(), tables.FeedbackRow, 1, 10
            )
            return page.total, sorted((r.rating, r.question, r.reply, r.comment) for r in page.rows)

        both = (
            2,
            [
                ("down", "How long?", "Seven minutes.", "too short"),
                ("up", "How long?", "Eight.", None),
            ],
        )
        assert listed() == both
        records.switch_version(amy.id, cid, 1, 0)
        assert listed() == both
        today = datetime.now(UTC).date()  # set_feedback stamps the real time
        [rated] = usage.feedback_days(records.engine, today - timedelta(days=1), today)
        assert (rated.up, rated.rated) == (1, 2)

    def test_a_conversation_read_by_an_admin(self, records, people):
        _, bob = people
        cid = add_conversation(records.engine, bob.id, title="t", texts=("q", HTML))
        found = tables.conversation(records.engine, cid)
        assert found.username == "bob" and found.owner == bob.id
        assert [(m["role"], m["content"]) for m in found.messages] == [
            ("user", "q"),
            ("assistant", HTML),
        ]
        assert tables.conversation(records.engine, "nope") is None

    # ---- CSV

    def test_csv_has_every_row_and_no_formula(self, records, people, accounts):
        amy, bob = people
        add_conversation(records.engine, bob.id, title='=HYPERLINK("http://x")', texts=("q",))
        add_conversation(records.engine, amy.id, title="fine", texts=("q",))
        statement = csv_export.statement_for("conversations")
        text = "".join(csv_export.lines(records.engine, "conversations", statement))
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == list(csv_export.COLUMNS["conversations"])
        titles = [row[rows[0].index("title")] for row in rows[1:]]
        assert sorted(titles) == ['\'=HYPERLINK("http://x")', "fine"]
        users = "".join(
            csv_export.lines(records.engine, "users", csv_export.statement_for("users"))
        )
        assert len(list(csv.reader(io.StringIO(users)))) == 3
        assert "password" not in users.split("\n")[0]

    # ---- actions

    def test_actions_are_audited_and_keep_an_admin(self, records, people, accounts):
        amy, bob = people
        acts = AdminActions(accounts, amy)
        carol = acts.create("carol", "password-carol-1", admin=True)
        acts.set_quota(bob.id, 1234)
        acts.set_disabled(bob.id, True)
        acts.reset_password(bob.id, "new-password-bob")
        with pytest.raises(AccountError) as refused:
            acts.set_disabled(amy.id, True)
        assert refused.value.key == "admin.not_yourself"
        with pytest.raises(AccountError):
            acts.delete(amy.id, purge=False)
        # carol may demote amy while another admin (carol) is left; then carol is the last one.
        AdminActions(accounts, carol).set_role(amy.id, "user")
        with pytest.raises(AccountError) as last:
            AdminActions(accounts, amy).set_role(carol.id, "user")
        assert last.value.key == "admin.last_admin"
        cid = add_conversation(records.engine, bob.id, texts=("q",))
        assert AdminActions(accounts, carol).delete(bob.id, purge=True) == 1
        assert tables.conversation(records.engine, cid) is None
        with records.engine.connect() as connection:
            log = connection.execute(
                select(
                    AuditEntry.actor, AuditEntry.action, AuditEntry.target, AuditEntry.detail
                ).order_by(AuditEntry.id)
            ).all()
        assert [tuple(row) for row in log] == [
            ("amy", "user.create", "carol", "admin"),
            ("amy", "user.quota", "bob", "1234"),
            ("amy", "user.disable", "bob", ""),
            ("amy", "user.password", "bob", ""),
            ("carol", "user.role", "amy", "user"),
            ("carol", "user.delete", "bob", "purged 1 conversations"),
        ]
        assert accounts.user(bob.id, include_disabled=True) is None
        assert accounts.by_name("bob") is None

    def test_seeded_deployment_figures_match_plain_counts(self, records):
        seeded = seed(records._writer, users=15, messages=600, now=NOW)
        engine = records.engine
        with engine.connect() as connection:
            events = connection.execute(select(UsageEvent.at, UsageEvent.owner)).all()
            messages = connection.scalar(select(Message.id).order_by(Message.id.desc()).limit(1))
        assert messages == 600
        month_start = datetime(2026, 12, 1, tzinfo=UTC)
        found = usage.overview(engine, now=NOW)
        assert found.month.active_users == len({e.owner for e in events if e.at >= month_start})
        lines = usage.daily(engine, "messages", "model", date(2026, 11, 1), TODAY)
        assert sum(sum(line.values) for line in lines) == 600
        assert tables.fetch_page(engine, tables.users_query(), tables.UserRow, 1, 10).total == 15
        conversations = tables.conversations_query(tables.ConversationFilter())
        assert tables.fetch_page(engine, conversations, tables.ConversationRow, 6, 10).total == len(
            seeded["conversations"]
        )

    def test_the_first_screen_has_everything_the_console_opens_with(self, records, people):
        amy, _ = people
        add_usage(records.engine, amy.id, at(0), model="m1", tokens=(5, 5))
        add_conversation(records.engine, amy.id, title="t", persona="p", texts=("q",))
        screen = view.first_screen(records.engine, lang="zh-cn", today=TODAY)
        assert {"totals", "usage_figure", "feedback_figure", "options"} <= set(screen)
        rows, shown = screen["users"]
        assert [row["username"] for row in rows] == ["amy", "bob"]
        assert shown["total"] == 2 and shown["current"] == 1
        assert screen["conversations"][0][0]["title"] == "t"
        assert screen["options"]["persona"] == [{"label": "p", "value": "p"}]
        [bar] = screen["usage_figure"]["data"]
        assert bar["name"] == "m1" and bar["y"][-1] == 10
        assert screen["usage_figure"]["layout"]["title"]["text"] == "每日Token（按模型）"


def test_chart_lines_are_named_in_words():
    days = ["2026-12-09"]
    lines = [
        usage.Line(key="a" * 32, label="amy", days=days, values=[1]),
        usage.Line(key="<b>x</b> & y", label="<b>x</b> & y", days=days, values=[1]),
        usage.Line(key="f00ba7" + "0" * 26, label=None, days=days, values=[2]),
        usage.Line(key=usage.NONE, label=usage.NONE, days=days, values=[3]),
        usage.Line(key=usage.OTHER, label=usage.OTHER, days=days, values=[4]),
    ]
    figure = view.usage_figure(lines, metric="cost", split="user", lang="en")
    names = [trace["name"] for trace in figure["data"]]
    assert names == [
        "amy",
        "&lt;b&gt;x&lt;/b&gt; &amp; y",  # Plotly shows the characters, reads no tag
        "(a browser, before accounts) f00ba7",
        "(none)",
        "Others",
    ]
    assert figure["layout"]["title"]["text"] == "Cost per day, by user"
    empty = view.usage_figure([], metric="tokens", split="model", lang="en")
    assert empty["layout"]["annotations"][0]["text"] == "Nothing in this range"


class TestSQLite(AdminBehaviour):
    @pytest.fixture
    def records(self, tmp_path):
        records = Records(f"sqlite:///{tmp_path}/chat.db")
        records.upgrade()
        yield records
        records.close()
