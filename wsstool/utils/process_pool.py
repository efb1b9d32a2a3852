"""Process pools for per-image CPU work (dense CRF, relation labels, masks)
with progress and per-task timing."""
import logging
import math
import multiprocessing
import os
import reprlib
import statistics
import sys
import time
from functools import partial
from multiprocessing.pool import Pool
from typing import Any, Callable, Iterator, Sequence

from mmengine.dist import is_main_process
from mmengine.logging import print_log
from mmengine.utils import ProgressBar


class TaskError(RuntimeError):
    """A task of :func:`imap_with_progress` raised; the message names the
    task and the original error."""


def default_num_workers(world_size: int = 1) -> int:
    """The available CPU cores shared among ``world_size`` processes."""
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
             else os.cpu_count())
    return max(1, cores // world_size)


def process_pool(num_workers: int) -> Pool:
    """A pool of ``num_workers`` processes, forked where the platform can
    fork (create it before building a model: workers only need numpy and
    pydensecrf)."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context(
        'fork' if 'fork' in methods else None)
    return context.Pool(num_workers)


def timed_call(func: Callable[[Any], Any], task: Any) -> tuple[float, Any]:
    """``(seconds, func(task))``, timed where it runs (in the worker); an
    exception is re-raised as a :class:`TaskError` naming the task."""
    start = time.perf_counter()
    try:
        result = func(task)
    except Exception as e:
        raise TaskError(f'task {reprlib.repr(task)} failed: '
                        f'{type(e).__name__}: {e}') from e
    return time.perf_counter() - start, result


def task_time_summary(desc: str, seconds: Sequence[float],
                      wall_seconds: float) -> str:
    """One line: task count, wall time, tasks/s and the mean / median / max
    seconds per task."""
    if not seconds:
        return f'{desc}: no tasks'
    rate = len(seconds) / wall_seconds if wall_seconds > 0 else math.inf
    return (f'{desc}: {len(seconds)} tasks in {wall_seconds:.2f} s '
            f'({rate:.2f} tasks/s); seconds per task: '
            f'mean {statistics.fmean(seconds):.3f}, median '
            f'{statistics.median(seconds):.3f}, max {max(seconds):.3f}')


def imap_with_progress(pool: Pool | None,
                       func: Callable[[Any], Any],
                       tasks: Sequence,
                       desc: str,
                       logger: logging.Logger | str | None = 'current'
                       ) -> Iterator:
    """Run ``func(task)`` for every task and yield the results in completion
    order.

    Tasks run in ``pool`` (``func`` and the tasks must pickle) or one after
    the other in this process when ``pool`` is None. Rank 0 shows a progress
    bar; when all results are consumed, the per-task timing
    (:func:`task_time_summary`) goes to ``logger`` through ``print_log``.

    Args:
        pool (Pool, optional): The worker processes.
        func (Callable): Function of one task.
        tasks (Sequence): The tasks.
        desc (str): What is computed, for the log.
        logger (Logger | str, optional): ``print_log`` logger (None:
            print). Defaults to 'current'.

    Yields:
        The results of ``func``.

    Raises:
        TaskError: A task raised; the message names it.
    """
    timed = partial(timed_call, func)
    results = (map(timed, tasks)
               if pool is None else pool.imap_unordered(timed, tasks))
    progress = (ProgressBar(len(tasks), file=sys.stdout)
                if is_main_process() else None)
    seconds = []
    start = time.perf_counter()
    for elapsed, result in results:
        seconds.append(elapsed)
        if progress is not None:
            progress.update()
        yield result
    if progress is not None:
        progress.file.write('\n')
    print_log(
        task_time_summary(desc, seconds,
                          time.perf_counter() - start), logger)
