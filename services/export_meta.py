"""What an export keeps for programs: each reply's model and tokens, and who the file is.

A reply's model and usage go in a comment line right after its marker, which Markdown viewers
hide:

    <!-- chat-message role=assistant status=done -->
    <!-- chat-meta {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 12, ...}} -->
    ### Assistant

The file comes back from anyone, so the comment is read with pydantic and anything that is not
exactly what this app writes (bad JSON, wrong types, too long) is ignored: the reply is then
imported as an old export's would be, without model and tokens.

`fingerprint` names a conversation by what it says (roles, texts, statuses, models, tokens),
not by when it was exported, so the same conversation exported twice is recognised on import.
"""

from __future__ import annotations

import hashlib
import json
import re

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

META_MAX_CHARS = 2_000
META_START = "<!-- chat-meta "
META = re.compile(r"^<!-- chat-meta (\{.*\}) -->$")
# A count no reply comes near; larger ones are someone's made-up file.
MAX_TOKENS = 100_000_000
# So `-->` (or any markup) cannot appear in the comment whatever a model id holds.
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


class Usage(BaseModel):
    """A reply's token counts, as the page keeps them (`estimated` when counted locally)."""

    model_config = ConfigDict(extra="ignore")

    prompt_tokens: StrictInt | None = Field(default=None, ge=0, le=MAX_TOKENS)
    completion_tokens: StrictInt | None = Field(default=None, ge=0, le=MAX_TOKENS)
    total_tokens: StrictInt | None = Field(default=None, ge=0, le=2 * MAX_TOKENS)
    estimated: StrictBool | None = None


class ReplyMeta(BaseModel):
    """The `chat-meta` comment of one reply."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(default=None, min_length=1, max_length=200)
    usage: Usage | None = None


def meta_line(entry: dict) -> str | None:
    """The comment for an assistant entry, or None when it has no model and no usage."""
    try:
        meta = ReplyMeta.model_validate(
            {"model": entry.get("model") or None, "usage": entry.get("usage")}
        )
    except ValidationError:
        # What the page holds is not ours to fix here: keep what is valid of it.
        meta = ReplyMeta(model=_valid_model(entry.get("model")))
    data = meta.model_dump(exclude_none=True)
    if not data:
        return None
    text = json.dumps(data, ensure_ascii=False, separators=(", ", ": ")).translate(_HTML_SAFE)
    return f"<!-- chat-meta {text} -->"


def _valid_model(model: object) -> str | None:
    try:
        return ReplyMeta.model_validate({"model": model}).model
    except ValidationError:
        return None


def read_meta(line: str) -> dict | None:
    """`{"model", "usage"}` (those present and valid) from a `chat-meta` line.

    None when the line is not a `chat-meta` comment at all; `{}` when it is one but what it
    holds is not valid (bad JSON, wrong types, too long): the reply then has no model and
    tokens, and the comment still never becomes part of its text.
    """
    if not (line.startswith(META_START) and line.endswith(" -->")):
        return None
    match = META.match(line) if len(line) <= META_MAX_CHARS else None
    if not match:
        return {}
    try:
        meta = ReplyMeta.model_validate_json(match.group(1))
    except ValidationError:
        return {}
    return meta.model_dump(exclude_none=True)


def fingerprint(entries: list[dict]) -> str:
    """A stable hash of the user and assistant turns (what an export keeps of them)."""
    kept = [
        [
            entry.get("role"),
            entry.get("content") or "",
            entry.get("status"),
            entry.get("model"),
            entry.get("usage"),
        ]
        for entry in entries
        if entry.get("role") in ("user", "assistant")
    ]
    canonical = json.dumps(kept, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def import_id(owner: str, print_: str) -> str:
    """The id an import of the conversation with fingerprint `print_` gets for `owner`: the
    same file imported again lands on the same id, so it is found instead of copied."""
    return hashlib.sha256(f"{owner}\n{print_}".encode()).hexdigest()[:32]
