"""A real ``labelarts serve`` on loopback and Debian's headless Chromium driven by Playwright.

Playwright's own browser download does not work here, so the browser is Debian's
``chromium`` package (``/usr/bin/chromium``, installed by ``.ci/run``), launched with
``--headless --no-sandbox --disable-gpu``. Used by tests/web/test_e2e.py, and by
scripts/web_screenshots.py and benchmarks/bench_web.py.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from labelarts.client import SdkHmacAuth
from tests.cli import cli_env, free_port
from tests.processes import running, wait_for_health

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
START_SECONDS = 180
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None. In CI (.ci/run) they always run."""
    if os.environ.get("CI"):
        return None
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@dataclass
class Served:
    url: str
    data_dir: Path
    import_root: Path
    credentials: dict[str, str]

    @property
    def project_id(self) -> str:
        return self.credentials["project_id"]

    def api(self) -> httpx.Client:
        creds = self.credentials
        auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], creds["project_id"])
        return httpx.Client(base_url=self.url, auth=auth, timeout=60)

    def v2(self, path: str) -> str:
        return f"/v2/{self.project_id}{path}"


@contextmanager
def serve(workdir: Path, database_url: str, **env_extra: str) -> Iterator[Served]:
    """``labelarts serve`` on a free loopback port with one import root, until the block ends."""
    data_dir, import_root = workdir / "data", workdir / "imports"
    import_root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = cli_env(LABELARTS_DATABASE_URL=database_url, **env_extra)
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port), "--import-root", str(import_root)]
    url = f"http://127.0.0.1:{port}"
    log = workdir / "serve.log"
    with running(args, env, log) as process:
        # serve imports the whole stack and starts a worker process before it answers: on a
        # busy 2-core machine that can take longer than the usual minute.
        wait_for_health(url, process, log, timeout=START_SECONDS)
        credentials = json.loads((data_dir.resolve() / "initial-credentials.json").read_text())
        yield Served(url, data_dir, import_root, credentials)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: apt-get install chromium"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in_page(page: Any, url: str, name: str, password: str) -> None:
    page.goto(f"{url}/ui/sign-in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def first_sign_in(page: Any, served: Served, new_password: str) -> None:
    """The first-start admin: sign in, change the generated password, sign in with the new one."""
    creds = served.credentials
    sign_in_page(page, served.url, creds["user"], creds["password"])
    page.get_by_role("heading", name="Change your password").wait_for()
    page.get_by_label("Current password").fill(creds["password"])
    page.get_by_label("New password (at least 8 characters)").fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("Your password was changed").wait_for()
    sign_in_page(page, served.url, creds["user"], new_password)
    page.get_by_role("heading", name="Datasets").wait_for()


def sign_in_admin(page: Any, served: Served, password: str) -> None:
    """Sign the first-start admin in, through the change-password step if no test of this
    server (one per xdist worker) went through it yet."""
    creds = served.credentials
    sign_in_page(page, served.url, creds["user"], creds["password"])
    changing = page.get_by_role("heading", name="Change your password")
    failed = page.get_by_text("Incorrect user name or password.")
    changing.or_(failed).wait_for()
    if changing.is_visible():
        page.goto(f"{served.url}/ui/sign-in")
        first_sign_in(page, served, password)
        return
    sign_in_page(page, served.url, creds["user"], password)
    page.get_by_role("heading", name="Datasets").wait_for()


def run_axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2 A/AA rules on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    tags = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']"
    result: dict[str, Any] = page.evaluate(
        f"() => axe.run(document, {{runOnly: {{type: 'tag', values: {tags}}}}})"
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations
