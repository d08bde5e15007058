#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mysql_replication_info
short_description: Tell the replication role, threads, lag, errors and GTID positions of a MariaDB or MySQL server
version_added: 0.1.0
description:
  - Reads one server (named by O(login_host) and the other connection options) and tells whether it is a primary, a
    replica, both or neither, where it replicates from, whether its replication threads run, how far behind it is and
    why it stopped (the server's error number and text).
  - Never changes anything.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.mysql
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
notes:
  - RV(lag) is the age of the heartbeat row that the primary refreshes every second (the event
    C(hna_cloudos.heartbeat_tick) that M(hna.cloudos.mysql_replication) sets up on the primary), by this server's
    clock. The row replicates like any data, so RV(lag) is the true lag plus at most about one second, and it keeps
    growing when replication stops or falls behind, unlike RV(seconds_behind_master), which is V(null) with a stopped
    SQL thread and 0 when the replica waits for an IO thread that lost the primary.
  - RV(lag) and RV(heartbeat_age) subtract a time written by the primary (in UTC) from this server's UTC time, so they
    assume that both clocks agree (NTP); a clock of the replica that is behind makes RV(lag) 0, never less. For a lag
    that does not depend on clocks, run M(hna.cloudos.mysql_replication), which times a fresh heartbeat.
seealso:
  - module: hna.cloudos.mysql_replication
"""

EXAMPLES = r"""
- name: Read the replication state of the replica
  hna.cloudos.mysql_replication_info:
    login_host: 127.0.0.1
    login_password: "{{ mysql_root_password }}"
  register: replication

- name: Fail when it does not replicate
  ansible.builtin.assert:
    that: replication.running
    fail_msg: "{{ replication.error }}"

- name: Show role, lag and position
  ansible.builtin.debug:
    msg: "{{ replication.role }}: {{ replication.lag }} s behind, at {{ replication.gtid.gtid_slave_pos }}"

- name: Fail when the replica is more than 5 seconds behind
  ansible.builtin.assert:
    that: replication.lag is not none and replication.lag <= 5
    fail_msg: "lag {{ replication.lag }} s, {{ replication.error or 'threads running' }}"
"""

RETURN = r"""
role:
  description:
    - V(replica) when a source is configured; V(primary) when the binary log is on and the server accepts writes
      (C(read_only) off) or has replicas connected; V(both) when both hold (an intermediate replica, or a replica that
      accepts writes); V(none) otherwise (no binary log, or a read-only server without source and replicas).
  returned: always
  type: str
  sample: replica
configured:
  description: Whether a replication source is configured.
  returned: always
  type: bool
  sample: true
source:
  description: The source (primary) - C(host), C(port) and C(user); empty without a source.
  returned: always
  type: dict
  sample: {host: 10.231.0.11, port: 3306, user: repl}
io_running:
  description: State of the IO thread (V(Yes), V(No) or V(Connecting)).
  returned: always
  type: str
  sample: 'Yes'
sql_running:
  description: State of the SQL thread (V(Yes) or V(No)).
  returned: always
  type: str
  sample: 'Yes'
running:
  description: Whether both threads run.
  returned: always
  type: bool
  sample: true
io_state:
  description: What the IO thread does, as the server says it.
  returned: always
  type: str
  sample: Waiting for master to send event
seconds_behind_master:
  description: C(Seconds_Behind_Master) (C(Seconds_Behind_Source) in MySQL) as the server computes it, or V(null).
  returned: always
  type: int
  sample: 0
lag:
  description:
    - On a replica, seconds since the primary last refreshed its heartbeat tick row, by this server's clock - the
      replication lag plus at most about one second; it grows while replication stands still. Assumes synchronized
      clocks (see the notes).
    - V(null) when the server has no replication source configured, or when the tick row has not arrived (the
      primary's heartbeat event was never set up by M(hna.cloudos.mysql_replication)).
  returned: always
  type: float
  sample: 0.42
heartbeat_age:
  description:
    - Seconds since the newest heartbeat row (the tick row or a row written by a run of
      M(hna.cloudos.mysql_replication)) was written on the primary, by this server's clock, or V(null) without a
      heartbeat table. On a replica it is RV(lag) once the primary ticks; on the primary itself, how long ago it last
      ticked. Assumes synchronized clocks (see the notes).
  returned: always
  type: float
  sample: 1.52
heartbeat_ts:
  description: Time (UTC) of the newest heartbeat row, or V(null).
  returned: always
  type: str
  sample: '2025-01-15 10:00:00.123456'
last_io_errno:
  description: Number of the last error of the IO thread (0 without error).
  returned: always
  type: int
  sample: 0
last_io_error:
  description: Text of the last error of the IO thread.
  returned: always
  type: str
  sample: ''
last_sql_errno:
  description: Number of the last error of the SQL thread (0 without error).
  returned: always
  type: int
  sample: 1062
last_sql_error:
  description: Text of the last error of the SQL thread.
  returned: always
  type: str
  sample: "Could not execute Write_rows_v1 event on table shop.t; Duplicate entry '7' for key 'PRIMARY'"
error:
  description: One line that explains why the server does not replicate (with the error number and text), or V(null).
  returned: always
  type: str
  sample: "the replica stopped applying the changes of the primary 10.231.0.11:3306 (SQL error 1062: ...)"
using_gtid:
  description: GTID mode of replication - V(slave_pos), V(current_pos) (MariaDB), V(auto_position) (MySQL) or V(no).
  returned: always
  type: str
  sample: slave_pos
gtid:
  description:
    - GTID positions - MariaDB C(gtid_slave_pos), C(gtid_binlog_pos), C(gtid_current_pos) and, for a replica,
      C(gtid_io_pos); MySQL C(gtid_executed), C(gtid_purged) and, for a replica, C(retrieved_gtid_set).
  returned: always
  type: dict
  sample: {gtid_slave_pos: 0-1-1042, gtid_binlog_pos: 0-1-1042, gtid_current_pos: 0-1-1042, gtid_io_pos: 0-1-1042}
read_only:
  description: Whether the server refuses writes from ordinary accounts.
  returned: always
  type: bool
  sample: true
log_bin:
  description: Whether the binary log is on.
  returned: always
  type: bool
  sample: true
server_id:
  description: C(server_id) of the server.
  returned: always
  type: int
  sample: 2
flavour:
  description: V(mariadb) or V(mysql).
  returned: always
  type: str
  sample: mariadb
version:
  description: Version of the server (major.minor.patch).
  returned: always
  type: str
  sample: 10.11.6
server_version:
  description: Version text the server reports.
  returned: always
  type: str
  sample: 10.11.6-MariaDB-0+deb12u1-log
replicas:
  description:
    - Replicas connected to this server (C(SHOW REPLICA HOSTS) / C(SHOW REPLICAS), keys in lower case; or the hosts of
      the binary log dump threads when the account may not list them).
  returned: always
  type: list
  elements: dict
  sample: [{server_id: 2, host: '', port: 3306, master_id: 1}]
replica_count:
  description: Number of RV(replicas).
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.hna.cloudos.plugins.module_utils._mysql_replication import run_replication_info


def main():
    run_replication_info()


if __name__ == '__main__':
    main()
