"""`effigies api`: how many processes, and which requests are access-logged (effigies.api.server)."""
import logging

from effigies.api import server
from effigies.config import Settings


def test_worker_count_is_one_locally_and_every_usable_cpu_in_production(monkeypatch):
    monkeypatch.setattr(server, "available_cpus", lambda: 6)
    assert server.worker_count(Settings.model_construct(env="test", api_workers=None)) == 1
    assert server.worker_count(Settings.model_construct(env="local", api_workers=None)) == 1
    assert server.worker_count(Settings.model_construct(env="production", api_workers=None)) == 6
    assert server.worker_count(Settings.model_construct(env="production", api_workers=3)) == 3
    assert server.worker_count(Settings.model_construct(env="test", api_workers=3), requested=2) == 2


def test_a_cgroup_cpu_quota_caps_the_process_count(monkeypatch, tmp_path):
    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr(server, "CGROUP_CPU_MAX", cpu_max)
    monkeypatch.setattr(server.os, "sched_getaffinity", lambda _pid: set(range(64)))
    assert server.available_cpus() == 64  # no cgroup file
    cpu_max.write_text("max 100000\n")
    assert server.available_cpus() == 64
    cpu_max.write_text("150000 100000\n")  # docker run --cpus 1.5
    assert server.available_cpus() == 2
    cpu_max.write_text("20000 100000\n")
    assert server.available_cpus() == 1


def _access(path: str, status: int) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:5000", "GET", path, "1.1", status), None)


def test_served_public_avatars_are_not_access_logged_but_their_errors_and_the_rest_are():
    quiet = server.QuietPublicHits()
    assert not quiet.filter(_access("/a/abcdefghijklmnop.png?s=256", 200))
    assert not quiet.filter(_access("/a/abcdefghijklmnop.png", 304))
    assert quiet.filter(_access("/a/abcdefghijklmnop.png", 404))
    assert quiet.filter(_access("/a/abcdefghijklmnop.png?s=7", 422))
    assert quiet.filter(_access("/api/me", 200))
    config = server.log_config()
    assert config["loggers"]["uvicorn.access"]["filters"] == ["quiet_public_hits"]
