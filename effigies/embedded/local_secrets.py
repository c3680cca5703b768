"""Local-mode secrets, generated once and kept in `<data>/secrets.json` (mode 0600).

Holds EE_SECRET_KEY (so sessions survive a restart of `effigies up`) and the local
STRIPE_WEBHOOK_SECRET shared by localstripe and our webhook endpoint. Never used when
EE_ENV=production: there every secret must come from the environment.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

GENERATORS = {
    "EE_SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "STRIPE_WEBHOOK_SECRET": lambda: "whsec_" + secrets.token_urlsafe(32),
}


def load_local_secrets(data_dir: Path) -> dict[str, str]:
    """Read `<data>/secrets.json`, adding (and persisting) any missing secret."""
    path = Path(data_dir) / "secrets.json"
    current: dict[str, str] = {}
    try:
        raw = json.loads(path.read_text())
        if isinstance(raw, dict):
            current = {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and v}
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{path} is unreadable ({exc}); fix or delete it (sessions will be reset)") from exc

    missing = [k for k in GENERATORS if k not in current]
    if missing:
        for key in missing:
            current[key] = GENERATORS[key]()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(current, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return current
