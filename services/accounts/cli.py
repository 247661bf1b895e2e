"""Operator commands for accounts (ACCOUNTS=true), on DATABASE_URL's database.

`python chat_app.py users add NAME [--admin] [--password-stdin]`, `users list`,
`users disable NAME`, `users enable NAME`, `users reset-password NAME [--password-stdin]`,
`users token NAME [--name LABEL]`, `users delete NAME --keep-records|--purge-records`.
The tables are created or upgraded first, so the first admin can be made on an empty database.
Passwords are read with getpass (twice) or from stdin; they never appear in argv or the output.
Exit status: 0 done, 1 refused (plain words on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from i18n import t
from services.accounts.repository import SESSION_PREFIX, AccountError, Accounts, UserView
from services.records import Records
from services.records.cli import start_command
from services.records.models import Conversation
from services.sessions import SessionStore


class Refused(Exception):
    """A command that cannot be done, with its reason in plain words."""


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python chat_app.py users",
        description="Accounts (ACCOUNTS=true) in DATABASE_URL's database.",
    )
    commands = main.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create an account (asks for its password)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an admin (the console, all records)")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    commands.add_parser("list", help="every account: name, role, state, quota, last active")
    for name, what in (("disable", "refuse its next request"), ("enable", "allow it again")):
        commands.add_parser(name, help=f"{name} an account ({what})").add_argument("name")
    reset = commands.add_parser("reset-password", help="set a new password")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true")
    token = commands.add_parser("token", help="make an API token (printed once)")
    token.add_argument("name")
    token.add_argument("--name", dest="label", default="", help="what the token is for")
    delete = commands.add_parser("delete", help="delete an account")
    delete.add_argument("name")
    keep = delete.add_mutually_exclusive_group()
    keep.add_argument(
        "--keep-records", action="store_true", help="keep its conversations (in exports)"
    )
    keep.add_argument("--purge-records", action="store_true", help="delete its conversations")
    return main


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise Refused("the two passwords differ; nothing was changed")
    return first


def _quota(user: UserView) -> str:
    return "default" if user.daily_tokens is None else f"{user.daily_tokens:,} tokens/day"


def _sign_out_everywhere(url: str, user: UserView) -> int:
    """End the user's sessions in every browser (after a password reset: whoever knew the old
    one is signed out too)."""
    store = SessionStore(url, idle=1, lifetime=1)
    try:
        store.create_table()
        return store.revoke_all(SESSION_PREFIX + user.id)
    finally:
        store.engine.dispose()


def _list(accounts: Accounts) -> None:
    users = accounts.list_users()
    if not users:
        print(
            "no accounts yet: make the first admin with `python chat_app.py users add NAME --admin`"
        )
        return
    rows = [("NAME", "ROLE", "STATE", "QUOTA", "LAST ACTIVE (UTC)")]
    for user in users:
        last = user.last_active_at.strftime("%Y-%m-%d %H:%M") if user.last_active_at else "never"
        state = "disabled" if user.disabled else "enabled"
        rows.append((user.username, user.role, state, _quota(user), last))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def _conversations_of(records: Records, user_id: str) -> int:
    with records.engine.connect() as connection:
        return connection.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.owner == user_id)
        )


def _delete(records: Records, url: str, accounts: Accounts, args: argparse.Namespace) -> None:
    user = accounts.by_name(args.name)
    if user is None:
        raise AccountError("accounts.no_such_user")
    purge = args.purge_records
    if not (args.keep_records or args.purge_records):
        if not sys.stdin.isatty():
            raise Refused("say what happens to the records: --keep-records or --purge-records")
        count = _conversations_of(records, user.id)
        answer = input(
            f"{user.username} has {count} conversation(s). Keep them (k) or purge them (p)? "
        )
        if answer.strip().lower() not in ("k", "keep", "p", "purge"):
            raise Refused("nothing was deleted (answer k or p)")
        purge = answer.strip().lower().startswith("p")
    if user.is_admin and not user.disabled and accounts.count_admins() == 1:
        raise Refused(f"{user.username} is the last admin; make another admin first")
    gone = accounts.delete_user(user.username, purge=purge)
    _sign_out_everywhere(url, user)
    accounts.audit("cli", "delete_user", user.username, "purged" if purge else "kept records")
    kept = f"deleted {gone} conversation(s)" if purge else "kept its conversations"
    print(f"deleted {user.username} ({kept})")


def _run(records: Records, url: str, args: argparse.Namespace) -> None:
    accounts = Accounts(records)
    if args.command == "list":
        _list(accounts)
    elif args.command == "add":
        password = _read_password(args.password_stdin)
        user = accounts.add_user(args.name, password, admin=args.admin)
        accounts.audit("cli", "add_user", user.username, user.role)
        print(f"added {user.username} ({user.role})")
    elif args.command in ("disable", "enable"):
        user = accounts.set_disabled(args.name, args.command == "disable")
        accounts.audit("cli", f"{args.command}_user", user.username)
        print(f"{user.username} is {args.command}d")
    elif args.command == "reset-password":
        if accounts.by_name(args.name) is None:  # before asking for a password
            raise AccountError("accounts.no_such_user")
        user = accounts.set_password(args.name, _read_password(args.password_stdin))
        accounts.audit("cli", "reset_password", user.username)
        ended = _sign_out_everywhere(url, user)
        print(f"new password set for {user.username} (signed out of {ended} session(s))")
    elif args.command == "token":
        user = accounts.by_name(args.name)
        if user is None:
            raise AccountError("accounts.no_such_user")
        token = accounts.create_token(user.id, args.label or "cli")
        accounts.audit("cli", "create_token", user.username, args.label)
        print(f"API token for {user.username} (shown once; keep it secret):", file=sys.stderr)
        print(token)
    else:
        _delete(records, url, accounts, args)


def main(argv: list[str] | None = None) -> int:
    """Run one `users` command (argv without the leading "users"); returns the exit status."""
    started = start_command(parser(), argv)
    if isinstance(started, int):
        return started
    args, settings, records = started
    try:
        records.upgrade()
        _run(records, settings.database_url, args)
    except AccountError as error:
        print(f"error: {t('en', error.key)}", file=sys.stderr)
        return 1
    except Refused as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("\nstopped; nothing was changed", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        print(f"error: database: {error}", file=sys.stderr)
        print("(is DATABASE_URL right?)", file=sys.stderr)
        return 1
    finally:
        records.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
