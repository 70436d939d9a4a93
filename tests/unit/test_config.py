"""Settings: defaults, ACCEPTED_* variables, flags, and what --help shows."""

from __future__ import annotations

import dataclasses

import pytest

from accepted.cli import build_parser
from accepted.config import SETTINGS_FIELDS, Settings, env_name


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.db == "./accepted.db"
    assert settings.body_limit == 1_048_576
    assert settings.max_attempts >= 3


def test_environment_overrides_defaults_and_flags_override_environment() -> None:
    env = {"ACCEPTED_PORT": "9001", "ACCEPTED_DEFAULT_LEASE": "2.5", "ACCEPTED_HOST": "::1"}
    settings = Settings.from_env(env, host="127.0.0.2")
    assert settings.port == 9001 and settings.default_lease == 2.5
    assert settings.host == "127.0.0.2"


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="ACCEPTED_PORT"):
        Settings.from_env({"ACCEPTED_PORT": "eighty"})


def test_serve_help_shows_every_setting_its_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = Settings()
    for f in SETTINGS_FIELDS:
        assert env_name(f.name) in text
        if f.metadata.get("env_only"):  # a secret: no flag, which `ps` would show
            assert "--" + f.name.replace("_", "-") not in text
            continue
        assert "--" + f.name.replace("_", "-") in text
        assert f"default {getattr(defaults, f.name)!r}" in text


def test_switches_read_from_the_environment_and_refuse_nonsense() -> None:
    assert Settings.from_env({"ACCEPTED_REQUIRE_LEASE": "on"}).require_lease is True
    assert Settings.from_env({"ACCEPTED_REQUIRE_LEASE": "0"}).require_lease is False
    with pytest.raises(ValueError, match="ACCEPTED_REQUIRE_LEASE"):
        Settings.from_env({"ACCEPTED_REQUIRE_LEASE": "maybe"})
    with pytest.raises(ValueError, match="auth"):
        Settings.from_env({"ACCEPTED_AUTH": "sometimes"})
    assert Settings.from_env({"ACCEPTED_CALLBACK_GUARD": "off"}).callback_guard == "off"
    with pytest.raises(ValueError, match="callback_guard"):
        Settings.from_env({"ACCEPTED_CALLBACK_GUARD": "maybe"})
    with pytest.raises(ValueError, match="tls"):
        Settings.from_env({"ACCEPTED_TLS_CERT": "cert.pem"})


def test_every_setting_is_documented() -> None:
    assert all(f.metadata.get("help") for f in dataclasses.fields(Settings))


def test_workers_default_to_the_cores_this_process_may_use() -> None:
    import os

    assert Settings.from_env({}).worker_count == len(os.sched_getaffinity(0))
    assert Settings.from_env({"ACCEPTED_WORKERS": "3"}).worker_count == 3
    assert Settings.from_env({}, workers=1).worker_count == 1
    with pytest.raises(ValueError, match="workers"):
        Settings(workers=-1)


def test_a_servers_postgresql_connections_are_shared_by_its_processes() -> None:
    assert Settings.from_env({}, workers=1).node_pool_size == 20
    assert Settings.from_env({}, workers=2).node_pool_size == 10
    assert Settings.from_env({}, workers=4).node_pool_size == 10  # at least 10 each
    assert Settings.from_env({"ACCEPTED_POOL_SIZE": "7"}, workers=4).node_pool_size == 7
    with pytest.raises(ValueError, match="pool_size"):
        Settings(pool_size=-1)
