/* The phone's menu (issue 16): under 768 px the header's actions and the conversations are a
drawer, opened by #header-menu-button (components/header.py, assets/style_narrow.css).

The open state is a class on <html>, outside what Dash's React tree draws, so no redraw of the
page resets it and no callback round trip delays it. Listeners are on the document because
the page is drawn after this script runs. */
(function () {
    "use strict";

    const OPEN = "chat-menu-open";
    const BUTTON = "header-menu-button";
    const ACTIONS = "header-actions";
    const narrow = window.matchMedia("(max-width: 767.98px)");
    const root = document.documentElement;

    const isOpen = () => root.classList.contains(OPEN);
    const button = () => document.getElementById(BUTTON);
    const main = () => document.querySelector(".app-main");

    /* The conversations sit under the actions: they start where the actions end. */
    const sized = new ResizeObserver((entries) => {
        for (const entry of entries) {
            const height = entry.target.getBoundingClientRect().height;
            root.style.setProperty("--chat-menu-actions-height", `${Math.ceil(height)}px`);
        }
    });

    function open() {
        const actions = document.getElementById(ACTIONS);
        root.classList.add(OPEN);
        button()?.setAttribute("aria-expanded", "true");
        // The thread behind the backdrop takes no focus or taps while the menu is open.
        if (main()) main().inert = true;
        if (actions) {
            sized.observe(actions);
            // The drawer itself, not its first control: focusing the persona picker's search
            // box would bring up a phone's keyboard. Tab goes on to the controls.
            actions.tabIndex = -1;
            actions.focus({ preventScroll: true });
        }
    }

    function close(returnFocus) {
        if (!isOpen()) return;
        root.classList.remove(OPEN);
        button()?.setAttribute("aria-expanded", "false");
        if (main()) main().inert = false;
        sized.disconnect();
        if (returnFocus) button()?.focus({ preventScroll: true });
    }

    /* Esc belongs to an open dropdown, confirmation or dialog first: antd closes those. */
    function popupOpen() {
        const popups = document.querySelectorAll(
            ".ant-select-dropdown, .ant-popover, .ant-drawer-content-wrapper, .ant-modal-wrap"
        );
        return Array.from(popups).some((popup) => popup.getClientRects().length > 0);
    }

    document.addEventListener("click", (event) => {
        const target = event.target instanceof Element ? event.target : null;
        if (!target) return;
        if (target.closest(`#${BUTTON}`)) {
            if (isOpen()) close(false);
            else open();
        } else if (target.closest(".header-menu-backdrop")) {
            close(true);
        } else if (isOpen() && target.closest(".sidebar-title, #sidebar-new-button")) {
            // A conversation chosen (or a new one started): the thread is what comes next.
            close(false);
        }
    });

    document.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && isOpen() && !popupOpen()) {
            close(true);
        }
    });

    // A window widened past the breakpoint shows everything in place: no menu left open.
    narrow.addEventListener("change", (event) => {
        if (!event.matches) close(false);
    });
})();
