"""POST /api/themes/{slug}/generations: rate limits per person and per address, clear errors."""
import uuid

from effigies.config import get_settings
from effigies.generation.router import GENERATION_WINDOW_S

GENERATIONS_PER_USER = get_settings().generation_rate_per_user
GENERATIONS_PER_IP = get_settings().generation_rate_per_ip


def fresh_ip() -> str:
    # The API trusts X-Forwarded-For from 127.0.0.1 (uvicorn's proxy_headers): an address of
    # our own keeps this test's per-IP counter apart from every other test's.
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.text
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= GENERATION_WINDOW_S
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "rate_limited" and error["message"]


def test_one_person_past_the_limit_gets_429_with_retry_after(make_user):
    user, _ = make_user()
    headers = {"X-Forwarded-For": fresh_ip()}
    # Fixed windows: if one ends mid-test the count starts again, so allow for a second window.
    for sent in range(1, 2 * GENERATIONS_PER_USER + 2):
        response = user.post("/api/themes/galactic-droids/generations", json={"count": 1}, headers=headers)
        if response.status_code != 202:
            break
    assert_rate_limited(response)
    assert sent > GENERATIONS_PER_USER


def test_one_address_past_the_limit_gets_429_whoever_asks(make_user):
    users = [make_user()[0] for _ in range(10)]
    headers = {"X-Forwarded-For": fresh_ip()}
    # An unknown theme answers 404 at once yet still counts: the limit guards attempts. Ten
    # people share the address, so no one of them reaches the per-person limit first.
    for sent in range(1, 2 * GENERATIONS_PER_IP + 2):
        user = users[sent % len(users)]
        response = user.post("/api/themes/no-such-theme/generations", json={"count": 1}, headers=headers)
        if response.status_code != 404:
            break
    assert_rate_limited(response)
    assert sent > GENERATIONS_PER_IP
    # Another address is not held back.
    elsewhere = {"X-Forwarded-For": fresh_ip()}
    other = users[0].post("/api/themes/no-such-theme/generations", json={"count": 1}, headers=elsewhere)
    assert other.status_code == 404


def test_unknown_theme_is_404(make_user):
    user, _ = make_user()
    response = user.post("/api/themes/no-such-theme/generations", json={"count": 1})
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "theme_not_found", "message": "No theme called 'no-such-theme'."}}


def test_retired_theme_is_410(make_user):
    from effigies.db import session_scope
    from effigies.themes.models import Theme

    slug = f"retired-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        session.add(Theme(slug=slug, name="Retired", status="retired"))
    user, _ = make_user()
    response = user.post(f"/api/themes/{slug}/generations", json={"count": 1})
    assert response.status_code == 410
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and error["code"] == "theme_retired"
