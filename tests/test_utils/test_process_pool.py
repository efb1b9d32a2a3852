"""process_pool, imap_with_progress and the task timing log."""
import logging
import os
import re

import pytest

from wsstool.utils.process_pool import (TaskError, default_num_workers,
                                        imap_with_progress, process_pool,
                                        task_time_summary)


def _square_and_pid(task: int) -> tuple:
    return task * task, os.getpid()


def _fail_on_three(task: int) -> int:
    if task == 3:
        raise ValueError(f'cannot take {task}')
    return task


def test_inline_and_two_workers_give_the_same_results(capsys):
    tasks = list(range(7))
    inline = list(
        imap_with_progress(None, _square_and_pid, tasks, 'squares', None))
    assert [result for result, _ in inline] == [t * t for t in tasks]
    assert {pid for _, pid in inline} == {os.getpid()}
    with process_pool(2) as pool:
        pooled = list(
            imap_with_progress(pool, _square_and_pid, tasks, 'squares',
                               None))
    assert sorted(result for result, _ in pooled) == [t * t for t in tasks]
    assert os.getpid() not in {pid for _, pid in pooled}
    out = capsys.readouterr().out
    assert '7/7' in out  # the progress bar
    assert out.count('squares: 7 tasks in') == 2


def test_timing_is_logged(caplog):
    logger = logging.getLogger('wsstool.test_process_pool')
    with caplog.at_level(logging.INFO, logger=logger.name):
        results = imap_with_progress(None, _fail_on_three, [1, 2], 'labels',
                                     logger)
        assert next(results) == 1
        assert not caplog.records  # logged once everything is consumed
        assert list(results) == [2]
    message = caplog.records[-1].getMessage()
    match = re.fullmatch(
        r'labels: 2 tasks in ([\d.]+) s \(([\d.]+) tasks/s\); seconds per '
        r'task: mean ([\d.]+), median ([\d.]+), max ([\d.]+)', message)
    assert match, message
    mean, median, maximum = map(float, match.groups()[2:])
    assert mean == median and maximum >= mean


def test_task_time_summary_by_hand():
    assert task_time_summary('crf', [1.0, 2.0, 6.0], 4.0) == (
        'crf: 3 tasks in 4.00 s (0.75 tasks/s); seconds per task: mean '
        '3.000, median 2.000, max 6.000')
    assert task_time_summary('crf', [], 0.0) == 'crf: no tasks'


@pytest.mark.parametrize('workers', [0, 2])
def test_task_errors_name_the_task(workers):
    if workers:
        with process_pool(workers) as pool, pytest.raises(
                TaskError,
                match=r'task 3 failed: ValueError: cannot take 3'):
            list(imap_with_progress(pool, _fail_on_three, [1, 3, 5], 'x',
                                    'silent'))
    else:
        with pytest.raises(TaskError,
                           match=r'task 3 failed: ValueError: cannot take 3'):
            list(imap_with_progress(None, _fail_on_three, [1, 3, 5], 'x',
                                    'silent'))


def test_default_num_workers_shares_the_cores():
    cores = default_num_workers(1)
    assert cores >= 1
    assert default_num_workers(2) == max(1, cores // 2)
    assert default_num_workers(10 * cores) == 1
