"""A theme from a folder built by `effigies dataset build`, on the real stack: the listing, and
creating from one through the very checks a zip goes through (same report, nothing stored).

The stack's EE_BUILT_DATASETS_DIR is <data dir>/built-datasets (tests/conftest.py); each test adds
folders of its own there, named uniquely, since the stack is shared."""
from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ApiClient
from tests.themes.archives import generated_pngs, png, stored_nothing

FIELDS = {
    "name": "Built heroes",
    "name_fr": "Héros construits",
    "attribution": "Samples of the Pixel heroes generator (CC0 1.0).",
    "pixel_art": "true",
}
# What scripts/build_dataset.py writes beside the images.
BUILD_FILES = {"dataset.json": b'{"count": 220}\n', "LICENSE.txt": b"CC0 1.0\n", ".done": b""}


def _root(stack) -> Path:
    return Path(stack.env["EE_BUILT_DATASETS_DIR"])


def _name(prefix: str = "built") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _heroes(count: int = 220) -> dict[str, bytes]:
    return {f"hero-{i:03d}.png": data for i, data in enumerate(generated_pngs()[:count])}


def _built(stack, name: str, files: dict[str, bytes]) -> Path:
    folder = _root(stack) / name
    for relative, data in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def _outside(tmp_path: Path) -> Path:
    """A folder of good images outside the configured one: what a link would smuggle in."""
    folder = tmp_path / "outside"
    folder.mkdir(exist_ok=True)
    for name, data in _heroes(220).items():
        (folder / name).write_bytes(data)
    return folder


def _create(client, slug: str, dataset: str, **extra):
    return client.post("/api/admin/themes", data={**FIELDS, "slug": slug, "dataset": dataset}, **extra)


def _listed(client) -> dict[str, dict]:
    response = client.get("/api/admin/datasets")
    assert response.status_code == 200, response.text
    return {d["name"]: d for d in response.json()["datasets"]}


def test_the_listing_is_for_admins_only(stack, make_user):
    with ApiClient(base_url=stack.url, timeout=30) as anonymous:
        response = anonymous.get("/api/admin/datasets")
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    user, _ = make_user()
    response = user.get("/api/admin/datasets")
    assert response.status_code == 403 and set(response.json()) == {"error"}


def test_only_real_folders_with_images_are_listed(admin, stack, tmp_path):
    good, nested = _name(), _name()
    heroes = dict(list(_heroes(5).items()))
    folder = _built(stack, good, {**heroes, **BUILD_FILES})
    (folder / "link.png").symlink_to(_outside(tmp_path) / "hero-000.png")  # neither counted nor followed
    _built(stack, nested, {"a/one.png": png(), "a/b/two.jpg": png(), "notes.txt": b"x"})
    empty, file_, text_only, escape, bad_name = _name("empty"), _name("file"), _name("text"), _name("escape"), "Not_A_Slug"
    (_root(stack) / empty).mkdir()
    (_root(stack) / file_).write_bytes(png())
    _built(stack, text_only, {"readme.txt": b"no images here\n"})
    (_root(stack) / escape).symlink_to(_outside(tmp_path), target_is_directory=True)
    _built(stack, bad_name, heroes)
    theme_set = _name("theme-set")  # a theme's own set (what create_theme writes), when both share a folder
    _built(stack, theme_set, {**heroes, "sources.json": b"{}"})

    body = admin.get("/api/admin/datasets").json()
    assert body["folder"] == str(_root(stack).resolve())
    listed = {d["name"]: d for d in body["datasets"]}
    expected_bytes = sum(len(data) for data in {**heroes, **BUILD_FILES}.values())
    assert listed[good] == {"name": good, "images": 5, "bytes": expected_bytes, "capped": False, "used_by": []}
    assert listed[nested]["images"] == 2 and listed[nested]["bytes"] == 2 * len(png()) + 1
    for absent in (empty, file_, text_only, escape, bad_name, theme_set):
        assert absent not in listed, absent
    assert [d["name"] for d in body["datasets"]] == sorted(listed)


def test_a_built_dataset_becomes_a_draft_theme_with_a_checked_copy(admin, stack):
    name, slug = _name(), f"test-{uuid.uuid4().hex[:8]}"
    files = {**_heroes(220), **BUILD_FILES}
    # One image as a larger JPEG: what is stored is the re-encoded 64x64 PNG, never the file itself.
    big = io.BytesIO()
    Image.open(io.BytesIO(files.pop("hero-219.png"))).resize((128, 128)).save(big, format="JPEG", quality=95)
    files["hero-219.jpg"] = big.getvalue()
    folder = _built(stack, name, files)

    response = _create(admin, slug, name)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["images"] == 220
    assert {p["name"]: p["reason"] for p in body["skipped"]} == {
        "dataset.json": "dataset_metadata", "LICENSE.txt": "dataset_metadata", ".done": "system_file",
    }
    theme = body["theme"]
    assert theme["status"] == "draft" and theme["slug"] == slug and theme["training_images"] == 220

    copy = stack.data_dir / "datasets" / slug
    stored = sorted(copy.glob("*.png"))
    assert len(stored) == 220 and (copy / "training_fingerprints.safetensors").is_file()
    assert not (copy / "dataset.json").exists() and not (copy / "LICENSE.txt").exists()
    sources = json.loads((copy / "sources.json").read_text())
    from_jpeg = next(p for p, source in sources.items() if source == "hero-219.jpg")
    with Image.open(copy / from_jpeg) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (64, 64), "RGB")
    assert json.loads((copy / "origin.json").read_text()) == {"built_dataset": name}
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)  # the built set is left as it was

    assert _listed(admin)[name]["used_by"] == [slug]
    again = _create(admin, slug, name)
    assert again.status_code == 409 and again.json()["error"]["code"] == "slug_taken"


def _with_link_out(stack, name: str, tmp_path: Path) -> None:
    folder = _built(stack, name, _heroes(220))
    (folder / "link.png").symlink_to(_outside(tmp_path) / "hero-000.png")


def _with_text_as_png(stack, name: str, _tmp_path: Path) -> None:
    _built(stack, name, {**_heroes(220), "notes.png": b"just some text\n" * 10})


def _with_subfolder_link(stack, name: str, tmp_path: Path) -> None:
    folder = _built(stack, name, _heroes(220))
    (folder / "more").symlink_to(_outside(tmp_path), target_is_directory=True)


BAD_FOLDERS = {
    "text_as_png": (_with_text_as_png, {"notes.png": "not_an_image"}),
    "link_to_outside_file": (_with_link_out, {"link.png": "link"}),
    "link_to_outside_folder": (_with_subfolder_link, {"more": "link"}),
}


@pytest.mark.parametrize("case", BAD_FOLDERS, ids=list(BAD_FOLDERS))
def test_a_bad_folder_gets_the_upload_report_and_stores_nothing(case, admin, stack, tmp_path):
    make, expected = BAD_FOLDERS[case]
    name, slug = _name(), f"test-{uuid.uuid4().hex[:8]}"
    make(stack, name, tmp_path)
    response = _create(admin, slug, name)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "upload_refused" and "dataset" in error["message"]
    assert {p["name"]: p["reason"] for p in error["refused"]} == expected
    assert all(set(p) == {"name", "reason", "message", "related"} and p["message"] for p in error["refused"])
    assert error["min_images"] == 200 and error["usable_images"] == 220
    stored_nothing(stack, slug)


def test_too_few_images_states_the_minimum(admin, stack):
    name, slug = _name(), f"test-{uuid.uuid4().hex[:8]}"
    _built(stack, name, _heroes(12))
    response = _create(admin, slug, name)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "too_few_images" and error["usable_images"] == 12 and error["min_images"] == 200
    stored_nothing(stack, slug)


def test_near_duplicates_are_named_and_do_not_count(admin, stack):
    """190 distinct images and 15 re-encoded copies: 205 files, 190 usable, below the minimum."""
    name, slug = _name(), f"test-{uuid.uuid4().hex[:8]}"
    heroes = _heroes(190)
    copies = {}
    for i in range(15):
        jpeg = io.BytesIO()
        Image.open(io.BytesIO(heroes[f"hero-{i:03d}.png"])).resize((200, 200)).save(jpeg, format="JPEG", quality=80)
        copies[f"zz-copy-{i:02d}.jpg"] = jpeg.getvalue()
    _built(stack, name, {**heroes, **copies})
    response = _create(admin, slug, name)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "too_few_images" and error["usable_images"] == 190 and not error["refused"]
    skipped = {p["name"]: (p["reason"], p["related"]) for p in error["skipped"]}
    assert skipped == {f"zz-copy-{i:02d}.jpg": ("duplicate", f"hero-{i:03d}.png") for i in range(15)}
    stored_nothing(stack, slug)


def test_only_a_plain_folder_name_is_accepted(admin, stack, tmp_path):
    escape = _name("escape")
    (_root(stack) / escape).symlink_to(_outside(tmp_path), target_is_directory=True)
    a_file = _name("file")
    (_root(stack) / a_file).write_bytes(png())
    outside = str(_outside(tmp_path))
    cases = {
        "../x": (422, "invalid_dataset_name"),
        "..": (422, "invalid_dataset_name"),
        outside: (422, "invalid_dataset_name"),  # an absolute path, full of good images
        "/etc": (422, "invalid_dataset_name"),
        "a/b": (422, "invalid_dataset_name"),
        "no-such-set": (404, "dataset_not_found"),
        escape: (404, "dataset_not_found"),  # a link to a folder elsewhere is not a built set
        a_file: (404, "dataset_not_found"),
    }
    for dataset, (status, code) in cases.items():
        slug = f"test-{uuid.uuid4().hex[:8]}"
        response = _create(admin, slug, dataset)
        assert response.status_code == status, (dataset, response.text)
        assert response.json()["error"]["code"] == code, dataset
        assert response.json()["error"]["message"]
        stored_nothing(stack, slug)
    assert os.path.isdir(outside)  # nothing of it was touched


def test_a_zip_and_a_dataset_together_are_refused(admin, stack):
    name, slug = _name(), f"test-{uuid.uuid4().hex[:8]}"
    _built(stack, name, _heroes(220))
    response = _create(admin, slug, name, files={"archive": ("examples.zip", b"PK\x05\x06" + bytes(18), "application/zip")})
    assert response.status_code == 422 and response.json()["error"]["code"] == "two_sources"
    missing = admin.post("/api/admin/themes", data={**FIELDS, "slug": slug, "dataset": ""})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "archive_missing"
    stored_nothing(stack, slug)
