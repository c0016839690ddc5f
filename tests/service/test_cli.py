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


def test_keys_list_and_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    runner = CliRunner()
    token = runner.invoke(app, ["keys", "create", "--scope", "events", "--label", "shop-a", "--db", url])
    other = runner.invoke(app, ["keys", "create", "--scope", "admin", "--db", url])
    engine = make_engine(url)
    key = lookup_key(engine, token.output.strip())
    assert key is not None
    listed = runner.invoke(app, ["keys", "list", "--db", url])
    assert listed.exit_code == 0, listed.output
    assert key.key_id in listed.output
    assert "shop-a" in listed.output
    assert token.output.strip() not in listed.output  # never the token itself
    revoked = runner.invoke(app, ["keys", "revoke", key.key_id, "--db", url])
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked {key.key_id}" in revoked.output
    assert lookup_key(engine, token.output.strip()) is None
    assert lookup_key(engine, other.output.strip()) is not None
    unknown = runner.invoke(app, ["keys", "revoke", "0" * 12, "--db", url])
    assert unknown.exit_code == 2
    assert "no API key with id" in unknown.output
