"""The client side of a DaskObjective: one call, many shards, one sum.

:class:`ShardedSum` offers the methods of :class:`~bpopt._datasum.DataSum`
that an objective calls (``value``, ``value_and_grad``, ``hessp``,
``gnvp``, ``squared_grads``, ``count``), so that the objective's own code
adds the l2 term and handles non-finite values. Each call sends ``theta``
(and ``v``) to the workers, one task per worker for all its shards, and
adds the partial sums in shard order, so that the result does not depend
on which worker answered.

A call checks that every shard answered exactly once with its number of
rows. When a worker leaves during or between calls, its shards move to
the workers that remain, are rebuilt there from their source, and the
call completes; a worker's error or a call past ``timeout`` raises.
"""

import logging
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import CancelledError

import numpy as np
from distributed import wait
from distributed.comm import CommClosedError
from distributed.scheduler import KilledWorker

from ._dask_shard import MissingShard, NpyRows, ShardError, drop, evaluate

logger = logging.getLogger(__name__)

# vectors larger than this are scattered rather than sent inside the task
_EMBED_BYTES = 2**20
# a shard that loses its worker more often than this in one call fails it
_MAX_MOVES = 3
# errors that mean "the worker or its data is gone", not "the task failed"
_LOST = (CancelledError, CommClosedError, KilledWorker, MissingShard)


class Shard:
    """Rows ``start:stop`` of the data, where they live and where they came from.

    ``source`` is an :class:`~bpopt._dask_shard.NpyRows`, sent with every
    call, or the client's own ``(X, targets, row_weight)`` rows, scattered
    to ``worker`` until it has built the shard (``built``) and then
    released, so that the worker keeps one copy of them.
    """

    def __init__(self, index, start, stop, source, worker):
        self.index, self.start, self.stop = index, start, stop
        self.source, self.worker = source, worker
        self.built, self.data = False, None

    def spec(self, client):
        """What the worker needs to find or build this shard."""
        if isinstance(self.source, NpyRows):
            return self.index, self.start, self.stop, self.source
        if self.built:
            return self.index, self.start, self.stop, None
        if self.data is None or self.data.status != "finished":
            self.data = client.scatter([self.source], workers=[self.worker],
                                       hash=False)[0]
        return self.index, self.start, self.stop, self.data

    def lost(self):
        """Forget that the worker holds it; the rows will be sent again."""
        self.built, self.data = False, None


class ShardedSum:
    """Partial sums of the data term from shards on Dask workers."""

    def __init__(self, client, config, shards, timeout, owned):
        self.client, self.config, self.shards = client, config, shards
        self.timeout, self.owned = timeout, owned
        self.token = f"bpopt-{uuid.uuid4().hex}"     # names it on the workers
        self.counts = Counter()
        self._lock = threading.Lock()
        self.closed = False

    def count(self, *names):
        with self._lock:
            self.counts.update(names)

    # the data term, as DataSum gives it

    def value(self, theta):
        return sum(self.map("value", theta))

    def value_and_grad(self, theta):
        answers = self.map("value_and_grad", theta)
        return sum(f for f, _ in answers), _add([g for _, g in answers])

    def hessp(self, theta, v, out):
        out[...] = _add(self.map("hessp", theta, v))
        return out

    def gnvp(self, theta, v, out):
        out[...] = _add(self.map("gnvp", theta, v))
        return out

    def squared_grads(self, theta, out):
        out[...] = _add(self.map("squared_grads", theta))
        return out

    # one call on every shard

    def map(self, method, theta=None, v=None):
        """Partial results of ``method``, one per shard, in shard order."""
        if self.closed:
            raise RuntimeError("this DaskObjective is closed")
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        results, moves = {}, Counter()
        todo = list(self.shards)
        while todo:
            running = self._submit(todo, method, theta, v, moves)
            if deadline is not None:
                self._wait(running, deadline)
            todo = self._collect(running, results, moves, deadline)
        return [results[shard.index] for shard in self.shards]

    def _submit(self, shards, method, theta, v, moves):
        """One task per worker for its shards; ``{future: shards}``."""
        while True:
            try:
                return self._try_submit(shards, method, theta, v)
            except (KeyError, OSError, CommClosedError):
                # sending to a worker that left: move its shards, or re-raise
                live = self.client.nthreads()
                departed = [s for s in shards if s.worker not in live]
                if not departed:
                    raise
                self._move(departed, moves)

    def _try_submit(self, shards, method, theta, v):
        groups = {}
        for shard in shards:
            groups.setdefault(shard.worker, []).append(shard)
        vectors = (theta, v)
        if sum(x.nbytes for x in vectors if x is not None) > _EMBED_BYTES:
            vectors = self.client.scatter([vectors], workers=list(groups),
                                          broadcast=True, hash=False)[0]
        specs = {worker: [s.spec(self.client) for s in group]
                 for worker, group in groups.items()}
        return {
            self.client.submit(evaluate, self.token, self.config, specs[worker],
                               method, vectors, workers=[worker],
                               allow_other_workers=True, pure=False): group
            for worker, group in groups.items()
        }

    def _wait(self, running, deadline):
        """Wait for every task, or raise ``TimeoutError`` past ``deadline``."""
        remaining = max(0.0, deadline - time.monotonic())
        try:
            wait(list(running), timeout=remaining)
        except CancelledError:
            pass      # a task lost its data with its worker: _collect moves it
        except TimeoutError:
            late = sorted(s.index for future, group in running.items()
                          if not future.done() for s in group)
            self.client.cancel(list(running))
            raise TimeoutError(f"shards {late} did not answer within "
                               f"timeout={self.timeout} s") from None

    def _collect(self, running, results, moves, deadline):
        """Accept the answers of ``running`` tasks; return shards to resend."""
        futures = list(running)
        try:
            answers = self.client.gather(futures)
        except Exception:
            answers = None    # a task failed or lost its data: see each one
        if answers is not None:
            for future, answer in zip(futures, answers):
                self._accept(running[future], *answer, results)
            return []
        todo = []
        for future in futures:
            group = running[future]
            remaining = (None if deadline is None
                         else max(0.0, deadline - time.monotonic()))
            try:
                answer = future.result(timeout=remaining)
            except _LOST:
                todo += self._move(group, moves)
                continue
            except TimeoutError:
                raise TimeoutError(
                    f"shards {[s.index for s in group]} did not answer within "
                    f"timeout={self.timeout} s") from None
            except (ShardError, ValueError, TypeError):
                raise     # a shard failed, or its rows are bad input
            except Exception as exc:
                raise ShardError(
                    f"shards {[s.index for s in group]} on worker "
                    f"{group[0].worker} raised {type(exc).__name__}: {exc}"
                ) from exc
            self._accept(group, *answer, results)
        return todo

    def _accept(self, group, address, answers, results):
        """Check that each shard of ``group`` answered once, with its rows."""
        expected = {s.index: s.stop - s.start for s in group}
        got = {index: rows for index, rows, _, _ in answers}
        if len(answers) != len(group) or got != expected:
            raise ShardError(
                f"worker {address} answered for shards and rows {got}; "
                f"expected {expected}")
        for shard, (index, _, passes, value) in zip(group, answers):
            if index in results:
                raise ShardError(f"shard {index} answered twice in one call")
            if shard.worker != address:
                # Dask ran it elsewhere (its worker left, or work stealing
                # moved the task): rebuilt there; a live worker's copy goes
                self.count("lost_shards")
                if shard.worker in self.client.nthreads():
                    self.client.run(drop, self.token, [index],
                                    workers=[shard.worker])
                shard.worker = address
            shard.built, shard.data = True, None
            results[index] = value
            with self._lock:
                self.counts.update(passes)

    def _move(self, group, moves):
        """Shards whose worker or data was lost, ready to be sent again."""
        live = self.client.nthreads()
        for shard in group:
            moves[shard.index] += 1
            if moves[shard.index] > _MAX_MOVES:
                raise ShardError(
                    f"shard {shard.index} (rows {shard.start}..{shard.stop - 1}) "
                    f"lost its worker {_MAX_MOVES} times in one call")
            self.count("lost_shards")
            shard.lost()
            if shard.worker not in live:
                self._reassign(shard, live)
        return group

    def _reassign(self, shard, live):
        """Move ``shard`` to the live worker with the fewest shards per thread."""
        if not live:
            raise ShardError("no Dask worker is left to take over shard "
                             f"{shard.index}")
        load = Counter(s.worker for s in self.shards)
        old, shard.worker = shard.worker, min(
            live, key=lambda w: (load[w] / live[w], w))
        logger.warning("worker %s left; shard %d (rows %d..%d) moves to %s",
                       old, shard.index, shard.start, shard.stop - 1,
                       shard.worker)

    def rebalance(self):
        """Place the shards over the current workers as at the start; drop
        the copies left behind. Moved shards are rebuilt at the next call."""
        live = self.client.nthreads()
        left = {}
        for shard, worker in zip(self.shards, place(len(self.shards), live)):
            if shard.worker != worker:
                left.setdefault(shard.worker, []).append(shard.index)
                shard.worker = worker
                shard.lost()
        for worker, indices in left.items():
            if worker in live:
                self.client.run(drop, self.token, indices, workers=[worker])

    # the end

    def shutdown(self):
        """Drop the shards on the workers; close what this objective started."""
        if self.closed:
            return
        self.closed = True
        client, owned = self.client, self.owned
        try:
            if client.status == "running":
                client.run(drop, self.token)
        except Exception as exc:   # a worker may be gone already
            logger.debug("dropping shards of %s failed: %s", self.token, exc)
        for shard in self.shards:
            shard.data = None
        for resource in owned:
            resource.close()


def place(n_shards, nthreads):
    """Worker of each shard: consecutive shards share a worker, as many as
    it has threads, around the workers ``{address: threads}`` in turn."""
    slots = [w for w in sorted(nthreads) for _ in range(nthreads[w])]
    return [slots[i % len(slots)] for i in range(n_shards)]


def _add(parts):
    """Sum of ``parts`` in order, in float64."""
    total = np.zeros(np.shape(parts[0]))
    for part in parts:
        total += part
    return total
