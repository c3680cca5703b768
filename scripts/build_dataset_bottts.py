#!/usr/bin/env python3
"""Kept for old commands: same as ``python scripts/build_dataset.py galactic-droids ...``.

Usage::

    python scripts/build_dataset_bottts.py --out var/datasets/galactic-droids --count 10000 --seed 0

See ``scripts/build_dataset.py`` (the one builder for every theme).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_dataset import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["galactic-droids", *sys.argv[1:]]))
