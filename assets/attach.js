/* Attachments in the composer (issue 18): the attach button, paste and drag-and-drop.

Each file is checked here first against the server's limits (page.attach: count, size, the
allowed kinds; components/attachments.py), and a refused one is said in plain words at once,
sending nothing. Any other shows as a chip at once (a local thumbnail for an image) and is
uploaded on its own (POST page.attach.url, one file per request: api/attachments.py); the
server, which tells a file by its bytes, says done (its id) or why not. Send waits for the
uploads; the turn then carries the ids (assets/chat.js `startTurn` calls `take`), and the
chips go. Names are the user's: always text, never markup. Runs before chat.js (Dash loads
assets in name order), so its Send check comes first. */
(function () {
    "use strict";

    // {name, size, kind, url (a local object URL for an image), state: "uploading" | "done"
    // | "error", info (the server's answer), reason, abort, el}
    const items = [];
    let problems = []; // what was refused, in words, until the next change
    let waiting = false; // Send was pressed while files were still uploading

    function layoutProp(id, name) {
        const api = window.dash_component_api;
        if (!api || typeof api.getLayout !== "function") return undefined;
        try {
            const found = api.getLayout(id);
            return found && found.props ? found.props[name] : undefined;
        } catch (e) {
            return undefined; // Dash raises for an id its layout does not have (yet)
        }
    }

    function pageConfig() {
        return layoutProp("chat-page-config", "data") || null;
    }

    function config() {
        const page = pageConfig();
        return page && page.attach ? page.attach : null;
    }

    /* `{name}` in `text` from `values` (an unknown placeholder says nothing). */
    function format(text, values) {
        return String(text || "").replace(/\{(\w+)\}/g, (all, key) =>
            values && values[key] !== undefined && values[key] !== null ? String(values[key]) : ""
        );
    }

    /* As components/attachments.py `human_size` says it. */
    function humanSize(size) {
        if (size < 1024) return size + " B";
        if (size < 1024 * 1024) return Math.round(size / 1024) + " KB";
        return (size / (1024 * 1024)).toFixed(1) + " MB";
    }

    /* The kind by the name's ending (or an image's type: a pasted screenshot); "svg" and null
       are refused. The server decides by the bytes: this only refuses early. */
    function kindOf(file, c) {
        const name = String(file.name || "").toLowerCase();
        const dot = name.lastIndexOf(".");
        const ending = dot === -1 ? "" : name.slice(dot);
        if (ending === ".svg" || file.type === "image/svg+xml") return "svg";
        if (c.extensions[ending]) return c.extensions[ending];
        if (c.imageTypes.indexOf(file.type) !== -1) return "image";
        return null;
    }

    function counted() {
        return items.filter((item) => item.state !== "error").length;
    }

    /* Check and take `files` (a FileList or array). */
    function add(files) {
        const c = config();
        if (!c || !files) return;
        const w = c.words;
        problems = [];
        for (const file of Array.from(files)) {
            const name = file.name || "file";
            if (counted() >= c.maxCount) {
                problems.push(format(w.tooMany, { n: c.maxCount }));
                break;
            }
            const kind = kindOf(file, c);
            let refused = null;
            if (kind === "svg") refused = format(w.svg, { name });
            else if (!kind || c.kinds.indexOf(kind) === -1) {
                refused = format(w.type, { name, types: c.typeNames });
            } else if (!file.size) refused = format(w.empty, { name });
            else if (file.size > c.maxBytes) {
                refused = format(w.tooLarge, {
                    name, size: humanSize(file.size), limit: humanSize(c.maxBytes),
                });
            }
            if (refused) {
                problems.push(refused);
                continue;
            }
            const item = { name, size: file.size, kind, state: "uploading", file };
            if (kind === "image") item.url = URL.createObjectURL(file);
            items.push(item);
            upload(item, c);
        }
        render();
        // Back to the words (after the file chooser, a drop): the question comes next.
        const box = document.getElementById("chat-input");
        if (box && !box.disabled) box.focus();
    }

    /* The server's reason for refusing a file, in the page's words where it has them. */
    function reasonOf(data, status, item, c) {
        const error = (data && data.error) || {};
        const code = error.type || (status === 413 ? "too_large" : null);
        // The server's `params` fill its words' placeholders (api/attachments.py).
        const values = Object.assign(
            { limit: c.maxCount, n: c.maxCount },
            error.params || {},
            { name: item.name, size: humanSize(item.size) }
        );
        if (code && c.errors[code]) return format(c.errors[code], values);
        if (typeof error.message === "string" && error.message) return error.message;
        return c.words.failedAgain;
    }

    function upload(item, c) {
        const body = new FormData();
        body.append("file", item.file, item.name);
        item.abort = new AbortController();
        fetch(c.url, {
            method: "POST",
            body,
            signal: item.abort.signal,
            credentials: "same-origin",
            cache: "no-store",
        })
            .then((response) =>
                response.json().then(
                    (data) => [response, data],
                    () => [response, null]
                )
            )
            .then(([response, data]) => {
                if (response.ok && data && typeof data.id === "string") {
                    item.state = "done";
                    item.info = data;
                    // Stored, but worth saying: a scanned PDF has no text to read.
                    const note = data.note && c.errors[data.note];
                    if (note) item.note = format(c.words.noted, { name: item.name, note });
                } else {
                    item.state = "error";
                    item.reason = reasonOf(data, response.status, item, c);
                }
            })
            .catch(() => {
                item.state = "error";
                item.reason = c.words.failedAgain;
            })
            .finally(() => {
                item.abort = null;
                item.file = null; // the bytes are the server's now (or refused)
                if (items.indexOf(item) === -1) return; // removed meanwhile
                if (item.state === "error") {
                    problems = [format(c.words.failed, { name: item.name, reason: item.reason })];
                } else if (item.note) problems = [item.note];
                render();
                settled();
            });
    }

    /* The chip's ×: an upload under way stops, an uploaded file is deleted on the server. */
    function remove(item) {
        const at = items.indexOf(item);
        if (at === -1) return;
        items.splice(at, 1);
        if (item.abort) item.abort.abort();
        const c = config();
        if (item.state === "done" && c) {
            fetch(c.url + "/" + encodeURIComponent(item.info.id), {
                method: "DELETE",
                credentials: "same-origin",
            }).catch(() => {});
        }
        forget(item);
        problems = [];
        render();
        settled();
    }

    function forget(item) {
        if (item.url) URL.revokeObjectURL(item.url);
        if (item.el) item.el.remove();
        item.el = null;
    }

    /* ---------------------------------------------------------------- drawing */

    function element(tag, className, text) {
        const el = document.createElement(tag);
        if (className) el.className = className;
        if (text !== undefined) el.textContent = text;
        return el;
    }

    function chip(item, c) {
        const el = element("div", "composer-chip");
        if (item.url) {
            const img = element("img", "composer-chip-thumb");
            img.src = item.url;
            img.alt = "";
            el.appendChild(img);
        } else el.appendChild(element("span", "composer-chip-icon"));
        const text = element("span", "composer-chip-text");
        text.append(
            element("span", "composer-chip-name", item.name),
            element("span", "composer-chip-size", humanSize(item.size))
        );
        const spinner = element("span", "composer-chip-spinner");
        spinner.setAttribute("role", "status");
        spinner.setAttribute("aria-label", c.words.uploading);
        const remover = element("button", "composer-chip-remove");
        remover.type = "button";
        remover.setAttribute("aria-label", format(c.words.remove, { name: item.name }));
        remover.title = remover.getAttribute("aria-label");
        remover.addEventListener("click", () => remove(item));
        el.append(text, spinner, remover);
        el.title = item.name;
        return el;
    }

    function render() {
        const c = config();
        const row = document.getElementById("chat-attachments");
        if (!c || !row) return;
        items.forEach((item) => {
            if (!item.el) item.el = chip(item, c);
            if (item.el.parentNode !== row) row.appendChild(item.el);
            item.el.setAttribute("data-state", item.state);
            if (item.state === "error") item.el.title = item.reason || item.name;
            if (item.note) {
                item.el.title = item.note;
                item.el.setAttribute("data-note", "");
            }
            if (item.state === "done") item.el.setAttribute("data-id", item.info.id);
        });
        row.hidden = !items.length;
        const note = document.getElementById("chat-attach-note");
        if (note) note.hidden = !items.length;
        const problem = document.getElementById("chat-attach-problem");
        if (problem) {
            problem.replaceChildren(...problems.map((text) => element("div", "", text)));
            problem.hidden = !problems.length;
        }
        document.body.classList.toggle("chat-attach-waiting", waiting);
    }

    /* A question's attachments as the thread draws them (components/attachments.py
       `attachment_list`), for the live question. */
    function draw(box, refs) {
        const c = config();
        box.replaceChildren();
        if (!c || !refs || !refs.length) return;
        refs.forEach((ref) => {
            const url = c.url + "/" + encodeURIComponent(ref.id);
            const link = element("a", "chat-attachment");
            link.href = url;
            link.setAttribute("download", ref.name);
            if (ref.kind === "image") {
                link.classList.add("chat-attachment-image");
                const img = element("img");
                img.src = url + "/thumbnail";
                img.alt = ref.name;
                link.appendChild(img);
            } else {
                link.classList.add("chat-attachment-doc");
                link.append(
                    element("span", "chat-attachment-icon"),
                    element("span", "chat-attachment-name", ref.name),
                    element("span", "chat-attachment-size", humanSize(ref.size))
                );
            }
            box.appendChild(link);
        });
    }

    /* ---------------------------------------------------------------- sending */

    /* Why Send must not go yet: "wait" (uploads under way), words, or null. */
    function sendProblem(c) {
        if (items.some((item) => item.state === "uploading")) return "wait";
        const failed = items.find((item) => item.state === "error");
        if (failed) return format(c.words.unsent, { name: failed.name });
        const page = pageConfig();
        const vision = page && page.visionModels;
        const images = items.some((item) => item.info && item.info.kind === "image");
        const model = layoutProp("header-model-select", "value");
        // Only when the server said which models see images (H3: page.visionModels).
        if (images && Array.isArray(vision) && model && vision.indexOf(model) === -1) {
            return format(c.words.noVision, { model });
        }
        return null;
    }

    /* All uploads have ended: a Send that waited goes now, unless one failed. */
    function settled() {
        if (!waiting || items.some((item) => item.state === "uploading")) return;
        waiting = false;
        render();
        const send = document.getElementById("chat-send-button");
        if (send && !send.disabled && send.offsetParent !== null) send.click();
    }

    document.addEventListener(
        "click",
        (event) => {
            const target = event.target.closest ? event.target : null;
            if (!target) return;
            if (target.closest("#chat-attach-button")) {
                const input = fileInput();
                if (input) input.click();
                return;
            }
            const send = target.closest("#chat-send-button");
            const c = config();
            if (!send || send.disabled || !items.length || !c) return;
            const problem = sendProblem(c);
            if (!problem) return; // assets/chat.js starts the turn, with `take`
            event.stopImmediatePropagation();
            event.preventDefault();
            if (problem === "wait") waiting = true;
            else problems = [problem];
            render();
        },
        true
    );

    /* ---------------------------------------------------------------- the ways in */

    /* The real file input, beside the attach button (Dash has no such element). */
    function fileInput() {
        const button = document.getElementById("chat-attach-button");
        const c = config();
        if (!button || !c) return null;
        let input = document.getElementById("chat-attach-input");
        if (!input) {
            input = document.createElement("input");
            input.type = "file";
            input.id = "chat-attach-input";
            input.multiple = true;
            input.accept = c.accept;
            input.hidden = true;
            input.tabIndex = -1;
            input.addEventListener("change", () => {
                add(input.files);
                input.value = ""; // the same file can be chosen again
            });
            button.insertAdjacentElement("afterend", input);
        }
        return input;
    }
    // Until Dash has drawn the composer (a page without one, or without attachments, stops
    // asking after a minute, or at once).
    let tries = 0;
    const waitForButton = setInterval(() => {
        tries += 1;
        if (fileInput() || (pageConfig() && !config()) || tries > 600) clearInterval(waitForButton);
    }, 100);

    // Paste in the message box: the clipboard's files (a screenshot) are attached. Text copied
    // from Word or Excel comes with a picture of itself: then the text is what was meant.
    document.addEventListener(
        "paste",
        (event) => {
            const target = event.target;
            const data = event.clipboardData;
            const files = data && data.files;
            if (!files || !files.length || !config() || data.getData("text/plain")) return;
            if (!target || !target.closest || !target.closest(".composer")) return;
            event.preventDefault();
            add(files);
        },
        true
    );

    // Files dragged over the page: an overlay says where they go; dropped anywhere, attached.
    let depth = 0;
    const dragsFiles = (event) =>
        Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types || []).indexOf("Files") !== -1;
    function overlay(shown) {
        const el = document.getElementById("chat-drop-overlay");
        if (el) el.hidden = !shown;
    }
    document.addEventListener(
        "dragenter",
        (event) => {
            if (!dragsFiles(event) || !config()) return;
            depth += 1;
            overlay(true);
        },
        true
    );
    document.addEventListener(
        "dragover",
        (event) => {
            if (!dragsFiles(event) || !config()) return;
            event.preventDefault();
            event.dataTransfer.dropEffect = "copy";
        },
        true
    );
    document.addEventListener(
        "dragleave",
        (event) => {
            if (!dragsFiles(event)) return;
            depth = Math.max(0, depth - 1);
            if (!depth) overlay(false);
        },
        true
    );
    document.addEventListener(
        "drop",
        (event) => {
            if (!dragsFiles(event) || !config()) return;
            event.preventDefault();
            depth = 0;
            overlay(false);
            add(event.dataTransfer.files);
        },
        true
    );

    window.chatAttach = {
        /* The uploaded files' refs, for the turn that starts now; the chips go. */
        take: function () {
            const refs = items
                .filter((item) => item.state === "done")
                .map((item) => ({
                    id: item.info.id, name: item.info.name, kind: item.info.kind,
                    mime: item.info.mime, size: item.info.size,
                }));
            items.splice(0).forEach(forget);
            problems = [];
            render();
            return refs;
        },
        /* How many files are uploaded and would go with a Send now. */
        ready: function () {
            return items.filter((item) => item.state === "done").length;
        },
        draw,
        humanSize,
    };
})();
