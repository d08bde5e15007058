#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_config
short_description: Switch one configuration file of an nginx running in a container, tested first and rolled back on failure
version_added: 0.1.0
description:
  - Writes one configuration file of an nginx that runs in a Docker container, on the host of that container, in a directory
    bind-mounted into it (for example C(/etc/hna-cloudos/lb/conf.d) mounted read-only at C(/etc/nginx/conf.d)).
  - The file is written only when its content differs, atomically (a temporary file in the same directory, then a rename);
    the old content is kept as C(<path>.previous).
  - Then C(nginx -t) runs inside the container (an exec through the Docker engine API). When it fails, the old content is put
    back (or the new file removed, when there was none) and the task fails with nginx's error line; nginx was never
    reloaded with the refused file.
  - When the test passes, the nginx master gets C(SIGHUP) (a graceful reload) and, with O(wait_reload=true), the module waits
    until the master runs new workers and none of its old workers still accepts connections. When the task returns, every
    new connection is served with the new configuration; requests in flight finish on the old workers.
  - If the master keeps its old workers (it refused the file at reload, for example a port it cannot bind), the old content
    is put back, nginx is signalled again and the task fails with the error nginx logged.
  - The module must run on the host whose engine runs the container (the file is written there).
  - The whole switch takes one inspection of the container and one exec; two runs against the same container wait for
    each other (a lock on the host).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  container:
    description:
      - Name or ID of the running container of nginx. Its image needs C(sh), C(tr) and C(sleep) besides C(nginx).
    type: str
    required: true
  path:
    description:
      - Absolute path of the configuration file on the host, in a directory bind-mounted into O(container) (the module
        fails otherwise, since nginx would never read it).
      - Give it a name that the C(include) of the nginx configuration matches (for example C(fleet.conf) for
        C(include /etc/nginx/conf.d/*.conf)); C(<path>.previous) and the temporary files do not match C(*.conf).
    type: path
    required: true
  content:
    description:
      - The whole configuration text of the file. Required with O(state=present).
    type: str
  state:
    description:
      - V(present) makes the file hold O(content); V(absent) removes it (the old content is kept as C(<path>.previous)),
        tested and reloaded the same way.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - Mode of the file, as an octal string such as V("0644").
    type: raw
    default: '0644'
  keep_previous:
    description:
      - Keep the content replaced by a change in C(<path>.previous).
    type: bool
    default: true
  wait_reload:
    description:
      - Wait until the nginx master runs new workers and no old one accepts connections any more (see the description).
      - With V(false), the task returns once the master was signalled; the new configuration is then live a few
        milliseconds later, and a reload refused by the master goes unnoticed.
    type: bool
    default: true
  reload_timeout:
    description:
      - Seconds to wait for the new workers with O(wait_reload=true).
    type: float
    default: 10
  lock_timeout:
    description:
      - Seconds to wait for another run of this module against the same container to finish.
    type: int
    default: 60
  switch_at:
    description:
      - An instant, in seconds since the epoch on the host's clock, at which to write the file, test it and reload nginx.
      - The module first checks all it can (the container runs, O(path) is mounted into it, the content differs), then
        waits for that instant. Give several load balancers the same instant (computed once, just before the task) and
        they switch together, however far apart Ansible starts their modules; the hosts' clocks must agree (NTP).
      - When the instant has already passed as the module gets there, it switches at once, and RV(late) says by how many
        seconds it missed it.
      - At most 120 s ahead of the host's clock. Not used in check mode, nor when the file already holds O(content).
    type: float
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module tells whether the file would change (and shows the difference in diff mode); it writes
        nothing, and the new content is not tested by nginx.
  diff_mode:
    support: full
    details:
      - The difference between the old and the new configuration text.
  idempotent:
    description: Whether running the task again with the same options changes nothing.
    support: full
    details:
      - A file that already holds O(content) is left alone and nginx is not reloaded.
  platform:
    support: full
    platforms: posix
seealso:
  - module: hna.cloudos.container
"""

EXAMPLES = r"""
- name: Point the upstream of fleet at version 2
  hna.cloudos.nginx_config:
    container: lb
    path: /etc/hna-cloudos/lb/conf.d/fleet.conf
    content: "{{ lookup('ansible.builtin.template', 'lb_app.conf.j2') }}"
  register: switched

- name: Show how long the switch took
  ansible.builtin.debug:
    msg: "{{ switched.seconds }} s, reloaded: {{ switched.reloaded }}"

- name: Agree on one instant, 5 s from now (run once, the fact is set on every host of the play)
  ansible.builtin.set_fact:
    switch_instant: "{{ lookup('ansible.builtin.pipe', 'date +%s.%N') | float + 5 }}"
  run_once: true

- name: Switch every load balancer at that instant, however far apart their modules start
  hna.cloudos.nginx_config:
    container: lb
    path: /etc/hna-cloudos/lb/conf.d/fleet.conf
    content: "{{ lookup('ansible.builtin.template', 'lb_app.conf.j2') }}"
    switch_at: "{{ switch_instant }}"

- name: Remove the configuration of an app that is gone
  hna.cloudos.nginx_config:
    container: lb
    path: /etc/hna-cloudos/lb/conf.d/oldapp.conf
    state: absent
"""

RETURN = r"""
container:
  description: The container, as given in O(container).
  returned: always
  type: str
  sample: lb
path:
  description: The file on the host.
  returned: always
  type: str
  sample: /etc/hna-cloudos/lb/conf.d/fleet.conf
container_path:
  description: The same file as nginx in the container sees it.
  returned: always
  type: str
  sample: /etc/nginx/conf.d/fleet.conf
checksum:
  description: The sha256 of the file after the task, V(null) when it does not exist. After a failure, that of the old content.
  returned: always
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
previous_checksum:
  description: The sha256 of the file before the task, V(null) when it did not exist.
  returned: always
  type: str
reloaded:
  description: Whether nginx was reloaded with the new file (and, with O(wait_reload=true), runs new workers).
  returned: always
  type: bool
  sample: true
workers:
  description:
    - The nginx C(master) process ID in the container, the active workers before the reload (C(old)) and the new workers
      seen after it (C(new)). Empty when nginx was not reloaded.
  returned: always
  type: dict
  sample: {master: 1, old: [7, 8], new: [31, 32]}
seconds:
  description: How long the task took, from the start of the module to the new workers (or to the failure).
  returned: always
  type: float
  sample: 0.142
started_at:
  description:
    - When the module started, in seconds since the epoch on the host's clock.
  returned: when the module got as far as the switch (success, or a switch that failed)
  type: float
  sample: 1764615600.125
switched_at:
  description:
    - When the module began to write the file (after waiting for O(switch_at)), in seconds since the epoch on the host's
      clock.
    - With RV(finished_at), the window in which several load balancers switched (the first RV(switched_at) to the last
      RV(finished_at)) when their clocks agree.
  returned: when the file was written (a change, not in check mode)
  type: float
  sample: 1764615600.131
late:
  description:
    - By how many seconds the module missed O(switch_at) (it was still starting or checking at that instant); V(0.0) when
      it was in time. Start the switch further ahead when this is not 0.
  returned: when O(switch_at) was given and the file was written
  type: float
  sample: 0.0
finished_at:
  description: When the new workers served (or the module failed), in seconds since the epoch on the host's clock.
  returned: when the module got as far as the switch (success, or a switch that failed)
  type: float
  sample: 1764615600.267
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._nginx_config import argument_spec, run_module


def main():
    run_module(DockerClient(argument_spec=argument_spec(), supports_check_mode=True,
                            required_if=[('state', 'present', ['content'])]))


if __name__ == '__main__':
    main()
