"""Configuration files in YAML, validated by a pydantic model, with mistakes reported by line.

Every file this app reads (providers, personas) fails the same way, naming the file, the line
and the field: `providers.yaml:7: providers.1.base_ulr: Extra inputs are not permitted`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

# A mistake pydantic cannot see (a duplicate id, a default that is not listed), as
# (location, message); the location is a pydantic-style path such as ("personas", 2, "id").
Problem = tuple[tuple, str]


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """The line of the YAML node that `loc` (a pydantic error location) points at."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == part), None)
            if match is None:
                break  # a missing key: the mapping that lacks it is the place
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_yaml_model(
    path: str | Path,
    model_cls: type[M],
    *,
    error_cls: type[Exception],
    what: str,
    extra_check: Callable[[M], Problem | None] | None = None,
) -> M:
    """Read `path`, parse it as YAML and validate it as `model_cls`.

    `what` names the file in the message when it cannot be read ("providers file").
    `extra_check(config)` may return one more (location, message) problem. Any mistake raises
    `error_cls("path:line: field: message")`; the line is the offending node's.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc
        raise error_cls(f"{path}: cannot read the {what} ({reason})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Often a file saved as GBK by a Chinese-language editor.
        line = raw[: exc.start].count(b"\n") + 1
        raise error_cls(f"{path}:{line}: not UTF-8 text; save the {what} as UTF-8") from None

    def fail(loc: tuple, message: str) -> Exception:
        line = _line_of(node, loc) or 1
        field = ".".join(str(p) for p in loc) or "file"
        return error_cls(f"{path}:{line}: {field}: {message}")

    loader = yaml.SafeLoader(text)
    try:
        # The node tree keeps a line for every value; the plain data is built from it.
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise error_cls(f"{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    try:
        config = model_cls.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key is also a missing one: the misspelling is the mistake to show.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        message = first["msg"].removeprefix("Value error, ")
        raise fail(tuple(first["loc"]), message) from None
    problem = extra_check(config) if extra_check else None
    if problem:
        raise fail(*problem)
    return config
