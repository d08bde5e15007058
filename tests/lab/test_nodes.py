"""The lab after `make lab`: every node runs a Docker engine that the docker_host role installed
and configured as the inventory says, reachable the way the topology says, and bad input is
refused without touching the running engine."""

import hashlib
import json
import re

import pytest

from conftest import HOSTVARS, NODES, node_host, run_module, run_playbook


def test_engine_installed_from_distribution_packages(node):
    name, host = node
    assert host.package("docker.io").is_installed, f"{name}: docker.io is not installed"
    assert host.process.filter(comm="dockerd"), f"{name}: no dockerd process"
    version = host.check_output("docker version --format '{{.Server.Version}}'")
    assert re.match(r"\d+\.\d+\.\d+", version), f"{name}: engine answered {version!r}"


def test_daemon_json_matches_inventory(node, group_vars):
    name, host = node
    cfg = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert cfg["log-driver"] == "json-file"
    assert cfg["log-opts"]["max-size"] == group_vars["docker_host_daemon_log_max_size"]
    assert str(cfg["log-opts"]["max-file"]) == str(group_vars["docker_host_daemon_log_max_file"])
    assert cfg["live-restore"] is True
    assert cfg["default-address-pools"] == group_vars["docker_host_daemon_default_address_pools"]
    assert "insecure-registries" not in cfg or cfg["insecure-registries"] == []


def test_running_engine_uses_the_configuration(node):
    name, host = node
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LiveRestoreEnabled"] is True, f"{name}: live-restore is off in the running engine"
    assert info["LoggingDriver"] == "json-file"
    assert info["Driver"] == "overlay2"


def test_collection_modules_work_on_the_node(node):
    """The role installs the Docker SDK for Python, so hna.cloudos modules run on the host."""
    name, host = node
    host.check_output("python3 -c 'import docker'")
    rc, result = run_module(name, "hna.cloudos.docker_host_info")
    assert rc == 0, result
    assert result["host_info"]["docker_version"] == host.check_output(
        "docker version --format '{{.Server.Version}}'")
    assert result["changed"] is False


def test_a_container_runs_on_the_node(node):
    """A real container on the node's own engine (an image made from the node's own files,
    since no registry is reachable)."""
    name, host = node
    host.check_output(
        "tar -chf - /usr/bin/dash $(ldd /usr/bin/dash | grep -o '/[^ ]*') 2>/dev/null"
        " | docker import - hnatest/dash:1 >/dev/null")
    try:
        out = host.check_output("docker run --rm hnatest/dash:1 /usr/bin/dash -c 'echo hello from $0'")
        assert out == "hello from /usr/bin/dash"
    finally:
        host.run("docker rmi -f hnatest/dash:1")


def test_clouds_meet_only_over_the_interconnect():
    by_cloud = {}
    for n in NODES:
        by_cloud.setdefault(HOSTVARS[n]["lab_cloud"], []).append(n)
    (cloud_a, nodes_a), (cloud_b, nodes_b) = sorted(by_cloud.items())[:2]
    src = node_host(nodes_a[0])
    peer = HOSTVARS[nodes_b[0]]
    same = HOSTVARS[nodes_a[1]]
    assert src.run(f"ping -c1 -W2 {same['ansible_host']}").rc == 0, "no route inside a cloud"
    assert src.run(f"ping -c1 -W2 {peer['lab_interconnect_address']}").rc == 0, \
        f"{cloud_a} cannot reach {cloud_b} over the interconnect"
    assert src.run(f"ping -c1 -W2 {peer['ansible_host']}").rc != 0, \
        f"{cloud_a} reaches {cloud_b}'s private network directly"


def test_check_mode_rerun_predicts_no_change():
    res = run_playbook("playbooks/bootstrap.yml", "--check", "--diff")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    recap = [l for l in res.stdout.splitlines() if re.search(r"\bok=\d+\s+changed=", l)]
    assert len(recap) == len(NODES)
    assert all(re.search(r"\bchanged=0\b", l) for l in recap), "\n".join(recap)
    # Every package is installed: apt (and its package lists) is not even asked, the installation's tasks are not
    # read; every engine answers and starts at boot: neither the service task nor the wait for the engine runs.
    assert "TASK [docker_host : Install the engine packages of the distribution]" not in res.stdout
    for task in ("Install the engine from the distribution's packages", "Enable and start the engine (init script)",
                 "Wait until the engine answers"):
        output = res.stdout.split(f"TASK [docker_host : {task}]", 1)[1].split("TASK [", 1)[0]
        assert sorted(re.findall(r"^skipping: \[([^\]]+)\]", output, re.M)) == NODES, f"{task}: {output}"


def _engine_state(host):
    pid = host.check_output("cat /var/run/docker.pid")
    conf = hashlib.sha256(host.file("/etc/docker/daemon.json").content).hexdigest()
    return pid, conf


@pytest.mark.parametrize("extra, expect", [
    ('{"docker_host_daemon_extra_options": {"no-such-directive": true}}', "no-such-directive"),
    ('{"docker_host_daemon_extra_options": {"live-restore": "yes please"}}', "live-restore"),
    ('{"docker_host_daemon_log_driver": "bogus"}', "docker_host_daemon_log_driver"),
    ('{"docker_host_daemon_log_max_size": "ten megabytes"}', "docker_host_daemon_log_max_size"),
])
def test_bad_daemon_option_is_refused_and_engine_stays_up(extra, expect):
    name = NODES[-1]
    host = node_host(name)
    before = _engine_state(host)
    res = run_playbook("playbooks/bootstrap.yml", "--limit", name, "-e", extra)
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"bad input was accepted:\n{out[-3000:]}"
    assert expect in out, f"the error does not name {expect}:\n{out[-3000:]}"
    assert _engine_state(host) == before, "daemon.json or the engine process changed"
    host.check_output("docker version --format '{{.Server.Version}}'")


def test_unreachable_docker_host_fails_in_one_line_naming_it():
    name = NODES[0]
    rc, result = run_module(name, "hna.cloudos.docker_host_info", "docker_host=tcp://127.0.0.1:1 timeout=5")
    assert rc != 0, result
    assert "tcp://127.0.0.1:1" in result["msg"], result["msg"]
    assert "\n" not in result["msg"]
