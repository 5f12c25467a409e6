"""The inference runner's order: jobs start by deadline (submitted plus slack), a cancelled
waiting job frees its place, and a closed runner fails the jobs it had not started."""

from __future__ import annotations

import asyncio
import threading

import pytest

from voicestream.live.runner import InferenceRunner


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
        with pytest.raises(RuntimeError, match="closed"):
            await asyncio.wait_for(waiting, 5)
        with pytest.raises(RuntimeError, match="closed"):
            await runner.run(lambda: "late")

    asyncio.run(main())
