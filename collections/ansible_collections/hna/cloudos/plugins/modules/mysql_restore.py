#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mysql_restore
short_description: Restore a MariaDB or MySQL backup, optionally to a point in time with the binary logs
version_added: 0.1.0
description:
  - Restores a backup taken by M(hna.cloudos.mysql_backup) on the database host - a logical backup into the running
    server (all its databases, or one database under any name), a physical backup into the data volume of a stopped
    server. Runs on the host of the database server; the backup never travels through the Ansible controller.
  - The data file is checked against the size and sha256 of its manifest first. A mismatch refuses the restore with
    one line, changes nothing on the target and marks the backup corrupt in its manifest.
  - A target that is not empty is refused unless O(force=true) - for a logical restore, any table or view in the
    target databases (every database outside the system schemas for a backup of the whole server); for a physical
    restore, anything in the data volume. With O(force=true) those databases are dropped (the volume emptied) first.
  - The compressed file is streamed into the server's container O(container) on the standard input of a process
    started through the Docker engine, and decompressed there - C(zstd -dc | mariadb --binary-mode) for a logical
    backup. The exit code of every stage of that pipeline is checked; a failed stage fails the task with one line
    naming it and its last error line.
  - A physical backup is unpacked into O(data_volume) by a throw-away container made from the image of O(container)
    (named C(<instance>-restore-<8 hex digits>), no network, removed at the end) - C(mbstream -x), then
    C(mariadb-backup --prepare), then the files are given to the C(mysql) user. Start the server afterwards.
  - Point-in-time recovery - with O(until_time) or O(until_gtid), the module restores the newest verified logical
    backup taken before that point (or the one named by O(backup), which must be from before it), then replays the
    binary logs of O(binlog_source) from the backup's GTID position up to the point - C(mariadb-binlog
    --read-from-remote-server --start-position=<GTID of the backup> --stop-datetime=<until_time>) (or
    C(--stop-position=<until_gtid>)) piped into C(mariadb) inside O(container).
  - Neither the import nor the replay enters the target's own binary log (C(SET SESSION sql_log_bin = 0)) - the
    replayed events keep the GTIDs of their source, and replicas of the target do not receive the restore. Reseed
    them afterwards with M(hna.cloudos.mysql_replication) (its option C(reseed=true)).
  - The restore holds the lock of the backup instance (the one M(hna.cloudos.mysql_backup) takes), so no backup or
    retention of that instance runs meanwhile.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  login_password_file:
    description:
      - File on the database host that holds the password of O(login_user) (one line), instead of O(login_password);
        for scheduled jobs that must not carry the secret.
    type: path
  container:
    description:
      - Name of the Docker container of the server on the engine at O(docker_host). The import, the replay and the
        decompression run inside it, reaching the server through its Unix socket O(container_socket) as O(login_user).
      - For a physical restore, the stopped container of the server whose O(data_volume) is restored; its image runs
        the throw-away container (it must have C(mariadb-backup), C(mbstream) and the decompressor).
      - Without it, a logical restore runs on the host of the module, which then needs C(bash), C(mariadb) and
        C(zstd) or C(gzip).
    type: str
  container_socket:
    description:
      - Unix socket of the server inside O(container).
    type: str
    default: /run/mysqld/mysqld.sock
  docker_host:
    description:
      - Docker engine that runs O(container).
    type: str
    default: unix:///var/run/docker.sock
  backup_dir:
    description:
      - Directory of the backups on the database host; the backups of an instance are in C(<backup_dir>/<instance>).
    type: path
    default: /var/backups/hna-cloudos/mysql
  instance:
    description:
      - Name of the backup instance, as M(hna.cloudos.mysql_backup) used it. Defaults to O(container), else V(local).
    type: str
  lock_timeout:
    description:
      - Seconds to wait for the lock of the instance when a backup, a retention or another restore holds it; the task
        then fails naming the holder.
    type: int
    default: 600
  backup:
    description:
      - The backup to restore - its id (such as V(testlog-20261201T130501Z-logical)), the path of its data file or of its
        manifest, or V(latest), the newest verified backup of the method needed (logical, or physical with
        O(data_volume)).
      - With O(until_time) or O(until_gtid), V(latest) is the newest verified backup with a GTID position that finished
        before O(until_time), or whose position O(until_gtid) contains.
      - A named backup may be unverified (its checksum is checked anyway), never corrupt or incomplete.
    type: str
    default: latest
  target:
    description:
      - V(instance) - every database the backup holds (a backup of the whole server replaces every database outside the
        system schemas, and restores the C(mysql) schema with its accounts).
      - V(database) - a one-database backup into the database O(database).
    type: str
    choices: [instance, database]
    default: instance
  database:
    description:
      - With O(target=database), the database the backup is restored into; it may differ from the database that was
        backed up. Defaults to the backed-up database. It is created when missing.
    type: str
  force:
    description:
      - Replace a target that is not empty - drop the target databases (or empty O(data_volume)) first.
      - Without it, such a target fails the task and nothing changes.
    type: bool
    default: false
  until_time:
    description:
      - Point-in-time recovery up to this moment, in UTC, as V(YYYY-MM-DD HH:MM:SS). The state is the one just before
        that second - an event of the binary log stamped with that very second or later is not replayed.
      - Binary log events are stamped with the second their statement started, so a transaction that started before
        the point and committed after it counts as before it, and the replay stops at the first event stamped at or
        after the point (a later event with an earlier stamp is not replayed).
      - MariaDB only. Mutually exclusive with O(until_gtid).
    type: str
  until_gtid:
    description:
      - Point-in-time recovery up to and including this GTID position of the binary log (such as V(0-1-1042), or one
        GTID per domain separated by commas). MariaDB only.
    type: str
  binlog_source:
    description:
      - The server whose binary logs are replayed for a point in time (usually the primary). Defaults to the target
        server itself, read through its socket inside O(container).
      - C(mariadb-binlog) runs inside O(container) and reads the binary logs over the replication protocol
        (C(--read-from-remote-server)); the account needs C(REPLICATION SLAVE) (or C(BINLOG MONITOR) and C(REPLICATION
        SLAVE ADMIN)) on the source.
    type: dict
    suboptions:
      container:
        description:
          - Container of the source server. When it is O(container) (or not set and no O(binlog_source.login_host) is
            given), the source is the target server itself, reached through its socket.
        type: str
      login_host:
        description:
          - Host name or IP address of the source, reached both from this host and from inside O(container).
        type: str
      login_port:
        description:
          - TCP port of the source.
        type: int
        default: 3306
      login_user:
        description:
          - Account on the source. Defaults to O(login_user) with O(login_password).
        type: str
      login_password:
        description:
          - Password of O(binlog_source.login_user).
        type: str
      login_password_file:
        description:
          - File on the database host with the password of O(binlog_source.login_user).
        type: path
      login_unix_socket:
        description:
          - Unix socket of the source on this host (only without O(container)).
        type: path
  data_volume:
    description:
      - Physical restore - the Docker volume that holds the data directory of the stopped server O(container). It is
        mounted at C(/var/lib/mysql) in the throw-away container. A missing volume is created by the engine.
    type: str
  timeout:
    description:
      - Seconds the restore (and, separately, the replay) may take before it is stopped and the task fails.
    type: int
    default: 3600
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.mysql
attributes:
  check_mode:
    support: full
    details:
      - The backup is chosen and its checksum checked, the target and the binary logs are looked at; RV(would_restore)
        (and RV(would_replay)) tell what would be restored and RV(target_empty) whether the target is empty. Nothing
        changes (a corrupt backup is not marked).
  diff_mode:
    support: full
    details:
      - Shows the target before (its tables per database, or the entries of the data volume) and the backup and point
        it would hold after.
  platform:
    support: full
    platforms: posix
notes:
  - Point-in-time recovery is for MariaDB (C(mariadb-binlog) of MariaDB 10.8 or newer reads GTID positions); the
    backup must have a GTID position (the server had a binary log when it was taken), and the binary logs of the
    source must still hold every event after it (not purged).
  - A backup of several databases (not all) cannot be brought to a point in time - C(mariadb-binlog) filters one
    database; take one backup per database, or one of the whole server. A one-database replay keeps the events whose
    default database (row events - their table's database) is that database, renamed to O(database).
  - A one-database backup restored under another name (O(database)) only changes which database the stream lands in;
    definitions that name the original database explicitly (a view or a trigger that reads C(testlog.hits)) keep
    that name.
  - A backup of the whole server restores the C(mysql) schema too - the accounts and passwords of the server as
    they were when the backup was taken.
  - A physically restored server starts with an empty binary log; the GTID position of its data is the C(position) in RV(restored)
    (set C(gtid_slave_pos) to it before it replicates from the server the backup was taken on).
  - Passwords are only in option files (mode 0600) inside the container, removed when the restore ends; never on a
    command line, in the environment or in the output.
requirements:
  - The Docker SDK for Python on the host of the module when O(container) is used.
seealso:
  - module: hna.cloudos.mysql_backup
  - module: hna.cloudos.mysql_backup_info
"""

EXAMPLES = r"""
- name: Restore the latest verified backup of the testlog server, replacing its databases
  hna.cloudos.mysql_restore:
    container: testlog-mysql
    login_password_file: /etc/hna-cloudos/mysql-root.password
    force: true
  register: restore

- name: Restore a one-database backup into another database, for a look at old rows
  hna.cloudos.mysql_restore:
    container: mysql
    login_password: "{{ mysql_root_password }}"
    backup: mysql-20261201T130501Z-logical
    target: database
    database: testlog_yesterday

- name: Undo a bad deployment - the primary as it was at 13:05:00 UTC
  hna.cloudos.mysql_restore:
    container: mysql
    login_password: "{{ mysql_root_password }}"
    until_time: "2026-12-01 13:05:00"
    force: true

- name: Put a physical backup into the data volume of the stopped server
  hna.cloudos.mysql_restore:
    container: mysql
    data_volume: mysql-data
    backup: latest
    force: true
"""

RETURN = r"""
backup:
  description: The backup chosen - C(id), C(path), C(method), C(compression), C(size), C(databases), C(position),
    C(started), C(finished), C(status) (before this run).
  returned: when a backup was found
  type: dict
  sample:
    id: testlog-20261201T130501Z-logical
    path: /var/backups/hna-cloudos/mysql/testlog/testlog-20261201T130501Z-logical.sql.zst
    method: logical
    compression: zstd
    size: 1048576
    databases: [testlog]
    position: {gtid: 0-1-42, binlog_file: mysql-bin.000003, binlog_pos: 1234}
    status: verified
checksum:
  description: What the check of the data file against its manifest found.
  returned: when the checksum matched
  type: str
  sample: 'backup testlog-20261201T130501Z-logical: 1048576 bytes, sha256 5e88...42 matches its manifest'
target_empty:
  description: Whether the target held nothing before the run (V(null) when a data volume could not be looked at).
  returned: when the target was looked at
  type: bool
queries:
  description: Statements run on the target before the import (in check mode, those that would run).
  returned: for a logical restore
  type: list
  elements: str
  sample: ['SET SESSION sql_log_bin = 0', 'DROP DATABASE `testlog`', 'CREATE DATABASE `testlog`']
restored:
  description:
    - What was restored - C(id), C(target) (databases) and C(dropped) (the databases dropped first) of a logical
      restore, or C(data_volume), C(image) and C(cleared) (the first entries the volume held) of a physical one;
      C(seconds) (the whole restore), C(import_seconds) (the pipeline in the container), C(bytes) (compressed bytes
      streamed), C(bytes_per_second) and C(position) (the position the backup recorded).
  returned: when something was restored
  type: dict
  sample: {id: testlog-20261201T130501Z-logical, target: testlog, dropped: [testlog], seconds: 4.2, import_seconds: 3.9,
           bytes: 1048576, bytes_per_second: 249661, position: {gtid: 0-1-42}}
replayed:
  description:
    - The replay of a point-in-time recovery - C(source), C(files) (binary logs read, the first one from the backup's
      position), C(from_gtid), C(until_time) or C(until_gtid), C(last_gtid) (the last transaction in the replayed
      stream) and C(seconds).
  returned: when binary logs were replayed
  type: dict
  sample: {source: the target server 127.0.0.1:3306, files: [mysql-bin.000003], from_gtid: 0-1-42,
           until_time: '2026-12-01 13:05:00', until_gtid: null, last_gtid: 0-1-57, seconds: 0.8}
would_restore:
  description: In check mode, what would be restored and what would be dropped first.
  returned: in check mode
  type: dict
would_replay:
  description: In check mode, the replay that would follow (source, first binary log, GTID position, point).
  returned: in check mode with O(until_time) or O(until_gtid)
  type: dict
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_restore import run_restore


def _docker_client(module, docker_host):
    return DockerClient.for_engine(module, docker_host, fail_prefix='container')


def main():
    run_restore(_docker_client)


if __name__ == '__main__':
    main()
