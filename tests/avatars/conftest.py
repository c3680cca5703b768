"""Avatars bought once per test module (module scope: each module starts from unserved avatars)."""
from __future__ import annotations

import pytest

from tests.avatars.helpers import buy
from tests.conftest import Stack


@pytest.fixture(scope="module")
def smooth_id(stack: Stack) -> str:
    # An opaque smooth theme (its own upscaler): Arcane sigils, since Galactic droids is transparent.
    return buy(stack, "arcane-sigils")


@pytest.fixture(scope="module")
def pixel_id(stack: Stack) -> str:
    return buy(stack, "pixel-heroes")


@pytest.fixture(scope="module")
def rgba_id(stack: Stack, rgba_theme: str) -> str:
    return buy(stack, rgba_theme)
