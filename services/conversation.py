"""The conversation as the browser stores it, and the message list that goes upstream.

The browser keeps a list of entries in a `dcc.Store`:
  {"role": "user", "content": ...}
  {"role": "assistant", "content": ..., "model": ..., "usage": {...} | None, "status": ...}
  {"role": "error", "kind": ..., "detail": ...}
Only complete rounds (a user entry answered by an assistant entry) are context; errors and
unanswered questions are shown to the user but never sent upstream again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

# Assistant `status` values: how the reply ended.
DONE, STOPPED, CUT, LENGTH = "done", "stopped", "cut", "length"
# A reply on record while it streams, and one whose process died or stopped mid-reply
# (services/records/journal.py).
STREAMING, INTERRUPTED = "streaming", "interrupted"
# A reply whose page was reloaded or closed mid-reply while the server keeps no records: the
# page kept what it had in the browser's copy (assets/chat.js `keepLeftReply`).
LEFT = "left"
# The final event's error when the server stops mid-reply (services/recording.py).
SERVER_STOPPING = "server_stopping"


def complete_rounds(history: Iterable[dict]) -> list[tuple[dict, dict]]:
    """(question, answer) pairs in order; a question without an answer is not a round."""
    rounds = []
    pending_question = None
    for entry in history:
        role = entry.get("role")
        if role == "user":
            pending_question = entry
        elif role == "assistant" and pending_question is not None:
            # A reply stopped before any text answered nothing; the question stays unanswered.
            if entry.get("content"):
                rounds.append((pending_question, entry))
            pending_question = None
        else:
            pending_question = None
    return rounds


def retry_question(history: list[dict], error_index: int) -> int | None:
    """Index of the question that a retry of the error at `error_index` asks again, or None.

    The failed attempt (the error, and a reply cut part-way before it) is dropped; what is
    left must end with the question.
    """
    at = error_index - 1
    cut = history[at].get("status") in (CUT, INTERRUPTED, LEFT) if at >= 0 else False
    if cut and history[at].get("role") == "assistant":
        at -= 1
    if at >= 0 and history[at].get("role") == "user":
        return at
    return None


def user_content(text: str, images: list[dict] | tuple = ()) -> str | list[dict]:
    """A question's content upstream: its text, or with images, content parts (the text
    first, then each `image_url` part; a picture asked about without words has no text)."""
    if not images:
        return text
    return [*([{"type": "text", "text": text}] if text else []), *images]


def with_text_before(content: str | list[dict], text: str) -> str | list[dict]:
    """`content` with `text` put before its text (a question's documents go first)."""
    if isinstance(content, str):
        return f"{text}\n\n{content}" if content else text
    first, *rest = content
    if first.get("type") != "text":
        return [{"type": "text", "text": text}, *content]
    return [{"type": "text", "text": f"{text}\n\n{first['text']}"}, *rest]


def build_upstream_messages(
    history: list[dict],
    question: str,
    *,
    multi_turn: bool,
    max_rounds: int,
    system_prompt: str | None = None,
    images: list[dict] | tuple = (),
    earlier_images: Callable[[dict], list[dict]] | None = None,
) -> list[dict]:
    """The messages for one request: optional system prompt, the kept rounds, the new question.

    Multi-turn off sends only the question. On, the newest `max_rounds` rounds go along; the
    oldest are dropped first so the newest context survives. `images` are the question's
    image parts; `earlier_images(entry)` gives an earlier question's (from its attachments),
    which go again while their round is in the context.
    """
    messages: list[dict] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    if multi_turn and max_rounds > 0:
        for asked, answered in complete_rounds(history)[-max_rounds:]:
            seen = earlier_images(asked) if earlier_images and asked.get("attachments") else []
            messages.append({"role": "user", "content": user_content(asked["content"], seen)})
            messages.append({"role": "assistant", "content": answered["content"]})
    messages.append({"role": "user", "content": user_content(question, images)})
    return messages


def result_from_event(event: dict, content: str) -> dict:
    """How a turn ended, from the stream's final event (the same shape the page reports)."""
    if event.get("done"):
        status = LENGTH if event.get("finish_reason") == "length" else DONE
        result = {"status": status, "content": content, "usage": event.get("usage")}
        if event.get("context"):
            result["context"] = event["context"]
        if status == LENGTH and event.get("quota_cut") is True:
            result["quota_cut"] = True  # its length was what was left of the day (api/usage.py)
        return result
    return {"status": "error", "content": content, "error": event.get("error") or {}}


def record_result(history: list[dict], result: dict, *, model: str) -> list[dict]:
    """Append how a streamed turn ended, as the browser reported it.

    `result`: {"status": "done" | "length" | "stopped" | "error", "content", "usage", "error"}.
    Text that arrived before an error is kept, marked as cut (interrupted when the server
    stopped), ahead of the error itself.
    """
    history = list(history)
    status = result.get("status")
    content = result.get("content") or ""
    if status in (DONE, LENGTH, STOPPED):
        reply = {
            "role": "assistant",
            "content": content,
            "model": model,
            "usage": result.get("usage"),
            "status": status,
        }
        if result.get("context"):
            reply["context"] = result["context"]
        if status == LENGTH and result.get("quota_cut") is True:
            reply["quota_cut"] = True
        history.append(reply)
        return history
    error = result.get("error") or {}
    if content:
        cut = INTERRUPTED if error.get("type") == SERVER_STOPPING else CUT
        history.append({"role": "assistant", "content": content, "model": model, "status": cut})
    entry = {
        "role": "error",
        "kind": error.get("type") or "internal_error",
        "detail": error.get("detail") or "",
    }
    if isinstance(error.get("retry_after"), int):
        entry["retry_after"] = error["retry_after"]  # a limit: the page says how long to wait
    if isinstance(error.get("quota"), dict):
        # A daily quota's refusal: its budget and reset time, for the notice (components/usage).
        quota = error["quota"]
        entry["quota"] = {k: quota[k] for k in ("budget", "resets_at", "timezone") if k in quota}
    history.append(entry)
    return history
