/* Clientside callbacks (namespace "chat") and page behaviours Dash has no prop for.

One turn (issue 13): `startTurn`, at the click on Send or Retry, shows the question and POSTs
the turn to the stream route with fetch, before Dash hears of the click; this script reads the stream itself and draws the reply's Markdown into the live
bubble, with the component and props a finished reply has, so no token passes through Dash.
The stream's final event says what the server decided (the stored entries, the finished
messages as Dash components): the page hands those to Dash in one update, and the reply's
text never goes back up. Only when no final event comes (Stop, a lost connection) does the
server's `finish_reply` draw the end, from what the page saw. */
(function () {
    "use strict";

    const noUpdate = () => window.dash_clientside.no_update;
    const setProps = (id, props) => window.dash_clientside.set_props(id, props);
    const ignore = () => {};
    // Anything stored before this moment was read from local storage by this page load.
    const PAGE_START = Date.now();
    let redraws = 0;

    /* What the page still decides alone, kept free of Dash so the tests can hold it to the
       server's rules: whether a message may go at all, and the browser's copy of a
       conversation when records are off. */
    const turnLogic = {
        /* Why a message cannot be sent ("empty", "too_long"), or null: services/input_rules.py
           `input_problem`, with the server's own set of blank characters (page config). Length
           in code points, as Python counts it. */
        inputProblem: function (text, page) {
            const blank = new RegExp("^[" + page.blankCharacters + "]*$", "u");
            if (text === null || text === undefined || blank.test(String(text))) return "empty";
            if (Array.from(String(text)).length > page.maxInputChars) return "too_long";
            return null;
        },

        /* The browser's copy of a conversation (services/records/browser.py reads it, and
           titles an untitled one by its first question). Opening a conversation does not
           move it up the list: only a change in its length does. `persona`
           ({persona, custom_prompt}) is kept when a question is added to a conversation that
           has none (a new one, or an imported one): fixed from then on, as on the server. */
        keepConversation: function (local, conversation, history, now, persona) {
            const data = Object.assign({}, local || {});
            const entry = Object.assign(
                { title: "", updated_at: now, history: [] },
                data[conversation] || {}
            );
            history = history || [];
            const grows = history.length > (entry.history || []).length;
            if (persona && grows && !entry.persona) Object.assign(entry, persona);
            if (history.length !== (entry.history || []).length) entry.updated_at = now;
            entry.history = history;
            data[conversation] = entry;
            return data;
        },
    };
    window.chatTurn = turnLogic;

    /* ---------------------------------------------------------------- the live reply */

    // The turn in progress: {turn, body, abort, text, question, index, model, page, ...}.
    let current = null;
    const live = { host: null, root: null, queued: false };

    /* A React root of our own inside LIVE_MARKDOWN (an empty Div Dash leaves alone). */
    function liveRoot() {
        const box = document.getElementById("chat-live-markdown");
        if (!box || !window.ReactDOM || !window.ReactDOM.createRoot) return null;
        if (!live.host || !box.contains(live.host)) {
            if (live.root) live.root.unmount();
            live.host = document.createElement("div");
            box.appendChild(live.host);
            live.root = window.ReactDOM.createRoot(live.host);
        }
        return live.root;
    }

    /* The live bubble shows `text` as the finished reply will (page.markdown are its props,
       from components/markdown.py: raw HTML off, non-web links to the blocked-link page), or
       "thinking" until the first text. `now`: draw before returning (the first text). */
    function drawLive(text, page, now) {
        const root = liveRoot();
        if (!root) return;
        const R = window.React;
        const view = text
            ? R.createElement(
                  window.feffery_markdown_components.FefferyMarkdown,
                  Object.assign({}, page.markdown, { markdownStr: text, setProps: ignore })
              )
            : R.createElement("div", { className: "chat-thinking" }, page.thinking);
        if (now) window.ReactDOM.flushSync(() => root.render(view));
        else root.render(view);
    }

    /* Later text is drawn once per frame at most: a long reply is parsed again on each draw. */
    function queueDraw(state) {
        if (live.queued) return;
        live.queued = true;
        requestAnimationFrame(() => {
            live.queued = false;
            if (current === state && !state.finished) drawLive(state.text, state.page, true);
        });
    }

    /* ---------------------------------------------------------------- the stream */

    /* The `data:` of one SSE block as JSON; null for comments (keep-alives) and junk. */
    function parseBlock(block) {
        const data = [];
        block.split("\n").forEach((line) => {
            if (line.startsWith("data:")) data.push(line.slice(line.charAt(5) === " " ? 6 : 5));
        });
        if (!data.length) return null;
        try {
            return JSON.parse(data.join("\n"));
        } catch (e) {
            return null;
        }
    }

    async function readStream(state) {
        let response;
        try {
            response = await originalFetch(state.page.streamUrl, {
                method: "POST",
                headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
                body: state.body,
                signal: state.abort.signal,
                credentials: "same-origin",
                cache: "no-store",
            });
        } catch (e) {
            return ended(state);
        }
        // Refusals (429, 401, 400) come as one SSE error event with their real status; a
        // body that is not SSE (a proxy's error page) reads as a lost connection.
        const type = response.headers.get("content-type") || "";
        if (type.indexOf("text/event-stream") !== 0 || !response.body) return ended(state);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                buffer += value.indexOf("\r") === -1 ? value : value.replace(/\r\n?/g, "\n");
                let cut;
                while ((cut = buffer.indexOf("\n\n")) !== -1) {
                    const event = parseBlock(buffer.slice(0, cut));
                    buffer = buffer.slice(cut + 2);
                    if (event && onEvent(state, event)) return;
                }
            }
        } catch (e) {
            // Aborted (Stop, Clear) or the connection broke: see `ended`.
        }
        ended(state);
    }

    /* One event of the stream; true once it was the final one. */
    function onEvent(state, event) {
        const opening = event.turn && !event.done && !event.error;
        if (state.finished) {
            // Stopped: only where the turn is recorded still matters (Stop tells the server
            // which reply to end: `stopOnServer`), so the stream is read until it says.
            if (opening) opened(state, event.turn.conversation_id || null);
            return Boolean(state.opened);
        }
        if (typeof event.delta === "string") {
            const first = !state.text;
            state.text += event.delta;
            if (first && state.text) {
                drawLive(state.text, state.page, true);
                runDeferredAfterPaint();
            } else queueDraw(state);
            return false;
        }
        if (event.done || event.error) {
            // The last text shows now, not when Dash has drawn the finished message.
            if (live.queued && state.text) drawLive(state.text, state.page, true);
            finishTurn(state, event);
            return true;
        }
        // The first event: the conversation the turn is recorded in, and how it was planned.
        // A new conversation's id is kept at once (after the first text is drawn), so a page
        // reloaded after a crash mid-reply retries in the same conversation.
        if (opening) {
            Object.assign(state.planned, event.turn);
            opened(state, event.turn.conversation_id || null);
            showSaved(event.turn.saved);
            const id = event.turn.conversation_id;
            if (id && id !== state.conversation) {
                state.conversation = id;
                state.unsaved = id;
                requestAnimationFrame(() => keepConversationId(state));
            }
        }
        return false;
    }

    /* The server says whether it could record the turn (null: it keeps no records). The
       notice stays until a turn is recorded again. */
    let savedShown = true; // the notice starts hidden (components/layout.py)
    function showSaved(saved) {
        // Only a change costs a round of Dash's renderer: this runs as the first text arrives.
        if (typeof saved !== "boolean" || saved === savedShown) return;
        savedShown = saved;
        setProps("chat-records-not-saved", { hidden: saved });
    }

    /* The conversation's id into its store, once (before the stored history changes at the
       turn's end: records off, the browser's copy is filed under it). */
    function keepConversationId(state) {
        if (!state.unsaved) return;
        setProps("chat-conversation-store", { data: state.unsaved });
        state.unsaved = null;
        state.listed = true; // the sidebar's list is drawn again for it (callbacks/sidebar.py)
    }

    /* The stream closed without a final event: unless the user stopped or cleared, it was cut. */
    function ended(state) {
        opened(state, null); // no word from the server on where (a Stop waiting for it goes on)
        if (state.finished || state.abort.signal.aborted) return;
        // Only a turn the server said it recorded (its first event came) goes on there.
        const conversation = state.planned.conversation_id;
        if (!state.page.records || !conversation) return finishTurn(state, null);
        // With records on, the reply went on without this page (api/running.py): if the
        // server can be reached, the page shows its record (following the reply if it is
        // still coming); if not, the page says what it saw, as without records.
        state.finished = true;
        if (current === state) current = null;
        runDeferred();
        const url = state.page.runningUrl + "?conversation_id=" + encodeURIComponent(conversation);
        originalFetch(url, { credentials: "same-origin", cache: "no-store" })
            .then((response) => {
                if (!response.ok) throw new Error(String(response.status));
                setProps("chat-open-request", { data: { id: conversation, at: Date.now() } });
            })
            .catch(() => {
                state.finished = false;
                finishTurn(state, null);
            });
    }

    /* Put `slots` (the text the page has) where the server left their markers; a marker used
       as a key (page.markdownSlot) stands for the props the page has for it (page.markdown),
       which the element's own props then complete (components/turn.py `view_json`). */
    function fill(value, slots) {
        if (typeof value === "string") return slots.has(value) ? slots.get(value) : value;
        if (Array.isArray(value)) return value.map((item) => fill(item, slots));
        if (value && typeof value === "object") {
            const out = {};
            Object.keys(value).forEach((key) => {
                if (slots.has(key)) Object.assign(out, slots.get(key));
                else out[key] = fill(value[key], slots);
            });
            return out;
        }
        return value;
    }

    /* The turn is over. With the server's final event, the page draws the end itself, in one
       update of Dash's renderer; otherwise the server's finish_reply does, from what the page
       saw (its text, and the final event if there was one). */
    function finishTurn(state, event) {
        if (state.finished) return; // stopped or cleared meanwhile
        state.ending = true;
        runDeferred();
        state.finished = true;
        if (current === state) current = null;
        const planned = Object.assign(state.planned, (event && event.turn) || {});
        if (!event || !event.view || !event.entries) {
            setProps("chat-stream-result", { data: report(state, event, false) });
            return;
        }
        const page = state.page;
        const slots = new Map([
            [page.replySlot, state.text],
            [page.questionSlot, state.question],
            [page.nextTurnSlot, "chat-turn-" + (state.number + 1)],
            [page.markdownSlot, page.markdown],
            ...Object.entries(page.namespaceSlots),
        ]);
        const entries = fill(event.entries, slots);
        // The finished messages first, then the live ones hide: they never blink out.
        if (event.view.replace) setProps("chat-history-list", { children: fill(event.view.children, slots) });
        else setProps("chat-turn-" + state.number, fill(event.view.props, slots));
        setProps("chat-turn-number", { data: state.number + 1 });
        if (Number.isInteger(planned.context_from)) markContext(planned.context_from, page);
        setProps("chat-live-question", { className: page.idleClass });
        setProps("chat-live-reply", { className: page.idleClass });
        // Once the live bubble is hidden, its copy of the reply goes (two frames: Dash draws
        // the classes in between), so the page holds the reply once.
        requestAnimationFrame(() =>
            requestAnimationFrame(() => {
                if (!current) clearLive(page);
            })
        );
        // Only when it changed: the sidebar's list is drawn again for it.
        if (planned.conversation_id && planned.conversation_id !== state.conversation) {
            state.conversation = state.unsaved = planned.conversation_id;
        }
        keepConversationId(state);
        const stored = new window.dash_clientside.Patch();
        if (planned.context_from) stored.assign([state.index, "context_from"], planned.context_from);
        setProps("chat-history-store", { data: stored.extend([], entries).build() });
        setProps("chat-streaming-store", { data: null });

        if (Number.isInteger(event.context_tokens)) setProps("chat-context-tokens", { data: event.context_tokens });
        if (Number.isInteger(planned.history_start)) setProps("chat-history-start", { data: planned.history_start });
        // For the header's running total and the sidebar: usage only, never the text.
        const used = entries
            .filter((entry) => entry.role === "assistant")
            .map((entry) => ({ role: entry.role, model: entry.model, usage: entry.usage }));
        const result = { turn: state.turn, drawn: true, entries: used, listed: !!state.listed };
        setProps("chat-stream-result", { data: result });
    }

    /* What finish_reply needs to draw a turn that ended without the server's final event. */
    function report(state, event, stopped) {
        keepConversationId(state);
        const planned = state.planned;
        const start = planned.context_from;
        setProps("chat-turn-number", { data: state.number + 1 });
        if (Number.isInteger(start)) markContext(start, state.page);
        return {
            turn: state.turn, drawn: false, final: event, stopped, content: state.text,
            question: state.question, retry: state.retry, index: state.index,
            number: state.number, model: planned.model || state.model,
            conversation: planned.conversation_id || null,
            context_from: Number.isInteger(start) ? start : null,
            versions: state.versions, attachments: state.attachments || null,
        };
    }

    /* The context now starts at entry `start`: turns before it are dimmed, and the line shows
       above the turn where it starts (components/thread.py turn_class). Only the turns whose
       classes change are touched: a class is cheap for Dash, a list is not. */
    function markContext(start, page) {
        document.querySelectorAll("#chat-history-list .chat-turn[data-question]").forEach((el) => {
            const question = Number(el.getAttribute("data-question"));
            let wanted = page.turnClass;
            if (question < start) wanted += " " + page.outsideClass;
            else if (question === start && start > 0) wanted += " " + page.contextStartClass;
            if (el.id && el.className !== wanted) setProps(el.id, { className: wanted });
        });
    }

    /* The server said which conversation the turn is recorded in (or the stream ended first). */
    function opened(state, conversation) {
        if (state.opened) return;
        state.opened = { conversation: conversation || state.conversation || null };
        if (state.onOpened) state.onOpened(state.opened.conversation);
    }

    /* Stop, told to the server: with records on, a reply goes on when its page hangs up (a
       reload must not lose it: api/running.py), so Stop marks it stopped first, in whichever
       process writes it, and only then hangs up. Resolves when done, or given up (2 s). */
    function stopOnServer(page, conversation) {
        if (!page.records || !conversation) return Promise.resolve();
        const told = originalFetch(page.stopUrl, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ conversation_id: conversation }),
            credentials: "same-origin",
            cache: "no-store",
        }).catch(ignore);
        return Promise.race([told, new Promise((done) => setTimeout(done, 2000))]);
    }

    /* The conversation a turn is recorded in, once the server has said (at most 2 s). */
    function whenOpened(state) {
        if (state.opened) return Promise.resolve(state.opened.conversation);
        return new Promise((done) => {
            state.onOpened = done;
            setTimeout(() => done(state.conversation), 2000);
        });
    }

    /* Stop, or Clear while a reply streams: abort the request (the server then keeps the text
       so far, marked stopped, and closes the upstream). */
    function abortTurn(state) {
        if (deferred && pendingTurn && pendingTurn.turn === state.turn) {
            // Dash never heard of this turn: the page hides what it showed itself.
            deferred = null;
            pendingTurn = null;
            ["chat-live-question", "chat-live-reply"].forEach((id) => {
                const el = document.getElementById(id);
                if (el) el.className = state.page.idleClass;
            });
            clearLive(state.page);
        }
        state.finished = true;
        if (current === state) current = null;
        state.abort.abort();
    }

    /* ---------------------------------------------------------------- the start */

    /* What a turn starts from (components/turn.py TURN_STATES), by name, read from Dash's
       store at the click (window.dash_component_api, Dash 3+); null until Dash is ready. */
    function storeStates() {
        const api = window.dash_component_api;
        if (!api || typeof api.getLayout !== "function") return null;
        const prop = (id, name) => {
            const found = api.getLayout(id);
            return found && found.props ? found.props[name] : undefined;
        };
        const page = prop("chat-page-config", "data");
        if (!page || !page.turnStates) return null;
        const named = {};
        page.turnStates.forEach(([name, id, key]) => (named[name] = prop(id, key)));
        return { page, named };
    }

    /* Send and Retry, at the click itself (capture phase, before Dash's handlers): the
       request leaves and the live bubbles show before Dash does anything, which on a long
       thread takes tens of milliseconds a round (measured: bench/long_conversation.py). Dash
       never hears of the click: the turn's start reaches it by `defer`. */
    document.addEventListener(
        "click",
        (event) => {
            const target = event.target.closest ? event.target : null;
            const send = target && target.closest("#chat-send-button");
            const retry = target && target.closest(".chat-retry-button");
            const button = send || retry;
            if (!button || button.disabled) return;
            const found = storeStates();
            if (!found) return;
            event.stopPropagation();
            event.preventDefault();
            let retryAt = null;
            if (retry) {
                // The server put the index of the question to ask again in the button's id
                // (components/thread.py).
                try {
                    retryAt = JSON.parse(retry.id).index;
                } catch (e) {
                    return;
                }
            } else {
                // The box as the user sees it: its store lags the typing (debounceWait).
                const box = document.getElementById("chat-input");
                if (box && typeof box.value === "string") found.named.text = box.value;
            }
            const problem = startTurn(found.page, found.named, retryAt);
            if (problem) setProps("chat-input-problem", { data: problem });
        },
        true
    );

    /* Show the question, start the stream; null, or why the text cannot be sent (for
       INPUT_PROBLEM). `retryAt`: the index of the question to ask again, or null for the
       box's text. Everything Dash must know is set once the reply has begun (`defer`). */
    function startTurn(page, s, retryAt, options) {
        // One reply at a time.
        if (s.streaming || deferred || current) return null;
        // `options.text`: a question given by the page (an edit: callbacks/branches.py), not
        // the box's; `options.versions`: the turn's messages that have versions.
        options = options || {};
        const given = typeof options.text === "string";
        const history = s.history || [];
        const retry = retryAt !== null;
        let previous;
        let question;
        // The question's attachments (issue 18): a retry's are its own again; a new question
        // takes the composer's uploaded files (assets/attach.js), an edit the edited one's.
        let attached = [];
        if (retry) {
            const asked = history[retryAt];
            // Only the newest question can be asked again (an older error's button may still
            // be on screen).
            const newest = history.map((e) => e.role).lastIndexOf("user");
            if (!asked || retryAt !== newest) return null;
            question = asked.content || "";
            previous = history.slice(0, retryAt);
            attached = asked.attachments || [];
        } else {
            const text = given ? options.text : s.text;
            let problem = turnLogic.inputProblem(text, page);
            // A picture (or a file) asked about without words goes, as in ChatGPT.
            const filesAlone = problem === "empty" && !given && window.chatAttach &&
                window.chatAttach.ready() > 0;
            if (filesAlone) problem = null;
            if (problem) {
                // The server words it in the page's language; the text stays in the box.
                const length = Array.from(String(text || "")).length;
                return { problem, length, limit: page.maxInputChars, at: Date.now() };
            }
            question = filesAlone ? "" : text;
            previous = history;
            if (!given && window.chatAttach) attached = window.chatAttach.take();
            // An edit asks again with the edited question's files (callbacks/branches.py).
            if (given && Array.isArray(options.attachments)) attached = options.attachments;
        }

        // The thread from where the server last said the context can start.
        const start = Math.min(Math.max(0, s.historyStart || 0), previous.length);
        const model = s.model || null;
        const request = {
            turn: {
                question,
                history: previous.slice(start).map(slim),
                history_start: start,
                multi_turn: s.multiTurn !== false,
                persona: s.persona || null,
                custom_prompt: s.customPrompt || null,
                retry,
                versions: options.versions || undefined,
                attachments: attached.length ? attached.map((ref) => ref.id) : undefined,
            },
            model,
            lang: s.lang || "en",
            conversation_id: s.conversation || null,
        };
        if (s.custom) {
            request.temperature = s.temperature;
            request.top_p = s.topP;
            request.max_tokens = s.maxTokens || null;
        }
        const turn = newTurnId();
        // The turn's container in the thread (components/thread.py): a retry's is the last
        // one, a new question's the empty one after it.
        const number = Math.max(0, (s.turnNumber || 0) - (retry ? 1 : 0));
        const state = {
            turn, page, question, retry, number, text: "", finished: false, planned: {},
            conversation: s.conversation || null, index: previous.length, model,
            abort: new AbortController(), body: JSON.stringify(request),
            versions: options.versions || null, attachments: attached.length ? attached : undefined,
        };
        current = state;
        readStream(state);
        showLive(page, question, attached);

        const streamingNow = { turn, model, index: previous.length, question: retry ? null : question };
        defer(streamingNow, () => {
            // Dash's props agree with what the page shows (its later updates start from them).
            setProps("chat-live-question", { className: page.questionClass });
            setProps("chat-live-reply", { className: page.liveClass });
            // A retry's failed attempt goes. Its messages go too, not only out of sight: Dash
            // does not draw again a child whose props changed only through its parent's
            // `children` (seen: the finished retry's reply set, the error still on screen),
            // so the finished turn must mount new ones.
            if (retry && !state.ending) {
                setProps("chat-turn-" + number, {
                    className: page.turnClass + " chat-turn-retrying",
                    children: [],
                });
            }
            const asked = { role: "user", content: question };
            if (attached.length) asked.attachments = attached;
            if (state.planned.context_from) asked.context_from = state.planned.context_from;
            if (!state.finished) setProps("chat-streaming-store", { data: streamingNow });
            setProps("chat-history-store", { data: previous.concat([asked]) });
            if (!retry && !given) setProps("chat-input", { value: "" });
            if (s.notice) setProps("chat-notice", { children: null });
            if (s.estimate) setProps("composer-estimate", { children: "" });
            // The persona is fixed once a conversation has a question (a retry's already had
            // one: the picker is locked, and setting it again can make the picker announce its
            // value, which redraws the thread).
            if (!previous.length && !retry) {
                setProps("persona-select", { disabled: true });
                if (s.persona === "custom") setProps("persona-custom-prompt", { disabled: true });
            }
        });
        return null;
    }

    /* The live bubbles' copies of the question and the reply go once they are hidden. */
    function clearLive(page) {
        const text = document.getElementById("chat-live-question-text");
        if (text) text.textContent = "";
        const attachments = document.getElementById("chat-live-question-attachments");
        if (attachments) attachments.replaceChildren();
        drawLive("", page, false);
    }

    /* The question and the live reply ("thinking…") show at once, drawn by the page: the
       question's text in an element Dash gives no children, the classes as Dash will set
       them (`defer`), so Dash's later updates agree with the screen. */
    function showLive(page, question, attached) {
        const text = document.getElementById("chat-live-question-text");
        if (text) text.textContent = question;
        const attachments = document.getElementById("chat-live-question-attachments");
        if (attachments && window.chatAttach) window.chatAttach.draw(attachments, attached);
        const asked = document.getElementById("chat-live-question");
        if (asked) asked.className = page.questionClass;
        const reply = document.getElementById("chat-live-reply");
        if (reply) reply.className = page.liveClass;
        drawLive("", page, true);
    }

    /* ---------------------------------------------------------------- a page that leaves */

    /* Records off, a page reloaded or closed mid-reply keeps what it had in the browser's copy
       (the thread and the sidebar's), marked `page.leftStatus`: nobody else keeps it, and the
       server stops the reply when the page hangs up. Written straight to local storage, as
       dcc.Store keeps it (its JSON under the store's id): the page is going, Dash with it.
       With records on the server goes on with the reply instead (api/running.py). */
    window.addEventListener("pagehide", () => {
        const state = current;
        if (state && !state.finished && !state.page.records && state.text) keepLeftReply(state);
    });

    function keepLeftReply(state) {
        const history = layoutProp("chat-history-store", "data");
        if (!Array.isArray(history) || history.length < state.index) return;
        const reply = {
            role: "assistant", content: state.text, model: state.planned.model || state.model,
            usage: null, status: state.page.leftStatus,
        };
        // The thread before the turn, its question, the reply so far. The question is in
        // Dash's store once the deferred updates ran (`defer`); on a busy machine the page can
        // go first, so it is taken from the turn then (a retry's is in the store already).
        const asked = history.length > state.index
            ? history[state.index]
            : { role: "user", content: state.question, attachments: state.attachments };
        const kept = history.slice(0, state.index).concat([asked, reply]);
        const conversation = state.conversation || layoutProp("chat-conversation-store", "data");
        const local = conversation
            ? turnLogic.keepConversation(
                  layoutProp("sidebar-local-records", "data"), conversation, kept,
                  new Date().toISOString(), null
              )
            : null;
        const write = () => {
            try {
                localStorage.setItem("chat-history-store", JSON.stringify(kept));
                if (local) localStorage.setItem("sidebar-local-records", JSON.stringify(local));
            } catch (e) {
                // Storage full or refused: the question stays, marked unanswered.
            }
        };
        write();
        // Once more after this event: a store update Dash had under way (the turn's question,
        // just set) writes its older copy in a microtask, which would otherwise come last.
        queueMicrotask(write);
    }

    /* ---------------------------------------------------------------- following a reply */

    /* A reply the server is still writing for a page that was not there (reloaded, or opened
       from the sidebar): its text, as the server last recorded it, is drawn in the live bubble
       every page.followMs until it ends; then the page asks for the record again
       (OPEN_REQUEST), which draws the end and clears STREAMING_STORE. */
    let follow = null;
    let loadAsked = false;

    function layoutProp(id, name) {
        const api = window.dash_component_api;
        if (!api || typeof api.getLayout !== "function") return undefined;
        const found = api.getLayout(id);
        return found && found.props ? found.props[name] : undefined;
    }

    function startFollow(id) {
        if (follow && follow.id === id) return;
        stopFollow();
        const page = layoutProp("chat-page-config", "data");
        if (!page) return;
        follow = { id, page, timer: null, ended: false };
        drawLive("", page, false);
        followTick(follow);
    }

    function stopFollow() {
        if (!follow) return;
        clearTimeout(follow.timer);
        const page = follow.page;
        follow = null;
        requestAnimationFrame(() => requestAnimationFrame(() => {
            if (!current && !follow) drawLive("", page, false);
        }));
    }

    function followTick(watched) {
        if (follow !== watched || watched.ended) return;
        clearTimeout(watched.timer);
        const url = watched.page.runningUrl + "?conversation_id=" + encodeURIComponent(watched.id);
        originalFetch(url, { credentials: "same-origin", cache: "no-store" })
            .then((response) => (response.ok ? response.json() : null))
            .then((running) => {
                if (follow !== watched || watched.ended) return;
                if (running && running.streaming) {
                    if (running.content) drawLive(running.content, watched.page, false);
                } else if (running) {
                    watched.ended = true;
                    setProps("chat-open-request", { data: { id: watched.id, at: Date.now() } });
                    return;
                }
                watched.timer = setTimeout(() => followTick(watched), watched.page.followMs);
            })
            .catch(() => {
                // Offline for a moment: try again, the reply is on record meanwhile.
                if (follow === watched) {
                    watched.timer = setTimeout(() => followTick(watched), watched.page.followMs);
                }
            });
    }

    function newTurnId() {
        // crypto.randomUUID needs a secure context; a plain-http LAN address is not one.
        return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
    }

    /* Updates that can wait until the reply has begun: the turn's state (the composer's lock),
       the stored history, the emptied box. Each is a round of Dash's renderer; done before the
       first token, they would hold it back (measured: bench/browser_latency.py). They run once
       the first text has been shown, before any final result, or after DEFER_MAX_MS. */
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
        // Rendered at once: the live bubbles' classes, set in the page before Dash knew, must
        // be Dash's own before a later update (the turn's end) can change them again; in one
        // batch with it, React would see no change and leave the bubbles shown.
        if (update) window.ReactDOM.flushSync(update);
    }
    function runDeferredAfterPaint() {
        if (deferred) requestAnimationFrame(() => setTimeout(runDeferred, 0));
    }

    /* What the stream route plans from (api/schemas.py PageTurn's history entries). */
    function slim(entry) {
        const out = { role: entry.role };
        if (entry.content) out.content = entry.content;
        if (entry.status) out.status = entry.status;
        // A question's attachments go back with it (its documents are searched again).
        if (entry.attachments && entry.attachments.length) out.attachments = entry.attachments;
        return out;
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        chat: {
            /* The stored thread is drawn whole once the page has read it (callbacks/chat.py). */
            redrawOnLoad: function (stamp, conversation, page) {
                branchAsked = 0; // the thread changed: a fork or switch was answered
                if (stamp === null || stamp === undefined || stamp < PAGE_START) {
                    // With records on, the server's record is drawn instead of the browser's
                    // copy: a reply that went on after a reload is there, or still coming.
                    if (page && page.records && conversation && !loadAsked) {
                        loadAsked = true;
                        return [noUpdate(), { id: conversation, at: Date.now() }];
                    }
                    redraws += 1;
                    return [redraws, noUpdate()];
                }
                return [noUpdate(), noUpdate()];
            },

            /* Registered only when the server keeps no records (callbacks/sidebar.py). */
            keepInBrowser: function (history, conversation, local, persona, customPrompt) {
                if (!conversation) return noUpdate();
                const custom = persona === "custom" ? (customPrompt || "").trim() : null;
                const fixed = persona ? { persona, custom_prompt: custom } : null;
                return turnLogic.keepConversation(
                    local, conversation, history, new Date().toISOString(), fixed
                );
            },

            /* Stop: keep what is shown, tell the server (records on), abort the request;
               finish_reply draws the end. A followed reply is stopped on the server, and
               the page reads how it ended. */
            stopReply: function (clicks) {
                runDeferred();
                if (clicks && follow) {
                    const watched = follow;
                    stopOnServer(watched.page, watched.id).then(() => followTick(watched));
                    return noUpdate();
                }
                const state = current;
                if (!clicks || !state || state.finished) return noUpdate();
                state.finished = true; // the text stays as it is from now on
                if (current === state) current = null;
                if (!state.page.records) {
                    abortTurn(state);
                    return report(state, null, true);
                }
                whenOpened(state)
                    .then((conversation) => stopOnServer(state.page, conversation))
                    .then(() => {
                        abortTurn(state);
                        setProps("chat-stream-result", { data: report(state, null, true) });
                    });
                return noUpdate();
            },

            /* Lock the composer while a reply streams; a turn that loses its state without
               finishing (Clear, New chat) is aborted. */
            applyStreamingState: function (streaming) {
                if (!streaming && current && !current.finished && !deferred) abortTurn(current);
                if (streaming && streaming.follow) startFollow(streaming.follow);
                else stopFollow();
                const busy = Boolean(streaming);
                // Regenerate, edit and versions wait too (style.css `.chat-busy`).
                document.body.classList.toggle("chat-busy", busy);
                return [
                    busy,
                    busy ? { display: "none" } : {},
                    busy ? {} : { display: "none" },
                ];
            },

            /* A fork is done (callbacks/branches.py): start its turn, the one request it
               costs. A regenerate asks the newest question again (a retry); an edit asks
               its text as a new question. */
            askNow: function (ask) {
                branchAsked = 0; // answered
                const found = ask ? storeStates() : null;
                if (!found) return noUpdate();
                const retryAt = Number.isInteger(ask.retry) ? ask.retry : null;
                const options = { versions: ask.versions || null };
                if (retryAt === null) options.text = String(ask.text || "");
                if (Array.isArray(ask.attachments)) options.attachments = ask.attachments;
                return startTurn(found.page, found.named, retryAt, options) || noUpdate();
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
                // Framed by another site (a Teams tab), a Lax cookie would be refused: it needs
                // what the server's cookies get then (api/security.py cookie_options).
                const framed = window.top !== window.self && window.isSecureContext;
                document.cookie =
                    "chat_lang=" +
                    encodeURIComponent(lang) +
                    "; path=/; max-age=31536000; " +
                    (framed ? "SameSite=None; Secure; Partitioned" : "SameSite=Lax");
                window.location.reload();
            },
        },
    });

    /* When the session ends (logged out in another tab, password changed), Dash callbacks
       get 401 and would fail silently; reloading shows the login screen. */
    const originalFetch = window.fetch.bind(window);
    // Not while the page is leaving already (Sign out is a form post): a reload then would
    // cancel that navigation, and the sign-out with it.
    let leaving = false;
    window.addEventListener("beforeunload", () => (leaving = true));
    window.fetch = function (input, init) {
        const url = typeof input === "string" ? input : (input && input.url) || "";
        return originalFetch(input, init).then((response) => {
            if (!leaving && response.status === 401 && url.indexOf("_dash-") !== -1) {
                window.location.reload();
            }
            return response;
        });
    };
    /* ---------------------------------------------------------------- versions */

    /* Regenerate, edit and `‹ k / n ›` (issue 16). The page only asks: the server forks or
       switches the conversation where it is kept (callbacks/branches.py, BRANCH_REQUEST),
       draws the thread, and for a fork hands back the turn to start (`askNow`). */
    function busy() {
        return Boolean(current || deferred || follow || layoutProp("chat-streaming-store", "data"));
    }

    // When the page last asked: a second click before the answer would ask on a thread the
    // first one is changing (the server would see it as stale, and draw the record).
    let branchAsked = 0;
    const BRANCH_WAIT_MS = 2000;

    function askBranch(request) {
        if (Date.now() - branchAsked < BRANCH_WAIT_MS) return;
        branchAsked = Date.now();
        // The thread is about to change: an edit box left open would outlive its question.
        closeEditors();
        // The thread's length: positions are the page's, and the server checks they are its.
        const length = (layoutProp("chat-history-store", "data") || []).length;
        setProps("chat-branch-request", {
            data: Object.assign({ stamp: Date.now(), length }, request),
        });
    }

    function indexOf(element) {
        const index = Number(element.getAttribute("data-index"));
        return Number.isInteger(index) && index >= 0 ? index : null;
    }

    /* The question turns into a box with its text, Cancel and Send (Enter sends, Shift+Enter
       is a new line, Esc cancels; never while an IME is composing). Drawn by the page beside
       Dash's own elements, which it only hides (`chat-editing`): a redraw of the thread
       simply drops it. */
    function openEditor(button) {
        const message = button.closest(".chat-message");
        const at = indexOf(button);
        const page = layoutProp("chat-page-config", "data");
        const history = layoutProp("chat-history-store", "data") || [];
        if (!message || at === null || !page || !history[at] || busy()) return;
        closeEditors();
        const form = document.createElement("div");
        form.className = "chat-edit-form";
        const box = document.createElement("textarea");
        box.className = "chat-edit-input";
        box.setAttribute("aria-label", page.edit.label);
        box.value = history[at].content || "";
        box.rows = Math.min(8, Math.max(2, box.value.split("\n").length));
        const buttons = document.createElement("div");
        buttons.className = "chat-edit-buttons";
        const cancel = document.createElement("button");
        cancel.type = "button";
        cancel.className = "chat-edit-cancel";
        cancel.textContent = page.edit.cancel;
        const send = document.createElement("button");
        send.type = "button";
        send.className = "chat-edit-send";
        send.textContent = page.edit.send;
        buttons.append(cancel, send);
        form.append(box, buttons);
        form.setAttribute("data-index", String(at));
        message.querySelector(".chat-body").appendChild(form);
        message.classList.add("chat-editing");
        box.focus();
        box.setSelectionRange(box.value.length, box.value.length);
    }

    function closeEditors() {
        document.querySelectorAll(".chat-edit-form").forEach((form) => {
            const message = form.closest(".chat-message");
            if (message) message.classList.remove("chat-editing");
            form.remove();
        });
    }

    function sendEdit(form) {
        const page = layoutProp("chat-page-config", "data");
        const box = form.querySelector(".chat-edit-input");
        const at = indexOf(form);
        if (!page || !box || at === null || busy()) return;
        const text = box.value;
        const problem = turnLogic.inputProblem(text, page);
        if (problem) {
            // Said in plain words above the message box, as for the box's own text.
            const length = Array.from(String(text || "")).length;
            setProps("chat-input-problem", {
                data: { problem, length, limit: page.maxInputChars, at: Date.now() },
            });
            box.focus();
            return;
        }
        closeEditors();
        askBranch({ action: "edit", at, text });
    }

    document.addEventListener(
        "click",
        (event) => {
            const target = event.target.closest ? event.target : null;
            if (!target) return;
            const form = target.closest(".chat-edit-form");
            if (form) {
                if (target.closest(".chat-edit-cancel")) closeEditors();
                else if (target.closest(".chat-edit-send")) sendEdit(form);
                return;
            }
            const button = target.closest(
                ".chat-regenerate-button, .chat-edit-button, .chat-version-prev, .chat-version-next"
            );
            if (!button || button.disabled) return;
            event.preventDefault();
            const at = indexOf(button);
            if (at === null || busy()) return;
            if (button.classList.contains("chat-edit-button")) return openEditor(button);
            if (button.classList.contains("chat-regenerate-button")) {
                return askBranch({ action: "regenerate", at });
            }
            const version = Number(button.getAttribute("data-version"));
            if (Number.isInteger(version)) askBranch({ action: "switch", at, version });
        },
        true
    );

    document.addEventListener(
        "keydown",
        (event) => {
            const box = event.target;
            if (!box || !box.classList || !box.classList.contains("chat-edit-input")) return;
            if (event.key === "Escape") {
                event.preventDefault();
                closeEditors();
                return;
            }
            if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey) return;
            if (event.isComposing || event.keyCode === 229) return;
            event.preventDefault();
            sendEdit(box.closest(".chat-edit-form"));
        },
        true
    );

    /* ---------------------------------------------------------------- feedback */

    /* 👍 / 👎 on a finished reply (issue 17). The choice is stored with the reply on the
       server (POST page.feedback.url: api/feedback.py, where the rule is); the buttons'
       `aria-pressed` says which one is chosen. Clicking the chosen one again clears it, the
       other one changes it. 👎 is stored at once, then a small box offers a comment (Enter or
       Send saves it, Esc or Skip closes it). What the server stored also goes into the
       page's thread (HISTORY_STORE), which the export reads. The buttons are drawn only with
       records on (components/message.py): without them there is nowhere to keep a choice. */
    const FEEDBACK_KEYS = ["feedback", "feedback_comment", "feedback_at"];
    // The replies whose choice is on its way, by place: a comment sent meanwhile waits for it.
    const feedbackSaving = new Map();

    const FEEDBACK_BUTTONS = ".chat-feedback-up, .chat-feedback-down";

    /* What a button gives: its class says (components/message.py). */
    function feedbackValue(button) {
        return button.classList.contains("chat-feedback-up") ? "up" : "down";
    }

    function showChoice(message, value) {
        message.querySelectorAll(FEEDBACK_BUTTONS).forEach((button) => {
            const pressed = feedbackValue(button) === value;
            button.setAttribute("aria-pressed", pressed ? "true" : "false");
        });
    }

    function choiceShown(message) {
        const pressed = Array.from(message.querySelectorAll(FEEDBACK_BUTTONS)).find(
            (button) => button.getAttribute("aria-pressed") === "true"
        );
        return pressed ? feedbackValue(pressed) : null;
    }

    /* Store `value` ("up", "down" or null) and `comment` for the reply at `at`; resolves to
       whether the server stored it. The buttons show the choice at once, and go back to what
       they showed if the server refuses (a thread that is not its record any more, a
       database that cannot be written): the page then says so above the message box. */
    function saveFeedback(message, at, value, comment) {
        const page = layoutProp("chat-page-config", "data");
        const conversation = layoutProp("chat-conversation-store", "data");
        const history = layoutProp("chat-history-store", "data") || [];
        const pending = feedbackSaving.get(at);
        if (pending) return pending.then(() => saveFeedback(message, at, value, comment));
        if (!page || !page.feedback || !conversation || !history[at]) return Promise.resolve(false);
        const before = choiceShown(message);
        const length = history.length;
        showChoice(message, value);
        const saving = originalFetch(page.feedback.url, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ conversation_id: conversation, at, length, value, comment }),
            credentials: "same-origin",
            cache: "no-store",
        })
            .then((response) => {
                if (response.status === 401 && !leaving) window.location.reload(); // signed out
                if (!response.ok) throw new Error(String(response.status));
                return response.json();
            })
            .then((stored) => {
                showChoice(message, stored.feedback);
                keepFeedback(conversation, at, length, stored);
                return true;
            })
            .catch(() => {
                showChoice(message, before);
                setProps("chat-notice", { children: page.feedback.failed });
                return false;
            })
            .finally(() => {
                if (feedbackSaving.get(at) === saving) feedbackSaving.delete(at);
            });
        feedbackSaving.set(at, saving);
        return saving;
    }

    /* The stored choice into the page's thread, unless the thread changed meanwhile (another
       conversation, a new turn): then the record has it, and shows it when drawn. */
    function keepFeedback(conversation, at, length, stored) {
        const history = layoutProp("chat-history-store", "data") || [];
        if (layoutProp("chat-conversation-store", "data") !== conversation) return;
        if (history.length !== length || !history[at]) return;
        const patch = new window.dash_clientside.Patch();
        FEEDBACK_KEYS.forEach((key) => {
            if (stored[key] === null || stored[key] === undefined) {
                if (key in history[at]) patch.delete([at, key]);
            } else patch.assign([at, key], stored[key]);
        });
        setProps("chat-history-store", { data: patch.build() });
    }

    /* The comment box under a 👎: drawn by the page beside Dash's own elements, as the edit
       box is (a redraw of the thread drops it). Plain text: a textarea's value, sent as JSON. */
    function openCommentBox(message, at) {
        const page = layoutProp("chat-page-config", "data");
        const body = message.querySelector(".chat-body");
        if (!page || !page.feedback || !body) return;
        closeCommentBoxes();
        const words = page.feedback;
        const form = document.createElement("div");
        form.className = "chat-feedback-form";
        form.setAttribute("data-index", String(at));
        const box = document.createElement("textarea");
        box.className = "chat-feedback-comment";
        box.rows = 2;
        box.maxLength = words.maxChars;
        box.placeholder = words.comment;
        box.setAttribute("aria-label", words.comment);
        const buttons = document.createElement("div");
        buttons.className = "chat-feedback-buttons";
        const skip = document.createElement("button");
        skip.type = "button";
        skip.className = "chat-feedback-skip";
        skip.textContent = words.skip;
        const send = document.createElement("button");
        send.type = "button";
        send.className = "chat-feedback-send";
        send.textContent = words.send;
        buttons.append(skip, send);
        form.append(box, buttons);
        body.appendChild(form);
        box.focus();
    }

    /* `refocus`: the box had the keyboard (Esc, Enter, Skip, Send), which goes back to the 👎. */
    function closeCommentBoxes(refocus) {
        document.querySelectorAll(".chat-feedback-form").forEach((form) => {
            const message = form.closest(".chat-message");
            form.remove();
            const down = message && message.querySelector(".chat-feedback-down");
            if (refocus && down) down.focus();
        });
    }

    /* Send the comment with the 👎 (an empty one adds nothing: the 👎 is stored already). The
       box stays, with its text, if the server refuses. */
    function sendComment(form) {
        const message = form.closest(".chat-message");
        const box = form.querySelector(".chat-feedback-comment");
        const at = indexOf(form);
        if (!message || !box || at === null) return;
        const text = box.value.trim();
        if (!text) return closeCommentBoxes(true);
        form.classList.add("chat-feedback-sending");
        saveFeedback(message, at, "down", text).then((saved) => {
            form.classList.remove("chat-feedback-sending");
            if (!saved || !form.isConnected) return;
            form.remove();
            const down = message.querySelector(".chat-feedback-down");
            if (down) down.focus();
        });
    }

    document.addEventListener(
        "click",
        (event) => {
            const target = event.target.closest ? event.target : null;
            if (!target) return;
            const form = target.closest(".chat-feedback-form");
            if (form) {
                if (target.closest(".chat-feedback-skip")) closeCommentBoxes(true);
                else if (target.closest(".chat-feedback-send")) sendComment(form);
                return;
            }
            const button = target.closest(FEEDBACK_BUTTONS);
            if (!button || button.disabled) return;
            event.preventDefault();
            const message = button.closest(".chat-message");
            const at = indexOf(button);
            if (!message || at === null || busy() || feedbackSaving.has(at)) return;
            const value = feedbackValue(button);
            const next = button.getAttribute("aria-pressed") === "true" ? null : value;
            closeCommentBoxes();
            if (next === "down") openCommentBox(message, at);
            saveFeedback(message, at, next, null).then((saved) => {
                if (!saved) closeCommentBoxes();
            });
        },
        true
    );

    document.addEventListener(
        "keydown",
        (event) => {
            const box = event.target;
            if (!box || !box.classList || !box.classList.contains("chat-feedback-comment")) return;
            if (event.isComposing || event.keyCode === 229) return; // the IME's own keys
            if (event.key === "Escape") {
                event.preventDefault();
                event.stopPropagation();
                closeCommentBoxes(true);
                return;
            }
            if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey) return;
            event.preventDefault();
            sendComment(box.closest(".chat-feedback-form"));
        },
        true
    );

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
       to read something; sending a message always brings the thread back down. While
       scrolled up, the "newest message" button (#chat-jump-newest, components/composer.py)
       shows; it brings the thread down and follows the reply again. */
    let stick = true;
    // Where following last put the thread: a scroll event that finds it there or lower is the
    // page's own (the reply may have grown more since), not the user leaving the bottom.
    let pinned = 0;
    function nearBottom(el) {
        return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    }
    function pinToBottom(el) {
        el.scrollTop = el.scrollHeight;
        pinned = el.scrollTop;
    }
    function showJump() {
        const jump = document.getElementById("chat-jump-newest");
        if (jump && jump.hidden !== stick) jump.hidden = stick;
    }
    function toBottom() {
        stick = true;
        const thread = document.getElementById("chat-messages");
        if (thread) pinToBottom(thread);
        showJump();
    }
    function watch() {
        const thread = document.getElementById("chat-messages");
        if (!thread) return false;
        thread.addEventListener(
            "scroll",
            () => {
                if (!stick || thread.scrollTop < pinned - 1) stick = nearBottom(thread);
                showJump();
            },
            { passive: true }
        );
        // Once per frame at most: reading scrollHeight forces a layout, and a streaming reply
        // changes the DOM many times a frame.
        let queued = false;
        new MutationObserver(() => {
            if (!stick || queued) return;
            queued = true;
            requestAnimationFrame(() => {
                queued = false;
                if (stick) pinToBottom(thread);
            });
        }).observe(thread, { childList: true, subtree: true, characterData: true });
        return true;
    }
    document.addEventListener(
        "click",
        (event) => {
            if (!event.target.closest) return;
            if (event.target.closest("#chat-jump-newest")) toBottom();
            else if (event.target.closest("#chat-send-button")) {
                stick = true;
                showJump();
            }
        },
        true
    );
    const waitForThread = setInterval(() => {
        if (watch()) clearInterval(waitForThread);
    }, 100);
})();
