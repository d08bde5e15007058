#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mysql_backup_info
short_description: List the MariaDB backups on a host with their status, and pick the latest verified one
version_added: 0.1.0
description:
  - Reads the backup directory written by M(hna.cloudos.mysql_backup) on the host it runs on; no server is contacted.
  - The status of a backup - V(verified) (its manifest says it was verified and the data file has the size it
    records), V(unverified), V(corrupt) (a verification found a checksum mismatch, or the size differs) or
    V(incomplete) (a data file or a partial file without a manifest, or a manifest whose data file is missing; never
    usable).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  backup_dir:
    description:
      - Directory of the backups.
    type: path
    default: /var/backups/hna-cloudos/mysql
  instance:
    description:
      - Only the backups of this instance; all instances when not set.
    type: str
  checksum:
    description:
      - Re-read the data file of every backup that has a manifest and compare its sha256; a mismatch shows as
        V(corrupt) with the reason in C(checksum). Nothing is written (M(hna.cloudos.mysql_backup) with O(hna.cloudos.mysql_backup#module:verify)
        records a verification in the manifest).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
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
  - module: hna.cloudos.mysql_backup
"""

EXAMPLES = r"""
- name: List the backups of testlog
  hna.cloudos.mysql_backup_info:
    instance: testlog
  register: backups

- name: Fail without a verified backup of the last day
  ansible.builtin.assert:
    that:
      - backups.latest_verified is not none
      - backups.latest_verified.age_seconds < 86400
"""

RETURN = r"""
backups:
  description:
    - Every backup, newest first - C(id), C(instance), C(status), C(size), C(age_seconds), C(started), C(position),
      C(method), C(verified), C(path), C(manifest_path), C(sha256), C(databases), C(compression), and with
      O(checksum=true) C(checksum) (V(ok) or why it failed).
  returned: always
  type: list
  elements: dict
  sample:
    - id: testlog-20261201T130501Z-logical
      instance: testlog
      status: verified
      size: 5242880
      age_seconds: 3600
      started: '2026-12-01T13:05:01Z'
      position: {gtid: 0-1-42, binlog_file: mysql-bin.000003, binlog_pos: 1234}
      method: logical
      verified: restore
latest_verified:
  description: The newest backup with status V(verified), as in RV(backups), or V(null).
  returned: always
  type: dict
"""

from ansible_collections.hna.cloudos.plugins.module_utils._mysql_backup import run_backup_info


def main():
    run_backup_info()


if __name__ == '__main__':
    main()
