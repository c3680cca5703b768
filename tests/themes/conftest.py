"""Fixtures shared by the themes tests."""
from __future__ import annotations

import pytest

from tests.conftest import ApiClient


@pytest.fixture
def admin(stack):
    """A client logged in as the stack's admin (EE_ADMIN_EMAIL), as the admin pages are."""
    with ApiClient(base_url=stack.url, timeout=120) as c:
        response = c.post(
            "/api/auth/login", json={"email": stack.env["EE_ADMIN_EMAIL"], "password": stack.env["EE_ADMIN_PASSWORD"]}
        )
        assert response.status_code == 200, response.text
        yield c
