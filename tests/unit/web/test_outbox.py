"""The outbox page: what the outbox received, newest first, with reasons; an upload from
the browser goes through the outbox path (the same checks, archive/ and rejected/) and
answers with the processor's outcome; refused uploads change nothing; all audited."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest

from hhu_sync.config import parse_config
from hhu_sync.daemon_lock import DaemonLock
from hhu_sync.keys import KeyStore
from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.loader import MAX_INPUT_BYTES
from hhu_sync.outbox.processor import OutboxProcessor
from hhu_sync.outbox.upload import MAX_NAME_BYTES, Handover, UploadRefused, clean_name
from tests.unit.web.configured import BAD_SCHEME, ROOT, SCHEME, files_in
from tests.unit.web.conftest import PASSWORD, csrf_of, log_in


def _upload(client, name: str, data: bytes, *, csrf: str | None = None,
            path: str = "/api/outbox"):
    token = csrf if csrf is not None else csrf_of(client)
    return client.post(path, data={"csrf": token}, files={"file": (name, data)})


def _uploads(store) -> list:
    return [e for e in store.audit_log() if e.action == "outbox.upload"]


def test_the_outbox_needs_a_session_and_nothing_is_written_without_one(depot_client,
                                                                       config, store):
    c = depot_client
    assert c.get("/api/outbox").status_code == 401
    r = c.get("/outbox")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.post("/api/outbox", files={"file": ("a.toml", SCHEME)}).status_code == 401
    assert c.post("/outbox", files={"file": ("a.toml", SCHEME)}).status_code == 303
    assert files_in(config.paths.outbox) == [] and _uploads(store) == []


def test_an_upload_needs_the_csrf_token_and_the_office_role(depot_client, config, store):
    c = depot_client
    log_in(c, "otto")
    r = _upload(c, "a.toml", SCHEME, csrf="wrong")
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    assert c.post("/api/outbox", files={"file": ("a.toml", SCHEME)}).status_code == 403
    log_in(c, "dana")                                      # depot staff may not upload
    r = _upload(c, "a.toml", SCHEME)
    assert r.status_code == 403 and "may not upload" in r.json()["error"]
    page = c.get("/outbox").text
    assert 'enctype="multipart/form-data"' not in page    # no form for them either
    assert files_in(config.paths.outbox) == [] and _uploads(store) == []


def test_a_good_scheme_is_accepted_into_the_library_and_archived(depot_client, config,
                                                                 store):
    c = depot_client
    log_in(c, "otto")
    r = _upload(c, "as230-flat.toml", SCHEME)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "accepted" and body["kind"] == "scheme"
    assert body["sha256"] == hashlib.sha256(SCHEME).hexdigest()
    assert body["moved_to"].startswith("archive/") and str(config.paths.archive) not in r.text
    assert store.scheme("as230-flat") is not None
    assert files_in(config.paths.outbox) == []
    assert [p.split("/")[-1] for p in files_in(config.paths.archive)] == ["as230-flat.toml"]
    (audit,) = _uploads(store)
    assert (audit.user, audit.target) == ("otto", "as230-flat.toml")
    assert json.loads(audit.after) == {"sha256": body["sha256"], "status": "accepted",
                                       "kind": "scheme"}
    listed = c.get("/api/outbox").json()
    assert [(i["name"], i["status"]) for i in listed["inputs"]] == [
        ("as230-flat.toml", "accepted")] and listed["next"] is None


def test_a_bad_scheme_is_rejected_with_each_problem_by_line_and_field(depot_client, config,
                                                                      store):
    c = depot_client
    log_in(c, "ada")
    r = _upload(c, "bad.toml", BAD_SCHEME)
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == "rejected"
    assert [(p["line"], p["field"]) for p in body["problems"]] == [
        (7, "scheme.bogus"), (16, "day_profiles[0].switches[0].rate")]
    assert "outbox/bad.toml:7: scheme.bogus: unknown field" in body["reason"]
    assert sorted(files_in(config.paths.rejected)) == ["bad.toml", "bad.toml.reason.txt"]
    assert json.loads(_uploads(store)[0].after)["status"] == "rejected"
    page = c.get("/outbox").text
    assert "line 7: scheme.bogus: unknown field" in page
    # the form's answer is the page, showing the problems as a table
    page = _upload(c, "bad-again.toml", BAD_SCHEME + b"\n", path="/outbox")
    assert page.status_code == 422
    assert '<td class="line">16</td><td class="field">day_profiles[0].switches[0].rate</td>' \
        in page.text


def test_the_same_content_again_is_a_duplicate_naming_the_first(depot_client, config,
                                                                store):
    c = depot_client
    log_in(c, "otto")
    assert _upload(c, "bad.toml", BAD_SCHEME).status_code == 422
    r = _upload(c, "bad.toml", BAD_SCHEME)
    assert r.status_code == 409
    body = r.json()
    assert body["status"] == "duplicate" and body["name"] == "bad.toml"
    assert "already received as bad.toml" in body["reason"]
    assert [p["line"] for p in body["problems"]] == [7, 16]   # the first one's problems
    assert sorted(files_in(config.paths.rejected)) == [
        "bad-2.toml", "bad-2.toml.reason.txt", "bad.toml", "bad.toml.reason.txt"]


def test_a_duplicate_is_listed_with_its_state_and_the_file_it_repeats(depot_client, config,
                                                                      store):
    c = depot_client
    log_in(c, "otto")
    assert _upload(c, "first.toml", SCHEME).status_code == 201
    assert _upload(c, "again.toml", SCHEME).status_code == 409
    listed = c.get("/api/outbox").json()["inputs"]
    assert [(i["name"], i["status"], i["kind"], i["duplicate_of"]) for i in listed] == [
        ("again.toml", "duplicate", "scheme", "first.toml"),
        ("first.toml", "accepted", "scheme", "")]
    assert listed[0]["moved_to"].startswith("rejected/")
    only = c.get("/api/outbox?status=duplicate").json()["inputs"]
    assert [i["name"] for i in only] == ["again.toml"]
    page = c.get("/outbox").text
    assert '<div class="duplicate-of">of first.toml</div>' in page
    assert store.inputs_seen([hashlib.sha256(SCHEME).hexdigest()]).popitem()[1][
        "name"] == "first.toml"                 # the content's own row is untouched


HEADLESS_CSV = (b"# list: L9\n# crew: crew-north\n# due: 2026-12-01\n"
                b"serial,site\nM1,Mill Lane\n")              # no task column
BAD_ROW_CSV = (b"# list: L9\n# crew: crew-north\n# due: 2026-12-01\n"
               b"serial,site,address,model,task,scheme,notes\nM1,a,b,,fly,,\n")


def test_a_rejected_csv_lists_its_header_problems_and_row_problems(depot_client, config):
    c = depot_client
    log_in(c, "otto")
    body = _upload(c, "headless.csv", HEADLESS_CSV).json()
    assert (body["status"], body["kind"]) == ("rejected", "meter_list")
    assert [(p["line"], p["field"], p["message"]) for p in body["problems"]] == [
        (4, "row 4, column task", "missing from the header row")]
    body = _upload(c, "bad-row.csv", BAD_ROW_CSV).json()
    assert [(p["line"], p["field"]) for p in body["problems"]] == [(5, "row 5, column task")]
    page = _upload(c, "no-id.csv", b"serial,task\nM1,read\n", path="/outbox").text
    # problems of the whole list (no line) are rows of the table too
    assert '<td class="line"></td><td class="field">list.id</td><td>missing</td>' in page
    listing = c.get("/outbox").text
    assert "line 4: row 4, column task: missing from the header row" in listing


@pytest.mark.parametrize(("name", "data", "kind"), [
    ("s.toml", b"[scheme]\nid = \n", "scheme"),                 # not even TOML
    ("s2.toml", b"# a scheme\n[scheme]\nid = 'x'\n", "scheme"),
    ("l.toml", b"list.id = 'L1'\n", "meter_list"),
    ("l.csv", HEADLESS_CSV, "meter_list"),
    ("n.toml", b"hello = 1\n", "unknown")])
def test_a_rejected_file_keeps_the_kind_it_declares(depot_client, name, data, kind):
    c = depot_client
    log_in(c, "otto")
    body = _upload(c, name, data).json()
    assert (body["status"], body["kind"]) == ("rejected", kind)
    (row,) = [i for i in c.get("/api/outbox").json()["inputs"] if i["name"] == name]
    assert row["kind"] == kind


@pytest.mark.parametrize(("given", "kept"), [
    ("../x.toml", "x.toml"), ("../../etc/x.toml", "x.toml"), ("C:\\Users\\o\\x.toml", "x.toml"),
    ("  x.toml ", "x.toml"), ("ünïcode.toml", "ünïcode.toml")])
def test_a_file_name_keeps_its_last_part_only(given, kept):
    assert clean_name(given) == kept


@pytest.mark.parametrize("given", [
    "a\x00b.toml", "a\nb.toml", "a\x1b[31mb.toml", "a\u202eb.toml", ".hidden.toml", "..",
    "../", "", "x" * (MAX_NAME_BYTES + 1) + ".toml", "x.exe", "x.toml.part", "x.tmp"])
def test_a_bad_file_name_is_refused_naming_the_field(given):
    with pytest.raises(UploadRefused) as caught:
        clean_name(given)
    assert caught.value.field == "filename" and caught.value.status == 400


@pytest.mark.parametrize("name", ["a\x00b.toml", ".x.toml", "y" * 300 + ".toml", "x.sh"])
def test_file_name_attacks_are_400_and_write_nothing(depot_client, config, store, name):
    c = depot_client
    log_in(c, "otto")
    r = c.post("/api/outbox", params={"filename": name}, content=SCHEME,
               headers={"x-csrf-token": csrf_of(c), "content-type": "application/octet-stream"})
    assert r.status_code == 400 and r.json()["error"].startswith("filename:")
    assert files_in(config.paths.outbox) == [] and _uploads(store) == []
    assert files_in(config.paths.rejected) == []


def test_a_path_in_the_name_cannot_climb_out_of_the_outbox(depot_client, config, tmp_path):
    c = depot_client
    log_in(c, "otto")
    r = _upload(c, "../../x.toml", SCHEME)
    assert r.status_code == 201 and r.json()["name"] == "x.toml"
    assert not (tmp_path / "x.toml").exists() and not (tmp_path.parent / "x.toml").exists()
    assert [p.split("/")[-1] for p in files_in(config.paths.archive)] == ["x.toml"]


def test_the_raw_body_with_a_filename_parameter(depot_client, config, store):
    c = depot_client
    log_in(c, "otto")
    r = c.post("/api/outbox?filename=raw.toml", content=SCHEME,
               headers={"x-csrf-token": csrf_of(c), "content-type": "text/plain"})
    assert r.status_code == 201 and r.json()["name"] == "raw.toml"
    r = c.post("/api/outbox", content=SCHEME, headers={"x-csrf-token": csrf_of(c)})
    assert r.status_code == 400 and r.json()["error"].startswith("filename:")
    # curl --data-binary sends a form's content type: with ?filename= it is the raw file
    other = SCHEME.replace(b'model = "AS230"', b'model = "AS230"\n# by curl', 1)
    r = c.post("/api/outbox?filename=curl.toml", content=other,
               headers={"x-csrf-token": csrf_of(c),
                        "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 201 and r.json()["name"] == "curl.toml"


def test_an_upload_over_the_outbox_limit_is_413_and_writes_nothing(depot_client, config,
                                                                   store):
    c = depot_client
    log_in(c, "otto")
    big = b"#" * (MAX_INPUT_BYTES + 1)
    r = _upload(c, "big.toml", big)                        # the file over the limit
    assert r.status_code == 413 and r.json()["error"].startswith("file:")
    huge = b"#" * (MAX_INPUT_BYTES + 200_000)              # the body: refused unread
    r = _upload(c, "huge.toml", huge)
    assert r.status_code == 413
    r = c.post("/api/outbox?filename=big.toml", content=huge,
               headers={"x-csrf-token": csrf_of(c)})
    assert r.status_code == 413
    page = _upload(c, "big.toml", big, path="/outbox")
    assert page.status_code == 413 and "larger than the outbox takes" in page.text
    assert files_in(config.paths.outbox) == [] and _uploads(store) == []


def test_bad_uploads_are_400_naming_the_field(depot_client, config):
    c = depot_client
    log_in(c, "otto")
    token = csrf_of(c)
    r = c.post("/api/outbox", data={"csrf": token, "file": "not a file"})
    assert r.status_code == 400 and r.json()["error"].startswith("file:")
    r = _upload(c, "empty.toml", b"")
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = c.post("/api/outbox", headers={"x-csrf-token": token},
               files=[("file", ("a.toml", SCHEME)), ("file", ("b.toml", SCHEME))])
    assert r.status_code == 400 and r.json()["error"].startswith("file:")
    assert files_in(config.paths.outbox) == []


def test_a_taken_name_in_the_outbox_is_never_replaced(config, store):
    config.paths.outbox.mkdir(parents=True)
    held = config.paths.outbox / "x.toml"
    held.write_bytes(b"back office's, still being written")
    lock = DaemonLock(config.paths.database)
    lock.acquire()              # a daemon "runs": the file is only dropped, and waited for
    try:
        result = Handover(config, store, wait_s=0.2).take("x.toml", SCHEME)
    finally:
        lock.release()
    assert result.status == "waiting" and result.name == "x-2.toml"
    assert held.read_bytes() == b"back office's, still being written"
    assert (config.paths.outbox / "x-2.toml").read_bytes() == SCHEME
    assert not [p for p in config.paths.outbox.iterdir() if p.name.startswith(".")]


def test_with_a_daemon_running_its_processor_takes_the_file(depot_client, config, store):
    """The daemon holds the lock and processes the outbox; the upload waits for its
    outcome in the store instead of processing the file itself."""
    lock = DaemonLock(config.paths.database)
    lock.acquire()
    stop = threading.Event()
    handled: list[str] = []

    def daemon() -> None:
        p = config.paths
        proc = OutboxProcessor(config, store, load_catalog(p.catalog), KeyStore(p.keystore))
        while not stop.is_set():
            for path in sorted(p.outbox.glob("*.toml")) if p.outbox.exists() else []:
                time.sleep(0.1)
                handled.append(proc.process(path).status)
            time.sleep(0.05)
        proc.close()

    worker = threading.Thread(target=daemon)
    worker.start()
    try:
        c = depot_client
        log_in(c, "otto")
        r = _upload(c, "bad.toml", BAD_SCHEME)
        assert r.status_code == 422 and [p["line"] for p in r.json()["problems"]] == [7, 16]
        r = _upload(c, "good.toml", SCHEME)
        assert r.status_code == 201
    finally:
        stop.set()
        worker.join()
        lock.release()
    assert handled == ["rejected", "accepted"]          # by the "daemon", not the web app


def test_markup_in_a_file_name_or_reason_is_shown_as_text(depot_client, store):
    store.record_input("f" * 64, "<script>alert(1)</script>.toml", "unknown", "rejected",
                       "<img src=x onerror=alert(1)>: list.crew: <b>bad</b>", "",
                       "2026-11-25T12:00:00+00:00")
    c = depot_client
    log_in(c, "dana")
    page = c.get("/outbox").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>bad</b>" not in page and "<img" not in page


def test_the_list_is_paged_newest_first(depot_client, store):
    for n in range(7):
        store.record_input(f"{n:064x}", f"f{n}.toml", "scheme", "accepted", "", "",
                           f"2026-11-25T12:00:0{n}+00:00")
    c = depot_client
    log_in(c, "dana")
    first = c.get("/api/outbox?limit=4").json()
    assert [i["name"] for i in first["inputs"]] == ["f6.toml", "f5.toml", "f4.toml", "f3.toml"]
    rest = c.get(f"/api/outbox?limit=4&after={first['next']}").json()
    assert [i["name"] for i in rest["inputs"]] == ["f2.toml", "f1.toml", "f0.toml"]
    assert rest["next"] is None
    page = c.get("/outbox?limit=4").text
    assert f'href="/outbox?after={first["next"]}"' in page
    for bad in ("limit=0", "limit=x", "after=nonsense", "status=lost"):
        r = c.get(f"/api/outbox?{bad}")
        assert r.status_code == 400 and r.json()["error"].split(" ")[0] in (
            "limit:", "after:", "status:")


def _raw_form(csrf: str, name: bytes, data: bytes) -> tuple[bytes, str]:
    """A multipart body written by hand: the file name's bytes as given (a client
    library would percent-encode a NUL)."""
    b = b"hhu-boundary-7f"
    body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n' +
            csrf.encode() + b"\r\n--" + b +
            b'\r\nContent-Disposition: form-data; name="file"; filename="' + name +
            b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data +
            b"\r\n--" + b + b"--\r\n")
    return body, f"multipart/form-data; boundary={b.decode()}"


@pytest.mark.parametrize("name", [b"a\x00b.toml", b"a\x01b.toml", b"../.x.toml",
                                  b"z" * 400 + b".toml", "\u202eb.toml".encode()])
def test_file_name_attacks_in_a_form_are_400_too(depot_client, config, store, name):
    c = depot_client
    log_in(c, "otto")
    body, kind = _raw_form(csrf_of(c), name, SCHEME)
    r = c.post("/api/outbox", content=body, headers={"content-type": kind})
    assert r.status_code == 400 and r.json()["error"].startswith("filename:")
    assert files_in(config.paths.outbox) == [] and _uploads(store) == []


def test_a_list_waiting_for_its_schemes_stays_in_the_outbox_202(depot_client, config,
                                                                store):
    c = depot_client
    log_in(c, "otto")
    route = (ROOT / "schemes" / "examples" / "route-south.csv").read_bytes()
    r = _upload(c, "route-south.csv", route)
    assert r.status_code == 202 and r.json()["status"] == "waiting"
    assert "waiting for the schemes" in r.json()["reason"]
    assert files_in(config.paths.outbox) == ["route-south.csv"]   # the daemon takes it later
    assert json.loads(_uploads(store)[0].after)["status"] == "waiting"


def test_with_a_daemon_a_list_waiting_for_its_schemes_is_answered_at_once(config, store):
    """The daemon holds such a list without a row in the store: the upload says so
    without polling for an outcome that cannot come yet."""
    def no_waiting(seconds: float) -> None:
        raise AssertionError("the upload waited")

    lock = DaemonLock(config.paths.database)
    lock.acquire()
    try:
        route = (ROOT / "schemes" / "examples" / "route-south.csv").read_bytes()
        result = Handover(config, store, sleep=no_waiting).take("route-south.csv", route)
        assert (result.status, result.kind) == ("waiting", "meter_list")
        assert "waiting for the schemes it names (as230-flat)" in result.reason
        # a list with another problem too is the daemon's to reject: the upload waits
        with pytest.raises(AssertionError, match="waited"):
            Handover(config, store, sleep=no_waiting).take(
                "other.csv", route.replace(b"serial,", b"serial,bogus,", 1))
    finally:
        lock.release()
    assert files_in(config.paths.outbox) == ["other.csv", "route-south.csv"]


def test_a_file_dropped_is_audited_even_when_handling_it_fails(depot_client, config, store,
                                                               monkeypatch):
    def broken(self, path, sha, seen):
        raise OSError(5, "Input/output error", str(config.paths.archive))

    monkeypatch.setattr(Handover, "settle", broken)
    c = depot_client
    log_in(c, "otto")
    r = _upload(c, "a.toml", SCHEME)
    assert r.status_code == 503 and str(config.paths.archive) not in r.text
    assert files_in(config.paths.outbox) == ["a.toml"]
    (entry,) = _uploads(store)
    assert json.loads(entry.after) == {"sha256": hashlib.sha256(SCHEME).hexdigest(),
                                       "status": "error", "kind": ""}


def test_hhu_sync_web_alone_handles_an_upload_itself(tmp_path, config, store):
    """The server ``hhu-sync web`` runs (no daemon, no cradles): its app has the
    configuration, so an upload is processed here, under the daemon lock."""
    import httpx2 as httpx

    from hhu_sync.web.server import WebServer

    paths = {k: str(getattr(config.paths, k)) for k in (
        "outbox", "archive", "rejected", "exports", "database", "keystore", "catalog")}
    served = parse_config({"paths": paths, "web": {"listen": "127.0.0.1:0"},
                           "limits": {"debounce_seconds": 0.05}}, tmp_path / "web.toml")
    server = WebServer(served, store).start()
    try:
        with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as c:
            c.post("/login", data={"username": "otto", "password": PASSWORD})
            token = c.get("/api/me").json()["csrf"]
            r = c.post("/outbox", data={"csrf": token},
                       files={"file": ("as230-flat.toml", SCHEME)})
            assert r.status_code == 201 and "as230-flat.toml: accepted" in r.text
    finally:
        server.stop()
    assert store.scheme("as230-flat") is not None
    assert not DaemonLock(config.paths.database).path.exists()     # let go again
