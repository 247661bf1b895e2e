"""A deployment's worth of records for the admin console: users, conversations, messages,
usage_events, feedback and audit entries, written with bulk inserts (executemany).

Used by the console's tests (small) and by bench/admin_console.py (500 users, 100,000
messages). Deterministic for a given `seed`; times spread over the `days` before `now`.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from services.accounts import passwords
from services.records.models import (
    AuditEntry,
    Conversation,
    Message,
    UsageEvent,
    User,
    new_id,
)

PASSWORD = "seeded-password-1"
MODELS = ("gpt-4o-mini", "gpt-4o", "o3-mini")
PERSONAS = (None, "teacher", "translator", "coder")
WORDS = ("photosynthesis", "fractions", "essay", "python", "history", "grammar", "atoms")
BATCH = 5000


def _batches(connection, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        connection.execute(insert(table), rows[start : start + BATCH])


def seed(
    engine,
    *,
    users: int = 20,
    messages: int = 400,
    per_conversation: int = 10,
    days: int = 30,
    now: datetime | None = None,
    seed: int = 17,
    admin_name: str = "admin",
    password: str = PASSWORD,
) -> dict:
    """Write the records; returns {"admin": id, "users": [ids], "conversations": [ids]}."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    # One hash for every seeded user: argon2 is slow on purpose (500 hashes take minutes).
    hashed = passwords.hash_password(password)
    user_rows = []
    for n in range(users):
        name = admin_name if n == 0 else f"student{n:03d}"
        user_rows.append(
            {
                "id": new_id(),
                "username": name,
                "username_key": name.casefold(),
                "password_hash": hashed,
                "role": "admin" if n == 0 else "user",
                "disabled": False,
                "daily_tokens": None if n % 7 else 50_000,
                "created_at": now - timedelta(days=days + 1),
                "last_active_at": now - timedelta(minutes=rng.randint(1, days * 1440)),
            }
        )
    owners = [row["id"] for row in user_rows]
    conversation_rows, message_rows, usage_rows = [], [], []
    message_id = 0
    for _ in range(max(1, messages // per_conversation)):
        cid = new_id()
        owner = rng.choice(owners)
        model = rng.choice(MODELS)
        persona = rng.choice(PERSONAS)
        started = now - timedelta(seconds=rng.randint(60, days * 86400))
        at = started
        topic = rng.choice(WORDS)
        for seq in range(1, per_conversation + 1):
            message_id += 1
            at = min(at + timedelta(seconds=rng.randint(5, 300)), now)
            row = {
                "id": message_id,
                "conversation_id": cid,
                "seq": seq,
                "role": "user" if seq % 2 else "assistant",
                "content": f"question {seq // 2 + 1} about {topic}"
                if seq % 2
                else f"An answer about **{topic}**, part {seq // 2}.",
                "model": None,
                "status": None,
                "prompt_tokens": None,
                "completion_tokens": None,
                "created_at": at,
                "feedback": None,
                "feedback_comment": None,
                "feedback_at": None,
            }
            if seq % 2 == 0:
                prompt, completion = rng.randint(20, 400), rng.randint(50, 800)
                row.update(
                    model=model, status="done", prompt_tokens=prompt, completion_tokens=completion
                )
                if rng.random() < 0.15:
                    up = rng.random() < 0.7
                    row.update(
                        feedback="up" if up else "down",
                        feedback_comment=None if up else "not what I asked",
                        feedback_at=at,
                    )
                usage_rows.append(
                    {
                        "at": at,
                        "owner": owner,
                        "conversation_id": cid,
                        "source": "page",
                        "model": model,
                        "persona": persona,
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "cost": round((prompt * 0.15 + completion * 0.6) / 1e6, 8),
                        "currency": "USD",
                    }
                )
            message_rows.append(row)
        conversation_rows.append(
            {
                "id": cid,
                "owner": owner,
                "title": f"About {topic}",
                "model": model,
                "persona": persona,
                "created_at": started,
                "updated_at": at,
                "last_seq": per_conversation,
                "prompt_tokens": 0,
                "completion_tokens": 0,
            }
        )
    audit_rows = [
        {
            "at": now - timedelta(hours=n),
            "actor": admin_name,
            "action": "user.create",
            "target": f"student{n:03d}",
            "detail": "",
        }
        for n in range(1, min(users, 30))
    ]
    with engine.begin() as connection:
        _batches(connection, User.__table__, user_rows)
        _batches(connection, Conversation.__table__, conversation_rows)
        _batches(connection, Message.__table__, message_rows)
        _batches(connection, UsageEvent.__table__, usage_rows)
        if audit_rows:
            _batches(connection, AuditEntry.__table__, audit_rows)
    return {
        "admin": owners[0],
        "users": owners,
        "conversations": [row["id"] for row in conversation_rows],
    }
