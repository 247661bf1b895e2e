"""What a conversation cost, from a price table operators edit (`PRICES_FILE`, YAML):

    currency: USD            # for entries without a currency of their own
    models:
      gpt-4o-mini: {input: 0.15, output: 0.60}          # per 1M tokens
      deepseek-chat: {input: 2.0, output: 8.0, currency: CNY}

A missing file means no prices: costs are unknown and not shown. A model without a price is not
an error either; it is listed as unpriced. Amounts are Decimals, so sums have no float noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config import Settings
from services.tokens import normalize_model
from services.yaml_config import load_yaml_model

DEFAULT_CURRENCY = "USD"
_MILLION = Decimal(1_000_000)
_SYMBOLS = {"USD": "$", "CNY": "¥"}
_SMALLEST = Decimal("0.0001")  # below this an amount is shown as "<$0.0001"


@dataclass(frozen=True)
class Price:
    """A model's list price per million tokens."""

    input_per_million: Decimal
    output_per_million: Decimal
    currency: str


def _currency_code(value: str | None) -> str | None:
    if value is None:
        return None
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise ValueError("expected a three-letter currency code such as USD or CNY")
    return value.upper()


class PriceEntry(BaseModel):
    """One model's line in the prices file."""

    model_config = ConfigDict(extra="forbid")
    input: Decimal = Field(ge=0, allow_inf_nan=False)
    output: Decimal = Field(ge=0, allow_inf_nan=False)
    currency: str | None = None

    _code = field_validator("currency")(_currency_code)


class PricesConfig(BaseModel):
    """The whole prices file."""

    model_config = ConfigDict(extra="forbid")
    currency: str = DEFAULT_CURRENCY
    models: dict[str, PriceEntry] = Field(default_factory=dict)

    _code = field_validator("currency")(_currency_code)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_no_prices(cls, data: object) -> object:
        # An empty file (or only comments) reads as null: no prices, not a mistake.
        return {} if data is None else data

    @field_validator("models", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        # `models:` with every entry commented out reads as null, too.
        return {} if value is None else value


class PricesFileError(ValueError):
    """A prices file that cannot be used; the message names the file and the line."""


def _duplicate_key(node: yaml.Node | None, loc: tuple = ()) -> tuple[tuple, int, int] | None:
    """The first key listed twice in a mapping, as (location, line, first line), or None.

    YAML loaders keep the last value silently; in a price table that hides a mistake.
    """
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    return (*loc, key.value), line, seen[key.value]
                seen[key.value] = line
            found = _duplicate_key(value, (*loc, getattr(key, "value", "?")))
            if found:
                return found
    return None


class PriceTable:
    """Prices by model id."""

    def __init__(self, prices: Mapping[str, Price] | None = None, currency: str = DEFAULT_CURRENCY):
        self._prices = dict(prices or {})
        # The file's own `currency`: what its entries without one are priced in.
        self.currency = currency
        # Listed ids by their normalised form, ignoring case, provider prefix and tag. An undated
        # id ("gpt-4o") also prices its dated snapshots; a dated one only itself.
        self._dated: dict[str, str] = {}
        self._undated: dict[str, str] = {}
        for model in self._prices:
            if model.strip().lower().startswith("ft:"):
                continue  # a fine-tuned model prices only itself
            dated = normalize_model(model, keep_date=True)
            self._dated.setdefault(dated, model)
            if normalize_model(model) == dated:
                self._undated.setdefault(dated, model)

    @property
    def models(self) -> list[str]:
        """The listed model ids, in file order."""
        return list(self._prices)

    def price(self, model: str | None) -> Price | None:
        """The price of `model`, or None when it is not listed.

        Its exact id first; then, ignoring case, provider prefix and tag, the id with its date
        ("openai/gpt-4o-2024-05-13" -> "gpt-4o-2024-05-13") and then without it
        ("gpt-4o-2024-08-06" -> "gpt-4o"). Fine-tuned models ("ft:...") are billed differently
        from their base model, so only an exact entry prices them.
        """
        if not model:
            return None
        if model in self._prices:
            return self._prices[model]
        if model.strip().lower().startswith("ft:"):
            return None
        listed = self._dated.get(normalize_model(model, keep_date=True))
        if listed is None:
            listed = self._undated.get(normalize_model(model))
        return self._prices[listed] if listed is not None else None

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """Read a prices file; a missing file is an empty table, a bad one PricesFileError."""
        path = Path(path)
        if not path.exists():
            return cls()
        config = load_yaml_model(path, PricesConfig, error_cls=PricesFileError, what="prices file")
        # Valid YAML by now; a second, cheap pass finds a model listed twice.
        duplicate = _duplicate_key(yaml.compose(path.read_text(encoding="utf-8"), yaml.SafeLoader))
        if duplicate:
            loc, line, first = duplicate
            field = ".".join(str(p) for p in loc)
            raise PricesFileError(f"{path}:{line}: {field}: listed twice (first on line {first})")
        return cls(
            {
                model: Price(entry.input, entry.output, entry.currency or config.currency)
                for model, entry in config.models.items()
            },
            config.currency,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> PriceTable:
        return cls.from_file(settings.prices_file)


def cost(prompt_tokens: int, completion_tokens: int, price: Price) -> Decimal:
    """What the tokens cost at `price`, in its currency, unrounded."""
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError("token counts cannot be negative")
    spent = prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million
    return spent / _MILLION


def _tokens(usage: dict, key: str) -> int:
    value = usage.get(key)
    # The history comes back from the browser: a count is an int or it is nothing.
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def conversation_totals(history: list[dict], table: PriceTable) -> dict:
    """Tokens and cost of a conversation, from the usage its assistant entries recorded.

    Only assistant entries with both a `usage` dict and a `model` count (a reply cut off by an
    error has no usage). Returns {"prompt_tokens", "completion_tokens", "total_tokens",
    "cost": {currency: Decimal} for the priced entries, "unpriced_models": sorted model ids
    whose usage could not be priced}. Cached input is counted at the full input price, so a
    cost can be a little high, never low.
    """
    return price_usage(add_usage({}, history), table)


def add_usage(totals: dict, history: list[dict]) -> dict:
    """`totals` ({model: {"prompt_tokens", "completion_tokens"}}) plus the usage in `history`.

    The page keeps these sums instead of re-reading its thread: cost is linear in tokens per
    model, so `price_usage` prices them exactly as the entries they sum.
    """
    totals = {model: dict(counts) for model, counts in (totals or {}).items()}
    for entry in history:
        usage, model = entry.get("usage"), entry.get("model")
        if entry.get("role") != "assistant" or not isinstance(usage, dict):
            continue
        if not isinstance(model, str) or not model:
            continue
        counts = totals.setdefault(model, {"prompt_tokens": 0, "completion_tokens": 0})
        for key in ("prompt_tokens", "completion_tokens"):
            counts[key] = _tokens(counts, key) + _tokens(usage, key)
    return totals


def price_usage(totals: dict, table: PriceTable) -> dict:
    """`conversation_totals` of `add_usage` sums."""
    prompt_total = completion_total = 0
    costs: dict[str, Decimal] = {}
    unpriced: set[str] = set()
    for model, counts in (totals or {}).items():
        if not isinstance(counts, dict):
            continue
        prompt, completion = _tokens(counts, "prompt_tokens"), _tokens(counts, "completion_tokens")
        prompt_total += prompt
        completion_total += completion
        price = table.price(model)
        if price is None:
            unpriced.add(model)
            continue
        costs[price.currency] = costs.get(price.currency, Decimal(0)) + cost(
            prompt, completion, price
        )
    return {
        "prompt_tokens": prompt_total,
        "completion_tokens": completion_total,
        "total_tokens": prompt_total + completion_total,
        "cost": costs,
        "unpriced_models": sorted(unpriced),
    }


def currency_symbol(currency: str) -> str | None:
    """ "$" for USD, "¥" for CNY; None for a currency shown by its code."""
    return _SYMBOLS.get(currency.upper())


def format_cost(amount: Decimal, currency: str) -> str:
    """An amount for people: "$0.0123", "¥0.05", "0.0123 EUR", "$1.50", "<$0.0001".

    Under 1, up to four decimals (trailing zeros dropped, at least two kept); from 1, two
    decimals with thousands separators. A non-zero amount under 0.0001 shows as "<$0.0001".
    """
    currency = currency.upper()
    sign = "-" if amount < 0 else ""
    amount = abs(amount)

    def dress(number: str) -> str:
        symbol = currency_symbol(currency)
        return f"{symbol}{number}" if symbol else f"{number} {currency}"

    if 0 < amount < _SMALLEST:
        return f"{sign}<{dress(str(_SMALLEST))}"
    if amount < 1:
        rounded = amount.quantize(_SMALLEST, rounding=ROUND_HALF_UP)
    else:
        rounded = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, _, decimals = f"{rounded:,f}".partition(".")
    decimals = decimals.rstrip("0").ljust(2, "0")
    return f"{sign}{dress(f'{whole}.{decimals}')}"
