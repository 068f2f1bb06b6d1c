"""Writing profiles back with tomlkit: the user's comments and layout survive; nothing invalid is written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tui.core.config import ConfigError, delete_profile, load_config, save_profile, save_ui_settings
from tui.core.jobs import Edition

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"
ENV = {"ARTLAB_API_TOKEN": "Yjha-api-token-1", "ARTLAB_DEDICATED_TOKEN": "Dedi-token-22"}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, path)
    return path


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    old, new = before.splitlines(), after.splitlines()
    return [line for line in old if line not in new], [line for line in new if line not in old]


def test_updating_a_key_keeps_its_comment_and_every_other_line(config_file: Path) -> None:
    before = config_file.read_text(encoding="utf-8")
    save_profile(config_file, "artlab-dedicated", {"poll_interval": 3.5, "url": "http://other.example:81/"})
    after = config_file.read_text(encoding="utf-8")
    removed, added = changed_lines(before, after)
    assert removed == [
        'url = "http://comfyui-dedicated.1234567890.cn-shanghai.pai-eas.aliyuncs.com/"  '
        '# the service\'s base URL (trailing "/" is fine)',
        "poll_interval = 2.0                                        # per-profile override of [defaults]",
    ]
    assert added == [
        'url = "http://other.example:81/"  # the service\'s base URL (trailing "/" is fine)',
        "poll_interval = 3.5                                        # per-profile override of [defaults]",
    ]
    profile = load_config(config_file, env=ENV).profiles["artlab-dedicated"]
    assert (profile.url, profile.poll_interval) == ("http://other.example:81", 3.5)


def test_new_profile_goes_after_the_last_profile_not_inside_the_next_sections_comment(config_file: Path) -> None:
    before = config_file.read_text(encoding="utf-8")
    save_profile(
        config_file,
        "fresh",
        {"edition": Edition.API, "input_url": "http://127.0.0.1:9/api/predict/svc", "retry": {"max": 1, "on": ["transport"]}},
    )
    after = config_file.read_text(encoding="utf-8")
    assert after.startswith(before.split("# Rebind keys")[0].rstrip("\n"))
    assert (
        '[profiles.fresh]\nedition = "api"\ninput_url = "http://127.0.0.1:9/api/predict/svc"\n'
        'retry = {max = 1, on = ["transport"]}\n\n# Rebind keys'
    ) in after
    assert after.endswith(before.split('url = "http://127.0.0.1:8188"\n')[1])
    config = load_config(config_file, env=ENV)
    assert list(config.profiles) == ["artlab-api", "artlab-dedicated", "local", "fresh"]
    assert config.profiles["fresh"].retry.max == 1


def test_rename_rewrites_the_header_in_place(config_file: Path) -> None:
    before = config_file.read_text(encoding="utf-8")
    save_profile(config_file, "my box", {"url": "http://127.0.0.1:8189"}, old_name="local")
    removed, added = changed_lines(before, config_file.read_text(encoding="utf-8"))
    assert removed == ["[profiles.local]", 'url = "http://127.0.0.1:8188"']
    assert added == ['[profiles."my box"]', 'url = "http://127.0.0.1:8189"']
    assert list(load_config(config_file, env=ENV).profiles) == ["artlab-api", "artlab-dedicated", "my box"]


def test_rename_onto_an_existing_name_is_refused(config_file: Path) -> None:
    before = config_file.read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        save_profile(config_file, "artlab-api", {}, old_name="local")
    assert str(caught.value) == f"{config_file}: profiles.artlab-api: a profile with this name exists"
    assert config_file.read_text(encoding="utf-8") == before


def test_none_removes_a_key(config_file: Path) -> None:
    save_profile(config_file, "artlab-dedicated", {"request_timeout": None})
    text = config_file.read_text(encoding="utf-8")
    assert "request_timeout = 60" not in text
    assert load_config(config_file, env=ENV).profiles["artlab-dedicated"].request_timeout == 30.0


def test_an_invalid_profile_is_not_written(config_file: Path) -> None:
    before = config_file.read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        save_profile(config_file, "bad", {"edition": "dedicated", "url": "ftp://x"})
    assert [issue.key for issue in caught.value.issues] == ["profiles.bad.url"]
    assert str(caught.value.issues[0]).endswith("profiles.bad.url: bad URL 'ftp://x': the scheme must be http or https")
    assert config_file.read_text(encoding="utf-8") == before


def test_token_env_unset_here_does_not_block_saving(config_file: Path) -> None:
    save_profile(config_file, "remote", {"edition": "dedicated", "url": "http://h", "token_env": "SET_ELSEWHERE_ONLY"})
    assert 'token_env = "SET_ELSEWHERE_ONLY"' in config_file.read_text(encoding="utf-8")


def test_delete_profile_keeps_the_rest(config_file: Path) -> None:
    before = config_file.read_text(encoding="utf-8")
    delete_profile(config_file, "artlab-api")
    after = config_file.read_text(encoding="utf-8")
    assert "[profiles.artlab-api]" not in after and "ARTLAB_API_TOKEN" not in after
    # The profile's block and the comment right above its header go; the next section keeps its own comment.
    api_block = before[before.index("# API edition") : before.index("# Dedicated edition")]
    assert after == before.replace(api_block, "")
    assert list(load_config(config_file, env=ENV).profiles) == ["artlab-dedicated", "local"]
    with pytest.raises(ConfigError):
        delete_profile(config_file, "artlab-api")


def test_new_file_is_private_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    save_profile(path, "x", {"edition": "dedicated", "url": "http://h:1", "token": "Yjha-new-file-token"})
    assert (os.stat(path).st_mode & 0o777) == 0o600
    assert load_config(path, env={}).profiles["x"].token == "Yjha-new-file-token"


def test_existing_file_mode_is_kept(config_file: Path) -> None:
    config_file.chmod(0o640)
    save_profile(config_file, "local", {"url": "http://127.0.0.1:1"})
    assert (os.stat(config_file).st_mode & 0o777) == 0o640


def test_save_ui_settings_theme(config_file: Path) -> None:
    before = config_file.read_text(encoding="utf-8")
    save_ui_settings(config_file, theme="nord")
    after = config_file.read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n"))
    assert load_config(config_file, env=ENV).theme == "nord"
    save_ui_settings(config_file, theme="dracula")
    assert load_config(config_file, env=ENV).theme == "dracula"
    assert config_file.read_text(encoding="utf-8").count("theme = ") == 2  # the commented example + the value


def test_a_broken_file_is_not_rewritten(config_file: Path) -> None:
    config_file.write_text('[profiles.x]\nedition = \n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        save_profile(config_file, "x", {"url": "http://h"})
    assert str(caught.value).startswith(f"{config_file}:2: TOML syntax error")
    assert config_file.read_text(encoding="utf-8") == '[profiles.x]\nedition = \n'
