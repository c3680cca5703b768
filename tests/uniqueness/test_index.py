"""Exact recall of the multi-index lookup: every stored fingerprint within R is found, none beyond.

Hypothesis draws random sets and adversarial ones: fingerprints exactly R (and R + 1, R - 1)
bits from the query, with the flipped bits spread over the bands or packed into one band, the
worst case for a banded index. Checked against brute force, first on the probe plan alone
(thousands of cases, no database), then through PostgreSQL with the service's real query.
"""
from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effigies.uniqueness.fingerprint import BITS, BYTES, hamming
from effigies.uniqueness.index import BANDS, band_radii, band_values, lock_keys, probes

RADII = (0, 1, 4, 9, 10, 11, 16, 20, 24)


def flip(value: bytes, positions) -> bytes:
    number = int.from_bytes(value, "big")
    for p in positions:
        number ^= 1 << (BITS - 1 - p)
    return number.to_bytes(BYTES, "big")


def found_by_probes(query: bytes, stored: bytes, radius: int) -> bool:
    """Would the index return `stored` as a candidate for `query`?"""
    return any(v in set(p) for v, p in zip(band_values(stored), probes(query, radius)))


fingerprints = st.binary(min_size=BYTES, max_size=BYTES)


@st.composite
def near(draw, radius_choices=RADII):
    """(query, stored, radius) with stored at R-1, R or R+1 bits, the flips spread or packed."""
    radius = draw(st.sampled_from(radius_choices))
    query = draw(fingerprints)
    distance = max(0, radius + draw(st.sampled_from((-1, 0, 0, 1))))
    how = draw(st.sampled_from(("random", "one band", "few bands")))
    if how == "random":
        positions = draw(st.permutations(range(BITS)))[:distance]
    else:
        bands = [draw(st.integers(0, BANDS - 1))] if how == "one band" else draw(
            st.lists(st.integers(0, BANDS - 1), min_size=2, max_size=3, unique=True))
        pool = [p for p in range(BITS) if p % BANDS in bands]  # bit p lives in band p % BANDS
        distance = min(distance, len(pool))
        positions = draw(st.permutations(pool))[:distance]
    return query, flip(query, positions), radius


@settings(max_examples=3000, deadline=None)
@given(near())
def test_probes_find_every_fingerprint_within_the_radius(case):
    query, stored, radius = case
    if hamming(query, stored) <= radius:
        assert found_by_probes(query, stored, radius)


@settings(max_examples=300, deadline=None)
@given(st.lists(fingerprints, min_size=1, max_size=50), fingerprints, st.sampled_from(RADII))
def test_probes_on_random_sets_match_brute_force(stored, query, radius):
    for value in stored:
        if hamming(query, value) <= radius:
            assert found_by_probes(query, value, radius)


def test_radius_is_split_by_the_refined_pigeonhole():
    # R = 20 over 10 bands: one band probed at 2 bits, the nine others at 1 bit.
    assert band_radii(20) == [2] + [1] * 9
    # R = 9 < 10 bands: plain pigeonhole, one band must match exactly.
    assert band_radii(9) == [0] * 10
    # R = 10: the first band at 1 bit, or any other exactly.
    assert band_radii(10) == [1] + [0] * 9


@settings(max_examples=2000, deadline=None)
@given(near(radius_choices=(0, 4, 16, 20)))
def test_two_fingerprints_within_the_radius_share_a_lock(case):
    a, b, radius = case
    if hamming(a, b) <= radius:
        assert set(lock_keys(a, radius)) & set(lock_keys(b, radius))


# --------------------------------------------------------------------------- through PostgreSQL
def around(query: bytes, rng: random.Random, radius: int) -> bytes:
    """R - 1, R or R + 1 bits away; half of them with every flip packed into one band."""
    distance = max(0, radius + rng.choice((-1, 0, 0, 1)))
    band = rng.randrange(BANDS)
    packed = [p for p in range(BITS) if p % BANDS == band]
    pool = packed if rng.random() < 0.5 and distance <= len(packed) else list(range(BITS))
    return flip(query, rng.sample(pool, distance))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(radius=st.sampled_from((4, 16, 20)), query=fingerprints, seed=st.integers(0, 2**32 - 1))
def test_lookup_in_postgresql_returns_exactly_the_brute_force_set(stack, radius, query, seed):
    """40 stored fingerprints (30 at R - 1..R + 1 from the query, 10 random): the service's SQL
    returns exactly those brute force puts within R, with their true distances."""
    from effigies.db import session_scope
    from effigies.uniqueness import service

    rng = random.Random(seed)
    stored = [around(query, rng, radius) for _ in range(30)] + [rng.randbytes(BYTES) for _ in range(10)]
    with session_scope() as session:
        ours = {service.register(session=session, value=v, kind="sold").id: v for v in stored}
        found = service.find_near(session=session, value=query, radius=radius, limit=100_000)
        assert sorted(ours[e.id] for e, _ in found if e.id in ours) == sorted(v for v in stored if hamming(query, v) <= radius)
        # Rows of other tests may match too; every row returned must truly be within R.
        assert all(d == hamming(query, e.fingerprint) <= radius for e, d in found)
        # The generate worker's batched check (one statement for many) agrees with one by one.
        batch = [query, *(around(query, rng, radius) for _ in range(3)), rng.randbytes(BYTES), stored[0]]
        mask = service.near_mask(session=session, values=batch, radius=radius)
        assert mask == [bool(service.find_near(session=session, value=v, radius=radius, limit=1)) for v in batch]
        assert mask[-1]  # a registered fingerprint is taken
        assert mask[0] or not any(hamming(query, v) <= radius for v in stored)
        session.rollback()
