"""Light and dark: the `#theme-switch` control and the script that picks the theme.

The theme is `<html data-theme="light|dark">`, which assets/style.css (and the login and
blocked-link pages' own styles) read. `BOOT_SCRIPT` sets it inline in each page's `<head>`,
before the first paint, from the visitor's choice in localStorage (`THEME_KEY`: "light" or
"dark"; absent is "follow the system") or else the system's `prefers-color-scheme`, and keeps
it following the system (and other tabs' choices) live. It exposes `window.chatTheme`, which
assets/theme.js (antd's dark algorithm, the switch) and assets/markdown.js (code and diagram
themes) use. The CSP allows it by hash (`csp_hash`), like Dash's own inline scripts. It first
stands in for browser storage where a framed page may not use it (`STORAGE_GUARD`).
"""

from __future__ import annotations

import base64
import hashlib

import feffery_antd_components as fac
from dash import html

from components import ids
from i18n import t

THEME_KEY = "chat-theme"
CHOICES = ("system", "light", "dark")
_ICONS = {"system": "antd-desktop", "light": "antd-sun", "dark": "antd-moon"}

# First, in a frame of another site (a Teams tab) where the browser blocks third-party storage
# (Chromium with third-party cookies blocked, incognito), reading localStorage throws, and Dash's
# renderer with it: such a page gets a storage kept in memory for as long as it is open.
STORAGE_GUARD = (
    '["localStorage","sessionStorage"].forEach(function(n){try{window[n].length}catch(e){'
    "var m=new Map(),s={getItem:function(k){k=String(k);return m.has(k)?m.get(k):null},"
    "setItem:function(k,v){m.set(String(k),String(v))},removeItem:function(k){m.delete(String(k))},"
    "clear:function(){m.clear()},key:function(i){return Array.from(m.keys())[i]||null}};"
    'Object.defineProperty(s,"length",{get:function(){return m.size}});'
    "try{Object.defineProperty(window,n,{value:s,configurable:true})}catch(f){}}});"
)
# Kept short and comment-free: it is in every page. `subscribe` returns its own undo (React's
# effect clean-up); `choose("system")` forgets the choice.
BOOT_SCRIPT = STORAGE_GUARD + (
    '(function(){var K="KEY",root=document.documentElement,fns=[],'
    'q=window.matchMedia&&matchMedia("(prefers-color-scheme: dark)");'
    "function choice(){var v=null;try{v=localStorage.getItem(K)}catch(e){}"
    'return v==="light"||v==="dark"?v:"system"}'
    'function apply(){var c=choice(),th=c==="system"?(q&&q.matches?"dark":"light"):c;'
    "if(root.dataset.theme!==th){root.dataset.theme=th;fns.slice().forEach(function(f){f(th)})}}"
    "window.chatTheme={choice:choice,current:function(){return root.dataset.theme},"
    'choose:function(v){try{if(v==="light"||v==="dark")localStorage.setItem(K,v);'
    "else localStorage.removeItem(K)}catch(e){}apply()},"
    "subscribe:function(f){fns.push(f);"
    "return function(){fns=fns.filter(function(g){return g!==f})}}};"
    'if(q)q.addEventListener("change",apply);'
    'window.addEventListener("storage",function(e){if(e.key===K||e.key===null)apply()});'
    "apply()})();"
).replace("KEY", THEME_KEY, 1)


def boot_tag() -> str:
    """The `<script>` element for a page's `<head>` (its text must stay byte-identical)."""
    return f"<script>{BOOT_SCRIPT}</script>"


def csp_hash() -> str:
    """The CSP source that allows `BOOT_SCRIPT` inline."""
    digest = hashlib.sha256(BOOT_SCRIPT.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def theme_switch(*, lang: str) -> fac.AntdSegmented:
    """System / Light / Dark, as icons named in `lang`. Its value is set in the browser
    (callbacks/theme.py), from the remembered choice, so the server renders it empty."""
    return fac.AntdSegmented(
        id=ids.THEME_SWITCH,
        options=[
            {
                "value": choice,
                "label": html.Span(
                    [
                        fac.AntdIcon(icon=_ICONS[choice]),
                        html.Span(t(lang, f"theme.{choice}"), className="sr-only"),
                    ],
                    title=t(lang, f"theme.{choice}"),
                    className="theme-switch-option",
                ),
            }
            for choice in CHOICES
        ],
        size="small",
        className="theme-switch",
        **{"aria-label": t(lang, "theme.label")},
    )
