"""A certificate downloaded before its owner deleted the account: the signature stays genuine, and
every verification (API, verify page's data, `effigies verify --online`) says ownership ended on
the day of the deletion; offline, the CLI says it did not check and how to."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select, text

from tests.certificates.test_certificates import _buy, _offline_verify

PASSWORD = "correct-horse-battery"  # tests.conftest.make_user's


def _delete_account(owner) -> None:
    balance = owner.get("/api/wallet").json()["balance_cents"]
    response = owner.post("/api/me/delete", json={"password": PASSWORD, "forfeit_cents": balance})
    assert response.status_code == 204, response.text


def _released_at(public_id: str) -> datetime | None:
    from effigies.avatars.models import Avatar
    from effigies.db import session_scope

    with session_scope() as session:
        return session.scalar(select(Avatar.owner_released_at).where(Avatar.public_id == public_id))


@pytest.fixture
def left(make_user):
    """(public_id, certificate downloaded while owned, the day the owner deleted their account)."""
    owner, public_id, document = _buy(make_user)
    assert document["certificate"]["owner"] == "Test"
    assert _released_at(public_id) is None
    _delete_account(owner)
    released = _released_at(public_id)
    assert released is not None and abs((datetime.now(timezone.utc) - released).total_seconds()) < 120
    return public_id, document, released


def test_an_owned_avatar_is_verified_as_still_owned(make_user, client, stack, tmp_path):
    _, public_id, document = _buy(make_user)
    body = client.post("/api/verify", json=document).json()
    assert (body["genuine"], body["reason"], body["ownership"]) == (True, "ok", {"status": "current", "ended_at": None})
    assert client.get(f"/api/verify/{public_id}").json()["ownership"]["status"] == "current"

    online = _offline_verify(stack, tmp_path, document, "--online", stack.url)
    assert online.returncode == 0, online.stdout + online.stderr
    assert "ownership:     current" in online.stdout


def test_a_certificate_from_before_the_deletion_is_genuine_but_its_ownership_ended(left, client):
    public_id, document, released = left
    day = f"{released.astimezone(timezone.utc):%Y-%m-%d}"

    body = client.post("/api/verify", json=document).json()
    assert (body["genuine"], body["reason"], body["key_status"]) == (True, "ok", "current")
    assert body["certificate"]["owner"] == "Test"  # what was signed stays as signed
    assert body["ownership"]["status"] == "ended"
    assert datetime.fromisoformat(body["ownership"]["ended_at"].replace("Z", "+00:00")) == released
    assert body["message"] == (f"Genuine signature, but ownership ended on {day}: the owner's account was deleted, "
                               "and the avatar has no owner now.")

    # The verify page's own request: the certificate as issued now (no owner) says the same.
    now = client.get(f"/api/verify/{public_id}").json()
    assert (now["genuine"], now["certificate"]["owner"]) == (True, None)
    assert now["ownership"] == body["ownership"] and now["message"] == body["message"]


def test_the_cli_says_it_online_and_says_what_it_cannot_know_offline(left, stack, tmp_path):
    public_id, document, released = left
    day = f"{released.astimezone(timezone.utc):%Y-%m-%d}"

    offline = _offline_verify(stack, tmp_path, document)
    assert offline.returncode == 0, offline.stdout + offline.stderr  # the signature alone: genuine
    assert f"GENUINE: certificate of avatar {public_id}" in offline.stdout
    assert "ownership:     not checked offline" in offline.stdout and "--online" in offline.stdout

    online = _offline_verify(stack, tmp_path, document, "--online", stack.url)
    assert online.returncode == 3, online.stdout + online.stderr
    assert f"GENUINE: certificate of avatar {public_id}" in online.stdout
    assert (f"ownership:     ENDED on {day}: the owner's account was deleted; the avatar has no owner now"
            in online.stdout)

    # A buyer's laptop with no key of its own: the server's published keys check the signature.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    laptop = _offline_verify(stack, tmp_path, document, "--online", stack.url, data_dir=elsewhere)
    assert laptop.returncode == 3, laptop.stdout + laptop.stderr
    assert "signed by key" in laptop.stdout and f"ENDED on {day}" in laptop.stdout
    assert not any(elsewhere.iterdir())


def test_the_cli_online_with_no_server_is_exit_2(left, stack, tmp_path):
    from tests.conftest import free_port

    _, document, _ = left
    result = _offline_verify(stack, tmp_path, document, "--online", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert "the signature is genuine, but the ownership could not be checked" in result.stderr


def test_a_forged_certificate_says_nothing_about_ownership(left, client):
    _, document, _ = left
    forged = {**document, "certificate": {**document["certificate"], "owner": "Mallory"}}
    body = client.post("/api/verify", json=forged).json()
    assert (body["genuine"], body["ownership"]) == (False, None)


def test_avatars_of_accounts_deleted_before_the_date_was_kept_get_it_from_the_account(stack):
    """0014 -> 0015: an ownerless avatar takes its buyer's deletion date; one still owned stays NULL."""
    import uuid

    from tests.conftest import fresh_database, migrate

    with fresh_database(stack, "0014") as engine:
        ids = {k: uuid.uuid4() for k in ("gone", "kept", "theme", "version", "job", "c1", "c2", "a1", "a2")}
        with engine.begin() as c:
            for key, deleted in (("gone", "'2026-11-30 12:00+00'"), ("kept", "NULL")):
                c.execute(text("INSERT INTO users (id, email, password_hash, display_name, role, locale, deleted_at) "
                               f"VALUES (:id, :email, 'x', 'M', 'user', 'fr', {deleted})"),
                          {"id": ids[key], "email": f"{key}@players.effigies.fr"})
            c.execute(text("INSERT INTO themes (id, slug, name, name_fr, description, description_fr, attribution, status, "
                           "pixel_art, position) VALUES (:theme, 'mig', 'Mig', 'Mig', '', '', '', 'published', false, 1)"), ids)
            c.execute(text("INSERT INTO model_versions (id, theme_id, version, weights_dir, config, metrics) "
                           "VALUES (:version, :theme, 1, 'w', '{}', '{}')"), ids)
            c.execute(text("INSERT INTO generation_jobs (id, user_id, theme_id, model_version_id, count, seed, status, "
                           "rejected_near_duplicates) VALUES (:job, :gone, :theme, :version, 2, 1, 'done', 0)"), ids)
            for n, (candidate, avatar, buyer, owner) in enumerate((("c1", "a1", "gone", None), ("c2", "a2", "kept", "kept"))):
                fingerprint = bytes([n]) * 32
                c.execute(text("INSERT INTO candidates (id, job_id, position, user_id, theme_id, model_version_id, "
                               "fingerprint, image_path, status, expires_at) VALUES (:id, :job, :pos, :user, :theme, "
                               ":version, :fp, 'x.png', 'sold', now())"),
                          {**ids, "id": ids[candidate], "pos": n, "user": ids[buyer], "fp": fingerprint})
                c.execute(text("INSERT INTO avatars (id, public_id, owner_id, candidate_id, theme_id, model_version_id, "
                               "fingerprint, image_path, price_cents) VALUES (:id, :pub, :owner, :cand, :theme, :version, "
                               ":fp, 'x.png', 10)"),
                          {**ids, "id": ids[avatar], "pub": f"pub-{avatar}", "owner": ids[owner] if owner else None,
                           "cand": ids[candidate], "fp": fingerprint})

        migrate(engine, "head")
        with engine.connect() as c:
            rows = dict(c.execute(text("SELECT public_id, owner_released_at FROM avatars")).all())
    assert rows["pub-a1"] == datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    assert rows["pub-a2"] is None
