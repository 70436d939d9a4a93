"""--callback-secret: every callback carries Accepted-Signature, and the
verification code docs/security.md shows accepts it (Python, and Node.js)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from accepted import verify_signature
from accepted.signatures import sign
from tests.http.conftest import StartServer
from tests.http.helpers import CallbackReceiver, Delivery, enqueue, report, take

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _deliver_one(start_server: StartServer, receiver: CallbackReceiver, **env: str) -> Delivery:
    server = start_server(**env)
    with httpx.Client(base_url=server.url) as client:
        job = enqueue(client, "q", callback_url=receiver.url)
        assert take(client, "q") is not None
        assert report(client, job["id"], "done", {"ok": True}).status_code == 200
    (delivery,) = receiver.wait_for(1)
    return delivery


@pytest.mark.documents("callback-signature")
def test_callbacks_are_signed_with_the_first_secret(
    start_server: StartServer, receiver: CallbackReceiver
) -> None:
    delivery = _deliver_one(start_server, receiver, ACCEPTED_CALLBACK_SECRET="new,old")
    header = delivery.headers["accepted-signature"]
    t = int(re.fullmatch(r"t=(\d+),v1=[0-9a-f]{64}", header).group(1))  # type: ignore[union-attr]
    assert abs(t - time.time()) < 60
    assert header == sign("new", t, delivery.raw)
    assert verify_signature(delivery.raw, header, ["new"])
    assert not verify_signature(delivery.raw, header, ["old"])


def test_without_a_secret_callbacks_are_unsigned(
    start_server: StartServer, receiver: CallbackReceiver
) -> None:
    delivery = _deliver_one(start_server, receiver)
    assert "accepted-signature" not in delivery.headers


def _snippet(language: str) -> str:
    """The code block docs/security.md marks with `<!-- verify:<language> -->`."""
    text = SECURITY_MD.read_text()
    found = re.search(rf"<!-- verify:{language} -->\n```\w+\n(.*?)\n```", text, re.S)
    assert found, f"no verify:{language} block in docs/security.md"
    return found.group(1)


def test_the_python_example_of_security_md_accepts_a_real_delivery(
    start_server: StartServer, receiver: CallbackReceiver
) -> None:
    namespace: dict[str, object] = {}
    exec(compile(_snippet("python"), str(SECURITY_MD), "exec"), namespace)
    handle = namespace["handle_callback"]
    assert callable(handle)
    delivery = _deliver_one(start_server, receiver, ACCEPTED_CALLBACK_SECRET="old-secret")
    assert handle(delivery.raw, delivery.headers) == 200
    assert handle(delivery.raw.replace(b"true", b"false"), delivery.headers) == 401
    assert handle(delivery.raw, {}) == 401


def _node_check(tmp_path: Path) -> Callable[[bytes, str, list[str]], bool]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node.js example is not run")
    module = tmp_path / "verify.js"
    module.write_text(_snippet("node"))

    def check(raw: bytes, header: str, secrets: list[str]) -> bool:
        script = (
            f"const {{ verifySignature }} = require({json.dumps(str(module))});"
            "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
            "process.stdout.write(String(verifySignature("
            "Buffer.from(input.raw, 'base64'), input.header, input.secrets)));"
        )
        payload = {"raw": base64.b64encode(raw).decode(), "header": header, "secrets": secrets}
        out = subprocess.run(
            [node, "-e", script], input=json.dumps(payload).encode(), capture_output=True,
            check=True, timeout=30,
        )
        return out.stdout == b"true"

    return check


def test_the_node_example_of_security_md_accepts_a_real_delivery(
    start_server: StartServer, receiver: CallbackReceiver, tmp_path: Path
) -> None:
    check = _node_check(tmp_path)
    delivery = _deliver_one(start_server, receiver, ACCEPTED_CALLBACK_SECRET="s3cret,old")
    header = delivery.headers["accepted-signature"]
    assert check(delivery.raw, header, ["other", "s3cret"])
    assert not check(delivery.raw, header, ["old"])
    assert not check(delivery.raw + b" ", header, ["s3cret"])
    stale = sign("s3cret", int(time.time()) - 301, delivery.raw)
    assert not check(delivery.raw, stale, ["s3cret"])
