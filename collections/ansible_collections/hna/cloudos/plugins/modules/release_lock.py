#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_lock
short_description: Take or release the release lock of an application in an environment
version_added: 0.1.0
description:
  - One visible lock per application and environment, so that two releases (or a release and a rollback) never run
    at once. It is the file C(<root_dir>/<environment>/<app>/lock.json) on the host the module runs on; use one host
    for it (the release playbooks use the first host of the application in inventory order).
  - The lock belongs to an O(owner) (a person or a job), not to a process, because it is held across a whole
    playbook. It records O(note) (as C(message)), O(action), O(version), when it was taken and when it expires (after O(ttl)
    seconds), so that a run that dies without releasing it does not block the next one for ever.
  - With O(state=present), a free or expired lock is taken (an expired one is taken over, and the old lock is
    returned in RV(taken_over)); a lock the same owner holds is kept unchanged; a live lock of another owner is
    waited for up to O(wait_timeout) seconds, then the task fails naming that owner, since when, its message and its
    expiry.
  - With O(state=absent), the lock is released if O(owner) holds it; another owner's lock only with O(force=true)
    (the force-unlock of a dead run).
  - The lock file is created atomically (linked into place, never overwritten) with mode 0640, and every reading,
    deciding and writing happens under a short lock on C(.mutex), so two runs that find the same expired lock cannot
    both take it.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  state:
    description:
      - V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - Who holds the lock. The module runs on the lock host and cannot know who started the play, so the playbook
        says it - for example from the AWX variables C(awx_user_name) and C(awx_job_id), or from the C(USER)
        environment variable of the controller (the C(env) lookup), as in the examples.
      - A second run with the same owner finds the lock its own.
    type: str
    required: true
  note:
    description:
      - Why the lock is held (the C(message) of the lock); shown to whoever waits for it.
    type: str
  action:
    description:
      - What the holder does (for example V(release) or V(rollback)); shown to whoever waits for it.
    type: str
  version:
    description:
      - The version the holder works on; shown to whoever waits for it.
    type: str
  ttl:
    description:
      - Seconds after which the lock expires and the next run may take it over. Make it longer than a release takes.
    type: int
    default: 1800
  wait_timeout:
    description:
      - Seconds to wait for a live lock of another owner before failing; V(0) fails at once.
    type: int
    default: 0
  force:
    description:
      - With O(state=absent), release the lock whoever holds it.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.release
attributes:
  check_mode:
    support: full
    details:
      - Tells whether the lock would be taken, taken over or released, and fails as the real run would when another
        owner holds it (after waiting the same way); writes nothing.
  diff_mode:
    support: full
    details:
      - The lock before and after.
  platform:
    support: full
    platforms: posix
seealso:
  - module: hna.cloudos.release
  - module: hna.cloudos.release_info
"""

EXAMPLES = r"""
- name: Take the release lock of fleet, waiting up to 5 minutes for another release
  hna.cloudos.release_lock:
    app: fleet
    owner: "{{ awx_user_name | default(lookup('env', 'USER')) }}@{{ awx_job_id | default('cli') }}"
    action: release
    version: "2"
    note: new trip export
    ttl: 3600
    wait_timeout: 300
  delegate_to: "{{ groups['fleet_hosts'] | first }}"
  run_once: true
  register: fleet_lock

- name: Say so when a dead run's lock was taken over
  ansible.builtin.debug:
    msg: "Took over the expired lock of {{ fleet_lock.taken_over.owner }}"
  when: fleet_lock.taken_over

- name: Release it at the end
  hna.cloudos.release_lock:
    app: fleet
    owner: "{{ fleet_lock.lock.owner }}"
    state: absent
  delegate_to: "{{ groups['fleet_hosts'] | first }}"
  run_once: true

- name: Force-unlock after a run that died (whoever holds it)
  hna.cloudos.release_lock:
    app: fleet
    owner: "{{ lookup('env', 'USER') }}"
    state: absent
    force: true
"""

RETURN = r"""
lock:
  description:
    - The lock held after the task - C(owner), C(started), C(expires), C(message), C(action), C(version) - or
      V(null) after O(state=absent). When the task fails because another owner holds it, that owner's lock with
      C(expired).
  returned: always
  type: dict
  sample:
    owner: alice@job-42
    started: '2026-12-01T15:00:00Z'
    expires: '2026-12-01T15:30:00Z'
    note: new trip export
    action: release
    version: '2'
taken_over:
  description: The expired lock that was replaced, or V(null).
  returned: always
  type: dict
waited:
  description: Seconds spent waiting for the lock.
  returned: when O(state=present)
  type: float
released:
  description: The lock that was released, or V(null) when there was none.
  returned: when O(state=absent)
  type: dict
"""

from ansible_collections.hna.cloudos.plugins.module_utils._release_task import run_release_lock


def main():
    run_release_lock()


if __name__ == '__main__':
    main()
