"""Hostile bodies: oversized, overlong, odd Unicode, wrong content types, broken JSON.

Each is refused with a JSON error of the right 4xx, never a 500, and leaves no row behind.

Unicode choices (effigies.text, accounts.schemas):
- every free-text field (display names, adjustment reasons, theme texts) is stored NFC; control
  characters (NUL included), the bidi overrides/embeddings/isolates (U+202A-E, U+2066-9) and lone
  surrogates are refused; emoji, zero-width joiners and combining marks are welcome; a name of
  invisible characters only is blank;
- money and quantities are JSON integers: "100", 100.0 and true are refused, never converted;
- e-mail addresses are folded with NFKC before anything else, so "Ａdmin@…" (fullwidth A) *is*
  "admin@…": one account, reached by either spelling, never two look-alike accounts.
"""
from __future__ import annotations

import json
import uuid

import pytest

from effigies.api.security import MAX_BODY_BYTES
from tests.conftest import ApiClient, sign_up, signup_link
from tests.hostile.conftest import PASSWORD, fresh_ip, make_account, row_counts

ACCOUNT_TABLES = ("users", "auth_sessions", "signup_requests")


@pytest.fixture
def anonymous(stack):
    """A visitor from an address of its own (sign-ups are limited per address)."""
    with ApiClient(base_url=stack.url, timeout=60, headers={"X-Forwarded-For": fresh_ip()}) as c:
        yield c


def _email(local: str = "") -> str:
    return f"{local or 'in'}-{uuid.uuid4().hex[:8]}@players.effigies.fr"


def _signup_body(**overrides) -> dict:
    return {"email": _email(), "password": PASSWORD, "display_name": "Ada", **overrides}


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code, error
    return error


# Oversized bodies


def test_an_oversized_json_body_is_413_and_creates_nothing(anonymous):
    before = row_counts(*ACCOUNT_TABLES)
    body = json.dumps(_signup_body(display_name="x" * (MAX_BODY_BYTES + 1000))).encode()
    assert_json_error(anonymous.post("/api/auth/signup", content=body, headers={"Content-Type": "application/json"}),
                      413, "payload_too_large")
    assert row_counts(*ACCOUNT_TABLES) == before


def test_an_oversized_chunked_body_without_a_length_is_413_too(anonymous):
    before = row_counts(*ACCOUNT_TABLES)
    head = json.dumps(_signup_body(display_name=""))[:-3].encode()  # …"display_name": "

    def chunks():
        yield head
        for _ in range(20):
            yield b"x" * 64_000
        yield b'"}'

    response = anonymous.post("/api/auth/signup", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_json_error(response, 413, "payload_too_large")
    assert row_counts(*ACCOUNT_TABLES) == before


def test_an_oversized_body_to_a_logged_in_route_changes_nothing(stack):
    account = make_account(stack)
    response = account.client.patch("/api/me", content=b'{"display_name": "' + b"y" * 1_200_000 + b'"}',
                                     headers={"Content-Type": "application/json"})
    assert_json_error(response, 413, "payload_too_large")
    assert account.client.get("/api/me").json()["display_name"] == "Hostile"


# Overlong strings


@pytest.mark.parametrize("field, value", [
    ("display_name", "n" * 10_000),
    ("email", "e" * 1_000 + "@players.effigies.fr"),
    ("password", "p" * 10_000),
])
def test_overlong_sign_up_fields_are_422_and_create_nothing(anonymous, field, value):
    before = row_counts(*ACCOUNT_TABLES)
    error = assert_json_error(anonymous.post("/api/auth/signup", json=_signup_body(**{field: value})), 422, "invalid_request")
    assert error["details"][0]["field"] == field
    assert row_counts(*ACCOUNT_TABLES) == before


def test_an_overlong_display_name_change_is_422_and_changes_nothing(stack):
    account = make_account(stack)
    assert_json_error(account.client.patch("/api/me", json={"display_name": "n" * 10_000}), 422, "invalid_request")
    assert account.client.get("/api/me").json()["display_name"] == "Hostile"


THEME = {"slug": "hostile-theme", "name": "Hostile", "attribution": "Nobody, CC0"}


@pytest.mark.parametrize("field, value", [
    ("slug", "s" * 10_000),
    ("slug", "Not A Slug"),
    ("name", "n" * 10_000),
    ("name", "a\x00b"),
    ("name", "gnp\u202eexe"),
    ("description", "d" * 10_000),
    ("attribution", "a" * 10_000),
])
def test_overlong_or_unreadable_theme_fields_are_422_and_create_nothing(stack, field, value):
    admin = make_account(stack, role="admin").client
    fields = {**THEME, "slug": f"hostile-{uuid.uuid4().hex[:8]}", field: value}
    before = row_counts("themes")
    response = admin.post("/api/admin/themes", data=fields, files={"archive": ("a.zip", b"PK\x05\x06" + b"\0" * 18, "application/zip")})
    error = assert_json_error(response, 422, "invalid_request")
    assert error["details"][0]["field"] == field
    assert row_counts("themes") == before
    assert not (stack.data_dir / "datasets" / fields["slug"][:64]).exists()


def test_theme_descriptions_keep_their_line_breaks_names_do_not():
    """What the admin form sends: a textarea's lines arrive as CRLF (multipart), a name is one line."""
    from pydantic import ValidationError

    from effigies.themes.schemas import ThemeCreateIn

    theme = ThemeCreateIn.model_validate({**THEME, "description": " First line\r\nSecond\tline ", "name": "Zoe\u0308"})
    assert (theme.description, theme.name) == ("First line\r\nSecond\tline", "Zoë")
    with pytest.raises(ValidationError, match="control characters"):
        ThemeCreateIn.model_validate({**THEME, "name": "Two\r\nlines"})


def test_a_theme_field_past_the_form_part_limit_is_a_json_400_and_creates_nothing(stack):
    """64 KB per text part (admin_router): past it the form is not even parsed."""
    admin = make_account(stack, role="admin").client
    fields = {**THEME, "slug": f"hostile-{uuid.uuid4().hex[:8]}", "description": "d" * 100_000}
    before = row_counts("themes")
    response = admin.post("/api/admin/themes", data=fields, files={"archive": ("a.zip", b"PK", "application/zip")})
    assert_json_error(response, 400, "bad_request")
    assert row_counts("themes") == before


# Unicode


@pytest.mark.parametrize("name, reason", [
    ("Ada\x00", "control characters"),
    ("Ada\x1b[31m", "control characters"),
    ("A\u0085da", "control characters"),  # C1 "next line" (at either end it is trimmed as a space)
    ("gnp.\u202eexe", "text-direction"),
    ("\u2066Ada\u2069", "text-direction"),
    ("\u200d\u200b\u200d", "visible character"),
    ("   ", "at least 1"),
])
def test_unreadable_display_names_are_refused(anonymous, name, reason):
    before = row_counts(*ACCOUNT_TABLES)
    error = assert_json_error(anonymous.post("/api/auth/signup", json=_signup_body(display_name=name)), 422, "invalid_request")
    assert reason in error["message"], error
    assert row_counts(*ACCOUNT_TABLES) == before


@pytest.mark.parametrize("raw_name", [r"\ud800", r"Ada\udfff", r"\udc00\ud800"])
def test_lone_surrogates_in_raw_json_are_refused(anonymous, raw_name):
    before = row_counts(*ACCOUNT_TABLES)
    body = '{"email": "%s", "password": "%s", "display_name": "%s"}' % (_email(), PASSWORD, raw_name)
    response = anonymous.post("/api/auth/signup", content=body.encode(), headers={"Content-Type": "application/json"})
    assert_json_error(response, 422, "invalid_request")
    for field in ("email", "password"):
        body = json.dumps(_signup_body()).replace('"%s": "' % field, '"%s": "\\ud800' % field)
        response = anonymous.post("/api/auth/signup", content=body.encode(), headers={"Content-Type": "application/json"})
        assert_json_error(response, 422, "invalid_request")
    assert row_counts(*ACCOUNT_TABLES) == before


@pytest.mark.parametrize("typed, stored", [
    ("👩\u200d👩\u200d👧 Ada", "👩\u200d👩\u200d👧 Ada"),  # an emoji family (zero-width joiners) stays whole
    ("Zoe\u0308", "Zoë"),  # e + combining diaeresis is stored composed (NFC)
    ("Ｒｅｎéｅ", "Ｒｅｎéｅ"),  # fullwidth letters are a style of writing a name, kept as typed
    ("أحمد", "أحمد"),  # right-to-left script, no override needed
])
def test_real_names_in_any_script_are_welcome(anonymous, typed, stored):
    body = _signup_body(display_name=typed)
    response = sign_up(anonymous, body["email"], body["password"], body["display_name"])
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == stored
    assert anonymous.get("/api/me").json()["display_name"] == stored


def test_a_display_name_change_with_a_nul_byte_changes_nothing(stack):
    account = make_account(stack)
    assert_json_error(account.client.patch("/api/me", json={"display_name": "Eve\x00"}), 422, "invalid_request")
    assert account.client.get("/api/me").json()["display_name"] == "Hostile"


@pytest.mark.parametrize("email", [
    "a\x00b@players.effigies.fr",
    "ab\u202ecd@players.effigies.fr",
    "a\u200db@players.effigies.fr",
    "a＠b@players.effigies.fr",  # a fullwidth @ folds to a second @
    "@players.effigies.fr",
])
def test_unsafe_email_addresses_are_refused(anonymous, email):
    before = row_counts(*ACCOUNT_TABLES)
    error = assert_json_error(anonymous.post("/api/auth/signup", json=_signup_body(email=email)), 422, "invalid_request")
    assert error["details"][0]["field"] == "email"
    assert row_counts(*ACCOUNT_TABLES) == before


def test_a_fullwidth_look_alike_address_is_the_same_account(stack, anonymous):
    local = f"admin{uuid.uuid4().hex[:6]}"
    ascii_email = f"{local}@players.effigies.fr"
    fullwidth = "\uff21" + local[1:] + "@players.effigies.fr"  # "Ａdmin…": fullwidth capital A
    assert sign_up(anonymous, ascii_email, PASSWORD).status_code == 200
    before = row_counts("users", "signup_requests")
    again = anonymous.post("/api/auth/signup", json=_signup_body(email=fullwidth))
    assert again.status_code == 202, again.text  # the same answer as for any address...
    assert row_counts("users", "signup_requests") == before  # ...but the account exists: nothing kept
    notice = anonymous.get("/api/mail/outbox", params={"to": ascii_email}).json()["messages"][0]
    assert notice["subject"] == "Vous avez déjà un compte — Effigies Edification"  # its owner is told
    # Either spelling reaches the one account.
    with ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()}) as browser:
        login = browser.post("/api/auth/login", json={"email": fullwidth, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert login.json()["email"] == ascii_email
    # The other way round too: an account made with the fullwidth spelling is stored folded.
    local2 = f"admin{uuid.uuid4().hex[:6]}"
    asked = anonymous.post("/api/auth/signup", json=_signup_body(email="\uff21" + local2[1:] + "@players.effigies.fr"))
    assert asked.status_code == 202, asked.text
    with ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()}) as browser:
        made = browser.post("/api/auth/signup/confirm", json={"token": signup_link(browser, f"{local2}@players.effigies.fr")})
    assert made.status_code == 200 and made.json()["email"] == f"{local2}@players.effigies.fr"


# Wrong content types and broken JSON


JSON_ROUTES = [
    ("POST", "/api/auth/signup", "anonymous"),
    ("POST", "/api/auth/login", "anonymous"),
    ("PATCH", "/api/me", "user"),
    ("POST", "/api/themes/galactic-droids/generations", "user"),
    ("POST", "/api/verify", "anonymous"),
]


def _caller(stack, who: str) -> ApiClient:
    if who == "anonymous":
        return ApiClient(base_url=stack.url, timeout=30, headers={"X-Forwarded-For": fresh_ip()})
    return make_account(stack).client


BAD_BODIES = {
    "form": ({"data": {"email": "a@b.fr", "display_name": "x"}}, 415, "unsupported_media_type"),
    "text": ({"content": b'{"display_name": "x"}', "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
    "multipart": ({"files": {"file": ("a.json", b'{"display_name": "x"}', "application/json")}}, 415, "unsupported_media_type"),
    "no content type": ({"content": b'{"display_name": "x"}'}, 415, "unsupported_media_type"),
    "xml": ({"content": b"<a/>", "headers": {"Content-Type": "application/xml"}}, 415, "unsupported_media_type"),
    "truncated json": ({"content": b'{"display_name": ', "headers": {"Content-Type": "application/json"}}, 422, "invalid_request"),
    "not utf-8": ({"content": b'{"display_name": "\xff\xfe"}', "headers": {"Content-Type": "application/json"}}, 400, "bad_request"),
    "a json array": ({"json": [1, 2, 3]}, 422, "invalid_request"),
    "a json string": ({"json": "hello"}, 422, "invalid_request"),
    "json null": ({"content": b"null", "headers": {"Content-Type": "application/json"}}, 422, "invalid_request"),
    # Past the parser's own limits (recursion depth, 4,300 digits): unreadable, like broken UTF-8.
    "deep nesting": ({"content": b"[" * 100_000 + b"]" * 100_000, "headers": {"Content-Type": "application/json"}},
                     400, "bad_request"),
    "huge number": ({"content": b'{"count": 1' + b"0" * 5000 + b"}", "headers": {"Content-Type": "application/json"}},
                    400, "bad_request"),
}
# The generation options are optional: a JSON null body is "no options" there (a 202), not an error.
OPTIONAL_BODY = {"/api/themes/galactic-droids/generations"}


@pytest.mark.parametrize("kind, method, path, who", [
    (kind, *route) for kind in sorted(BAD_BODIES) for route in JSON_ROUTES
    if not (kind == "json null" and route[1] in OPTIONAL_BODY)
])
def test_bodies_that_are_not_the_json_expected_get_a_json_4xx_and_store_nothing(stack, kind, method, path, who):
    kwargs, status, code = BAD_BODIES[kind]
    client = _caller(stack, who)
    before = row_counts(*ACCOUNT_TABLES, "generation_jobs")
    me = client.get("/api/me").json() if who == "user" else None
    response = client.request(method, path, **kwargs)
    assert_json_error(response, status, code)
    after = row_counts(*ACCOUNT_TABLES, "generation_jobs")
    assert after == before
    if me:
        assert client.get("/api/me").json() == me


@pytest.mark.parametrize("path", [
    "/api/themes/a%00b", "/api/themes/a%00b/sample.png", "/api/themes/a%00b/learning",
    "/api/themes/" + "x" * 5000, "/api/verify/a%00b", "/api/themes/%E2%80%AEslug",
])
def test_hostile_path_segments_are_404(client, path):
    assert_json_error(client.get(path), 404)


@pytest.mark.parametrize("path", ["/api/generations/not-a-uuid", "/api/generations/%00", "/api/wallet/topups/1e9999"])
def test_malformed_ids_are_422(stack, path):
    assert_json_error(make_account(stack).client.get(path), 422, "invalid_request")


def test_hostile_slugs_in_admin_writes_are_404(stack):
    admin = make_account(stack, role="admin").client
    before = row_counts("themes", "training_runs")
    for action, body in (("retire", None), ("unretire", None), ("training-runs", {"preset": "quick"}),
                         ("publish", {"model_version_id": str(uuid.uuid4())})):
        assert_json_error(admin.post(f"/api/admin/themes/a%00b/{action}", json=body), 404, "theme_not_found")
    assert row_counts("themes", "training_runs") == before


# Free text: every string of a request body that someone types and someone else reads follows
# effigies.text (text.Line / text.Lines); /openapi.json says so with a pattern.

# Request-body strings that are not free text read by others, each with why.
NOT_FREE_TEXT = {
    ("LoginIn", "password"): "a secret, never shown",
    ("SignupIn", "password"): "a secret, never shown",
    ("PasswordChangeIn", "current_password"): "a secret, never shown",
    ("PasswordChangeIn", "new_password"): "a secret, never shown",
    ("PasswordResetIn", "new_password"): "a secret, never shown",
    ("AccountDeleteIn", "password"): "a secret, never shown",
    ("EmailChangeIn", "password"): "a secret, never shown",
    ("PasswordStrengthIn", "password"): "a secret, never shown",
    ("PasswordStrengthIn", "email"): "typed beside a password for the strength meter: neither stored nor shown",
    ("PasswordStrengthIn", "display_name"): "typed beside a password for the strength meter: neither stored nor shown",
    ("CertificateIn", "signature"): "checked against the signature it claims to be, never stored",
    ("ThemeOrderIn", "slugs[]"): "only compared with the themes' slugs (an unknown one is refused)",
    ("POST /api/admin/themes", "dataset"): "the name of a built dataset folder, looked up, never shown",
}


def _request_strings(document: dict) -> dict[tuple[str, str], dict]:
    """(schema or operation, property) -> schema, for every string of every request body."""
    found: dict[tuple[str, str], dict] = {}
    schemas = document["components"]["schemas"]

    def walk(owner: str, schema: dict, name: str | None, seen: frozenset) -> None:
        if "$ref" in schema:
            ref = schema["$ref"].rsplit("/", 1)[-1]
            if ref not in seen:
                walk(ref, schemas[ref], None, seen | {ref})
            return
        for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
            walk(owner, branch, name, seen)
        for prop, sub in schema.get("properties", {}).items():
            walk(owner, sub, prop, seen)
        if "items" in schema:
            walk(owner, schema["items"], f"{name}[]", seen)
        if schema.get("type") == "string" and name:
            found[(owner, name)] = schema

    for path, item in document["paths"].items():
        for method, operation in item.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(f"{method.upper()} {path}", content["schema"], None, frozenset())
    return found


@pytest.fixture(scope="module")
def request_strings() -> dict[tuple[str, str], dict]:
    from effigies.api.app import create_app

    return _request_strings(create_app().openapi())


def test_every_string_of_a_request_has_a_rule_or_a_reason(request_strings):
    """No pattern, format or enum: only the strings listed in NOT_FREE_TEXT, with why."""
    unruled = {key for key, schema in request_strings.items() if not {"pattern", "format", "enum"} & set(schema)}
    assert unruled == set(NOT_FREE_TEXT)


# Each free-text field, with a body that is right but for it.
FREE_TEXT_FIELDS = [
    ("sign-up", "display_name"),
    ("profile", "display_name"),
    ("adjustment", "reason"),
    *[("theme", field) for field in ("name", "name_fr", "description", "description_fr", "attribution")],
]


@pytest.mark.parametrize("bidi", ["\u202e", "\u202a", "\u2067"], ids=["RLO", "LRE", "RLI"])
@pytest.mark.parametrize("form, field", FREE_TEXT_FIELDS, ids=[f"{f}-{x}" for f, x in FREE_TEXT_FIELDS])
def test_text_direction_controls_are_refused_in_every_free_text_field(stack, anonymous, form, field, bidi):
    value = f"gnp{bidi}exe.png"
    before = row_counts(*ACCOUNT_TABLES, "themes", "ledger_entries")
    if form == "sign-up":
        response = anonymous.post("/api/auth/signup", json=_signup_body(**{field: value}))
    elif form == "profile":
        account = make_account(stack)
        response = account.client.patch("/api/me", json={field: value})
        assert account.client.get("/api/me").json()["display_name"] == "Hostile"
    elif form == "adjustment":
        user = make_account(stack)
        admin = make_account(stack, role="admin").client
        response = admin.post(f"/api/admin/wallets/{user.id}/adjustments", json={"amount_cents": 100, field: value})
        before = row_counts(*ACCOUNT_TABLES, "themes", "ledger_entries")  # the accounts just made
    else:
        admin = make_account(stack, role="admin").client
        before = row_counts(*ACCOUNT_TABLES, "themes", "ledger_entries")
        fields = {**THEME, "slug": f"hostile-{uuid.uuid4().hex[:8]}", field: value}
        response = admin.post("/api/admin/themes", data=fields,
                              files={"archive": ("a.zip", b"PK\x05\x06" + b"\0" * 18, "application/zip")})
    error = assert_json_error(response, 422, "invalid_request")
    assert error["details"][0]["field"] == field
    assert "text-direction" in error["message"], error
    if form != "profile":
        assert row_counts(*ACCOUNT_TABLES, "themes", "ledger_entries") == before


def test_the_free_text_cases_cover_every_free_text_field(request_strings):
    """The fields with effigies.text's rule are exactly those tested above: a new one fails here
    until it has a case."""
    from effigies.text import LINE_PATTERN, LINES_PATTERN

    ruled = {key for key, schema in request_strings.items() if schema.get("pattern") in (LINE_PATTERN, LINES_PATTERN)}
    assert ruled == {("SignupIn", "display_name"), ("MePatch", "display_name"), ("AdjustmentIn", "reason"),
                     *[("POST /api/admin/themes", f) for f in ("name", "name_fr", "description", "description_fr", "attribution")]}
    assert {field for _, field in ruled} == {field for _, field in FREE_TEXT_FIELDS}


# Money and quantities are whole JSON numbers: "100", 100.0 and true are a client's bug, refused.

STRICT_NUMBERS = [
    ("POST", "/api/wallet/topups", {"payment_method_id": "pm_card_visa"}, "amount_cents", 100, ("topups",)),
    ("POST", "/api/themes/pixel-heroes/generations", {}, "count", 4, ("generation_jobs",)),
    ("POST", "/api/themes/pixel-heroes/boards", {}, "count", 16, ()),
    ("POST", "/api/me/delete", {"password": PASSWORD}, "forfeit_cents", 0, ("users",)),
]


@pytest.mark.parametrize("method, path, body, field, number, tables", STRICT_NUMBERS,
                         ids=[f"{p.rsplit('/', 1)[-1]}-{f}" for _, p, _, f, _, _ in STRICT_NUMBERS])
@pytest.mark.parametrize("spelling", ["string", "float", "bool"])
def test_numbers_sent_as_strings_floats_or_booleans_are_422(stack, method, path, body, field, number, tables, spelling):
    account = make_account(stack)
    value = {"string": str(number), "float": float(number), "bool": True}[spelling]
    before = row_counts("topups", "generation_jobs", *tables)
    response = account.client.request(method, path, json={**body, field: value})
    error = assert_json_error(response, 422, "invalid_request")
    assert error["details"][0]["field"] == field
    assert row_counts("topups", "generation_jobs", *tables) == before
    assert account.client.get("/api/me").status_code == 200  # the account is still there
