/* Keyboard shortcuts (listed in the `?` dialog, components/shortcuts.py).

Each one acts through a control the page already has, so it does exactly what a click does:
Esc clicks Stop while a reply streams, Ctrl/⌘+Shift+O the sidebar's New chat, Ctrl/⌘+Shift+C
the last reply's copy button; Shift+Esc focuses the message box; `?` (outside text boxes) and
Ctrl/⌘+/ open the dialog. The keys are ChatGPT's, so hands that know one know the other. In
Chromium a page's handler sees Ctrl+Shift+C (inspect element) and Shift+Esc (task manager)
before the browser does, and preventDefault keeps them for the page.

Nothing fires while an input method is composing: Chinese is typed through one, and its Esc
cancels the composition, never the reply. Nor when another handler has claimed the key, or an
antd popup (dialog, drawer, menu, confirm) is open: Esc is theirs to close them.
*/
(function () {
    "use strict";

    const isMac = /mac|iphone|ipad|ipod/i.test(
        (navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || ""
    );
    if (isMac) document.documentElement.classList.add("keys-mac"); // the dialog shows ⌘

    // antd's floating layers, while shown (a hidden one is display:none, so it has no box).
    const POPUPS = [
        ".ant-modal-wrap",
        ".ant-drawer-open",
        ".ant-dropdown:not(.ant-dropdown-hidden)",
        ".ant-select-dropdown:not(.ant-select-dropdown-hidden)",
        ".ant-popover:not(.ant-popover-hidden)",
        ".ant-picker-dropdown:not(.ant-picker-dropdown-hidden)",
        ".ant-image-preview-wrap",
    ].join(",");

    function shown(element) {
        return element !== null && element.getClientRects().length > 0;
    }

    function popupOpen() {
        return Array.prototype.some.call(document.querySelectorAll(POPUPS), shown);
    }

    function typing(target) {
        if (!(target instanceof Element)) return false;
        return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
    }

    /* The letter a key names, in any layout: its character, else its place on the keyboard
       (a Russian layout's Ctrl+Shift+щ is still the O key). */
    function letter(event) {
        if (event.key.length === 1 && /[a-z]/i.test(event.key)) return event.key.toLowerCase();
        return event.code.startsWith("Key") ? event.code.slice(3).toLowerCase() : "";
    }

    function clickButton(element) {
        if (!element) return false;
        const button = element.matches("button") ? element : element.querySelector("button");
        (button || element).click();
        return true;
    }

    function stopReply() {
        const stop = document.getElementById("chat-stop-button");
        return shown(stop) && !stop.disabled && clickButton(stop);
    }

    function focusInput() {
        const box = document.getElementById("chat-input");
        if (!box || box.disabled) return false;
        box.focus();
        const end = box.value.length;
        box.setSelectionRange(end, end);
        return true;
    }

    function copyLastReply() {
        const buttons = document.querySelectorAll("#chat-messages .chat-copy-button");
        return clickButton(buttons[buttons.length - 1] || null);
    }

    function showHelp(visible) {
        if (!window.dash_clientside || !window.dash_clientside.set_props) return false;
        window.dash_clientside.set_props("shortcuts-dialog", { visible });
        return true;
    }

    const openHelp = () => showHelp(true);
    // antd's dialog closes on Esc only once its opening animation has put the focus in it.
    const closeHelp = () => showHelp(false);

    /* What `event` asks for: a function that acts and says whether it did, or null. */
    function action(event) {
        const mod = isMac ? event.metaKey && !event.ctrlKey : event.ctrlKey && !event.metaKey;
        if (event.key === "Escape" && !mod && !event.altKey) {
            if (shown(document.querySelector(".shortcuts-dialog"))) return closeHelp;
            if (popupOpen()) return null;
            return event.shiftKey ? focusInput : stopReply;
        }
        if (mod && event.shiftKey && !event.altKey) {
            const key = letter(event);
            if (key === "o") return () => clickButton(document.getElementById("sidebar-new-button"));
            if (key === "c") return copyLastReply;
            return null;
        }
        if (mod && !event.shiftKey && !event.altKey && (event.key === "/" || event.code === "Slash")) {
            return openHelp;
        }
        if (event.key === "?" && !mod && !event.altKey && !event.metaKey && !event.ctrlKey) {
            return typing(event.target) || popupOpen() ? null : openHelp;
        }
        return null;
    }

    document.addEventListener("keydown", (event) => {
        // 229: Chromium's keyCode for a key the input method took (isComposing is unset on the
        // keydown that starts a composition).
        if (event.isComposing || event.keyCode === 229) return;
        if (event.defaultPrevented || event.repeat) return;
        const act = action(event);
        if (act && act()) event.preventDefault();
    });
})();
