"""GET /api/generations/{id}/events: the job's state now, then its final state, over SSE."""
import json

from tests.conftest import wait_generation


def read_events(lines, limit: int = 10, comments: list[str] | None = None) -> list[tuple[str, dict]]:
    """(event name, JSON data) pairs until the server closes the stream; comments (the server's
    keep-alives) are skipped, or collected into `comments`."""
    events, name, data = [], "message", []
    for line in lines:
        if line.startswith(":"):
            if comments is not None:
                comments.append(line)
            continue
        if line == "":
            if data:
                events.append((name, json.loads("\n".join(data))))
                if len(events) == limit:
                    break
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


def test_the_stream_of_a_new_job_ends_with_its_candidates(make_user):
    user, _ = make_user()
    job = user.post("/api/themes/galactic-droids/generations", json={"count": 2}).json()
    with user.stream("GET", f"/api/generations/{job['id']}/events", timeout=90) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        events = read_events(response.iter_lines())
    assert all(name == "status" for name, _ in events)
    final = events[-1][1]
    # A stream cut by its time limit ends on the last state it was told, never "done": ending on
    # "done" means it ended on the worker's notice (or the job was done when it began).
    assert final["status"] == "done", events
    assert final["id"] == job["id"]
    assert len(final["candidates"]) == 2
    # The same body as the polling endpoint.
    assert final == user.get(f"/api/generations/{job['id']}").json()


def test_a_finished_job_s_stream_gives_its_state_at_once(make_user):
    user, _ = make_user()
    job = user.post("/api/themes/galactic-droids/generations", json={"count": 1}).json()
    body = wait_generation(user, job["id"])
    comments: list[str] = []
    # A read timeout bounds a server that would wait silently; one that waited for a notice would
    # send its keep-alive comments (every 15 s) meanwhile.
    with user.stream("GET", f"/api/generations/{job['id']}/events", timeout=30) as response:
        assert response.status_code == 200
        events = read_events(response.iter_lines(), comments=comments)
    assert events == [("status", body)]
    assert comments == [], "the stream of a finished job waited for something before it ended"


def test_someone_elses_stream_is_a_404_json_error(make_user):
    alice, _ = make_user()
    bob, _ = make_user()
    job = alice.post("/api/themes/galactic-droids/generations", json={"count": 1}).json()
    response = bob.get(f"/api/generations/{job['id']}/events")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "generation_not_found"
    assert set(response.json()["error"]) == {"code", "message"}


def test_a_person_s_stream_is_a_404_to_a_visitor(client, make_user):
    user, _ = make_user()
    job = user.post("/api/themes/galactic-droids/generations", json={"count": 1}).json()
    response = client.get(f"/api/generations/{job['id']}/events")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "generation_not_found"


def test_the_stream_waits_for_the_worker_s_notice(make_user):
    """A job no worker will run: the stream shows it queued, then follows what tasks.py does on
    a failure (commit mark_failed, then publish)."""
    from effigies.db import session_scope
    from effigies.generation import service
    from effigies.generation.events import publish_job_update

    user, user_id = make_user()
    with session_scope() as session:
        job_id = service.create_job(session=session, user_id=user_id, slug="galactic-droids", count=1).id
    with user.stream("GET", f"/api/generations/{job_id}/events") as response:
        lines = response.iter_lines()
        first = [next(lines) for _ in range(3)]
        assert first[0] == "event: status" and first[2] == ""
        assert json.loads(first[1][len("data:"):])["status"] == "queued"
        with session_scope() as session:
            service.mark_failed(session=session, job_id=job_id, error="The generator failed: please try again.")
        publish_job_update(job_id)
        comments: list[str] = []
        events = read_events(lines, comments=comments)
    assert [(name, body["status"], body["error"]) for name, body in events] == [
        ("status", "failed", "The generator failed: please try again.")
    ]
    # The notice, not a timer, ended it: no heartbeat of the server's (every 15 s) came first. A lost
    # notice would show keep-alives, then the stream's end at its time limit without the event.
    assert comments == [], comments
