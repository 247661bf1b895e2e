/* A question is not lost when the session ends under it (signed out elsewhere, the account
   disabled, the session's idle time over). The page answers a 401 by reloading into the login
   page (assets/chat.js); just before, this keeps the composer's text, or else the newest
   question that has no finished reply, in this tab's sessionStorage, and puts it back in the
   composer once the chat page is back after signing in. Loaded before chat.js (assets load in
   name order), so chat.js's fetch goes through this one. */
(function () {
    "use strict";
    const KEY = "chat-draft-after-signin";
    const INPUT = "chat-input";

    function unanswered() {
        const messages = document.querySelectorAll(".chat-message");
        const last = messages[messages.length - 1];
        if (!last) return "";
        const open =
            last.classList.contains("chat-message-user") ||
            last.classList.contains("chat-message-live") ||
            last.classList.contains("chat-message-error");
        if (!open) return "";
        const questions = document.querySelectorAll(".chat-message-user .chat-user-text");
        const newest = questions[questions.length - 1];
        return newest ? newest.innerText : "";
    }

    function keep() {
        const input = document.getElementById(INPUT);
        const text = (input && input.value) || unanswered();
        try {
            if (text) sessionStorage.setItem(KEY, text);
        } catch (e) {
            /* storage off: nothing to keep it in */
        }
    }

    const earlierFetch = window.fetch.bind(window);
    window.fetch = function (input, init) {
        const url = typeof input === "string" ? input : (input && input.url) || "";
        return earlierFetch(input, init).then((response) => {
            const ours = url.indexOf("_dash-") !== -1 || url.indexOf("/api/chat") !== -1;
            if (response.status === 401 && ours) keep();
            return response;
        });
    };

    let tries = 0;

    function restore() {
        let text = null;
        try {
            text = sessionStorage.getItem(KEY);
        } catch (e) {
            return;
        }
        if (!text) return;
        const input = document.getElementById(INPUT);
        if (!input) {
            // The chat page's layout comes after its scripts; the login page never has it.
            if (document.querySelector("#login-form") || ++tries > 300) return;
            window.setTimeout(restore, 100);
            return;
        }
        sessionStorage.removeItem(KEY);
        if (input.value) return;
        // React owns the textarea: set it the way typing does, so the page sees the change.
        const kind = input instanceof HTMLTextAreaElement ? HTMLTextAreaElement : HTMLInputElement;
        Object.getOwnPropertyDescriptor(kind.prototype, "value").set.call(input, text);
        input.dispatchEvent(new Event("input", { bubbles: true }));
    }

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", restore);
    else restore();
})();
