/* Math and diagrams in replies (issue 16), for every FefferyMarkdown on the page: the finished
replies Dash draws and the live reply assets/chat.js draws, because both find the component
in `window.feffery_markdown_components`, which this script wraps once, before Dash's renderer
starts.

Math. The component parses `$…$` and `$$…$$` (remark-math) and draws them with KaTeX (bundled,
with its fonts inline; `trust` off, so `\href`, `\htmlClass` … draw as text). It has no prop
for `\(…\)` and `\[…\]`, which Markdown reads as escaped brackets, nor for telling a price from
a formula. So the text is rewritten before the component sees it, by `normalizeMath` below,
outside code blocks and code spans: `\(…\)` becomes `$…$`, `\[…\]` becomes `$$…$$` (a block of
its own when it stands on its own lines), and a `$` that cannot open or close a formula by
Pandoc's rule (an opening `$` has a non-space after it; a closing one a non-space before it and
no digit after it) is escaped, so "$5 and $10" stays text. This is the one place the rule
lives: Python has no copy of it (tests/e2e/test_math_page.py holds it to its cases).

Diagrams. The component turns a ```mermaid block into a hidden container holding the source,
then calls a global `mermaid` (it does not bundle one). `window.mermaid` here is our own
stand-in: the real library (assets/vendor, not loaded with the page: Dash skips that folder)
loads from this server the first time a reply has a complete diagram, and always runs with
`securityLevel: "strict"` whatever the component asks for. Each drawing is parsed away from
the page and stripped of scripts and event handlers before it is shown; the source stays one
click away under it, and a diagram that does not parse shows its source. */
(function () {
    "use strict";

    if (window.chatMarkdown) return; // loaded once per page: `window.mermaid` below is fixed

    /* ------------------------------------------------------------------ the math rule */

    const FENCE_OPEN = /^([ \t>]*)(`{3,}|~{3,})(.*)$/;
    const FENCE_CLOSE = /^[ \t>]*(`{3,}|~{3,})[ \t\r]*$/;
    const BLANK_LINE = /\n[ \t>]*\n/;
    // What may stand before display math on its line for it to be a block: indentation,
    // blockquote marks, a list marker.
    const BLOCK_PREFIX = /^[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?$/;

    /* The index of `close` after `from` in the same paragraph, or -1. */
    function findClose(s, from, close) {
        const end = s.indexOf(close, from);
        if (end < 0 || BLANK_LINE.test(s.slice(from, end))) return -1;
        return end;
    }

    /* `\[inner\]` (from `start` to `end` in `s`) as `$$` math: a block when it stands on its
       own lines, with the container's prefix on the lines it adds; else inline. */
    function displayMath(s, start, end, inner) {
        const lineStart = s.lastIndexOf("\n", start - 1) + 1;
        const prefix = s.slice(lineStart, start);
        let lineEnd = s.indexOf("\n", end);
        if (lineEnd < 0) lineEnd = s.length;
        if (!BLOCK_PREFIX.test(prefix) || s.slice(end, lineEnd).trim()) {
            return "$$" + inner.trim() + "$$";
        }
        const cont = prefix.replace(/[^\t>]/g, " ");
        const newline = inner.indexOf("\n");
        const head = (newline < 0 ? inner : inner.slice(0, newline)).trim();
        // Later lines keep their own prefix; the line `\]` stands on is dropped.
        const rest = newline < 0 ? "" : inner.slice(newline).replace(/\n[ \t>]*$/, "");
        return "$$" + (head ? "\n" + cont + head : "") + rest + "\n" + cont + "$$";
    }

    /* A closing backtick run as long as the opening one (`size`) after `from`, or -1. */
    function codeSpanEnd(s, from, size) {
        const runs = /`+/g;
        runs.lastIndex = from;
        let run;
        while ((run = runs.exec(s))) {
            if (BLANK_LINE.test(s.slice(from, run.index))) return -1;
            if (run[0].length === size) return run.index;
        }
        return -1;
    }

    /* Text outside fenced code, rewritten left to right as the Markdown parser reads it. */
    function rewriteProse(s) {
        const special = /[\\`$]/g;
        let out = "";
        let i = 0;
        while (i < s.length) {
            special.lastIndex = i;
            const found = special.exec(s);
            if (!found) {
                out += s.slice(i);
                break;
            }
            out += s.slice(i, found.index);
            i = found.index;
            const c = s[i];
            if (c === "\\") {
                const next = s[i + 1];
                if (next === "(" || next === "[") {
                    const end = findClose(s, i + 2, next === "(" ? "\\)" : "\\]");
                    const inner = end < 0 ? "" : s.slice(i + 2, end);
                    if (inner.trim() && !inner.includes("$")) {
                        out +=
                            next === "("
                                ? "$" + inner.trim() + "$"
                                : displayMath(s, i, end + 2, inner);
                        i = end + 2;
                        continue;
                    }
                }
                out += s.slice(i, i + 2); // an escape, kept as it is (`\$`, `\\`, `\``)
                i += 2;
            } else if (c === "`") {
                let size = 1;
                while (s[i + size] === "`") size += 1;
                const end = codeSpanEnd(s, i + size, size);
                const stop = end < 0 ? i + size : end + size;
                out += s.slice(i, stop);
                i = stop;
            } else if (s[i + 1] === "$") {
                // `$$…$$` as written; an unclosed one (a reply still streaming) stays text.
                const end = findClose(s, i + 2, "$$");
                if (end < 0) {
                    out += "\\$\\$";
                    i += 2;
                } else {
                    out += s.slice(i, end + 2);
                    i = end + 2;
                }
            } else {
                const end = /\S/.test(s[i + 1] || "") ? findClose(s, i + 1, "$") : -1;
                const closes =
                    end > 0 && s[end - 1] !== "\\" && /\S/.test(s[end - 1]) &&
                    !/[0-9$]/.test(s[end + 1] || "");
                if (closes) {
                    out += s.slice(i, end + 1);
                    i = end + 1;
                } else {
                    out += "\\$"; // a price, not a formula
                    i += 1;
                }
            }
        }
        return out;
    }

    /* The Markdown the component is given: math delimiters it understands, prices escaped,
       code untouched, and a ```mermaid block that is not closed yet (a reply still streaming)
       shown as code until it is. */
    function normalizeMath(text) {
        if (typeof text !== "string" || !text) return text;
        const out = [];
        let prose = [];
        let fence = null;
        const flush = () => {
            if (prose.length) out.push(rewriteProse(prose.join("\n")));
            prose = [];
        };
        text.split("\n").forEach((line) => {
            if (fence) {
                out.push(line);
                const close = FENCE_CLOSE.exec(line);
                const mark = close ? close[1] : "";
                if (mark[0] === fence.mark[0] && mark.length >= fence.mark.length) fence = null;
                return;
            }
            const open = FENCE_OPEN.exec(line);
            if (open && !(open[2][0] === "`" && open[3].includes("`"))) {
                flush();
                fence = { at: out.length, prefix: open[1], mark: open[2], info: open[3] };
                out.push(line);
                return;
            }
            prose.push(line);
        });
        flush();
        if (fence && /^\s*mermaid\b/i.test(fence.info)) {
            out[fence.at] = fence.prefix + fence.mark + "text";
        }
        return out.join("\n");
    }

    /* ------------------------------------------------------------------ diagrams */

    const script = document.currentScript;
    const MERMAID_URL = new URL("vendor/mermaid.min.js", script ? script.src : location.href).href;
    const THEMES = ["default", "base", "dark", "forest", "neutral"];
    const diagrams = { real: null, loading: null, theme: "default", count: 0 };

    function loadMermaid() {
        if (!diagrams.loading) {
            diagrams.loading = new Promise((resolve, reject) => {
                const tag = document.createElement("script");
                tag.src = MERMAID_URL;
                tag.onload = () => (diagrams.real ? resolve(diagrams.real) : reject(new Error()));
                tag.onerror = () => {
                    diagrams.loading = null;
                    reject(new Error("mermaid did not load"));
                };
                document.head.appendChild(tag);
            });
        }
        return diagrams.loading;
    }

    /* The drawing, parsed where nothing in it can load or run, without scripts or handlers. */
    function cleanSvg(markup) {
        const doc = new DOMParser().parseFromString(markup, "text/html");
        // No HTML images either: a diagram needs none, and they could call other hosts.
        doc.querySelectorAll("script, iframe, object, embed, img").forEach((el) => el.remove());
        doc.querySelectorAll("*").forEach((el) => {
            Array.from(el.attributes).forEach((attr) => {
                const name = attr.name.toLowerCase();
                const link = name === "href" || name.endsWith(":href") || name === "src";
                if (name.startsWith("on") || (link && /^\s*(javascript|data):/i.test(attr.value))) {
                    el.removeAttribute(attr.name);
                }
            });
        });
        const svg = doc.body.querySelector("svg");
        return svg ? document.importNode(svg, true) : null;
    }

    /* The library's settings; in the dark page theme, its dark theme. (A change of theme
       redraws the diagrams: the component draws its Markdown anew for the new code theme.) */
    function mermaidConfig() {
        const dark = window.chatTheme && window.chatTheme.current() === "dark";
        return {
            startOnLoad: false,
            securityLevel: "strict",
            // Labels as SVG text, not HTML: less for a label to carry into the page.
            htmlLabels: false,
            flowchart: { htmlLabels: false },
            theme: dark ? "dark" : diagrams.theme,
            suppressErrorRendering: true,
        };
    }

    function sourceBlock(source) {
        const pre = document.createElement("pre");
        pre.className = "chat-mermaid-code";
        const code = document.createElement("code");
        code.textContent = source;
        pre.appendChild(code);
        return pre;
    }

    async function drawDiagram(node) {
        const source = node.textContent;
        const id = "chat-mermaid-svg-" + (diagrams.count += 1);
        let svg = null;
        try {
            const mermaid = await loadMermaid();
            mermaid.initialize(mermaidConfig()); // the page's theme may have changed
            svg = cleanSvg((await mermaid.render(id, source)).svg);
        } catch (e) {
            svg = null;
        }
        // What a failed render may leave behind in the body.
        ["d" + id, id].forEach((leftover) => {
            const el = document.getElementById(leftover);
            if (el && !node.contains(el)) el.remove();
        });
        if (!node.isConnected) return;
        node.textContent = "";
        if (!svg) {
            node.appendChild(sourceBlock(source));
            node.dataset.chatMermaid = "failed";
            return;
        }
        const figure = document.createElement("div");
        figure.className = "chat-mermaid-diagram";
        figure.appendChild(svg);
        const details = document.createElement("details");
        details.className = "chat-mermaid-source";
        const summary = document.createElement("summary");
        const lang = (document.documentElement.lang || "").toLowerCase();
        summary.textContent = lang.startsWith("zh") ? "源代码" : "Source";
        details.append(summary, sourceBlock(source));
        node.append(figure, details);
        node.dataset.chatMermaid = "drawn";
    }

    // What the component calls: `initialize` (its options; only a known theme is taken) and
    // `run` on every diagram container on the page, after each of its renders.
    const standIn = {
        initialize(options) {
            const theme = options && options.theme;
            if (THEMES.includes(theme)) diagrams.theme = theme;
        },
        run(options) {
            ((options && options.nodes) || []).forEach((node) => {
                if (node.dataset.chatMermaid) return;
                node.dataset.chatMermaid = "pending";
                drawDiagram(node);
            });
            return Promise.resolve();
        },
    };

    // The library's bundle assigns `globalThis.mermaid`; that lands here, so the component
    // only ever reaches the stand-in.
    Object.defineProperty(window, "mermaid", {
        configurable: false,
        get: () => standIn,
        set: (real) => {
            if (!real || diagrams.real) return;
            real.initialize(mermaidConfig()); // at once: never its own start on load
            diagrams.real = real;
        },
    });

    /* ------------------------------------------------------------------ the wrapper */

    // Its colours keep WCAG AA contrast on its own background (it was made for that).
    const DARK_CODE_THEME = "a11y-dark";

    const library = window.feffery_markdown_components;
    if (library && library.FefferyMarkdown && !library.FefferyMarkdown.chatMath) {
        const Original = library.FefferyMarkdown;
        const FefferyMarkdown = function (props) {
            const text = props.markdownStr;
            const shown = window.React.useMemo(() => normalizeMath(text), [text]);
            // Code in the page's theme (assets/theme.js); the component's own is the light one.
            const theme = window.chatTheme;
            const dark = theme && theme.useTheme && theme.useTheme() === "dark";
            const codeTheme = dark ? DARK_CODE_THEME : props.codeTheme;
            return window.React.createElement(
                Original,
                Object.assign({}, props, { markdownStr: shown, codeTheme })
            );
        };
        // Dash reads propTypes and defaultProps off the component it finds.
        Object.assign(FefferyMarkdown, Original, { chatMath: true });
        // The library's exports are read-only (a module namespace): a copy replaces it.
        window.feffery_markdown_components = Object.assign({}, library, { FefferyMarkdown });
    }

    window.chatMarkdown = { normalizeMath };
})();
