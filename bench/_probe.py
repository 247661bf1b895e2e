"""The click -> text-on-screen probe of versus.py and long_conversation.py, for any page.

Installed with `context.add_init_script(PROBE)`, so it runs before the page's own scripts. It
knows no page: each measurement is armed with CSS selectors (the button whose click starts the
clock, the area where the text must show, the input box) and the texts to wait for. Then:

- the clock starts at the click on that button, caught by a capture-phase listener on the
  document, before the page's own handlers (`performance.now()`);
- a text counts as shown at the first DOM mutation after which it is visible in the area: some
  text node under the area holds it and its element is displayed (`checkVisibility()`, which is
  false under `display: none` and `visibility: hidden`), and more such nodes do than when the
  probe was armed (text already on screen then never counts; text that was hidden counts when
  it shows);
- the input box counts as emptied when the page sets its value to "" (the value setters of
  `<textarea>` and `<input>` are wrapped; React and Svelte both set values through them), or at
  the first mutation after which it is empty, whichever comes first.

Each mutation batch searches only what it added or changed, so a long thread already on
screen, or redrawn, costs the probe no more than its own new text. The text nodes found are
kept, and every batch looks again at whether they are displayed (a change of class or style can
show or hide them). The probe adds up the time its own checks take (`cost`), so that the
scripts can print it next to the figures.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

PROBE = r"""
(() => {
  if (window.__probe) return;
  const probe = (window.__probe = { state: null });
  const displayed = (node) => node.isConnected && node.parentElement
    && node.parentElement.checkVisibility();
  // Every text node under `root` that holds `text` (a whole-subtree search: not per mutation).
  const holding = (root, text) => {
    const found = [];
    if (!root) return found;
    if (root.nodeType === Node.TEXT_NODE) {
      if (root.data.includes(text)) found.push(root);
      return found;
    }
    if (!(root.textContent || "").includes(text)) return found;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.data.includes(text)) found.push(node);
    }
    return found;
  };
  const shownIn = (area, nodes) => {
    let count = 0;
    for (const node of nodes) if (area.contains(node) && displayed(node)) count += 1;
    return count;
  };
  probe.shown = (area, text) => {
    const root = document.querySelector(area);
    return root ? shownIn(root, holding(root, text)) : 0;
  };
  probe.arm = (config) => {
    const area = document.querySelector(config.area);
    const marks = {};
    for (const [name, text] of Object.entries(config.marks)) {
      const nodes = new Set(holding(area, text));
      marks[name] = { text, nodes, before: area ? shownIn(area, nodes) : 0, at: null };
    }
    probe.state = { config, t0: null, marks, emptied: null, cost: 0 };
  };
  probe.result = () => {
    const s = probe.state;
    const out = { t0: s.t0, emptied: s.emptied, cost: s.cost };
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
    if (waiting.length && area) {
      // Only what the batch added or changed is searched; a change of attributes (a class
      // that shows or hides) only makes the nodes already found be looked at again.
      for (const record of records) {
        const changed = record.type === "characterData" ? [record.target]
          : record.type === "childList" ? record.addedNodes : [];
        for (const node of changed) {
          for (const mark of waiting) for (const found of holding(node, mark.text)) {
            mark.nodes.add(found);
          }
        }
      }
      for (const mark of waiting) {
        for (const node of mark.nodes) if (!node.isConnected) mark.nodes.delete(node);
        if (shownIn(area, mark.nodes) > mark.before) mark.at = now;
      }
    }
    s.cost += performance.now() - now;
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
    """Seconds from the click to each mark and to `emptied` (NaN for what did not happen), and
    `cost`: the seconds the probe's own checks took in the page since the click."""
    raw = page.evaluate("() => window.__probe.result()")
    t0 = raw.pop("t0")
    cost = raw.pop("cost") / 1000
    if t0 is None:
        return {**dict.fromkeys(raw, NAN), "cost": cost}
    times = {name: (at - t0) / 1000 if at is not None else NAN for name, at in raw.items()}
    return {**times, "cost": cost}


def request_timing(page: Any, url_part: str) -> dict[str, float]:
    """The last request since the click whose URL holds `url_part`, from Resource Timing:
    seconds from the click to its start, its response's first byte and its end (NaN if none)."""
    timing = page.evaluate(
        """(part) => {
            const t0 = window.__probe.state.t0;
            const entries = performance.getEntriesByType("resource")
                .filter((e) => e.name.includes(part) && t0 !== null && e.startTime >= t0);
            const e = entries[entries.length - 1];
            return e ? [e.startTime - t0, e.responseStart - t0, e.responseEnd - t0] : null;
        }""",
        url_part,
    )
    if not timing:
        return {"start": NAN, "first_byte": NAN, "end": NAN}
    start, first_byte, end = (value / 1000 for value in timing)
    return {"start": start, "first_byte": first_byte, "end": end}
