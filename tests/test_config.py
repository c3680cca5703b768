import pytest
from pydantic import ValidationError

from effigies.config import Settings

PRODUCTION = {
    "EE_ENV": "production",
    "DATABASE_URL": "postgresql://db/effigies",
    "REDIS_URL": "redis://redis:6379/0",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
}


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
    for key in ("DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
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
