"""The demo board end to end: its handlers over HTTP and WebSocket, then two headless
Chromium sessions signing in, chatting live, switching language and signing out."""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from _chatboard_harness import RunningBoard
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: Seconds any one HTTP request, WebSocket frame or browser step may take.
STEP = 15.0


class _Forms(html.parser.HTMLParser):
    """Every form of a page: its action and its fields (inputs, and the first option
    of each select)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": values.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["fields"][values["name"]] = values.get("value", "")


def forms(page: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def xsrf(page: str) -> str:
    found = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert found, "the page has no XSRF field"
    return found.group(1)


def sign_in(session: requests.Session, board: RunningBoard, user: str) -> requests.Response:
    """Go through the development provider's consent page as ``user``."""
    login = session.get(board.url + "/login", timeout=STEP)
    assert login.status_code == 200
    link = re.search(r'href="(/auth/login/dev\?[^"]+)"', login.text)
    assert link, login.text
    consent = session.get(board.url + link.group(1).replace("&amp;", "&"), timeout=STEP)
    assert consent.url.startswith(board.issuer + "/authorize")
    assert "Development sign-in" in consent.text
    form = forms(consent.text)[0]
    fields = dict(form["fields"], user=user, decision="allow")
    back = session.post(
        urllib.parse.urljoin(consent.url, form["action"]), data=fields, timeout=STEP
    )
    assert back.status_code == 200
    assert back.url == board.url + "/"
    return back


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


def test_board_anonymous_reader(board: RunningBoard, session: requests.Session) -> None:
    page = session.get(board.url + "/", timeout=STEP)
    assert page.status_code == 200
    assert "No messages yet" in page.text
    assert 'id="sign-in"' in page.text
    assert 'id="post-form"' not in page.text
    # Static files carry a content hash and are served with it.
    css = re.search(r'href="(/static/chatboard\.css\?v=[0-9a-f]+)"', page.text)
    assert css
    asset = session.get(board.url + css.group(1), timeout=STEP)
    assert asset.status_code == 200
    assert "max-age" in asset.headers["Cache-Control"]
    # The switcher's script is added by its UI module, once.
    assert page.text.count("/static/language.js?v=") == 1
    # Posting needs the XSRF token, then a signed-in user.
    assert (
        session.post(board.url + "/messages", data={"body": "hi"}, timeout=STEP).status_code == 403
    )
    token = xsrf(page.text)
    refused = session.post(
        board.url + "/messages",
        data={"body": "hi", "_xsrf": token},
        timeout=STEP,
        allow_redirects=False,
    )
    assert refused.status_code == 403


def test_sign_in_post_and_sign_out(board: RunningBoard, session: requests.Session) -> None:
    page = sign_in(session, board, "alice")
    assert 'id="user-name">Alice Martin<' in page.text
    token = xsrf(page.text)
    body = '<b>bold</b> & "quoted"'
    posted = session.post(
        board.url + "/messages",
        data={"body": body, "_xsrf": token},
        timeout=STEP,
        allow_redirects=False,
    )
    assert posted.status_code == 303
    assert re.fullmatch(r"/#m\d+", posted.headers["Location"])
    page = session.get(board.url + "/", timeout=STEP)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;" in page.text
    assert "<b>bold</b>" not in page.text
    # Empty and oversized messages are refused with the reason on the page.
    empty = session.post(board.url + "/messages", data={"body": "  ", "_xsrf": token}, timeout=STEP)
    assert empty.status_code == 400
    assert "A message cannot be empty." in empty.text
    long = session.post(
        board.url + "/messages", data={"body": "x" * 2001, "_xsrf": token}, timeout=STEP
    )
    assert long.status_code == 400
    out = session.post(board.url + "/auth/logout", data={"_xsrf": token}, timeout=STEP)
    assert out.status_code == 200
    assert 'id="sign-in"' in out.text
    assert 'id="user-name"' not in out.text


def test_language_switch(board: RunningBoard, session: requests.Session) -> None:
    page = session.get(board.url + "/", timeout=STEP)
    token = xsrf(page.text)
    assert (
        session.post(
            board.url + "/language", data={"locale": "xx_XX", "_xsrf": token}, timeout=STEP
        ).status_code
        == 400
    )
    french = session.post(
        board.url + "/language",
        data={"locale": "fr_FR", "next": "/login", "_xsrf": token},
        timeout=STEP,
    )
    assert french.url == board.url + "/login"
    assert "Se connecter avec le fournisseur de développement" in french.text
    assert '<html lang="fr-FR">' in french.text
    german = session.post(
        board.url + "/language", data={"locale": "de_DE", "_xsrf": token}, timeout=STEP
    )
    assert "Nachrichtenbrett" in german.text
    # An outside address in "next" is not followed.
    away = session.post(
        board.url + "/language",
        data={"locale": "en_US", "next": "//evil.example/", "_xsrf": token},
        timeout=STEP,
        allow_redirects=False,
    )
    assert away.headers["Location"] == "/"


def test_live_socket(board: RunningBoard, session: requests.Session) -> None:
    sign_in(session, board, "bob")
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    ws_url = board.url.replace("http://", "ws://") + "/live"
    origin = board.url
    with (
        connect(
            ws_url, origin=origin, additional_headers={"Cookie": cookie}, open_timeout=STEP
        ) as writer,
        connect(ws_url, origin=origin, open_timeout=STEP) as reader,
    ):
        # An anonymous reader may watch but not post.
        reader.send(json.dumps({"body": "anonymous"}))
        error = json.loads(reader.recv(timeout=STEP))
        assert error == {"type": "error", "error": "Sign in to post messages."}
        writer.send(json.dumps({"body": "hello <everyone>"}))
        for socket in (writer, reader):
            frame = json.loads(socket.recv(timeout=STEP))
            assert frame["type"] == "message"
            assert "Bob Dupont" in frame["html"]
            assert "hello &lt;everyone&gt;" in frame["html"]
        writer.send(json.dumps({"body": ""}))
        assert json.loads(writer.recv(timeout=STEP))["type"] == "error"
    page = session.get(board.url + "/", timeout=STEP)
    assert "hello &lt;everyone&gt;" in page.text
    # Another site's page may not open the socket with the user's cookies.
    with pytest.raises(InvalidStatus) as refused:
        connect(
            ws_url,
            origin="http://evil.example",
            additional_headers={"Cookie": cookie},
            open_timeout=STEP,
        )
    assert refused.value.response.status_code == 403


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip(
            "CHROMIUM OR CHROMEDRIVER IS NOT INSTALLED: the board's browser test did not run "
            "(scripts/lib/system-packages.sh installs Debian's chromium and chromium-driver)"
        )
    return browser, driver


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Any]:
    """A factory of headless Chromium sessions, all closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = _chromium()
    opened: list[Any] = []

    def open_browser() -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for argument in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1100,900",
            f"--user-data-dir={tmp_path / f'profile-{len(opened)}'}",
        ):
            options.add_argument(argument)
        service = Service(
            executable_path=driver, log_output=str(tmp_path / f"driver-{len(opened)}.log")
        )
        session = webdriver.Chrome(options=options, service=service)
        session.set_page_load_timeout(STEP)
        opened.append(session)
        return session

    try:
        yield open_browser
    finally:
        for session in opened:
            session.quit()


def test_two_browsers_chat_live(board: RunningBoard, browsers: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def browser_sign_in(session: Any, user: str, name: str) -> None:
        wait = WebDriverWait(session, STEP)
        session.get(board.url + "/")
        session.find_element(By.ID, "sign-in").click()
        wait.until(ec.element_to_be_clickable((By.ID, "provider-dev"))).click()
        wait.until(ec.title_contains("Development sign-in"))
        Select(session.find_element(By.NAME, "user")).select_by_value(user)
        session.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "user-name"), name))
        wait.until(
            lambda s: s.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "open"
        )

    alice = browsers()
    bob = browsers()
    browser_sign_in(alice, "alice", "Alice Martin")
    browser_sign_in(bob, "bob", "Bob Dupont")

    text = "Hello from Alice — über <live> chat"
    alice.find_element(By.ID, "body").send_keys(text)
    alice.find_element(By.ID, "send").click()
    # Bob sees it without reloading (his page was loaded before it was sent).
    WebDriverWait(bob, STEP).until(ec.text_to_be_present_in_element((By.ID, "messages"), text))
    items = bob.find_elements(By.CSS_SELECTOR, "#messages li.message")
    assert [item.find_element(By.CLASS_NAME, "author").text for item in items] == ["Alice Martin"]
    message_id = items[0].get_attribute("id")
    WebDriverWait(alice, STEP).until(ec.presence_of_element_located((By.ID, message_id)))

    # Bob answers through the form as well; Alice sees it live.
    bob.find_element(By.ID, "body").send_keys("Hi Alice!")
    bob.find_element(By.ID, "send").click()
    WebDriverWait(alice, STEP).until(
        ec.text_to_be_present_in_element((By.ID, "messages"), "Hi Alice!")
    )

    # A reload shows both, from the database.
    alice.refresh()
    WebDriverWait(alice, STEP).until(ec.presence_of_element_located((By.ID, message_id)))
    bodies = [e.text for e in alice.find_elements(By.CSS_SELECTOR, "#messages .body")]
    assert bodies == [text, "Hi Alice!"]
    ARTIFACTS.mkdir(exist_ok=True)
    assert alice.save_screenshot(str(ARTIFACTS / "chatboard.png"))

    # Switching language reloads the page in French.
    Select(alice.find_element(By.ID, "language-select")).select_by_value("fr_FR")
    WebDriverWait(alice, STEP).until(
        ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Tableau de messages")
    )
    assert alice.find_element(By.ID, "sign-out").text == "Se déconnecter"
    assert bob.find_element(By.TAG_NAME, "h1").text == "Message board"

    # Signing out shows the sign-in link again, and the form is gone.
    alice.find_element(By.ID, "sign-out").click()
    WebDriverWait(alice, STEP).until(ec.presence_of_element_located((By.ID, "sign-in")))
    assert alice.find_element(By.ID, "sign-in").text == "Se connecter"
    assert not alice.find_elements(By.ID, "post-form")
    assert not alice.find_elements(By.ID, "user-name")
