"""``python -m chatboard demo`` runs everything locally; ``serve`` runs only the board.

``demo`` starts a private MariaDB with the schema and the development sign-in
provider, then the board (in development mode, so edits restart it), prints the URL
to open and, on Ctrl-C or SIGTERM, stops everything it started. ``serve`` runs the
board alone with its settings from the environment (see :mod:`chatboard.app`).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

from typhoon.httpserver import HTTPServer
from typhoon.log import app_log, enable_pretty_logging

from chatboard.app import make_app
from chatboard.devstack import board_environment, make_dev_provider, start_database
from chatboard.live import Hub

# Seconds the board may take to start, and to stop once asked.
_BOARD_START = 30.0
_BOARD_STOP = 10.0


def _stop_event() -> asyncio.Event:
    """An event set by the first SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def serve(address: str, port: int) -> None:
    """Serve the board until SIGINT or SIGTERM, then shut it down cleanly."""
    stop = _stop_event()
    app = make_app()
    app.listen(port, address)
    app_log.info("chatboard listening on http://%s:%d/", address, port)
    await stop.wait()
    hub = app.settings.get("chatboard_hub")
    if isinstance(hub, Hub):
        hub.close_all()
    await app.shutdown()


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


async def _wait_for_port(address: str, port: int, board: asyncio.subprocess.Process) -> bool:
    """True once the board accepts connections; False if it exited first."""
    deadline = asyncio.get_running_loop().time() + _BOARD_START
    while asyncio.get_running_loop().time() < deadline:
        if board.returncode is not None:
            return False
        try:
            _, writer = await asyncio.open_connection(address, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return True
    return False


async def _stop_board(board: asyncio.subprocess.Process) -> None:
    if board.returncode is None:
        board.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(board.wait(), _BOARD_STOP)
        except TimeoutError:
            board.kill()
            await board.wait()


async def demo(address: str, port: int, debug: bool) -> int:
    """Run the database, the provider and the board; stop them all on a signal."""
    stop = _stop_event()
    if not _port_free(address, port):
        print(f"port {port} on {address} is in use; choose another with --port", file=sys.stderr)
        return 2
    print("starting a private MariaDB...", flush=True)
    database = await asyncio.to_thread(start_database)
    provider_server: HTTPServer | None = None
    board: asyncio.subprocess.Process | None = None
    try:
        provider_port = _free_port(address)
        issuer = f"http://{address}:{provider_port}"
        secret = secrets.token_urlsafe(24)
        origins = [f"http://{address}:{port}"]
        if address == "127.0.0.1":
            origins.append(f"http://localhost:{port}")
        provider = make_dev_provider(issuer, origins, secret)
        provider_server = provider.application().listen(provider_port, address)
        env = dict(os.environ)
        env.update(board_environment(database, issuer, secret, debug=debug))
        here = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
        board = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chatboard",
            "serve",
            "--address",
            address,
            "--port",
            str(port),
            env=env,
        )
        if not await _wait_for_port(address, port, board):
            print("the board did not start; see the messages above", file=sys.stderr)
            return 1
        print(
            "\n  Chatboard is running: open  " + origins[0] + "/\n"
            f"  development sign-in provider: {issuer}/ (users: alice, bob, chloe)\n"
            "  edits under examples/chatboard/ restart the board; Ctrl-C stops everything\n",
            flush=True,
        )
        exited = asyncio.ensure_future(board.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if exited.done() and not stop.is_set():
            print(f"the board exited (status {board.returncode}); stopping", file=sys.stderr)
            return 1
        return 0
    finally:
        print("stopping...", flush=True)
        if board is not None:
            await _stop_board(board)
        if provider_server is not None:
            provider_server.stop()
        await asyncio.to_thread(database.stop)
        print("stopped: board, sign-in provider and MariaDB", flush=True)


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run ``demo`` or ``serve``."""
    parser = argparse.ArgumentParser(prog="python -m chatboard", description=__doc__)
    parser.add_argument("command", choices=["demo", "serve"])
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8888, help="the board's port")
    parser.add_argument(
        "--no-debug", action="store_true", help="demo: run the board without autoreload"
    )
    args = parser.parse_args(argv)
    enable_pretty_logging()
    if args.command == "serve":
        asyncio.run(serve(args.address, args.port))
        return 0
    return asyncio.run(demo(args.address, args.port, not args.no_debug))


if __name__ == "__main__":
    sys.exit(main())
