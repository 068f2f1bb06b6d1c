"""`comfyq demo` keeps what the user adds to its config; only its own emulator profiles are refreshed."""

from __future__ import annotations

import stat
from pathlib import Path

from tui.commands.demo import prepare_demo_config
from tui.core.config import load_config, save_profile, save_ui_settings


def snippet(port: int, token: str) -> str:
    return (
        "[profiles.sim-api]\n"
        'edition = "api"\n'
        f'input_url = "http://127.0.0.1:{port}/api/predict/comfyui-sim"\n'
        f'token = "{token}"\n'
        "\n"
        "[profiles.sim-dedicated]\n"
        'edition = "dedicated"\n'
        f'url = "http://127.0.0.1:{port + 1}/"\n'
        f'token = "{token}"\n'
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_demo_config_is_created_private_and_keeps_user_profiles_and_theme(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "demo-config.toml"
    prepare_demo_config(path, snippet(4000, "demo-one"))
    assert mode(path) == 0o600
    assert load_config(path, explicit=True).profiles["sim-api"].token == "demo-one"

    # The user adds a profile (with a token) and picks a theme in the app.
    save_profile(path, "mine", {"edition": "dedicated", "url": "http://127.0.0.1:8188/", "token": "my-secret"})
    save_ui_settings(path, theme="nord")

    # Next start: new ports and a new token for the emulators.
    prepare_demo_config(path, snippet(5000, "demo-two"))
    config = load_config(path, explicit=True)
    assert config.profiles["mine"].token == "my-secret"
    assert config.profiles["mine"].url.startswith("http://127.0.0.1:8188")
    assert config.theme == "nord"
    assert config.profiles["sim-api"].token == "demo-two"
    assert "5000" in (config.profiles["sim-api"].input_url or "")
    assert config.profiles["sim-dedicated"].url.startswith("http://127.0.0.1:5001")
    assert mode(path) == 0o600


def test_an_old_world_readable_demo_config_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "demo-config.toml"
    path.write_text("# written by an older comfyq demo\n" + snippet(4000, "old"), encoding="utf-8")
    path.chmod(0o644)
    prepare_demo_config(path, snippet(4100, "new"))
    assert mode(path) == 0o600
    assert load_config(path, explicit=True).profiles["sim-api"].token == "new"


def test_a_deleted_demo_profile_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "demo-config.toml"
    prepare_demo_config(path, snippet(4000, "a"))
    text = path.read_text(encoding="utf-8")
    path.write_text(text.split("[profiles.sim-dedicated]")[0], encoding="utf-8")
    prepare_demo_config(path, snippet(4200, "b"))
    assert set(load_config(path, explicit=True).profiles) >= {"sim-api", "sim-dedicated"}
