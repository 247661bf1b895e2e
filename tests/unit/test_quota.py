"""Per-user quotas (services/quota.py): the day, the count, and what a reply used."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from components.message import error_message
from components.usage import quota_left, quota_notice, reset_wait
from services.conversation import record_result, result_from_event
from services.pricing import Price, PriceTable
from services.quota import Quota, QuotaState, Spent, charge, estimate, priced, reply_usage
from services.records import Records
from services.records.models import UsageEvent
from services.tokens import count_messages, count_text

UTC = timezone.utc
NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SENT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]


@pytest.fixture
def records(tmp_path):
    store = Records(f"sqlite:///{tmp_path}/quota.db")
    store.upgrade()
    yield store
    store.close()


def user(user_id: str = "a" * 32, daily_tokens: int | None = None):
    return SimpleNamespace(id=user_id, daily_tokens=daily_tokens)


def spent(owner: str = "a" * 32, prompt: int = 0, completion: int = 0, **more) -> Spent:
    return Spent(
        owner=owner, source="page", prompt_tokens=prompt, completion_tokens=completion, **more
    )


# ---------------------------------------------------------------------------- the day


def test_the_day_starts_at_utc_midnight_by_default() -> None:
    quota = Quota(None, 100)
    assert quota.day_start(NOON) == datetime(2026, 12, 6, tzinfo=UTC)
    assert quota.next_reset(NOON) == datetime(2026, 12, 7, tzinfo=UTC)
    assert quota.zone_name == "UTC"


def test_the_day_can_start_at_local_midnight() -> None:
    quota = Quota(None, 100, "Asia/Shanghai")
    # 12:00 UTC is 20:00 in Shanghai; its day began at 16:00 UTC the day before.
    assert quota.day_start(NOON) == datetime(2026, 12, 5, 16, tzinfo=UTC)
    assert quota.next_reset(NOON) == datetime(2026, 12, 6, 16, tzinfo=UTC)
    # Just after Shanghai's midnight, a new day has begun.
    late = datetime(2026, 12, 6, 16, 1, tzinfo=UTC)
    assert quota.day_start(late) == datetime(2026, 12, 6, 16, tzinfo=UTC)


def test_a_day_with_a_clock_change_is_as_long_as_it_is() -> None:
    quota = Quota(None, 100, "Europe/Berlin")
    # 2026-03-29: clocks go forward at 02:00; that day has 23 hours.
    morning = datetime(2026, 3, 29, 8, tzinfo=UTC)
    assert quota.next_reset(morning) - quota.day_start(morning) == timedelta(hours=23)


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="QUOTA_TIMEZONE"):
        Quota(None, 100, "Mars/Olympus")


# ---------------------------------------------------------------------------- what a reply used


def test_a_finished_reply_counts_the_upstream_usage() -> None:
    event = {"done": True, "usage": {"prompt_tokens": 12, "completion_tokens": 7}}
    entries = record_result([], result_from_event(event, "Hi!"), model="gpt-4o-mini")
    assert reply_usage(entries, sent=SENT, model="gpt-4o-mini") == (12, 7, False)


def test_a_stopped_reply_counts_its_prompt_and_the_text_it_got() -> None:
    text = "The first half of a longer answer"
    entries = record_result([], {"status": "stopped", "content": text}, model="gpt-4o-mini")
    prompt, completion, estimated = reply_usage(entries, sent=SENT, model="gpt-4o-mini")
    assert estimated
    assert prompt == count_messages(SENT, "gpt-4o-mini") > 0
    assert completion == count_text(text, "gpt-4o-mini") > 0


def test_a_cut_reply_counts_what_arrived() -> None:
    error = {"type": "stream_cut", "message": "cut"}
    entries = record_result([], result_from_event({"error": error}, "Half"), model="gpt-4o-mini")
    assert [e["role"] for e in entries] == ["assistant", "error"]
    prompt, completion, _ = reply_usage(entries, sent=SENT, model="gpt-4o-mini")
    assert prompt > 0 and completion == count_text("Half", "gpt-4o-mini")


def test_a_reply_that_failed_before_its_first_token_used_nothing() -> None:
    error = {"type": "rate_limited", "message": "429"}
    entries = record_result([], result_from_event({"error": error}, ""), model="gpt-4o-mini")
    assert reply_usage(entries, sent=SENT, model="gpt-4o-mini") is None


def test_an_estimate_of_odd_messages_never_raises() -> None:
    assert estimate([{"role": "user", "content": [{"type": "image_url"}]}], "", "x")[2] is True


def test_cost_is_priced_per_model() -> None:
    prices = PriceTable({"gpt-4o-mini": Price(1, 2, "USD")})
    assert priced(prices, "gpt-4o-mini", 1_000_000, 500_000) == pytest.approx(2.0)
    assert priced(prices, "unpriced", 10, 10) is None


def test_a_cost_is_charged_with_its_currency() -> None:
    prices = PriceTable({"deepseek-chat": Price(2, 8, "CNY"), "gpt-4o": Price(1, 2, "USD")})
    assert charge(prices, "deepseek-chat", 1_000_000, 0) == {"cost": 2.0, "currency": "CNY"}
    assert charge(prices, "gpt-4o", 0, 1_000_000) == {"cost": 2.0, "currency": "USD"}
    assert charge(prices, "unpriced", 10, 10) == {"cost": None, "currency": None}


# ---------------------------------------------------------------------------- the count


def test_used_today_sums_the_owners_rows_of_today_only(records) -> None:
    quota = Quota.for_records(records, 1000)
    me, other = "a" * 32, "b" * 32
    quota.record(spent(me, 100, 50), at=NOON - timedelta(hours=1))
    quota.record(spent(me, 10, 5, conversation_id="c" * 32, model="m", cost=0.1), at=NOON)
    quota.record(spent(other, 400, 0), at=NOON)
    quota.record(spent(me, 999, 999), at=datetime(2026, 12, 5, 23, 59, tzinfo=UTC))  # yesterday
    assert quota.used_today(me, now=NOON) == 165
    assert quota.used_today(other, now=NOON) == 400
    assert quota.used_today("c" * 32, now=NOON) == 0
    with records.engine.connect() as connection:
        row = connection.execute(select(UsageEvent).where(UsageEvent.cost.is_not(None))).one()
    assert (row.source, row.conversation_id, row.model, row.cost) == ("page", "c" * 32, "m", 0.1)


def test_left_uses_the_users_own_budget_over_the_default(records) -> None:
    quota = Quota.for_records(records, 1000)
    quota.record(spent("a" * 32, 300, 0), at=NOON)
    state = quota.left(user(), now=NOON)
    assert (state.used, state.budget, state.left, state.spent) == (300, 1000, 700, False)
    assert state.resets_at == datetime(2026, 12, 7, tzinfo=UTC)
    assert state.seconds_to_reset(NOON) == 12 * 3600
    own = quota.left(user(daily_tokens=300), now=NOON)
    assert (own.left, own.spent) == (0, True)
    # Zero is a budget (nothing at all), not "unlimited".
    assert quota.left(user(daily_tokens=0), now=NOON).spent


def test_no_budget_is_unlimited(records) -> None:
    quota = Quota.for_records(records, None)
    assert quota.left(user(), now=NOON) is None
    assert quota.left(user(daily_tokens=50), now=NOON).budget == 50
    assert quota.left(None, now=NOON) is None


def test_a_failing_database_costs_the_count_not_the_request(records, caplog) -> None:
    quota = Quota.for_records(records, 1000)
    with records.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE usage_events")
    with caplog.at_level(logging.ERROR, logger="services.quota"):
        assert quota.record(spent(prompt=5)) is False
        assert quota.record(spent(prompt=5)) is False
        assert quota.used_today("a" * 32) == 0
    said = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(said) == 1, said  # once per outage
    assert "no such table" in said[0].getMessage()


# ---------------------------------------------------------------------------- what the page says


def test_the_refusal_notice_says_the_budget_and_when_it_resets() -> None:
    entry = {
        "role": "error",
        "kind": "daily_quota",
        "detail": "",
        "quota": {"budget": 50000, "resets_at": "2026-12-07T00:00:00+00:00", "timezone": "UTC"},
    }
    at = datetime(2026, 12, 6, 20, 48, tzinfo=UTC)
    assert quota_notice(entry, lang="en", now=at) == (
        "You have used today's 50,000 tokens. It resets at 00:00 UTC (in 3 h 12 min)."
    )
    assert quota_notice(entry, lang="zh-cn", now=at) == (
        "今天的 50,000 tokens 已用完，将于 UTC 时间 00:00 重置（还有 3 小时 12 分钟）。"
    )
    # Drawn later (a reload after midnight): no "in ..." that went by.
    later = datetime(2026, 12, 7, 1, tzinfo=UTC)
    assert quota_notice(entry, lang="en", now=later).endswith("It resets at 00:00 UTC.")
    # The thread draws it as the error's text (components/message.py).
    assert "50,000 tokens" in str(error_message(entry, lang="en").to_plotly_json())


def test_a_notice_without_its_numbers_still_says_what_happened() -> None:
    for bad in (None, {"budget": "<b>1</b>"}, {"budget": True}):
        entry = {"role": "error", "kind": "daily_quota", "quota": bad}
        assert quota_notice(entry, lang="en") == (
            "You have used all of today's tokens. The count starts again at midnight."
        )


def test_a_refusal_keeps_its_numbers_in_the_thread() -> None:
    refusal = {
        "type": "daily_quota",
        "message": "...",
        "retry_after": 60,
        "quota": {"budget": 10, "used": 12, "resets_at": "x", "timezone": "UTC", "junk": 1},
    }
    [entry] = record_result([], result_from_event({"error": refusal}, ""), model="m")
    assert entry["quota"] == {"budget": 10, "resets_at": "x", "timezone": "UTC"}


def test_reset_wait_and_the_header_text() -> None:
    assert reset_wait(59, lang="en") == "1 min"
    assert reset_wait(3600, lang="en") == "1 h 0 min"
    assert reset_wait(11520, lang="zh-cn") == "3 小时 12 分钟"
    state = QuotaState(used=37_700, budget=50_000, resets_at=NOON)
    assert quota_left(state, lang="en") == "12,300 of 50,000 tokens left today"
    assert quota_left(state, lang="zh-cn") == "今日剩余 12,300 / 50,000 tokens"
