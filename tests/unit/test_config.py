"""Config parsing: the valid shapes, every error as `PATH:LINE: KEY: message` (all of them in one pass)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tui.core.config import (
    DEFAULT_KEYS,
    PROFILE_KEYS,
    Config,
    ConfigError,
    ConfigIssue,
    Defaults,
    Profile,
    RetryPolicy,
    builtin_config,
    load_config,
    parse_config_text,
)
from tui.core.jobs import Edition

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"
EXAMPLE_ENV = {"ARTLAB_API_TOKEN": "Yjha-api-token-1", "ARTLAB_DEDICATED_TOKEN": "Dedi-token-22"}


def issues_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "cfg.toml", env=env or {})
    assert str(caught.value) == "\n".join(str(issue) for issue in caught.value.issues)
    return [str(issue) for issue in caught.value.issues]


# ----------------------------------------------------------------------------------------------- valid


def test_api_profile_derives_endpoint_service_and_sink_queue() -> None:
    config = parse_config_text(
        '[profiles.a]\nedition = "api"\ninput_url = "http://1.2.3.4:8080/api/predict/comfy-svc/"\n'
        'token = "Yjha-abcdefgh"\n',
        env={},
    )
    profile = config.profiles["a"]
    assert profile.edition is Edition.API
    assert profile.input_url == "http://1.2.3.4:8080/api/predict/comfy-svc"
    assert (profile.endpoint, profile.service, profile.sink_queue) == ("1.2.3.4:8080", "comfy-svc", "comfy-svc/sink")
    assert profile.host == "1.2.3.4:8080"
    assert (profile.consumer_group, profile.window) == ("comfyq", 64)
    assert profile.token == "Yjha-abcdefgh"
    assert profile.masked_token == "Yjha…(13)"
    assert profile.retry == RetryPolicy()


def test_explicit_endpoint_and_service_win_over_the_url() -> None:
    config = parse_config_text(
        '[profiles.a]\nedition = "api"\ninput_url = "https://gw.example.com/custom/path"\n'
        'endpoint = "real.example.com"\nservice = "svc2"\nconsumer_group = "box-2"\nwindow = 9\n',
        env={},
    )
    profile = config.profiles["a"]
    assert (profile.endpoint, profile.service, profile.sink_queue) == ("real.example.com", "svc2", "svc2/sink")
    assert (profile.consumer_group, profile.window) == ("box-2", 9)


def test_dedicated_profile_normalizes_url_and_gets_a_stable_client_id() -> None:
    text = '[profiles.d]\nedition = "dedicated"\nurl = "http://host.example:81/"\n'
    first = parse_config_text(text, env={}).profiles["d"]
    again = parse_config_text(text, env={}).profiles["d"]
    other = parse_config_text(text.replace(":81", ":82"), env={}).profiles["d"]
    assert first.url == "http://host.example:81"
    assert first.host == "host.example:81"
    assert first.sink_queue is None
    assert first.client_id and first.client_id == again.client_id != other.client_id
    given = parse_config_text(text + 'client_id = "mine"\n', env={}).profiles["d"]
    assert given.client_id == "mine"


def test_defaults_flow_into_profiles_and_profiles_override_them() -> None:
    config = parse_config_text(
        "[defaults]\nrequest_timeout = 5\npoll_interval = 0.25\nmax_concurrent_submits = 2\n"
        '[profiles.a]\nedition = "dedicated"\nurl = "http://h"\n'
        '[profiles.b]\nedition = "dedicated"\nurl = "http://h"\npoll_interval = 3\nlost_after = 9.5\n'
        'retry = { max = 2, on = ["transport", "execution"] }\n',
        env={},
    )
    assert config.defaults == Defaults(request_timeout=5.0, poll_interval=0.25, max_concurrent_submits=2)
    a, b = config.profiles["a"], config.profiles["b"]
    assert (a.request_timeout, a.poll_interval, a.idle_poll_interval, a.lost_after) == (5.0, 0.25, 10.0, 120.0)
    assert a.max_concurrent_submits == 2
    assert (b.poll_interval, b.lost_after) == (3.0, 9.5)
    assert b.retry == RetryPolicy(max=2, on=frozenset({"transport", "execution"}))
    assert list(config.profiles) == ["a", "b"]  # file order kept



def test_every_setting_a_profile_shares_with_defaults_is_a_key_of_both_and_the_profile_wins() -> None:
    # A Defaults field that Profile also has is an override a profile may set: both tables must accept its key.
    shared = sorted({f.name for f in dataclasses.fields(Defaults)} & {f.name for f in dataclasses.fields(Profile)})
    assert shared and set(shared) <= set(DEFAULT_KEYS) and set(shared) <= set(PROFILE_KEYS), shared
    defaults_lines = "".join(f"{key} = 7\n" for key in shared)
    profile_lines = "".join(f"{key} = 3\n" for key in shared)
    text = f'[defaults]\n{defaults_lines}[profiles.p]\nedition = "dedicated"\nurl = "http://h"\n{profile_lines}'
    config = parse_config_text(text, env={})
    assert {key: getattr(config.defaults, key) for key in shared} == dict.fromkeys(shared, 7)
    assert {key: getattr(config.profiles["p"], key) for key in shared} == dict.fromkeys(shared, 3)

def test_token_env_is_resolved_from_the_given_environment() -> None:
    text = '[profiles.d]\nedition = "dedicated"\nurl = "http://h"\ntoken_env = "MY_TOKEN_VAR"\n'
    profile = parse_config_text(text, env={"MY_TOKEN_VAR": "Zq9x-secret-value"}).profiles["d"]
    assert (profile.token, profile.token_env, profile.token_source) == ("Zq9x-secret-value", "MY_TOKEN_VAR", "$MY_TOKEN_VAR")


def test_keymap_dotted_ids_and_ui_theme() -> None:
    config = parse_config_text(
        '[profiles.d]\nedition = "dedicated"\nurl = "http://h"\n'
        '[keymap]\nmain.submit = "ctrl+enter,ctrl+s"\n"main.cancel" = "x"\n[ui]\ntheme = "nord"\n',
        env={},
    )
    assert config.keymap == {"main.submit": "ctrl+enter,ctrl+s", "main.cancel": "x"}
    assert config.theme == "nord"


def test_oss_bucket_path_is_normalized() -> None:
    text = '[profiles.d]\nedition = "dedicated"\nurl = "http://h"\noss_bucket_path = "oss://b//p/"\n'
    assert parse_config_text(text, env={}).profiles["d"].oss_bucket_path == "oss://b/p"


def test_builtin_config_is_one_local_dedicated_profile() -> None:
    config = builtin_config()
    assert config.path is None
    assert list(config.profiles) == ["local"]
    local = config.profiles["local"]
    assert (local.edition, local.url, local.token) == (Edition.DEDICATED, "http://127.0.0.1:8188", None)
    assert local.client_id


def test_load_config_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert load_config(missing).profiles.keys() == {"local"}
    assert load_config(None).path is None
    with pytest.raises(ConfigError) as caught:
        load_config(missing, explicit=True)
    assert str(caught.value) == f"{missing}: config file not found"


def test_load_config_keeps_the_path_and_reports_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[profiles.d]\nedition = "dedicated"\nurl = "http://h"\n', encoding="utf-8")
    assert load_config(path, explicit=True).path == path
    path.write_text('[profiles.d]\nedition = "dedicate"\nurl = "http://h"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:2: profiles.d.edition: unknown edition 'dedicate' (expected 'api' or 'dedicated')"


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xff\xfe[profiles]")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: not UTF-8 text")


def test_unknown_profile_lookup_suggests_the_closest() -> None:
    config = parse_config_text('[profiles.artlab-api]\nedition = "dedicated"\nurl = "http://h"\n', env={})
    assert config.profile("artlab-api").name == "artlab-api"
    with pytest.raises(ConfigError) as caught:
        config.profile("artlab-apj")
    assert "no profile 'artlab-apj' (did you mean 'artlab-api'?); profiles: artlab-api" in str(caught.value)


# ----------------------------------------------------------------------------------------------- the example


def test_example_config_loads_cleanly_with_its_token_variables() -> None:
    config = load_config(EXAMPLE, explicit=True, env=EXAMPLE_ENV)
    assert list(config.profiles) == ["artlab-api", "artlab-dedicated", "local"]
    api = config.profiles["artlab-api"]
    assert api.edition is Edition.API and api.sink_queue == "comfyui-api/sink"
    assert api.token == EXAMPLE_ENV["ARTLAB_API_TOKEN"]
    assert api.retry == RetryPolicy(max=2, on=frozenset({"transport", "execution"}))
    dedicated = config.profiles["artlab-dedicated"]
    assert dedicated.token == EXAMPLE_ENV["ARTLAB_DEDICATED_TOKEN"] and dedicated.request_timeout == 60.0
    assert config.profiles["local"].token is None


def test_example_config_without_token_variables_names_them() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(EXAMPLE, explicit=True, env={})
    assert [issue.message for issue in caught.value.issues] == [
        "environment variable ARTLAB_API_TOKEN is not set",
        "environment variable ARTLAB_DEDICATED_TOKEN is not set",
    ]


@pytest.mark.parametrize("key", PROFILE_KEYS + DEFAULT_KEYS + ("keymap", "ui", "theme", "notify", "defaults"))
def test_example_config_documents_every_key_with_a_comment(key: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    # `key = value  # comment`, or a commented-out `# key = value  # comment`, or a [section] with a comment.
    pattern = rf"^(#\s*)?(\[{key}\]|{key}\s*=.*#\s*\S.*)$"
    documented = [line for line in text.splitlines() if re.match(pattern, line.strip())]
    header_with_comment = re.search(rf"#[^\n]*\n\[{key}\]", text)
    assert documented and (not documented[0].lstrip("# ").startswith("[") or header_with_comment), key


# ----------------------------------------------------------------------------------------------- errors

ERROR_CASES = [
    pytest.param(
        '[profiles.x]\nedition = "api"\ninput_url = \n',
        ["cfg.toml:3: TOML syntax error: Invalid value (column 13)"],
        id="toml-syntax",
    ),
    pytest.param(
        '[profiles.x]\nedition = "apii"\n',
        ["cfg.toml:2: profiles.x.edition: unknown edition 'apii' (expected 'api' or 'dedicated')"],
        id="unknown-edition",
    ),
    pytest.param(
        '[profiles.x]\nedition = "api"\ninput_urll = "http://127.0.0.1:1/api/predict/s"\n',
        [
            "cfg.toml:1: profiles.x.input_url: missing key",
            "cfg.toml:3: profiles.x.input_urll: unknown key (did you mean 'input_url'?)",
        ],
        id="mistyped-key",
    ),
    pytest.param(
        '[profiles.x]\nurl = "http://h"\n',
        ["cfg.toml:1: profiles.x.edition: missing key"],
        id="missing-edition",
    ),
    pytest.param(
        '[profiles.x]\nedition = "api"\ninput_url = "http://h/api/predict/s"\nwindow = "5"\n',
        ["cfg.toml:4: profiles.x.window: expected an integer, got a string"],
        id="wrong-type-window",
    ),
    pytest.param(
        '[profiles.x]\nedition = "api"\ninput_url = "http://h/api/predict/s"\nwindow = 0\n',
        ["cfg.toml:4: profiles.x.window: must be at least 1, got 0"],
        id="window-below-1",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "ftp://files.example"\n',
        ["cfg.toml:3: profiles.x.url: bad URL 'ftp://files.example': the scheme must be http or https"],
        id="url-scheme",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://"\n',
        ["cfg.toml:3: profiles.x.url: bad URL 'http://': no host"],
        id="url-no-host",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://h:99999"\n',
        ["cfg.toml:3: profiles.x.url: bad URL 'http://h:99999': Port out of range 0-65535"],
        id="url-bad-port",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://h"\ntoken_env = "COMFYQ_TEST_UNSET_VAR"\n',
        ["cfg.toml:4: profiles.x.token_env: environment variable COMFYQ_TEST_UNSET_VAR is not set"],
        id="token-env-unset",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://h"\ntoken = "Yjha-both-1234"\ntoken_env = "T"\n',
        ["cfg.toml:5: profiles.x.token_env: give either token or token_env, not both"],
        id="token-and-token-env",
    ),
    pytest.param(
        '[profiles.x]\nedition = "api"\ninput_url = "http://h/predict/s"\n',
        [
            "cfg.toml:3: profiles.x.input_url: cannot find the service in 'http://h/predict/s': "
            'expected http://<endpoint>/api/predict/<service> (or give service = "...")'
        ],
        id="input-url-without-service",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://h"\nretry = { max = 2, on = ["timeout"] }\n',
        ["cfg.toml:4: profiles.x.retry.on: cannot retry on 'timeout' (choose from execution, transport)"],
        id="retry-unknown-category",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://h"\nretry = { max = -1, on = [] }\n',
        ["cfg.toml:4: profiles.x.retry.max: must be at least 0, got -1"],
        id="retry-negative",
    ),
    pytest.param(
        '[defaults]\npoll_intervall = 2\nrequest_timeout = -1\n[profiles.x]\nedition = "dedicated"\nurl = "http://h"\n',
        [
            "cfg.toml:2: defaults.poll_intervall: unknown key (did you mean 'poll_interval'?)",
            "cfg.toml:3: defaults.request_timeout: must be greater than 0, got -1",
        ],
        id="defaults",
    ),
    pytest.param(
        '[profile.x]\nedition = "dedicated"\n',
        [
            # No [profiles] yet is fine (the built-in profile is used): the typo alone is the problem.
            "cfg.toml:1: profile: unknown key (did you mean 'profiles'?)",
        ],
        id="unknown-top-level",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://h"\noss_bucket_path = "oss://b/../etc"\n',
        ["cfg.toml:4: profiles.x.oss_bucket_path: OSS bucket path 'oss://b/../etc' contains '..'"],
        id="bucket-dotdot",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://h"\ninput_url = "http://h/api/predict/s"\n',
        ['cfg.toml:4: profiles.x.input_url: not used by edition = "dedicated" (that takes url)'],
        id="api-key-on-dedicated",
    ),
    pytest.param(
        '[profiles.x]\nedition = "api"\nurl = "http://h"\nclient_id = "c"\ninput_url = "http://h/api/predict/s"\n',
        [
            'cfg.toml:3: profiles.x.url: not used by edition = "api" (that takes input_url)',
            'cfg.toml:4: profiles.x.client_id: not used by edition = "api"',
        ],
        id="dedicated-keys-on-api",
    ),
    pytest.param(
        '[profiles]\nx = 3\n',
        ["cfg.toml:2: profiles.x: expected a table, got an integer"],
        id="profile-not-a-table",
    ),
    pytest.param(
        '[profiles.x]\nedition = "dedicated"\nurl = "http://h"\nlost_after = "soon"\n[keymap]\nmain.submit = 5\n',
        [
            "cfg.toml:4: profiles.x.lost_after: expected a number of seconds, got a string",
            'cfg.toml:6: keymap.main.submit: expected keys as a string (e.g. "ctrl+s"), got an integer',
        ],
        id="number-and-keymap-types",
    ),
    pytest.param(
        'profiles.x = { edition = "dedicated", url = "gopher://h" }\n',
        ["cfg.toml:1: profiles.x.url: bad URL 'gopher://h': the scheme must be http or https"],
        id="inline-table-falls-back-to-its-line",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERROR_CASES)
def test_config_errors_name_path_line_key(text: str, expected: list[str]) -> None:
    assert issues_of(text) == expected


def test_empty_token_variable_is_an_error() -> None:
    text = '[profiles.x]\nedition = "dedicated"\nurl = "http://h"\ntoken_env = "EMPTY_ONE"\n'
    assert issues_of(text, env={"EMPTY_ONE": ""}) == [
        "cfg.toml:4: profiles.x.token_env: environment variable EMPTY_ONE is empty"
    ]


def test_every_issue_in_the_file_is_reported_at_once_in_file_order() -> None:
    text = (
        '[profiles.one]\nedition = "dedicated"\nurl = "http:/nohost"\n'
        "\n"
        '[profiles.two]\nedition = "api"\ninput_url = "http://h/api/predict/s"\nwindoww = 3\n'
        "\n"
        '[profiles.three]\nedition = "remote"\n'
    )
    assert issues_of(text) == [
        "cfg.toml:3: profiles.one.url: bad URL 'http:/nohost': no host",
        "cfg.toml:8: profiles.two.windoww: unknown key (did you mean 'window'?)",
        "cfg.toml:11: profiles.three.edition: unknown edition 'remote' (expected 'api' or 'dedicated')",
    ]


def test_an_error_never_shows_the_token_value() -> None:
    token = "Qk7r-never-shown-0042"
    text = f'[profiles.x]\nedition = "dedicated"\nurl = "ftp://h"\ntoken = "{token}"\ntoken_env = "ALSO"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "cfg.toml", env={"ALSO": "Qk7r-other-value-11"})
    assert token not in str(caught.value) and "Qk7r-other" not in str(caught.value)
    assert len(caught.value.issues) == 2


def test_issue_formats() -> None:
    assert str(ConfigIssue("a.toml", 3, "profiles.x.url", "bad")) == "a.toml:3: profiles.x.url: bad"
    assert str(ConfigIssue("a.toml", None, "", "config file not found")) == "a.toml: config file not found"
    assert isinstance(builtin_config(), Config)


def test_external_keys_of_a_dedicated_profile_default_and_are_checked() -> None:
    base = '[profiles.d]\nedition = "dedicated"\nurl = "http://127.0.0.1:8188"\n'
    profile = parse_config_text(base, "cfg.toml", env={}).profiles["d"]
    assert (profile.external, profile.external_history) == (True, 200)
    profile = parse_config_text(base + "external = false\nexternal_history = 0\n", "cfg.toml", env={}).profiles["d"]
    assert (profile.external, profile.external_history) == (False, 0)
    assert issues_of(base + 'external = "yes"\nexternal_history = 20000\n') == [
        "cfg.toml:4: profiles.d.external: expected true or false, got a string",
        "cfg.toml:5: profiles.d.external_history: must be at most 10000 (ComfyUI keeps no more history), got 20000",
    ]
    assert issues_of(base + "external_history = -1\n") == [
        "cfg.toml:4: profiles.d.external_history: must be at least 0, got -1"
    ]
    api = '[profiles.a]\nedition = "api"\ninput_url = "http://h/api/predict/s"\nexternal = false\n'
    assert issues_of(api) == ['cfg.toml:4: profiles.a.external: not used by edition = "api"']


def test_an_empty_profiles_table_is_still_a_problem() -> None:
    assert issues_of("[profiles]\n") == ["cfg.toml:1: profiles: no profiles: add at least one [profiles.NAME] table"]


# ----------------------------------------------------------------------------------------------- OSS settings


def test_oss_settings_and_where_outputs_are_read_from() -> None:
    config = parse_config_text(
        '[profiles.a]\nedition = "api"\ninput_url = "http://h/api/predict/s"\noss_region = "cn-hangzhou"\n'
        'oss_endpoint = "oss-cn-hangzhou-internal.aliyuncs.com"\noss_access_key_id_env = "MY_ID"\n\n'
        '[profiles.d]\nedition = "dedicated"\nurl = "http://h"\n\n'
        '[profiles.d2]\nedition = "dedicated"\nurl = "http://h"\noutputs_from = "oss"\noss_region = "cn-beijing"\n',
        "cfg.toml",
        env={},
    )
    api, dedicated, via_oss = config.profiles["a"], config.profiles["d"], config.profiles["d2"]
    assert api.outputs_from == "oss" and api.oss.region == "cn-hangzhou"
    assert api.oss.endpoint == "oss-cn-hangzhou-internal.aliyuncs.com"
    assert (api.oss.access_key_id_env, api.oss.access_key_secret_env) == ("MY_ID", "OSS_ACCESS_KEY_SECRET")
    assert dedicated.outputs_from == "service" and not dedicated.oss.configured
    assert via_oss.outputs_from == "oss" and via_oss.oss.region == "cn-beijing"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('outputs_from = "disk"', "profiles.x.outputs_from: expected \"service\" or \"oss\", got 'disk'"),
        ('oss_access_key_secret_env = "abc/def+secret=="', "profiles.x.oss_access_key_secret_env: expected the NAME of an environment variable (letters, digits, _)"),
    ],
)
def test_bad_oss_settings_are_named(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(f'[profiles.x]\nedition = "dedicated"\nurl = "http://h"\n{line}\n', "cfg.toml", env={})
    assert [str(issue) for issue in caught.value.issues] == [f"cfg.toml:4: {message}"]
    assert "abc/def+secret==" not in str(caught.value) or "outputs_from" in message


def test_api_edition_cannot_read_outputs_from_the_service() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(
            '[profiles.x]\nedition = "api"\ninput_url = "http://h/api/predict/s"\noutputs_from = "service"\n', "c.toml", env={}
        )
    assert "no /view to read from" in str(caught.value)
