"""services.personas: the shipped personas.yaml, localized text, and mistakes in a personas file.

Like the providers tests, every bad file below marks its offending line with `# BAD`, so the
expected line number comes from the text itself, not from the code under test.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from config import Settings
from services.personas import (
    CUSTOM_ID,
    Persona,
    PersonasConfig,
    PersonasFileError,
    examples,
    load_personas,
    localized,
    system_prompt,
)
from services.yaml_config import load_yaml_model

SHIPPED = Path(__file__).resolve().parents[2] / "personas.yaml"
LANGS = ("en", "zh-cn")
SHIPPED_IDS = ["general", "wellness", "teacher", "clinic-assistant", "customer-service"]


def write(tmp_path: Path, text: str, name: str = "personas.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def marked_line(text: str, marker: str = "# BAD") -> int:
    """The 1-based number of the only line of `text` that contains `marker`."""
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(numbers) == 1, f"{marker!r} must mark exactly one line"
    return numbers[0]


@pytest.fixture(scope="module")
def shipped() -> PersonasConfig:
    return load_personas(SHIPPED)


# --------------------------------------------------------------------------- the shipped file


def test_shipped_file_is_the_default_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERSONAS_FILE", raising=False)

    # The default is the shipped file next to the app, whatever directory the app starts in.
    assert Path(Settings(_env_file=None).personas_file) == SHIPPED.resolve()
    assert SHIPPED.is_file()


def test_shipped_personas_and_default(shipped: PersonasConfig) -> None:
    assert [p.id for p in shipped.personas] == SHIPPED_IDS
    assert shipped.default == "general"
    assert shipped.default_persona.id == "general"
    # The general assistant just answers; every role introduces itself.
    assert shipped.default_persona.greeting is None
    assert all(p.greeting for p in shipped.personas if p.id != "general")
    # Shipped personas leave model and temperature to the user (reasoning models refuse one).
    assert all(p.model is None and p.temperature is None for p in shipped.personas)


@pytest.mark.parametrize("field", ["name", "description", "system_prompt", "greeting"])
def test_shipped_texts_exist_in_both_languages(shipped: PersonasConfig, field: str) -> None:
    for persona in shipped.personas:
        value = getattr(persona, field)
        if value is None and field == "greeting" and persona.id == "general":
            continue
        assert isinstance(value, dict), f"{persona.id}.{field} is not per-language"
        assert sorted(value) == sorted(LANGS), f"{persona.id}.{field}: {sorted(value)}"
        english, chinese = value["en"], value["zh-cn"]
        assert english != chinese, f"{persona.id}.{field} is not translated"
        assert any("\u4e00" <= c <= "\u9fff" for c in chinese), f"{persona.id}.{field} zh-cn"
        assert not any("\u4e00" <= c <= "\u9fff" for c in english.replace("简体中文", ""))


def test_shipped_examples_fit_each_persona_in_both_languages(shipped: PersonasConfig) -> None:
    generic = examples(None, "en")
    assert generic == []  # no persona, no examples of its own: the welcome uses generic ones
    seen: set[str] = set()
    for persona in shipped.personas:
        english, chinese = examples(persona, "en"), examples(persona, "zh-cn")
        assert len(english) == len(chinese) >= 3, persona.id
        assert all(any("\u4e00" <= c <= "\u9fff" for c in text) for text in chinese)
        assert not any("\u4e00" <= c <= "\u9fff" for text in english for c in text)
        assert not seen & set(english), f"{persona.id} repeats another persona's examples"
        seen |= set(english)


def test_examples_may_be_one_list_or_one_per_language(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "personas:\n"
        "  - {id: a, name: A, system_prompt: x, examples: [' One ', Two]}\n"
        "  - id: b\n"
        "    name: B\n"
        "    system_prompt: x\n"
        "    examples: {en: [Hello], zh-cn: [你好]}\n"
        "  - {id: c, name: C, system_prompt: x}\n",
    )
    a, b, c = load_personas(path).personas
    assert examples(a, "zh-cn") == ["One", "Two"]
    assert examples(b, "zh-cn") == ["你好"] and examples(b, "en") == ["Hello"]
    assert c.examples == [] and examples(c, "en") == []


def test_shipped_avatars_differ(shipped: PersonasConfig) -> None:
    avatars = [p.avatar for p in shipped.personas]
    assert len(set(avatars)) == len(avatars)


def test_wellness_replies_only_in_simplified_chinese(shipped: PersonasConfig) -> None:
    wellness = shipped.get("wellness")

    assert wellness is not None
    english, chinese = system_prompt(wellness, "en"), system_prompt(wellness, "zh-cn")
    assert "always reply in Simplified Chinese" in english
    assert "whatever language the user" in english
    assert "只用简体中文回答" in chinese
    assert "无论用户使用哪种语言" in chinese
    # It declines anything outside wellness, and does not diagnose or treat.
    assert "politely decline" in english and "礼貌地拒绝" in chinese
    assert "do not diagnose" in english and "不诊断疾病" in chinese
    # An English reader is told up front why the replies come in Chinese.
    assert "Simplified Chinese" in localized(wellness.greeting, "en")


def test_clinic_assistant_always_adds_a_disclaimer(shipped: PersonasConfig) -> None:
    clinic = shipped.get("clinic-assistant")

    assert clinic is not None
    english, chinese = system_prompt(clinic, "en"), system_prompt(clinic, "zh-cn")
    assert "end every reply, without exception, with a medical disclaimer" in english
    assert "not a diagnosis" in english and "see a doctor" in english
    assert "每一条回复的末尾都必须附上医疗免责声明" in chinese
    assert "不构成诊断" in chinese and "请咨询医生" in chinese
    for prompt in (english, chinese):
        assert "120" in prompt
    assert "local emergency number" in english and "当地急救电话" in chinese
    # No doses and no diagnoses, in both languages.
    assert "Never give doses" in english and "绝不给出任何药物的剂量" in chinese
    assert "Never give a diagnosis" in english and "绝不做出诊断" in chinese
    for lang in LANGS:
        assert "120" in localized(clinic.greeting, lang)


def test_teacher_guides_rather_than_answers(shipped: PersonasConfig) -> None:
    teacher = shipped.get("teacher")

    assert teacher is not None
    english, chinese = system_prompt(teacher, "en"), system_prompt(teacher, "zh-cn")
    assert "step by step" in english and "一步一步" in chinese
    assert "check understanding" in english and "确认学生是否理解" in chinese
    assert "do not just hand out the answers" in english and "不要直接给出答案" in chinese


def test_customer_service_asks_escalates_and_invents_nothing(shipped: PersonasConfig) -> None:
    agent = shipped.get("customer-service")

    assert agent is not None
    english, chinese = system_prompt(agent, "en"), system_prompt(agent, "zh-cn")
    assert "order number" in english and "订单号" in chinese
    assert "human colleague" in english and "人工客服" in chinese
    assert "Never invent policies" in english and "绝不编造政策" in chinese


def test_shipped_header_explains_the_settings() -> None:
    header = SHIPPED.read_text(encoding="utf-8").split("\npersonas:")[0]

    for word in ("PERSONAS_FILE", "PERSONA_LOCK", "system_prompt", "zh-cn", CUSTOM_ID):
        assert word in header, word


# --------------------------------------------------------------------------- localized text

TEXT = {"en": "Teacher", "zh-cn": "辅导老师"}


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        (TEXT, "zh-cn", "辅导老师"),
        (TEXT, "en", "Teacher"),
        # A language the text lacks falls back to English...
        (TEXT, "fr", "Teacher"),
        ({"en": "Teacher", "zh-cn": ""}, "zh-cn", "Teacher"),
        # ...and without English, to the first language given.
        ({"zh-cn": "辅导老师", "de": "Lehrer"}, "en", "辅导老师"),
        ({"de": "Lehrer", "zh-cn": "辅导老师"}, "fr", "Lehrer"),
        # One string serves every language.
        ("Tutor", "zh-cn", "Tutor"),
        ("", "en", ""),
        (None, "zh-cn", ""),
        ({}, "en", ""),
    ],
)
def test_localized(value: object, lang: str, expected: str) -> None:
    assert localized(value, lang) == expected


# --------------------------------------------------------------------------- a custom file

GOOD = """\
personas:
  - id: tutor
    name: Maths tutor
    system_prompt: |
      You teach maths.
      One step at a time.
  - id: front-desk
    avatar: "👩‍⚕️"
    name: {en: Front desk, zh-cn: 前台}
    description:
      zh-cn: 预约和就诊指引
    system_prompt:
      en: |
        You help patients book visits.
      zh-cn: 你帮助患者预约就诊。
    greeting: {en: Hello!, zh-cn: 你好！}
    model: gpt-4o
    temperature: 0
  - id: poet_2
    name: Poet
    system_prompt: Write poems.
    temperature: 2
default: front-desk
"""


def test_good_file(tmp_path: Path) -> None:
    config = load_personas(write(tmp_path, GOOD))

    tutor, desk, poet = config.personas
    assert (tutor.id, tutor.name, tutor.avatar) == ("tutor", "Maths tutor", "🤖")
    assert (tutor.description, tutor.greeting, tutor.model, tutor.temperature) == (
        "",
        None,
        None,
        None,
    )
    # The block's final newline is trimmed; its inner line breaks are kept.
    assert system_prompt(tutor, "zh-cn") == "You teach maths.\nOne step at a time."
    assert desk.avatar == "👩‍⚕️"
    assert desk.name == {"en": "Front desk", "zh-cn": "前台"}
    assert localized(desk.description, "en") == "预约和就诊指引"
    assert system_prompt(desk, "zh-cn") == "你帮助患者预约就诊。"
    assert system_prompt(desk, "en") == "You help patients book visits."
    assert localized(desk.greeting, "zh-cn") == "你好！"
    assert (desk.model, desk.temperature) == ("gpt-4o", 0.0)
    assert poet.temperature == 2.0
    assert config.default_persona is desk
    assert config.get("poet_2") is poet
    assert config.get("nobody") is None
    assert config.get(None) is None


def test_default_persona_is_the_first_without_default(tmp_path: Path) -> None:
    config = load_personas(write(tmp_path, GOOD.replace("default: front-desk\n", "")))

    assert config.default is None
    assert config.default_persona.id == "tutor"


def test_custom_persona_can_be_built_in_code() -> None:
    # Only a file may not define `custom`: the app builds one from the user's own prompt.
    persona = Persona(id=CUSTOM_ID, name="Custom", system_prompt="  Be brief.\n")

    assert system_prompt(persona, "en") == "Be brief."


BAD_FILES = {
    "yaml_syntax": (
        """\
personas:
  - id: a
    name: a: b  # BAD
    system_prompt: x
""",
        "not valid YAML",
    ),
    "yaml_tab": (
        "personas:\n  - id: a\n\tname: x  # BAD\n    system_prompt: y\n",
        "not valid YAML",
    ),
    "file_not_a_mapping": (
        """\
- id: a  # BAD
  name: A
""",
        "file: Input should be a valid dictionary",
    ),
    "personas_not_a_list": (
        """\
default: a
personas: {id: a, name: A, system_prompt: x}  # BAD
""",
        "personas: Input should be a valid list",
    ),
    "empty_list": (
        """\
personas: []  # BAD
""",
        "personas: List should have at least 1 item",
    ),
    "persona_not_a_mapping": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
  - teacher  # BAD
""",
        "personas.1: Input should be a valid dictionary",
    ),
    "missing_system_prompt": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
  - id: b  # BAD
    name: B
    greeting: Hello
""",
        "personas.1.system_prompt: Field required",
    ),
    "missing_name": (
        """\
personas:
  - id: a  # BAD
    system_prompt: x
""",
        "personas.0.name: Field required",
    ),
    "unknown_field": (
        """\
personas:
  - id: a
    name: A
    system_promt: x  # BAD
""",
        "personas.0.system_promt: Extra inputs are not permitted",
    ),
    "unknown_top_level_field": (
        """\
personas:
  - {id: a, name: A, system_prompt: x}
defualt: a  # BAD
""",
        "defualt: Extra inputs are not permitted",
    ),
    "temperature_too_high": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
    temperature: 2.5  # BAD
""",
        "personas.0.temperature: Input should be less than or equal to 2",
    ),
    "temperature_negative": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
    temperature: -0.1  # BAD
""",
        "personas.0.temperature: Input should be greater than or equal to 0",
    ),
    "temperature_not_a_number": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
    temperature: warm  # BAD
""",
        "personas.0.temperature: Input should be a valid number",
    ),
    "duplicate_id": (
        """\
personas:
  - id: teacher
    name: Teacher
    system_prompt: x
  - id: doctor
    name: Doctor
    system_prompt: y
  - id: teacher  # BAD
    name: Second teacher
    system_prompt: z
""",
        "personas.2.id: persona id 'teacher' is used twice",
    ),
    "custom_id_reserved": (
        """\
personas:
  - id: teacher
    name: Teacher
    system_prompt: x
  - id: custom  # BAD
    name: Mine
    system_prompt: y
""",
        "personas.1.id: 'custom' is reserved for the user's own system prompt",
    ),
    "default_not_listed": (
        """\
personas:
  - {id: teacher, name: Teacher, system_prompt: x}
default: doctor  # BAD
""",
        "default: 'doctor' is not a listed persona id",
    ),
    "default_is_custom": (
        """\
default: custom  # BAD
personas:
  - {id: teacher, name: Teacher, system_prompt: x}
""",
        "default: 'custom' is not a listed persona id",
    ),
    "bad_id": (
        """\
personas:
  - id: Clinic Assistant  # BAD
    name: A
    system_prompt: x
""",
        "personas.0.id: 'Clinic Assistant' is not a usable id",
    ),
    "empty_system_prompt": (
        """\
personas:
  - id: a
    name: A
    system_prompt: "  "  # BAD
""",
        "personas.0.system_prompt: must not be empty",
    ),
    "empty_language_text": (
        """\
personas:
  - id: a
    name: {en: A, zh-cn: ""}  # BAD
    system_prompt: x
""",
        "personas.0.name: the 'zh-cn' text is empty",
    ),
    "text_not_text": (
        """\
personas:
  - id: a
    name: A
    system_prompt: [be, nice]  # BAD
""",
        "personas.0.system_prompt: should be text, or one text per language",
    ),
    "number_as_language_text": (
        """\
personas:
  - id: a
    name:  # BAD (a value inside a text points at the text)
      en: 911
    system_prompt: x
""",
        "personas.0.name: the 'en' text should be text (put it in quotes)",
    ),
    "unknown_language": (
        """\
personas:
  - id: a
    name: A
    system_prompt:
      en: Be nice.
      zh: 友善一些。  # BAD
""",
        "personas.0.system_prompt.zh: unknown language 'zh' (use en, zh-cn)",
    ),
    "avatar_not_an_emoji": (
        """\
personas:
  - id: a
    name: A
    avatar: https://example.com/a.png  # BAD
    system_prompt: x
""",
        "personas.0.avatar: 'https://example.com/a.png' is not an emoji",
    ),
    "examples_not_a_list": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
    examples: Ask me anything  # BAD
""",
        "personas.0.examples: should be a list of texts",
    ),
    "unknown_language_in_examples": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
    examples:
      en: [Hello]
      fr: [Bonjour]  # BAD
""",
        "personas.0.examples.fr: unknown language 'fr' (use en, zh-cn)",
    ),
    "empty_example": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
    examples:  # BAD
      - Hello
      - "  "
""",
        "personas.0.examples: has an empty example",
    ),
    "empty_model": (
        """\
personas:
  - id: a
    name: A
    system_prompt: x
    model: ""  # BAD
""",
        "personas.0.model: String should have at least 1 character",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_names_path_line_and_field(tmp_path: Path, case: str) -> None:
    text, expected = BAD_FILES[case]
    path = write(tmp_path, text)

    with pytest.raises(PersonasFileError) as caught:
        load_personas(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:{marked_line(text)}: "), message
    assert expected in message, message


def test_empty_file_is_an_error_on_line_1(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing here yet\n")

    with pytest.raises(PersonasFileError, match="Input should be a valid dictionary") as caught:
        load_personas(path)

    assert str(caught.value).startswith(f"{path}:1: file: ")


def test_file_not_in_utf8_names_the_line(tmp_path: Path) -> None:
    # Saved as GBK by a Chinese-language editor: the first Chinese character is on line 3.
    path = tmp_path / "personas.yaml"
    path.write_bytes("personas:\n  - id: a\n    name: 老师\n    system_prompt: x\n".encode("gbk"))

    with pytest.raises(PersonasFileError) as caught:
        load_personas(path)

    assert str(caught.value) == f"{path}:3: not UTF-8 text; save the personas file as UTF-8"


def test_unreadable_file_is_an_error_not_the_builtin(tmp_path: Path) -> None:
    # A directory where the file should be exists, so it is a mistake, not "no file".
    with pytest.raises(PersonasFileError) as caught:
        load_personas(tmp_path)

    assert str(caught.value).startswith(f"{tmp_path}: cannot read the personas file (")


def test_personas_file_error_is_a_value_error() -> None:
    # chat_app.py turns ValueError into "Configuration error: ..." at start-up.
    assert issubclass(PersonasFileError, ValueError)


# --------------------------------------------------------------------------- no file


def test_missing_file_offers_the_builtin_general_assistant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nowhere" / "personas.yaml"

    with caplog.at_level(logging.WARNING, logger="services.personas"):
        config = load_personas(missing)

    (general,) = config.personas
    assert general.id == "general"
    assert config.default_persona is general
    assert general.greeting is None
    for lang in LANGS:
        assert localized(general.name, lang)
        assert system_prompt(general, lang)
    assert localized(general.name, "zh-cn") == "通用助手"
    assert system_prompt(general, "en") != system_prompt(general, "zh-cn")
    assert str(missing) in caplog.text
    # A fresh copy each time: changing one config cannot change another.
    assert load_personas(missing) is not config


# --------------------------------------------------------------------------- the shared loader


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    left: int
    right: int


class PairError(ValueError):
    pass


def test_shared_loader_runs_the_extra_check_on_its_line(tmp_path: Path) -> None:
    text = "left: 1\nright: 1  # BAD\n"
    path = write(tmp_path, text, "pair.yaml")

    def distinct(pair: Pair) -> tuple[tuple, str] | None:
        return (("right",), "must differ from left") if pair.left == pair.right else None

    with pytest.raises(PairError) as caught:
        load_yaml_model(path, Pair, error_cls=PairError, what="pair file", extra_check=distinct)

    assert str(caught.value) == f"{path}:{marked_line(text)}: right: must differ from left"
    good = write(tmp_path, "left: 1\nright: 2\n", "good.yaml")
    loaded = load_yaml_model(good, Pair, error_cls=PairError, what="pair", extra_check=distinct)
    assert loaded == Pair(left=1, right=2)


def test_shared_loader_names_what_it_could_not_read(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"

    with pytest.raises(PairError, match=r"cannot read the pair file \("):
        load_yaml_model(path, Pair, error_cls=PairError, what="pair file")
