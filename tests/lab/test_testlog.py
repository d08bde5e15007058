"""The seed's testlog namespace as `make lab` deploys it: services Active, reachable through
nginx, names resolved inside the namespace, secrets kept out of output and of the containers'
environment, and a rerun that predicts no change."""

import json
import urllib.request
from pathlib import Path

import pytest

from conftest import HOSTVARS, NODES, REPO, node_host, run_module, run_playbook

TARGET = NODES[0]  # deploy_namespace.yml's default target: the first of docker_hosts
ADDRESS = HOSTVARS[TARGET]["ansible_host"]
SECRET_FILE = REPO / ".lab" / "secrets" / "testlog-mysql-root-password"
DEPLOY = ["playbooks/deploy_namespace.yml", "-e", "deploy_namespace=testlog",
          "-e", "stack_file=examples/namespaces/testlog/docker.yml"]


@pytest.fixture(scope="module")
def info():
    rc, result = run_module(TARGET, "hna.cloudos.namespace_info", "name=testlog")
    assert rc == 0, result
    assert len(result["namespaces"]) == 1, "namespace testlog is missing: run make lab"
    return result["namespaces"][0]


def test_every_service_is_active(info):
    states = {s["name"]: s["state"] for s in info["services"]}
    assert states == {"app": "Active", "mysql": "Active", "nginx": "Active", "redis": "Active"}
    assert info["status"] == "Active"
    assert info["region"] == HOSTVARS[TARGET]["cloud_name"]
    for svc in info["services"]:
        assert f"{svc['name']}.testlog" in svc["dns_names"]


def test_quotas_from_the_inventory(info):
    assert info["quotas"]["containers"] == 10
    assert info["usage"]["containers"] == 4


def test_the_application_answers_through_nginx():
    def get():
        with urllib.request.urlopen(f"http://{ADDRESS}:8080/", timeout=10) as resp:
            return json.load(resp)
    first, second = get(), get()
    assert first["service"] == "testlog"
    assert first["mysql"] == "up"
    assert second["hits"] == first["hits"] + 1, "the counter in redis does not count"


def test_internal_dns_names_resolve_inside_the_namespace():
    host = node_host(TARGET)
    for name in ("mysql.testlog", "redis", "nginx.testlog"):
        out = host.check_output(
            "docker exec testlog-app python3 -c "
            f"\"import socket; print(socket.gethostbyname('{name}'))\"")
        assert out.startswith("10.240."), f"{name} resolved to {out}"


def test_mysql_secret_stays_out_of_environment_and_output():
    password = SECRET_FILE.read_text().strip()
    assert len(password) >= 16
    host = node_host(TARGET)
    env = host.check_output("docker inspect --format '{{json .Config.Env}}' testlog-mysql")
    assert password not in env
    # The server really uses it: root over the network with the password works.
    # (The password is read inside the container, so it never appears in a command line.)
    host.check_output(
        "docker exec testlog-mysql sh -c "
        "'MYSQL_PWD=$(cat /run/secrets/mysql-root-password) mariadb -uroot -h 127.0.0.1 -e \"SELECT 1\"'")
    res = run_playbook(*DEPLOY, "-vvv", "--check", "--diff")
    assert res.returncode == 0, res.stdout[-2000:]
    assert password not in res.stdout + res.stderr


def test_deploy_rerun_in_check_mode_predicts_no_change():
    res = run_playbook(*DEPLOY, "--check")
    assert res.returncode == 0, res.stdout[-3000:]
    recap = [l for l in res.stdout.splitlines() if " changed=" in l and " ok=" in l]
    assert recap and all(" changed=0 " in l for l in recap), "\n".join(recap)


def test_bad_namespace_name_is_refused_before_anything():
    res = run_playbook("playbooks/deploy_namespace.yml", "-e", "deploy_namespace=Bad_Name",
                       "-e", "stack_file=examples/namespaces/testlog/docker.yml")
    assert res.returncode != 0
    assert "namespace=Bad_Name" in res.stdout


def test_check_mode_on_a_host_without_the_namespace_shows_the_plan_and_creates_nothing():
    """The first deployment of a namespace, in check mode: the plan, not "create it first"; nothing on the host."""
    fresh, target = "ckfresh", NODES[-1]
    settings = {"namespace_settings": {fresh: {"env": {"REGISTRY": HOSTVARS[target]["lab_registry_address"]}}}}
    res = run_playbook("playbooks/deploy_namespace.yml", "-e", f"deploy_namespace={fresh}", "-e", f"deploy_target={target}",
                       "-e", "stack_file=examples/namespaces/testlog/docker.yml", "-e", json.dumps(settings),
                       "--check", "--diff")
    out = " ".join(res.stdout.split())
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert f"Namespace {fresh} does not exist yet: this plan assumes it is created first" in " ".join((res.stdout + res.stderr).split())
    for service in ("app", "mysql", "nginx", "redis"):
        assert f"'service {service}: create'" in out, out[-3000:]
    host = node_host(target)
    assert host.run(f"docker network ls -q --filter name=^{fresh}$").stdout.strip() == ""
    assert host.run(f"docker ps -aq --filter label=io.hna.cloudos.namespace={fresh}").stdout.strip() == ""
    assert not host.file(f"/etc/hna-cloudos/namespaces/{fresh}").exists
