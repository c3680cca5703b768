"""docker-compose.yml cannot run here (no Docker engine): check it by reading it."""
from pathlib import Path

import yaml

from effigies.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_production_services_are_all_there_with_healthchecks():
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "worker-generate", "worker-train", "scheduler"} <= set(services)
    for name in ("postgres", "redis", "api", "worker-generate", "worker-train", "scheduler"):
        assert "healthcheck" in services[name], name
    gpu = services["worker-train"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    # One beat only: the scheduler runs it, scaled workers do not.
    beats = [n for n, s in services.items() if "--beat" in (s.get("command") or [])]
    assert beats == ["scheduler"] and services["scheduler"]["deploy"]["replicas"] == 1


def test_every_effigies_command_in_compose_exists_in_the_cli():
    parser = build_parser()
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if not command or command[0] != "effigies":
            continue
        args = parser.parse_args(command[1:])  # argparse exits on an unknown command or option
        assert callable(args.func), name


def test_app_services_wait_for_migrations_and_take_secrets_from_the_environment():
    services = _compose()["services"]
    for name in ("api", "worker-generate", "worker-train", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = services[name]["environment"]
        assert env["EE_ENV"] == "production"
        for secret in ("EE_SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
            assert env[secret].startswith("${") and ":?" in env[secret], secret
