"""E-mail addresses whose domain mixes scripts are refused (issue 18, item 8): "pаypal.com" with a
Cyrillic а reads as paypal.com. Single-script domains in any script, and the Han mixes Japanese,
Chinese and Korean names use, stay welcome."""
from __future__ import annotations

import uuid

import pytest

from tests.accounts.test_password_policy import STRONG
from tests.conftest import ApiClient
from tests.generation.test_limits import fresh_ip


@pytest.fixture
def visitor(stack):
    with ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()}) as c:
        yield c


def _signup(client, email: str):
    return client.post("/api/auth/signup", json={"email": email, "password": STRONG, "display_name": "Ada"})


@pytest.mark.parametrize("domain", ["pаypal.com", "gооgle.fr", "xn--pypal-4ve.com", "effigies.frа"])
def test_a_look_alike_domain_is_refused_and_nothing_is_stored(visitor, domain):
    email = f"ada-{uuid.uuid4().hex[:8]}@{domain}"
    refused = _signup(visitor, email)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_request" and "mixes scripts" in refused.text
    assert visitor.post("/api/auth/login", json={"email": email, "password": STRONG}).status_code in (401, 422)


@pytest.mark.parametrize("domain", ["bücher.de", "例え.jp", "россия.рф"])
def test_single_script_and_cjk_domains_are_welcome(visitor, domain):
    made = _signup(visitor, f"ada-{uuid.uuid4().hex[:8]}@{domain}")
    assert made.status_code == 202, made.text  # the sign-up link is on its way
