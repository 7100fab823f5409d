"""Service configuration: values that used to be accepted and failed later (a NaN
interval, an unbounded [dispatch] key, a default profile, alloy or material that does
not exist) are refused at load, and an error names where the value came from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from printprep.errors import ConfigError
from printprep.mesh import ALLOYS
from printprep.profiles import list_materials, list_profiles
from printprep.service.config import load_settings, settings_to_toml


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "printprep.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[workers]\nheartbeat_s = nan\n", "[workers] heartbeat_s: must be a finite number"),
        ("[workers]\ndrain_timeout_s = nan\n", "[workers] drain_timeout_s: must be a finite"),
        ("[server]\nupload_limit_mb = inf\n", "[server] upload_limit_mb: must be a finite"),
        ("[dispatch]\npoll_s = 0\n", "[dispatch] poll_s: 0.0 is outside [0.01, 60]"),
        ("[dispatch]\nbatch_max = 0\n", "[dispatch] batch_max: 0 is outside"),
        ("[dispatch]\noffline_grace_s = -5\n", "[dispatch] offline_grace_s: -5.0 is outside"),
        ("[dispatch]\nreconnect_s = 0\n", "[dispatch] reconnect_s"),
        ("[dispatch]\nbatch_gap_mm = nan\n", "[dispatch] batch_gap_mm: must be a finite"),
        ('[server]\ndefault_profile = "phrozen-sonic-4kk"\n',
         "[server] default_profile: "),
        ('[server]\ndefault_profile = "../printers/x"\n', "not a valid profile name"),
        ('[pipeline]\nalloy = "sterlin"\n', "[pipeline] alloy: unknown alloy 'sterlin'"),
        ('[pipeline]\nmaterial = "no-such-resin"\n', "[pipeline] material: "),
    ],
)
def test_values_that_would_fail_later_are_refused_at_load(
    tmp_path: Path, text: str, needle: str
) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(p, env={})
    assert needle in str(info.value)
    assert str(info.value).startswith(f"{p}: ")


def test_unknown_default_profile_lists_the_known_ones(tmp_path: Path) -> None:
    p = _write(tmp_path, '[server]\ndefault_profile = "phrozen-sonic-4kk"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(p, env={})
    assert "unknown printer profile 'phrozen-sonic-4kk'" in str(info.value)
    assert all(prof.name in str(info.value) for prof in list_profiles())


@pytest.mark.parametrize(
    ("env", "overrides", "origin", "needle"),
    [
        ({"PRINTPREP_WATCH_STABLE_S": "nan"}, None, "PRINTPREP_WATCH_STABLE_S",
         "must be a finite number"),
        ({"PRINTPREP_WATCH_STABLE_S": "99999"}, None, "PRINTPREP_WATCH_STABLE_S",
         "99999.0 is outside [0, 3600]"),
        ({"PRINTPREP_PORT": "0"}, None, "PRINTPREP_PORT", "0 is outside [1, 65535]"),
        ({"PRINTPREP_WORKERS_HEARTBEAT_S": "40"}, None, "PRINTPREP_WORKERS_HEARTBEAT_S",
         "must exceed heartbeat_s (40.0)"),
        ({"PRINTPREP_DATABASE_URL": "nonsense"}, None, "PRINTPREP_DATABASE_URL",
         "database_url must be a URL"),
        ({"PRINTPREP_PIPELINE_ALLOY": "sterlin"}, None, "PRINTPREP_PIPELINE_ALLOY",
         "unknown alloy"),
        ({}, {"server": {"port": 0}}, "command line: [server] port", "is outside"),
        ({"PRINTPREP_PORT": "8001"}, {"server": {"host": ""}}, "command line: [server] host",
         "must not be empty"),
    ],
)
def test_an_error_names_the_variable_or_command_line_that_gave_the_value(
    tmp_path: Path, env: dict[str, str], overrides: dict | None, origin: str, needle: str
) -> None:
    # The file itself is valid: the bad value comes from elsewhere and the message says so.
    p = _write(tmp_path, '[server]\nport = 8123\n[watch]\nstable_s = 1\n')
    with pytest.raises(ConfigError) as info:
        load_settings(p, env=env, overrides=overrides)
    message = str(info.value)
    assert message.startswith(f"{origin}: "), message
    assert needle in message
    assert str(p) not in message


def test_a_rule_between_keys_names_the_file_when_both_came_from_it(tmp_path: Path) -> None:
    p = _write(tmp_path, "[workers]\nheartbeat_s = 10\n")
    with pytest.raises(ConfigError) as info:
        load_settings(p, env={"PRINTPREP_WORKERS_STALE_AFTER_S": "5"})
    assert str(info.value).startswith("PRINTPREP_WORKERS_STALE_AFTER_S: ")
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, "[workers]\nheartbeat_s = 10\nstale_after_s = 5\n"),
                      env={})
    assert str(info.value).startswith(f"{p}: [workers] stale_after_s: ")


def test_existing_names_and_bounded_dispatch_values_are_accepted_and_round_trip(
    tmp_path: Path,
) -> None:
    alloy = sorted(ALLOYS)[0]
    # Written as the mesh stage accepts it: any case, spaces or underscores for dashes.
    spelled = alloy.upper().replace("-", " ")
    material = list_materials()[0].name
    profile = list_profiles()[-1].name
    p = _write(tmp_path, f'[server]\ndefault_profile = "{profile}"\n'
                         f'[pipeline]\nalloy = "{spelled}"\nmaterial = "{material}"\n'
                         "[dispatch]\npoll_s = 1\nbatch_max = 4\nbatching = true\n")
    s = load_settings(p, env={})
    assert (s.server.default_profile, s.pipeline.alloy, s.pipeline.material) == (
        profile, spelled, material)
    # A whole number given for a seconds key is read as a number of seconds, as in the
    # other sections.
    assert s.dispatch == {"poll_s": 1.0, "batch_max": 4, "batching": True}
    assert isinstance(s.dispatch["poll_s"], float)
    again = _write(tmp_path, settings_to_toml(s))
    assert load_settings(again, env={}).dispatch == s.dispatch
    # Empty alloy and material still mean none.
    s = load_settings(_write(tmp_path, '[pipeline]\nalloy = ""\nmaterial = ""\n'), env={})
    assert (s.pipeline.alloy, s.pipeline.material) == ("", "")


def test_serve_with_an_unknown_default_profile_exits_2(tmp_path: Path) -> None:
    p = _write(tmp_path, '[server]\ndefault_profile = "no-such-printer"\n')
    r = subprocess.run([sys.executable, "-m", "printprep", "serve", "--config", str(p),
                        "--workers", "0", "--no-watch"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"printprep: {p}: [server] default_profile: ")


def test_dispatch_keys_have_environment_variables_too(tmp_path: Path) -> None:
    p = _write(tmp_path, "[dispatch]\npoll_s = 0.25\nbatch_max = 3\n")
    s = load_settings(p, env={"PRINTPREP_DISPATCH_POLL_S": "2",
                              "PRINTPREP_DISPATCH_BATCHING": "yes"})
    assert s.dispatch == {"poll_s": 2.0, "batch_max": 3, "batching": True}
    s = load_settings(p, env={"PRINTPREP_DISPATCH_OFFLINE_GRACE_S": "45"})
    assert s.dispatch == {"poll_s": 0.25, "batch_max": 3, "offline_grace_s": 45.0}
    with pytest.raises(ConfigError) as info:
        load_settings(p, env={"PRINTPREP_DISPATCH_RECONNECT_S": "0"})
    assert str(info.value).startswith("PRINTPREP_DISPATCH_RECONNECT_S: 0.0 is outside")


@pytest.mark.parametrize(
    ("var", "known"),
    [("PRINTPREP_WORKERS_CONUT", "PRINTPREP_WORKERS_COUNT"),
     ("PRINTPREP_WATCH_STABLE", "PRINTPREP_WATCH_STABLE_S"),
     ("PRINTPREP_DISPATCH_POL_S", "PRINTPREP_DISPATCH_POLL_S")],
)
def test_a_misspelt_section_variable_is_refused_not_ignored(
    var: str, known: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no printprep.toml of the working tree
    with pytest.raises(ConfigError) as info:
        load_settings(env={var: "1"})
    message = str(info.value)
    assert message.startswith(f"{var}: names no key of [")
    assert known in message


def test_variables_of_other_tools_and_the_short_forms_are_not_taken_for_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # PRINTPREP_SERVER is the clients' service URL, not a [server] key; the short forms
    # are read, and a long form wins over its short form.
    s = load_settings(env={"PRINTPREP_SERVER": "http://127.0.0.1:9", "PRINTPREP_TOKEN": "t",
                           "PRINTPREP_WORKERS": "2", "PRINTPREP_PORT": "9001",
                           "PRINTPREP_SERVER_PORT": "9000"})
    assert (s.server.port, s.worker_count) == (9000, 2)


def test_replace_checks_and_makes_folders_absolute_like_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    moved = s.replace("server", data_dir="elsewhere").replace("watch", dir="inbox")
    # Worker processes start elsewhere: the folders they receive must not depend on it.
    assert moved.server.data_dir == str(tmp_path / "elsewhere")
    assert moved.watch.dir == str(tmp_path / "inbox")
    assert moved.server.port == s.server.port
    with pytest.raises(ConfigError, match=r"^command line: \[pipeline\] alloy: unknown alloy"):
        s.replace("pipeline", alloy="sterlin")
