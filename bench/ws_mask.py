"""WebSocket masking throughput, and the codec's cost per small message.

Masking: ``typhoon.wsproto.apply_mask`` on payloads of 1 KiB to 16 MiB, against a
per-byte Python loop (the thing it replaces; timed on small sizes only) and, when the
``websockets`` test dependency is installed, its C ``speedups.apply_mask`` as a
ceiling. Reported: best-of-``--repeat`` time and MB/s.

Codec: a server ``WebSocketCodec`` reading a masked 32-byte text frame and encoding
the echo, uncompressed and with permessage-deflate through the events API, and
uncompressed through ``receive_single`` (the path a connection takes when a read holds
exactly one small message). Reported: microseconds per
message (best of ``--repeat`` batches).

Usage (from the repository root)::

    .venv/bin/python bench/ws_mask.py --repeat 5
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable

from typhoon.wsproto import DeflateParams, Role, WebSocketCodec, apply_mask

SIZES = (1 << 10, 1 << 16, 1 << 20, 16 << 20)
NAIVE_LIMIT = 1 << 16


def naive_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i & 3] for i, b in enumerate(data))


def best_time(func: Callable[[], object], repeat: int, inner: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            func()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def bench_mask(repeat: int) -> None:
    c_mask: Callable[[bytes, bytes], bytes] | None
    try:
        from websockets.speedups import apply_mask as c_mask
    except ImportError:
        c_mask = None
    print(f"{'size':>10} {'impl':<22} {'time':>12} {'MB/s':>9}")
    key = os.urandom(4)
    for size in SIZES:
        data = os.urandom(size)
        inner = max(1, (4 << 20) // size)
        impls: list[tuple[str, Callable[[], object], int]] = [
            ("typhoon apply_mask", functools.partial(apply_mask, data, key), inner),
        ]
        if size <= NAIVE_LIMIT:
            impls.append(("per-byte python loop", functools.partial(naive_mask, data, key), 1))
        if c_mask is not None:
            impls.append(("websockets C speedup", functools.partial(c_mask, data, key), inner))
        for name, func, count in impls:
            seconds = best_time(func, repeat, count)
            print(f"{size:>10} {name:<22} {seconds * 1e3:>10.3f}ms {size / seconds / 1e6:>9.0f}")


def bench_codec(repeat: int) -> None:
    # The client side compresses without context takeover, so the pre-built frames
    # can be replayed in any order; the server keeps its compression context.
    deflate = DeflateParams(client_no_context_takeover=True)
    for label, params in (("uncompressed", None), ("permessage-deflate", deflate)):
        sender = WebSocketCodec(Role.CLIENT, deflate=params)
        receiver = WebSocketCodec(Role.SERVER, deflate=params)
        frame = sender.send_message("x" * 32)

        def echo_one(receiver: WebSocketCodec = receiver, frame: bytes = frame) -> None:
            receiver.receive_data(frame)
            for event in receiver.events():
                receiver.send_message(event.data)  # type: ignore[union-attr]
            receiver.data_to_send()

        seconds = best_time(echo_one, repeat, 2000)
        print(f"server codec, 32-byte echo, {label:<20} {seconds * 1e6:6.2f} us/message")
        if params is not None:
            continue
        # The connection's own path: one whole message per read, no event objects.
        single = WebSocketCodec(Role.SERVER)

        def echo_single(receiver: WebSocketCodec = single, frame: bytes = frame) -> None:
            message = receiver.receive_single(frame)
            assert message is not None
            receiver.send_message(message)

        seconds = best_time(echo_single, repeat, 2000)
        print(f"server codec, 32-byte echo, {'receive_single':<20} {seconds * 1e6:6.2f} us/message")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench_mask(args.repeat)
    bench_codec(args.repeat)


if __name__ == "__main__":
    main()
