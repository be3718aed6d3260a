"""Run a command whose processes (e.g. DDP ranks, children of rank 0) must all finish in time.

`run_group(command, timeout=..., hang=...)` starts the command in a session of its own and, when it
has not finished after `timeout` seconds, kills the whole process group and fails with `hang`: a
collective that is not matched on every rank shows up as a failed test, never as a hung one.
"""
from __future__ import annotations

import os
import signal
import subprocess


def run_group(command: list[str], *, timeout: float, hang: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(hang) from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
