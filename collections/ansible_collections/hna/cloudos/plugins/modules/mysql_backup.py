#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mysql_backup
short_description: Take a checksummed, atomic and optionally verified backup of a MariaDB server
version_added: 0.1.0
description:
  - Runs on the host of the database server and writes the backup into O(backup_dir) on that host - the data never
    passes through the Ansible controller.
  - The pipeline runs inside the server's container O(container) through the Docker engine (or on this host without
    O(container)) - C(mariadb-dump --single-transaction --gtid --routines --triggers --events --hex-blob) for
    O(method=logical), C(mariadb-backup --backup --stream=xbstream) for O(method=physical), compressed on the way by
    C(zstd) (several threads) or C(gzip). The compressed stream comes out of the container, and the module computes
    its sha256 while it writes it, so the file is never read a second time for its checksum.
  - The data file is written under a temporary name (C(.<name>.partial)), flushed to disk and renamed into place only
    when every stage of the pipeline exited 0; a JSON manifest is then written beside it the same way. A failure in
    any stage fails the task with one line naming the stage (V(dump), V(backup), V(stream), V(compress), V(write),
    V(position)) and its last error, and leaves nothing behind. Only a data file with its manifest counts as a backup.
  - The manifest records the server (host, container, flavour, version), the method, the databases, the GTID and
    binary log position of the snapshot, the exact row count of every table at that position (logical backups),
    times, size, sha256, tool versions and whether it was verified.
  - One lock per instance (C(<backup_dir>/<instance>/.lock)) - a second run waits up to O(lock_timeout) seconds, then
    fails with a line that names the holder. The lock is freed by the kernel when its holder dies, and the partial
    files of a killed run are removed by the next run.
  - O(verify=true) re-reads the file against its checksum; O(verify=restore) also restores it into a throw-away
    container (C(<instance>-verify-<8 hex>), no published port, removed with its volumes afterwards) and compares the
    row counts with the manifest (logical), or prepares it and starts a server on it (physical).
  - Retention (O(keep_last), O(keep_daily), O(keep_weekly), O(keep_monthly)) counts only verified backups and never
    deletes the newest verified one.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  login_password_file:
    description:
      - A file on the database host whose first line is the password of O(login_user); for scheduled runs that should
        carry no secret. Mutually exclusive with O(login_password).
    type: path
  container:
    description:
      - Name of the container that runs the server (for example V(mysql) of the role C(hna.cloudos.mysql_server)). The
        pipeline runs inside it, through the Docker engine O(docker_host), with the tools of the server's image.
      - Without it, the pipeline runs on this host, which then needs C(mariadb-dump) or C(mariadb-backup) and the
        compressor.
    type: str
  container_socket:
    description:
      - Path of the server's Unix socket inside O(container); the tools in the container log in through it with
        O(login_user) and the password. O(login_host) and O(login_port) are what the module itself uses.
    type: str
    default: /run/mysqld/mysqld.sock
  docker_host:
    description:
      - Docker engine that runs O(container) and the throw-away container of O(verify=restore).
    type: str
    default: unix:///var/run/docker.sock
  backup_dir:
    description:
      - Directory of the backups on the database host; each instance has its own sub-directory (mode 0700).
    type: path
    default: /var/backups/hna-cloudos/mysql
  instance:
    description:
      - Name of the database instance, used for its directory, its lock and the start of every backup id.
      - Defaults to O(container), else V(local).
    type: str
  lock_timeout:
    description:
      - Seconds to wait for another backup, restore or retention run of the same instance to finish.
    type: int
    default: 600
  method:
    description:
      - V(logical) - a consistent SQL dump (one transaction), with routines, triggers and events.
      - V(physical) - a hot copy of the data directory by C(mariadb-backup), for large servers and fast restores of a
        whole instance.
    type: str
    choices: [logical, physical]
    default: logical
  databases:
    description:
      - Databases of a logical backup; all of them (system schemas included) when not set.
    type: list
    elements: str
  compression:
    description:
      - Compressor of the stream.
    type: str
    choices: [zstd, gzip]
    default: zstd
  compression_level:
    description:
      - Level of the compressor (zstd 1-19, default 3; gzip 1-9, default 6).
    type: int
  threads:
    description:
      - Threads of C(zstd) (V(0) - all cores) and of C(mariadb-backup) (C(--parallel)). C(gzip) uses one.
    type: int
    default: 0
  verify:
    description:
      - V(false) - no verification; the backup is V(unverified) and retention does not count it.
      - V(true) - re-read the data file and compare its size and sha256 with the manifest.
      - V(restore) - the checksum, then a restore into a throw-away container of O(verify_image), checked against
        the manifest. A mismatch marks the backup V(corrupt) and fails the task.
    type: raw
    default: false
  verify_image:
    description:
      - Image of the throw-away server of O(verify=restore); by default the image of O(container). It must take
        C(MARIADB_ROOT_PASSWORD_FILE) like the lab image and the official MariaDB image.
    type: str
  keep_last:
    description:
      - Keep the newest N verified backups. Retention only runs when one of the C(keep_*) options is set.
    type: int
  keep_daily:
    description:
      - Keep the newest verified backup of each of the N most recent days (UTC) that have one.
    type: int
  keep_weekly:
    description:
      - Keep the newest verified backup of each of the N most recent ISO weeks that have one.
    type: int
  keep_monthly:
    description:
      - Keep the newest verified backup of each of the N most recent months that have one.
    type: int
  offsite:
    description:
      - Copy the backup and its manifest to another host with C(scp) (key authentication, C(BatchMode)), check the
        copy with C(sha256sum) there and only then give it its final name.
    type: dict
    suboptions:
      host:
        description: Host name or address of the offsite host.
        type: str
        required: true
      user:
        description: SSH user on the offsite host (default - as C(ssh) decides).
        type: str
      path:
        description: Directory on the offsite host (created with mode 0700 when missing).
        type: str
        required: true
      port:
        description: SSH port.
        type: int
        default: 22
      identity_file:
        description: Private key on the database host.
        type: path
  timeout:
    description:
      - Seconds the pipeline may run (and the restore of O(verify=restore)); it is stopped after that.
    type: int
    default: 21600
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.mysql
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written; C(would_take) of RV(backup) says what would be taken and RV(deleted) what retention would
        delete afterwards.
  diff_mode:
    support: full
    details:
      - The ids of the instance's backups before and after.
  platform:
    support: full
    platforms: posix
notes:
  - The option files with the password are written into the container with mode 0600 and removed when the pipeline
    ends, even when the module is killed; the password is never on a command line or in the environment.
  - Row counts of a logical backup - commits are held (C(BACKUP STAGE BLOCK_COMMIT)) from before the dump starts until
    its snapshot exists (C(lock_seconds) of RV(backup), usually a fraction of a second), so that a second session sees the
    same data and counts it. With a binary log, the GTID position of the binary log offset the dump recorded must equal
    the one read under the hold, or the counts are left out with a warning; without one, the dump's snapshot must have
    been seen during the hold (a dump of databases without tables, which ends before it is seen, keeps its empty counts).
  - When the module runs as root on the host of a local Docker engine (unix socket), the compressed stream leaves the
    container through a FIFO in the pipeline's private directory, read under C(/proc/<pid>/root) of the container; with a
    remote engine it comes through the engine's exec stream (slower). The row counts are read after the dump, in the
    snapshot taken under the hold.
  - MariaDB only (C(mariadb-dump), C(mariadb-backup)).
seealso:
  - module: hna.cloudos.mysql_backup_info
"""

EXAMPLES = r"""
- name: Take a verified logical backup of the testlog database and keep a week of them
  hna.cloudos.mysql_backup:
    container: testlog-mysql
    login_user: root
    login_password_file: /etc/hna-cloudos/mysql-root.password
    databases: [testlog]
    verify: restore
    keep_last: 3
    keep_daily: 7

- name: Physical backup of the whole server, copied to the other cloud
  hna.cloudos.mysql_backup:
    container: mysql
    login_password: "{{ mysql_root_password }}"
    method: physical
    verify: true
    offsite:
      host: 10.232.0.11
      user: backup
      path: /srv/backups/mysql
      identity_file: /root/.ssh/backup_ed25519
  register: backup

- name: Show where it went
  ansible.builtin.debug:
    msg: "{{ backup.backup.path }} {{ backup.backup.size }} bytes in {{ backup.backup.duration }} s"
"""

RETURN = r"""
backup:
  description:
    - The backup taken - C(id), C(path), C(size) (bytes), C(duration) (seconds), C(throughput) (bytes per second of the
      data file), C(lock_seconds) (how long commits were held), C(transport) (how the stream left the container -
      V(fifo) on the engine's own host, V(exec) through the engine, V(pipe) without a container), C(stages) (seconds of each
      stage - C(prepare) the option file and the hold, C(stream) the pipeline as the module saw it, C(pipeline) the same
      timed inside the container, C(sync) the fsync and rename, C(counts) the row counts after the dump), C(verified) (V(checksum), V(restore) or absent),
      C(verify) (figures of a restore check) and C(manifest).
    - In check mode only C(would_take) (C(id), C(path), C(method), C(compression), C(databases), C(verify)).
  returned: always
  type: dict
  sample:
    id: testlog-20261201T130501Z-logical
    path: /var/backups/hna-cloudos/mysql/testlog/testlog-20261201T130501Z-logical.sql.zst
    size: 5242880
    duration: 3.2
    throughput: 1638400
    lock_seconds: 0.021
    transport: fifo
    stages: {prepare: 0.21, stream: 2.71, pipeline: 2.65, sync: 0.12, counts: 0.16}
    verified: restore
    manifest:
      format: 1
      id: testlog-20261201T130501Z-logical
      position: {gtid: 0-1-42, binlog_file: mysql-bin.000003, binlog_pos: 1234}
      row_counts: {testlog.hits: 200000}
deleted:
  description: Ids of the backups deleted by retention (in check mode, that would be deleted).
  returned: always
  type: list
  elements: str
kept:
  description: Ids of the backups left in the instance directory, newest first.
  returned: always
  type: list
  elements: str
offsite:
  description: The offsite copy - C(host), C(files) (their paths there), C(sha256), C(seconds).
  returned: when O(offsite) is set, unless in check mode
  type: dict
partials_removed:
  description: Partial files of a killed run that were removed before the backup.
  returned: when there were any
  type: list
  elements: str
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_backup import run_backup


def _docker_client(module, docker_host):
    return DockerClient.for_engine(module, docker_host, fail_prefix='container')


def main():
    run_backup(_docker_client)


if __name__ == '__main__':
    main()
