"""The upload validator on its own: no servers, small limits where the real ones would be slow."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from effigies.themes import large_images, pixel_grid, uploads
from tests.themes.archives import (
    build_zip,
    encode,
    generated_pngs,
    good_entries,
    grid_pngs,
    huge_png,
    png,
    shape_pngs,
    symlink_entry,
    transparent_pngs,
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


# --------------------------------------------------------------------------- pixel grids
def _pixels(report, source: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(next(i for i in report.images if i.source == source).png)))


def _blocks_are_constant(pixels: np.ndarray, cell: int) -> bool:
    side = pixels.shape[0] // cell
    blocks = pixels.reshape(side, cell, side, cell, -1)
    return bool((blocks == blocks[:, :1, :, :1]).all())


def _sprites(n: int) -> list[tuple[str, bytes]]:
    return [(f"sprite-{i}.png", data) for i, data in enumerate(grid_pngs()[10 : 10 + n])]


def _enlarged(data: bytes, side: int) -> bytes:
    return encode(Image.open(io.BytesIO(data)).resize((side, side), Image.Resampling.NEAREST))


def test_a_grid_theme_takes_native_sprites_exact_images_and_large_renders_as_constant_cells():
    sprites = grid_pngs()
    entries = [
        ("native-16.png", sprites[0]),  # one pixel per cell: enlarged by nearest neighbour
        ("exact-64.png", _enlarged(sprites[1], 64)),
        ("render-512.png", _enlarged(sprites[2], 512)),  # reduced: 64 px cells, one colour each
        ("render-160.png", _enlarged(sprites[3], 160)),  # 10 px cells: no integer rescale reaches 64 px
        ("wide.png", encode(Image.open(io.BytesIO(_enlarged(sprites[4], 64))).crop((-16, 0, 80, 64)))),  # padded sideways
    ]
    report = _report(entries, pixel_grid=16)
    assert report.ok and not report.refused, report.refused
    for index, (name, _) in enumerate(entries[:4]):
        out = _pixels(report, name)
        assert out.shape == (64, 64, 3) and _blocks_are_constant(out, 4), name
        cells = np.asarray(Image.open(io.BytesIO(sprites[index])).convert("RGB"))
        assert (out[::4, ::4] == cells).all(), name  # the cells' own colours, nothing blended
    assert _blocks_are_constant(_pixels(report, "wide.png"), 4)  # centre-cropped on a cell boundary


def test_a_coarser_grid_fits_a_finer_one_and_a_grid_8_sprite_may_be_8_px():
    coarse = grid_pngs(grid=8)
    fine = _report([(f"s{i}.png", _enlarged(d, 16)) for i, d in enumerate(coarse[:3])], pixel_grid=32)
    assert fine.ok and _blocks_are_constant(_pixels(fine, "s0.png"), 8)
    own = _report([(f"s{i}.png", d) for i, d in enumerate(coarse[:3])], pixel_grid=8)
    assert own.ok and _blocks_are_constant(_pixels(own, "s0.png"), 8)
    # Below its own grid a sprite is too small, as any image below 16 px is for other themes.
    assert _reasons(_report([("s.png", coarse[0]), *_sprites(3)], pixel_grid=16).refused) == {"s.png": "too_small"}


def test_images_off_the_grid_are_refused_by_name_with_the_first_bad_cell():
    sprites = grid_pngs()
    finer = grid_pngs(grid=32)[0]
    touched = np.asarray(Image.open(io.BytesIO(_enlarged(sprites[5], 64)))).copy()
    touched[9, 22] = touched[9, 22] ^ 1  # one pixel of cell (column 6, row 3) off by one level
    jpeg = encode(Image.open(io.BytesIO(_enlarged(sprites[6], 64))), "JPEG")
    report = _report([
        *[(f"ok-{i}.png", d) for i, d in enumerate(sprites[:3])],
        ("smooth.png", generated_pngs(slug="arcane-sigils")[7]), ("finer-32.png", finer), ("touched.png", encode(Image.fromarray(touched))),
        ("sprite.jpg", jpeg),
    ], pixel_grid=16)
    assert not report.ok
    assert _reasons(report.refused) == {
        "smooth.png": "off_grid", "finer-32.png": "off_grid", "touched.png": "off_grid", "sprite.jpg": "lossy_format",
    }
    touched_problem = next(p for p in report.refused if p.name == "touched.png")
    assert "1 of 256 cells" in touched_problem.message and "column 6, row 3" in touched_problem.message
    assert "16x16 grid" in touched_problem.message


def test_transparent_pixels_must_share_the_cell_too_but_the_colour_under_alpha_0_does_not_count():
    cells = np.zeros((16, 16, 4), dtype=np.uint8)
    cells[4:12, 4:12] = (200, 40, 90, 255)
    big = cells.repeat(4, axis=0).repeat(4, axis=1)
    big[0, 1, :3] = (1, 2, 3)  # hidden under alpha 0: the same cell as far as anyone can see
    report = _report([("a.png", encode(Image.fromarray(big, "RGBA"))), *_sprites(3)], pixel_grid=16)
    assert not report.refused, report.refused
    half = big.copy()
    half[17, 17, 3] = 128  # a cell half see-through in one pixel is two colours
    refused = _report([("a.png", encode(Image.fromarray(half, "RGBA"))), *_sprites(3)], pixel_grid=16).refused
    assert _reasons(refused) == {"a.png": "off_grid"}


def test_the_grid_check_follows_cells_that_straddle_source_pixels():
    # A 24 px image on a 16-cell grid: each cell covers 1.5 source pixels, so only an image on
    # the 8-cell grid (3 px cells) is constant on every 16-grid cell.
    on_8 = np.repeat(np.repeat(np.arange(64, dtype=np.uint8).reshape(8, 8, 1) * 3, 3, 0), 3, 1).repeat(3, 2)
    assert isinstance(pixel_grid.snap(on_8, 8), np.ndarray)
    assert isinstance(pixel_grid.snap(on_8, 16), np.ndarray)
    noisy = on_8.copy()
    noisy[4, 4] += 1
    assert isinstance(pixel_grid.snap(noisy, 16), pixel_grid.OffGrid)


@pytest.mark.parametrize("value", [12, 0, 4, 64, "abc", -8])
def test_grids_other_than_8_16_32_are_named_as_such(value):
    assert "8, 16 or 32" in pixel_grid.grid_problem(value)
    assert all(pixel_grid.grid_problem(n) is None for n in pixel_grid.GRIDS)


# --------------------------------------------------------------------------- transparency
def test_a_set_of_mostly_transparent_images_is_stored_rgba_with_alpha_kept():
    cutouts = transparent_pngs()
    opaque = _distinct(1)[0][1]
    report = _report([*[(f"cut-{i}.png", d) for i, d in enumerate(cutouts[:3])], ("opaque.png", opaque)])
    assert report.ok and report.transparent
    modes = {i.source: Image.open(io.BytesIO(i.png)).mode for i in report.images}
    assert set(modes.values()) == {"RGBA"}
    cut = _pixels(report, "cut-0.png")
    source = np.asarray(Image.open(io.BytesIO(cutouts[0])))
    assert (cut[..., 3] == source[..., 3]).all()  # alpha kept, soft edge included
    assert 0 < (cut[..., 3] % 255 != 0).sum() and (cut[cut[..., 3] == 0][:, :3] == 0).all()
    assert (_pixels(report, "opaque.png")[..., 3] == 255).all()


def test_a_few_transparent_images_among_opaque_ones_land_on_white_as_before():
    cut = transparent_pngs()[0]
    report = _report([*_distinct(3), ("cut.png", cut)])
    assert report.ok and not report.transparent
    assert {Image.open(io.BytesIO(i.png)).mode for i in report.images} == {"RGB"}
    assert tuple(_pixels(report, "cut.png")[0, 0]) == (255, 255, 255)
    # The fingerprint reads the white composite: the same whichever mode the set was stored in.
    alone = _report([("cut.png", cut), *[(f"c{i}.png", d) for i, d in enumerate(transparent_pngs()[1:3])]])
    assert alone.transparent
    assert next(i for i in alone.images if i.source == "cut.png").fingerprint == \
        next(i for i in report.images if i.source == "cut.png").fingerprint


# --------------------------------------------------------------------------- 256 px versions (the upscaler's pairs)
def _large(report, source: str) -> Image.Image | None:
    data = next(i for i in report.images if i.source == source).large
    return None if data is None else Image.open(io.BytesIO(data))


def _wide_cutout() -> Image.Image:
    """400x300, transparent bands left and right of a 300 px centre square (colour hidden under
    alpha 0 there), a disc inside with a soft edge."""
    rgba = np.zeros((300, 400, 4), dtype=np.uint8)
    rgba[..., :3] = (250, 0, 250)  # under alpha 0: must not survive
    yy, xx = np.mgrid[:300, :400]
    rgba[..., 3] = (np.clip(140.0 - np.hypot(yy - 149.5, xx - 199.5), 0, 1) * 255).round()
    rgba[..., 0], rgba[..., 1] = (xx % 256).astype(np.uint8), 120
    return Image.fromarray(rgba, "RGBA")


def test_images_of_256_px_or_more_also_keep_a_256_px_version_of_the_same_centre_square():
    yy, xx = np.mgrid[:300, :420]
    big = Image.fromarray(np.dstack([xx * 255 // 419, yy * 255 // 299, ((xx // 37 + yy // 37) % 2) * 200]).astype(np.uint8))
    exact = Image.open(io.BytesIO(shape_pngs()[0])).crop((0, 0, 256, 256))
    small = Image.open(io.BytesIO(shape_pngs()[100]))
    assert min(small.size) < 256
    report = _report([*_distinct(3), ("big.png", encode(big)), ("exact.png", encode(exact)), ("small.png", encode(small))])
    assert report.ok and report.large_images == 2
    assert _large(report, "small.png") is None and _large(report, "img-0.png") is None
    square = big.crop((60, 0, 360, 300))
    large = _large(report, "big.png")
    assert large.size == (256, 256) and large.mode == "RGB"
    assert np.array_equal(np.asarray(large), np.asarray(square.resize((256, 256), Image.Resampling.LANCZOS)))
    # Its 64 px training image is what it always was, from the same square.
    assert np.array_equal(_pixels(report, "big.png"), np.asarray(square.resize((64, 64), Image.Resampling.LANCZOS)))
    assert np.array_equal(np.asarray(_large(report, "exact.png")), np.asarray(exact))  # 256 px: kept as it is


def test_a_large_version_follows_the_alpha_rule_and_the_mode_of_its_set():
    cutout = encode(_wide_cutout())
    rgba_set = _report([*[(f"cut-{i}.png", d) for i, d in enumerate(transparent_pngs()[:3])], ("big.png", cutout)])
    assert rgba_set.transparent
    large = np.asarray(_large(rgba_set, "big.png"))
    assert large.shape == (256, 256, 4) and large[0, 0, 3] == 0 and large[128, 128, 3] == 255
    # The magenta hidden under alpha 0 is gone (Pillow's premultiplied Lanczos leaves at most a
    # rounding 1 there, in the 64 px image too).
    assert large[large[..., 3] == 0][:, :3].max() <= 1
    assert ((large[..., 3] > 0) & (large[..., 3] < 255)).any()  # the soft edge kept
    rgb_set = _report([*_distinct(3), ("big.png", cutout)])
    assert not rgb_set.transparent
    assert _large(rgb_set, "big.png").mode == "RGB" and _large(rgb_set, "big.png").getpixel((0, 0)) == (255, 255, 255)
    opaque_in_rgba = _report([*[(f"cut-{i}.png", d) for i, d in enumerate(transparent_pngs()[:3])],
                              ("photo.png", encode(Image.new("RGB", (300, 300), (9, 99, 199))))])
    assert np.asarray(_large(opaque_in_rgba, "photo.png"))[5, 5].tolist() == [9, 99, 199, 255]


def test_a_large_jpeg_is_decoded_no_smaller_than_its_256_px_version():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (1500, 2000, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=85)
    report = _report([*_distinct(3), ("photo.jpg", buffer.getvalue())])
    assert _large(report, "photo.jpg").size == (256, 256)
    assert Image.open(io.BytesIO(next(i for i in report.images if i.source == "photo.jpg").png)).size == (64, 64)


def test_pixel_art_and_grid_themes_keep_no_large_version():
    big = encode(Image.new("RGB", (512, 512), (10, 20, 30)))
    assert _report([*_distinct(3), ("big.png", big)], pixel_art=True).large_images == 0
    grid = _report([*_sprites(3), ("big.png", big)], pixel_art=True, pixel_grid=16)
    assert grid.ok and grid.large_images == 0


def test_at_most_max_large_images_are_kept_spread_over_the_upload():
    limits = uploads.Limits(min_images=3, max_large_images=8)
    images = [(f"shape-{i:03d}.png", encode(Image.open(io.BytesIO(d)).resize((256, 256))))
              for i, d in enumerate(generated_pngs()[:30])]
    report = _report(images, limits=limits)
    kept = [i.source for i in report.images if i.large is not None]
    assert report.ok and len(report.images) == 30 and 4 <= len(kept) <= 8
    assert kept[0] == "shape-000.png" and kept[-1] >= "shape-024.png"  # the whole upload, not its first few


def test_a_spread_keeps_every_stride_th_item_and_doubles_the_stride_when_full():
    spread = large_images.Spread(4)
    decisions = [spread.offer(key) for key in range(100, 113)]
    assert [taken for taken, _ in decisions] == [True] * 5 + [False, True, False, True, False, False, False, True]
    assert decisions[4][1] == [101, 103] and decisions[8][1] == [102, 106]  # positions 1, 3, then 2, 6
    assert [key for _, key in spread.kept] == [100, 104, 108, 112]
    assert large_images.Spread(0).offer(1) == (False, [])
