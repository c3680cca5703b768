"""Security headers (effigies.api.security): a CSP of this origin and Stripe's, no framing, HSTS
over HTTPS, no-store on the API's JSON, the Swagger UI page off in production."""
from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

from effigies.api.security import content_security_policy


def directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in policy.split("; ")}


def test_pages_and_answers_carry_a_strict_policy_that_lets_localstripe_in(client, stack):
    local = "http://" + urlsplit(stack.env["STRIPE_API_BASE"]).netloc
    for path in ("/", "/api/themes", "/api/definitely-not-here"):
        response = client.get(path)
        policy = directives(response.headers["content-security-policy"])
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'", local]  # no inline script, no eval
        assert policy["style-src"] == ["'self'"]
        assert policy["connect-src"] == ["'self'", local]
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers  # http://127.0.0.1: no HTTPS to insist on


def test_live_stripe_origins_and_the_docs_page_cdn():
    live = directives(content_security_policy(stripe_api_base=None))
    assert live["script-src"] == ["'self'", "https://js.stripe.com"]
    assert live["frame-src"] == ["https://js.stripe.com", "https://hooks.stripe.com"]
    assert live["connect-src"] == ["'self'", "https://api.stripe.com"]
    docs = directives(content_security_policy(stripe_api_base=None, docs=True))
    assert "https://cdn.jsdelivr.net" in docs["script-src"] and "https://cdn.jsdelivr.net" in docs["style-src"]


def test_private_json_is_never_stored_and_images_keep_their_caching(make_user, client):
    user, _ = make_user()
    for path in ("/api/me", "/api/wallet", "/api/me/proposals", "/api/session", "/api/themes"):
        response = user.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["cache-control"] == "no-store", path
    sample = client.get("/api/themes/galactic-droids/sample.png")
    assert sample.status_code == 200 and sample.headers.get("cache-control") != "no-store"
    # An answer that says how it may be cached keeps it.
    assert client.get("/api/showcase").headers["cache-control"] == "no-cache"


def test_https_sites_get_hsts_and_production_has_no_swagger_page(stack):
    """In a process of its own: the settings are read once per process."""
    script = """
from fastapi.testclient import TestClient
from effigies.api.app import create_app
with TestClient(create_app(), base_url="https://avatars.example.com") as c:
    r = c.get("/api/legal")
    print(r.headers.get("strict-transport-security"))
    print(c.get("/api/docs").status_code, c.get("/openapi.json").status_code)
"""
    env = {**os.environ, **stack.env, "EE_PUBLIC_URL": "https://avatars.example.com"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    hsts, statuses = out.stdout.split("\n")[:2]
    assert hsts == "max-age=31536000; includeSubDomains"
    assert statuses == "200 200"  # EE_ENV=test: the docs page is there for local work

    env.update({
        "EE_ENV": "production", "EE_SECRET_KEY": "s" * 40, "EE_OPERATOR_NAME": "EE SAS", "EE_OPERATOR_ADDRESS": "1 rue X, Paris",
        "EE_OPERATOR_EMAIL": "contact@avatars.example.com", "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", "whsec_x"),
        "STRIPE_PUBLISHABLE_KEY": env.get("STRIPE_PUBLISHABLE_KEY", "pk_test_x"), "EE_SMTP_URL": env["EE_SMTP_URL"],
    })
    env.pop("EE_MAIL_OUTBOX_DIR", None)  # the local sink's outbox page: local mode only
    check = subprocess.run([sys.executable, "-c", "from effigies.api.app import create_app; "
                            "print(sorted(p for r in create_app().routes if (p := getattr(r, 'path', '')).startswith(('/api/docs', '/openapi'))))"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "['/openapi.json']"
