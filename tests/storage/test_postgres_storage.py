"""The PostgreSQL storage used for real (a throwaway server on loopback): the CLI end to end, with a password
in the URL that never appears in any output."""

from __future__ import annotations

import logging

from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.storage import get_storage

runner = CliRunner()
SECRET = "hunter2-s3cret"


def with_password(url: str) -> str:
    # the test server trusts loopback connections, so any password is accepted (and must never be shown)
    return url.replace("nasforge@", f"nasforge:{SECRET}@")


def test_cli_on_postgresql_never_shows_the_password(postgres_url, fake_data_dir, caplog):
    url = with_password(postgres_url)
    caplog.set_level(logging.DEBUG)
    outputs = []
    for args in (["search", "--data-dir", str(fake_data_dir), "--trials", "5", "--study", "pg", "--no-progress"],
                 ["search", "--data-dir", str(fake_data_dir), "--trials", "8", "--study", "pg", "--resume",
                  "--json"],
                 ["search", "--data-dir", str(fake_data_dir), "--trials", "8", "--study", "pg"],  # exists: an error
                 ["studies"], ["show", "pg"], ["show", "nope"]):
        res = runner.invoke(app, [*args, "--storage", url])
        outputs.append((args, res.exit_code, res.output))
    assert [code for _, code, _ in outputs] == [0, 0, 2, 0, 0, 2], outputs
    for args, _, text in outputs:
        assert SECRET not in text, args
    assert SECRET not in caplog.text
    missing = url.rsplit("/", 1)[0] + "/no_such_database"
    res = runner.invoke(app, ["studies", "--storage", missing])
    assert res.exit_code == 2 and "***" in res.output and SECRET not in res.output  # named, password hidden
    store = get_storage(postgres_url, read_only=True)
    trials = store.trials("pg")
    store.close()
    assert [t.number for t in trials] == list(range(8)) and all(t.status == "complete" for t in trials)
