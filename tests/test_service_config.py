"""Service configuration: embedded defaults, TOML, PRINTPREP_* variables, validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from printprep.errors import ConfigError
from printprep.service.config import load_settings, settings_to_toml


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "printprep.toml"
    p.write_text(text)
    return p


def test_defaults_run_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.source is None
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8000)
    assert s.data_dir == tmp_path / "printprep-data"
    assert s.watch_dir == tmp_path / "printprep-data" / "watch"
    assert s.database_url == f"sqlite:///{tmp_path / 'printprep-data' / 'printprep.db'}"
    assert [p["type"] for p in s.printers] == ["virtual"]
    assert s.printers[0]["profile"] == s.server.default_profile
    assert s.upload_limit_bytes == 500 * 1024 * 1024


def test_printprep_toml_in_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "[server]\nport = 8123\n")
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.server.port == 8123
    assert s.source == str(tmp_path / "printprep.toml")


def test_environment_overrides_file_and_command_line_overrides_both(tmp_path: Path) -> None:
    p = _write(tmp_path, '[server]\nport = 8123\nhost = "127.0.0.1"\n[watch]\nstable_s = 3\n')
    s = load_settings(p, env={"PRINTPREP_PORT": "9001", "PRINTPREP_WATCH_STABLE_S": "0.25",
                              "PRINTPREP_WORKERS": "0"})
    assert s.server.port == 9001
    assert s.watch.stable_s == 0.25
    assert s.worker_count == 0
    s = load_settings(p, env={"PRINTPREP_PORT": "9001"}, overrides={"server": {"port": 9002}})
    assert s.server.port == 9002


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("[server]\nprot = 1\n", {}, "unknown key(s) prot in [server]"),
        ("[servr]\n", {}, "unknown section(s) servr"),
        ('[server]\nport = "80"\n', {}, "[server] port: must be a whole number"),
        ("[server]\nport = 70000\n", {}, "[server] port: 70000 is outside [1, 65535]"),
        ("[server]\nupload_limit_mb = 0\n", {}, "upload_limit_mb"),
        ("[workers]\nheartbeat_s = 10\nstale_after_s = 5\n", {}, "stale_after_s"),
        ("[server]\nport = \n", {}, "not valid TOML"),
        ("", {"PRINTPREP_PORT": "eighty"}, "PRINTPREP_PORT: must be a whole number"),
        ("", {"PRINTPREP_WATCH_ENABLED": "maybe"}, "PRINTPREP_WATCH_ENABLED"),
        ('[server]\ndatabase_url = "nonsense"\n', {}, "database_url must be a URL"),
        ('[[printers]]\nname = "a"\ntype = "virtual"\n', {}, "missing required key 'profile'"),
        ('[[printers]]\nname = "a"\ntype = "laser"\nprofile = "p"\n', {}, "type 'laser'"),
        ('[[printers]]\nname = "a b"\ntype = "virtual"\nprofile = "p"\n', {}, "name 'a b'"),
        ('[[printers]]\nname = "a"\ntype = "virtual"\nprofile = "p"\n'
         '[[printers]]\nname = "a"\ntype = "virtual"\nprofile = "p"\n', {}, "used twice"),
    ],
)
def test_bad_configuration_is_refused_with_file_and_key(
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(p, env=env)
    assert needle in str(info.value)
    if not env:
        assert str(p) in str(info.value)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_printers_list_can_be_emptied_and_round_trips(tmp_path: Path) -> None:
    p = _write(tmp_path, "printers = []\n[server]\nport = 8001\n")
    s = load_settings(p, env={})
    assert s.printers == ()
    p2 = tmp_path / "again.toml"
    p2.write_text(settings_to_toml(s))
    assert load_settings(p2, env={}).server == s.server


def test_serve_with_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    p = _write(tmp_path, "[server]\nport = 0\n")
    r = subprocess.run([sys.executable, "-m", "printprep", "serve", "--config", str(p)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("printprep: ")
    assert "[server] port" in r.stderr and str(p) in r.stderr


def test_serve_with_bad_printer_key_exits_2(tmp_path: Path) -> None:
    p = _write(tmp_path, '[[printers]]\nname = "v"\ntype = "virtual"\n'
                         'profile = "phrozen-sonic-4k"\ntime_scael = 0.1\n')
    r = subprocess.run([sys.executable, "-m", "printprep", "serve", "--config", str(p)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "time_scael" in r.stderr


def test_serve_on_a_taken_port_exits_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "printprep", "serve", "--port", str(port),
                            "--workers", "0", "--no-watch"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr


@pytest.mark.parametrize("name", ["a b", ".hidden", "-x", "x" * 65, "ok-1.2_x", "x" * 64, "ring/1"])
def test_config_and_printer_registry_judge_names_alike(tmp_path: Path, name: str) -> None:
    """One name rule: a printer name the service config accepts is one the connector
    registry accepts, and a refused one is refused by both with the same wording."""
    from printprep.printers.registry import NAME_RULE, validate_printer_config

    p = _write(tmp_path, f'[[printers]]\nname = "{name}"\ntype = "virtual"\nprofile = "phrozen-sonic-4k"\n')
    try:
        load_settings(p, env={})
        config_ok, config_msg = True, ""
    except ConfigError as exc:
        config_ok, config_msg = False, str(exc)
    try:
        validate_printer_config({"name": name, "type": "virtual", "profile": "phrozen-sonic-4k"})
        registry_ok, registry_msg = True, ""
    except ConfigError as exc:
        registry_ok, registry_msg = False, str(exc)
    assert config_ok == registry_ok, (config_msg, registry_msg)
    assert config_ok == (name in ("ok-1.2_x", "x" * 64))
    if not config_ok:
        assert NAME_RULE in config_msg and NAME_RULE in registry_msg
