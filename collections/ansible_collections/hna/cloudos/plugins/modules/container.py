#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: container
short_description: Run a Docker container with exactly the declared configuration
version_added: 0.1.0
description:
  - Creates, updates, replaces, starts, stops, restarts or removes one Docker container.
  - The whole declared configuration is compared with the container on the engine, with the defaults of the image taken
    into account. Removing something from the task (an environment variable, a label, a published port, a network alias,
    a limit) is a change too, and so is an image tag that now points to another image (images are compared by ID).
  - Memory and CPU limits, the restart policy and the networks (with their aliases and addresses) are changed on the running
    container. Any other change replaces the container safely, see O(state).
  - A container that exists and already matches the task is left alone; this costs one inspection of the container, one
    of its image and one container listing (for the leftovers of interrupted replacements), and no image is pulled when
    it is present (O(pull=missing)).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name of the container.
    type: str
    required: true
  state:
    description:
      - V(started) makes sure the container exists with the declared configuration and runs.
      - V(present) makes sure the container exists with the declared configuration. A new container is created but not
        started; an existing one keeps running or stays stopped as it is.
      - V(stopped) makes sure the container exists with the declared configuration and is stopped (a new one is created but
        not started).
      - V(restarted) is V(started), and restarts the container when it was neither created nor replaced by this task. This
        always reports a change.
      - V(absent) stops and removes the container if it exists.
      - "A replacement is safe: the new container is created beside the old one under a temporary name, on its networks
        but without their aliases, and, when it must run, started; only once it is healthy (or running, when it has no
        health check) does it get its network aliases, is the old container stopped and removed and the new one renamed
        to O(name). The aliases therefore never lead to a container that has not passed its health check. If the new
        container does not become healthy within O(wait_timeout) seconds, it is removed, the old container keeps
        running, and the task fails with the reason (including the output of the last health check)."
      - "Old and new never run together when they cannot: when the new container publishes a fixed host port the old one
        publishes, has the fixed IP address the old one has, writes to a named volume or bind mount the old one mounts
        (every database), or takes over the old one's anonymous volumes, the old container is stopped first
        (RV(actions) is V([stop, replace])) and started again if the new one fails; the failure then says for how long
        the service was down."
      - "The anonymous volumes declared in O(volumes) or O(mounts) (a target without source) are carried to the new
        container: it mounts the old container's volumes, by name, at the same targets (recorded in the container label
        C(io.hna.cloudos.engine.anonymous-volumes)), so that replacements neither lose nor orphan them."
      - "A replacement interrupted earlier (the run was killed or timed out) can leave containers named
        C(NAME-new-*) or C(NAME-old-*). Every run finds them and resolves them first (RV(actions) starts with
        V(recover), also in check mode): a replacement that had already given the new container its name is finished
        (the old container is removed); any other is undone (the new container is removed, and the old one gets O(name)
        back if it had lost it). The task then goes on from there."
      - Before any change, the task checks that every network in O(networks) exists (and that a fixed address is in its
        subnet and free), and that no other container publishes the fixed host ports of a container it is to start.
    type: str
    choices: [present, started, stopped, restarted, absent]
    default: started
  image:
    description:
      - Image to run, as C(repository:tag) or C(repository@digest). A reference without tag means C(latest).
      - Required to create a container, and with O(state=present) and O(state=started). With O(state=stopped) and
        O(state=restarted) it may be left out for an existing container; its configuration is then not compared (and no
        other configuration option may be given).
    type: str
  pull:
    description:
      - V(missing) pulls the image only when the engine does not have it.
      - V(always) pulls the image at every run (and replaces the container if the tag then points to a new image).
      - V(never) never pulls; the task fails when the engine does not have the image.
      - In check mode nothing is pulled; an image that would be pulled is reported as a difference.
      - A pull uses the registry credentials stored in the Docker client configuration (C($DOCKER_CONFIG/config.json),
        by default C(~/.docker/config.json)) by M(hna.cloudos.registry_login) or C(docker login), as M(hna.cloudos.image)
        does.
    type: str
    choices: [missing, always, never]
    default: missing
  wait:
    description:
      - After the container was started (created, replaced, started or restarted), V(none) returns at once, V(running)
        checks that it runs, V(healthy) waits until its health check passes (or checks it runs, when it has none).
      - With V(healthy) and O(state=started), an existing running container is also waited for.
      - A replacement always waits for the new container to be healthy before the old one is removed, whatever this says.
    type: str
    choices: [none, running, healthy]
    default: running
  wait_timeout:
    description:
      - Seconds to wait for the container to run or be healthy (see O(wait), and O(state) for replacements).
    type: int
    default: 60
  force_kill:
    description:
      - Kill the container instead of stopping it gracefully when it is stopped (O(state=stopped)), removed
        (O(state=absent)) or replaced.
    type: bool
    default: false
  keep_volumes:
    description:
      - Keep the anonymous volumes of a container that is removed (or replaced, for the volumes the new container does not
        take over). With V(false), the anonymous volumes carried from earlier replacements go with the container too.
        Named volumes are always kept.
    type: bool
    default: true
  env_visible:
    description:
      - "Names of environment variables whose values are safe to show. The values of all the others (O(env), O(env_file)
        and those of the image) never appear in what the module returns (the container facts, RV(differences), the
        C(--diff) output, the invocation shown with C(-vvv)): only their names, with V((hidden)), V((changed)) or
        V((added))."
    type: list
    elements: str
    default: []
  lock_timeout:
    description:
      - Seconds to wait for the lock of the container's namespace (or, without O(namespace), of the container) when another
        run of this module, M(hna.cloudos.stack) or M(hna.cloudos.namespace) holds it. Then the task fails without changing
        anything, naming the process that holds the lock. The lock is released when its holder ends, even when killed.
    type: int
    default: 300
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.container_options
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
attributes:
  check_mode:
    support: full
    details:
      - In check mode the comparison is made and reported in RV(actions) and RV(differences), but nothing is pulled,
        created or changed. An image that is not on the engine yet is reported as an image difference.
  diff_mode:
    support: full
    details:
      - The diff shows, for each field that differs, the value on the container and the declared value.
  platform:
    support: full
    platforms: posix
  idempotent:
    description: Whether running the task again with the same options changes nothing.
    support: partial
    details:
      - O(state=restarted) always restarts the container. With O(pull=always), a tag that points to a new image in the
        registry replaces the container.
notes:
  - The container gets the label C(io.hna.cloudos.managed=true); with O(namespace) also C(io.hna.cloudos.namespace) and
    C(io.hna.cloudos.service). Labels starting with C(io.hna.cloudos.engine.) are bookkeeping of the collection and
    never compared; so is the label C(io.hna.cloudos.spec-hash) that earlier versions wrote.
  - Options of the engine this module does not manage (for example C(privileged), C(network_mode), C(cpuset_cpus)) keep
    the engine's defaults.
  - A task that fails before it changed anything (bad input, a quota exceeded, a missing image) reports no change.
seealso:
  - module: hna.cloudos.container_info
  - module: hna.cloudos.namespace
  - name: Docker Engine API reference
    description: The container create and update requests this module makes.
    link: https://docs.docker.com/reference/api/engine/
"""

EXAMPLES = r"""
- name: Run a web server on the loopback interface of the Docker host
  hna.cloudos.container:
    name: web
    image: nginx:1.25
    ports:
      - 127.0.0.1:8080:80
    env:
      NGINX_ENTRYPOINT_QUIET_LOGS: "1"
    restart_policy: unless-stopped
    memory: 256m
    cpus: 0.5
    wait: healthy

- name: Run a database in the namespace shop, reachable there as db and db.shop
  hna.cloudos.container:
    name: db
    image: mariadb:11
    namespace: shop
    env:
      MARIADB_RANDOM_ROOT_PASSWORD: "yes"
    volumes:
      - shop_db:/var/lib/mysql
    healthcheck:
      test: healthcheck.sh --connect --innodb_initialized
      interval: 10s
      timeout: 5s
      retries: 5
      start_period: 30s
    wait: healthy
    wait_timeout: 120

- name: Run a worker on two networks, with an alias on the second
  hna.cloudos.container:
    name: worker
    image: registry.example.com/shop/worker:2.3.1
    pull: always
    command: worker --queue orders
    networks:
      - name: frontend
      - name: backend
        aliases: [orders-worker]
    log_driver: json-file
    log_options:
      max-size: 10m
      max-file: "3"

- name: Run a hardened worker with its own limits and environment file
  hna.cloudos.container:
    name: indexer
    image: registry.example.com/shop/indexer:1.4.0
    env_file:
      - /etc/shop/indexer.env
    read_only: true
    tmpfs:
      /tmp: size=64m
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    security_opt: ["no-new-privileges:true"]
    ulimits:
      nofile: {soft: 4096, hard: 8192}
    shm_size: 256m
    extra_hosts:
      search.internal: 10.20.0.15

- name: Show what would change, without changing anything
  hna.cloudos.container:
    name: web
    image: nginx:1.26
    ports:
      - 127.0.0.1:8080:80
  check_mode: true
  register: web_plan

- name: List the differences
  ansible.builtin.debug:
    msg: "{{ web_plan.actions }}: {{ web_plan.differences | map(attribute='field') | list }}"

- name: Stop the worker
  hna.cloudos.container:
    name: worker
    state: stopped

- name: Remove the web server and its anonymous volumes
  hna.cloudos.container:
    name: web
    state: absent
    keep_volumes: false
"""

RETURN = r"""
container:
  description:
    - Facts of the container after the task (in check mode, as it is now). Empty when there is none.
  returned: always
  type: dict
  contains:
    id:
      description: Container ID.
      type: str
      sample: 3f2a9c1e0b8d7a6c4e3f2b1a0d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d
    name:
      description: Container name.
      type: str
      sample: web
    image:
      description: Image reference the container was created from.
      type: str
      sample: nginx:1.25
    image_id:
      description: ID of that image.
      type: str
      sample: sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6
    created:
      description: Creation time, as the engine gives it.
      type: str
      sample: '2024-01-15T10:00:00.000000000Z'
    status:
      description: State of the container (V(created), V(running), V(paused), V(restarting), V(exited), V(dead)).
      type: str
      sample: running
    running:
      description: Whether the container runs.
      type: bool
      sample: true
    health:
      description: Health (V(starting), V(healthy), V(unhealthy)), or V(null) without a health check.
      type: str
      sample: healthy
    health_log:
      description: Output of the last health check, or V(null).
      type: str
      sample: ''
    exit_code:
      description: Exit code of the last run (0 while running).
      type: int
      sample: 0
    started_at:
      description: Time of the last start, as the engine gives it.
      type: str
      sample: '2024-01-15T10:00:01.000000000Z'
    restart_count:
      description: How many times the engine restarted the container.
      type: int
      sample: 0
    command:
      description: Command the container runs.
      type: list
      elements: str
      sample: [nginx, -g, daemon off;]
    entrypoint:
      description: Entrypoint of the container.
      type: list
      elements: str
      sample: [/docker-entrypoint.sh]
    env:
      description: Environment of the container (image and declared variables).
      type: dict
      sample: {PATH: /usr/local/bin:/usr/bin:/bin, NGINX_VERSION: 1.25.3}
    labels:
      description: Labels of the container (image and declared labels, and those of the collection).
      type: dict
      sample: {io.hna.cloudos.managed: 'true'}
    namespace:
      description: Namespace of the container, or V(null).
      type: str
      sample: shop
    service:
      description: Service name of the container in its namespace, or V(null).
      type: str
      sample: db
    networks:
      description: Networks of the container, by name.
      type: dict
      sample: {shop: {ip_address: 10.240.5.2, aliases: [db, db.shop], gateway: 10.240.5.1, mac_address: '02:42:0a:f0:05:02'}}
    ports:
      description: Ports published while the container runs.
      type: list
      elements: dict
      sample: [{container_port: 80, protocol: tcp, host_ip: 127.0.0.1, host_port: 8080}]
    mounts:
      description: Mounts of the container.
      type: list
      elements: dict
      sample: [{type: volume, source: shop_db, target: /var/lib/mysql, read_only: false}]
    memory:
      description: Memory limit in bytes, or V(null).
      type: int
      sample: 268435456
    cpus:
      description: CPU limit, or V(null).
      type: float
      sample: 0.5
    restart_policy:
      description: Restart policy.
      type: dict
      sample: {name: unless-stopped, max_retries: 0}
actions:
  description:
    - What the task did (or would do in check mode), in order. Each is one of V(create), V(update) (changed on the
      running container), V(replace), V(start), V(stop), V(restart), V(remove), V(recover).
    - V(recover) means leftovers of an interrupted replacement were (or would be) resolved first, see O(state).
    - V(stop) before V(replace) means the old container is stopped before the new one starts, see O(state).
  returned: always
  type: list
  elements: str
  sample: [update, start]
differences:
  description:
    - The fields that differ between the container and the task, before the task ran.
    - C(before) is the value of the container, C(after) the declared value with the image's defaults applied;
      C(in_place) tells whether the field is changed on the running container rather than by replacing it.
  returned: always
  type: list
  elements: dict
  sample: [{field: memory, before: 268435456, after: 536870912, in_place: true}, {field: env, before: {A: '1'}, after: {}, in_place: false}]
failed_container:
  description:
    - When the task failed because a container did not run or did not become healthy, the facts of that container at
      that moment (see RV(container)); for a failed replacement, the new container, which has been removed since.
  returned: on such a failure
  type: dict
  sample: {name: web-new-1a2b3c4d, status: running, health: unhealthy, health_log: 'wget: server returned error: HTTP/1.1 500'}
"""

from ansible_collections.hna.cloudos.plugins.module_utils._container_task import (
    CONTAINER_MODULE_KWARGS,
    container_module_argument_spec,
    run_container,
)
from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient


def main():
    run_container(DockerClient(argument_spec=container_module_argument_spec(), **CONTAINER_MODULE_KWARGS))


if __name__ == '__main__':
    main()
