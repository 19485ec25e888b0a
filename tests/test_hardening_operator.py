"""Issue 11, operator safety: private backups and database files, strict start-up settings."""
import os
import stat
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from models.db import is_sqlite
from tests.conftest import TEST_TOKEN_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD_SECRET = "s" * 32


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def flask(env, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def umask_022():
    """A usual operator umask, so a 0644 file would really be 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_backup_is_0600_in_a_0700_folder(app, subprocess_env, umask_022):
    if not is_sqlite():
        pytest.skip("backup writes a file on SQLite; PostgreSQL uses pg_dump")
    done = flask(subprocess_env, "backup")
    assert done.returncode == 0, done.stderr[-2000:]
    path = done.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path)
    assert mode(path) == 0o600
    assert mode(os.path.dirname(path)) == 0o700


def test_an_existing_backups_folder_is_made_private(app, subprocess_env, umask_022):
    if not is_sqlite():
        pytest.skip("backup writes a file on SQLite; PostgreSQL uses pg_dump")
    folder = os.path.join(subprocess_env["PORTAL_INSTANCE_PATH"], "backups")
    os.makedirs(folder, mode=0o755)
    os.chmod(folder, 0o755)
    done = flask(subprocess_env, "backup")
    assert done.returncode == 0, done.stderr[-2000:]
    assert mode(folder) == 0o700
    assert mode(done.stdout.strip().splitlines()[-1]) == 0o600


def test_a_new_sqlite_database_is_private(subprocess_env, tmp_path, umask_022):
    """The database file the product creates (and its WAL) is 0600 in a 0700 folder."""
    folder = tmp_path / "fresh" / "data"
    env = dict(subprocess_env, DATABASE_URL="sqlite:///%s" % (folder / "portal.db"),
               PORTAL_INSTANCE_PATH=str(tmp_path / "fresh" / "instance"))
    done = flask(env, "migrate")
    assert done.returncode == 0, done.stderr[-2000:]
    assert mode(folder / "portal.db") == 0o600
    assert mode(folder) == 0o700
    for extra in ("portal.db-wal", "portal.db-shm"):
        if (folder / extra).exists():
            assert mode(folder / extra) == 0o600, extra
    assert mode(tmp_path / "fresh" / "instance") == 0o700


def one_clear_line(done):
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def production_env(subprocess_env, **changes):
    env = dict(subprocess_env, PORTAL_ENV="production", SECRET_KEY=GOOD_SECRET,
               TOKEN_ENCRYPTION_KEYS=TEST_TOKEN_KEY)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_production_refuses_a_short_secret_key(app, subprocess_env):
    line = one_clear_line(flask(production_env(subprocess_env, SECRET_KEY="x"),
                                "migrate", "--status"))
    assert "SECRET_KEY" in line and "32" in line


def test_production_accepts_a_32_character_secret_key(app, subprocess_env):
    done = flask(production_env(subprocess_env), "migrate", "--status")
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("missing, named", [
    ("SECRET_KEY", "SECRET_KEY"), ("TOKEN_ENCRYPTION_KEYS", "TOKEN_ENCRYPTION_KEYS")])
def test_a_missing_secret_is_one_line_and_a_non_zero_exit(app, subprocess_env, missing,
                                                          named):
    line = one_clear_line(flask(production_env(subprocess_env, **{missing: None}),
                                "migrate", "--status"))
    assert named in line


def test_an_unknown_portal_env_is_refused(app, subprocess_env):
    line = one_clear_line(flask(production_env(subprocess_env, PORTAL_ENV="prod"),
                                "migrate", "--status"))
    assert "PORTAL_ENV" in line and "prod" in line


BAD_KEYS = ["not-a-key", TEST_TOKEN_KEY + ",also-not-a-key", " , ",
            Fernet.generate_key().decode()[:-4]]
COMMANDS = [["import", "missing-file.jsonl"], ["sidecar", "--once"], ["connections", "list"],
            ["migrate", "--status"], ["create-user", "x@example.com", "--password-stdin"]]


@pytest.mark.parametrize("keys, command",
                         [(keys, COMMANDS[0]) for keys in BAD_KEYS]
                         + [(BAD_KEYS[0], command) for command in COMMANDS[1:]],
                         ids=["bad-%d" % i for i in range(len(BAD_KEYS) + len(COMMANDS) - 1)])
def test_invalid_token_keys_are_refused_at_start_by_every_command(app, subprocess_env, keys,
                                                                  command):
    for env in (dict(subprocess_env, TOKEN_ENCRYPTION_KEYS=keys),
                production_env(subprocess_env, TOKEN_ENCRYPTION_KEYS=keys)):
        line = one_clear_line(flask(env, *command, stdin="a long enough password\n"))
        assert "TOKEN_ENCRYPTION_KEYS" in line
        assert "also-not-a-key" not in line and TEST_TOKEN_KEY not in line


def test_load_config_refusals(monkeypatch, tmp_path):
    from portal.core.config import ConfigError, load_config
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 31)
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", TEST_TOKEN_KEY)
    with pytest.raises(ConfigError, match="at least 32"):
        load_config(str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    assert load_config(str(tmp_path))["SECRET_KEY"] == "x" * 32
    monkeypatch.setenv("PORTAL_ENV", "Staging")
    with pytest.raises(ConfigError, match="PORTAL_ENV"):
        load_config(str(tmp_path))
    monkeypatch.setenv("PORTAL_ENV", "development")
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", "abc")
    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEYS"):
        load_config(str(tmp_path))
