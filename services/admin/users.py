"""What an admin does to accounts from the console, with the console's rules, each action
written to the audit log (`Accounts.audit`).

The rules: nobody disables, demotes or deletes their own account from the console (they
would lock themselves out mid-session), and the last enabled admin is never disabled,
demoted or deleted, so the deployment always keeps someone who can run it.
"""

from __future__ import annotations

from services.accounts import AccountError, Accounts, UserView


class AdminActions:
    """Account changes made by `actor` (an admin) through `accounts`."""

    def __init__(self, accounts: Accounts, actor: UserView):
        self.accounts = accounts
        self.actor = actor

    def _target(self, user_id: str) -> UserView:
        user = self.accounts.user(user_id, include_disabled=True)
        if user is None:
            raise AccountError("accounts.no_such_user")
        return user

    def _may_lose_admin(self, user: UserView) -> None:
        """Refuse taking away an admin's access when it is the actor's or the last one."""
        if user.id == self.actor.id:
            raise AccountError("admin.not_yourself")
        if user.is_admin and not user.disabled and self.accounts.count_admins() <= 1:
            raise AccountError("admin.last_admin")

    def _audit(self, action: str, target: str, detail: str = "") -> None:
        self.accounts.audit(self.actor.username, action, target, detail)

    def create(self, username: str, password: str, *, admin: bool = False) -> UserView:
        user = self.accounts.add_user(username, password, admin=admin)
        self._audit("user.create", user.username, "admin" if admin else "user")
        return user

    def set_disabled(self, user_id: str, disabled: bool) -> UserView:
        user = self._target(user_id)
        if disabled:
            self._may_lose_admin(user)
        changed = self.accounts.set_disabled(user.username, disabled)
        self._audit("user.disable" if disabled else "user.enable", user.username)
        return changed

    def set_role(self, user_id: str, role: str) -> UserView:
        user = self._target(user_id)
        if role != "admin":
            self._may_lose_admin(user)
        changed = self.accounts.set_role(user.username, role)
        self._audit("user.role", user.username, role)
        return changed

    def reset_password(self, user_id: str, password: str) -> UserView:
        user = self._target(user_id)
        changed = self.accounts.set_password(user.username, password)
        self._audit("user.password", user.username)  # never the password itself
        return changed

    def set_quota(self, user_id: str, tokens: int | None) -> UserView:
        user = self._target(user_id)
        changed = self.accounts.set_daily_tokens(user.username, tokens)
        self._audit("user.quota", user.username, "default" if tokens is None else str(tokens))
        return changed

    def delete(self, user_id: str, *, purge: bool) -> int:
        user = self._target(user_id)
        self._may_lose_admin(user)
        gone = self.accounts.delete_user(user.username, purge=purge)
        self._audit("user.delete", user.username, f"purged {gone} conversations" if purge else "")
        return gone
