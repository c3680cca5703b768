"""The Content-Security-Policy is in force in a real browser: a script injected into the page
(as an XSS would) does not run, and the refusal is reported; the app itself never trips it
(tests/browser.py's new_context checks every browser test for such refusals)."""
from __future__ import annotations

import pytest

from tests.browser import open_context

pytestmark = pytest.mark.browser


def test_an_injected_inline_script_does_not_run(browser, e2e_server):
    context = open_context(browser, e2e_server)
    try:
        page = context.new_page()
        page.goto("/")
        page.wait_for_function("() => document.body.dataset.ready === 'true'")
        outcome = page.evaluate("""() => new Promise((resolve) => {
            document.addEventListener('securitypolicyviolation', (e) => resolve({ ran: !!window.__injected, directive: e.violatedDirective }));
            const s = document.createElement('script');
            s.textContent = 'window.__injected = true';
            document.body.append(s);
        })""")
        assert outcome == {"ran": False, "directive": "script-src-elem"}
    finally:
        context.close()
