"""The upload validator on its own: no servers, small limits where the real ones would be slow."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from effigies.themes import uploads
from tests.themes.archives import (
    build_zip,
    generated_pngs,
    good_entries,
    huge_png,
    png,
    symlink_entry,
    understate_size,
)

SMALL = uploads.Limits(min_images=3)


def _report(entries, limits=SMALL, **kwargs) -> uploads.Report:
    return uploads.process_archive(io.BytesIO(build_zip(entries)), limits=limits, **kwargs)


def _reasons(problems) -> dict[str, str]:
    return {p.name: p.reason for p in problems}


def _distinct(n: int) -> list[tuple[str, bytes]]:
    return [(f"img-{i}.png", data) for i, data in enumerate(generated_pngs()[:n])]


def test_a_good_set_becomes_64px_rgb_pngs_in_archive_order():
    report = uploads.process_archive(io.BytesIO(build_zip(good_entries(220))))
    assert report.ok, (report.fatal, report.refused[:3])
    assert len(report.images) == 220 and not report.skipped
    assert report.images[0].source == "examples/hero-000.png"
    image = Image.open(io.BytesIO(report.images[0].png))
    assert image.format == "PNG" and image.size == (64, 64) and image.mode == "RGB"


def test_other_sizes_are_centre_cropped_and_transparency_lands_on_white():
    wide = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    wide.paste((10, 200, 10, 255), (100, 0, 200, 100))  # an opaque square in the middle third
    buffer = io.BytesIO()
    wide.save(buffer, format="PNG")
    report = _report([*_distinct(3), ("wide.png", buffer.getvalue())])
    out = next(i for i in report.images if i.source == "wide.png")
    pixels = np.asarray(Image.open(io.BytesIO(out.png)))
    assert (np.abs(pixels.astype(int) - (10, 200, 10)).max(axis=2) < 8).mean() > 0.9  # only the square is left


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_comes_out_64px():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (1500, 2000, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=85)
    report = _report([*_distinct(3), ("photo.jpg", buffer.getvalue())])
    out = next(i for i in report.images if i.source == "photo.jpg")
    assert Image.open(io.BytesIO(out.png)).size == (64, 64)


@pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "/etc/evil.png", "..\\evil.png", "C:/evil.png"])
def test_paths_outside_the_folder_are_refused(name):
    report = _report([*_distinct(3), (name, png())])
    assert _reasons(report.refused) == {name: "unsafe_path"}
    assert not report.ok


def test_links_are_refused_by_their_mode_bits():
    report = _report([*_distinct(3), symlink_entry("link.png", "/etc/passwd")])
    assert _reasons(report.refused) == {"link.png": "link"}


def test_nested_archives_are_refused_by_name_and_by_content():
    inner = build_zip([("a.png", png())])
    report = _report([*_distinct(3), ("inner.zip", inner), ("disguised.png", inner)])
    assert _reasons(report.refused) == {"inner.zip": "nested_archive", "disguised.png": "nested_archive"}


def test_a_text_file_named_png_and_a_truncated_png_are_reported_by_name():
    report = _report([*_distinct(3), ("fake.png", b"this is not an image\n" * 20), ("cut.png", png((64, 64))[:60])])
    assert _reasons(report.refused) == {"fake.png": "not_an_image", "cut.png": "corrupt"}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_100_megapixel_png_is_refused_from_its_header_without_decoding():
    data = huge_png(10_000)
    assert len(data) < 100_000  # tiny on the wire, 100 MP once decoded
    report = _report([*_distinct(3), ("big.png", data)])
    assert _reasons(report.refused) == {"big.png": "too_many_pixels"}


def test_an_entry_over_the_size_cap_is_refused_while_reading():
    # The header says 10 MB; it is not what stops it (see the next test), the running count is.
    limits = uploads.Limits(min_images=3, max_entry_bytes=1_000_000)
    zeros = build_zip([*_distinct(3), ("zeros.png", bytes(10_000_000))])
    report = uploads.process_archive(io.BytesIO(zeros), limits=limits)
    assert _reasons(report.refused) == {"zeros.png": "too_large"}


def test_a_header_that_understates_the_size_is_not_believed():
    data = understate_size(build_zip([*_distinct(3), ("zeros.png", bytes(10_000_000))]), "zeros.png", 1000)
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("zeros.png").file_size == 1000
    report = uploads.process_archive(io.BytesIO(data), limits=SMALL)
    assert _reasons(report.refused) == {"zeros.png": "corrupt"}  # what came out is not what was announced


def test_the_total_budget_stops_the_whole_archive_midway():
    limits = uploads.Limits(min_images=3, max_total_bytes=3_000_000)
    report = _report([*_distinct(3), *[(f"zeros-{i}.png", bytes(1_000_000)) for i in range(5)]], limits=limits)
    assert report.fatal is not None and report.fatal.reason == "archive_too_large"
    assert not report.ok


def test_too_many_entries_is_refused_before_reading_any():
    limits = uploads.Limits(min_images=3, max_entries=5)
    report = _report(_distinct(6), limits=limits)
    assert report.fatal.reason == "too_many_entries" and not report.images


def test_not_a_zip():
    report = uploads.process_archive(io.BytesIO(b"hello" * 100), limits=SMALL)
    assert report.fatal.reason == "not_a_zip"


def test_bzip2_entries_are_refused_unread():
    report = uploads.process_archive(io.BytesIO(build_zip(_distinct(4), compression=zipfile.ZIP_BZIP2)), limits=SMALL)
    assert set(_reasons(report.refused).values()) == {"unsupported_compression"}


def test_near_identical_copies_are_skipped_and_named_but_recolours_stay():
    images = _distinct(4)
    first = Image.open(io.BytesIO(images[0][1]))
    jpeg = io.BytesIO()
    first.resize((200, 200), Image.Resampling.BICUBIC).save(jpeg, format="JPEG", quality=70)
    recolour = io.BytesIO()
    Image.fromarray(np.asarray(first)[:, :, ::-1].copy()).save(recolour, format="PNG")  # channels swapped
    report = _report([*images, ("z-copy.jpg", jpeg.getvalue()), ("z-recolour.png", recolour.getvalue())])
    assert report.ok
    assert [(p.name, p.reason) for p in report.skipped] == [("z-copy.jpg", "duplicate")]
    assert "img-0.png" in report.skipped[0].message
    assert len(report.images) == 5


def test_system_files_are_skipped_not_refused():
    report = _report([*_distinct(3), ("__MACOSX/._img-0.png", b"\x00\x05\x16\x07"), (".DS_Store", b"junk")])
    assert report.ok and not report.refused
    assert _reasons(report.skipped) == {"__MACOSX/._img-0.png": "system_file", ".DS_Store": "system_file"}


def test_a_built_datasets_own_files_are_skipped_in_a_zip_too():
    # `effigies dataset build` writes these beside the images; a zip of such a folder is accepted.
    report = _report([*_distinct(3), ("set/dataset.json", b"{}"), ("set/LICENSE.txt", b"CC0"), ("notes.txt", b"x")])
    assert _reasons(report.skipped) == {"set/dataset.json": "dataset_metadata", "set/LICENSE.txt": "dataset_metadata"}
    assert _reasons(report.refused) == {"notes.txt": "not_an_image"}  # any other file is still refused


def test_too_few_usable_images():
    report = _report(_distinct(2))
    assert not report.ok and not report.refused and report.fatal is None
    assert len(report.images) == 2 and report.min_images == 3


def test_the_default_minimum_is_stated():
    assert uploads.LIMITS.min_images == 200
