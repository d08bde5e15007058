#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release
short_description: Store release bundles and record releases in the ledger kept on the host
version_added: 0.1.0
description:
  - Keeps the release records of one application in one environment on the host it runs on, under
    C(<root_dir>/<environment>/<app>/), so that they survive the control node (an AWX job's node is thrown away).
  - A B(bundle) (C(bundles/<version>.json)) is the immutable description of one version - the image by digest, its
    environment, its container options and its load-balancer settings - with a C(fingerprint), the sha256 of the
    canonical JSON of that content. Storing the same version again with the same content changes nothing; with other
    content it fails. A rollback re-activates a whole bundle, environment included.
  - The B(ledger) (C(ledger.json)) says which version is C(current), which is C(previous), which are C(retained)
    (each with its C(slot); a version's container publishes on C(release_base_port + slot)) and holds the
    C(history) with every host's results. Every change adds 1 to its C(generation). A release playbook writes the
    ledger on every host of the application; when the copies disagree the highest generation is the truth
    (M(hna.cloudos.release_info) picks it, O(action=sync) spreads it).
  - Every file is written atomically (a temporary file in the same directory, fsync, rename, fsync of the directory)
    with mode 0640; directories get mode 0750. Runs against the same application on one host are serialised by a
    short lock on C(.mutex) in its directory.
  - This module records; it does not start containers or switch load balancers. The release lock is
    M(hna.cloudos.release_lock).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  action:
    description:
      - V(bundle) stores the bundle of O(version) made of O(image), O(env), O(run) and O(lb).
      - V(begin) adds a C(running) entry to the history - a O(operation) of O(version) by O(user). A V(release),
        V(rollback), V(abtest) or V(promote) needs the bundle of O(version) on the host and retains O(version) (it gets
        the lowest free slot); a V(rollback) needs O(version) to be retained already. An entry still C(running) from a run that died is
        closed as C(failed) first. Always a change.
      - V(host_result) records O(results) of O(host), or the results of every host of O(host_results), in the entry
        O(entry) (default the last one).
      - V(finish) closes the entry O(entry) (default the last one) with O(result), O(failed_host) and O(note).
        Finishing it again with the same result changes nothing. In the same write of the ledger it first records
        O(host_results) (or O(host) and O(results)) and, with O(activate=true), makes the entry's version current.
      - V(secrets) writes the app's secret files O(secrets) in O(secrets_dir) (see there). It reads and writes no
        ledger.
      - V(activate) makes O(version) (retained) current; the version that was current becomes previous.
      - V(forget) drops O(version) from the retained versions and frees its slot, once its containers are removed.
        The current and the previous version cannot be forgotten.
      - V(sync) writes O(ledger) (a whole ledger, usually the newest copy found on another host) if its generation
        is higher than the host's.
      - V(ab) makes O(ab) the state of the app's A/B test (C(ab) of the ledger; O(ab) left out removes it). The same
        state again (whatever its C(updated) time) changes nothing.
    type: str
    required: true
    choices: [bundle, begin, host_result, finish, activate, forget, sync, ab, secrets]
  version:
    description:
      - The version - letters, digits, C(.), C(_) and C(-), at most 64 characters. The containers of a version are
        named C(<app>-<version>).
      - Required with O(action=bundle), O(action=begin), O(action=activate) and O(action=forget).
    type: str
  image:
    description:
      - With O(action=bundle), the image by digest, C(<repository>@sha256:<digest>); a tag is refused.
    type: str
  env:
    description:
      - With O(action=bundle), the environment variables of the version's containers (text values).
      - They are stored in the bundle and returned by M(hna.cloudos.release_info); keep secrets in files mounted into
        the container, not here.
    type: dict
    default: {}
  run:
    description:
      - With O(action=bundle), the container options of the version (ports, health check, memory and so on), as the
        release playbook hands them to M(hna.cloudos.container).
    type: dict
    default: {}
  lb:
    description:
      - With O(action=bundle), the load-balancer settings of the version (C(health_path), C(max_fails),
        C(fail_timeout) and so on).
    type: dict
    default: {}
  user:
    description:
      - Who does it; recorded as C(created_by) of a bundle and C(user) of a history entry. Required with
        O(action=begin).
    type: str
  operation:
    description:
      - With O(action=begin), what the history entry records.
    type: str
    choices: [release, rollback, finish, abort, abtest, promote]
    default: release
  from_version:
    description:
      - With O(action=begin), the version the operation starts from; default the current version.
    type: str
  note:
    description:
      - With O(action=begin) or O(action=finish), the C(message) of the history entry (why, or what failed).
    type: str
  host:
    description:
      - With O(action=host_result), the inventory name of the host whose O(results) these are.
    type: str
  results:
    description:
      - With O(action=host_result), the result of each step on O(host) - step name to V(ok), V(failed), V(skipped)
        or V(running); steps such as C(staged), C(health) and C(switched). Steps not named keep their result.
    type: dict
  host_results:
    description:
      - With O(action=host_result) or O(action=finish), the O(results) of several hosts at once - host to step to
        result - recorded in one write of the ledger.
    type: dict
  entry:
    description:
      - With O(action=host_result) or O(action=finish), the C(id) of the history entry; default the last one.
    type: str
  result:
    description:
      - With O(action=finish), how the operation ended.
    type: str
    choices: [ok, failed]
  activate:
    description:
      - With O(action=finish) and O(result=ok), make the version of the entry current (as O(action=activate) does)
        before the entry is closed, in the same write of the ledger.
    type: bool
    default: false
  failed_host:
    description:
      - With O(action=finish) and O(result=failed), the host where it failed.
    type: str
  ledger:
    description:
      - With O(action=sync), the whole ledger to write if its C(generation) is higher than the host's.
    type: dict
  ab:
    description:
      - With O(action=ab), the state of the A/B test of the app (written by C(playbooks/ab_test.yml)) -
        C(variant) (the version tested, B, retained), C(baseline) (the version it is compared with, A), C(state)
        (V(running), V(promoted) or V(aborted)), C(weight) (percent of the clients sent to B, 0 to 100), C(steps)
        (the rising weights a step moves through, for example V([1, 5, 25, 50, 100])), and any other keys to keep
        with it (the last analysis, the stickiness key).
    type: dict
  secrets:
    description:
      - With O(action=secrets), the app's secret files - file name (letters, digits, C(.), C(_) and C(-)) to content.
      - Each is written as C(<secrets_dir>/<name>) with mode 0400, owned by O(secrets_uid):O(secrets_gid), through
        a temporary file renamed into place (a container that mounts the folder reads the new content at its next
        open), and only when its content, mode or owner differ. Other files in the folder are left alone, unless
        O(secrets_keep) is set.
      - The temporary files that a killed write left in the folder (C(.<name>.<random>.tmp), older than a minute)
        are removed, and reported under their names as V(removed).
      - The values are never logged, returned or shown in a diff; they belong in no bundle or ledger.
    type: dict
  secrets_dir:
    description:
      - With O(action=secrets), the folder of the secret files (absolute); it gets mode 0500 and the files' owner,
        its missing parents mode 0750. The release playbook uses C(/etc/hna-cloudos/releases/<environment>/<app>/secrets)
        and mounts it read-only at C(/run/secrets).
    type: path
  secrets_uid:
    description:
      - With O(action=secrets), the owner of the files and the folder - the user the app's containers run as.
    type: int
    default: 0
  secrets_gid:
    description:
      - With O(action=secrets), the group of the files and the folder.
    type: int
    default: 0
  secrets_keep:
    description:
      - With O(action=secrets), the names of the secrets that may stay in O(secrets_dir) although this run does not
        write them (the app's other secrets, which another retained version reads).
      - When set (an empty list too), every other file of the folder is removed, so that a secret taken out of the
        inventory does not stay on the hosts; with no O(secrets) to write, a missing folder is not created.
      - Unset, the other files are left alone.
    type: list
    elements: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.release
attributes:
  check_mode:
    support: full
    details:
      - Reads the files and returns the bundle or the ledger as they would be, and writes nothing.
  diff_mode:
    support: full
    details:
      - The ledger before and after (the bundle before and after with O(action=bundle); with O(action=secrets), the
        names of the files that change, never their content).
  idempotent:
    description: Whether running the task again with the same options changes nothing.
    support: partial
    details:
      - Every action but V(begin) changes nothing when it is repeated; V(begin) always adds a history entry.
  platform:
    support: full
    platforms: posix
seealso:
  - module: hna.cloudos.release_lock
  - module: hna.cloudos.release_info
"""

EXAMPLES = r"""
- name: Store the bundle of version 2 of fleet on every host of the application
  hna.cloudos.release:
    app: fleet
    action: bundle
    version: "2"
    image: 10.231.0.11:5000/cloudos/fleet@sha256:5b1e8c0f0a3d2e4b6c8d0f1a3c5e7a9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c
    env:
      FLEET_DB_HOST: mysql.fleet
      JAVA_OPTS: -Xmx256m
    run:
      memory: 512m
      healthcheck: {test: [CMD, curl, -fs, "http://127.0.0.1:8080/health"], interval: 5s}
    lb:
      health_path: /health
    user: "{{ release_user }}"

- name: Begin the release of version 2 (the history gets a running entry, version 2 a slot)
  hna.cloudos.release:
    app: fleet
    action: begin
    operation: release
    version: "2"
    user: "{{ release_user }}"
    note: new trip export
  register: begun

- name: Record what happened on this host
  hna.cloudos.release:
    app: fleet
    action: host_result
    entry: "{{ begun.entry.id }}"
    host: "{{ inventory_hostname }}"
    results: {staged: ok, health: ok}

- name: Record the results of every host at once
  hna.cloudos.release:
    app: fleet
    action: host_result
    entry: "{{ begun.entry.id }}"
    host_results:
      bj2-node1: {staged: ok, health: ok}
      hz-node1: {staged: ok, health: ok}

- name: Make version 2 current (version 1 becomes previous and stays warm)
  hna.cloudos.release:
    app: fleet
    action: activate
    version: "2"

- name: Close the entry
  hna.cloudos.release:
    app: fleet
    action: finish
    entry: "{{ begun.entry.id }}"
    result: ok

- name: Or, in one write, record every host's results, make version 2 current and close the entry
  hna.cloudos.release:
    app: fleet
    action: finish
    entry: "{{ begun.entry.id }}"
    result: ok
    activate: true
    host_results: "{{ dict(groups['docker_hosts'] | product([{'switched': 'ok', 'verified': 'ok'}])) }}"

- name: Write fleet's secret files, which its containers read from /run/secrets (never logged)
  hna.cloudos.release:
    app: fleet
    action: secrets
    secrets:
      db-password: "{{ vault_fleet_db_password }}"
    secrets_dir: /etc/hna-cloudos/releases/production/fleet/secrets
    secrets_uid: 999
    secrets_gid: 999

- name: Close it as failed instead, naming the host
  hna.cloudos.release:
    app: fleet
    action: finish
    entry: "{{ begun.entry.id }}"
    result: failed
    failed_host: hz-node2
    note: health check of fleet-2 failed
  when: false

- name: Forget version 0 after its containers are removed (release_finish)
  hna.cloudos.release:
    app: fleet
    action: forget
    version: "0"

- name: Write the newest ledger (found by release_info) on every host that has an older copy
  hna.cloudos.release:
    app: fleet
    action: sync
    ledger: "{{ fleet_newest.ledger }}"

- name: Record that an A/B test of version 3 against 2 sends 5% of the clients to 3
  hna.cloudos.release:
    app: fleet
    action: ab
    ab: {variant: "3", baseline: "2", state: running, weight: 5, steps: [1, 5, 25, 50, 100]}
"""

RETURN = r"""
ledger:
  description:
    - The ledger after the change (as it would be in check mode) - C(format), C(app), C(environment), C(generation),
      C(current), C(previous), C(retained), C(slots) (version to slot) and C(history) (entries with C(id), C(action),
      C(version), C(from_version), C(started), C(finished), C(user), C(result), C(failed_host), C(message) and
      C(hosts), host to step to result), and C(ab), the state of the app's A/B test when one was started.
  returned: unless O(action=secrets)
  type: dict
  sample:
    format: 1
    app: fleet
    environment: production
    generation: 7
    current: '2'
    previous: '1'
    retained: ['1', '2']
    slots: {'1': 0, '2': 1}
    history:
      - id: '5'
        action: release
        version: '2'
        from_version: '1'
        started: '2026-12-01T15:00:00Z'
        finished: '2026-12-01T15:01:10Z'
        user: alice
        result: ok
        failed_host: null
        message: null
        hosts: {bj2-node1: {staged: ok, health: ok, switched: ok}}
bundle:
  description:
    - With O(action=bundle), the bundle on the host - C(format), C(app), C(environment), C(version), C(image),
      C(env), C(run), C(lb), C(created), C(created_by) and C(fingerprint). When it was there already, the stored one
      (its C(created) is the first time).
  returned: when O(action=bundle)
  type: dict
entry:
  description: The history entry that was added or changed.
  returned: when O(action) is V(begin), V(host_result) or V(finish)
  type: dict
secrets:
  description: With O(action=secrets), what happened to each file - V(created), V(updated), V(unchanged) or V(removed)
    (names only).
  returned: when O(action=secrets)
  type: dict
  sample: {db-password: unchanged}
secrets_dir:
  description: With O(action=secrets), the folder - C(path) and C(action) (V(created), V(updated), V(unchanged), or V(absent)
    when there was nothing to write or keep in a folder that does not exist).
  returned: when O(action=secrets)
  type: dict
  sample: {path: /etc/hna-cloudos/releases/production/fleet/secrets, action: unchanged}
ab:
  description: The state of the A/B test after the change (V(null) when removed), with C(updated) set when it changed.
  returned: when O(action=ab)
  type: dict
"""

from ansible_collections.hna.cloudos.plugins.module_utils._release_task import run_release


def main():
    run_release()


if __name__ == '__main__':
    main()
