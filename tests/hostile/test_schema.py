"""Schemathesis over the live app's /openapi.json, logged in as a plain user and as an admin.

Every operation gets examples, boundary ("coverage") cases, undeclared methods, and random valid
and invalid data; every response must be documented: no 5xx, a declared status, the declared
content type, a body matching the declared schema (errors included: effigies.api.openapi). A
stateful run then chains operations through the links schemathesis infers (a generation's id into
GET /api/generations/{job_id}, a theme's slug into its pages).

Bounded: EXAMPLES per operation and phase; this module took 42 s on the shared 2-core machine
(load ~3), the stack's start-up aside.

What is left out, and why (each is covered elsewhere):
- POST /api/auth/logout: it would end the session that the rest of the run uses
  (test_authz.py logs out last; tests/accounts/test_auth.py).
Nothing else is left out. POST /api/me/password and /api/me/delete stay in: they need the current
password, which no generated body can know, so they only ever refuse (400, then 429).
"""
from __future__ import annotations

import re
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import text

from tests.conftest import csrf_token
from tests.hostile.conftest import fresh_ip

EXAMPLES = 10
EXCLUDED = {"POST /api/auth/logout"}

# Schema-valid requests that a rule the schema cannot state still refuses (422/400). Only the
# "valid data must be accepted" check is off for these; every other check runs on them.
DOMAIN_RULES = {
    "POST /api/auth/signup": "email-validator refuses special-use domains (.test, .invalid) that JSON Schema's email "
                             "format allows; and the display-name rule of PATCH /api/me",
    "POST /api/auth/login": "same e-mail rule as sign-up",
    "POST /api/stripe/webhook": "only a payload with Stripe's signature of it is accepted (tests/billing/test_webhooks.py)",
    "POST /api/verify": "the certificate's fields are checked against the signed form (tests/certificates)",
    "POST /api/wallet/topups": "amounts are the configured packs (EE_TOPUP_PACKS_CENTS), not any integer up to 100,000",
    "POST /api/admin/themes": "the archive must be a zip of images (tests/themes/test_uploads.py)",
    "POST /api/admin/themes/{slug}/publish": "the model version must be one of this theme's",
    "PUT /api/admin/themes/order": "the slugs must be exactly the existing themes' (tests/themes/test_theme_order.py)",
    "POST /api/candidates/{candidate_id}/purchase": "nothing is sold without withdrawal_waiver: true, the buyer's consent "
                                                    "to immediate delivery (tests/avatars/test_purchase.py)",
    "POST /api/admin/wallets/{user_id}/adjustments": "the reason must be 3 to 500 characters on one line",
    "GET /api/admin/users": "the search is trimmed, then must be 2+ characters without control characters",
    "PATCH /api/me": "a display name needs a visible character (by Unicode category) and is trimmed first: "
                     "beyond JSON Schema; its pattern says the rest (no control or text-direction characters)",
    "POST /api/me/password": "the current password must be right, and no generated one is",
    "POST /api/me/delete": "the password must be right, and no generated one is",
    "POST /api/auth/email/verify": "only a token that was e-mailed is accepted (tests/accounts/test_email_links.py)",
    "POST /api/auth/signup/confirm": "only a sign-up link that was e-mailed is accepted (tests/accounts/test_signup_by_link.py)",
    "POST /api/auth/password/reset": "only a token that was e-mailed is accepted (tests/accounts/test_email_links.py)",
    "POST /api/auth/password/forgot": "same e-mail rule as sign-up",
    "POST /api/me/email": "same e-mail rule as sign-up, and the password must be right",
    "POST /api/themes/{slug}/generations": "count must be written as an integer: JSON Schema counts 1.0 as one, "
                                           "the strict rule refuses it (tests/hostile/test_inputs.py)",
    "POST /api/themes/{slug}/boards": "the same strict count as a generation",
    "PUT /api/me/avatar-links": "the avatar must be the caller's and their address verified (tests/avatars/test_gravatar.py)",
    "POST /api/me/addresses": "same e-mail rule as sign-up; at most 5 addresses, none another account's, 3 mails an "
                              "hour to one address (tests/avatars/test_extra_addresses.py)",
    "POST /api/me/addresses/{address_id}/verification": "a new link only for a pending address of the caller's, 3 mails "
                                                        "an hour to one address (tests/avatars/test_extra_addresses.py)",
    "POST /api/auth/addresses/verify": "only a token that was e-mailed is accepted (tests/avatars/test_extra_addresses.py)",
}

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _document() -> dict:
    from effigies.api.app import create_app

    return create_app().openapi()


# Built in-process at collection, since the server only starts with the `stack` fixture (and
# schemathesis' fixture-loaded schemas do not run under this pytest); the first test checks that
# the live server serves exactly this document.
DOCUMENT = _document()
api_schema = schemathesis.openapi.from_dict(
    DOCUMENT, config=schemathesis.Config.from_dict({"generation": {"max-examples": EXAMPLES}})
).exclude(name=sorted(EXCLUDED))


def test_the_fuzzed_document_is_the_one_the_server_serves(client):
    assert client.get("/openapi.json").json() == DOCUMENT


@pytest.fixture(scope="module")
def protected(stack) -> set[str]:
    """Ids and slugs of what other tests own: themes (the shipped four), users, training runs.

    An admin's unsafe operations are kept away from them: fuzzing may retire a theme or adjust a
    wallet of its own making, never one another test relies on."""
    from effigies.db import session_scope

    with session_scope() as session:
        values = set()
        for query in ("SELECT slug FROM themes", "SELECT id::text FROM users", "SELECT id::text FROM training_runs"):
            values.update(session.execute(text(query)).scalars())
    return values


def _identity(stack, role: str) -> dict[str, str]:
    """Request headers of a fresh account: its session cookie, the CSRF echo, an address of its own."""
    from effigies.accounts import service as accounts_service
    from effigies.db import session_scope

    with session_scope() as session:
        user = accounts_service.signup(
            session=session, email=f"fuzz-{role}-{uuid.uuid4().hex[:8]}@players.effigies.fr",
            password="correct-horse-battery", display_name=f"Fuzz {role}", role=role,
        )
        token = accounts_service.open_session(session=session, user=user)
    csrf = csrf_token(stack.url, token)
    return {"Cookie": f"ee_session={token}; csrftoken={csrf}", "X-CSRF-Token": csrf, "X-Forwarded-For": fresh_ip()}


@pytest.fixture(scope="module")
def identities(stack) -> dict[str, dict[str, str]]:
    return {role: _identity(stack, role) for role in ("user", "admin")}


def _keep_off_protected(case, protected: set[str]) -> None:
    """Point an admin's unsafe operation away from other tests' objects (see `protected`)."""
    if case.method.upper() not in UNSAFE or not case.path.startswith("/api/admin/"):
        return
    for name, value in list((case.path_parameters or {}).items()):
        if str(value) in protected:
            is_uuid = re.fullmatch(r"[0-9a-f-]{36}", str(value)) is not None
            case.path_parameters[name] = str(uuid.uuid4()) if is_uuid else f"fuzz-{uuid.uuid4().hex[:8]}"


def _checks_off(case) -> list:
    return [positive_data_acceptance] if f"{case.method.upper()} {case.path}" in DOMAIN_RULES else []


def _call(case, stack, headers: dict[str, str], protected: set[str]) -> None:
    _keep_off_protected(case, protected)
    case.call_and_validate(base_url=stack.url, headers=headers, timeout=30, excluded_checks=_checks_off(case))


@api_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented_to_a_user(case, stack, identities, protected):
    _call(case, stack, identities["user"], protected)


@api_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented_to_an_admin(case, stack, identities, protected):
    _call(case, stack, identities["admin"], protected)


@pytest.mark.parametrize("role", ["user", "admin"])
def test_chained_operations_answer_as_documented(stack, protected, role):
    failures: list[BaseException] = []
    calls: list[str] = []

    class Workflow(api_schema.as_state_machine()):
        def setup(self):
            # A fresh account and address per scenario: one scenario's rate limits never shape the next.
            self.headers = _identity(stack, role)

        def before_call(self, case):
            _keep_off_protected(case, protected)
            calls.append(case.operation.label)

        def get_call_kwargs(self, case):
            return {"base_url": stack.url, "headers": self.headers, "timeout": 30}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            try:
                case.validate_response(response, additional_checks=additional_checks, excluded_checks=_checks_off(case),
                                       transport_kwargs=kwargs or None)
            except Exception as exc:
                failures.append(exc)
                raise

    try:
        Workflow.run(settings=settings(max_examples=EXAMPLES, stateful_step_count=6, deadline=None, database=None,
                                       phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
    except (Flaky, AssertionError) as exc:
        # Against a live server a scenario replayed by Hypothesis may draw differently (a job has
        # finished since, a limit was reached), which it reports as flaky data generation; what
        # counts is whether any response broke a check, as schemathesis' own runner decides.
        if failures:
            raise failures[0] from exc
        if not isinstance(exc, Flaky) and not _is_hypothesis_replay_assertion(exc):
            raise
    assert len(calls) >= EXAMPLES, calls  # the scenarios really ran
    assert not failures, failures[0]


def _is_hypothesis_replay_assertion(exc: AssertionError) -> bool:
    """Hypothesis asserts, rather than raising Flaky, when a replay draws past a value an earlier run rejected."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__") == "hypothesis.internal.conjecture.datatree"
