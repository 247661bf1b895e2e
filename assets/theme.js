/* Light and dark (components/theme.py). The theme itself is `<html data-theme>`, set before the
first paint by the page's inline boot script, which also offers `window.chatTheme`. Here:

- antd follows it: the page's AntdConfigProvider is wrapped (before Dash's renderer starts,
  as assets/markdown.js wraps FefferyMarkdown) so its `algorithm` is "dark" in the dark theme
  from the very first render, and changes with the theme without a server round trip.
- `#theme-switch` shows the remembered choice (also one made in another tab) and records a
  new one (callbacks/theme.py). */
(function () {
    "use strict";

    const theme = window.chatTheme;
    if (!theme || theme.useTheme) return;

    /* The current theme ("light" or "dark"), re-rendering the caller when it changes. */
    theme.useTheme = function () {
        const R = window.React;
        const [current, setCurrent] = R.useState(theme.current());
        R.useEffect(() => {
            setCurrent(theme.current()); // a change between the render and this effect
            return theme.subscribe(setCurrent);
        }, []);
        return current;
    };

    const library = window.feffery_antd_components;
    if (library && library.AntdConfigProvider && !library.AntdConfigProvider.chatTheme) {
        const Original = library.AntdConfigProvider;
        const AntdConfigProvider = function (props) {
            const dark = theme.useTheme() === "dark";
            const algorithm = dark ? "dark" : props.algorithm;
            return window.React.createElement(Original, Object.assign({}, props, { algorithm }));
        };
        // Dash reads propTypes and defaultProps off the component it finds.
        Object.assign(AntdConfigProvider, Original, { chatTheme: true });
        // The library's exports are read-only (a module namespace): a copy replaces it.
        window.feffery_antd_components = Object.assign({}, library, { AntdConfigProvider });
    }

    let shown = null; // the choice the switch shows

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        chatTheme: {
            /* The switch's value: rendered empty, it first shows the remembered choice; a
               value the user picks is remembered and applied. */
            applyChoice: function (value) {
                if (!value) return (shown = theme.choice());
                shown = value;
                theme.choose(value);
                return window.dash_clientside.no_update;
            },
        },
    });

    // A choice made in another tab (the boot script applies it): the switch shows it too.
    window.addEventListener("storage", () => {
        const choice = theme.choice();
        if (shown !== null && choice !== shown) {
            window.dash_clientside.set_props("theme-switch", { value: choice });
        }
    });
})();
