"""Where callbacks may go: credentials and over-long URLs are refused at
enqueue; beyond loopback, inside addresses are refused (IP literals at enqueue,
names at delivery), unless --callback-allow opens their range.

Every server here listens on 0.0.0.0 (so the rule is on) but is only ever
spoken to over 127.0.0.1, and every delivery that is made goes to loopback.
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.http.helpers import (
    CallbackReceiver,
    JobJSON,
    assert_error,
    enqueue,
    get,
    report,
    take,
    until,
)
from tests.support.servers import ServerProcess, free_port

Guarded = Callable[..., ServerProcess]


@pytest.fixture
def guarded(db_target: str, tmp_path: Path) -> Iterator[Guarded]:
    """Start a server listening beyond loopback: `guarded(ACCEPTED_CALLBACK_ALLOW=...)`."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        proc = ServerProcess(
            db=db_target,
            log_path=tmp_path / "server.log",
            env={"ACCEPTED_AUTH": "off", **env},
            args=["--host", "0.0.0.0"],
        )
        started.append(proc.start())
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


def _finish(client: httpx.Client, url: str, queue: str = "q") -> JobJSON:
    job = enqueue(client, queue, callback_url=url)
    assert take(client, queue) is not None
    assert report(client, job["id"], "done", 1).status_code == 200
    return job


def _counted(client: httpx.Client, outcome: str) -> float:
    """accepted_callbacks_total{outcome=...} of this server's /metrics (0 when absent)."""
    text = client.get("/metrics").text
    found = re.search(rf'^accepted_callbacks_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _settled(client: httpx.Client, job_id: str) -> dict[str, object]:
    """The job's callback once it is no longer pending."""
    job = until(lambda: (j := get(client, job_id))["callback"]["state"] != "pending" and j)
    callback: dict[str, object] = job["callback"]
    return callback


@pytest.mark.documents("callback-url-400")
def test_credentials_in_a_callback_url_are_a_400(api: httpx.Client, q: str) -> None:
    headers = {"X-Accepted-Callback-URL": "http://user:pw@hooks.example/done"}
    error = assert_error(
        api.post("/jobs", json={"queue": q}, headers=headers),
        400,
        "X-Accepted-Callback-URL",
        "user name or password",
    )
    assert "pw" not in error["message"]
    batch = [{"queue": q, "callback_url": "https://token@hooks.example/"}]
    assert_error(api.post("/jobs", json=batch), 400, "[0].callback_url", "user name")


@pytest.mark.documents("callback-url-400")
@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example/",
        "file:///etc/passwd",
        "http://",
        "hooks.example/x",
        "http://hooks.example:99999/",
        "gopher://127.0.0.1:6379/",
    ],
)
def test_other_schemes_and_broken_urls_are_a_400(api: httpx.Client, q: str, url: str) -> None:
    headers = {"X-Accepted-Callback-URL": url}
    assert_error(
        api.post("/jobs", json={"queue": q}, headers=headers), 400, "X-Accepted-Callback-URL"
    )


@pytest.mark.documents("callback-url-400")
def test_a_callback_url_over_2_kib_is_a_400_that_does_not_echo_it(
    api: httpx.Client, q: str
) -> None:
    long = "http://hooks.example/" + "a" * 2048
    response = api.post("/jobs", json={"queue": q}, headers={"X-Accepted-Callback-URL": long})
    error = assert_error(response, 400, "X-Accepted-Callback-URL", "2048")
    assert "aaaa" not in error["message"]
    assert_error(
        api.post("/jobs", json=[{"queue": q, "callback_url": long}]), 400, "[0].callback_url"
    )
    fits = "http://hooks.example/" + "a" * (2048 - 21)
    assert enqueue(api, q, callback_url=fits)["callback"]["url"] == fits


@pytest.mark.documents("callback-destination-enqueue")
def test_inside_ip_literals_are_refused_at_enqueue_beyond_loopback(guarded: Guarded) -> None:
    server = guarded()
    literals = [
        "http://127.0.0.1:9/x",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://192.168.0.10/",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0:8000/jobs",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[fd00::1]/",
    ]
    with httpx.Client(base_url=server.url) as client:
        for url in literals:
            response = client.post(
                "/jobs", json={"queue": "q"}, headers={"X-Accepted-Callback-URL": url}
            )
            error = assert_error(response, 400, "callbacks may not reach", "--callback-allow")
            assert error["code"] == "callback_url_refused"
        batch = [{"queue": "q"}, {"queue": "q", "callback_url": "http://127.0.0.1/"}]
        assert_error(client.post("/jobs", json=batch), 400, "[1].callback_url", "loopback")
        assert client.get("/jobs/00000000-0000-0000-0000-000000000000").status_code == 404


@pytest.mark.documents("callback-refused")
def test_a_name_resolving_to_loopback_is_accepted_then_refused_at_delivery(
    guarded: Guarded, receiver: CallbackReceiver
) -> None:
    server = guarded()
    port = receiver.url.split(":")[2].split("/")[0]
    with httpx.Client(base_url=server.url) as client:
        job = _finish(client, f"http://localhost:{port}/hook")  # 202: names are checked later
        callback = _settled(client, job["id"])
        assert callback["state"] == "refused"
        assert callback["last_error"] == (
            "localhost resolves only to loopback addresses, which callbacks may not "
            "reach (unless allowed by --callback-allow)"
        )
        assert callback["next_attempt_at"] is None  # not retried
        assert get(client, job["id"])["status"] == "done"  # the job itself is untouched
        assert _counted(client, "refused") == 1 and _counted(client, "retried") == 0
    assert receiver.deliveries == []


@pytest.mark.documents("callback-destination-allow")
def test_an_allowed_range_is_delivered_to_pinned_keeping_the_host_name(
    guarded: Guarded, receiver: CallbackReceiver
) -> None:
    server = guarded(ACCEPTED_CALLBACK_ALLOW="127.0.0.1/32")
    port = receiver.url.split(":")[2].split("/")[0]
    with httpx.Client(base_url=server.url) as client:
        by_name = _finish(client, f"http://localhost:{port}/hook")
        by_ip = _finish(client, receiver.url)
        assert _settled(client, by_name["id"])["state"] == "delivered"
        assert _settled(client, by_ip["id"])["state"] == "delivered"
        deliveries = {d.body["id"]: d for d in receiver.wait_for(2)}
        assert deliveries[by_name["id"]].headers["host"] == f"localhost:{port}"
        refused = client.post(
            "/jobs", json={"queue": "q"}, headers={"X-Accepted-Callback-URL": "http://127.0.0.2/"}
        )
        assert_error(refused, 400, "loopback")


@pytest.mark.documents("callback-no-probe")
def test_a_closed_port_and_a_silent_one_read_the_same(guarded: Guarded) -> None:
    server = guarded(
        ACCEPTED_CALLBACK_ALLOW="127.0.0.0/8",
        ACCEPTED_CALLBACK_RETRIES="1",
        ACCEPTED_CALLBACK_TIMEOUT="0.5",
    )
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections into its backlog, never answers
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        closed_url = f"http://127.0.0.1:{free_port()}/hook"
        with httpx.Client(base_url=server.url) as client:
            closed = _finish(client, closed_url)
            quiet = _finish(client, silent_url)
            errors = {_settled(client, j["id"])["last_error"] for j in (closed, quiet)}
            assert _counted(client, "given_up") == 2
    assert errors == {"connection failed"}


@pytest.mark.documents("callback-no-redirect")
def test_a_redirect_is_not_followed(api: httpx.Client, q: str) -> None:
    target = CallbackReceiver().start()
    redirector = CallbackReceiver(answers=[307, 200], redirect_to=target.url).start()
    try:
        job = _finish(api, redirector.url, q)
        first, second = redirector.wait_for(2)  # the 307 failed the attempt; it was retried
        assert first.body["id"] == second.body["id"] == job["id"]
        callback = _settled(api, job["id"])
        assert (callback["state"], callback["attempts"]) == ("delivered", 2)
        assert target.deliveries == []
    finally:
        redirector.stop()
        target.stop()


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for DNS name `name` (openssl), and its key."""
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _tls_receiver(cert: Path, key: Path, names: list[str | None]) -> CallbackReceiver:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    return CallbackReceiver(tls=context).start()


@pytest.mark.documents("callback-refused")
def test_https_to_a_name_is_pinned_with_the_name_for_sni_and_the_certificate(
    guarded: Guarded, tmp_path: Path
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to test TLS with")
    good_cert, good_key = _certificate(tmp_path, "localhost")
    wrong_cert, wrong_key = _certificate(tmp_path, "other.example")
    bundle = tmp_path / "trusted.pem"  # the server trusts both; only one names localhost
    bundle.write_bytes(good_cert.read_bytes() + wrong_cert.read_bytes())
    names: list[str | None] = []
    good = _tls_receiver(good_cert, good_key, names)
    wrong = _tls_receiver(wrong_cert, wrong_key, [])
    server = guarded(ACCEPTED_CALLBACK_ALLOW="127.0.0.1/32", ACCEPTED_CALLBACK_RETRIES="1",
                     SSL_CERT_FILE=str(bundle))  # fmt: skip
    try:
        good_port = good.url.split(":")[2].split("/")[0]
        wrong_port = wrong.url.split(":")[2].split("/")[0]
        with httpx.Client(base_url=server.url) as client:
            delivered = _finish(client, f"https://localhost:{good_port}/hook")
            mismatch = _finish(client, f"https://localhost:{wrong_port}/hook")
            assert _settled(client, delivered["id"])["state"] == "delivered"
            failed = _settled(client, mismatch["id"])
        (delivery,) = good.wait_for(1)
        assert delivery.headers["host"] == f"localhost:{good_port}"
        assert "localhost" in names  # the TLS server name is the URL's host, not the address
        assert (failed["state"], failed["last_error"]) == ("gave_up", "connection failed")
        assert wrong.deliveries == []
    finally:
        good.stop()
        wrong.stop()


METADATA = "http://169.254.169.254/latest/meta-data/"
ADMIN = "test-guard-admin-0123456789abcdef"


def _enqueue_to_metadata(
    db_target: str, tmp_path: Path, env: dict[str, str], args: list[str]
) -> httpx.Response:
    """POST /jobs with a link-local callback URL to a fresh server on 127.0.0.1."""
    env = {"ACCEPTED_ADMIN_TOKEN": ADMIN, **env}
    server = ServerProcess(db=db_target, log_path=tmp_path / "server.log", env=env, args=args)
    server.start()
    try:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=server.url, headers=auth) as client:
            return client.post(
                "/jobs", json={"queue": "q"}, headers={"X-Accepted-Callback-URL": METADATA}
            )
    finally:
        server.stop()


@pytest.mark.documents("callback-destination-guard")
@pytest.mark.parametrize(
    ("auth", "guard", "refused"),
    [
        ("on", None, True),  # the documented reverse-proxy set-up: loopback, auth on
        ("on", "off", False),  # the operator turned the guard off
        ("off", "on", True),  # the operator turned it on without auth
    ],
)
def test_on_loopback_the_guard_follows_auth_and_callback_guard(
    db_target: str, tmp_path: Path, auth: str, guard: str | None, refused: bool
) -> None:
    args = [] if guard is None else ["--callback-guard", guard]
    response = _enqueue_to_metadata(db_target, tmp_path, {"ACCEPTED_AUTH": auth}, args)
    if refused:
        error = assert_error(response, 400, "169.254.169.254", "link-local")
        assert error["code"] == "callback_url_refused"
    else:
        assert response.status_code == 202, response.text
        assert response.json()["callback"]["url"] == METADATA
