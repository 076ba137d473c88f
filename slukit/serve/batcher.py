"""Micro-batching: concurrent requests share one model call.

Requests put their texts on a queue. One loop takes what is waiting (up to
`max_batch` utterances), and when more than one request was waiting (the
service is busy) it waits up to `max_wait_ms` for more before running the
model once, in one worker thread, on all of them. A lone request on an idle
service runs at once: the wait costs latency only when batching can pay for it.

The model runs in a single thread: LiteRT's interpreter and a Keras model are
each used by one thread at a time, and the event loop stays free to read and
answer requests meanwhile.

Example:
    >>> import asyncio
    >>> async def demo():
    ...     batcher = MicroBatcher(lambda texts: [t.upper() for t in texts])
    ...     batcher.start()
    ...     out = await asyncio.gather(batcher.submit(["a", "b"]), batcher.submit(["c"]))
    ...     await batcher.close()
    ...     return out
    >>> asyncio.run(demo())
    [['A', 'B'], ['C']]
"""

import asyncio
import concurrent.futures

_STOP = object()


class MicroBatcher:
    """Runs `predict(texts) -> results` on batches gathered from concurrent `submit` calls.

    Args:
        predict: a function of a list of texts, returning one result per text.
        max_batch: the most utterances in one model call.
        max_wait_ms: how long a busy batcher waits to fill a batch.
        on_batch: called with the size of every batch (for metrics).
    """

    def __init__(self, predict, max_batch=64, max_wait_ms=2.0, on_batch=None):
        self.predict = predict
        self.max_batch = max(1, int(max_batch))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self.on_batch = on_batch
        self.queue = None
        self.task = None
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="slukit-model")

    def start(self):
        """Starts the batching loop on the running event loop."""
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def submit(self, texts):
        """The results for `texts`, computed in a batch with other requests' texts."""
        if self.task is None or self.task.done():
            raise RuntimeError("the batcher is not running")
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((list(texts), future))
        return await future

    async def close(self):
        """Finishes every queued request, then stops the loop and the model thread."""
        if self.task is not None and not self.task.done():
            self.queue.put_nowait(_STOP)
            await self.task
        self.executor.shutdown(wait=True)

    async def _gather(self, first):
        """`first` and the requests waiting behind it; whether to stop afterwards."""
        items, size, stop = [first], len(first[0]), False
        loop = asyncio.get_running_loop()
        deadline = None
        while size < self.max_batch:
            try:
                item = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                if len(items) < 2 or not self.max_wait:
                    break  # idle: run now
                deadline = deadline or loop.time() + self.max_wait
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
            if item is _STOP:
                stop = True
                break
            items.append(item)
            size += len(item[0])
        return items, stop

    async def _loop(self):
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            if first is _STOP:
                return
            items, stop = await self._gather(first)
            items = [(texts, future) for texts, future in items if not future.cancelled()]
            texts = [t for batch, _ in items for t in batch]
            if texts:
                if self.on_batch is not None:
                    self.on_batch(len(texts))
                try:
                    results = await loop.run_in_executor(self.executor, self.predict, texts)
                except Exception as err:  # handed to each request, which answers 500
                    for _, future in items:
                        if not future.done():
                            future.set_exception(err)
                else:
                    start = 0
                    for batch, future in items:
                        if not future.done():
                            future.set_result(results[start:start + len(batch)])
                        start += len(batch)
            else:
                for _, future in items:
                    if not future.done():
                        future.set_result([])
            if stop:
                return
