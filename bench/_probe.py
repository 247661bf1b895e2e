"""The click -> text-on-screen probe of versus.py and long_conversation.py, for any page.

Installed with `context.add_init_script(PROBE)`, so it runs before the page's own scripts. It
knows no page: each measurement is armed with CSS selectors (the button whose click starts the
clock, the area where the text must show, the input box) and the texts to wait for. Then:

- the clock starts at the click on that button, caught by a capture-phase listener on the
  document, before the page's own handlers (`performance.now()`);
- a text counts as shown at the first DOM mutation after which it is visible in the area: some
  text node under the area holds it and its element is displayed (`checkVisibility()`, which is
  false under `display: none` and `visibility: hidden`), and more such nodes hold it than when
  the probe was armed (text already on screen, or left hidden by an earlier turn, never counts);
- the input box counts as emptied when the page sets its value to "" (the value setters of
  `<textarea>` and `<input>` are wrapped; React and Svelte both set values through them), or at
  the first mutation after which it is empty, whichever comes first.

Each mutation batch looks only at the subtrees it touched, so a long thread already on screen
does not make every check slower; the area is searched whole only once a touched subtree shows
a text it waits for.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

PROBE = r"""
(() => {
  if (window.__probe) return;
  const probe = (window.__probe = { state: null });
  const shownIn = (root, text) => {
    if (!root || !(root.textContent || "").includes(text)) return 0;
    let count = 0;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (node.data.includes(text) && parent && parent.checkVisibility()) count += 1;
    }
    return count;
  };
  probe.shown = (area, text) => shownIn(document.querySelector(area), text);
  probe.arm = (config) => {
    const area = document.querySelector(config.area);
    const marks = {};
    for (const [name, text] of Object.entries(config.marks)) {
      marks[name] = { text, before: shownIn(area, text), at: null };
    }
    probe.state = { config, t0: null, marks, emptied: null };
  };
  probe.result = () => {
    const s = probe.state;
    const out = { t0: s.t0, emptied: s.emptied };
    for (const [name, mark] of Object.entries(s.marks)) out[name] = mark.at;
    return out;
  };
  const emptied = (element, now) => {
    const s = probe.state;
    if (s && s.t0 !== null && s.emptied === null && s.config.input && element
        && element.matches(s.config.input) && element.value === "") s.emptied = now;
  };
  document.addEventListener("click", (event) => {
    const s = probe.state;
    if (s && s.t0 === null && event.target.closest && event.target.closest(s.config.click)) {
      s.t0 = performance.now();
    }
  }, true);
  new MutationObserver((records) => {
    const s = probe.state;
    if (!s || s.t0 === null) return;
    const now = performance.now();
    if (s.config.input) emptied(document.querySelector(s.config.input), now);
    const waiting = Object.values(s.marks).filter((mark) => mark.at === null);
    const area = document.querySelector(s.config.area);
    if (!waiting.length || !area) return;
    const touched = new Set();
    for (const record of records) {
      const node = record.type === "characterData" ? record.target.parentNode : record.target;
      if (!node) continue;
      if (area.contains(node)) touched.add(node);
      else if (node.contains(area)) touched.add(area);
    }
    for (const mark of waiting) {
      for (const root of touched) {
        if (shownIn(root, mark.text) && shownIn(area, mark.text) > mark.before) {
          mark.at = now;
          break;
        }
      }
    }
  }).observe(document, {
    subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ["class", "style", "hidden"],
  });
  for (const proto of [HTMLTextAreaElement.prototype, HTMLInputElement.prototype]) {
    const own = Object.getOwnPropertyDescriptor(proto, "value");
    Object.defineProperty(proto, "value", {
      configurable: true,
      enumerable: own.enumerable,
      get() { return own.get.call(this); },
      set(value) {
        own.set.call(this, value);
        emptied(this, performance.now());
      },
    });
  }
})();
"""

NAN = float("nan")


def arm(page: Any, *, click: str, area: str, marks: dict[str, str], box: str = "") -> None:
    """Get ready for one measurement: the clock starts at the next click on `click`; `box` is
    the input box whose emptying is timed."""
    config = {"click": click, "area": area, "marks": marks, "input": box}
    page.evaluate("(config) => window.__probe.arm(config)", config)


def wait_for(page: Any, mark: str, timeout_ms: float) -> bool:
    """Until `mark` has been shown (False if it was not, within the time)."""
    try:
        page.wait_for_function(
            "(name) => window.__probe.state.marks[name].at !== null",
            arg=mark,
            timeout=timeout_ms,
            polling=50,
        )
    except PlaywrightTimeout:
        return False
    return True


def shown(page: Any, area: str, text: str) -> int:
    """How many displayed text nodes under `area` hold `text` now."""
    return page.evaluate("([area, text]) => window.__probe.shown(area, text)", [area, text])


def result(page: Any) -> dict[str, float]:
    """Seconds from the click to each mark and to `emptied` (NaN for what did not happen)."""
    raw = page.evaluate("() => window.__probe.result()")
    t0 = raw.pop("t0")
    if t0 is None:
        return dict.fromkeys(raw, NAN)
    return {name: (at - t0) / 1000 if at is not None else NAN for name, at in raw.items()}
