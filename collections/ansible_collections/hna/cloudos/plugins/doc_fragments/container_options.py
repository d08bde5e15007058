# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # The options of a container, documented once for every module that runs containers. The argument
    # spec that goes with them is module_utils._container_options.container_argument_spec() (the table of
    # options); a unit test checks that this documents exactly the table's options, with the same types.
    # Where an option has a Compose key, hna.cloudos.stack reads that key of a service the same way.
    DOCUMENTATION = r"""
options:
  command:
    description:
      - Command to run, replacing the image's C(CMD). A string is split into words as a shell would (without running one).
      - Not set means the image's command; so does an empty list without O(entrypoint), as for the engine.
      - Compose key C(command).
    type: raw
  entrypoint:
    description:
      - Entrypoint, replacing the image's C(ENTRYPOINT). A string is split into words as a shell would.
      - When set, the image's command is not used. Give O(command) too if the entrypoint needs arguments.
      - Compose key C(entrypoint).
    type: raw
  env:
    description:
      - Environment variables, added to those of the image (a variable set here wins over the image's).
      - Values are strings; quote values such as V("yes") or V("1.0") so that YAML keeps them as text. A boolean value is
        refused.
      - Values appear in RV(differences) and in the diff output. Do not put secrets here if the output is logged.
    type: dict
  labels:
    description:
      - Labels of the container, added to those of the image.
      - Labels starting with C(io.hna.cloudos.) are set by the collection and cannot be given.
    type: dict
  ports:
    description:
      - Published ports, each as C([HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]), for example V(8080:80),
        V(127.0.0.1:8080:80/tcp), V(127.0.0.1::80) (any free host port on that address) or V([::1]:8443:443).
      - Without host IP, the port is published on every address of the host. The protocol is V(tcp) (default), V(udp) or V(sctp).
      - A range such as V(8000-8001:80-81) or V(9000-9001) publishes each port of the range.
      - V([::]:8080:80) publishes on every IPv6 address only.
      - Compose key C(ports) (short and long syntax).
    type: list
    elements: str
    aliases: [published_ports]
  volumes:
    description:
      - Volumes in short syntax. V(NAME:/path) mounts the named volume C(NAME) (created by the engine when needed),
        V(/host/path:/path) bind-mounts a directory or file of the Docker host, V(/path) mounts a new anonymous volume.
        Append V(:ro) for a read-only mount.
      - Combined with O(mounts); a path in the container may be mounted only once.
    type: list
    elements: str
  mounts:
    description:
      - Mounts in long syntax.
    type: list
    elements: dict
    suboptions:
      type:
        description:
          - V(volume) for a named or anonymous volume, V(bind) for a path of the Docker host, V(tmpfs) for a memory file system.
        type: str
        choices: [volume, bind, tmpfs]
        default: volume
      source:
        description:
          - Volume name (leave out for an anonymous volume) or absolute host path. Not used with V(tmpfs).
          - An anonymous volume matches the volume mounted there whatever its name, so that it is kept across replacements.
        type: str
      target:
        description:
          - Absolute path in the container.
        type: str
        required: true
      read_only:
        description:
          - Mount read-only.
        type: bool
        default: false
      no_copy:
        description:
          - For a volume, do not copy the image's files at the target into the volume when it is empty (Compose
            C(volume.nocopy), or the C(nocopy) mode of the short syntax).
          - Only for V(volume) mounts.
        type: bool
        default: false
  networks:
    description:
      - Networks to connect the container to. The first one is the network the container is created on.
      - Not set (or empty) means the engine's default C(bridge) network; a container on other networks is then
        disconnected from them.
      - Use V(host) or V(none) as the only network for those network modes.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name of the network. It must exist.
        type: str
        required: true
      aliases:
        description:
          - Other names of the container on this network (user-defined networks only).
        type: list
        elements: str
      ipv4_address:
        description:
          - Fixed IPv4 address on this network (the network must have a subnet that contains it).
        type: str
  namespace:
    description:
      - Namespace (see M(hna.cloudos.namespace)) the container belongs to. The namespace must exist.
      - The container joins the namespace network with the aliases O(name) and C(<name>.<namespace>), is labelled with
        the namespace, and counts towards its quotas; a change that would exceed a quota fails before anything is created.
    type: str
  restart_policy:
    description:
      - What the engine does when the container stops. V(no) leaves it stopped, V(on-failure) restarts it when it exits with
        an error (at most O(restart_retries) times, 0 for no limit), V(unless-stopped) and V(always) restart it except after
        a stop requested by a user (V(always) also when the engine starts).
    type: str
    choices: ['no', always, unless-stopped, on-failure]
    default: 'no'
  restart_retries:
    description:
      - With O(restart_policy=on-failure), the most restarts the engine tries (0 for no limit).
    type: int
  healthcheck:
    description:
      - Health check, replacing the image's. Durations left out are the image's (or Docker's defaults).
      - Durations are written like V(30s), V(1m30s) or V(500ms); a bare number is seconds.
    type: dict
    suboptions:
      test:
        description:
          - Command to run. A string runs with the container's shell (C(CMD-SHELL)); a list runs directly (C(CMD)).
            A list may also start with C(CMD), C(CMD-SHELL) or C(NONE) itself.
          - Not set means the image's test (useful to change only its timings).
        type: raw
      interval:
        description:
          - Time between two checks.
        type: str
      timeout:
        description:
          - Time after which a check counts as failed.
        type: str
      retries:
        description:
          - Failures in a row after which the container is unhealthy.
        type: int
      start_period:
        description:
          - Time after start during which failures do not count.
        type: str
      start_interval:
        description:
          - Time between two checks during O(healthcheck.start_period).
          - Only engines with API version 1.44 or later (Docker 25) know it; with an older engine it is accepted but
            neither sent nor compared.
        type: str
      disable:
        description:
          - Turn off the image's health check.
        type: bool
        default: false
  init:
    description:
      - Run an init process as PID 1 that forwards signals and reaps processes.
      - Compose key C(init).
    type: bool
  user:
    description:
      - User (and optionally group), as C(name), C(uid), C(name:group) or C(uid:gid), replacing the image's.
      - Compose key C(user).
    type: str
  working_dir:
    description:
      - Working directory in the container, replacing the image's.
      - Compose key C(working_dir).
    type: str
  hostname:
    description:
      - Host name of the container (letters, digits and C(-), in parts separated by C(.)). Not set means the engine's
        default (the short container ID).
      - Compose key C(hostname).
    type: str
  memory:
    description:
      - Memory limit, such as V(512m), V(1g) or V(512MiB) (binary units b, k, m, g, t), or a number of bytes. Not set or
        V(0) means no limit; a limit is at least V(6m), the smallest the engine accepts.
      - Changed on the running container; removing the limit replaces the container.
    type: str
  cpus:
    description:
      - Number of CPUs the container may use, such as V(0.5) or V(2). Not set or V(0) means no limit.
      - Set as a CFS quota (as C(docker run --cpus)) and changed on the running container; removing the limit replaces the
        container, and so does a change on a container whose limit was set as C(NanoCpus) (by earlier versions of this
        collection or by other tools), which the update API cannot change.
    type: float
  log_driver:
    description:
      - Logging driver, such as V(json-file), V(local) or V(syslog). Not set means the engine's default.
    type: str
  log_options:
    description:
      - Options of the logging driver, such as C(max-size). Values are strings.
    type: dict
  stop_timeout:
    description:
      - Seconds the container gets to stop after the stop signal before it is killed, 0 or more. Not set means the engine's
        default (10).
      - Compose key C(stop_grace_period) (a duration such as V(1m30s), rounded up to whole seconds).
    type: int
  stop_signal:
    description:
      - Signal that stops the container, such as V(SIGTERM) or V(SIGQUIT), replacing the image's.
      - Compose key C(stop_signal).
    type: str
  env_file:
    description:
      - Files of environment variables (C(KEY=VALUE) lines, C(# comments), quotes, C(export KEY=VALUE)) on the managed host,
        read in order (a later file wins). A variable of O(env) wins over the files.
      - A line with only C(KEY) is left out.
    type: list
    elements: path
  expose:
    description:
      - Ports the container exposes without publishing them, such as V(80), V(53/udp) or V(8000-8010). The ports of the
        image and the published ports are exposed anyway.
      - Compose key C(expose).
    type: list
    elements: raw
  tmpfs:
    description:
      - "Memory file systems, as a dictionary of path to mount options (V({/run: size=64m})) or a list such as
        V([/run:size=64m, /tmp])."
      - They are the C(Tmpfs) option of the engine, not the O(mounts) of type V(tmpfs); a path may be used only once.
      - Compose key C(tmpfs).
    type: raw
  shm_size:
    description:
      - Size of C(/dev/shm), such as V(128m). Not set means the engine's default (64 MiB).
      - Compose key C(shm_size).
    type: str
  cap_add:
    description:
      - Kernel capabilities to add, with or without C(CAP_) (V(NET_ADMIN) and V(CAP_NET_ADMIN) are the same), or V(ALL).
      - Compose key C(cap_add).
    type: list
    elements: str
  cap_drop:
    description:
      - Kernel capabilities to drop, with or without C(CAP_), or V(ALL).
      - Compose key C(cap_drop).
    type: list
    elements: str
  ulimits:
    description:
      - "Resource limits, as a dictionary of limit name to a number (soft and hard) or to V({soft, hard}), for example
        V({nofile: {soft: 1024, hard: 2048}, nproc: 512}); or a list such as V([nofile=1024:2048])."
      - Compose key C(ulimits).
    type: raw
  devices:
    description:
      - Devices of the Docker host to give the container, as V(/dev/HOST[:/dev/CONTAINER][:PERMISSIONS]), for example
        V(/dev/fuse) or V(/dev/ttyUSB0:/dev/modem:rw) (permissions made of C(r), C(w), C(m); default C(rwm)).
      - Compose key C(devices) (short syntax).
    type: list
    elements: str
  extra_hosts:
    description:
      - "Lines added to C(/etc/hosts), as a dictionary of host name to IP address or a list of V(HOST:IP) (or V(HOST=IP)).
        The address V(host-gateway) is the engine's address on the host."
      - Compose key C(extra_hosts).
    type: raw
  dns:
    description:
      - DNS servers (IP addresses) replacing the engine's.
      - Compose key C(dns).
    type: list
    elements: str
  dns_search:
    description:
      - DNS search domains.
      - Compose key C(dns_search).
    type: list
    elements: str
  read_only:
    description:
      - Mount the root file system of the container read-only.
      - Compose key C(read_only).
    type: bool
  sysctls:
    description:
      - Kernel parameters of the container's namespaces, such as C(net.core.somaxconn). Values are strings.
      - Compose key C(sysctls).
    type: dict
  security_opt:
    description:
      - Security options, such as V(no-new-privileges:true) or V(seccomp=unconfined).
      - Compose key C(security_opt).
    type: list
    elements: str
  pid:
    description:
      - PID namespace, V(host) or V(container:NAME). Not set means a namespace of its own.
      - Compose key C(pid).
    type: str
  ipc:
    description:
      - IPC namespace, V(private), V(shareable), V(host), V(none) or V(container:NAME). Not set means the engine's default
        (V(private) or V(shareable), which are then both taken as not set).
      - Compose key C(ipc).
    type: str
  tty:
    description:
      - Give the container a pseudo terminal.
      - Compose key C(tty).
    type: bool
  interactive:
    description:
      - Keep the standard input of the container open.
      - Compose key C(stdin_open).
    type: bool
"""
