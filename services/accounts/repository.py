"""Users, API tokens and the audit log, in the records' database (the same engine and
migrations: services/records/models.py).

Names are unique without regard to case ("Amy" is "amy"). A disabled user is refused by
`authenticate`, `user` (what every request checks) and `user_for_token` alike, so disabling
takes effect at the user's next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from services.accounts import passwords
from services.records.models import (
    ApiToken,
    Attachment,
    AuditEntry,
    Conversation,
    User,
    new_id,
    utcnow,
)

ROLES = ("admin", "user")
NAME_MAX = 32
# Letters (any script: 张伟 is a name), digits, and . _ - ; no spaces, no markup.
NAME_RULE = re.compile(r"[\w.\-]{2,32}")
TOKEN_PREFIX = "cgpt_"
# What a signed-in user's session row holds (services/sessions.py), before the user's id.
SESSION_PREFIX = "user:"
# last_active_at is written at most this often per user (a page load is dozens of requests).
TOUCH_EVERY = 60


class AccountError(ValueError):
    """A refused account change; `key` is the i18n key of the reason (i18n/en.py)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


class UserView(BaseModel):
    """A user as the rest of the app sees it (never the password hash)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    username: str
    role: str
    disabled: bool
    daily_tokens: int | None
    created_at: datetime
    last_active_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class TokenView(BaseModel):
    """An API token as its owner sees it in a list: never the token itself."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


def name_key(username: str) -> str:
    # PostgreSQL refuses NUL in a query; U+FFFD is in no name either (NAME_RULE), so no match.
    return unicodedata.normalize("NFKC", username).casefold().replace("\x00", "\ufffd")


def check_name(username: str) -> str:
    """The name as it will be stored (NFKC), or AccountError."""
    name = unicodedata.normalize("NFKC", username or "").strip()
    if not NAME_RULE.fullmatch(name):
        raise AccountError("accounts.bad_name")
    return name


def _check_password(password: str) -> None:
    problem = passwords.password_problem(password or "")
    if problem:
        raise AccountError(problem)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """The accounts in `records`' database (a services.records.repository.Records)."""

    def __init__(self, records):
        self.engine = records.engine
        self._writer = getattr(records, "_writer", records.engine)
        self._records = records

    # ---- users

    def add_user(self, username: str, password: str, *, admin: bool = False) -> UserView:
        name = check_name(username)
        _check_password(password)
        user = {
            "id": new_id(),
            "username": name,
            "username_key": name_key(name),
            "password_hash": passwords.hash_password(password),
            "role": "admin" if admin else "user",
            "disabled": False,
            "created_at": utcnow(),
        }
        try:
            with self._writer.begin() as connection:
                connection.execute(User.__table__.insert().values(**user))
        except IntegrityError:
            raise AccountError("accounts.name_taken") from None
        return self.user(user["id"], include_disabled=True)

    def user(self, user_id: str | None, *, include_disabled: bool = False) -> UserView | None:
        """The user with this id; a disabled one only when asked for."""
        if not user_id:
            return None
        with self.engine.connect() as connection:
            row = connection.execute(select(User).where(User.id == user_id)).first()
        if row is None or (row.disabled and not include_disabled):
            return None
        return UserView.model_validate(row)

    def by_name(self, username: str) -> UserView | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(User).where(User.username_key == name_key(username or ""))
            ).first()
        return UserView.model_validate(row) if row else None

    def authenticate(self, username: str, password: str) -> UserView | None:
        """The enabled user with this name and password, else None (same time either way)."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(User).where(User.username_key == name_key(username or ""))
            ).first()
        if not passwords.verify(row.password_hash if row else None, password or ""):
            return None
        if row.disabled:
            return None
        if passwords.needs_rehash(row.password_hash):
            self._set(row.id, password_hash=passwords.hash_password(password))
        return UserView.model_validate(row)

    def list_users(self) -> list[UserView]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(User).order_by(User.username_key)).all()
        return [UserView.model_validate(row) for row in rows]

    def count_admins(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(
                select(func.count()).where(User.role == "admin", User.disabled.is_(False))
            )

    def _set(self, user_id: str, **values) -> bool:
        with self._writer.begin() as connection:
            done = connection.execute(update(User).where(User.id == user_id).values(**values))
        return done.rowcount > 0

    def _id_of(self, username: str) -> str:
        found = self.by_name(username)
        if found is None:
            raise AccountError("accounts.no_such_user")
        return found.id

    def set_disabled(self, username: str, disabled: bool) -> UserView:
        user_id = self._id_of(username)
        self._set(user_id, disabled=disabled)
        return self.user(user_id, include_disabled=True)

    def set_password(self, username: str, password: str) -> UserView:
        _check_password(password)
        user_id = self._id_of(username)
        self._set(user_id, password_hash=passwords.hash_password(password))
        return self.user(user_id, include_disabled=True)

    def set_role(self, username: str, role: str) -> UserView:
        if role not in ROLES:
            raise AccountError("accounts.bad_role")
        user_id = self._id_of(username)
        self._set(user_id, role=role)
        return self.user(user_id, include_disabled=True)

    def set_daily_tokens(self, username: str, tokens: int | None) -> UserView:
        """A user's own daily token budget; None goes back to USER_DAILY_TOKENS."""
        if tokens is not None and (not isinstance(tokens, int) or tokens < 0):
            raise AccountError("accounts.bad_quota")
        user_id = self._id_of(username)
        self._set(user_id, daily_tokens=tokens)
        return self.user(user_id, include_disabled=True)

    def touch(self, user: UserView) -> None:
        """Note the user's activity, at most once a minute (a page load is many requests)."""
        now = utcnow()
        if user.last_active_at and (now - user.last_active_at).total_seconds() < TOUCH_EVERY:
            return
        self._set(user.id, last_active_at=now)

    def delete_user(self, username: str, *, purge: bool) -> int:
        """Delete the account and its tokens; `purge` deletes its conversations too (their
        messages go with them). Returns how many conversations were deleted."""
        user_id = self._id_of(username)
        attachments: list[str] = []
        with self._writer.begin() as connection:
            gone = 0
            if purge:
                # All of the user's attachments, also those never sent (in no conversation).
                attachments = list(
                    connection.scalars(select(Attachment.id).where(Attachment.owner == user_id))
                )
                connection.execute(delete(Attachment).where(Attachment.owner == user_id))
                gone = connection.execute(
                    delete(Conversation).where(Conversation.owner == user_id)
                ).rowcount
            connection.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
            connection.execute(delete(User).where(User.id == user_id))
        if attachments and hasattr(self._records, "attachments_deleted"):
            self._records.attachments_deleted(attachments)
        return gone

    # ---- API tokens

    def create_token(self, user_id: str, name: str = "") -> str:
        """A new token for the user, returned once; only its hash is kept."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._writer.begin() as connection:
            connection.execute(
                ApiToken.__table__.insert().values(
                    user_id=user_id,
                    name=(name or "").strip()[:64],
                    token_hash=_token_hash(token),
                    prefix=token[: len(TOKEN_PREFIX) + 4],
                    created_at=utcnow(),
                )
            )
        return token

    def tokens(self, user_id: str) -> list[TokenView]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
            ).all()
        return [TokenView.model_validate(row) for row in rows]

    def revoke_token(self, user_id: str, token_id: int) -> bool:
        """Delete one of the user's own tokens (another user's id does nothing)."""
        with self._writer.begin() as connection:
            done = connection.execute(
                delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
            )
        return done.rowcount > 0

    def user_for_token(self, token: str) -> UserView | None:
        """The enabled user a bearer token belongs to, or None."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
            return None
        with self.engine.connect() as connection:
            row = connection.execute(
                select(ApiToken.id, ApiToken.user_id, ApiToken.last_used_at).where(
                    ApiToken.token_hash == _token_hash(token)
                )
            ).first()
        if row is None:
            return None
        user = self.user(row.user_id)
        now = utcnow()
        if user is not None and (
            row.last_used_at is None or (now - row.last_used_at).total_seconds() >= TOUCH_EVERY
        ):
            # At most once a minute: a script's every request would otherwise be a write.
            with self._writer.begin() as connection:
                connection.execute(
                    update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
                )
        return user

    # ---- audit

    def audit(self, actor: str, action: str, target: str = "", detail: str = "") -> None:
        """Write down an admin action."""
        with self._writer.begin() as connection:
            connection.execute(
                AuditEntry.__table__.insert().values(
                    at=utcnow(),
                    actor=actor[:64],
                    action=action[:32],
                    target=(target or "")[:64],
                    detail=detail or "",
                )
            )

    # ---- adoption

    def adopt(self, browser_owner: str, user_id: str) -> int:
        """Move what an anonymous browser identity had into the account (once: afterwards
        that identity owns nothing). Returns how many conversations moved."""
        if not browser_owner or browser_owner == user_id:
            return 0
        with self._writer.begin() as connection:
            return connection.execute(
                update(Conversation)
                .where(Conversation.owner == browser_owner)
                .values(owner=user_id)
            ).rowcount
