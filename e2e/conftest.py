"""A real headless Chromium (Debian's package) driven by Playwright against the live server."""

import os
import shutil

import pytest
from django.contrib.auth.models import Group

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
# test itself (creating users) are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path():
    for candidate in (
        os.environ.get("CHROMIUM_PATH"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError(
        "Debian's chromium is not installed: `make test` installs it "
        "(apt-get install chromium), or set CHROMIUM_PATH."
    )


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def login(page, live_server, django_user_model):
    def as_user(username="olga", password="correct horse 42", superuser=True):
        if superuser:
            django_user_model.objects.create_superuser(
                username, f"{username}@example.com", password
            )
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        return page

    return as_user


@pytest.fixture
def role_groups(transactional_db):
    """The role groups (the root conftest recreates them for every database test)."""


@pytest.fixture
def admin_login(login, django_user_model, role_groups):
    def go():
        user = django_user_model.objects.create_user("ada", password="correct horse 42")
        user.groups.add(Group.objects.get(name="admin"))
        return login("ada", "correct horse 42", superuser=False)

    return go
