/* Clientside callbacks (namespace "chat") and page behaviours Dash has no prop for. */
(function () {
    "use strict";

    const noUpdate = () => window.dash_clientside.no_update;
    // Per turn: whether the connection opened, the newest text, how the server planned it
    // (said in its final event), and whether it has ended. A DISCONNECTED status can reach Dash before
    // the final event that preceded it, so an end without a final event is only concluded
    // after a grace period.
    const opened = new Set();
    const finished = new Set();
    const latest = new Map();
    const announced = new Map();
    const questions = new Map(); // for a stopped turn: the server cannot count its context
    const DISCONNECT_GRACE_MS = 400;
    // Anything stored before this moment was read from local storage by this page load.
    const PAGE_START = Date.now();
    let redraws = 0;

    function parseEvent(data) {
        if (!data) return null; // SSE comments and keep-alives arrive as empty data
        try {
            return JSON.parse(data);
        } catch (e) {
            return null;
        }
    }

    function finish(turn, result) {
        finished.add(turn);
        latest.delete(turn);
        result.meta = announced.get(turn) || null;
        announced.delete(turn);
        questions.delete(turn);
        return result;
    }

    /* Python's notion of whitespace (str.isspace) and of line breaks (str.splitlines), which
       JavaScript's trim() and \s do not share: the page must refuse and title exactly as the
       server does. */
    const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
    const PY_LEADING = new RegExp("^[" + PY_SPACE + "]+");
    const PY_TRAILING = new RegExp("[" + PY_SPACE + "]+$");
    const PY_LINE_BREAKS = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
    function pyStrip(text, side) {
        const end = text.replace(PY_TRAILING, "");
        return side === "end" ? end : end.replace(PY_LEADING, "");
    }

    /* The turn's logic, kept free of Dash so the tests can hold it to the server's rules. */
    const turnLogic = {
        /* Why a message cannot be sent ("empty", "too_long"), or null. Length in code points,
           as Python counts it. */
        inputProblem: function (text, maxChars) {
            if (text === null || text === undefined || !pyStrip(String(text))) return "empty";
            if (Array.from(String(text)).length > maxChars) return "too_long";
            return null;
        },

        /* What a retry resends: the thread up to and including the failed question, or null.
           The failed attempt (its error, and a reply cut part-way) is dropped. */
        retryPoint: function (history) {
            const kept = (history || []).slice();
            const last = () => kept[kept.length - 1];
            if (kept.length && last().role === "error") kept.pop();
            if (kept.length && last().role === "assistant" && last().status === "cut") kept.pop();
            if (!kept.length || last().role !== "user") return null;
            return kept;
        },

        /* Where the part of the thread that can still be context starts: the question of the
           oldest of the newest `maxRounds` complete rounds (services/conversation.py
           complete_rounds), 0 when all fit, the end when none may go. The server plans with
           this part only, and returns context_from as an index of the whole thread. Sent with
           multi-turn off too: the server still counts the next request's context from it. */
        historyStart: function (history, maxRounds) {
            history = history || [];
            const starts = [];
            let pending = null;
            history.forEach((entry, index) => {
                if (entry.role === "user") pending = index;
                else if (entry.role === "assistant" && pending !== null) {
                    if (entry.content) starts.push(pending);
                    pending = null;
                } else pending = null;
            });
            if (starts.length <= Math.max(0, maxRounds)) return 0;
            return maxRounds > 0 ? starts[starts.length - maxRounds] : history.length;
        },

        /* The newest question's context_from (components/thread.py context_start). */
        contextStart: function (history) {
            for (let i = (history || []).length - 1; i >= 0; i--) {
                if (history[i].role === "user") return history[i].context_from || 0;
            }
            return 0;
        },

        /* The thread's children with entries before `start` dimmed and the context line above
           entry `start` (as components/thread.py render_thread draws them); null when they
           already are. Children map to entries in order, the greeting and welcome aside. */
        markContext: function (children, history, start, page) {
            if (!Array.isArray(children)) return null;
            const out = [];
            let entry = 0;
            let changed = false;
            let lineAt = -1;
            children.forEach((child, position) => {
                const props = (child && child.props) || {};
                const classes = String(props.className || "").split(/\s+/);
                if (classes.includes("chat-context-line")) {
                    lineAt = entry;
                    return;
                }
                if (!classes.includes("chat-message")) {
                    out.push(child);
                    return;
                }
                if (entry === start && start > 0) out.push(page.contextLine);
                const role = history[entry] && history[entry].role;
                if (role === "user" || role === "assistant") {
                    const dim = entry < start;
                    if (classes.includes(page.outsideClass) !== dim) {
                        const kept = classes.filter((c) => c && c !== page.outsideClass);
                        if (dim) kept.push(page.outsideClass);
                        child = Object.assign({}, child, {
                            props: Object.assign({}, props, { className: kept.join(" ") }),
                        });
                        changed = true;
                    }
                }
                out.push(child);
                entry += 1;
            });
            const wanted = start > 0 && start < entry ? start : -1;
            if (lineAt !== wanted) changed = true;
            return changed ? out : null;
        },

        /* BrowserRecords.save_history (services/records/browser.py) over the browser's copy. */
        keepConversation: function (local, conversation, history, titleChars, now) {
            const data = Object.assign({}, local || {});
            const entry = Object.assign(
                { title: "", updated_at: now, history: [] },
                data[conversation] || {}
            );
            history = history || [];
            if (history.length !== (entry.history || []).length) entry.updated_at = now;
            entry.history = history;
            if (!entry.title) {
                const question = history.find((e) => e.role === "user");
                entry.title = question ? turnLogic.autoTitle(question.content || "", titleChars) : "";
            }
            data[conversation] = entry;
            return data;
        },

        /* The first non-blank line, at most `chars` long (services/records/repository.py). */
        autoTitle: function (content, chars) {
            const line = String(content).split(PY_LINE_BREAKS).map((l) => pyStrip(l)).find((l) => l) || "";
            const points = Array.from(line);
            if (points.length <= chars) return line;
            return pyStrip(points.slice(0, chars - 1).join(""), "end") + "\u2026";
        },
    };
    window.chatTurn = turnLogic;

    function newTurnId() {
        // crypto.randomUUID needs a secure context; a plain-http LAN address is not one.
        return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
    }

    /* A new conversation's id, as the server makes them (32 hex digits): the page names it, so
       it knows the id before the server answers (api/recording.py record_question). */
    function newConversationId() {
        const bytes = new Uint8Array(16);
        window.crypto.getRandomValues(bytes);
        return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    }

    /* Updates that can wait until the reply has begun: the turn's state (the composer's lock),
       the stored history, the emptied box. Each is a round of Dash's renderer; done before the
       first token, they would hold it back (measured: bench/browser_latency.py). They run once
       the first event has been shown, before any final result, or after DEFER_MAX_MS. */
    let deferred = null;
    let pendingTurn = null; // the turn's state until it is in STREAMING_STORE
    const DEFER_MAX_MS = 150;
    function defer(turnState, update) {
        runDeferred();
        pendingTurn = turnState;
        deferred = update;
        setTimeout(runDeferred, DEFER_MAX_MS);
    }
    function runDeferred() {
        const update = deferred;
        deferred = null;
        pendingTurn = null;
        if (update) update();
    }
    function runDeferredAfterPaint() {
        if (deferred) requestAnimationFrame(() => setTimeout(runDeferred, 0));
    }

    /* What the stream route plans from (api/schemas.py PageTurn's history entries). */
    function slim(entry) {
        const out = { role: entry.role };
        if (entry.content) out.content = entry.content;
        if (entry.status) out.status = entry.status;
        return out;
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        chat: {
            /* Send or Retry: show the question and start the stream, with no server round trip
               first. Returns [stream holder, thread (a retry's), live question class and
               text, live reply class, input problem]; the rest (the turn's state, the stored
               history, the emptied box...) is deferred, see `defer`. */
            sendMessage: function (
                _send, _retries, text, history, streaming, conversation, temperature, topP,
                multiTurn, lang, model, persona, customPrompt, custom, maxTokens, notice, estimate,
                page
            ) {
                const skip = Array(6).fill(noUpdate());
                const trig = (window.dash_clientside.callback_context.triggered || [])[0];
                // One reply at a time; and a retry button that merely appeared is not a click.
                if (streaming || deferred || !trig || !trig.value || !page) return skip;
                history = history || [];
                const retry = trig.prop_id.charAt(0) === "{";
                let previous;
                let question;
                let dropped = 0;
                if (retry) {
                    const kept = turnLogic.retryPoint(history);
                    if (!kept) return skip;
                    question = kept[kept.length - 1].content || "";
                    previous = kept.slice(0, -1);
                    // The failed attempt's messages leave the thread, and the "interrupted"
                    // notice a question left unanswered has (components/thread.py).
                    const unanswered = history[history.length - 1].role === "user" ? 1 : 0;
                    dropped = history.length - kept.length + unanswered;
                } else {
                    const problem = turnLogic.inputProblem(text, page.maxInputChars);
                    if (problem) {
                        // The server words it in the page's language; the text stays in the box.
                        const length = Array.from(String(text || "")).length;
                        skip[5] = { problem, length, limit: page.maxInputChars, at: Date.now() };
                        return skip;
                    }
                    question = text;
                    previous = history;
                }

                const on = multiTurn !== false;
                const start = turnLogic.historyStart(previous, page.maxHistoryRounds);
                const asked = { role: "user", content: question };
                // Until the server says (finish_reply), the context starts where it did.
                const before = turnLogic.contextStart(previous);
                if (on && before) asked.context_from = before;
                const id = conversation || newConversationId();
                const request = {
                    turn: {
                        question,
                        history: previous.slice(start).map(slim),
                        history_start: start,
                        multi_turn: on,
                        persona: persona || null,
                        custom_prompt: customPrompt || null,
                        retry,
                    },
                    model: model || null,
                    lang: lang || "en",
                    conversation_id: id,
                    snapshots: true,
                };
                if (custom) {
                    request.temperature = temperature;
                    request.top_p = topP;
                    request.max_tokens = maxTokens || null;
                }
                const turn = newTurnId();
                const source = Object.assign({}, page.eventSource, {
                    props: Object.assign({}, page.eventSource.props, {
                        key: turn,
                        body: JSON.stringify(request),
                    }),
                });

                // The question shows in its own element, outside the thread's list: changing
                // the list would make Dash draw every message again (components/message.py).
                // A retry's question is in the list already; its failed attempt leaves it.
                let threadOut = noUpdate();
                if (retry) {
                    const patch = new window.dash_clientside.Patch();
                    for (let i = 0; i < dropped; i++) patch.delete([-1]);
                    threadOut = patch.build();
                }
                const setProps = window.dash_clientside.set_props;
                questions.set(turn, question);
                const streamingNow = {
                    turn, model: model || null, index: previous.length, conversation: id,
                    question: retry ? null : question,
                };
                defer(streamingNow, () => {
                    setProps("chat-streaming-store", { data: streamingNow });
                    setProps("chat-history-store", { data: previous.concat([asked]) });
                    if (!retry) setProps("chat-input", { value: "" });
                    if (notice) setProps("chat-notice", { children: null });
                    if (estimate) setProps("composer-estimate", { children: "" });
                    if (!previous.length) setProps("persona-select", { disabled: true });
                });
                return [
                    [source],
                    threadOut,
                    retry ? noUpdate() : page.questionClass,
                    retry ? noUpdate() : question,
                    page.liveClass,
                    noUpdate(),
                ];
            },

            /* The stored thread is drawn whole once the page has read it (callbacks/chat.py). */
            redrawOnLoad: function (stamp) {
                if (stamp === null || stamp === undefined || stamp < PAGE_START) {
                    redraws += 1;
                    return redraws;
                }
                return noUpdate();
            },

            /* After a turn, the entries the model no longer sees are dimmed under a line. */
            markContext: function (_contextFrom, history, thread, page) {
                if (!page) return noUpdate();
                history = history || [];
                const marked = turnLogic.markContext(
                    thread, history, turnLogic.contextStart(history), page
                );
                return marked || noUpdate();
            },

            /* Registered only when the server keeps no records (callbacks/sidebar.py). */
            keepInBrowser: function (history, conversation, local, page) {
                if (!conversation || !page) return noUpdate();
                return turnLogic.keepConversation(
                    local, conversation, history, page.titleChars, new Date().toISOString()
                );
            },

            /* One stream event (or a status change) -> [live markdown, final result]. */
            onStreamEvent: function (data, status, errorEvent, streaming, result, shown) {
                streaming = streaming || pendingTurn;
                if (!streaming) return [noUpdate(), noUpdate()];
                const turn = streaming.turn;
                if (finished.has(turn) || (result && result.turn === turn)) {
                    return [noUpdate(), noUpdate()];
                }
                if (status === "CONNECTING" || status === "CONNECTED") opened.add(turn);

                const event = parseEvent(data);
                if (event && event.turn) announced.set(turn, event.turn);
                // A final result goes to finish_reply, which needs the turn's state stored.
                if (event && (event.done || event.error)) runDeferred();
                else runDeferredAfterPaint();
                const context = event && Number.isInteger(event.context_tokens) ? event.context_tokens : null;
                if (event && event.done) {
                    const status = event.finish_reason === "length" ? "length" : "done";
                    const usage = event.usage || null;
                    const trimmed = event.context || null;
                    return [
                        event.content,
                        finish(turn, {
                            turn, status, content: event.content, usage, context: trimmed,
                            context_tokens: context,
                        }),
                    ];
                }
                if (event && event.error) {
                    const content = event.content !== undefined ? event.content : shown || "";
                    return [
                        content,
                        finish(turn, {
                            turn, status: "error", content, error: event.error, context_tokens: context,
                        }),
                    ];
                }
                if (event && typeof event.content === "string") latest.set(turn, event.content);
                // errorEvent is only ever set when the request failed (this component lives
                // for one turn); a freshly mounted component reports every prop as triggered.
                const failed = Boolean(errorEvent);
                const closed = status === "DISCONNECTED" && opened.has(turn);
                if (!failed && !closed) {
                    return [latest.has(turn) ? latest.get(turn) : noUpdate(), noUpdate()];
                }
                // The connection ended; unless its final event turns up, it was cut.
                return new Promise((resolve) =>
                    setTimeout(() => {
                        runDeferred();
                        if (finished.has(turn)) return resolve([noUpdate(), noUpdate()]);
                        const content = latest.has(turn) ? latest.get(turn) : shown || "";
                        const error = { type: "network", message: "connection lost" };
                        resolve([content, finish(turn, { turn, status: "error", content, error })]);
                    }, DISCONNECT_GRACE_MS)
                );
            },

            /* Stop: keep what is shown, abort the request. */
            stopReply: function (clicks, streaming, result, shown) {
                runDeferred();
                streaming = streaming || pendingTurn;
                if (!clicks || !streaming) return noUpdate();
                const turn = streaming.turn;
                if (finished.has(turn) || (result && result.turn === turn)) return noUpdate();
                window.dash_clientside.set_props("chat-event-source", { operation: "close" });
                const content = latest.has(turn) ? latest.get(turn) : shown || "";
                const question = questions.get(turn) || "";
                return finish(turn, { turn, status: "stopped", content, question });
            },

            applyStreamingState: function (streaming) {
                const busy = Boolean(streaming);
                return [
                    busy,
                    busy ? { display: "none" } : {},
                    busy ? {} : { display: "none" },
                ];
            },

            useExample: function (clicks, texts) {
                const trig = (window.dash_clientside.callback_context.triggered || [])[0];
                if (!trig || !trig.value) return noUpdate();
                const picked = JSON.parse(trig.prop_id.slice(0, trig.prop_id.lastIndexOf(".")));
                const box = document.querySelector("#chat-input");
                if (box) setTimeout(() => box.focus(), 0);
                return texts[picked.index];
            },

            switchLanguage: function (lang) {
                if (!lang) return;
                document.cookie =
                    "chat_lang=" + encodeURIComponent(lang) + "; path=/; max-age=31536000; SameSite=Lax";
                window.location.reload();
            },
        },
    });

    /* Two things the page's fetches need that Dash and the stream component cannot do:
       - The stream route refuses with a real status (429 over a limit, 401 after logout) and
         the reason as one SSE error event. FefferyPostEventSource drops any response that is
         not 2xx unread, so the page would only see "connection lost"; hand it the event.
       - When the session ends (logged out in another tab, password changed), Dash callbacks
         get 401 and would fail silently; reloading shows the login screen. */
    const originalFetch = window.fetch.bind(window);
    window.fetch = function (input, init) {
        const url = typeof input === "string" ? input : (input && input.url) || "";
        const started = originalFetch(input, init);
        return started.then((response) => {
            const type = response.headers.get("content-type") || "";
            if (!response.ok && url.indexOf("/api/chat/stream") !== -1 && type.indexOf("text/event-stream") === 0) {
                return new Response(response.body, { status: 200, headers: response.headers });
            }
            if (response.status === 401 && url.indexOf("_dash-") !== -1) window.location.reload();
            return response;
        });
    };

    /* Enter sends, Shift+Enter is a new line. Never send while an IME is composing:
       Chinese and Japanese users press Enter to pick a candidate. */
    document.addEventListener(
        "keydown",
        function (event) {
            if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey) return;
            if (event.isComposing || event.keyCode === 229) return;
            const target = event.target;
            if (!target || target.id !== "chat-input") return;
            event.preventDefault();
            const send = document.getElementById("chat-send-button");
            if (send && !send.disabled && send.offsetParent !== null) send.click();
        },
        true
    );

    /* Keep the newest message in view while a reply grows, unless the user scrolled up
       to read something; sending a message always brings the thread back down. */
    let stick = true;
    function nearBottom(el) {
        return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    }
    function watch() {
        const thread = document.getElementById("chat-messages");
        if (!thread) return false;
        thread.addEventListener("scroll", () => (stick = nearBottom(thread)), { passive: true });
        // Once per frame at most: reading scrollHeight forces a layout, and a streaming reply
        // changes the DOM many times a frame.
        let queued = false;
        new MutationObserver(() => {
            if (!stick || queued) return;
            queued = true;
            requestAnimationFrame(() => {
                queued = false;
                if (stick) thread.scrollTop = thread.scrollHeight;
            });
        }).observe(thread, { childList: true, subtree: true, characterData: true });
        return true;
    }
    document.addEventListener(
        "click",
        (event) => {
            if (event.target.closest && event.target.closest("#chat-send-button")) stick = true;
        },
        true
    );
    const waitForThread = setInterval(() => {
        if (watch()) clearInterval(waitForThread);
    }, 100);
})();
