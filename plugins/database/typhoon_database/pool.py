"""``AsyncPool``: the torndb methods as coroutines, run on a bounded set of worker threads.

Each worker is one thread that owns one :class:`~typhoon_database.Connection` for its whole
life, so a pymysql connection is never touched by two threads. A call borrows an idle
worker, runs there and gives it back; ``transaction()`` keeps one worker for the whole block.
When every worker is busy, a call waits up to ``acquire_timeout`` seconds and then fails with
:class:`~typhoon_database.PoolTimeoutError`.
"""

from __future__ import annotations

__all__ = ["AsyncPool", "Transaction"]

import abc
import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from typhoon_database.connection import Connection, Row
from typhoon_database.errors import InterfaceError, PoolTimeoutError

_T = TypeVar("_T")

#: Rows fetched per trip to the worker thread by ``AsyncPool.iter``.
ITER_BATCH_SIZE = 500


class _Worker:
    """One thread and the connection it owns (created lazily, in that thread)."""

    def __init__(self, index: int, connect: Callable[[], Connection]) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"typhoon-db-{index}")
        self._connect = connect
        self.connection: Connection | None = None

    def _connection(self) -> Connection:
        if self.connection is None:
            self.connection = self._connect()
        return self.connection

    def invoke(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``Connection.<method>`` in this worker's thread (called there)."""
        return getattr(self._connection(), method)(*args, **kwargs)

    def invoke_on(self, function: Callable[[Connection], _T]) -> _T:
        return function(self._connection())

    async def run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, functools.partial(self.invoke, method, args, kwargs)
        )

    async def run_on(self, function: Callable[[Connection], _T]) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, functools.partial(self.invoke_on, function)
        )

    def close(self) -> None:
        """Close the connection in its own thread and let the thread end."""

        def close_connection() -> None:
            if self.connection is not None:
                self.connection.close()
                self.connection = None

        self.executor.submit(close_connection)
        self.executor.shutdown(wait=False)


class _QueryMethods(abc.ABC):
    """The torndb query methods, as coroutines, over a ``_call`` that subclasses define."""

    @abc.abstractmethod
    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``Connection.<method>(*args, **kwargs)`` on a worker and return its result."""

    async def query(self, query: str, *parameters: Any, **kwparameters: Any) -> list[Row]:
        """Run a read query and return every row."""
        rows: list[Row] = await self._call("query", query, *parameters, **kwparameters)
        return rows

    async def get(self, query: str, *parameters: Any, **kwparameters: Any) -> Row | None:
        """Return the single row of a query, ``None`` if none; error if several."""
        row: Row | None = await self._call("get", query, *parameters, **kwparameters)
        return row

    async def execute(self, query: str, *parameters: Any, **kwparameters: Any) -> int:
        """Run a statement and return the last inserted row id."""
        return int(await self._call("execute", query, *parameters, **kwparameters))

    async def execute_lastrowid(self, query: str, *parameters: Any, **kwparameters: Any) -> int:
        """Run a statement and return the last inserted row id."""
        return int(await self._call("execute_lastrowid", query, *parameters, **kwparameters))

    async def execute_rowcount(self, query: str, *parameters: Any, **kwparameters: Any) -> int:
        """Run a statement and return the number of rows it affected."""
        return int(await self._call("execute_rowcount", query, *parameters, **kwparameters))

    async def executemany(
        self, query: str, parameters: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> int:
        """Run a statement once per parameter set; return the last inserted row id."""
        return int(await self._call("executemany", query, list(parameters)))

    async def executemany_lastrowid(
        self, query: str, parameters: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> int:
        """Run a statement once per parameter set; return the last inserted row id."""
        return int(await self._call("executemany_lastrowid", query, list(parameters)))

    async def executemany_rowcount(
        self, query: str, parameters: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> int:
        """Run a statement once per parameter set; return the total rows affected."""
        return int(await self._call("executemany_rowcount", query, list(parameters)))


class Transaction(_QueryMethods):
    """The query methods bound to one connection inside ``AsyncPool.transaction()``."""

    def __init__(self, worker: _Worker) -> None:
        self._worker: _Worker | None = worker

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._worker is None:
            raise InterfaceError(
                "the transaction is over; run queries inside its 'async with' block"
            )
        return await self._worker.run(method, *args, **kwargs)


class AsyncPool(_QueryMethods):
    """A bounded pool of MySQL connections with coroutine query methods.

    Takes the arguments of :class:`~typhoon_database.Connection` plus ``size`` (worker
    threads, one connection each) and ``acquire_timeout`` (seconds a call waits for a free
    connection before :class:`~typhoon_database.PoolTimeoutError`).
    """

    def __init__(
        self,
        host: str,
        database: str,
        user: str | None = None,
        password: str | None = None,
        *,
        size: int = 8,
        acquire_timeout: float = 10.0,
        **connection_kwargs: Any,
    ) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, not {size}")
        self.size = size
        self.acquire_timeout = acquire_timeout
        connect = functools.partial(
            Connection, host, database, user=user, password=password, **connection_kwargs
        )
        self._workers = [_Worker(index, connect) for index in range(size)]
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        for worker in self._workers:
            self._idle.put_nowait(worker)
        self._closed = False

    def __repr__(self) -> str:
        return f"<AsyncPool size={self.size} idle={self._idle.qsize()}>"

    async def open(self) -> None:
        """Open every connection now, so a bad address or password fails at startup."""
        borrowed = [await self._acquire() for _ in self._workers]
        try:
            await asyncio.gather(*(worker.run("ping") for worker in borrowed))
        finally:
            for worker in borrowed:
                self._idle.put_nowait(worker)

    async def close(self) -> None:
        """Close every connection; calls made afterwards fail with ``InterfaceError``."""
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            worker.close()

    async def _acquire(self) -> _Worker:
        if self._closed:
            raise InterfaceError("the pool is closed")
        try:
            return await asyncio.wait_for(self._idle.get(), self.acquire_timeout)
        except TimeoutError:
            raise PoolTimeoutError(
                f"no free database connection within {self.acquire_timeout:g} s "
                f"(pool size {self.size})"
            ) from None

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        worker = await self._acquire()
        try:
            return await worker.run(method, *args, **kwargs)
        finally:
            # A cancelled caller gives the worker back at once: the worker's own thread
            # runs jobs one after another, so the next borrower simply queues behind it.
            self._idle.put_nowait(worker)

    async def iter(self, query: str, *parameters: Any, **kwparameters: Any) -> AsyncIterator[Row]:
        """Yield the rows of a query in order, fetching them in batches from the server."""
        worker = await self._acquire()
        rows: Iterator[Row] | None = None
        try:
            rows = await worker.run_on(lambda db: db.iter(query, *parameters, **kwparameters))
            while True:
                batch = await worker.run_on(lambda _db: _take(rows, ITER_BATCH_SIZE))
                for row in batch:
                    yield row
                if len(batch) < ITER_BATCH_SIZE:
                    break
        finally:
            if rows is not None:
                close = getattr(rows, "close", None)
                if close is not None:
                    await asyncio.shield(worker.run_on(lambda _db: close()))
            self._idle.put_nowait(worker)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run the block's queries on one connection, committed on success.

        An exception (or cancellation) inside the block rolls the transaction back and
        propagates.
        """
        worker = await self._acquire()
        transaction = Transaction(worker)
        try:
            await worker.run("begin")
            try:
                yield transaction
            except BaseException:
                await asyncio.shield(worker.run("rollback"))
                raise
            await worker.run("commit")
        finally:
            transaction._worker = None
            self._idle.put_nowait(worker)


def _take(rows: Iterator[Row] | None, count: int) -> list[Row]:
    assert rows is not None
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == count:
            break
    return batch
