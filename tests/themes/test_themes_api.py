def test_lists_the_shipped_theme_with_a_sample_grid(client):
    themes = client.get("/api/themes").json()
    droids = next(t for t in themes if t["slug"] == "galactic-droids")
    assert droids["name"] == "Galactic droids"
    assert droids["status"] == "published"
    sample = client.get(droids["sample_url"])
    assert sample.status_code == 200
    assert sample.headers["content-type"] == "image/png"
    assert sample.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_theme_is_a_404_json_error(client):
    response = client.get("/api/themes/no-such-theme")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "theme_not_found"


def test_generating_on_an_unknown_theme_is_a_404(make_user):
    user, _ = make_user()
    response = user.post("/api/themes/no-such-theme/generations", json={"count": 2})
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message"}


def test_the_catalogue_counts_avatars_that_found_an_owner(client, make_user):
    from tests.avatars.helpers import candidates

    def sold():
        return next(t for t in client.get("/api/themes").json() if t["slug"] == "galactic-droids")["sold_count"]

    before = sold()
    buyer, _ = make_user(balance_cents=100)
    offer = candidates(buyer, count=1)[0]
    assert buyer.post(f"/api/candidates/{offer['id']}/purchase", json={"withdrawal_waiver": True}).status_code == 201
    assert sold() == before + 1
    assert client.get("/api/themes/galactic-droids").json()["sold_count"] == before + 1
