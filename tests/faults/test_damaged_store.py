"""A damaged store is refused at open, and the data dir's own faults are one line (issue 11, items 8 and 9)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.helpers import Cli, assert_clean_output, write_config
from tests.integration.cli_helpers import REPO, cli_env
from tui.core.jobs import Edition, Job, new_job_id
from tui.core.store import JobStore

LOCAL = '[profiles.x]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/"\n'


def damage(store_file: Path) -> None:
    """Fill the store with rows, then overwrite a page in the middle of its table with garbage."""
    with JobStore(store_file) as store:
        store.add_many([Job(id=new_job_id(), profile="x", edition=Edition.DEDICATED, workflow={"a": "b" * 2000})
                        for _ in range(300)])
    connection = sqlite3.connect(store_file)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    size = store_file.stat().st_size
    with store_file.open("r+b") as handle:
        for page in range(size // page_size // 2, size // page_size // 2 + 4):
            handle.seek(page * page_size)
            handle.write(os.urandom(page_size))


def test_a_damaged_store_is_refused_with_what_to_do(tmp_path: Path) -> None:
    cli = Cli(write_config(tmp_path / "config.toml", LOCAL), tmp_path / "data")
    cli.store_file.parent.mkdir(parents=True)
    damage(cli.store_file)
    before = cli.store_file.read_bytes()
    for args in (("jobs",), ("jobs", "--json")):
        result = cli.run(*args)
        assert_clean_output(result.stdout, result.stderr)
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "damaged" in lines[0] and "comfyq locate" in lines[0], result.stderr
    assert cli.store_file.read_bytes() == before, "comfyq wrote into a damaged store"
    located = cli.run("locate")
    assert located.returncode == 0 and str(cli.store_file) in located.stdout


@pytest.mark.parametrize("kind", ["read-only", "a-file", "under-a-file"])
def test_the_tui_with_an_unusable_data_dir_says_so_in_one_line(tmp_path: Path, kind: str) -> None:
    data = tmp_path / "data"
    if kind == "a-file":
        data.write_text("not a directory")
    elif kind == "under-a-file":
        (tmp_path / "plain").write_text("a file")
        data = tmp_path / "plain" / "data"
    elif os.geteuid() == 0:
        # root writes into any mode: a read-only mount is what refuses it (a directory on /proc stands in).
        data = Path("/proc/comfyq-data")
    else:
        data.mkdir()
        data.chmod(0o500)
    config = write_config(tmp_path / "config.toml", LOCAL)
    result = subprocess.run([sys.executable, "-m", "tui", "--config", str(config), "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=60, cwd=REPO, env=cli_env(), stdin=subprocess.DEVNULL)
    assert_clean_output(result.stdout, result.stderr)
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1 and str(data) in result.stderr, result.stderr
