from __future__ import annotations

from fastapi import APIRouter, Request, Response

from effigies.accounts import devices, service, signups
from effigies.accounts.schemas import (
    AccountDeleteIn, EmailChangeIn, EmailVerifiedOut, LoginIn, MailSentOut, MePatch, PasswordChangeIn,
    PasswordForgotIn, PasswordResetIn, PasswordStrengthIn, PasswordStrengthOut, SessionOut, SignupIn, TokenIn, UserOut,
)
from effigies.api import csrf
from effigies.api.deps import (
    CSRF_COOKIE, SESSION_COOKIE, VISITOR_COOKIE, CurrentUser, OptionalUser, SessionDep, VisitorId,
)
from effigies.api.openapi import errors
from effigies.api.ratelimit import client_ip, hit, hits
from effigies.config import get_settings

router = APIRouter(prefix="/api", tags=["accounts"])
SIGNUP_WINDOW_S = 3600  # settings.signup_rate_per_ip sign-ups per address in each
MAIL_WINDOW_S = 3600  # settings.mail_rate_per_address / _per_ip e-mails in each
# The meter asks as the person types (the page waits 250 ms after the last key): a generous
# budget per address, still no oracle for testing guesses by the thousand.
STRENGTH_PER_MINUTE = 120


def _mail_budget(request: Request, address: str) -> None:
    """One e-mail more to this address (or account) and from this client; 429 past either."""
    settings = get_settings()
    hits([("mail-to", service.normalise_email(address), settings.mail_rate_per_address),
          ("mail-ip", client_ip(request), settings.mail_rate_per_ip)], window_s=MAIL_WINDOW_S)


def set_session_cookies(response: Response, token: str) -> None:
    settings = get_settings()
    max_age = settings.session_max_age_days * 86400
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=settings.cookie_secure, path="/"
    )
    # Rotated with the session and bound to it (effigies.api.csrf); readable by our JavaScript,
    # which echoes it in X-CSRF-Token.
    _set_csrf_cookie(response, csrf.issue(token))


def _set_csrf_cookie(response: Response, value: str) -> None:
    settings = get_settings()
    response.set_cookie(
        CSRF_COOKIE, value, max_age=settings.session_max_age_days * 86400, httponly=False, samesite="lax",
        secure=settings.cookie_secure, path="/",
    )


def _remember_device(response: Response, email: str) -> None:
    """This browser now knows the account: its log-ins no longer share the account's failure
    budget with strangers' (effigies.accounts.devices)."""
    response.set_cookie(devices.COOKIE, devices.issue(email), max_age=devices.MAX_AGE_S, httponly=True,
                        samesite="lax", secure=get_settings().cookie_secure, path="/api/auth")


def _forget_visitor(request: Request, response: Response) -> None:
    """Once signed up or logged in, the visitor's proposals are the account's: the id goes."""
    if VISITOR_COOKIE in request.cookies:
        settings = get_settings()
        response.delete_cookie(VISITOR_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure)


def _logged_out() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    _set_csrf_cookie(response, csrf.issue(None))  # the closed session's token is no use any more
    return response


@router.post("/auth/signup", status_code=202, response_model=MailSentOut, responses=errors(429, 503))
def signup(body: SignupIn, request: Request, session: SessionDep, visitor: VisitorId):
    """Mail the link that creates the account, or tell the address's existing account: the same
    answer either way (effigies.accounts.signups). Nobody is logged in yet."""
    hit("signup", client_ip(request), limit=get_settings().signup_rate_per_ip, window_s=SIGNUP_WINDOW_S)
    # A refused password is an answer of its own (422): it spends none of the address's e-mails.
    service.check_new_password(body.password, email=body.email, display_name=body.display_name)
    _mail_budget(request, body.email)
    signups.request_signup(session=session, email=body.email, password=body.password, display_name=body.display_name,
                           locale=body.locale, visitor=visitor, next_path=body.next)
    return MailSentOut()


@router.post("/auth/signup/confirm", response_model=UserOut, responses=errors(400, 409))
def confirm_signup(body: TokenIn, request: Request, response: Response, session: SessionDep, visitor: VisitorId):
    """The sign-up link: the account is created, its address verified, and this browser logged in."""
    user, token = signups.confirm_signup(session=session, token=body.token, visitor=visitor)
    set_session_cookies(response, token)
    _remember_device(response, user.email)
    _forget_visitor(request, response)
    return user


@router.post("/auth/password-strength", response_model=PasswordStrengthOut, responses=errors(429))
def password_strength(body: PasswordStrengthIn, request: Request, user: OptionalUser):
    """How strong a password being typed is, by the rule sign-up, a change and a reset apply.
    Changes nothing; never logged."""
    hit("password-strength", client_ip(request), limit=STRENGTH_PER_MINUTE, window_s=60)
    email, name = (user.email, user.display_name) if user is not None else (body.email, body.display_name)
    score, code = service.password_strength(body.password, email=email, display_name=name)
    return PasswordStrengthOut(score=score, ok=code is None, code=code)


@router.post("/auth/login", response_model=UserOut, responses=errors(401, 429))
def login(body: LoginIn, request: Request, response: Response, session: SessionDep, visitor: VisitorId):
    user, token = service.log_in(session=session, email=body.email, password=body.password, ip=client_ip(request),
                                 replacing=request.cookies.get(SESSION_COOKIE), visitor=visitor,
                                 device=request.cookies.get(devices.COOKIE))
    set_session_cookies(response, token)
    _remember_device(response, user.email)
    _forget_visitor(request, response)
    return user


@router.post("/auth/logout", status_code=204)
def logout(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        service.log_out(session=session, token=token)
    return _logged_out()


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser):
    return user


@router.get("/session", response_model=SessionOut)
def current_session(user: OptionalUser):
    """Who is logged in, or null: the frontend's probe at every page load, which a visitor's
    browser must not log as a failed request (GET /api/me answers 401 to visitors)."""
    return SessionOut(user=user)


@router.patch("/me", response_model=UserOut)
def patch_me(body: MePatch, user: CurrentUser, session: SessionDep):
    return service.update_profile(session=session, user=user, locale=body.locale, display_name=body.display_name)


@router.post("/me/password", status_code=204, responses=errors(400, 429, 503))
def change_password(body: PasswordChangeIn, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    token = service.change_password(
        session=session, user=user, current_password=body.current_password, new_password=body.new_password,
        ip=client_ip(request),
    )
    response = Response(status_code=204)
    set_session_cookies(response, token)
    return response


@router.post("/me/delete", status_code=204, responses=errors(400, 409, 429))
def delete_me(body: AccountDeleteIn, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    service.delete_account(session=session, user=user, password=body.password, ip=client_ip(request),
                           forfeit_cents=body.forfeit_cents)
    return _logged_out()


@router.post("/auth/email/verify", response_model=EmailVerifiedOut, responses=errors(400, 409))
def verify_email(body: TokenIn, session: SessionDep):
    """The link of a verification e-mail; works without being logged in (another device)."""
    return service.verify_email(session=session, token=body.token)


@router.post("/me/email/verification", status_code=202, response_model=MailSentOut, responses=errors(409, 429, 503))
def resend_verification(request: Request, user: CurrentUser, session: SessionDep):
    _mail_budget(request, user.email)
    service.resend_verification(session=session, user=user)
    return MailSentOut()


@router.post("/me/email", status_code=202, response_model=MailSentOut, responses=errors(400, 409, 429, 503))
def change_email(body: EmailChangeIn, request: Request, user: CurrentUser, session: SessionDep):
    _mail_budget(request, user.email)
    service.request_email_change(session=session, user=user, new_email=body.new_email, password=body.password,
                                 ip=client_ip(request))
    return MailSentOut()


@router.post("/auth/password/forgot", status_code=202, response_model=MailSentOut, responses=errors(429, 503))
def forgot_password(body: PasswordForgotIn, request: Request, session: SessionDep):
    _mail_budget(request, body.email)
    service.request_password_reset(session=session, email=body.email, locale=body.locale)
    return MailSentOut()


@router.post("/auth/password/reset", status_code=204, responses=errors(400, 503))
def reset_password(body: PasswordResetIn, session: SessionDep) -> Response:
    service.reset_password(session=session, token=body.token, new_password=body.new_password)
    return _logged_out()
