"""Markdown rendering for model output, which is untrusted."""

from __future__ import annotations

import feffery_markdown_components as fmc

# feffery-markdown-components passes `javascript:` (and `data:`, `vbscript:`) hrefs through;
# this runs on every link and keeps only schemes that cannot execute script. The browser's own
# URL parser decides the scheme, so tricks like "java\tscript:" or entity-encoding do not pass.
# Links in a model's reply are untrusted. fmc hands every link that does not start with "/" or
# one of these prefixes to `BLOCKED_LINK_PREFIX` instead, so `javascript:` and `data:` links
# become harmless links to this server's "blocked link" page. (fmc's `linkTransformFunc` would
# need `eval`, which the Content-Security-Policy forbids.)
SAFE_LINK_PREFIXES = ["http://", "https://", "mailto:", "tel:", "#"]
# Relative, so it also works when the app is served under a path prefix.
BLOCKED_LINK_PREFIX = "blocked-link?to="
# ```mermaid blocks become containers of this class that assets/markdown.js draws (with the
# diagram library served by this app, in its strict mode). Math needs no prop: the component
# draws `$…$` and `$$…$$` with KaTeX, and assets/markdown.js rewrites `\(…\)` and `\[…\]` to
# those for every FefferyMarkdown on the page, finished or live, so the rule is written once.
MERMAID_CLASS = "chat-mermaid"


def markdown_view(
    content: str, *, lang: str, id: str | None = None, placeholder=None
) -> fmc.FefferyMarkdown:
    """A reply as Markdown: highlighted code, tables, math, diagrams; raw HTML off."""
    props = {"id": id} if id else {}
    if placeholder is not None:
        props["placeholder"] = placeholder
    return fmc.FefferyMarkdown(
        **props,
        markdownStr=content,
        renderHtml=False,
        checkExternalLink=True,
        externalLinkPrefixWhiteList=SAFE_LINK_PREFIXES,
        safeRedirectUrlPrefix=BLOCKED_LINK_PREFIX,
        # The light theme's; assets/markdown.js gives the dark theme its own ("a11y-dark").
        codeTheme="one-light",
        showCopyButton=True,
        showLineNumbers=False,
        wrapLongLines=True,
        forceTableAlignCenter=False,
        forceTableContentTextAlignCenter=False,
        locale="zh-cn" if lang.startswith("zh") else "en-us",
        className="chat-markdown",
        mermaidOptions={"theme": "default"},
        mermaidContainerClassName=MERMAID_CLASS,
    )
