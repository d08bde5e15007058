"""Checks of a node converged by the docker_host role (molecule scenario docker_host).

The expected values come from the scenario's inventory (molecule.yml host_vars),
so a change of inputs that the role does not carry through makes a test fail.
"""

import ipaddress
import json
import os

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

SCENARIO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKER = "/usr/local/libexec/hna-cloudos/docker-daemon-config-check"


@pytest.fixture(scope="module")
def inputs(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def docker_info(host):
    out = host.check_output("docker info --format '{{json .}}'")
    return json.loads(out)


def test_engine_packages_installed(host):
    for name in ("docker.io", "python3-docker"):
        assert host.package(name).is_installed, name


def test_dockerd_runs_and_owns_its_pid_file(host):
    pid = host.file("/var/run/docker.pid").content_string.strip()
    assert pid.isdigit()
    assert host.file("/proc/%s/comm" % pid).content_string.strip() == "dockerd"
    assert host.socket("unix:///var/run/docker.sock").is_listening
    # The init script sees the engine it started.
    assert host.run("/etc/init.d/docker status").rc == 0


def test_engine_starts_at_boot(host):
    # update-rc.d links of the init script (no systemd on this node).
    assert host.run("ls /etc/rc2.d/ | grep -q '^S[0-9]*docker$'").rc == 0


def test_docker_info_reports_configuration(docker_info, inputs):
    assert docker_info["LoggingDriver"] == inputs.get("docker_host_daemon_log_driver", "json-file")
    assert docker_info["LiveRestoreEnabled"] is inputs["docker_host_daemon_live_restore"]
    mirrors = [m.rstrip("/") for m in docker_info["RegistryConfig"]["Mirrors"]]
    assert mirrors == [m.rstrip("/") for m in inputs["docker_host_daemon_registry_mirrors"]]


def test_daemon_json_content(host, inputs):
    daemon_json = host.file("/etc/docker/daemon.json")
    assert daemon_json.user == "root"
    assert daemon_json.mode == 0o644
    text = daemon_json.content_string
    config = json.loads(text)
    expected = {
        "log-driver": "json-file",
        "log-opts": {
            "max-size": inputs["docker_host_daemon_log_max_size"],
            "max-file": str(inputs["docker_host_daemon_log_max_file"]),
        },
        "live-restore": inputs["docker_host_daemon_live_restore"],
        "registry-mirrors": inputs["docker_host_daemon_registry_mirrors"],
        "insecure-registries": [],
        "default-address-pools": inputs["docker_host_daemon_default_address_pools"],
    }
    expected.update(inputs["docker_host_daemon_extra_options"])
    assert config == expected
    # Stable rendering: sorted keys, two-space indentation, final newline.
    assert text == json.dumps(config, indent=2, sort_keys=True) + "\n"


def test_checker_accepts_live_file_and_rejects_bad_one(host):
    ok = host.run("%s /etc/docker/daemon.json" % CHECKER)
    assert ok.rc == 0, ok.stderr
    bad = host.run(
        "f=$(mktemp) && printf '%%s' '{\"live-restore\": \"yes\", \"debugg\": true}' > $f"
        " && %s $f; rc=$?; rm -f $f; exit $rc" % CHECKER
    )
    assert bad.rc == 1
    assert "daemon.json: live-restore: expected boolean" in bad.stderr
    assert "daemon.json: debugg: unknown directive" in bad.stderr


def test_registry_ca_certificate(host, inputs):
    for cert in inputs["docker_host_registry_ca_certs"]:
        installed = host.file("/etc/docker/certs.d/%s/ca.crt" % cert["registry"])
        assert installed.is_file
        assert installed.mode == 0o644
        with open(os.path.join(SCENARIO_DIR, cert["src"]), encoding="ascii") as handle:
            assert installed.content_string == handle.read()


def test_users_in_docker_group(host, inputs):
    assert inputs["docker_host_users"]
    for name in inputs["docker_host_users"]:
        assert "docker" in host.user(name).groups
        # The membership really grants access to the engine.
        assert host.run("su -s /bin/sh -c 'docker version --format {{.Server.Version}}' %s" % name).rc == 0


def test_ulimit_guard_matches_host(host):
    limits_settable = host.run("/bin/sh -c 'ulimit -n 1048576 && ulimit -p unlimited'").rc == 0
    guard = "ulimit() {" in host.file("/etc/default/docker").content_string
    assert guard is not limits_settable
    pid = host.file("/var/run/docker.pid").content_string.strip()
    limits = host.file("/proc/%s/limits" % pid).content_string
    soft, hard = [line.split()[3:5] for line in limits.splitlines()
                  if line.startswith("Max open files")][0]
    if guard:
        # The guard raised the engine's open-files limit as far as permitted.
        assert soft == hard
        assert "not permitted here" in host.file("/var/log/docker.log").content_string
    else:
        assert soft == "1048576"


@pytest.fixture(scope="module")
def tiny_image(host):
    """A one-binary image made from the node's own dash and its libraries (no registry)."""
    name = "hna-molecule-tiny:test"
    host.check_output(
        "set -e; d=$(mktemp -d); mkdir -p $d/bin; cp /usr/bin/dash $d/bin/sh;"
        " for lib in $(ldd /usr/bin/dash | grep -o '/[^ ]*'); do"
        " mkdir -p $d$(dirname $lib); cp -L $lib $d$lib; done;"
        " tar -C $d -c . | docker import - %s; rm -rf $d" % name
    )
    yield name
    host.run("docker image rm -f %s" % name)


def test_nested_container_runs(host, tiny_image):
    out = host.run("docker run --rm --pull never %s /bin/sh -c 'echo nested $((6 * 7))'" % tiny_image)
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "nested 42"


def test_new_containers_get_the_log_rotation(host, inputs, tiny_image):
    name = "hna-molecule-logs"
    host.run("docker rm -f %s" % name)
    host.check_output("docker create --name %s --pull never %s /bin/sh" % (name, tiny_image))
    try:
        log_config = json.loads(host.check_output(
            "docker inspect %s --format '{{json .HostConfig.LogConfig}}'" % name))
    finally:
        host.run("docker rm -f %s" % name)
    assert log_config == {
        "Type": "json-file",
        "Config": {
            "max-size": inputs["docker_host_daemon_log_max_size"],
            "max-file": str(inputs["docker_host_daemon_log_max_file"]),
        },
    }


def test_networks_come_from_the_address_pools(host, inputs, tiny_image):
    pools = [ipaddress.ip_network(p["base"]) for p in inputs["docker_host_daemon_default_address_pools"]]
    name = "hna-molecule-net"
    host.run("docker network rm %s" % name)
    host.check_output("docker network create %s" % name)
    try:
        subnet = ipaddress.ip_network(host.check_output(
            "docker network inspect %s --format '{{(index .IPAM.Config 0).Subnet}}'" % name))
        assert any(subnet.subnet_of(pool) for pool in pools), subnet
        assert subnet.prefixlen == inputs["docker_host_daemon_default_address_pools"][0]["size"]
        out = host.run("docker run --rm --pull never --network %s %s /bin/sh -c 'echo attached'"
                       % (name, tiny_image))
        assert out.rc == 0, out.stderr
    finally:
        host.run("docker network rm %s" % name)
