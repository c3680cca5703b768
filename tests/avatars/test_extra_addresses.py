"""Extra e-mail addresses for /avatar/{hash} (effigies.accounts.addresses): added on My avatars,
verified by the link the real SMTP sink received, linked to an avatar like the account's own
address, removed with their link. Every mail is read from GET /api/mail/outbox."""
from __future__ import annotations

import hashlib
import re
import time
import uuid
from types import SimpleNamespace

import pytest

from tests.avatars.helpers import buy_owned, verify_address
from tests.conftest import ApiClient, fund

PASSWORD = "correct-horse-battery"
LINK = re.compile(r"https?://\S+/#/email/address\?token=([A-Za-z0-9_-]+)")


def _address(tag: str = "extra") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@players.effigies.fr"


def _md5(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def _sha256(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _mails(client: ApiClient, to: str, at_least: int = 1) -> list[dict]:
    deadline = time.monotonic() + 10
    while len(messages := client.get("/api/mail/outbox", params={"to": to}).json()["messages"]) < at_least:
        assert time.monotonic() < deadline, f"no mail to {to}"
        time.sleep(0.1)
    return messages  # newest first


def _token(message: dict) -> str:
    [token] = LINK.findall(message["text"])
    return token


def _person(stack, avatars: int = 1) -> SimpleNamespace:
    """A new account (its own address verified) owning `avatars` avatars."""
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope

    with session_scope() as session:
        user = accounts_service.signup(session=session, email=_address("owner"), password=PASSWORD,
                                       display_name="Extra")
        token, user_id = accounts_service.open_session(session=session, user=user), user.id
    if avatars:
        fund(user_id, 100 * avatars)
    client = ApiClient(base_url=stack.url, timeout=30, cookies={"ee_session": token})
    ids = buy_owned(client, avatars) if avatars else []
    return SimpleNamespace(client=client, id=user_id, email=verify_address(client), ids=ids)


def _add(client: ApiClient, email: str) -> dict:
    response = client.post("/api/me/addresses", json={"email": email})
    assert response.status_code == 201, response.text
    return response.json()


def _confirm(stack, email: str) -> dict:
    """Opens the newest link mailed to the address, from another device (not logged in)."""
    with ApiClient(base_url=stack.url, timeout=30) as other_device:
        response = other_device.post("/api/auth/addresses/verify", json={"token": _token(_mails(other_device, email)[0])})
    assert response.status_code == 200, response.text
    return response.json()


def _link(client: ApiClient, public_id: str, address_id: str | None) -> dict:
    body = {"avatar_public_id": public_id, **({"address_id": address_id} if address_id else {})}
    response = client.put("/api/me/avatar-links", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def owner(stack):
    person = _person(stack, avatars=2)
    yield person
    person.client.close()


def test_an_extra_address_verified_by_its_mailed_link_shows_the_avatar_at_both_hashes(owner, client, stack):
    extra = "  " + _address().upper() + " "  # normalised as every address is: trimmed, lower-cased
    added = _add(owner.client, extra)
    email = extra.strip().lower()
    assert (added["email"], added["verified"], added["verified_at"]) == (email, False, None)
    [message] = _mails(client, email)
    assert message["subject"] == "Confirmez cette adresse pour votre avatar — Effigies Edification"
    assert message["text"].startswith("Bonjour Extra,")
    token = _token(message)

    # Pending: it cannot be linked, and it answers as an unknown address.
    refused = owner.client.put("/api/me/avatar-links", json={"avatar_public_id": owner.ids[0], "address_id": added["id"]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "email_not_verified"
    assert client.get(f"/avatar/{_md5(email)}", params={"d": "404"}).status_code == 404

    with ApiClient(base_url=stack.url, timeout=30) as other_device:  # the link works logged out
        confirmed = other_device.post("/api/auth/addresses/verify", json={"token": token})
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json() == {"email": email, "verified": True}
        again = other_device.post("/api/auth/addresses/verify", json={"token": token})
        assert again.status_code == 400 and again.json()["error"]["code"] == "token_used"
    [listed] = owner.client.get("/api/me/addresses").json()
    assert (listed["id"], listed["verified"]) == (added["id"], True) and listed["verified_at"]

    # Linked: the extra address shows the second avatar, the account's own the first.
    link = _link(owner.client, owner.ids[1], added["id"])
    assert link["address_id"] == added["id"] and link["url"].endswith(f"/avatar/{_sha256(email)}")
    _link(owner.client, owner.ids[0], None)
    second = client.get(f"/a/{owner.ids[1]}.png?s=64")
    for digest in (_md5(email), _sha256(email), _md5(email).upper()):
        served = client.get(f"/avatar/{digest}", params={"s": 64})
        assert served.status_code == 200 and served.content == second.content
        assert served.headers["etag"] == second.headers["etag"] and "set-cookie" not in served.headers
    assert client.get(f"/avatar/{_md5(owner.email)}?s=64").content == client.get(f"/a/{owner.ids[0]}.png?s=64").content
    links = {x["address_id"]: x["avatar_public_id"] for x in owner.client.get("/api/me/avatar-links").json()}
    assert links == {None: owner.ids[0], added["id"]: owner.ids[1]}

    # Her export has the address and which avatar it shows; no page of anyone else's has it.
    export = owner.client.get("/api/me/export").json()
    assert [(a["id"], a["email"], a["verified"]) for a in export["addresses"]] == [(added["id"], email, True)]
    assert {x["address_id"]: x["avatar_public_id"] for x in export["avatar_email_links"]} == links

    # Unlinking the extra address leaves the account's own.
    assert owner.client.delete("/api/me/avatar-links", params={"address_id": added["id"]}).status_code == 204
    assert client.get(f"/avatar/{_sha256(email)}", params={"d": "404"}).status_code == 404
    assert client.get(f"/avatar/{_sha256(owner.email)}", params={"d": "404"}).status_code == 200


def test_removing_an_address_removes_its_link_at_the_next_request(owner, client, stack, make_user):
    email = _address()
    added = _add(owner.client, email)
    _confirm(stack, email)
    _link(owner.client, owner.ids[0], added["id"])
    assert client.get(f"/avatar/{_md5(email)}", params={"d": "404", "s": 64}).status_code == 200

    stranger, _ = make_user()
    for call in (stranger.delete(f"/api/me/addresses/{added['id']}"),
                 stranger.post(f"/api/me/addresses/{added['id']}/verification"),
                 stranger.delete("/api/me/avatar-links", params={"address_id": added["id"]}),
                 stranger.put("/api/me/avatar-links", json={"avatar_public_id": owner.ids[0], "address_id": added["id"]})):
        assert call.status_code == 404 and call.json()["error"]["code"] in ("address_not_found", "avatar_not_found")
    assert email not in stranger.get("/api/me/addresses").text

    assert owner.client.delete(f"/api/me/addresses/{added['id']}").status_code == 204
    for digest in (_md5(email), _sha256(email)):
        assert client.get(f"/avatar/{digest}", params={"d": "404"}).status_code == 404
    assert added["id"] not in owner.client.get("/api/me/addresses").text
    assert added["id"] not in owner.client.get("/api/me/avatar-links").text
    gone = owner.client.delete(f"/api/me/addresses/{added['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "address_not_found"


def test_a_verified_address_is_one_accounts_only(owner, client, stack):
    taken = _address("taken")
    _add(owner.client, taken)
    _confirm(stack, taken)
    other = _person(stack, avatars=1)
    try:
        fresh = _add(other.client, _address("fresh"))
        for address in (taken, owner.email):  # another account's verified extra, or its own address
            asked = _add(other.client, address)  # answered as for any address: no oracle of who has one
            assert {k: v for k, v in asked.items() if k not in ("id", "email", "created_at")} == \
                   {k: v for k, v in fresh.items() if k not in ("id", "email", "created_at")}
            notice = _mails(client, address)[0]  # the address is told, with no link that acts
            assert notice["subject"] == "Demande d'ajout de votre adresse — Effigies Edification"
            assert not LINK.findall(notice["text"]) and "token=" not in notice["text"]
            refused = other.client.put("/api/me/avatar-links", json={"avatar_public_id": other.ids[0],
                                                                      "address_id": asked["id"]})
            assert refused.status_code == 409 and refused.json()["error"]["code"] == "email_not_verified"
            assert other.client.delete(f"/api/me/addresses/{asked['id']}").status_code == 204

        # Both add the same address pending; the first to confirm keeps it, the other's link fails.
        both = _address("both")
        mine, theirs = _add(owner.client, both), _add(other.client, both)
        [later, first] = _mails(client, both, at_least=2)  # newest first: the other account's link
        with ApiClient(base_url=stack.url, timeout=30) as device:
            assert device.post("/api/auth/addresses/verify", json={"token": _token(first)}).status_code == 200
            lost = device.post("/api/auth/addresses/verify", json={"token": _token(later)})
        assert lost.status_code == 409 and lost.json()["error"]["code"] == "email_taken"
        refused = other.client.put("/api/me/avatar-links", json={"avatar_public_id": other.ids[0], "address_id": theirs["id"]})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "email_not_verified"
        _link(owner.client, owner.ids[0], mine["id"])
        assert client.get(f"/avatar/{_md5(both)}?s=64").content == client.get(f"/a/{owner.ids[0]}.png?s=64").content
    finally:
        other.client.close()


def test_an_account_that_confirms_the_address_as_its_own_takes_it_over(owner, client, stack):
    """The latest proof of the mailbox wins: the extra copy of another account goes, with its link."""
    moving = _address("moving")
    added = _add(owner.client, moving)
    _confirm(stack, moving)
    _link(owner.client, owner.ids[0], added["id"])
    other = _person(stack, avatars=1)
    try:
        asked = other.client.post("/api/me/email", json={"new_email": moving, "password": PASSWORD})
        assert asked.status_code == 202, asked.text
        message = next(m for m in _mails(client, moving, at_least=2) if "/#/email/verify?token=" in m["text"])
        token = re.search(r"/#/email/verify\?token=([A-Za-z0-9_-]+)", message["text"]).group(1)
        assert other.client.post("/api/auth/email/verify", json={"token": token}).status_code == 200
        assert client.get(f"/avatar/{_md5(moving)}", params={"d": "404"}).status_code == 404
        assert added["id"] not in owner.client.get("/api/me/addresses").text
        _link(other.client, other.ids[0], None)
        assert client.get(f"/avatar/{_sha256(moving)}?s=64").content == client.get(f"/a/{other.ids[0]}.png?s=64").content
    finally:
        other.client.close()


def test_limits_links_and_bad_input(stack, client):
    person = _person(stack, avatars=0)
    try:
        refused = person.client.post("/api/me/addresses", json={"email": person.email.upper()})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "same_email"
        first = _add(person.client, _address())
        again = person.client.post("/api/me/addresses", json={"email": first["email"]})
        assert again.status_code == 409 and again.json()["error"]["code"] == "address_exists"

        # A new link replaces the old one; a verified address needs none.
        assert person.client.post(f"/api/me/addresses/{first['id']}/verification").status_code == 202
        [new, old] = _mails(client, first["email"], at_least=2)
        with ApiClient(base_url=stack.url, timeout=30) as device:
            stale = device.post("/api/auth/addresses/verify", json={"token": _token(old)})
            assert stale.status_code == 400 and stale.json()["error"]["code"] == "invalid_token"
            assert device.post("/api/auth/addresses/verify", json={"token": _token(new)}).status_code == 200
        done = person.client.post(f"/api/me/addresses/{first['id']}/verification")
        assert done.status_code == 409 and done.json()["error"]["code"] == "already_verified"

        for _ in range(4):
            _add(person.client, _address())
        over = person.client.post("/api/me/addresses", json={"email": _address()})
        assert over.status_code == 409 and over.json()["error"]["code"] == "too_many_addresses"
        assert len(person.client.get("/api/me/addresses").json()) == 5

        for bad in ("not-an-address", "a@b", "x@pаypal.com", "a" * 250 + "@ex.fr", "someone@example.test"):
            response = person.client.post("/api/me/addresses", json={"email": bad})
            assert response.status_code == 422, (bad, response.text)
            assert response.json()["error"]["code"]
        for path in ("/api/me/addresses/not-a-uuid", f"/api/me/addresses/{uuid.uuid4()}"):
            response = person.client.delete(path)
            assert response.status_code in (404, 422) and response.json()["error"]["code"]
        with ApiClient(base_url=stack.url, timeout=30) as anonymous:
            assert anonymous.get("/api/me/addresses").status_code == 401
            made_up = anonymous.post("/api/auth/addresses/verify", json={"token": "A" * 43})
            assert made_up.status_code == 400 and made_up.json()["error"]["code"] == "invalid_token"
    finally:
        person.client.close()


def test_a_link_expires_and_mails_to_one_address_are_rate_limited(stack, client):
    from sqlalchemy import update

    from effigies.accounts.models import AccountAddress
    from effigies.db import session_scope

    person = _person(stack, avatars=0)
    try:
        added = _add(person.client, _address())
        with session_scope() as session:
            session.execute(update(AccountAddress).where(AccountAddress.id == uuid.UUID(added["id"]))
                            .values(token_expires_at=AccountAddress.token_expires_at - __import__("datetime").timedelta(days=3)))
        with ApiClient(base_url=stack.url, timeout=30) as device:
            expired = device.post("/api/auth/addresses/verify", json={"token": _token(_mails(client, added["email"])[0])})
        assert expired.status_code == 400 and expired.json()["error"]["code"] == "token_expired"

        def budget():
            statuses = [person.client.post(f"/api/me/addresses/{added['id']}/verification").status_code for _ in range(3)]
            assert statuses[-1] == 429, statuses  # 3 mails an hour to one address (the first was the add's)
        from tests.conftest import within_one_window

        within_one_window(budget)
    finally:
        person.client.close()


def test_deleting_the_account_removes_its_addresses_and_links(stack, client):
    from sqlalchemy import func, select

    from effigies.accounts.models import AccountAddress
    from effigies.db import session_scope

    person = _person(stack, avatars=1)
    email = _address()
    added = _add(person.client, email)
    _confirm(stack, email)
    _link(person.client, person.ids[0], added["id"])
    balance = person.client.get("/api/wallet").json()["balance_cents"]
    deleted = person.client.post("/api/me/delete", json={"password": PASSWORD, "forfeit_cents": balance})
    assert deleted.status_code == 204, deleted.text
    assert client.get(f"/avatar/{_sha256(email)}", params={"d": "404"}).status_code == 404
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AccountAddress)
                              .where(AccountAddress.user_id == person.id)) == 0
    person.client.close()


def test_the_support_desk_shows_an_accounts_addresses_to_admins_only(owner, stack, make_user):
    email = _address("support")
    added = _add(owner.client, email)
    _confirm(stack, email)
    _link(owner.client, owner.ids[0], added["id"])
    pending = _add(owner.client, _address("pending"))["email"]
    admin, _ = make_user(role="admin")
    [found] = admin.get("/api/admin/users", params={"q": owner.email}).json()["items"]
    shown = {a["email"]: (a["extra"], a["verified"], a["linked"]) for a in found["addresses"]}
    assert shown[email] == (True, True, True) and shown[pending] == (True, False, False)
    by_extra = admin.get("/api/admin/users", params={"q": email.split("@")[0]}).json()["items"]
    assert [u["id"] for u in by_extra] == [str(owner.id)]  # support finds her by an extra address too
    summary = admin.get(f"/api/admin/wallets/{owner.id}").json()["user"]
    assert email in {a["email"] for a in summary["addresses"]}
    user, _ = make_user()
    refused = user.get("/api/admin/users", params={"q": owner.email})
    assert refused.status_code == 403 and email not in refused.text


def test_the_hash_lookup_outlives_its_database_connections(owner, client):
    """/avatar/{hash} holds a few connections of its own (effigies.avatars.public.HashLookups):
    cut by the server (a restart, an idle timeout), the next request still answers."""
    from sqlalchemy import text

    from effigies.db import session_scope

    _link(owner.client, owner.ids[0], None)
    expected = client.get(f"/a/{owner.ids[0]}.png?s=64").content
    for _ in range(8):  # every process has held its connections
        assert client.get(f"/avatar/{_md5(owner.email)}?s=64").content == expected
    with session_scope() as session:
        cut = session.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
    assert cut >= 1
    for digest in (_md5(owner.email), _sha256(owner.email)):
        response = client.get(f"/avatar/{digest}?s=64")
        assert response.status_code == 200 and response.content == expected
