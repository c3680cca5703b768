"""Design boards: a sheet of 16 or 64 watermarked fresh samples, as PNG and PDF."""
import io
import time

from PIL import Image


def _wait_board(user, board_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = user.get(f"/api/boards/{board_id}").json()
        if body["status"] == "done":
            return body
        time.sleep(0.3)
    raise AssertionError(f"board {board_id} not drawn in {timeout}s")


def test_a_board_of_16_comes_as_png_and_pdf(make_user):
    user, _ = make_user()
    created = user.post("/api/themes/pixel-heroes/boards", json={"count": 16})
    assert created.status_code == 202, created.text
    body = _wait_board(user, created.json()["id"])

    png = user.get(body["png_url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert "attachment" in png.headers["content-disposition"] and "planche-pixel-heroes" in png.headers["content-disposition"]
    sheet = Image.open(io.BytesIO(png.content))
    assert 4 * 192 < sheet.width < 4 * 192 + 200  # four tiles of 192 px a row, with margins
    # Sixteen different samples: the tiles along the first row all differ.
    tiles = [sheet.crop((48 + i * 204, 88, 48 + i * 204 + 192, 88 + 192)).tobytes() for i in range(4)]
    assert len(set(tiles)) == 4

    pdf = user.get(body["pdf_url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_the_board_file_is_named_in_the_persons_language(make_user):
    user, _ = make_user()
    assert user.patch("/api/me", json={"locale": "en"}).status_code == 200
    body = _wait_board(user, user.post("/api/themes/pixel-heroes/boards", json={"count": 16}).json()["id"])
    disposition = user.get(body["pdf_url"]).headers["content-disposition"]
    assert 'filename="board-pixel-heroes-' in disposition and "planche" not in disposition


def test_board_requests_are_checked(make_user, client):
    user, _ = make_user()
    other, _ = make_user()
    assert user.post("/api/themes/pixel-heroes/boards", json={"count": 20}).status_code == 422
    assert user.post("/api/themes/no-such-theme/boards", json={"count": 16}).status_code == 404
    assert client.post("/api/themes/pixel-heroes/boards", json={"count": 16}).status_code == 401
    board_id = user.post("/api/themes/pixel-heroes/boards", json={"count": 16}).json()["id"]
    # Someone else's board, or a made-up id, is simply unknown.
    assert other.get(f"/api/boards/{board_id}").status_code == 404
    assert user.get("/api/boards/..%2F..%2Fetc").status_code == 404
    assert user.get("/api/boards/" + "0" * 32).status_code == 404
    _wait_board(user, board_id)
    assert other.get(f"/api/boards/{board_id}/board.png").status_code == 404


def test_transparent_samples_are_drawn_on_the_sheet():
    from datetime import date

    import numpy as np

    from effigies.generation.board import SHEET, compose

    hidden = np.zeros((64, 64, 4), dtype=np.uint8)
    hidden[..., 2] = 255  # blue, fully transparent
    sheet = compose([Image.fromarray(hidden)] * 16, per_row=4, title="Test", made_on=date(2026, 11, 25), pixel_art=False)
    tile = np.asarray(sheet)[88:88 + 192, 48:48 + 192].reshape(-1, 3)
    assert tuple(np.median(tile, axis=0)) == SHEET
