"""The inference runner's order: jobs start by deadline (submitted plus slack), a cancelled
waiting job frees its place, and a closed runner fails the jobs it had not started."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from voicestream.live.runner import InferenceRunner, RunnerClosedError, started_at_low_priority


async def _blocked(runner: InferenceRunner) -> tuple[threading.Event, asyncio.Task[None]]:
    """A job holding the runner's only worker until the event is set."""
    gate, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(10)

    task = asyncio.create_task(runner.run(hold))
    while not started.is_set():
        await asyncio.sleep(0.01)
    return gate, task


def test_jobs_start_by_deadline_and_a_slack_job_yields() -> None:
    async def main() -> list[str]:
        runner = InferenceRunner(workers=1, max_pending=8)
        order: list[str] = []
        gate, holder = await _blocked(runner)
        revision = asyncio.create_task(runner.run(lambda: order.append("revision"), slack_s=5.0))
        await asyncio.sleep(0.01)
        first = asyncio.create_task(runner.run(lambda: order.append("caption 1")))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(runner.run(lambda: order.append("caption 2")))
        await asyncio.sleep(0.05)
        assert order == [] and runner.busy == 4
        gate.set()
        await asyncio.gather(holder, revision, first, second)
        assert runner.busy == 0
        runner.close()
        return order

    assert asyncio.run(main()) == ["caption 1", "caption 2", "revision"]


def test_a_cancelled_waiting_job_frees_its_place() -> None:
    async def main() -> list[str]:
        runner = InferenceRunner(workers=1, max_pending=8)
        order: list[str] = []
        gate, holder = await _blocked(runner)
        gone = asyncio.create_task(runner.run(lambda: order.append("gone")))
        kept = asyncio.create_task(runner.run(lambda: order.append("kept")))
        await asyncio.sleep(0.05)
        gone.cancel()
        gate.set()
        await asyncio.gather(holder, kept)
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert await asyncio.wait_for(runner.run(lambda: "after"), 5) == "after", "the worker was not lost"
        runner.close()
        return order

    assert asyncio.run(main()) == ["kept"]


def test_a_failing_job_raises_and_the_worker_goes_on() -> None:
    async def main() -> str:
        runner = InferenceRunner(workers=1, max_pending=2)

        def fail() -> None:
            raise ValueError("decode failed")

        with pytest.raises(ValueError, match="decode failed"):
            await runner.run(fail)
        result = await asyncio.wait_for(runner.run(lambda: "next"), 5)
        runner.close()
        return result

    assert asyncio.run(main()) == "next"


def test_a_closed_runner_fails_jobs_it_had_not_started() -> None:
    async def main() -> None:
        runner = InferenceRunner(workers=1, max_pending=8)
        gate, holder = await _blocked(runner)
        waiting = asyncio.create_task(runner.run(lambda: "never"))
        await asyncio.sleep(0.05)
        closing = asyncio.create_task(asyncio.to_thread(runner.close))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(holder, closing)
        with pytest.raises(RunnerClosedError):
            await asyncio.wait_for(waiting, 5)
        with pytest.raises(RunnerClosedError):
            await runner.run(lambda: "late")

    asyncio.run(main())


def test_a_turn_handed_out_as_the_runner_closes_gives_its_worker_back() -> None:
    """close() on another thread may shut the pool between a job's turn and its submit: that
    job fails as closed and the others waiting are not left hanging."""

    async def main() -> None:
        runner = InferenceRunner(workers=1, max_pending=8)
        runner._pool.shutdown(wait=True)  # the pool is gone, the runner does not know yet
        with pytest.raises(RunnerClosedError):
            await runner.run(lambda: "first")
        runner._closed = True
        with pytest.raises(RunnerClosedError):
            await asyncio.wait_for(runner.run(lambda: "second"), 5)
        assert runner._idle == 1, "the worker went back"

    asyncio.run(main())


def test_a_file_jobs_decode_after_close_ends_as_cancelled() -> None:
    """A file job's decode that finds the runner closed stops the job as cancelled (the API's
    503 "the server is stopping"), not as a failure."""
    from voicestream.server.file_jobs import JobCancelledError, QueuedEngine

    class Engine:
        name, multilingual, speculative = "fake", False, False

        def detect_language(self, samples: object) -> tuple[str, float]:
            return "en", 1.0

    async def main() -> None:
        runner = InferenceRunner(workers=1, max_pending=2)
        runner.close()
        queued = QueuedEngine(Engine(), runner, asyncio.get_running_loop(), threading.Event())  # type: ignore[arg-type]
        with pytest.raises(JobCancelledError, match="closing"):
            await asyncio.to_thread(queued.detect_language, None)  # type: ignore[arg-type]

    asyncio.run(main())


@pytest.mark.skipif(
    not hasattr(os, "setpriority") or os.getpriority(os.PRIO_PROCESS, 0) >= 15,
    reason="thread priorities (Linux), from below niceness 15",
)
def test_threads_started_while_loading_run_at_low_priority_and_others_do_not() -> None:
    """What a model load starts (its compute threads) gets the niceness; threads that ran
    before, and the caller's, keep theirs."""
    stop = threading.Event()
    before = threading.Thread(target=stop.wait, args=(10,))
    before.start()

    def load() -> threading.Thread:
        thread = threading.Thread(target=stop.wait, args=(10,))
        thread.start()
        return thread

    try:
        started = started_at_low_priority(load, 15)
        assert started.native_id is not None and before.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, started.native_id) == 15
        assert os.getpriority(os.PRIO_PROCESS, before.native_id) == os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < 15
    finally:
        stop.set()
        before.join()
