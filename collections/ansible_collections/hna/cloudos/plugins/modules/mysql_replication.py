#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mysql_replication
short_description: Make a MariaDB or MySQL server replicate from a primary, seeding it first when it is empty
version_added: 0.1.0
description:
  - Runs against the replica (the server named by O(login_host) and the other connection options) and brings it to
    the wanted O(state). Declarative and idempotent - the module reads the replica's current replication settings and
    threads and only runs the statements that change what differs; a second run reports no change.
  - With O(state=running), the replica replicates from the primary with GTID auto-positioning (MariaDB
    C(CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos), MySQL 8 C(CHANGE REPLICATION SOURCE TO ... SOURCE_AUTO_POSITION=1),
    chosen from the version the server reports), and the module waits until both replication threads run and the
    replica is at most O(max_lag) seconds behind, measured with a heartbeat row it writes on the primary.
  - Before it changes anything on the replica, the module checks the primary - that it is reachable, that
    O(primary_user) logs in and holds the C(REPLICATION SLAVE) privilege (C(REPLICATION REPLICA) in MariaDB), that the
    primary's binary logs still hold every transaction the replica needs, and that the replica has no transaction
    of its own that the primary lacks (errant transactions). Each problem fails the task with one line that names
    it and nothing is changed.
  - An empty replica (it never replicated and holds no table outside the system schemas) is seeded with O(seed=auto)
    - a consistent snapshot of the primary (C(mariadb-dump --single-transaction --gtid --master-data=2
    --all-databases --routines --triggers --events)) is streamed into the replica by a pipe that runs inside the
    replica's container O(seed_container). The data never passes through the Ansible controller, and the passwords
    are only in temporary option files (mode 0600, removed afterwards), never on a command line. The replica then
    starts from the GTID position recorded in the dump itself, so that no transaction is lost or applied twice.
  - The seed copies every schema, the system schema C(mysql) included (accounts and grants), so the replica ends up
    with the accounts of the primary; its own binary log is reset first (C(RESET MASTER)) since it holds nothing
    worth keeping.
  - With O(state=running), the module also makes the primary refresh a heartbeat row every second by itself, with
    the event C(hna_cloudos.heartbeat_tick) of the server's event scheduler (no daemon to run), so that
    M(hna.cloudos.mysql_replication_info) can tell the lag of a replica at any time (its return value C(lag)).
    On the primary, through O(primary_admin_user), it creates what is missing and corrects what differs - the
    table C(hna_cloudos.heartbeat), the locked account C(hna_heartbeat@localhost) the event runs as, its grants,
    the event itself - turns the event scheduler on (C(SET GLOBAL event_scheduler = ON)) when it is off, and
    enables the event (C(ALTER EVENT ... ENABLE)) when the primary holds a disabled copy of it, as a former replica
    does after a switchover or a failover. Nothing of it is written on the replica.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  state:
    description:
      - V(running) - replication configured and both threads running, the replica at most O(max_lag) seconds behind.
      - V(stopped) - replication configured as asked but the threads stopped (for example for a maintenance of the
        replica). An empty replica is seeded here too, with O(seed=auto).
      - V(absent) - no replication; the threads are stopped and the settings removed (C(RESET REPLICA ALL), C(RESET
        SLAVE ALL) before MariaDB 10.5.1). The data and the GTID position stay. The primary is not contacted.
    type: str
    choices: [running, stopped, absent]
    default: running
  primary_host:
    description:
      - Host name or IP address of the primary, as the replica reaches it (the replica server connects to it, and
        so does the module for its checks and the heartbeat).
      - Required with O(state=running) and O(state=stopped).
    type: str
  primary_port:
    description:
      - TCP port of the primary.
    type: int
    default: 3306
  primary_user:
    description:
      - Replication account on the primary; it needs the C(REPLICATION SLAVE) privilege on C(*.*).
      - Required with O(state=running) and O(state=stopped).
    type: str
  primary_password:
    description:
      - Password of O(primary_user). At most 32 characters (a limit of the servers for replication passwords).
      - Never shown - the C(queries) show it as C(********), diff mode leaves it out.
      - The server never tells the password it holds, so it cannot be compared; it is sent whenever the other settings
        change, and again when the primary refuses the password the replica holds.
      - Required with O(state=running) and O(state=stopped).
    type: str
  primary_admin_user:
    description:
      - Account on the primary the module uses for the checks of the binary logs, the heartbeat (it creates the schema
        C(hna_cloudos) and the table C(hna_cloudos.heartbeat) when missing, and writes one row keyed by the replica's
        C(server_id)), the heartbeat event (C(CREATE USER), C(GRANT OPTION), C(EVENT), C(SET USER) or C(SUPER) to
        name another definer and to set C(event_scheduler); in MySQL C(SET_ANY_DEFINER) or C(SET_USER_ID) and
        C(SYSTEM_VARIABLES_ADMIN)) and the dump of a seed (C(SELECT), C(RELOAD), C(SHOW VIEW), C(EVENT), C(TRIGGER), C(LOCK TABLES),
        C(REPLICATION CLIENT) / C(BINLOG MONITOR) on every schema).
      - Defaults to O(login_user) with O(login_password).
    type: str
  primary_admin_password:
    description:
      - Password of O(primary_admin_user). Defaults to O(login_password) when O(primary_admin_user) is not set.
    type: str
  primary_connect_retry:
    description:
      - Seconds between two attempts of the replica to connect to the primary. Not managed when not set.
    type: int
  primary_ssl:
    description:
      - Whether the replica connects to the primary with TLS. Not managed when not set.
      - With it (or O(primary_ssl_ca)), the dump of a seed connects with TLS too, without checking the primary's
        certificate (the certificate files are on the host, not in O(seed_container)).
    type: bool
  primary_ssl_ca:
    description:
      - Path, on the replica host, of the CA certificate that signed the primary's certificate. Also used by the
        module's own connections to the primary.
    type: path
  primary_ssl_cert:
    description:
      - Path, on the replica host, of the client certificate presented to the primary. Requires O(primary_ssl_key).
    type: path
  primary_ssl_key:
    description:
      - Path, on the replica host, of the key of O(primary_ssl_cert).
    type: path
  primary_ssl_verify_server_cert:
    description:
      - Whether the replica checks that the primary's certificate names O(primary_host). Not managed when not set.
    type: bool
  primary_get_public_key:
    description:
      - MySQL only - fetch the primary's RSA public key for C(caching_sha2_password) without TLS. MariaDB refuses it.
    type: bool
  seed:
    description:
      - V(auto) - seed the replica when it is empty - it never replicated (no source configured and an empty
        C(gtid_slave_pos)) and holds no table or view outside the system schemas (empty schemas are fine).
      - V(never) - never seed; an empty replica replicates from the primary's oldest binary log, which fails when the
        primary has purged any.
    type: str
    choices: [auto, never]
    default: auto
  reseed:
    description:
      - Replace the replica's data with a fresh copy of the primary, whatever it holds - every schema outside the
        system schemas is dropped first, the binary log of the replica is reset, then the seed runs as for an empty
        replica.
      - The way out of purged binary logs and errant transactions. Seeds again on every run, so set it for one run.
    type: bool
    default: false
  seed_container:
    description:
      - Name of the Docker container of the replica server, on the engine at O(docker_host). The dump and the import
        of a seed run inside it (C(mariadb-dump) and C(mariadb), or C(mysqldump) and C(mysql) for MySQL), and reach the
        replica server through its Unix socket O(seed_socket), as O(login_user) with O(login_password).
      - Without it, the seed runs on the host of the module, which then needs C(bash) and those clients.
      - Only used when the replica is seeded.
    type: str
  seed_socket:
    description:
      - Unix socket of the replica server inside O(seed_container).
    type: str
    default: /run/mysqld/mysqld.sock
  seed_timeout:
    description:
      - Seconds a seed may take before it is stopped (and the task fails).
    type: int
    default: 3600
  docker_host:
    description:
      - Docker engine that runs O(seed_container).
    type: str
    default: unix:///var/run/docker.sock
  read_only:
    description:
      - With O(state=running), make the replica refuse writes from ordinary accounts (C(SET GLOBAL read_only = ON))
        when it does not already. V(false) leaves C(read_only) as it is (the module never turns it off).
      - A C(SET GLOBAL) lasts until the server restarts; set C(read_only) in the server's configuration as well.
    type: bool
    default: true
  max_lag:
    description:
      - With O(state=running), the most seconds the replica may be behind the primary when the task ends.
      - Measured end to end - the module writes a fresh token in its heartbeat row on the primary and times how long
        the replica takes to show it (one clock, so the servers' clocks do not matter). On a read-only primary, it
        times how long the replica takes to reach the primary's GTID position instead.
    type: float
    default: 5
  wait_timeout:
    description:
      - With O(state=running), the most seconds to wait for both threads to run and the lag to drop to O(max_lag).
        A thread that stops on an error fails the task at once with the server's error number and text.
    type: int
    default: 300
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.mysql
attributes:
  check_mode:
    support: full
    details:
      - Nothing changes on the replica or the primary (the primary is still checked); RV(queries) lists what would
        run on both, with C(<GTID position of the snapshot>) for the position a seed would find.
  diff_mode:
    support: full
    details:
      - Shows the state, the replication settings (never the password), C(read_only) and whether a seed runs.
  platform:
    support: full
    platforms: posix
notes:
  - The heartbeat event makes the primary write one small transaction every second (the row with C(server_id) 0 of
    C(hna_cloudos.heartbeat), holding the primary's C(server_id) and the time in UTC); it replicates like any other
    data. Each run of the module with O(state=running) also writes one row keyed by the replica's C(server_id) to time
    the lag itself.
  - The event never writes on a read-only server - a primary frozen with C(read_only = ON) for a switchover stops
    ticking, so its GTID position stays put and nothing it writes later can become an errant transaction. Its body
    looks at C(@@GLOBAL.read_only) first; behind that check, its definer C(hna_heartbeat@localhost) is a locked
    account without C(SUPER) or C(READ ONLY ADMIN), which C(read_only) blocks. The account holds C(SELECT),
    C(INSERT) and C(UPDATE) on C(hna_cloudos.heartbeat) and C(EVENT) on C(hna_cloudos) (the scheduler requires it of
    the definer); any other privilege is revoked.
  - Replicas receive the event disabled (C(SLAVESIDE_DISABLED); C(REPLICA_SIDE_DISABLED) from MySQL 8.3); the
    module enables it on whichever server is the primary when it runs on one of its replicas. A replica that holds
    an enabled copy (a former primary, or a copy made by a seed) stays silent as long as it is read-only; the module
    warns when such a replica accepts writes.
  - The event scheduler must run on the primary. The module turns it on with C(SET GLOBAL), which lasts until the
    server restarts, so set C(event_scheduler=ON) in the server configuration too; a server started with
    C(event_scheduler=DISABLED) fails the task, as the setting cannot change while it runs.
  - When the primary is read-only at the time of the run (frozen for a switchover), the module writes nothing on
    it - it leaves its heartbeat event alone, warns, and measures RV(lag) as the time until the replica holds the
    GTID position the primary has, instead of timing a heartbeat row.
  - Primary and replica must run the same flavour (MariaDB or MySQL). MySQL 8 support follows the MySQL 8.0/8.4
    reference manual; the module is tested for real against MariaDB 10.11.
  - After a seed, the replica holds the accounts of the primary (the C(mysql) schema is copied); use the primary's
    passwords to log in to it.
  - Any write on the replica that enters its binary log (an account or a schema created there by a configuration tool,
    for example) is a transaction the primary lacks, which the module reports as errant. Tools that write on a replica
    should do it with C(SET SESSION sql_log_bin = 0), or only on the primary.
requirements:
  - The Docker SDK for Python on the host of the module when O(seed_container) is used.
seealso:
  - module: hna.cloudos.mysql_replication_info
"""

EXAMPLES = r"""
- name: Replicate from the primary, seeding this server when it is empty
  hna.cloudos.mysql_replication:
    login_host: 127.0.0.1
    login_user: root
    login_password: "{{ mysql_root_password }}"
    state: running
    primary_host: 10.231.0.11
    primary_user: repl
    primary_password: "{{ mysql_replication_password }}"
    seed_container: mysql
    max_lag: 5
    wait_timeout: 300
  register: replication

- name: Show the lag and the GTID position
  ansible.builtin.debug:
    msg: "lag {{ replication.lag }} s at {{ replication.status.gtid_slave_pos }}"

- name: Copy the primary again (after purged binary logs or errant transactions)
  hna.cloudos.mysql_replication:
    login_host: 127.0.0.1
    login_password: "{{ mysql_root_password }}"
    primary_host: 10.231.0.11
    primary_user: repl
    primary_password: "{{ mysql_replication_password }}"
    seed_container: mysql
    reseed: true

- name: Pause replication, keeping its settings
  hna.cloudos.mysql_replication:
    login_host: 127.0.0.1
    login_password: "{{ mysql_root_password }}"
    state: stopped
    primary_host: 10.231.0.11
    primary_user: repl
    primary_password: "{{ mysql_replication_password }}"

- name: Stop replicating for good (a promoted replica)
  hna.cloudos.mysql_replication:
    login_host: 127.0.0.1
    login_password: "{{ mysql_root_password }}"
    state: absent
"""

RETURN = r"""
queries:
  description:
    - Statements run on the replica (in check mode, those that would run), passwords as C(********), followed by
      those run on the primary for its heartbeat event. Empty when nothing had to change.
  returned: always
  type: list
  elements: str
  sample:
    - CHANGE MASTER TO MASTER_HOST = '10.231.0.11', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = '********',
      MASTER_USE_GTID = slave_pos
    - START REPLICA
    - SET GLOBAL read_only = ON
settings:
  description: Replication settings of the replica at the end (in check mode, as planned), without the password.
  returned: always
  type: dict
  sample: {host: 10.231.0.11, port: 3306, user: repl, connect_retry: 60, ssl: false}
status:
  description: Replication threads, their last errors and the GTID positions of the replica at the end.
  returned: always
  type: dict
  sample:
    io_running: 'Yes'
    sql_running: 'Yes'
    running: true
    seconds_behind: 0
    last_io_errno: 0
    last_io_error: ''
    last_sql_errno: 0
    last_sql_error: ''
    using_gtid: slave_pos
    gtid_slave_pos: 0-1-1042
    gtid_binlog_pos: 0-1-1042
    gtid_current_pos: 0-1-1042
    gtid_io_pos: 0-1-1042
lag:
  description:
    - Seconds the last heartbeat took from the primary to the replica, at most O(max_lag).
  returned: with O(state=running), unless in check mode
  type: float
  sample: 0.214
wait_seconds:
  description:
    - Seconds the module waited after its changes for both threads to run and the lag to drop to O(max_lag) (the
      catch-up time after a seed or a pause).
  returned: with O(state=running), unless in check mode
  type: float
  sample: 1.3
seeded:
  description: Whether the replica was seeded by this run.
  returned: always
  type: bool
  sample: true
seed_reason:
  description: Why the replica is (or would be) seeded - V(empty) or V(reseed).
  returned: when a seed runs or would run
  type: str
  sample: empty
seed:
  description:
    - Figures of the seed - C(bytes) of the dump streamed, C(seconds), C(bytes_per_second), C(rows_estimate) (the
      servers' estimate of the rows copied, not an exact count) and C(gtid_position) (where the replica starts).
  returned: when the replica was seeded
  type: dict
  sample: {bytes: 8388608, seconds: 4.2, bytes_per_second: 1997287, rows_estimate: 100000, gtid_position: 0-1-1042}
role_before:
  description: Role of the server before the run (V(primary), V(replica), V(both) or V(none)).
  returned: always
  type: str
  sample: none
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_replication import run_replication


def _docker_client(module, docker_host):
    return DockerClient.for_engine(module, docker_host, fail_prefix='seed_container')


def main():
    run_replication(_docker_client)


if __name__ == '__main__':
    main()
