"""Token counts and context windows, offline.

Counts use `bpe-openai`, whose encodings (o200k_base, cl100k_base) ship inside the wheel; tiktoken
would download them on first use and fail without internet.

OpenAI models are counted with their own encoding, so their counts are exact for text. Every
other model (llama3, qwen2.5, deepseek-chat, an Azure deployment with a custom name...) is
counted with o200k_base: an estimate, since those models have tokenizers of their own.

The first count with an encoding loads it: `import bpe_openai` reads the bundled encodings
(about 0.4 s) and each encoding then takes tens of milliseconds and tens of megabytes. Both happen
once per process; importing this module costs nothing until a count is asked for.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bpe_openai import Encoding

O200K = "o200k_base"
CL100K = "cl100k_base"
# For model names this module does not know: the encoding of current OpenAI models.
FALLBACK_ENCODING = O200K

# Checked in this order, by prefix of the normalised name ("gpt-4o" before "gpt-4").
_ENCODING_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", O200K),
    ("gpt-4.1", O200K),
    ("gpt-4.5", O200K),
    ("gpt-5", O200K),
    ("chatgpt-4o", O200K),
    ("o1", O200K),
    ("o3", O200K),
    ("o4", O200K),
    ("gpt-4", CL100K),  # gpt-4, gpt-4-turbo, gpt-4-32k (the o200k families are matched above)
    ("gpt-3.5", CL100K),
    ("gpt-35", CL100K),  # Azure's spelling: gpt-35-turbo
    ("text-embedding-3", CL100K),
    ("text-embedding-ada-002", CL100K),
)

# Context windows in tokens, by the longest matching prefix of the normalised name.
_CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4o": 128_000,
    "chatgpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.5": 128_000,
    "gpt-5": 400_000,
    "gpt-5-chat": 128_000,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o1-preview": 128_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "gpt-4": 8_192,
    "gpt-4-32k": 32_768,
    "gpt-4-turbo": 128_000,
    "gpt-4-1106": 128_000,
    "gpt-4-0125": 128_000,
    "gpt-3.5-turbo": 16_385,
    "gpt-35-turbo": 16_385,
    "gpt-3.5-turbo-instruct": 4_096,
    "llama3": 8_192,
    "llama3.1": 131_072,
    "llama3.2": 131_072,
    "llama3.3": 131_072,
    "qwen2.5": 32_768,
    "deepseek-chat": 65_536,
}
# For model names the table does not know: small enough that no real model is overrun.
DEFAULT_CONTEXT_WINDOW = 8_192

# -2024-08-06, -20241022, -0613 (a month and day, as in gpt-4-0613).
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|20\d{6}|(?:0[1-9]|1[0-2])[0-3]\d)$")
# Hugging Face spells Llama 3 as "Meta-Llama-3.1-8B-Instruct" or "Llama-3.1-8B-Instruct".
_LLAMA_SPELLING = re.compile(r"^(?:meta-)?llama-3")

# bpe-openai refuses texts of 1,000,000 characters or more, and results over 200,000 tokens;
# longer texts are counted in pieces. A character is at most 4 UTF-8 bytes, so at most 4 tokens.
_PIECE_CHARS = 40_000


def normalize_model(model: str, *, keep_date: bool = False) -> str:
    """The bare model name: lower case, without provider prefix, tag or date suffix.

    "openai/gpt-4o-2024-08-06" -> "gpt-4o" ("gpt-4o-2024-08-06" with `keep_date`),
    "llama3.1:70b" -> "llama3.1", "ft:gpt-4o-mini-2024-07-18:org::abc" -> "gpt-4o-mini".
    """
    name = model.strip().lower()
    if name.startswith("ft:"):  # a fine-tuned OpenAI model names its base model first
        name = name[3:].split(":", 1)[0]
    name = name.rsplit("/", 1)[-1]  # openai/gpt-4o, meta-llama/Llama-3.1-8B-Instruct
    name = name.split(":", 1)[0]  # Ollama tags (llama3:8b), OpenRouter variants (:free)
    return name if keep_date else _DATE_SUFFIX.sub("", name)


def encoding_name(model: str) -> str:
    """The encoding that counts `model`'s tokens; o200k_base (an estimate) when unknown."""
    name = normalize_model(model)
    for prefix, encoding in _ENCODING_PREFIXES:
        if name.startswith(prefix):
            return encoding
    return FALLBACK_ENCODING


_load_lock = threading.Lock()


@functools.cache
def _load(name: str) -> Encoding:
    with warnings.catch_warnings():
        # bpe-openai 0.1.4 reads its data with importlib.resources.open_binary (deprecated).
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # reads the bundled encodings: deferred until the first count

        return bpe_openai.get_encoding(name)


def warm() -> None:
    """Load both encodings now. gunicorn calls this in its master before forking, so the
    workers share one copy of the tables instead of each loading its own."""
    for name in (O200K, CL100K):
        _encoding(name)


def _encoding(name: str) -> Encoding:
    # bpe-openai builds a new tokenizer (tens of MB) on every get_encoding call; the lock keeps
    # two threads from both building the first one.
    with _load_lock:
        return _load(name)


def _pieces(text: str, size: int = _PIECE_CHARS) -> Iterator[str]:
    """`text` in pieces of at most `size` characters, cut where the encodings' pre-tokenizer
    cuts anyway, so the pieces' counts add up to the whole text's count.

    Safe cuts: before a single space between two non-spaces (the space starts the next word),
    and after a newline followed by a non-space. A piece with neither in its second half (a
    very long line of CJK text without punctuation, say) is cut hard: off by a token or two.
    """
    start = 0
    while len(text) - start > size:
        end = start + size
        cut = end
        for i in range(end - 1, start + size // 2, -1):
            before, here = text[i - 1], text[i]
            if here.isspace():
                if here == " " and not before.isspace() and not text[i + 1].isspace():
                    cut = i
                    break
            elif before == "\n":
                cut = i
                break
        yield text[start:cut]
        start = cut
    yield text[start:]


def count_text(text: str, model: str) -> int:
    """Tokens in `text` for `model`. Exact for OpenAI models, an estimate for others.

    Special-token text such as "<|endoftext|>" counts as the ordinary text it is to the API.
    """
    if not text:
        return 0
    name = encoding_name(model)
    if len(text) < _CACHED_CHARS:
        return _count(name, text)
    # Every turn plans with the same earlier messages: their counts are kept, by digest (the
    # texts themselves could be large), so a long conversation's turn does not count them all
    # again (measured at 10 rounds of 500 words: about 15 ms per plan).
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    found = _counted.get((name, digest))
    if found is None:
        found = _count(name, text)
        with _counted_lock:
            if len(_counted) >= _COUNTED_MAX:
                _counted.pop(next(iter(_counted)))  # the oldest
            _counted[(name, digest)] = found
    return found


# Texts at least this long have their counts kept, up to _COUNTED_MAX of them per process.
_CACHED_CHARS = 200
_COUNTED_MAX = 4096
_counted: dict[tuple[str, bytes], int] = {}
_counted_lock = threading.Lock()


def _count(name: str, text: str) -> int:
    encoding = _encoding(name)
    return sum(len(encoding.encode_ordinary(piece)) for piece in _pieces(text, _PIECE_CHARS))


def _content_text(content: object) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or ""
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _image_parts(content: object) -> list[dict]:
    """The `image_url` parts of a message's content (none for text)."""
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, dict) and p.get("type") == "image_url"]


def _image_url(part: dict) -> tuple[str, str]:
    """(url, detail) of an image part; either may be missing in what a client sent."""
    image = part.get("image_url")
    if isinstance(image, str):  # some clients send the URL itself
        return image, "auto"
    if not isinstance(image, dict):
        return "", "auto"
    url, detail = image.get("url"), image.get("detail")
    return (url if isinstance(url, str) else ""), (detail if isinstance(detail, str) else "auto")


def image_part_tokens(part: dict) -> int:
    """Prompt tokens of one `image_url` part: OpenAI's formula with the image's own size,
    read from a data URL's image header. An image this server cannot see (an http URL a
    gateway client sent, a broken data URL) counts as the most an image can cost."""
    url, detail = _image_url(part)
    if detail == "low":
        return IMAGE_BASE_TOKENS
    size = data_url_size(url)
    if size is None:
        return IMAGE_MAX_TOKENS
    return image_tokens(*size, detail)


def data_url_size(url: str) -> tuple[int, int] | None:
    """(width, height) of the image in a `data:image/...;base64,` URL, or None.

    Kept by digest: a conversation's earlier images are counted again at every turn.
    """
    if not url.startswith("data:image/"):
        return None
    digest = hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    if digest in _sizes:
        return _sizes[digest]
    size = _read_size(url)
    with _counted_lock:
        if len(_sizes) >= _COUNTED_MAX:
            _sizes.pop(next(iter(_sizes)))
        _sizes[digest] = size
    return size


_sizes: dict[bytes, tuple[int, int] | None] = {}


def _read_size(url: str) -> tuple[int, int] | None:
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    header, _, encoded = url.partition(",")
    if not header.endswith(";base64"):
        return None
    try:
        data = base64.b64decode(encoded, validate=True)
        # Pillow reads only the header here: the pixels are never decoded.
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (
        binascii.Error,
        ValueError,
        OSError,
        UnidentifiedImageError,
        Image.DecompressionBombError,
    ):
        return None
    return (width, height) if width > 0 and height > 0 else None


def count_messages(messages: list[dict], model: str) -> int:
    """Prompt tokens for a chat request with these messages.

    The formula of OpenAI's cookbook "How to count tokens with tiktoken": 3 tokens per message,
    plus the tokens of its role and content, plus the tokens of its name and 1 more when it has
    one, plus 3 for the reply's priming (`<|start|>assistant<|message|>`). OpenAI does not
    document the format, so even for OpenAI models this is an estimate (it matched the API when
    the cookbook was written); for other models it is a rougher one.

    Only role, content and name go upstream; other keys of a history entry (model, usage...) are
    not counted. List content counts its text parts as text and each image part by OpenAI's
    image formula (`image_part_tokens`), so the usage line, the window's fit, quotas and cost
    include images.
    """
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += 3  # <|start|>{role/name}\n{content}<|end|>
        total += count_text(str(message.get("role") or ""), model)
        content = message.get("content")
        total += count_text(_content_text(content), model)
        total += sum(image_part_tokens(part) for part in _image_parts(content))
        name = message.get("name")
        if name:
            total += count_text(str(name), model) + 1
    return total


def token_ceiling(messages: list[dict]) -> int:
    """An upper bound of `count_messages`, without encoding anything: its formula with a
    text's UTF-8 length for its tokens (a token of these byte-level encodings is at least one
    byte), and the most an image can cost for each image. When even this fits, there is
    nothing to count before the request leaves."""

    def size(text: str) -> int:
        return len(text.encode("utf-8", "surrogatepass"))

    total = 3
    for message in messages:
        content = message.get("content")
        total += 3 + size(str(message.get("role") or "")) + size(_content_text(content))
        total += IMAGE_MAX_TOKENS * len(_image_parts(content))
        name = message.get("name")
        if name:
            total += size(str(name)) + 1
    return total


def context_window(model: str, override: int | None = None) -> int:
    """The context window of `model` in tokens.

    `override` (a provider's configured limit, an Ollama num_ctx...) wins. Otherwise the
    table above decides by the longest prefix of the normalised name; a model it does not know
    gets DEFAULT_CONTEXT_WINDOW (8192), a conservative guess that rather drops old context than
    overflows the model.
    """
    if override is not None:
        if override <= 0:
            raise ValueError(f"context window override must be positive, not {override}")
        return override
    name = _LLAMA_SPELLING.sub("llama3", normalize_model(model))
    matches = [prefix for prefix in _CONTEXT_WINDOWS if name.startswith(prefix)]
    if not matches:
        return DEFAULT_CONTEXT_WINDOW
    return _CONTEXT_WINDOWS[max(matches, key=len)]


# OpenAI's published cost of an image input (the "Calculating costs" section of the vision
# guide, for the GPT-4o family): low detail is a flat 85 tokens; high detail scales the image
# to fit 2048 x 2048, then its shortest side to 768, and counts 170 per 512 px tile plus 85.
IMAGE_BASE_TOKENS = 85
IMAGE_TILE_TOKENS = 170
# The most one image can cost: scaled to 768 x 2048, it is 2 x 4 tiles.
IMAGE_MAX_TOKENS = IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * 8


def image_size_for_model(width: int, height: int) -> tuple[int, int]:
    """The size a high-detail image is scaled to before it is cut into tiles (never up)."""
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_tokens(width: int, height: int, detail: str = "auto") -> int:
    """Prompt tokens of one image of this size ("auto" is counted as "high", the upper bound)."""
    if detail == "low":
        return IMAGE_BASE_TOKENS
    width, height = image_size_for_model(width, height)
    tiles = -(-width // 512) * -(-height // 512)
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * tiles
