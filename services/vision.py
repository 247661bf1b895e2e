"""Which models see images: the providers file says (`vision: true|false` on a model or a
provider), and otherwise the model's name does, for the families known to take images."""

from __future__ import annotations

import re

from services.tokens import normalize_model

# Names of models that take image input (OpenAI's vision guide, and the other families' own
# model cards). Matched against the bare name (services.tokens.normalize_model), lower case.
_SEES = re.compile(
    r"""^(?:
        gpt-4o | gpt-4\.1 | gpt-4\.5 | gpt-4-turbo | gpt-4-vision | gpt-5 | chatgpt-4o
      | o1(?!-mini|-preview) | o3(?!-mini) | o4-mini
      | claude-3 | claude-(?:opus|sonnet|haiku)-4 | claude-[\w.-]*-4
      | gemini | qwen-vl | qwen2(?:\.5)?-vl | glm-4(?:\.\d+)?v | llava | pixtral | minicpm-v
      | llama-?3\.2-?[\w.-]*vision | grok-[\w.-]*vision
    )""",
    re.VERBOSE,
)
# Any family with a vision-language ("VL") variant: qwen2.5-vl-7b, internvl2, deepseek-vl2;
# and any named for it: moonshot-v1-8k-vision-preview, doubao-1.5-vision-pro.
_VL = re.compile(r"(?:^|[-_.])vl(?:\d|[-_.]|$)|internvl|vision")
# "gpt-4o-mini-tts", "gpt-4o-audio-preview", "gpt-4o-transcribe", "-realtime": audio and speech
# models of a vision family take no images through Chat Completions.
_NOT = re.compile(r"(?:-tts|-audio|-transcribe|-realtime|-search)")


def sees_images_by_name(model: str) -> bool:
    """Whether a model of this name takes images, when the providers file does not say."""
    name = normalize_model(model)
    if _NOT.search(name):
        return False
    name = name.replace("meta-llama-", "llama-")
    return bool(_SEES.match(name) or _VL.search(name))
