"""Issue 13, finding 4: a stored token starting with '-' is replaced; the token is not in Rasa's argv."""
from __future__ import annotations

from ground.settings import Settings, rasa_auth_token, run_secret
from seat import services
from seat.rasa_run import with_auth_token


def test_stored_token_starting_with_dash_is_replaced(tmp_path):
    (tmp_path / "rasa_token").write_text("-c5tDoldtokenfromafreshclone\n")
    token = rasa_auth_token(Settings.from_env({}), run_dir=tmp_path)
    assert not token.startswith("-") and len(token) >= 32
    assert (tmp_path / "rasa_token").read_text().strip() == token
    assert rasa_auth_token(Settings.from_env({}), run_dir=tmp_path) == token  # kept across runs
    assert (tmp_path / "rasa_token").stat().st_mode & 0o077 == 0
    for _ in range(200):
        assert not run_secret(f"t{_}", tmp_path).startswith("-")


def test_rasa_argv_holds_no_token(tmp_path, monkeypatch):
    monkeypatch.setattr("ground.settings.RUN_DIR", tmp_path)
    settings = Settings.from_env({"ACTION_TOKEN": "a" * 20})
    svc = services.rasa_server(settings, tmp_path / "model.tar.gz", tmp_path / "endpoints.yml")
    token = (tmp_path / "rasa_token").read_text().strip()
    assert not any(token in arg for arg in svc.argv) and "--auth-token" not in " ".join(svc.argv)
    assert svc.env["RASA_AUTH_TOKEN"] == token
    # inside the process the token reaches Rasa's parser as one word, even one starting with '-'
    from rasa.cli.arguments.run import add_server_arguments
    import argparse
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    argv = with_auth_token(["rasa", "run", "--enable-api"], "-dashtoken")
    assert parser.parse_args(argv[2:]).auth_token == "-dashtoken"
