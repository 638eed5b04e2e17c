# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark trace: per task and host, start/end times, action, delegation, loop items, and the busy CPU
time of the whole machine (/proc/stat) at every task start, so that bench/run.py can charge CPU to tasks.

Used by bench/run.py in its profile runs only (ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=bench_trace, BENCH_TRACE_FILE=<path>): writes one JSON document at the end.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_trace
type: aggregate
short_description: per task and host timings for bench/run.py
description: Writes task/host start and end times, action and delegation to $BENCH_TRACE_FILE as JSON.
requirements: [enable in configuration]
"""


def _busy():
    """Busy CPU seconds of the whole machine since boot (all but idle and iowait)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return round((sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), 2)


def _get(obj, public, private):
    return getattr(obj, public, None) if hasattr(obj, public) else getattr(obj, private)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_trace"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._t0 = time.monotonic()
        self._tasks = []
        self._by_uuid = {}

    def _now(self):
        return round(time.monotonic() - self._t0, 4)

    def _task_start(self, task, handler=False):
        entry = {"name": task.get_name(), "action": task.action, "handler": handler, "start": self._now(),
                 "busy": _busy(), "hosts": {}}
        self._tasks.append(entry)
        self._by_uuid[task._uuid] = entry

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task, handler=True)

    def v2_runner_on_start(self, host, task):
        entry = self._by_uuid.get(task._uuid)
        if entry is not None:
            entry["hosts"][host.get_name()] = {"start": self._now()}

    def _end(self, result, status):
        task, host = _get(result, "task", "_task"), _get(result, "host", "_host")
        res = _get(result, "result", "_result")
        entry = self._by_uuid.get(task._uuid)
        if entry is None:
            return
        h = entry["hosts"].setdefault(host.get_name(), {"start": None})
        h["end"] = self._now()
        h["status"] = status
        delegated = (res.get("_ansible_delegated_vars") or {}).get("ansible_delegated_host") or task.delegate_to
        if delegated:
            h["delegated_to"] = str(delegated)
        if (task.loop is not None or task.loop_with) and isinstance(res.get("results"), list):
            h["items"] = sum(1 for r in res["results"] if isinstance(r, dict) and not r.get("skipped"))

    def v2_runner_on_ok(self, result):
        self._end(result, "changed" if _get(result, "result", "_result").get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._end(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._end(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._end(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_TRACE_FILE")
        if path:
            with open(path, "w") as f:
                json.dump({"end": self._now(), "busy_end": _busy(), "tasks": self._tasks}, f, indent=1)
