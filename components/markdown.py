"""Markdown rendering for model output, which is untrusted."""

from __future__ import annotations

import feffery_markdown_components as fmc

# feffery-markdown-components passes `javascript:` (and `data:`, `vbscript:`) hrefs through;
# this runs on every link and keeps only schemes that cannot execute script. The browser's own
# URL parser decides the scheme, so tricks like "java\tscript:" or entity-encoding do not pass.
SAFE_LINK_JS = (
    "(href) => { try { const u = new URL(String(href || ''), window.location.href);"
    " return ['http:', 'https:', 'mailto:', 'tel:'].includes(u.protocol) ? u.href : undefined;"
    " } catch (e) { return undefined; } }"
)


def markdown_view(
    content: str, *, lang: str, id: str | None = None, placeholder=None
) -> fmc.FefferyMarkdown:
    """A reply rendered as Markdown: highlighted code with a copy button, tables; raw HTML off."""
    props = {"id": id} if id else {}
    if placeholder is not None:
        props["placeholder"] = placeholder
    return fmc.FefferyMarkdown(
        **props,
        markdownStr=content,
        renderHtml=False,
        linkTransformFunc=SAFE_LINK_JS,
        codeTheme="one-light",
        showCopyButton=True,
        showLineNumbers=False,
        wrapLongLines=True,
        forceTableAlignCenter=False,
        forceTableContentTextAlignCenter=False,
        locale="zh-cn" if lang.startswith("zh") else "en-us",
        className="chat-markdown",
    )
