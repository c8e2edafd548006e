"""Tests of the web pages: HTTP-level (sessions, CSRF, projects apart) and end-to-end in
Debian's headless Chromium driven by Playwright (docs/web.md)."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:2000]
    return found.group(1)


def page_client(url: str) -> httpx.Client:
    """A browser-like client: keeps cookies, does not follow redirects, sends Origin."""
    return httpx.Client(base_url=url, follow_redirects=False, headers={"Origin": url}, timeout=30)


def sign_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    form = client.get("/ui/sign-in")
    assert form.status_code == 200, form.text
    return client.post(
        "/ui/sign-in", data={"csrf_token": csrf_of(form.text), "username": name, "password": password}
    )
