"""axe-core over every page the browser tests reach.

Each browser context a test opens is watched: every document its pages navigate to is noted.
When the test has passed, axe-core (vendored in ``vendor/``) runs on each page still open, in
the state the test left it, then on each other page the context reached, fetched again with
GET in the same context (so signed in as the test was). A page is known by its path pattern
(numbers replaced, query ignored) and is checked once per run: the first test that reaches a
pattern pays for it. A page fetched again that turns into another (a redirect) is left to a
test that ends on it. A context the test closes itself is checked just before it closes.

axe is evaluated through the DevTools protocol (``page.evaluate``), which the app's CSP does
not govern, so the pages keep their real CSP. Console errors that name the Content Security
Policy fail the test too: a page must not try inline scripts or styles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
# The WCAG 2.2 A and AA rules and axe's best practices; experimental rules are left out.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
    "resultTypes": ["violations"]}
_NUMBER = re.compile(r"/\d+(?=/|$)")


def path_pattern(url: str) -> str | None:
    """``/records/12/overdose?x=1`` -> ``/records/<n>/overdose``; None for other origins' pages."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    return _NUMBER.sub("/<n>", parts.path or "/")


def describe(pattern: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"{pattern}:"]
    for v in violations:
        lines.append(f"  {v['id']} ({v.get('impact')}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(node['target'])}: {node.get('failureSummary', '')}"
                         .replace("\n", " "))
    return "\n".join(lines)


@dataclass
class Audit:
    """One run's record: which patterns axe has checked, and what this test found."""

    checked: set[str] = field(default_factory=set)
    fetched: set[str] = field(default_factory=set)  # fetched again once, checked or not
    contexts: list[Any] = field(default_factory=list)
    visited: dict[int, list[str]] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    csp_errors: list[str] = field(default_factory=list)

    def watch(self, context: Any) -> None:
        """Note every document the context's pages reach, and their CSP console errors."""
        self.contexts.append(context)
        urls = self.visited.setdefault(id(context), [])

        def on_page(page: Any) -> None:
            def on_navigated(frame: Any) -> None:
                if frame == page.main_frame:
                    urls.append(frame.url)

            page.on("framenavigated", on_navigated)
            page.on("console", lambda m: self.csp_errors.append(f"{page.url}: {m.text}")
                    if m.type == "error" and "Content Security Policy" in m.text else None)

        context.on("page", on_page)
        for page in context.pages:
            on_page(page)

    def check_context(self, context: Any) -> None:
        """axe on the context's open pages as they are, then on the rest of what it reached."""
        urls = self.visited.pop(id(context), [])
        if context in self.contexts:
            self.contexts.remove(context)
        pages = [p for p in context.pages if not p.is_closed()]
        for page in pages:
            self._check(page)
        origin = {urlsplit(p.url).netloc for p in pages} or {urlsplit(u).netloc for u in urls}
        wanted: dict[str, str] = {}
        for url in urls:
            pattern = path_pattern(url)
            if (pattern and pattern not in self.checked and pattern not in self.fetched
                    and urlsplit(url).netloc in origin):
                wanted.setdefault(pattern, url)
        if not wanted:
            return
        page = context.new_page()
        try:
            for pattern, url in wanted.items():
                if pattern in self.checked:
                    continue
                # A page that answers another one (a redirect) is not fetched again: a later
                # test that ends on it checks it.
                self.fetched.add(pattern)
                response = page.goto(url, wait_until="load")
                if response is None or response.status == 405:
                    continue
                if path_pattern(page.url) == pattern:
                    self._check(page)
        finally:
            page.close()

    def check_all(self) -> None:
        for context in list(self.contexts):
            self.check_context(context)

    def _check(self, page: Any) -> None:
        pattern = path_pattern(page.url)
        if pattern is None or pattern in self.checked:
            return
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(AXE_SOURCE)
        result = page.evaluate("options => window.axe.run(document, options)", AXE_OPTIONS)
        self.checked.add(pattern)
        if result["violations"]:
            self.findings.append(describe(pattern, result["violations"]))

    def failures(self) -> str:
        found = self.findings + [f"CSP console error on {e}" for e in self.csp_errors]
        self.findings, self.csp_errors = [], []
        return "\n".join(found)


class AuditedBrowser:
    """The session's browser: each context it opens is watched, and checked before it closes."""

    def __init__(self, browser: Any, audit: Audit) -> None:
        self._browser = browser
        self._audit = audit

    def new_context(self, **options: Any) -> Any:
        context = self._browser.new_context(**options)
        self._audit.watch(context)
        audit = self._audit
        close = context.close

        def checked_close(**kwargs: Any) -> None:
            # Findings are raised after the test, never from a test's own finally block.
            if context in audit.contexts:
                try:
                    audit.check_context(context)
                except Exception as exc:  # a test closing a broken page fails on its own
                    audit.findings.append(f"axe could not run: {exc}")
            close(**kwargs)

        context.close = checked_close
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)
