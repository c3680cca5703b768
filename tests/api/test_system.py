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


def test_typed_addresses_open_their_page_with_the_query_kept(client):
    for path, page in (("/login", "/#/login"), ("/wallet/", "/#/wallet"), ("/admin", "/#/admin"),
                       ("/themes/galactic-droids", "/#/themes/galactic-droids"),
                       ("/admin/themes/pixel-heroes/training", "/#/admin/themes/pixel-heroes/training"),
                       ("/password/reset?token=abc_DEF-1", "/#/password/reset?token=abc_DEF-1")):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (302, page), path
    # Everything else still answers as before: the home page, a JSON 404 for an unknown address.
    assert client.get("/").status_code == 200
    unknown = client.get("/no-such-page")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_the_session_probe_answers_200_to_a_visitor_and_a_user(client, make_user):
    assert (client.get("/api/session").status_code, client.get("/api/session").json()) == (200, {"user": None})
    user, user_id = make_user()
    body = user.get("/api/session").json()
    assert body["user"]["id"] == str(user_id) and body["user"]["email_verified"] is False
