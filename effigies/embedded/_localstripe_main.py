"""`python -m effigies.embedded._localstripe_main --port 8420 --store <data>/localstripe/store.pickle`

localstripe's own `start()` hard-codes its store to /tmp/localstripe.pickle (shared by every
localstripe on the machine, reloaded unless --from-scratch), rewrites that file in place
on every change and while unpickling it, and binds '::' (fails where IPv6 is off, and
listens on all interfaces). This wrapper keeps localstripe's app untouched but stores the
pickle in our data dir (atomic rewrite, corrupt file moved aside) and binds one address.
Webhooks stay in memory in localstripe: `EmbeddedStripe.start()` registers ours each time.
"""
from __future__ import annotations

import argparse
import logging
import os
import pickle
import socket
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--from-scratch", action="store_true")
    args = parser.parse_args(argv)

    from aiohttp import web
    from localstripe import resources, server

    store_path: Path = args.store.resolve()
    store_path.parent.mkdir(parents=True, exist_ok=True)
    loading = False

    def try_load_from_disk(self: dict) -> None:
        nonlocal loading
        try:
            raw = store_path.read_bytes()
        except FileNotFoundError:
            return
        loading = True  # unpickling a dict subclass calls __setitem__, i.e. dump_to_disk
        try:
            old = pickle.loads(raw)
        except Exception as exc:  # noqa: BLE001 - any unpickling problem means "start empty"
            bad = store_path.with_name(f"{store_path.name}.corrupt-{int(time.time())}")
            os.replace(store_path, bad)
            print(f"localstripe: could not load {store_path} ({exc!r}); moved to {bad}", file=sys.stderr)
            return
        finally:
            loading = False
        dict.clear(self)
        dict.update(self, old)

    def dump_to_disk(self: dict) -> None:
        if loading:
            return
        tmp = store_path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, store_path)

    resources.Store.try_load_from_disk = try_load_from_disk  # type: ignore[method-assign]
    resources.Store.dump_to_disk = dump_to_disk  # type: ignore[method-assign]

    if not args.from_scratch:
        resources.store.try_load_from_disk()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))

    logger = logging.getLogger("aiohttp.access")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logging.StreamHandler())
    web.run_app(server.app, sock=sock, access_log=logger, print=lambda *a: None)


if __name__ == "__main__":
    main()
