#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_info
short_description: Read the release bundles, the ledger and the lock of an application, with a table to print
version_added: 0.1.0
description:
  - Reads what M(hna.cloudos.release) and M(hna.cloudos.release_lock) wrote under
    C(<root_dir>/<environment>/<app>/) on the host it runs on; changes nothing.
  - Returns the ledger, every bundle, the lock, the plan of a rollback and RV(table), lines that show the history of
    the application - who released which version (with the image digest), when, the result and every cloud's (or
    host's) state.
  - The ledger is written on every host of the application and the copies may disagree after a failure. Run this
    module on every host, then once more with O(copies) (every host's RV(ledger)) - the ledger returned is then the
    copy with the highest generation, and RV(newest) says whose it is and which hosts are behind.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  clouds:
    description:
      - The cloud of each host (inventory name to cloud name). With it the table sums up the hosts per cloud
        (C(hna-bj2 2/2 ok)); without it, it shows every host.
    type: dict
    default: {}
  history:
    description:
      - How many of the last history entries the table shows; V(0) shows all. RV(ledger) always holds the whole history.
    type: int
    default: 20
  copies:
    description:
      - Copies of the ledger by host (inventory name to the RV(ledger) that host returned, or V(null) when it has none).
        The returned ledger is the copy with the highest generation (the first of equal ones), not this host's.
    type: dict
  rollback_version:
    description:
      - Plan a rollback to this version and fail, naming the retained versions, when it is not retained.
        Without it, RV(rollback) is the plan of a rollback to the previous version.
    type: str
  keep:
    description:
      - Plan the retention of O(keep) warm versions - RV(retention) lists the retained versions to remove (their
        containers, then M(hna.cloudos.release) O(hna.cloudos.release#module:action=forget)). The current and the
        previous version are never in it; of the others the most recently used are kept.
    type: int
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.release
attributes:
  check_mode:
    support: full
    details:
      - This module only reads information and never changes anything, so it runs normally in check mode.
  diff_mode:
    support: N/A
    details:
      - This module only reads information and never changes anything.
  platform:
    support: full
    platforms: posix
seealso:
  - module: hna.cloudos.release
  - module: hna.cloudos.release_lock
"""

EXAMPLES = r"""
- name: Read every host's copy of the ledger of fleet
  hna.cloudos.release_info:
    app: fleet
  register: fleet_copy

- name: Take the newest copy and print the history per cloud
  hna.cloudos.release_info:
    app: fleet
    copies: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, ['fleet_copy', 'ledger']))) }}"
    clouds: "{{ dict(groups['cloud_hna_bj2'] | product(['hna-bj2']) + groups['cloud_aliyun_hz'] | product(['aliyun-hz'])) }}"
  run_once: true
  register: fleet_newest

- name: Show it
  ansible.builtin.debug:
    msg: "{{ fleet_newest.table }}"
  run_once: true

- name: Which versions does keeping 3 warm ones remove?
  hna.cloudos.release_info:
    app: fleet
    keep: 3
  register: fleet_retention

- name: Plan a rollback to version 1 (fails when version 1 is not retained)
  hna.cloudos.release_info:
    app: fleet
    rollback_version: "1"
  register: fleet_rollback
"""

RETURN = r"""
ledger:
  description:
    - The ledger (this host's, or the newest of O(copies)); an empty one of generation 0 when there is none. Its keys
      are described in M(hna.cloudos.release).
  returned: always
  type: dict
bundles:
  description: Every bundle on this host, by version.
  returned: always
  type: dict
table:
  description:
    - A heading line (current, previous and retained versions with their slots, generation), then one line per
      history entry - C(ID), C(VERSION) (C(from->to) for a release or rollback), C(IMAGE) (repository and the first
      12 digits of the digest), C(WHO), C(STARTED), C(ACTION), C(RESULT) (with the failed host) and C(HOSTS) (per
      cloud with O(clouds)).
  returned: always
  type: list
  elements: str
  sample:
    - 'fleet (production): current 2, previous 1, retained 1@0 2@1, generation 9'
    - 'ID  VERSION  IMAGE               WHO    STARTED               ACTION   RESULT  HOSTS'
    - '3   1        fleet@5b1e8c0f0a3d  alice  2026-12-01T14:00:00Z  release  ok      aliyun-hz 2/2 ok, hna-bj2 2/2 ok'
lock:
  description:
    - The release lock on this host (C(owner), C(started), C(expires), C(message), C(action), C(version) and
      C(expired)), or V(null).
  returned: always
  type: dict
newest:
  description:
    - With O(copies), C(host) (whose copy is newest), C(generation) and C(stale_hosts) (hosts with an older copy or
      none); otherwise V(null).
  returned: always
  type: dict
rollback:
  description:
    - The plan of a rollback - C(version) (O(rollback_version) or the previous version), C(from_version) (the current
      one) and C(slot) - or V(null) when there is no previous version.
  returned: always
  type: dict
retention:
  description: With O(keep), the retained versions to remove, oldest first; otherwise V(null).
  returned: always
  type: list
  elements: str
  sample: ['1', '3']
"""

from ansible_collections.hna.cloudos.plugins.module_utils._release_task import run_release_info


def main():
    run_release_info()


if __name__ == '__main__':
    main()
