"""GET /avatar/{hash}, Gravatar- and Libravatar-compatible, on the real stack, asked for with the
URLs that the real client libraries build (libgravatar, pylibravatar), and linking an address
on "My avatars" (PUT/GET/DELETE /api/me/avatar-links)."""
from __future__ import annotations

import hashlib
import io
import re
import time
import uuid
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from tests.avatars.helpers import buy_owned, verify_address as _verify
from tests.conftest import ApiClient

SHORT = "public, max-age=300"
LINK = re.compile(r"https?://\S+/#/email/verify\?token=([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def owner(stack):
    """A verified account owning two avatars: (client, its address, [public ids])."""
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope
    from tests.conftest import fund

    with session_scope() as session:
        user = accounts_service.signup(session=session, email=f"grav-{uuid.uuid4().hex[:10]}@players.effigies.fr",
                                       password="correct-horse-battery", display_name="Gravatar")
        token, user_id = accounts_service.open_session(session=session, user=user), user.id
    fund(user_id, 200)
    client = ApiClient(base_url=stack.url, timeout=30, cookies={"ee_session": token})
    ids = buy_owned(client, 2)
    email = _verify(client)
    yield SimpleNamespace(client=client, email=email, ids=ids)
    client.close()


def _link(client, public_id):
    response = client.put("/api/me/avatar-links", json={"avatar_public_id": public_id})
    assert response.status_code == 200, response.text
    return response.json()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _image(response: httpx.Response, size: int) -> Image.Image:
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (size, size)
    return image


def _md5(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def _sha256(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def test_libgravatar_urls_answer_with_the_linked_avatar_as_a_served(owner, client):
    from libgravatar import Gravatar

    public_id = owner.ids[0]
    link = _link(owner.client, public_id)
    assert link["avatar_public_id"] == public_id and link["url"].endswith(f"/avatar/{_sha256(owner.email)}")
    assert owner.email not in str(owner.client.get("/api/me/avatar-links").json())
    # libgravatar always builds https://www.gravatar.com/avatar/...: it has no base URL to set,
    # so its path and query are asked of our server, as a site pointed at it would.
    for size in (80, 128, 460):
        url = Gravatar(f"  {owner.email.upper()} ").get_image(size=size, default="404")
        assert url.startswith("https://www.gravatar.com/avatar/" + _md5(owner.email))
        response = client.get(_path(url))
        _image(response, size)
        assert response.content == client.get(f"/a/{public_id}.png", params={"s": size}).content
        assert response.headers["cache-control"] == SHORT
        assert "set-cookie" not in response.headers and not client.cookies
        again = client.get(_path(url), headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    assert _image(client.get(_path(Gravatar(owner.email).get_image())), 80)  # no parameters: 80 px
    jpg = client.get(_path(Gravatar(owner.email).get_image(size=128, filetype_extension=True)))
    assert jpg.headers["content-type"] == "image/jpeg"
    assert jpg.content == client.get(f"/a/{public_id}.jpg", params={"s": 128}).content


def test_libravatar_finds_us_through_the_domains_srv_record(owner, client, stack, monkeypatch):
    import libravatar

    public_id = owner.ids[0]
    _link(owner.client, public_id)
    server = urlsplit(stack.url)
    asked = []

    def resolve(name, kind):  # the domain owner's record: _avatars._tcp.<domain> SRV 0 0 <port> <host>
        asked.append((name, kind))
        return [SimpleNamespace(priority=0, weight=0, port=server.port, target=f"{server.hostname}.")]

    monkeypatch.setattr(libravatar.dns.resolver, "resolve", resolve)
    url = libravatar.libravatar_url(email=owner.email, https=False, default="404", size=128)
    assert asked == [(f"_avatars._tcp.{owner.email.split('@')[1]}", "SRV")]
    assert url.startswith(f"http://{server.hostname}:{server.port}/avatar/")
    response = httpx.get(url)
    _image(response, 128)
    expected = client.get(f"/a/{public_id}.png", params={"s": 128}).content
    assert response.content == expected
    # Libravatar's SHA-256 of the same address, and the long parameter names.
    by_sha = client.get(f"/avatar/{_sha256(owner.email)}", params={"size": 128, "default": "404", "rating": "x"})
    assert by_sha.content == expected
    webp = client.get(f"/avatar/{_sha256(owner.email).upper()}.webp", params={"s": 128})
    assert webp.content == client.get(f"/a/{public_id}.webp", params={"s": 128}).content


def test_a_miss_follows_d_and_answers_alike_for_every_unlinked_address(owner, client, make_user):
    # Someone's real, verified address that is not linked, and an address nobody has.
    other, _ = make_user()
    unlinked, unknown = _md5(_verify(other)), _md5(f"nobody-{uuid.uuid4().hex}@example.org")
    for digest in (unlinked, unknown):
        missing = client.get(f"/avatar/{digest}", params={"d": "404"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "avatar_not_found"
        assert missing.headers["cache-control"] == SHORT
        moved = client.get(f"/avatar/{digest}", params={"d": "https://example.org/default.png", "s": 64})
        assert (moved.status_code, moved.headers["location"]) == (302, "https://example.org/default.png")
        assert moved.headers["cache-control"] == SHORT
    assert client.get(f"/avatar/{unlinked}").content == client.get(f"/avatar/{unknown}").content  # mp, the default
    assert client.get(f"/avatar/{unlinked}").headers["cache-control"] == SHORT

    identicon = client.get(f"/avatar/{unknown}", params={"d": "identicon", "s": 100})
    _image(identicon, 100)
    assert identicon.content == client.get(f"/avatar/{unknown}", params={"d": "identicon", "s": 100}).content
    assert identicon.content != client.get(f"/avatar/{unlinked}", params={"d": "identicon", "s": 100}).content
    for style in ("robohash", "monsterid", "wavatar"):  # drawn by us: our identicon
        assert client.get(f"/avatar/{unknown}", params={"d": style, "s": 100}).content == identicon.content
    _image(client.get(f"/avatar/{unknown}", params={"d": "retro", "s": 100}), 100)
    blank = _image(client.get(f"/avatar/{unknown}.png", params={"d": "blank", "s": 40}), 40)
    assert blank.convert("RGBA").getextrema()[3] == (0, 0)
    # f=y: the default even for a linked address.
    _link(owner.client, owner.ids[0])
    forced = client.get(f"/avatar/{_md5(owner.email)}", params={"d": "identicon", "s": 100, "f": "y"})
    assert forced.content == client.get(f"/avatar/{_md5(owner.email)}", params={"d": "identicon", "s": 100,
                                                                               "forcedefault": "y"}).content
    assert forced.content != client.get(f"/a/{owner.ids[0]}.png", params={"s": 100}).content


def test_changing_and_removing_the_link_takes_effect_at_the_next_request(owner, client):
    digest = _md5(owner.email)
    first, second = owner.ids
    _link(owner.client, first)
    assert client.get(f"/avatar/{digest}", params={"s": 64}).content == client.get(f"/a/{first}.png?s=64").content
    _link(owner.client, second)
    assert client.get(f"/avatar/{digest}", params={"s": 64}).content == client.get(f"/a/{second}.png?s=64").content
    [listed] = owner.client.get("/api/me/avatar-links").json()
    assert listed["avatar_public_id"] == second
    [exported] = owner.client.get("/api/me/export").json()["avatar_email_links"]  # her data, in her export
    assert (exported["avatar_public_id"], exported["url"]) == (second, listed["url"])
    assert owner.client.delete("/api/me/avatar-links").status_code == 204
    assert owner.client.get("/api/me/avatar-links").json() == []
    assert client.get(f"/avatar/{digest}", params={"d": "404"}).status_code == 404
    assert client.get(f"/avatar/{_sha256(owner.email)}", params={"d": "404"}).status_code == 404
    assert owner.client.delete("/api/me/avatar-links").status_code == 204  # nothing left: still fine


def test_nobody_links_another_accounts_avatar_and_an_unverified_address_is_refused(owner, client, make_user):
    _link(owner.client, owner.ids[0])
    stranger, _ = make_user(balance_cents=100)
    _verify(stranger)
    refused = stranger.put("/api/me/avatar-links", json={"avatar_public_id": owner.ids[0]})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "avatar_not_found"
    assert client.get(f"/avatar/{_md5(owner.email)}?s=64").content == client.get(f"/a/{owner.ids[0]}.png?s=64").content

    unverified, _ = make_user(balance_cents=100)
    [own] = buy_owned(unverified)
    email = unverified.get("/api/me").json()["email"]
    refused = unverified.put("/api/me/avatar-links", json={"avatar_public_id": own})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "email_not_verified"
    assert client.get(f"/avatar/{_md5(email)}", params={"d": "404"}).status_code == 404


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/avatar/abc", 422, "invalid_hash"),
    ("/avatar/" + "a" * 33, 422, "invalid_hash"),
    ("/avatar/" + "g" * 32, 422, "invalid_hash"),
    ("/avatar/" + "a" * 63, 422, "invalid_hash"),
    ("/avatar/", 422, "invalid_hash"),
    ("/avatar/" + "a" * 32 + ".gif", 404, "unknown_format"),
    ("/avatar/" + "a" * 32 + ".", 404, "unknown_format"),
    ("/avatar/" + "a" * 32 + "?s=15", 422, "invalid_size"),
    ("/avatar/" + "a" * 32 + "?size=1025", 422, "invalid_size"),
    ("/avatar/" + "a" * 32 + "?s=abc", 422, "invalid_size"),
    ("/avatar/" + "a" * 64 + "?s=2048", 422, "invalid_size"),
    ("/avatar/" + "a" * 32 + "?d=javascript:alert(1)", 422, "invalid_default"),
    ("/avatar/" + "a" * 32 + "?d=ftp%3A%2F%2Fexample.org%2Fa.png", 422, "invalid_default"),
    ("/avatar/" + "a" * 32 + "?d=https%3A%2F%2F" + "a" * 1100 + ".org%2Fa.png", 422, "invalid_default"),
    ("/avatar/" + "a" * 32 + "?d=https%3A%2F%2Fexample.org%2Fa%20b.png", 422, "invalid_default"),
    ("/avatar/" + "a" * 32 + "?d=no-such-style", 422, "invalid_default"),
])
def test_bad_input_is_a_json_error_that_says_what_is_allowed(client, path, status, code):
    response = client.get(path)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert response.headers["content-type"] == "application/json"


def test_only_get_and_head(client):
    response = client.post("/avatar/" + "a" * 32)
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    head = client.head("/avatar/" + "a" * 32, params={"d": "identicon"})
    assert head.status_code == 200 and head.content == b""


def test_a_new_address_and_a_deleted_account_answer_with_nothing(client, make_user):
    from sqlalchemy import func, select

    from effigies.avatars.models import AvatarEmailLink
    from effigies.db import session_scope

    person, user_id = make_user(balance_cents=100)
    [own] = buy_owned(person)
    old = _verify(person)
    _link(person, own)
    assert client.get(f"/avatar/{_md5(old)}", params={"d": "404", "s": 64}).status_code == 200
    # Confirming a new address: the old one is no longer this account's, its link goes.
    new = f"moved-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    assert person.post("/api/me/email", json={"new_email": new, "password": "correct-horse-battery"}).status_code == 202
    deadline = time.monotonic() + 10
    while not (messages := client.get("/api/mail/outbox", params={"to": new}).json()["messages"]):
        assert time.monotonic() < deadline, "no confirmation mail"
        time.sleep(0.1)
    assert person.post("/api/auth/email/verify", json={"token": LINK.search(messages[0]["text"]).group(1)}).status_code == 200
    assert client.get(f"/avatar/{_md5(old)}", params={"d": "404"}).status_code == 404
    assert client.get(f"/avatar/{_md5(new)}", params={"d": "404"}).status_code == 404  # until linked again
    _link(person, own)
    assert client.get(f"/avatar/{_sha256(new)}", params={"d": "404", "s": 64}).status_code == 200
    # Deleting the account: no link, no hash of the address left.
    balance = person.get("/api/wallet").json()["balance_cents"]
    deleted = person.post("/api/me/delete", json={"password": "correct-horse-battery", "forfeit_cents": balance})
    assert deleted.status_code == 204, deleted.text
    assert client.get(f"/avatar/{_sha256(new)}", params={"d": "404"}).status_code == 404
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AvatarEmailLink)
                              .where(AvatarEmailLink.user_id == user_id)) == 0


def test_one_hash_asked_for_far_too_often_is_429_for_a_minute_and_others_are_not(monkeypatch):
    import asyncio
    import concurrent.futures

    from effigies.avatars import public
    from effigies.avatars.gravatar import HashBudget
    from effigies.avatars.public import PublicAvatars

    monkeypatch.setattr(public, "time", SimpleNamespace(time=lambda: 6_000_030.0))  # mid-minute: one window

    budget = HashBudget(3, tracked=2)
    assert [budget.allow("a", 120.0) for _ in range(3)] == [None] * 3
    assert budget.allow("a", 150.0) == 30.0  # refused until the next minute
    assert budget.allow("a", 180.0) is None
    budget.allow("b", 181.0), budget.allow("c", 181.0)  # "a" pushed out: bounded memory
    assert len(budget._counts) == 2 and "a" not in budget._counts

    async def app_behind(scope, receive, send):  # never reached: /avatar/ is answered before it
        raise AssertionError(scope["path"])

    async def scenario():
        app = PublicAvatars(app_behind, cache_bytes=1_000_000, hash_lookups_per_minute=2)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://avatars") as c:
            # f=y: no database lookup, but counted all the same, as every request for the hash is.
            flood = [await c.get("/avatar/" + "a" * 32, params={"d": "404", "f": "y"}) for _ in range(3)]
            assert [r.status_code for r in flood] == [404, 404, 429]
            refused = flood[2]
            assert refused.json()["error"]["code"] == "rate_limited" and refused.headers["retry-after"] == "30"
            assert refused.headers["cache-control"] == "no-store"
            other = await c.get("/avatar/" + "b" * 64, params={"d": "404", "f": "y"})
            assert other.status_code == 404

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # outside any event loop the suite's browser runs
        pool.submit(asyncio.run, scenario()).result()
