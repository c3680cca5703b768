def test_health_names_every_component(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["components"] == {"database": "ok", "redis": "ok", "workers": "ok"}


def test_unknown_api_route_is_a_json_404(client):
    response = client.get("/api/definitely-not-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_public_config_points_stripe_js_at_localstripe_in_local_mode(client, stack):
    config = client.get("/api/config").json()
    assert config["price_cents"] == 10 and config["currency"] == "eur"
    assert 100 in config["topup_packs_cents"]
    assert config["stripe_js_url"] == stack.env["STRIPE_API_BASE"].rstrip("/") + "/js.stripe.com/v3/"


def test_frontend_is_served_with_a_csrf_cookie_and_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "csrftoken" in response.cookies


def test_oversized_bodies_are_refused(make_user):
    user, _ = make_user()
    response = user.post("/api/auth/login", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_oversized_chunked_bodies_are_refused_too(make_user):
    """No Content-Length to check up front: the bytes received are counted."""
    user, _ = make_user()

    def chunks():
        for _ in range(40):
            yield b"x" * 64_000

    response = user.post("/api/me/password", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
