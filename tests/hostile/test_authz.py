"""Who may call what: every route of the app, as anonymous, its owner, another user and an admin.

User A ("owner") has real objects: a finished generation and its candidates, a bought avatar and
its certificate, a board, a top-up. For each route, MATRIX says the status each caller gets:
- a private object of A's is 404 to everyone else, admins included (never 403: that would tell a
  stranger the object exists), and 401 to anonymous callers; or 404 to them too where a visitor
  (no account, the ee_visitor cookie) may own such objects: generations, their previews;
- an admin route is 401 anonymously and 403 to every non-admin;
- a public route answers everyone alike.
No response to anyone but A may contain A's e-mail address or the ids of A's private objects.

test_every_route_is_classified enumerates the app's routes (and the public avatar URL, served
before routing) and fails on any route that has no row here: a new route must be classified, in
one line (`mine(...)`, `mine_or_visitor(...)`, `own_account(...)`, `own_or_visitor(...)`,
`admin_only(...)`, `public(...)`).
"""
from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

from tests.conftest import ApiClient, wait_generation
from tests.hostile.conftest import PASSWORD, Account, make_account

ROLES = ("anonymous", "other", "admin", "owner")  # the owner goes last: some calls use up an object


@dataclass
class World:
    owner: Account
    other: Account
    admin: Account
    login: Account  # signs in over and over in the log-in row; nobody's session depends on it
    job_id: str
    preview_candidate: str  # offered, never bought
    purchase_candidate: str  # offered; the owner buys it in the purchase row
    public_id: str  # of the avatar the owner bought
    certificate: dict
    board_id: str
    topup_id: str
    frame: str  # a learning-timeline picture's name (pixel-heroes ships one)
    draft_slug: str  # a theme of this module's own, never published
    run_id: str  # a finished training run of it
    extra_email: str  # an extra address of A's, verified (no mail was sent: the local outbox shows them)
    address_id: str  # its id
    spare_address_id: str  # a pending one, which A removes in the DELETE row

    def secrets(self) -> list[str]:
        """What only A (and admin pages) may ever see."""
        return [self.owner.email, str(self.owner.id), self.job_id, self.preview_candidate, self.purchase_candidate,
                self.board_id, self.topup_id, self.extra_email, self.address_id]


@dataclass
class Call:
    method: str
    url: str
    kwargs: dict = field(default_factory=dict)
    fresh_session: bool = False  # it ends or replaces the caller's session: send it with a session of its own


@dataclass
class Row:
    build: Callable[[World], Call]
    expect: dict[str, int]
    admin_page: bool = False  # admins may see A's data there


def public(build, status: int = 200) -> Row:
    return Row(build, dict.fromkeys(ROLES, status))


def own_account(build, status: int = 200) -> Row:
    """Acts on the caller's own account or wallet: any logged-in caller, on themselves."""
    return Row(build, {"anonymous": 401, "other": status, "admin": status, "owner": status})


def mine(build, status: int = 200) -> Row:
    """One of A's private objects."""
    return Row(build, {"anonymous": 401, "other": 404, "admin": 404, "owner": status})


def own_or_visitor(build, status: int = 200) -> Row:
    """Acts on the caller's own things, which a visitor without an account has too (try first:
    generating, their proposals): everyone gets the same status, each on their own."""
    return Row(build, dict.fromkeys(ROLES, status))


def mine_or_visitor(build, status: int = 200) -> Row:
    """One of A's private objects of a kind a visitor may own too: a 404 to an anonymous caller,
    who owns nothing of A's, as to anyone but A."""
    return Row(build, {"anonymous": 404, "other": 404, "admin": 404, "owner": status})


def admin_only(build, status: int = 200) -> Row:
    return Row(build, {"anonymous": 401, "other": 403, "admin": status, "owner": 403}, admin_page=True)


def get(url: str, **kwargs) -> Callable[[World], Call]:
    return lambda w: Call("GET", url.format(w=w), kwargs)


def post(url: str, fresh_session: bool = False, **kwargs) -> Callable[[World], Call]:
    return lambda w: Call("POST", url.format(w=w), kwargs, fresh_session)


def _signup(w: World) -> Call:
    email = f"authz-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    return Call("POST", "/api/auth/signup", {"json": {"email": email, "password": PASSWORD, "display_name": "Authz"}},
                fresh_session=True)


def _theme_form() -> dict:
    # Complete but for a broken archive: an admin gets 422, after the admin gate; nothing is created.
    fields = {"slug": f"authz-{uuid.uuid4().hex[:8]}", "name": "Authz", "attribution": "Nobody, CC0"}
    return {"data": fields, "files": {"archive": ("examples.zip", b"not a zip", "application/zip")}}


MATRIX: dict[str, Row] = {
    # System, documents, the frontend
    "GET /api/health": public(get("/api/health")),
    "GET /api/config": public(get("/api/config")),
    "GET /openapi.json": public(get("/openapi.json")),
    "GET /api/docs": public(get("/api/docs")),
    "GET /docs/oauth2-redirect": public(get("/docs/oauth2-redirect")),
    "GET /redoc": public(get("/redoc")),
    "MOUNT /{path}": public(get("/")),
    "GET /.well-known/effigies-signing-key": public(get("/.well-known/effigies-signing-key")),
    # Accounts
    "POST /api/auth/signup": public(_signup, 202),
    "POST /api/auth/signup/confirm": public(post("/api/auth/signup/confirm", True, json={"token": "A" * 43}), 400),
    "POST /api/auth/login": public(
        lambda w: Call("POST", "/api/auth/login", {"json": {"email": w.login.email, "password": PASSWORD}}, True)),
    "POST /api/auth/logout": public(post("/api/auth/logout", True), 204),
    "GET /api/me": own_account(get("/api/me")),
    "PATCH /api/me": own_account(lambda w: Call("PATCH", "/api/me", {"json": {"locale": "en"}})),
    # Both need the current password: a wrong one shows the caller got past the log-in gate.
    "POST /api/me/password": own_account(
        post("/api/me/password", json={"current_password": "not-the-password", "new_password": "another-password-1"}), 400),
    "POST /api/me/delete": own_account(post("/api/me/delete", json={"password": "not-the-password"}), 400),
    "GET /api/session": public(get("/api/session")),
    "GET /api/me/export": own_account(get("/api/me/export")),
    # E-mailed links: a made-up token is refused after any gate there is (there is none).
    "POST /api/auth/email/verify": public(post("/api/auth/email/verify", json={"token": "A" * 43}), 400),
    "POST /api/auth/password/reset": public(
        post("/api/auth/password/reset", json={"token": "A" * 43, "new_password": "another-password-1"}), 400),
    # The strength meter: anyone typing a new password (sign-up, reset), logged in or not.
    "POST /api/auth/password-strength": public(post("/api/auth/password-strength", json={"password": "correct-horse-battery"})),
    "POST /api/auth/password/forgot": public(lambda w: Call("POST", "/api/auth/password/forgot", {"json": {
        "email": f"authz-{uuid.uuid4().hex[:10]}@players.effigies.fr"}}), 202),
    "POST /api/me/email/verification": own_account(post("/api/me/email/verification", json={}), 202),
    "POST /api/me/email": own_account(post("/api/me/email", json={
        "new_email": "authz-new@players.effigies.fr", "password": "not-the-password"}), 400),
    # Local mode's mail outbox: open to whoever reaches a local server (effigies.mail.outbox).
    "GET /api/mail/outbox": public(get("/api/mail/outbox")),
    # The legal pages: for everyone, before any account.
    "GET /api/legal": public(get("/api/legal")),
    "GET /api/legal/{page}": public(get("/api/legal/terms")),
    # Themes
    "GET /api/themes": public(get("/api/themes")),
    "GET /api/themes/{slug}": public(get("/api/themes/galactic-droids")),
    "GET /api/themes/{slug}/sample.png": public(get("/api/themes/galactic-droids/sample.png")),
    "GET /api/themes/{slug}/learning": public(get("/api/themes/pixel-heroes/learning")),
    "GET /api/themes/{slug}/learning/{name}": public(get("/api/themes/pixel-heroes/learning/{w.frame}")),
    # The home page's fresh avatars: for everyone (an image name that is not one: 404 for all alike).
    "GET /api/showcase": public(get("/api/showcase")),
    "GET /api/showcase/{slug}/{name}": public(get("/api/showcase/galactic-droids/000000000000-0.webp"), 404),
    # Generation
    "POST /api/themes/{slug}/generations": own_or_visitor(post("/api/themes/galactic-droids/generations", json={"count": 1}), 202),
    "GET /api/themes/{slug}/proposals": own_or_visitor(get("/api/themes/galactic-droids/proposals")),
    "GET /api/me/proposals": own_account(get("/api/me/proposals")),
    "GET /api/generations/{job_id}": mine_or_visitor(get("/api/generations/{w.job_id}")),
    "GET /api/generations/{job_id}/events": mine_or_visitor(get("/api/generations/{w.job_id}/events")),
    "GET /api/candidates/{candidate_id}/preview.webp": mine_or_visitor(get("/api/candidates/{w.preview_candidate}/preview.webp")),
    "POST /api/themes/{slug}/boards": own_account(post("/api/themes/pixel-heroes/boards", json={"count": 16}), 202),
    "GET /api/boards/{board_id}": mine(get("/api/boards/{w.board_id}")),
    "GET /api/boards/{board_id}/board.{ext}": mine(get("/api/boards/{w.board_id}/board.png")),
    # Wallet and payments
    "GET /api/wallet": own_account(get("/api/wallet")),
    "POST /api/wallet/setup-intents": own_account(post("/api/wallet/setup-intents"), 201),
    # Not a pack: refused after the log-in gate, and no card is charged.
    "POST /api/wallet/topups": own_account(post("/api/wallet/topups", json={"amount_cents": 7, "payment_method_id": "pm_x"}), 422),
    "GET /api/wallet/topups/{topup_id}": mine(get("/api/wallet/topups/{w.topup_id}")),
    # Signed by Stripe or refused, whoever sends it (signed deliveries: tests/billing/test_webhooks.py).
    "POST /api/stripe/webhook": public(post("/api/stripe/webhook", json={"type": "payment_intent.succeeded"}), 400),
    # Avatars and certificates
    "POST /api/candidates/{candidate_id}/purchase": mine(post("/api/candidates/{w.purchase_candidate}/purchase", json={"withdrawal_waiver": True}), 201),
    "GET /api/me/avatars": own_account(get("/api/me/avatars")),
    "GET /a/{public_id}.{format}": public(get("/a/{w.public_id}.webp")),
    # Linking an address: the owner's own account; the avatar named must be the caller's (404
    # otherwise); the owner's address is unverified here, so the owner gets 409 after both gates.
    "GET /api/me/avatar-links": own_account(get("/api/me/avatar-links")),
    "PUT /api/me/avatar-links": mine(
        lambda w: Call("PUT", "/api/me/avatar-links", {"json": {"avatar_public_id": w.public_id}}), 409),
    "DELETE /api/me/avatar-links": own_account(lambda w: Call("DELETE", "/api/me/avatar-links"), 204),
    # Extra addresses for /avatar/{hash}: the caller's own; A's are 404 to everyone else.
    "GET /api/me/addresses": own_account(get("/api/me/addresses")),
    "POST /api/me/addresses": own_account(lambda w: Call("POST", "/api/me/addresses", {"json": {
        "email": f"authz-extra-{uuid.uuid4().hex[:10]}@players.effigies.fr"}}), 201),
    # A's address is verified: A gets 409 (no new link needed) after both gates, and no mail.
    "POST /api/me/addresses/{address_id}/verification": mine(post("/api/me/addresses/{w.address_id}/verification"), 409),
    "DELETE /api/me/addresses/{address_id}": mine(lambda w: Call("DELETE", f"/api/me/addresses/{w.spare_address_id}"), 204),
    "POST /api/auth/addresses/verify": public(post("/api/auth/addresses/verify", json={"token": "A" * 43}), 400),
    # Any hash, linked or not, answers every caller alike (no session is read there).
    "GET /avatar/{hash}": public(get("/avatar/" + "0" * 32 + "?d=404"), 404),
    "GET /api/avatars/{public_id}/certificate": mine(get("/api/avatars/{w.public_id}/certificate")),
    "GET /api/verify/{public_id}": public(get("/api/verify/{w.public_id}")),
    "POST /api/verify": public(lambda w: Call("POST", "/api/verify", {"json": w.certificate})),
    "GET /verify/{public_id}": public(get("/verify/{w.public_id}"), 302),
    # Admin pages: the admin gate first, whatever the object.
    "GET /api/admin/users": admin_only(lambda w: Call("GET", "/api/admin/users", {"params": {"q": w.owner.email}})),
    "GET /api/admin/wallets/{user_id}": admin_only(get("/api/admin/wallets/{w.owner.id}")),
    "POST /api/admin/wallets/{user_id}/adjustments": admin_only(
        post("/api/admin/wallets/{w.owner.id}/adjustments", json={"amount_cents": 10, "reason": "authz check"}), 201),
    "GET /api/admin/themes": admin_only(get("/api/admin/themes")),
    "GET /api/admin/datasets": admin_only(get("/api/admin/datasets")),
    "POST /api/admin/themes": admin_only(lambda w: Call("POST", "/api/admin/themes", _theme_form()), 422),
    "POST /api/admin/themes/{slug}/publish": admin_only(
        post("/api/admin/themes/{w.draft_slug}/publish", json={"model_version_id": str(uuid.uuid4())}), 404),
    "POST /api/admin/themes/{slug}/retire": admin_only(post("/api/admin/themes/{w.draft_slug}/retire"), 409),
    "POST /api/admin/themes/{slug}/unretire": admin_only(post("/api/admin/themes/{w.draft_slug}/unretire"), 409),
    # An order naming no theme: an admin gets 422, after the admin gate; the order stays.
    "PUT /api/admin/themes/order": admin_only(lambda w: Call("PUT", "/api/admin/themes/order", {"json": {"slugs": []}}), 422),
    "GET /api/admin/training-presets": admin_only(get("/api/admin/training-presets")),
    "POST /api/admin/themes/{slug}/training-runs": admin_only(
        post("/api/admin/themes/{w.draft_slug}/training-runs", json={"preset": "no-such-preset"}), 422),
    "GET /api/admin/themes/{slug}/training-runs": admin_only(get("/api/admin/themes/{w.draft_slug}/training-runs")),
    "GET /api/admin/training-runs/{run_id}": admin_only(get("/api/admin/training-runs/{w.run_id}")),
    # The run never drew a sample grid: the admin passes the gate and learns that.
    "GET /api/admin/training-runs/{run_id}/samples.png": admin_only(get("/api/admin/training-runs/{w.run_id}/samples.png"), 404),
    "POST /api/admin/training-runs/{run_id}/cancel": admin_only(post("/api/admin/training-runs/{w.run_id}/cancel"), 202),
    "GET /api/admin/stats": admin_only(get("/api/admin/stats")),
    # Without a bearer token, only an admin's session reads the metrics.
    "GET /metrics": admin_only(get("/metrics")),
}
# Addresses people type (effigies.api.pages): a redirect to the page for anyone; the page itself
# then asks for what it needs through the routes above.
for _path in __import__("effigies.api.pages", fromlist=["PATHS"]).PATHS:
    for _form in (_path, _path + "/"):
        MATRIX[f"GET {_form}"] = public(get(_form.replace("{slug}", "galactic-droids").replace("{page}", "terms")), 302)


def app_routes() -> set[str]:
    """"METHOD /path" of every route the app serves (HEAD goes with GET), plus the public avatar URL."""
    from fastapi.routing import iter_route_contexts

    from effigies.api.app import create_app
    from effigies.avatars.public import HASH_ROUTE, ROUTE

    keys = {f"GET {ROUTE}", f"GET {HASH_ROUTE}"}  # effigies.avatars.public answers them before routing
    for route in iter_route_contexts(create_app().routes):
        if route.methods is None:
            keys.add(f"MOUNT {route.path_format}")
        keys.update(f"{method} {route.path_format}" for method in route.methods or () if method != "HEAD")
    return keys


def test_every_route_is_classified():
    routes = app_routes()
    assert sorted(routes - MATRIX.keys()) == [], "routes with no row in MATRIX: classify them"
    assert sorted(MATRIX.keys() - routes) == [], "rows of MATRIX for routes that no longer exist"


@pytest.fixture(scope="module")
def world(stack) -> World:
    from effigies.accounts.models import AccountAddress
    from effigies.billing.models import TopUp
    from effigies.db import session_scope, utcnow
    from effigies.themes.models import Theme
    from effigies.training.models import TrainingRun

    owner, other = make_account(stack, balance_cents=100), make_account(stack)
    admin, login = make_account(stack, role="admin"), make_account(stack)
    a = owner.client

    job = a.post("/api/themes/galactic-droids/generations", json={"count": 3})
    assert job.status_code == 202, job.text
    done = wait_generation(a, job.json()["id"])
    assert done["status"] == "done" and len(done["candidates"]) == 3, done
    bought, preview, purchase = (c["id"] for c in done["candidates"])
    sale = a.post(f"/api/candidates/{bought}/purchase", json={"withdrawal_waiver": True})
    assert sale.status_code == 201, sale.text
    public_id = sale.json()["avatar"]["public_id"]
    certificate = a.get(f"/api/avatars/{public_id}/certificate").json()

    board = a.post("/api/themes/pixel-heroes/boards", json={"count": 16})
    assert board.status_code == 202, board.text
    board_id = board.json()["id"]
    frame = a.get("/api/themes/pixel-heroes/learning").json()["frames"][0]["url"].rsplit("/", 1)[1]

    draft_slug = f"authz-{uuid.uuid4().hex[:8]}"
    extra_email = f"authz-extra-{uuid.uuid4().hex[:10]}@players.effigies.fr"
    with session_scope() as session:
        topup = TopUp(user_id=owner.id, amount_cents=100, currency="eur")
        theme = Theme(slug=draft_slug, name="Authz draft", status="draft")
        address = AccountAddress(user_id=owner.id, email=extra_email, verified_at=utcnow())
        spare = AccountAddress(user_id=owner.id, email=f"authz-spare-{uuid.uuid4().hex[:10]}@players.effigies.fr")
        session.add_all([topup, theme, address, spare])
        session.flush()
        address_id, spare_address_id = str(address.id), str(spare.id)
        run = TrainingRun(theme_id=theme.id, preset="quick", status="cancelled")
        session.add(run)
        session.flush()
        topup_id, run_id = str(topup.id), str(run.id)

    _wait_board(a, board_id)
    return World(owner=owner, other=other, admin=admin, login=login, job_id=job.json()["id"], preview_candidate=preview,
                 purchase_candidate=purchase, public_id=public_id, certificate=certificate, board_id=board_id,
                 topup_id=topup_id, frame=frame, draft_slug=draft_slug, run_id=run_id, extra_email=extra_email,
                 address_id=address_id, spare_address_id=spare_address_id)


def _wait_board(client: ApiClient, board_id: str, timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(f"/api/boards/{board_id}").json()["status"] == "done":
            return
        time.sleep(0.3)
    raise AssertionError(f"board {board_id} not drawn in {timeout}s")


def _client(stack, world: World, role: str, call: Call) -> ApiClient:
    if role == "anonymous":
        return ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": world.owner.ip})
    account = getattr(world, role)
    if call.fresh_session:
        return account.session(stack)
    return account.client


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_each_caller_gets_the_status_the_matrix_says(route, stack, world):
    row = MATRIX[route]
    got = {}
    for role in ROLES:
        call = row.build(world)
        client = _client(stack, world, role, call)
        response = client.request(call.method, call.url, follow_redirects=False, **call.kwargs)
        got[role] = response.status_code
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/json"), (role, response.text[:200])
            assert set(response.json()["error"]) >= {"code", "message"}, (role, response.text[:200])
        if role == "other" or role == "anonymous" or (role == "admin" and not row.admin_page):
            leaked = [s for s in world.secrets() if s in response.text]
            assert not leaked, f"{route} shows {role} what only the owner may see: {leaked}"
    assert got == row.expect


def test_callers_see_their_own_account_not_the_owners(world):
    for account in (world.owner, world.other, world.admin):
        assert account.client.get("/api/me").json()["id"] == str(account.id)
    assert world.owner.email not in world.other.client.get("/api/wallet").text


def test_a_stranger_cannot_see_buy_or_download_an_unsold_candidate(stack, world):
    other, owner = world.other.client, world.owner.client
    candidate = world.preview_candidate
    assert other.get(f"/api/candidates/{candidate}/preview.webp").status_code == 404
    assert other.post(f"/api/candidates/{candidate}/purchase", json={"withdrawal_waiver": True}).status_code == 404
    # The clean image has no public address before it is sold: not by the candidate's id either.
    with ApiClient(base_url=stack.url, timeout=30) as anonymous:
        for ext in ("png", "webp", "jpg"):
            assert anonymous.get(f"/a/{candidate}.{ext}").status_code == 404
            assert anonymous.get(f"/a/{candidate.replace('-', '')[:16]}.{ext}").status_code == 404
    # Its owner sees only the watermarked 256 px preview, and it is still on offer, unsold.
    preview = owner.get(f"/api/candidates/{candidate}/preview.webp")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/webp"
    from PIL import Image

    assert Image.open(io.BytesIO(preview.content)).size == (256, 256)
    from effigies.db import session_scope

    with session_scope() as session:
        status = session.execute(text("SELECT status FROM candidates WHERE id = :id"), {"id": candidate}).scalar_one()
    assert status == "offered"
    assert world.other.client.get("/api/me/avatars").json() == []


def test_a_draft_theme_is_hidden_from_everyone_but_admin_pages(stack, world):
    slug = world.draft_slug
    for client in (world.owner.client, world.admin.client, ApiClient(base_url=stack.url, timeout=30)):
        assert client.get(f"/api/themes/{slug}").status_code == 404
        assert slug not in client.get("/api/themes").text
        assert client.post(f"/api/themes/{slug}/generations", json={"count": 1}).status_code == 404
    assert slug in world.admin.client.get("/api/admin/themes").text


def test_admin_data_never_reaches_a_non_admin(stack, world):
    """Every admin route, every method, with made-up objects too: 401/403 before anything else."""
    admin_routes = [key for key, row in MATRIX.items() if row.admin_page]
    for key in admin_routes:
        call = MATRIX[key].build(world)
        for client, status in ((world.other.client, 403), (ApiClient(base_url=stack.url, timeout=30), 401)):
            response = client.request(call.method, call.url, **call.kwargs)
            assert response.status_code == status, (key, response.text[:200])
            assert set(response.json()) == {"error"}, (key, response.text[:200])
    # An archive sent by a non-admin is refused before it is read: nothing is written.
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.png", b"\x89PNG")
    refused = world.other.client.post("/api/admin/themes", data={"slug": "authz-upload", "name": "X", "attribution": "Nobody"},
                                      files={"archive": ("a.zip", archive.getvalue(), "application/zip")})
    assert refused.status_code == 403
