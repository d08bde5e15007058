#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: stack
short_description: Deploy the services of a Compose file (docker.yml) into a namespace
version_added: 0.1.0
description:
  - Reads a Compose file (the C(docker.yml) or C(compose.yaml) format of Docker Compose), checks all of it, and brings the
    containers, named volumes and extra networks of its services into the namespace O(namespace), one container per
    service (or one per replica with C(deploy.replicas)).
  - The namespace must exist; create it first with M(hna.cloudos.namespace). Every service joins the namespace network and
    is reachable there as C(<service>) and C(<service>.<namespace>).
  - The first container of a service is named C(<namespace>-<service>), whatever its replica count; replicas 2 and
    up of a service that sets C(deploy.replicas) above 1 are named C(<namespace>-<service>-<n>). All the replicas of a
    service share its network aliases. Named volumes are
    created as C(<namespace>-<volume>) and extra networks as C(<namespace>-<network>).
  - "Nothing is changed before the whole file has been checked: unknown or unsupported keys, bad values, unknown
    C(depends_on) targets, dependency cycles, a dependency on a service with C(deploy.replicas: 0), a
    C(condition: service_healthy) on a service that has no health check (in the file or in its image), images that are
    missing with O(pull=never), containers of the same name that do not belong to this stack, fixed host ports already
    published by running containers outside the stack, and the quotas of the namespace for the whole change (containers,
    volumes, CPUs, memory), checked once. A file that fails any of these checks changes nothing."
  - "The task holds the lock of the namespace from before it inspects anything until it ends (see O(lock_timeout)):
    two runs against one namespace (this module, M(hna.cloudos.container) or M(hna.cloudos.namespace)) never
    interleave, and the quotas cannot be overrun by a run in between."
  - "Services start in C(depends_on) order, level by level; the services of one level are independent and are brought up in
    parallel (see O(parallel)). A dependency with C(condition: service_healthy) must be healthy before its dependents are
    changed, one with C(condition: service_completed_successfully) must have run to completion with exit code 0."
  - Each container is compared with its whole declared configuration (see M(hna.cloudos.container)). Memory and CPU limits,
    the restart policy and networks change in place; anything else replaces the container safely, the new container
    having to be healthy before the old one is removed. If the new container does not become healthy, the old one keeps
    running and the task fails with the output of the last health check.
  - A service that does not change is left alone, so running the task again changes nothing.
  - "Supported Compose keys. Top level: C(services), C(volumes), C(networks), C(include), C(secrets), C(configs),
    C(version) (ignored), C(name) (ignored, with a warning when it is not the namespace), and C(x-*) extension fields.
    Service: C(image), C(command), C(entrypoint), C(environment), C(env_file),
    C(ports), C(volumes) (with C(volume.nocopy) or the C(nocopy) mode), C(networks), C(depends_on), C(healthcheck), C(restart), C(labels), C(deploy.replicas),
    C(deploy.resources.limits.cpus), C(deploy.resources.limits.memory), C(user), C(working_dir), C(hostname), C(init),
    C(stop_grace_period), C(stop_signal), C(logging), C(extends), C(profiles), C(secrets), C(configs), the keys of the
    container options of M(hna.cloudos.container) (C(cap_add), C(cap_drop), C(ulimits), C(devices), C(extra_hosts), C(dns),
    C(dns_search), C(read_only), C(tmpfs), C(sysctls), C(shm_size), C(security_opt), C(pid), C(ipc), C(expose), C(tty),
    C(stdin_open)) and C(x-*). Anything else (for example C(build) or C(privileged)) fails with a message naming the
    service and the key."
  - "C(include) merges other Compose files (short syntax, or C(path), C(project_directory) and C(env_file)); their
    relative paths are relative to their own directory. C(extends) (C(service) and optional C(file)) merges a service
    into another with the Compose merge rules, in which the C(!reset) and C(!override) tags remove or replace a value
    instead of merging it. A service with C(profiles) is only deployed when one of its profiles is enabled (see
    O(profiles)); an active service that depends on an inactive one fails the task, unless the dependency has
    C(required: false)."
  - "Top-level C(secrets) and C(configs) are C(file:) (relative to the directory of the Compose file), or C(environment:)
    (an interpolation variable) and, for configs, C(content:), which the module writes under O(files_dir). Each one a
    service uses is bind-mounted read-only at C(/run/secrets/<name>) (secrets) or C(/<name>) (configs), or at its
    C(target); its value never reaches the environment of the container. C(external) secrets and configs (Swarm only),
    and C(uid), C(gid) and C(mode) on a C(file:) source (which a bind-mounted file cannot change), are refused."
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  namespace:
    description:
      - Namespace to deploy into. It must exist (see M(hna.cloudos.namespace)).
      - The stack is identified by its namespace; one namespace holds one stack.
    type: str
    required: true
  definition:
    description:
      - Path of the Compose file on the managed host.
      - Relative paths in the file (bind mount sources such as V(./conf), C(env_file) entries) are relative to the
        directory of this file.
      - Required with O(state=present) unless O(definition_content) is given.
    type: path
  definition_content:
    description:
      - The Compose document itself, as a mapping (or as YAML text).
      - Relative paths are refused in it (there is no file they could be relative to); use absolute paths.
      - Ansible templates this value before the module sees it; C(${VAR}) interpolation is left to the module.
    type: raw
  env:
    description:
      - Variables for the interpolation of C(${VAR}), C(${VAR:-default}), C(${VAR-default}), C(${VAR:?message}),
        C(${VAR:+alternative}) and C($VAR) in the values of the Compose file. C($$) is a literal C($).
      - These variables, with those of O(env_files), are the only ones used; the environment of the managed host or of
        the controller is not.
      - Also the values of bare names in C(environment) (V(- NAME) in the list form, V(NAME:) with no value in the mapping
        form) and in C(env_file).
      - A variable used without a default and not set is replaced by an empty string, with a warning.
      - Values are turned into strings (V(true) and V(false) for booleans).
      - "The values of these variables, and of the C(environment) of every service, never appear in what the module returns
        or logs (the plan, the differences, the C(--diff) output, the invocation shown with C(-vvv)): only the names, with
        V((hidden)), V((changed)) or V((added)). Name the variables that are safe to show in O(env_visible). Pass
        passwords through these variables (from Ansible Vault) or Compose C(secrets), never literally in O(definition_content)."
    type: dict
    default: {}
  env_visible:
    description:
      - Names of variables (of O(env) and of the services' C(environment)) whose values are safe to show in the plan, the
        differences and the diff output, for example V(TZ) or V(LOG_LEVEL).
    type: list
    elements: str
    default: []
  env_files:
    description:
      - Files on the managed host in the C(.env) format (C(NAME=value) lines, C(#) comments, optional C(export) and quotes)
        whose variables are used for interpolation, as with C(docker compose --env-file).
      - Later files win over earlier ones, and O(env) wins over all of them.
      - Relative paths are relative to the directory of O(definition).
    type: list
    elements: path
    default: []
  state:
    description:
      - V(present) deploys the file.
      - V(absent) removes every container of the stack of O(namespace) and the networks the stack created. Named volumes are
        kept unless O(remove_volumes=true). O(definition) is not needed and not read.
    type: str
    choices: [present, absent]
    default: present
  prune:
    description:
      - With O(state=present), remove the containers of this stack whose service is no longer in the file (and the
        replicas above C(deploy.replicas)), and the extra networks the stack created that the file no longer declares.
      - The containers of services that left the file are removed before the other services are changed, so that a
        renamed service can take over the host ports of the old one. Replicas above C(deploy.replicas) are removed
        last, once the rest of their service is up, so scaling down never leaves a service without a container.
      - Named volumes are never pruned.
    type: bool
    default: true
  pull:
    description:
      - V(missing) pulls an image only when the engine does not have it, V(always) pulls every image at each run, V(never)
        never pulls (a missing image fails the task before anything is changed).
      - Images are resolved (and pulled) before any container is changed.
      - In check mode nothing is pulled.
    type: str
    choices: [missing, always, never]
    default: missing
  wait:
    description:
      - Return only when every service runs and is healthy (running, for a service without health check); a service with
        C(service_completed_successfully) dependents only has to have completed.
      - Without it, a changed container must be running, and a service that others depend on with
        C(service_healthy) is still waited for before its dependents are changed.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a container to become healthy (or to run, or to complete), for O(wait), for C(service_healthy)
        and C(service_completed_successfully) dependencies, and for a replacement container.
    type: int
    default: 120
  parallel:
    description:
      - Most containers changed at the same time within one start level.
    type: int
    default: 4
  remove_volumes:
    description:
      - With O(state=absent), also remove the named volumes the stack created and the anonymous volumes of its
        containers (their data is lost).
    type: bool
    default: false
  profiles:
    description:
      - The Compose profiles to enable. A service that lists C(profiles) is deployed only when one of them is enabled
        (V(*) enables all); services without C(profiles) are always deployed.
      - When empty, the profiles named in the interpolation variable C(COMPOSE_PROFILES) (comma-separated, from O(env) or
        O(env_files)) are enabled, as with C(docker compose).
    type: list
    elements: str
    default: []
  files_dir:
    description:
      - Directory on the managed host under which the module writes the Compose C(secrets) and C(configs) given as values
        (C(environment:) or C(content:)), in a subdirectory named after the namespace (mode 0700; each file mode 0400 unless
        the file says otherwise). Services mount them read-only; their values never reach the environment of a container
        or the output of the module.
      - A change of such a file replaces the containers that mount it. O(state=absent) removes the namespace's subdirectory.
    type: path
    default: /var/lib/hna-cloudos/stacks
  lock_timeout:
    description:
      - Seconds to wait for the lock of the namespace when another run holds it. When the time is up the task fails
        without changing anything, with a message that names the process holding the lock and since when.
      - The lock is a file lock on the host the module runs on (the engine host with the usual local socket), released
        by the kernel when its holder ends, even when it is killed.
    type: int
    default: 300
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
attributes:
  check_mode:
    support: full
    details:
      - Returns the plan (what would be created, updated, replaced, removed or left unchanged) without changing anything and
        without pulling images. An image that would be pulled shows as a difference of the service.
      - On a namespace that does not exist yet (a first deployment, whose M(hna.cloudos.namespace) task only said it would
        create it) the plan creates everything, with a warning that it assumes the namespace is created first; the
        namespace's quotas are checked at the real run. Outside check mode a missing namespace is an error.
  diff_mode:
    support: full
    details:
      - The diff shows, for each service that changes, the fields that differ before and after.
  platform:
    support: full
    platforms: posix
notes:
  - The containers of a stack carry the labels C(io.hna.cloudos.stack=<namespace>), C(io.hna.cloudos.namespace),
    C(io.hna.cloudos.service) and C(io.hna.cloudos.managed=true) (and C(io.hna.cloudos.replica) for replicas 2 and up). Pruning and
    O(state=absent) only touch containers, networks and volumes with these labels.
  - A Compose file (O(definition), or O(definition_content) given as text) is read with the YAML 1.2 core schema, as
    Docker Compose reads it; an unquoted V(22:22) is a port mapping and V(yes) a string. A mapping in O(definition_content)
    is read by Ansible first, with YAML 1.1, which reads an unquoted V(22:22) as a number; quote port mappings there.
  - Anonymous volumes (a C(volumes) entry with only a container path) are carried over to the new container when a
    container is replaced, and removed with the stack only with O(remove_volumes=true).
  - A replica count above one cannot be combined with a fixed host port; publish only the container port instead.
  - "Scaling keeps the first container: going from 1 to 3 replicas adds C(<namespace>-<service>-2) and C(-3) beside
    C(<namespace>-<service>), and going back to 1 removes them once the first one is up; the service is never without a
    container."
seealso:
  - module: hna.cloudos.namespace
  - module: hna.cloudos.container
  - name: Compose file reference
    description: The format of the file, of which this module supports the subset listed above.
    link: https://docs.docker.com/reference/compose-file/
"""

EXAMPLES = r"""
- name: Create the namespace of the shop
  hna.cloudos.namespace:
    name: shop
    quotas:
      containers: 10
      memory: 4g

- name: Deploy the shop from its Compose file on the managed host
  hna.cloudos.stack:
    namespace: shop
    definition: /srv/shop/docker.yml
    env:
      TAG: "1.4.2"
    wait: true
  register: shop

- name: Show what changed per service
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.action }} ({{ item.value.state }})"
  loop: "{{ shop.services | dict2items }}"

- name: Deploy a stack written in the playbook
  hna.cloudos.stack:
    namespace: shop
    definition_content:
      services:
        db:
          image: postgres:16
          environment:
            POSTGRES_PASSWORD: "${DB_PASSWORD}"
          volumes:
            - data:/var/lib/postgresql/data
          healthcheck:
            test: [CMD-SHELL, pg_isready -U postgres]
            interval: 5s
            retries: 10
        web:
          image: "registry.example.com/shop/web:${TAG:-latest}"
          ports:
            - "127.0.0.1:8080:8080"
          depends_on:
            db:
              condition: service_healthy
          deploy:
            resources:
              limits:
                cpus: "0.5"
                memory: 256m
      volumes:
        data: {}
    env:
      DB_PASSWORD: "{{ vault_shop_db_password }}"

- name: Show what a new version of the file would change, without changing anything
  hna.cloudos.stack:
    namespace: shop
    definition: /srv/shop/docker.yml
  check_mode: true
  diff: true
  register: shop_plan

- name: Print the plan
  ansible.builtin.debug:
    msg: "{{ item.key }} would be {{ item.value.action }}: {{ item.value.changes | map(attribute='field') | join(', ') }}"
  loop: "{{ shop_plan.plan | dict2items }}"

- name: Remove the stack, keeping its volumes
  hna.cloudos.stack:
    namespace: shop
    state: absent
"""

RETURN = r"""
namespace:
  description: The namespace of the stack.
  returned: always
  type: str
  sample: shop
services:
  description:
    - One entry per service of the file, plus one per service removed by O(prune) or O(state=absent).
    - In check mode, the containers as they are now.
  returned: always
  type: dict
  contains:
    action:
      description:
        - What was done to the service (what would be done, in check mode).
        - V(create), V(update) (changed in place, or started again), V(replace), V(remove) or V(unchanged).
      type: str
      sample: replace
    changes:
      description: Names of the fields that differ (empty for V(create), V(remove) and V(unchanged)).
      type: list
      elements: str
      sample: [env, image]
    containers:
      description: The containers of the service (one per replica).
      type: list
      elements: dict
      contains:
        name:
          description: Container name.
          type: str
          sample: shop-web
        id:
          description: Container ID (empty when the container does not exist, for example in check mode before a creation).
          type: str
          sample: 3b1c9a5c1f2e5f0d9b4a7e6c8d2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f
        action:
          description: What was done to this container (V(create), V(update), V(replace), V(remove) or V(unchanged)).
          type: str
          sample: unchanged
        state:
          description:
            - V(healthy), V(unhealthy) or V(starting) for a running container with a health check, V(running) for one
              without, V(exited), V(created) or another Docker status otherwise, V(absent) when there is no container.
          type: str
          sample: healthy
        exit_code:
          description: Exit code of the container when it has exited.
          type: int
          sample: 0
    state:
      description: The least ready state among the containers of the service (see RV(services.containers.state)).
      type: str
      sample: healthy
    replicas:
      description: The number of containers the file asks for (0 for a removed service).
      type: int
      sample: 1
plan:
  description:
    - What the task does (or, in check mode, would do) per service, decided before anything changed.
  returned: always
  type: dict
  contains:
    action:
      description: V(create), V(update), V(replace), V(remove) or V(unchanged).
      type: str
      sample: update
    changes:
      description: The fields that differ, with the value now (C(before)) and the declared one (C(after)).
      type: list
      elements: dict
      sample: [{field: env, before: {MODE: a}, after: {MODE: b}, in_place: false}]
    containers:
      description: The action for each container of the service (name -> action).
      type: dict
      sample: {shop-web: replace}
    level:
      description: The start level of the service (0 first; services of one level start in parallel). -1 for a removal.
      type: int
      sample: 1
levels:
  description: The services grouped by start level, in the order they are brought up.
  returned: when O(state=present)
  type: list
  elements: list
  sample: [[db], [api, worker], [web]]
networks:
  description: The extra networks of the file and those removed, with what was done to each.
  returned: always
  type: dict
  sample: {backend: {name: shop-backend, action: create, external: false}}
files:
  description:
    - The secrets and configs the module writes (see O(files_dir)), by C(secrets.<name>) or C(configs.<name>), with their
      path and what was done (V(create), V(update), V(unchanged); V(remove) for the directory with O(state=absent)).
      Never their content.
  returned: always
  type: dict
  sample: {secrets.db_password: {path: /var/lib/hna-cloudos/stacks/shop/secrets/db_password, action: create}}
bind_sources_created:
  description:
    - Bind mount sources on the host that did not exist and were created as empty directories, as Docker Compose does (in
      check mode, those that would be created).
  returned: when O(state=present)
  type: list
  elements: str
  sample: [/srv/shop/conf]
profiles:
  description: The Compose profiles that were enabled.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [debug]
volumes:
  description: The named volumes of the file (and, with O(state=absent) and O(remove_volumes=true), those removed).
  returned: always
  type: dict
  sample: {data: {name: shop-data, action: unchanged, external: false}}
"""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient
from ansible_collections.hna.cloudos.plugins.module_utils._stack import (
    STACK_MODULE_KWARGS,
    run_stack,
    stack_argument_spec,
)


def main():
    run_stack(DockerClient(argument_spec=stack_argument_spec(), **STACK_MODULE_KWARGS))


if __name__ == '__main__':
    main()
