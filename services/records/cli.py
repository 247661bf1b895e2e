"""Operator commands for the records database (DATABASE_URL from the app's settings).

Run as `python -m services.records.cli ...`:
- `db upgrade`: create or upgrade the tables;
- `records export --format jsonl|csv [--since YYYY-MM-DD] [--output FILE]`: every message,
  with a reply's 👍 / 👎 (`feedback`: up | down), its comment and when it was given, and a
  question's attachments (`attachments`: name, type, size and id of each);
- `records purge [--days N]`: delete conversations not updated for N days (default:
  RECORDS_RETENTION_DAYS), with their attachments' files, and uploads never sent that are
  older than ATTACHMENT_TTL_HOURS.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from config import load_settings
from services.attachments.store import AttachmentStore, delete_files_with
from services.records import Records

COLUMNS = [
    "conversation_id",
    "owner",
    "title",
    "persona",
    "seq",
    "role",
    "content",
    "model",
    "status",
    "error_kind",
    "error_detail",
    "prompt_tokens",
    "completion_tokens",
    "created_at",
    "feedback",
    "feedback_comment",
    "feedback_at",
    "attachments",  # JSON text in CSV: a question's [{"id", "name", "kind", "mime", "size"}]
]


def _day(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of days (1 or more): {value!r}")
    return days


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m services.records.cli",
        description="Operator commands for the conversation records (DATABASE_URL).",
    )
    groups = main.add_subparsers(dest="group", required=True)

    db = groups.add_parser("db", help="the database schema").add_subparsers(
        dest="command", required=True
    )
    db.add_parser("upgrade", help="create or upgrade the tables (safe to repeat)")

    records = groups.add_parser("records", help="the stored conversations").add_subparsers(
        dest="command", required=True
    )
    export = records.add_parser("export", help="every message, one row each")
    export.add_argument("--format", choices=["jsonl", "csv"], required=True)
    export.add_argument(
        "--since", type=_day, help="only messages from this day on (YYYY-MM-DD, UTC)"
    )
    export.add_argument("--output", metavar="FILE", help="write here instead of to stdout")
    purge = records.add_parser("purge", help="delete conversations not updated for N days")
    purge.add_argument(
        "--days", type=_days, help="default: RECORDS_RETENTION_DAYS from the settings"
    )
    return main


def _export(records, args: argparse.Namespace) -> None:
    rows = records.export(since=args.since)
    # Query before opening the output: a database error then leaves no half-written file.
    first = next(rows, None)
    rows = itertools.chain([first] if first else [], rows)
    if args.output:
        out = open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    else:
        out = sys.stdout
        if hasattr(out, "reconfigure"):
            # Content is in every language: a C locale must not make it an encoding error.
            out.reconfigure(encoding="utf-8")
    try:
        if args.format == "jsonl":
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(_csv_row(row) for row in rows)
    finally:
        if out is not sys.stdout:
            out.close()


def _csv_row(row: dict) -> dict:
    if row.get("attachments") is not None:
        row = {**row, "attachments": json.dumps(row["attachments"], ensure_ascii=False)}
    return row


def start_command(command: argparse.ArgumentParser, argv: list[str] | None):
    """What every operator command starts with: its arguments, the settings and the records
    (whose deleted conversations take their attachments' files with them); or the exit status
    when the arguments or the settings are wrong (argparse has printed the usage)."""
    try:
        args = command.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse has already printed
        return stop.code if isinstance(stop.code, int) else 2
    try:
        settings = load_settings()
    except ValidationError as error:
        print(f"error: invalid settings:\n{error}", file=sys.stderr)
        return 2
    records = Records(settings.database_url)
    delete_files_with(records, settings.attachment_dir)
    return args, settings, records


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    started = start_command(parser(), argv)
    if isinstance(started, int):
        return started
    args, settings, records = started
    try:
        if args.group == "db":
            records.upgrade()
            print("database is up to date")
        elif args.command == "export":
            _export(records, args)
        else:
            days = args.days or settings.records_retention_days
            if days is None:
                print(
                    "error: how old? Give --days N or set RECORDS_RETENTION_DAYS.",
                    file=sys.stderr,
                )
                return 2
            deleted = records.purge(older_than_days=days)
            print(f"deleted {deleted} conversation(s) not updated for {days} day(s)")
            # Uploads never sent (older than ATTACHMENT_TTL_HOURS) and files left without a row.
            abandoned = AttachmentStore(
                records.engine, Path(settings.attachment_dir), settings
            ).purge()
            if abandoned:
                print(f"deleted {abandoned} attachment(s) that were never sent")
    except SQLAlchemyError as error:
        print(f"error: database: {error}", file=sys.stderr)
        print("(is DATABASE_URL right, and has `db upgrade` been run?)", file=sys.stderr)
        return 1
    finally:
        records.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
