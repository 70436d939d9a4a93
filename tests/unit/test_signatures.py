"""accepted.verify_signature: what a receiver of callbacks relies on."""

from __future__ import annotations

import hashlib
import hmac

from accepted import verify_signature
from accepted.signatures import secret_list, sign

BODY = b'{"id":"j","status":"done"}'
NOW = 1_767_225_600


def test_the_header_is_the_hmac_of_time_dot_body() -> None:
    expected = hmac.new(b"s", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign("s", NOW, BODY) == f"t={NOW},v1={expected}"


def test_a_signature_checks_out_with_its_secret_only() -> None:
    header = sign("s", NOW, BODY)
    assert verify_signature(BODY, header, "s", now=NOW)
    assert verify_signature(BODY, header, ["other", "s"], now=NOW)
    assert not verify_signature(BODY, header, ["other"], now=NOW)
    assert not verify_signature(BODY, header, [], now=NOW)


def test_a_changed_body_fails() -> None:
    header = sign("s", NOW, BODY)
    assert not verify_signature(BODY + b" ", header, "s", now=NOW)
    assert not verify_signature(b'{"id": "j", "status": "done"}', header, "s", now=NOW)


def test_a_time_outside_the_tolerance_fails() -> None:
    header = sign("s", NOW, BODY)
    assert verify_signature(BODY, header, "s", now=NOW + 300)
    assert not verify_signature(BODY, header, "s", now=NOW + 301)
    assert not verify_signature(BODY, header, "s", now=NOW - 301)
    assert verify_signature(BODY, header, "s", tolerance=1000, now=NOW + 900)


def test_a_forged_time_fails() -> None:
    signature = sign("s", NOW, BODY).split(",")[1]
    assert not verify_signature(BODY, f"t={NOW + 10},{signature}", "s", now=NOW)


def test_missing_or_malformed_headers_fail() -> None:
    for header in (None, "", "t=1", "v1=ab", "t=x,v1=ab", "t=²,v1=ab", "garbage", f"t={NOW},v1="):
        assert not verify_signature(BODY, header, "s", now=NOW), header


def test_several_v1_values_pass_when_one_matches() -> None:
    good = sign("s", NOW, BODY)
    assert verify_signature(BODY, f"{good},v1=00ff", "s", now=NOW)


def test_the_setting_lists_secrets_first_signing() -> None:
    assert secret_list(" new , old,") == ["new", "old"]
    assert secret_list("") == []
