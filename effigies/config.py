"""The one settings object. Every knob is an environment variable (see README).

The rule: configuration is read here, and nowhere else. A module that needs a value asks
`get_settings()` (or is handed a `Settings`); no module reads a configuration value from
os.environ, and none repeats a default (REDIS_URL's neither: `Settings.redis_url` is already
resolved). A new variable gets a field below, with its default and a comment, and a line in
README's "Environment variables". Not settings reads, so allowed: copying os.environ to build a
child process's environment (effigies.embedded.up and .postgres, effigies.ops.pgtools), and
effigies.embedded.services deciding from the environment mapping it is given which servers a
child needs (DATABASE_URL / REDIS_URL / STRIPE_* present or not; the test suite passes its own).
effigies.gan reads nothing: it imports nothing from effigies and takes every value as an
argument. tests/test_architecture.py keeps os.environ out of every other module.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Refused outside local mode: a production secret must come from the environment.
DEV_SECRET_KEY = "local-dev-secret-change-me"
# Where every Redis client connects (the Celery broker included) when REDIS_URL is unset or
# empty; refused as a fallback outside local mode (REDIS_URL must then be set).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    env: Literal["local", "test", "production"] = Field("local", alias="EE_ENV")
    data_dir: Path = Field(Path("var"), alias="EE_DATA_DIR")
    # Where the admin's "New theme" form offers sets built by `effigies dataset build NAME` (which
    # writes var/datasets/NAME under the current directory); relative paths are taken from there.
    built_datasets_dir: Path = Field(Path("var/datasets"), alias="EE_BUILT_DATASETS_DIR")
    host: str = Field("127.0.0.1", alias="EE_HOST")
    port: int = Field(8000, alias="EE_PORT")
    public_url: str = Field("http://127.0.0.1:8000", alias="EE_PUBLIC_URL")

    database_url: str | None = Field(None, alias="DATABASE_URL")
    # Resolved: REDIS_URL, else DEFAULT_REDIS_URL (see _refuse_default_secrets).
    redis_url: str = Field(DEFAULT_REDIS_URL, alias="REDIS_URL")
    secret_key: SecretStr = Field(SecretStr(DEV_SECRET_KEY), alias="EE_SECRET_KEY")

    stripe_secret_key: SecretStr | None = Field(None, alias="STRIPE_SECRET_KEY")
    stripe_webhook_secret: SecretStr | None = Field(None, alias="STRIPE_WEBHOOK_SECRET")
    stripe_publishable_key: str | None = Field(None, alias="STRIPE_PUBLISHABLE_KEY")
    # Set only for localstripe; empty means Stripe's own API and js.stripe.com.
    stripe_api_base: str | None = Field(None, alias="STRIPE_API_BASE")

    # Outgoing mail (effigies.mail): smtp://[user:password@]host[:port] (STARTTLS when the server
    # offers it; ?starttls=required refuses to send in clear) or smtps:// (TLS from the start).
    # Unset in local mode: `effigies up` starts a sink that keeps every message under
    # <data dir>/mail and sets this, and EE_MAIL_OUTBOX_DIR, the folder its outbox page lists.
    smtp_url: SecretStr | None = Field(None, alias="EE_SMTP_URL")
    mail_from: str = Field("Effigies Edification <no-reply@effigies.local>", alias="EE_MAIL_FROM")
    mail_outbox_dir: Path | None = Field(None, alias="EE_MAIL_OUTBOX_DIR")
    # E-mails asking to verify an address or reset a password, per address and per client
    # address per hour (fixed window): a person who lost the first one can ask again, nobody can
    # turn the shop into a mail cannon.
    mail_rate_per_address: int = Field(3, ge=1, alias="EE_MAIL_RATE_PER_ADDRESS")
    mail_rate_per_ip: int = Field(20, ge=1, alias="EE_MAIL_RATE_PER_IP")

    admin_email: str | None = Field(None, alias="EE_ADMIN_EMAIL")
    admin_password: SecretStr | None = Field(None, alias="EE_ADMIN_PASSWORD")

    # Bits of the 256-bit fingerprint (README, Uniqueness). Capped at 32: a lookup probes 591
    # band values at 20 and 11,216 at 32, and grows combinatorially beyond (docs/scaling.md).
    uniqueness_radius: int = Field(20, ge=0, le=32, alias="EE_UNIQUENESS_RADIUS")
    candidate_ttl_minutes: int = Field(30, ge=1, alias="EE_CANDIDATE_TTL_MINUTES")
    price_cents: int = Field(10, ge=1, alias="EE_PRICE_CENTS")
    topup_packs_cents: list[int] = Field([100, 200, 500], alias="EE_TOPUP_PACKS_CENTS")
    # Card testing (stolen cards tried through our form) costs a merchant its Stripe account: card
    # forms (SetupIntents) and top-ups per account and per client address per hour, and failed
    # top-ups per account per 24 h after which card payments pause (429 + Retry-After).
    card_attempts_per_user: int = Field(10, ge=1, alias="EE_CARD_ATTEMPTS_PER_USER")
    card_attempts_per_ip: int = Field(30, ge=1, alias="EE_CARD_ATTEMPTS_PER_IP")
    topup_failures_per_day: int = Field(5, ge=1, alias="EE_TOPUP_FAILURES_PER_DAY")
    generation_max_tries: int = Field(5, ge=1, alias="EE_GENERATION_MAX_TRIES")
    # Generation requests per minute, per account and per client address (429 + Retry-After past it).
    generation_rate_per_user: int = Field(30, ge=1, alias="EE_GENERATION_RATE_PER_USER")
    generation_rate_per_ip: int = Field(120, ge=1, alias="EE_GENERATION_RATE_PER_IP")
    # A visitor (no account, effigies.generation.router) is held to this many per minute, per
    # visitor id and per client address: dropping the cookie gives a new id, not a new budget.
    generation_rate_per_visitor: int = Field(10, ge=1, alias="EE_GENERATION_RATE_PER_VISITOR")
    # Images per minute (a job: its count; a board: 16 or 64), per account, per client address and
    # per visitor (id and address), beside the requests above (each job has a fixed cost of its
    # own). One account's 240 are 4 a second, one address's 960 about a sixth of what one 2-core
    # worker makes (README, Fair generation): 12 accounts on one address no longer out-ask it.
    generation_images_per_user: int = Field(240, ge=64, alias="EE_GENERATION_IMAGES_PER_USER")
    generation_images_per_ip: int = Field(960, ge=64, alias="EE_GENERATION_IMAGES_PER_IP")
    generation_images_per_visitor: int = Field(40, ge=8, alias="EE_GENERATION_IMAGES_PER_VISITOR")
    # Jobs and boards of one person running at once (effigies.generation.fairqueue): the rest wait
    # their turn, so a flood holds one worker thread per person, not all of them.
    generation_inflight_per_person: int = Field(1, ge=1, le=64, alias="EE_GENERATION_INFLIGHT_PER_PERSON")
    # Items running at once, all together, of people with more than one waiting (who asked again
    # before being served: a flood); everyone else's take the other threads (fairqueue).
    generation_bulk_inflight: int = Field(1, ge=1, alias="EE_GENERATION_BULK_INFLIGHT")
    # Micro-batching in the generate worker (effigies.generation.sampler): B latents or W ms,
    # whichever comes first. W = 0 still batches whatever queued during the previous pass (20
    # users: 38.8 jobs/s at B = 64 vs 33.3 at B = 1); on a 2-core CPU waiting bought no more
    # throughput and cost latency (1 user, p50: 42 ms at W = 0, 43 at 5, 55 at 20;
    # scripts/bench_generate.py, README). A GPU may want a few ms.
    # The home page's fresh avatars (effigies.generation.showcase) are redrawn this often.
    showcase_refresh_s: int = Field(3600, ge=60, alias="EE_SHOWCASE_REFRESH_S")
    generation_max_batch: int = Field(64, ge=1, le=1024, alias="EE_GENERATION_MAX_BATCH")
    generation_max_wait_ms: float = Field(0.0, ge=0, le=1000, alias="EE_GENERATION_MAX_WAIT_MS")
    # Redis re-delivers a job whose worker died (SIGKILL, lost machine) after this long; a job
    # takes well under a second, and a longer wait would only serve someone who has left.
    # Tasks are idempotent, so a slow job delivered twice is harmless.
    broker_visibility_timeout_s: int = Field(120, ge=1, alias="EE_BROKER_VISIBILITY_TIMEOUT_S")
    # Celery beat's sweep (this often) sends a job still queued or running after this long to the
    # queue again: its message was lost if Redis restarted without it. Past give_up, it is failed.
    generation_requeue_s: float = Field(60.0, gt=0, alias="EE_GENERATION_REQUEUE_S")
    generation_give_up_s: float = Field(900.0, gt=0, alias="EE_GENERATION_GIVE_UP_S")
    # Fault injection for tests only (refused outside EE_ENV=test): each job sleeps this long.
    generation_test_delay_s: float = Field(0.0, ge=0, le=60, alias="EE_GENERATION_TEST_DELAY_S")
    # Training runs (effigies.training; presets.py says why each preset is as long as it is). "quick"
    # in images shown to D: shorten it for tests and demos.
    training_quick_images: int = Field(30_000, ge=1, alias="EE_TRAINING_QUICK_IMAGES")
    # A SIGKILLed worker loses at most this much training; a checkpoint of a width-32 run is ~10 MB.
    training_checkpoint_s: float = Field(60.0, gt=0, alias="EE_TRAINING_CHECKPOINT_S")
    training_sample_s: float = Field(30.0, gt=0, alias="EE_TRAINING_SAMPLE_S")
    # SWD of the latest checkpoint for the live chart, at most this often (0 = only at the end): it
    # pauses training for a few seconds on a CPU.
    training_swd_s: float = Field(600.0, ge=0, alias="EE_TRAINING_SWD_S")
    # A train worker renews its lease (and stores progress) every heartbeat; a run whose lease
    # expired is taken over by another worker and resumes from its last checkpoint. The lease must
    # outlast a slow step, a sample grid and a database hiccup; it is what a dead worker costs.
    training_heartbeat_s: float = Field(5.0, gt=0, alias="EE_TRAINING_HEARTBEAT_S")
    training_lease_s: float = Field(60.0, gt=0, alias="EE_TRAINING_LEASE_S")
    # Celery beat's sweep for runs whose worker died, and how long a queued run waits before its
    # message counts as lost and is sent again (a duplicate is a no-op).
    training_recover_s: float = Field(30.0, gt=0, alias="EE_TRAINING_RECOVER_S")
    training_requeue_s: float = Field(600.0, gt=0, alias="EE_TRAINING_REQUEUE_S")
    # A log-in session ends at whichever comes first: this long after log-in (absolute), or
    # session_idle_days without any request (idle). Both are checked by the server, not the cookie.
    session_max_age_days: int = Field(30, ge=1, alias="EE_SESSION_MAX_AGE_DAYS")
    session_idle_days: int = Field(7, ge=1, alias="EE_SESSION_IDLE_DAYS")
    # Failed log-ins (and wrong current passwords) per account and per client address within a
    # moving window; past either, 429 until the oldest failure leaves the window. The window is
    # what keeps an attacker from locking a victim out for longer than it.
    login_failures_per_account: int = Field(10, ge=1, alias="EE_LOGIN_FAILURES_PER_ACCOUNT")
    login_failures_per_ip: int = Field(50, ge=1, alias="EE_LOGIN_FAILURES_PER_IP")
    login_failure_window_s: int = Field(900, ge=1, alias="EE_LOGIN_FAILURE_WINDOW_S")
    # Sign-ups per client address per hour (fixed window): enough for a family or a classroom
    # behind one address, too few to mint accounts by the thousand for their free budgets.
    signup_rate_per_ip: int = Field(20, ge=1, alias="EE_SIGNUP_RATE_PER_IP")
    # Ed25519 key that signs ownership certificates: base64 of the 32 raw private bytes, or PEM.
    # Unset: generated on first run and kept in signing_key_path (effigies.certificates.keys).
    signing_key: SecretStr | None = Field(None, alias="EE_SIGNING_KEY")
    # Public keys (base64 raw or PEM) of keys no longer signing, so their certificates stay verifiable.
    signing_keys_retired: list[str] = Field([], alias="EE_SIGNING_KEYS_RETIRED")
    # API server processes (`effigies api`); unset: the CPUs this process may use in production
    # (effigies.api.server), 1 elsewhere. Per-process state is only caches and SSE listeners.
    api_workers: int | None = Field(None, ge=1, le=256, alias="EE_API_WORKERS")
    # Slow senders (effigies.api.http_limits): a request's line and headers must arrive within
    # this many seconds (of the connection, or of their first byte), else 408 and closed...
    http_header_timeout_s: float = Field(10.0, gt=0, alias="EE_HTTP_HEADER_TIMEOUT_S")
    # ...and a body must bring at least 500 bytes a second on average over every window this long.
    http_body_timeout_s: float = Field(30.0, gt=0, alias="EE_HTTP_BODY_TIMEOUT_S")
    # Memory for encoded public avatar variants, per API process (effigies.avatars.public): a
    # smooth 256 px PNG is ~55 kB, a 1024 px one ~450 kB, WebP and JPEG a tenth (pixel art: less).
    avatar_cache_mb: int = Field(64, ge=0, alias="EE_AVATAR_CACHE_MB")
    # Public variants drawn at once per API process, and how many more may wait for a slot; past
    # both, 503 + Retry-After (effigies.avatars.public). A variant costs at most ~0.1 s of one core
    # (1024 px), and Pillow draws outside the GIL, so 2 per process keep cached hits flowing.
    avatar_renders: int = Field(2, ge=1, le=64, alias="EE_AVATAR_RENDERS")
    avatar_render_queue: int = Field(16, ge=0, le=1024, alias="EE_AVATAR_RENDER_QUEUE")
    # Bearer token a Prometheus server sends to read GET /metrics; unset, only an admin's session
    # may read it (effigies.monitoring.router).
    metrics_token: SecretStr | None = Field(None, alias="EE_METRICS_TOKEN")
    # Jobs in flight per `effigies worker` process (threads sharing its warm generators);
    # --concurrency overrides it.
    worker_concurrency: int = Field(8, alias="EE_WORKER_CONCURRENCY")
    # torch threads per worker process (effigies.worker); unset: every CPU for a threads-pool
    # worker, 1 for each prefork child. Values under 1 count as 1.
    torch_threads: int | None = Field(None, alias="EE_TORCH_THREADS")
    # Test hook of effigies.embedded.up: the module `effigies up` runs with `python -m` for
    # db upgrade, the workers and the API.
    up_cli_module: str = Field("effigies.cli", alias="EE_UP_CLI_MODULE")
    # The operator: who sells, as the legal pages (effigies.legal) name them. The defaults are a
    # local demo's placeholders; production refuses to start without name, address and e-mail.
    operator_name: str = Field("Effigies Edification (démo locale)", alias="EE_OPERATOR_NAME")
    # Postal address of the operator's registered office, on one line.
    operator_address: str = Field("1 rue de l'Exemple, 75000 Paris, France (adresse de démonstration)",
                                  alias="EE_OPERATOR_ADDRESS")
    # Where customers write (complaints, withdrawal, privacy requests): read by a person.
    operator_email: str = Field("contact@effigies.local", alias="EE_OPERATOR_EMAIL")
    # A telephone number customers may call (the EU's consumer rules and the French LCEN ask for one).
    operator_phone: str = Field("+33 1 00 00 00 00 (démo locale)", alias="EE_OPERATOR_PHONE")
    # Company registration (e.g. "RCS Paris 123 456 789", or "SIREN 123 456 789" for a sole trader).
    operator_registration: str = Field("RCS Démo 000 000 000 (démo locale)", alias="EE_OPERATOR_REGISTRATION")
    # Intra-EU VAT number, or the mention that replaces it (e.g. "TVA non applicable, art. 293 B du CGI").
    operator_vat: str = Field("FR00 000000000 (démo locale)", alias="EE_OPERATOR_VAT")
    # The person legally responsible for what the site publishes (French LCEN art. 6); unset: the operator.
    publication_director: str | None = Field(None, alias="EE_PUBLICATION_DIRECTOR")
    # The hosting provider's name and postal address (mentions légales).
    host_name: str = Field("Hébergeur de démonstration (démo locale)", alias="EE_HOST_NAME")
    host_address: str = Field("Adresse de l'hébergeur (démo locale)", alias="EE_HOST_ADDRESS")
    # The consumer mediator customers may turn to, with how to reach them (name, address, website).
    mediator: str = Field("Médiateur de la consommation (démo locale : à désigner par l'exploitant)",
                          alias="EE_MEDIATOR")
    # A folder of legal page templates (<page>.<locale>.md) that replace the shipped ones file by file.
    legal_dir: Path | None = Field(None, alias="EE_LEGAL_DIR")

    def is_given(self, name: str) -> bool:
        """Whether field `name` got a non-empty value from the environment (or the caller),
        rather than its default: `effigies up` fills in for its children only what is not."""
        if name not in self.model_fields_set:
            return False
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return value is not None and value != ""

    @property
    def is_local(self) -> bool:
        return self.env in ("local", "test")

    @property
    def cookie_secure(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / "signing-key.pem"

    @field_validator("legal_dir", "publication_director", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        # EE_LEGAL_DIR= (empty, as compose files pass an unset variable) is no folder, not ".".
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> "Settings":
        if not self.redis_url:
            # REDIS_URL= (empty): unset, so the default, and still missing outside local mode.
            self.redis_url = DEFAULT_REDIS_URL
            self.model_fields_set.discard("redis_url")
        if self.generation_test_delay_s and self.env != "test":
            raise ValueError("EE_GENERATION_TEST_DELAY_S is a test hook: only allowed with EE_ENV=test")
        if self.training_lease_s < 3 * self.training_heartbeat_s:
            # A worker stops itself when it could not renew for lease - 2 heartbeats (effigies.training.runner).
            raise ValueError("EE_TRAINING_LEASE_S must be at least 3 x EE_TRAINING_HEARTBEAT_S")
        if self.smtp_url is not None and not self.smtp_url.get_secret_value():
            self.smtp_url = None  # EE_SMTP_URL= (empty): unset
        if self.mail_outbox_dir is not None and not self.is_local:
            raise ValueError("EE_MAIL_OUTBOX_DIR shows the local mail sink's messages: only allowed in local mode")
        if self.metrics_token is not None and not self.metrics_token.get_secret_value():
            self.metrics_token = None  # EE_METRICS_TOKEN= (empty, as compose files pass it): unset
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 16:
            raise ValueError("EE_METRICS_TOKEN must be a random value of 16+ characters")
        if self.is_local:
            return self
        missing = [
            name
            for name, value in (
                ("DATABASE_URL", self.database_url),
                ("REDIS_URL", self.is_given("redis_url")),
                ("STRIPE_SECRET_KEY", self.stripe_secret_key),
                ("STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
                ("STRIPE_PUBLISHABLE_KEY", self.stripe_publishable_key),
                ("EE_SMTP_URL", self.smtp_url),
                ("EE_OPERATOR_NAME", self.is_given("operator_name")),
                ("EE_OPERATOR_ADDRESS", self.is_given("operator_address")),
                ("EE_OPERATOR_EMAIL", self.is_given("operator_email")),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"EE_ENV={self.env} needs these set: {', '.join(missing)}")
        if self.secret_key.get_secret_value() == DEV_SECRET_KEY or len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("EE_SECRET_KEY must be set to a random value of 32+ characters outside local mode")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()


def adopt(values: dict[str, str]) -> Settings:
    """Take these values as if the environment had given them, and read the settings again: how a
    command (`effigies admin create`) reaches the servers of the `effigies up` running beside it
    (effigies.embedded.up.read_running_env). What the environment already gives wins."""
    for key, value in values.items():
        os.environ.setdefault(key, value)
    get_settings.cache_clear()
    return get_settings()
