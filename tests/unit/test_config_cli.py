"""`comfyq config check|path` and `comfyq locate` through the real argument parser."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import main
from tui.exit_codes import EXIT_OK, EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"
API_TOKEN = "Yjha-cli-api-token"
DEDICATED_TOKEN = "Dd77-cli-dedicated-token"


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTLAB_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("ARTLAB_DEDICATED_TOKEN", DEDICATED_TOKEN)


def test_config_check_lists_profiles_with_masked_tokens(token_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(EXAMPLE)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert err == ""
    assert f"{EXAMPLE}: OK" in out
    assert API_TOKEN not in out and DEDICATED_TOKEN not in out
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]] for line in out.splitlines() if line.startswith("│")}
    assert rows["artlab-api"] == [
        "api",
        "http://1234567890.cn-shanghai.pai-eas.aliyuncs.com/api/predict/comfyui-api",
        "comfyui-api/sink",
        "Yjha…(18) ($ARTLAB_API_TOKEN)",
        "oss://my-bucket/artlab",
        "oss cn-shanghai; keys: $OSS_ACCESS_KEY_ID NOT SET, $OSS_ACCESS_KEY_SECRET NOT SET",
    ]
    assert rows["artlab-dedicated"][3] == "Dd77…(24) ($ARTLAB_DEDICATED_TOKEN)"
    assert rows["local"] == ["dedicated", "http://127.0.0.1:8188", "-", "(none)", "-", "service (/view)"]


def test_config_check_says_whether_oss_keys_are_set_never_what_they_are(
    token_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI5tSecretKeyIdValue")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "very-secret-oss-secret-value")
    assert main(["config", "check", "--config", str(EXAMPLE)]) == EXIT_OK
    out, _ = capsys.readouterr()
    assert "$OSS_ACCESS_KEY_ID set, $OSS_ACCESS_KEY_SECRET set" in out
    assert "LTAI5tSecretKeyIdValue" not in out and "very-secret-oss-secret-value" not in out


def test_config_check_global_option_before_the_command(token_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(EXAMPLE), "config", "check"]) == EXIT_OK
    assert f"{EXAMPLE}: OK" in capsys.readouterr().out


def test_config_check_reports_every_issue_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(
        '[profiles.x]\nedition = "api"\ninput_urll = "http://127.0.0.1:1/api/predict/s"\n'
        '[profiles.y]\nedition = "dedicated"\nurl = "http//nohost"\ntoken = "Yjha-secret-in-broken-file"\n'
        'token_env = "ALSO_GIVEN"\n',
        encoding="utf-8",
    )
    assert main(["config", "check", "--config", str(broken)]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{broken}:1: profiles.x.input_url: missing key",
        f"{broken}:3: profiles.x.input_urll: unknown key (did you mean 'input_url'?)",
        f"{broken}:6: profiles.y.url: bad URL 'http//nohost': the scheme must be http or https",
        f"{broken}:8: profiles.y.token_env: give either token or token_env, not both",
        "comfyq: 4 problems in the config",
    ]


def test_config_check_missing_explicit_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.toml"
    assert main(["config", "check", "--config", str(missing)]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines()[0] == f"{missing}: config file not found"


def test_config_check_without_a_file_uses_the_builtin_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COMFYQ_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert main(["config", "check"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "using the built-in profile" in out and "http://127.0.0.1:8188" in out


def test_config_path_and_env_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COMFYQ_CONFIG", str(tmp_path / "from-env.toml"))
    assert main(["config", "path"]) == EXIT_OK
    assert capsys.readouterr().out == f"{tmp_path / 'from-env.toml'}\n"
    assert main(["config", "path", "--config", str(tmp_path / "flag.toml")]) == EXIT_OK
    assert capsys.readouterr().out == f"{tmp_path / 'flag.toml'}\n"


def test_locate_prints_every_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("", encoding="utf-8")
    data = tmp_path / "data"
    assert main(["locate", "--config", str(config), "--data-dir", str(data)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        f"config file:   {config}  (exists)",
        f"data dir:      {data}  (missing)",
        f"job store:     {data / 'jobs.sqlite3'}  (missing)",
        f"log file:      {data / 'comfyq.log'}  (missing)",
        f"preview cache: {data / 'previews'}  (empty, cap 512 MB)",
    ]
    (data / "previews").mkdir(parents=True)
    (data / "previews" / "a.png").write_bytes(b"x" * 3 * 2**20)
    assert main(["locate", "--config", str(config), "--data-dir", str(data)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[-1] == f"preview cache: {data / 'previews'}  (3.0 MB, cap 512 MB)"


def test_locate_names_the_cache_the_app_uses() -> None:
    from tui.commands import locate
    from tui.core import preview_cache

    assert locate.PREVIEW_DIRNAME == preview_cache.PREVIEW_DIRNAME


def test_broken_config_in_a_real_process_exits_2_without_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[profiles.x]\nedition = "api"\ninput_url = "http://h/api/predict/s"\nwindow = 0\n[', encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMFYQ_")}
    result = subprocess.run(
        [sys.executable, "-m", "tui", "config", "check", "--config", str(broken)],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == EXIT_USAGE
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0] == f"{broken}:5: TOML syntax error: Invalid initial character for a key part (at the end of the file)"
