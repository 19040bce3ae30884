"""typhoon behind a real nginx: proxy headers, WebSocket upgrades, a rolling restart.

nginx (Debian's nginx-light) runs on 127.0.0.1 with a prefix and configuration of its own
in a temporary directory, in front of two ``typhoon run`` instances. The nginx site and
the instances' command line are the files the deployment guide shows,
``docs/deployment/nginx.conf`` and ``docs/deployment/typhoon@.service``, with ports and
addresses substituted, so the documentation is what is tested.

Addresses: the client connects from 127.0.0.2; the test's "load balancer" hop connects
from 127.0.0.3 (standing for the documented 10.0.0.2); everything is loopback.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _deploy import DEADLINE, Server, free_port, get, write_app
from typhoon.websocket import websocket_connect

NGINX = "/usr/sbin/nginx"
ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs" / "deployment" / "nginx.conf"
UNIT = ROOT / "docs" / "deployment" / "typhoon@.service"
CLIENT_ADDRESS = "127.0.0.2"
BALANCER_ADDRESS = "127.0.0.3"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(NGINX), reason="needs nginx (Debian nginx-light)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="127.0.0.0/8 loopback"),
]

MAIN_CONF = """
daemon off;
worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format outcome '$status $upstream_addr $upstream_status';
    access_log {prefix}/access.log outcome;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/typhoon.conf;

    # The test's stand-in for the load balancer in front of the second-hop site.
    server {{
        listen 127.0.0.1:{balancer_port};
        location / {{
            proxy_pass http://127.0.0.1:{hop_port};
            proxy_bind {balancer_address};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def unit_command(port: int) -> list[str]:
    """The unit's ExecStart for instance ``port``, run from this interpreter."""
    text = UNIT.read_text(encoding="utf-8")
    match = re.search(r"^ExecStart=(.+)$", text, re.MULTILINE)
    assert match is not None, "typhoon@.service has no ExecStart"
    argv = shlex.split(match.group(1).replace("%i", str(port)))
    assert argv[0].endswith("/typhoon")
    assert re.search(r"^KillSignal=SIGTERM$", text, re.MULTILINE)
    replacements = {"myapp:app": "deployapp:app", "10.0.0.2": BALANCER_ADDRESS}
    return [replacements.get(arg, arg) for arg in argv[1:]]


@dataclass
class Site:
    """nginx and the two instances behind it."""

    directory: Path
    front_port: int
    balancer_port: int
    instance_ports: list[int]
    instances: dict[int, Server]

    def start_instance(self, port: int) -> Server:
        server = Server.typhoon(self.directory, *unit_command(port))
        self.instances[port] = server
        server.wait_for("serving on")
        return server

    def stop_instance(self, port: int) -> None:
        server = self.instances.pop(port)
        server.signal(signal.SIGTERM)  # the unit's KillSignal
        assert server.wait() == 0
        rest = server.rest()
        assert "typhoon: stopping" in rest
        assert not [line for line in rest if "Traceback" in line]


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    write_app(tmp_path)
    ports = {name: free_port() for name in ("a", "b", "front", "hop", "balancer")}
    config = SITE.read_text(encoding="utf-8")
    assert config.count("max_fails=0;") == 2
    for documented, actual in (
        ("127.0.0.1:8001", f"127.0.0.1:{ports['a']}"),
        ("127.0.0.1:8002", f"127.0.0.1:{ports['b']}"),
        ("listen 127.0.0.1:8080", f"listen 127.0.0.1:{ports['front']}"),
        ("listen 127.0.0.1:8081", f"listen 127.0.0.1:{ports['hop']}"),
    ):
        assert config.count(documented) == 1, documented
        config = config.replace(documented, actual)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "typhoon.conf").write_text(config, encoding="utf-8")
    (prefix / "nginx.conf").write_text(
        MAIN_CONF.format(
            prefix=prefix,
            user="user root;" if os.geteuid() == 0 else "",
            balancer_port=ports["balancer"],
            hop_port=ports["hop"],
            balancer_address=BALANCER_ADDRESS,
        ),
        encoding="utf-8",
    )
    site = Site(tmp_path, ports["front"], ports["balancer"], [ports["a"], ports["b"]], {})
    nginx = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        for port in site.instance_ports:
            site.start_instance(port)
        wait_for_port(ports["front"])
        wait_for_port(ports["balancer"])
        yield site
    finally:
        for server in site.instances.values():
            server.kill()
        nginx.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            nginx.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            os.killpg(nginx.pid, signal.SIGKILL)
            nginx.wait(DEADLINE)
        assert nginx.stderr is not None
        errors = nginx.stderr.read().decode()
        nginx.stderr.close()
    assert "[emerg]" not in errors, errors


def request_from_client(port: int, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """A request sent from the client address 127.0.0.2, with the headers given."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=DEADLINE, source_address=(CLIENT_ADDRESS, 0)
    )
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


SPOOFED = {
    "X-Real-Ip": "6.6.6.6",
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Proto": "https",
    "X-Scheme": "https",
}


def test_client_address_and_scheme_come_from_nginx_not_the_client(site: Site) -> None:
    assert request_from_client(site.front_port, "/client", {}) == (200, f"{CLIENT_ADDRESS} http")
    # Headers the client makes up are overwritten (X-Real-Ip, X-Forwarded-Proto) or end
    # up to the left of the address nginx appends (X-Forwarded-For).
    status, body = request_from_client(site.front_port, "/client", SPOOFED)
    assert (status, body) == (200, f"{CLIENT_ADDRESS} http")


def test_a_trusted_proxy_is_skipped_in_x_forwarded_for(site: Site) -> None:
    # client 127.0.0.2 -> balancer (connects from 127.0.0.3) -> second-hop nginx site
    # -> typhoon, which sees "6.6.6.6, 127.0.0.2, 127.0.0.3" and trusts 127.0.0.3 only.
    status, body = request_from_client(site.balancer_port, "/client", SPOOFED)
    assert (status, body) == (200, f"{CLIENT_ADDRESS} http")


def test_instances_without_xheaders_see_nginx_itself(site: Site) -> None:
    port = free_port()
    plain = Server.typhoon(site.directory, "run", "deployapp:app", "--port", str(port))
    try:
        plain.wait_for("serving on")
        # Directly, with made-up headers: no --xheaders, so they are ignored.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
        connection.request("GET", "/client", headers=SPOOFED)
        assert connection.getresponse().read().decode() == "127.0.0.1 http"
        connection.close()
    finally:
        plain.kill()


async def test_websocket_upgrades_pass_through_nginx(site: Site) -> None:
    url = f"ws://127.0.0.1:{site.front_port}/ws"
    connection = await websocket_connect(url)
    try:
        await connection.write_message("hello")
        reply = await connection.read_message()
        assert isinstance(reply, str)
        pid, remote_ip, message = reply.split()
        assert message == "hello"
        assert remote_ip == "127.0.0.1"
        assert int(pid) in {server.pid for server in site.instances.values()}
        await connection.write_message("again")
        assert await connection.read_message() == f"{pid} 127.0.0.1 again"
    finally:
        connection.close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk")
def test_rolling_restart_under_load_loses_no_request(site: Site) -> None:
    url = f"http://127.0.0.1:{site.front_port}/"
    load = subprocess.Popen(
        ["wrk", "-t1", "-c8", "-d10s", "--timeout", "5s", url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1.0)
        # One instance at a time: stop it gracefully, start it again, then the next.
        for port in site.instance_ports:
            site.stop_instance(port)
            assert get(site.front_port)[0] == 200  # the other instance answers meanwhile
            site.start_instance(port)
            time.sleep(0.5)
        output, _ = load.communicate(timeout=DEADLINE)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(DEADLINE)
    assert load.returncode == 0, output
    match = re.search(r"(\d+) requests in", output)
    assert match is not None, output
    assert int(match.group(1)) > 100, output
    outcomes = Counter((site.directory / "nginx" / "access.log").read_text().splitlines())
    assert "Non-2xx" not in output, (output, outcomes.most_common(12))
    assert "Socket errors" not in output, output
    # Both restarted instances serve through nginx afterwards.
    answered = {get(site.front_port)[1] for _ in range(20)}
    assert answered <= {f"pid {server.pid}" for server in site.instances.values()}
