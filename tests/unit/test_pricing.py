"""services.pricing: the prices file, price lookup, cost arithmetic, totals and display.

Every bad prices file below marks its offending line with `# BAD`, so the expected line number
comes from the text itself, not from the code under test. Expected costs are worked out by hand
(or, in the property tests, with exact fractions) rather than with the code under test.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from services.pricing import (
    Price,
    PricesFileError,
    PriceTable,
    conversation_totals,
    cost,
    format_cost,
)

REPO_PRICES = Path(__file__).resolve().parents[2] / "prices.yaml"

GOOD = """\
# Prices per 1M tokens.
currency: USD
models:
  gpt-4o-mini: {input: 0.15, output: 0.60}
  gpt-4o: {input: 2.50, output: 10.00}
  gpt-4o-2024-05-13: {input: 5.00, output: 15.00}
  deepseek-chat: {input: 2.0, output: 8.0, currency: CNY}
  mistral-small:
    input: "0.1"
    output: 3e-1
    currency: eur
  llama3.1: {input: 0, output: 0}
  ft:gpt-4o-mini-2024-07-18:acme::abc123: {input: 0.30, output: 1.20}
"""

# gpt-4o-mini 0.15/0.60 USD, gpt-4o 2.50/10 USD, deepseek-chat 2/8 CNY; llama3 and qwen2 unlisted.
HISTORY = [
    {"role": "user", "content": "q1"},
    {
        "role": "assistant",
        "content": "a1",
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 1234, "completion_tokens": 567, "total_tokens": 1801},
        "status": "done",
    },
    {"role": "user", "content": "q2"},
    {"role": "error", "kind": "rate_limit", "detail": ""},
    {"role": "user", "content": "q3"},
    {
        "role": "assistant",
        "content": "a3",
        "model": "deepseek-chat",
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500},
        "status": "done",
    },
    {"role": "user", "content": "q4"},
    {"role": "assistant", "content": "a4", "model": "llama3", "usage": {"prompt_tokens": 10}},
    {"role": "user", "content": "q5"},
    {"role": "assistant", "content": "cut off", "model": "gpt-4o", "status": "cut"},
    {"role": "assistant", "content": "a6", "model": "gpt-4o", "usage": None, "status": "stopped"},
    {"role": "assistant", "content": "a7", "usage": {"prompt_tokens": 99, "completion_tokens": 9}},
    {"role": "user", "content": "q8", "model": "gpt-4o", "usage": {"prompt_tokens": 77}},
    {
        "role": "assistant",
        "content": "a8",
        "model": "openai/gpt-4o-2024-08-06",
        "usage": {"prompt_tokens": 100, "completion_tokens": 50},
    },
    {
        "role": "assistant",
        "content": "a9",
        "model": "qwen2",
        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
    },
    {
        "role": "assistant",
        "content": "a10",
        "model": "llama3",
        "usage": {"prompt_tokens": 5, "completion_tokens": 20},
    },
]


def write(tmp_path: Path, text: str, name: str = "prices.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def marked_line(text: str, marker: str = "# BAD") -> int:
    """The 1-based number of the only line of `text` that contains `marker`."""
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(numbers) == 1, f"{marker!r} must mark exactly one line"
    return numbers[0]


@pytest.fixture
def table(tmp_path: Path) -> PriceTable:
    return PriceTable.from_file(write(tmp_path, GOOD))


# --- the prices file ---------------------------------------------------------------------------


def test_good_file(table: PriceTable) -> None:
    assert table.models[:2] == ["gpt-4o-mini", "gpt-4o"]
    assert len(table.models) == 7
    assert table.price("gpt-4o-mini") == Price(Decimal("0.15"), Decimal("0.60"), "USD")
    assert table.price("gpt-4o") == Price(Decimal("2.5"), Decimal("10"), "USD")
    assert table.price("deepseek-chat") == Price(Decimal("2"), Decimal("8"), "CNY")
    # A quoted price, YAML 1.1's "3e-1" (a string to PyYAML) and a lower-case currency code.
    assert table.price("mistral-small") == Price(Decimal("0.1"), Decimal("0.3"), "EUR")
    assert table.price("llama3.1") == Price(Decimal(0), Decimal(0), "USD")


def test_prices_are_decimals_without_float_noise(table: PriceTable) -> None:
    price = table.price("gpt-4o-mini")
    assert isinstance(price.input_per_million, Decimal)
    assert str(price.input_per_million) == "0.15"  # not 0.1499999999999999944488848768742172978


def test_default_currency_applies_to_entries_without_one(tmp_path: Path) -> None:
    path = write(tmp_path, "currency: cny\nmodels:\n  qwen-max: {input: 2.4, output: 9.6}\n")
    assert PriceTable.from_file(path).price("qwen-max").currency == "CNY"
    path = write(tmp_path, "models:\n  gpt-4o: {input: 2.5, output: 10}\n")
    assert PriceTable.from_file(path).price("gpt-4o").currency == "USD"


def test_missing_file_is_an_empty_table(tmp_path: Path) -> None:
    table = PriceTable.from_file(tmp_path / "nowhere.yaml")
    assert table.models == []
    assert table.price("gpt-4o") is None


@pytest.mark.parametrize(
    "text", ["", "# every price commented out\n", "models:\n  # gpt-4o: {input: 2.5, output: 10}\n"]
)
def test_empty_file_or_empty_models_is_an_empty_table(tmp_path: Path, text: str) -> None:
    assert PriceTable.from_file(write(tmp_path, text)).models == []


def test_from_settings_reads_prices_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, name="my-prices.yaml")
    table = PriceTable.from_settings(Settings(_env_file=None, prices_file=str(path)))
    assert table.price("gpt-4o").input_per_million == Decimal("2.5")


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PricesFileError, match=r"cannot read the prices file"):
        PriceTable.from_file(tmp_path)  # a directory


def test_not_utf8_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_bytes("models:\n  # 价格\n".encode("gbk"))
    with pytest.raises(PricesFileError, match=rf"^{path}:2: not UTF-8"):
        PriceTable.from_file(path)


BAD_FILES = {
    "syntax": (
        """\
currency: USD
models:
  gpt-4o: input: 2.5  # BAD
""",
        "",
        "not valid YAML",
    ),
    "negative price": (
        """\
models:
  gpt-4o-mini: {input: 0.15, output: 0.60}
  gpt-4o:
    input: -2.5  # BAD
    output: 10
""",
        "models.gpt-4o.input",
        "greater than or equal to 0",
    ),
    "missing output": (
        """\
models:
  gpt-4o-mini: {input: 0.15, output: 0.60}
  gpt-4o: {input: 2.5}  # BAD
""",
        "models.gpt-4o.output",
        "Field required",
    ),
    "unknown key in an entry": (
        """\
models:
  gpt-4o:
    input: 2.5
    output: 10
    cached_input: 1.25  # BAD
""",
        "models.gpt-4o.cached_input",
        "Extra inputs are not permitted",
    ),
    "unknown top-level key": (
        """\
currency: USD
modles:  # BAD
  gpt-4o: {input: 2.5, output: 10}
""",
        "modles",
        "Extra inputs are not permitted",
    ),
    "models not a mapping": (
        """\
currency: USD
models:  # BAD
  - gpt-4o
  - gpt-4o-mini
""",
        "models",
        "valid dictionary",
    ),
    "file not a mapping": (
        """\
- gpt-4o  # BAD
- gpt-4o-mini
""",
        "file",
        "valid dictionary",
    ),
    "price not a number": (
        """\
models:
  gpt-4o: {input: cheap, output: 10}  # BAD
""",
        "models.gpt-4o.input",
        "valid decimal",
    ),
    "price not finite": (
        """\
models:
  gpt-4o: {input: 2.5, output: .inf}  # BAD
""",
        "models.gpt-4o.output",
        "finite number",
    ),
    "bad currency": (
        """\
currency: dollars  # BAD
models:
  gpt-4o: {input: 2.5, output: 10}
""",
        "currency",
        "three-letter currency code",
    ),
    "model listed twice": (
        """\
models:
  gpt-4o: {input: 2.5, output: 10}
  gpt-4o-mini: {input: 0.15, output: 0.60}
  gpt-4o: {input: 5, output: 15}  # BAD
""",
        "models.gpt-4o",
        "listed twice (first on line 2)",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_file_names_path_line_and_field(tmp_path: Path, kind: str) -> None:
    text, field, message = BAD_FILES[kind]
    path = write(tmp_path, text)
    with pytest.raises(PricesFileError) as caught:
        PriceTable.from_file(path)
    where = f"{path}:{marked_line(text)}: "
    assert str(caught.value).startswith(where + (f"{field}: " if field else ""))
    assert message in str(caught.value)


def test_shipped_prices_file_loads() -> None:
    table = PriceTable.from_file(REPO_PRICES)
    expected = {
        "gpt-4o": ("2.50", "10.00"),
        "gpt-4o-mini": ("0.15", "0.60"),
        "gpt-4.1": ("2.00", "8.00"),
        "gpt-4.1-mini": ("0.40", "1.60"),
        "gpt-3.5-turbo": ("0.50", "1.50"),
        "o3-mini": ("1.10", "4.40"),
    }
    for model, (prompt, completion) in expected.items():
        assert table.price(model) == Price(Decimal(prompt), Decimal(completion), "USD"), model
    assert table.price("deepseek-chat") is None  # commented out: prices there change often


# --- price lookup ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "listed"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),  # the date suffix is dropped
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),  # so is a provider prefix
        ("GPT-4o-Mini", "gpt-4o-mini"),  # and case
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an exact entry wins
        ("openai/gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # also behind a prefix
        ("llama3.1:70b", "llama3.1"),  # an Ollama tag
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
    ],
)
def test_price_lookup(table: PriceTable, model: str, listed: str) -> None:
    assert table.price(model) is table.price(listed)
    assert table.price(model) is not None


@pytest.mark.parametrize(
    "model",
    [
        "llama3",
        "gpt-4",  # not gpt-4o
        "gpt-4o-mini-audio",  # another model, not a date suffix
        "ft:gpt-4o-2024-08-06:acme::zzz",  # fine-tuned: not priced like its base model
        "",
        None,
    ],
)
def test_unlisted_models_have_no_price(table: PriceTable, model: str | None) -> None:
    assert table.price(model) is None


def test_a_dated_entry_prices_only_its_own_snapshot(tmp_path: Path) -> None:
    table = PriceTable.from_file(
        write(tmp_path, "models:\n  gpt-4o-2024-05-13: {input: 5, output: 15}\n")
    )
    assert table.price("gpt-4o-2024-05-13") is not None
    assert table.price("gpt-4o-2024-08-06") is None
    assert table.price("gpt-4o") is None


def test_a_fine_tuned_entry_does_not_price_its_base_model(tmp_path: Path) -> None:
    table = PriceTable.from_file(
        write(tmp_path, "models:\n  ft:gpt-4o-mini:acme::x1: {input: 0.3, output: 1.2}\n")
    )
    assert table.price("ft:gpt-4o-mini:acme::x1") is not None
    assert table.price("gpt-4o-mini") is None


# --- cost --------------------------------------------------------------------------------------


def test_cost_is_exact() -> None:
    price = Price(Decimal("0.15"), Decimal("0.60"), "USD")
    # 1234 * 0.15 + 567 * 0.60 = 185.1 + 340.2 = 525.3 per million.
    assert cost(1234, 567, price) == Decimal("0.0005253")
    assert isinstance(cost(1234, 567, price), Decimal)


def test_cost_edges() -> None:
    price = Price(Decimal("2.50"), Decimal("10.00"), "USD")
    assert cost(0, 0, price) == 0
    assert cost(1_000_000, 0, price) == Decimal("2.5")
    assert cost(0, 1_000_000, price) == Decimal("10")
    assert cost(1, 0, Price(Decimal("0.1"), Decimal(0), "USD")) == Decimal("0.0000001")
    with pytest.raises(ValueError, match="negative"):
        cost(-1, 0, price)


prices = st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=10**9)


@given(prompt=counts, completion=counts, input_price=prices, output_price=prices)
def test_cost_equals_exact_fraction_arithmetic(
    prompt: int, completion: int, input_price: Decimal, output_price: Decimal
) -> None:
    expected = (prompt * Fraction(input_price) + completion * Fraction(output_price)) / 1_000_000
    assert Fraction(cost(prompt, completion, Price(input_price, output_price, "USD"))) == expected


# --- conversation_totals -----------------------------------------------------------------------


def test_conversation_totals_by_hand(table: PriceTable) -> None:
    totals = conversation_totals(HISTORY, table)
    # Counted: gpt-4o-mini 1234+567, deepseek 1000+500, llama3 10+0 and 5+20,
    # gpt-4o (dated) 100+50, qwen2 7+3. Not: the cut, usage-less, model-less and user entries.
    assert totals["prompt_tokens"] == 1234 + 1000 + 10 + 100 + 7 + 5 == 2356
    assert totals["completion_tokens"] == 567 + 500 + 0 + 50 + 3 + 20 == 1140
    assert totals["total_tokens"] == 3496
    # USD: gpt-4o-mini 0.0005253 + gpt-4o (100*2.5 + 50*10)/1M = 0.00075.
    # CNY: deepseek (1000*2 + 500*8)/1M = 0.006.
    assert totals["cost"] == {"USD": Decimal("0.0012753"), "CNY": Decimal("0.006")}
    assert totals["unpriced_models"] == ["llama3", "qwen2"]


def test_conversation_totals_of_nothing(table: PriceTable) -> None:
    assert conversation_totals([], table) == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "cost": {},
        "unpriced_models": [],
    }


def test_without_prices_every_model_is_unpriced() -> None:
    totals = conversation_totals(HISTORY, PriceTable())
    assert totals["cost"] == {}
    assert totals["total_tokens"] == 3496
    assert totals["unpriced_models"] == [
        "deepseek-chat",
        "gpt-4o-mini",
        "llama3",
        "openai/gpt-4o-2024-08-06",
        "qwen2",
    ]


def test_malformed_usage_from_the_browser_counts_nothing(table: PriceTable) -> None:
    history = [
        {"role": "assistant", "model": "gpt-4o", "usage": {"prompt_tokens": "12"}},
        {"role": "assistant", "model": "gpt-4o", "usage": {"prompt_tokens": -5}},
        {"role": "assistant", "model": "gpt-4o", "usage": {"completion_tokens": True}},
        {"role": "assistant", "model": "gpt-4o", "usage": [1, 2]},
        {"role": "assistant", "model": ["gpt-4o"], "usage": {"prompt_tokens": 3}},
    ]
    totals = conversation_totals(history, table)
    assert totals["total_tokens"] == 0
    assert totals["cost"] == {"USD": Decimal(0)}  # priced replies, just no tokens


usage_entries = st.lists(
    st.tuples(
        st.sampled_from(["gpt-4o", "gpt-4o-mini", "deepseek-chat", "llama3"]),
        st.integers(0, 10**7),
        st.integers(0, 10**7),
    ),
    max_size=20,
)


@given(entries=usage_entries)
def test_totals_add_up_the_entries(entries: list[tuple[str, int, int]]) -> None:
    table = PriceTable(
        {
            "gpt-4o": Price(Decimal("2.5"), Decimal("10"), "USD"),
            "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.6"), "USD"),
            "deepseek-chat": Price(Decimal("2"), Decimal("8"), "CNY"),
        }
    )
    history = [
        {"role": "assistant", "model": m, "usage": {"prompt_tokens": p, "completion_tokens": c}}
        for m, p, c in entries
    ]
    totals = conversation_totals(history, table)
    assert totals["prompt_tokens"] == sum(p for _, p, _ in entries)
    assert totals["completion_tokens"] == sum(c for _, _, c in entries)
    rates = {"gpt-4o": ("2.5", "10"), "gpt-4o-mini": ("0.15", "0.6"), "deepseek-chat": ("2", "8")}
    expected: dict[str, Fraction] = {}
    for model, p, c in entries:
        if model in rates:
            currency = "CNY" if model == "deepseek-chat" else "USD"
            rate_in, rate_out = (Fraction(r) for r in rates[model])
            expected[currency] = expected.get(currency, 0) + (p * rate_in + c * rate_out) / 10**6
    assert {k: Fraction(v) for k, v in totals["cost"].items()} == expected
    assert totals["unpriced_models"] == (
        ["llama3"] if any(m == "llama3" for m, *_ in entries) else []
    )


# --- format_cost -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("0.0123", "USD", "$0.0123"),
        ("0.05", "CNY", "¥0.05"),
        ("0.0123", "EUR", "0.0123 EUR"),
        ("0.00009", "USD", "<$0.0001"),
        ("0.00009", "CNY", "<¥0.0001"),
        ("0.00009", "EUR", "<0.0001 EUR"),
        ("0.0001", "USD", "$0.0001"),
        ("0.0005253", "USD", "$0.0005"),
        ("0.00015", "USD", "$0.0002"),  # half up
        ("0.00025", "USD", "$0.0003"),  # half up, not half even
        ("2.125", "USD", "$2.13"),
        ("0.5", "USD", "$0.50"),
        ("0", "USD", "$0.00"),
        ("1.005", "USD", "$1.01"),  # a float would make this 1.00
        ("0.99996", "USD", "$1.00"),
        ("1234.5", "USD", "$1,234.50"),
        ("0.0123", "usd", "$0.0123"),
        ("-0.5", "USD", "-$0.50"),
    ],
)
def test_format_cost(amount: str, currency: str, shown: str) -> None:
    assert format_cost(Decimal(amount), currency) == shown


@given(
    amount=st.decimals(min_value=Decimal("0.0001"), max_value=10**6, places=8),
    currency=st.sampled_from(["USD", "CNY", "EUR", "GBP"]),
)
def test_format_cost_is_close_to_the_amount(amount: Decimal, currency: str) -> None:
    shown = format_cost(amount, currency)
    symbol = {"USD": "$", "CNY": "¥"}.get(currency)
    if symbol:
        assert shown.startswith(symbol)
        number = shown.removeprefix(symbol)
    else:
        assert shown.endswith(f" {currency}")
        number = shown.removesuffix(f" {currency}")
    value = Decimal(number.replace(",", ""))
    assert abs(value - amount) <= (Decimal("0.00005") if amount < 1 else Decimal("0.005"))
