# -*- coding: utf-8 -*-
# Copyright: HNA CloudOS maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: job_times
type: aggregate
short_description: The time of each play and of each role, at the end of a run
description:
  - At the end of a playbook run, prints the wall time of each role (the tasks of a play outside any role count under
    the play's name), slowest first, with its number of tasks, then the run's total.
  - A scheduled job that finds nothing to do should be quick; this table says where a slow one spends its time, in
    the job's own output (AWX shows it at the end of the job).
  - The time of a task runs from its start to the start of the next task (or the end of the run), as the linear
    strategy runs them; the tasks of a role included several times add up.
  - The project enables it in its C(ansible.cfg) (C(callbacks_enabled = hna.cloudos.job_times)).
version_added: 0.1.0
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  limit:
    description: How many roles to list, slowest first (V(0) lists all).
    type: int
    default: 12
    env:
      - name: HNA_CLOUDOS_JOB_TIMES_LIMIT
    ini:
      - section: callback_job_times
        key: limit
"""

import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Sum the time of the tasks per role; print the table at the end of the run."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'hna.cloudos.job_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._started = time.monotonic()
        self._current = None
        self._since = None
        self._play = ''
        self._times = {}
        self._tasks = {}

    def _close(self):
        now = time.monotonic()
        if self._current is not None:
            self._times[self._current] = self._times.get(self._current, 0.0) + now - self._since
        return now

    def _start(self, task):
        now = self._close()
        role = getattr(task, '_role', None)
        key = role.get_name() if role is not None else 'play: %s' % (self._play or '(unnamed)')
        self._current, self._since = key, now
        self._tasks[key] = self._tasks.get(key, 0) + 1

    def v2_playbook_on_play_start(self, play):
        self._close()
        self._current = None
        self._play = play.get_name().strip()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)

    def v2_playbook_on_stats(self, stats):
        now = self._close()
        self._current = None
        if not self._times:
            return
        limit = self.get_option('limit')
        rows = sorted(self._times.items(), key=lambda item: (-item[1], item[0]))
        shown = rows if not limit or limit <= 0 else rows[:limit]
        width = max(len(name) for name, dummy in shown)
        self._display.banner('TIME PER ROLE')
        for name, seconds in shown:
            self._display.display('%s %4d tasks %8.1f s' % (name.ljust(width), self._tasks.get(name, 0), seconds))
        if len(shown) < len(rows):
            rest = sum(seconds for dummy, seconds in rows[len(shown):])
            self._display.display('%s %s %8.1f s' % (('(%d more)' % (len(rows) - len(shown))).ljust(width), ' ' * 10, rest))
        self._display.display('%s %s %8.1f s' % ('total'.ljust(width), ' ' * 10, now - self._started))
