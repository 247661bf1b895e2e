/* Clientside callbacks (namespace "chat") and page behaviours Dash has no prop for. */
(function () {
    "use strict";

    const noUpdate = () => window.dash_clientside.no_update;
    // Per turn: whether the connection opened, the newest text, and whether it has ended.
    // A DISCONNECTED status can reach Dash before the final event that preceded it, so an
    // end without a final event is only concluded after a grace period.
    const opened = new Set();
    const finished = new Set();
    const latest = new Map();
    const DISCONNECT_GRACE_MS = 400;

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
        return result;
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        chat: {
            /* One stream event (or a status change) -> [live markdown, final result]. */
            onStreamEvent: function (data, status, errorEvent, streaming, result, shown) {
                if (!streaming) return [noUpdate(), noUpdate()];
                const turn = streaming.turn;
                if (finished.has(turn) || (result && result.turn === turn)) {
                    return [noUpdate(), noUpdate()];
                }
                if (status === "CONNECTING" || status === "CONNECTED") opened.add(turn);

                const event = parseEvent(data);
                if (event && event.done) {
                    const status = event.finish_reason === "length" ? "length" : "done";
                    const usage = event.usage || null;
                    const context = event.context || null;
                    return [
                        event.content,
                        finish(turn, { turn, status, content: event.content, usage, context }),
                    ];
                }
                if (event && event.error) {
                    const content = event.content !== undefined ? event.content : shown || "";
                    return [content, finish(turn, { turn, status: "error", content, error: event.error })];
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
                        if (finished.has(turn)) return resolve([noUpdate(), noUpdate()]);
                        const content = latest.has(turn) ? latest.get(turn) : shown || "";
                        const error = { type: "network", message: "connection lost" };
                        resolve([content, finish(turn, { turn, status: "error", content, error })]);
                    }, DISCONNECT_GRACE_MS)
                );
            },

            /* Stop: keep what is shown, abort the request. */
            stopReply: function (clicks, streaming, result, shown) {
                if (!clicks || !streaming) return noUpdate();
                const turn = streaming.turn;
                if (finished.has(turn) || (result && result.turn === turn)) return noUpdate();
                window.dash_clientside.set_props("chat-event-source", { operation: "close" });
                const content = latest.has(turn) ? latest.get(turn) : shown || "";
                return finish(turn, { turn, status: "stopped", content });
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
        return originalFetch(input, init).then((response) => {
            const url = typeof input === "string" ? input : (input && input.url) || "";
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
        new MutationObserver(() => {
            if (stick) thread.scrollTop = thread.scrollHeight;
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
