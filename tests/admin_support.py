"""Helpers for the admin console tests: a copy of the dialogue files, the app on a test server, logins."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from admin.config import AdminConfig
from ground.settings import REPO_ROOT, Settings

CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')
PASSWORD = "correct horse battery"


def copy_flows(target: Path) -> Path:
    """The project's dialogue files copied to `target` (tests never touch the repo's own files)."""
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(REPO_ROOT / name, target / name)
    (target / "data").mkdir()
    for name in ("rules.yml", "stories.yml"):
        shutil.copy2(REPO_ROOT / "data" / name, target / "data" / name)
    shutil.copytree(REPO_ROOT / "nlu" / "data", target / "nlu" / "data")
    (target / "data" / "nlu").symlink_to(Path("..") / "nlu" / "data")
    return target


def admin_config(tmp: Path, database_url: str, **overrides) -> AdminConfig:
    flows = tmp / "flows"
    flows.mkdir(exist_ok=True)
    if not (flows / "domain.yml").exists():
        copy_flows(flows)
    values = dict(settings=Settings.from_env({"DATABASE_URL": database_url}), flows_dir=flows,
                  models_dir=tmp / "models", data_dir=tmp / "run", rasa_urls=("http://127.0.0.1:9",),
                  rasa_token="test-token", secret=b"test secret")
    values.update(overrides)
    return AdminConfig(**values)


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = await client.get("/login")
    token = csrf_of(await page.text())
    resp = await client.post("/login", data={"_csrf": token, "username": username, "password": password},
                             allow_redirects=False)
    assert resp.status == 302, await resp.text()
    home = await client.get("/")
    return csrf_of(await home.text())


async def start_client(app) -> TestClient:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client
