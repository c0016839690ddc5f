from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pricepilot.cli import app
from pricepilot.service.auth import lookup_key
from pricepilot.store import make_engine


def test_keys_create_prints_a_key_stored_hashed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    result = CliRunner().invoke(app, ["keys", "create", "--scope", "offers,events", "--db", url])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    key = lookup_key(make_engine(url), token)
    assert key is not None
    assert key.scopes == {"offers", "events"}
    bad = CliRunner().invoke(app, ["keys", "create", "--scope", "root", "--db", url])
    assert bad.exit_code == 2
    assert "scopes must be" in bad.output


def test_serve_reports_a_bad_database_url() -> None:
    result = CliRunner().invoke(app, ["serve", "--db", "mysql://nowhere/db"])
    assert result.exit_code == 2
    assert "unsupported database URL" in result.output
