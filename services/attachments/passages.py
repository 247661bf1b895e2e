"""Documents' passages in the database, and their full-text search.

Both databases index the column `terms` with their simplest rules (SQLite FTS5's unicode61,
PostgreSQL's 'simple' configuration): words as they are, lowercased. Neither cuts Chinese into
words, so `terms` writes each run of CJK characters as its overlapping pairs ("季度报告" ->
"季度 度报 报告"); a question made into terms the same way finds the pairs it shares with a
passage, with no dictionary.

A question is never put into a query as it is: only its terms are, each quoted, so quotes, `*`,
`NEAR`, `AND`, `-`, `:` or brackets in it are searched for as words or not at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.engine import Connection

from services.attachments.documents import TOKEN_MODEL, Passage
from services.records.models import AttachmentPassage
from services.tokens import count_text

# Han characters (with their extensions and compatibility forms) and kana: written without
# spaces between words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_TERM = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
# A "word" longer than this is a hash, a base64 blob or a URL's remains: not worth indexing.
MAX_TERM_CHARS = 64
# A question's terms in one query, at most (the first ones).
MAX_QUERY_TERMS = 48
# English words too common to tell passages apart. Left out of a question's query (unless it
# has nothing else): PostgreSQL's ts_rank has no idea how common a word is, and in SQLite they
# only make the query slower.
_STOP_TEXT = (
    "a an and are as at be been but by can could did do does for from had has have how i if"
    " in into is it its me my no not of on or our she he so than that the their them then"
    " there these they this those to was we were what when where which who whom why will"
    " with would you your about tell say said please"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True, slots=True)
class Found:
    """A stored passage: of which attachment, where in it, its text, tokens and order."""

    attachment_id: str
    location: str
    text: str
    tokens: int
    seq: int


def terms(text: str) -> str:
    """The search terms of `text`: its words lowercased, and each run of CJK characters as
    overlapping pairs (a lone character as itself), separated by spaces."""
    out: list[str] = []
    for cjk, word in _TERM.findall(unicodedata.normalize("NFKC", text).lower()):
        if word:
            if len(word) <= MAX_TERM_CHARS:
                out.append(word)
        elif len(cjk) == 1:
            out.append(cjk)
        else:
            out.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
    return " ".join(out)


def save_passages(connection: Connection, attachment_id: str, passages: list[Passage]) -> int:
    """Store an attachment's passages (in the caller's transaction); their total tokens."""
    rows = []
    for seq, passage in enumerate(passages):
        tokens = count_text(passage.text, TOKEN_MODEL)
        rows.append(
            {
                "attachment_id": attachment_id,
                "seq": seq,
                "location": passage.location[:200],
                "text": passage.text,
                # The place too, so that "what does page 12 say?" finds page 12.
                "terms": terms(f"{passage.location}\n{passage.text}"),
                "tokens": tokens,
            }
        )
    if rows:
        connection.execute(insert(AttachmentPassage), rows)
    return sum(row["tokens"] for row in rows)


def query_terms(question: str) -> list[str]:
    """The distinct terms of a question worth searching for, in order, at most
    MAX_QUERY_TERMS."""
    found = list(dict.fromkeys(terms(question).split()))
    telling = [term for term in found if term not in _STOP_WORDS]
    return (telling or found)[:MAX_QUERY_TERMS]


def search(
    connection: Connection, attachment_ids: list[str], question: str, *, limit: int
) -> list[Found]:
    """The passages of these attachments that best match `question`, best first (at most
    `limit`; none when the question has no terms)."""
    words = query_terms(question)
    if not attachment_ids or not words or limit <= 0:
        return []
    if connection.dialect.name == "postgresql":
        # Terms are letters and digits only, so quoting them is enough to make them lexemes.
        query = " | ".join(f"'{word}'" for word in words)
        statement = text(
            "SELECT p.attachment_id, p.location, p.text, p.tokens, p.seq "
            "FROM attachment_passages p, to_tsquery('simple', :query) q "
            "WHERE p.attachment_id IN :ids AND p.search @@ q "
            "ORDER BY ts_rank(p.search, q) DESC, p.attachment_id, p.seq LIMIT :limit"
        )
    else:
        # FTS5 strings in double quotes are plain terms, never operators (NEAR, AND, *, ^...).
        query = " OR ".join(f'"{word}"' for word in words)
        statement = text(
            "SELECT p.attachment_id, p.location, p.text, p.tokens, p.seq "
            "FROM attachment_passages_fts f JOIN attachment_passages p ON p.id = f.rowid "
            "WHERE attachment_passages_fts MATCH :query AND p.attachment_id IN :ids "
            "ORDER BY bm25(attachment_passages_fts), p.attachment_id, p.seq LIMIT :limit"
        )
    statement = statement.bindparams(bindparam("ids", expanding=True))
    rows = connection.execute(
        statement, {"query": query, "ids": list(attachment_ids), "limit": limit}
    )
    return [Found(*row) for row in rows]


def all_passages(
    connection: Connection, attachment_id: str, *, limit: int | None = None
) -> list[Found]:
    """An attachment's passages, in order (only the first `limit` when given)."""
    table = AttachmentPassage
    query = (
        select(table.attachment_id, table.location, table.text, table.tokens, table.seq)
        .where(table.attachment_id == attachment_id)
        .order_by(table.seq)
    )
    if limit is not None:
        query = query.limit(limit)
    return [Found(*row) for row in connection.execute(query)]
