import pytest
from pydantic import ValidationError

from effigies.config import DEFAULT_REDIS_URL, Settings

PRODUCTION = {
    "EE_ENV": "production",
    "DATABASE_URL": "postgresql://db/effigies",
    "REDIS_URL": "redis://redis:6379/0",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
    "EE_SMTP_URL": "smtp://mailer:secret@smtp.effigies.example:587",
    # Who sells, as the legal pages say (effigies.legal).
    "EE_OPERATOR_NAME": "Effigies SAS",
    "EE_OPERATOR_ADDRESS": "10 rue des Avatars, 75011 Paris, France",
    "EE_OPERATOR_EMAIL": "contact@effigies.example",
}


@pytest.fixture(autouse=True)
def _no_local_outbox(monkeypatch):
    """The suite's stack sets EE_MAIL_OUTBOX_DIR (its SMTP sink) in this process; production has none."""
    monkeypatch.delenv("EE_MAIL_OUTBOX_DIR", raising=False)


def test_production_refuses_the_default_secret_key(monkeypatch):
    for key, value in PRODUCTION.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("EE_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="EE_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("EE_SECRET_KEY", "x" * 40)
    assert Settings().env == "production"


def test_production_names_every_missing_setting(monkeypatch):
    monkeypatch.setenv("EE_ENV", "production")
    monkeypatch.setenv("EE_SECRET_KEY", "x" * 40)
    for key in PRODUCTION:
        if key != "EE_ENV":
            monkeypatch.delenv(key, raising=False)
    with pytest.raises(ValidationError) as info:
        Settings()
    for key in ("DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "EE_SMTP_URL", "EE_OPERATOR_NAME",
                "EE_OPERATOR_ADDRESS", "EE_OPERATOR_EMAIL"):
        assert key in str(info.value)


def test_local_mode_runs_with_nothing_configured(monkeypatch):
    for key in (*PRODUCTION, "EE_SECRET_KEY"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert settings.is_local and settings.uniqueness_radius == 20 and settings.price_cents == 10


def test_uniqueness_radius_is_bounded_where_lookups_stay_cheap(monkeypatch):
    # Beyond 32 bits a lookup's probes explode (11,216 at 32, 43,166 at 40): refused at start.
    monkeypatch.setenv("EE_UNIQUENESS_RADIUS", "32")
    assert Settings().uniqueness_radius == 32
    for refused in ("33", "-1"):
        monkeypatch.setenv("EE_UNIQUENESS_RADIUS", refused)
        with pytest.raises(ValidationError, match="EE_UNIQUENESS_RADIUS"):
            Settings()


def test_redis_url_is_resolved_once_for_every_client(monkeypatch):
    # The API, the throttle, the metrics, job events and the Celery broker all take this value.
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert Settings().redis_url == DEFAULT_REDIS_URL == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", "")  # as compose files pass an unset variable
    assert Settings().redis_url == DEFAULT_REDIS_URL and not Settings().is_given("redis_url")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/3")
    assert Settings().redis_url == "redis://redis:6379/3" and Settings().is_given("redis_url")


def test_production_still_needs_redis_url_set(monkeypatch):
    for key, value in {**PRODUCTION, "EE_SECRET_KEY": "x" * 40}.items():
        monkeypatch.setenv(key, value)
    for unset in ("", None):
        if unset is None:
            monkeypatch.delenv("REDIS_URL")
        else:
            monkeypatch.setenv("REDIS_URL", unset)
        with pytest.raises(ValidationError, match="REDIS_URL"):
            Settings()


def test_process_knobs_keep_their_variables_and_defaults(monkeypatch):
    for key in ("EE_WORKER_CONCURRENCY", "EE_TORCH_THREADS", "EE_UP_CLI_MODULE", "EE_ADMIN_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert (settings.worker_concurrency, settings.torch_threads, settings.up_cli_module) == (8, None, "effigies.cli")
    assert settings.admin_password is None
    monkeypatch.setenv("EE_WORKER_CONCURRENCY", "3")
    monkeypatch.setenv("EE_TORCH_THREADS", "2")
    monkeypatch.setenv("EE_ADMIN_PASSWORD", "long-enough-pw")
    settings = Settings()
    assert (settings.worker_concurrency, settings.torch_threads) == (3, 2)
    assert settings.admin_password.get_secret_value() == "long-enough-pw"
