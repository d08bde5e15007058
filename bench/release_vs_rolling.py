#!/usr/bin/env python3
"""Benchmark: a release of fleet on the lab's 4 nodes with playbooks/release.yml against the plain Ansible way, in the same run.

  (a) ours: `playbooks/release.yml -e app=fleet -e version=<new>` across the 4 nodes of both clouds (stage beside
      the running version, health gate, switch of both clouds' load balancers, 10 s of post-switch checks, ledger),
      under a load of about 50 requests/s through the global load balancer (glb_url), then
      `playbooks/release_finish.yml -e keep=2` (not timed) so that the old containers go;
  (b) baseline: bench/rolling_release.yml, a `serial: 1` play over the same 4 nodes that replaces each node's
      container with community.docker.docker_container, waits until the engine reports it healthy and reloads
      the nginx of the node's cloud; its containers (fleetroll), one nginx per cloud and one in front of both
      are its own (bench/release_bench_setup.yml starts them, not timed), and the same load runs through its
      front nginx;
  (c) growth: ours with 2 application containers (one node per cloud, release_hosts=bench_pair from
      bench/inventory), as a second app (fleetgrow, its own ports and its own load balancers benchlb and
      benchglb, so that fleet and the lab's load balancers are not touched), against ours with 4 (a).

Every measured release is cold: each version is an image of its own, built here on cloudos/fleet:1 or :2
(alternately) with only its version string changed (the release's post-switch checks want X-App-Version to be
the version released) and pushed to the lab registry, so every run starts new containers from a new image (one
layer of a few bytes to pull), on both sides. The base images are pulled on every node beforehand. Each figure is
the median of --repeat runs, each run a separate ansible-playbook process timed from its start to its end; the
load client (tests/lab/loadclient.py) counts every failed request (a connection error or an answer that is not
2xx) from the start of the process to 2 s after its end.

Targets: wall time of ours <= 0.5x the baseline's; failed requests counted for both, ours must be 0.
Growth (2 -> 4 containers) is reported, no target.

--eight measures the growth to 8 containers instead, in a run of its own: it adds 4 nodes to the lab (bj2-node3/4 and
hz-node3/4 of bench/inventory8, created by lab/lab.py from LAB_INVENTORY=inventories/lab:bench/inventory8,
bootstrapped with playbooks/bootstrap.yml, the registry trust and images of playbooks/lab_registry.yml and the
namespace fleet), then releases fleetgrow --repeat times on 2 nodes (bench_pair), then on 4 (bench_four: the lab's
nodes), then on all 8, and runs the rolling baseline over the 8, all under the same load; at its end it removes the 4
nodes. fleet is not touched.

  .venv/bin/python bench/release_vs_rolling.py              # prints the figures and the verdicts
  .venv/bin/python bench/release_vs_rolling.py --repeat 3 --record   # also inserts the rows into docs/benchmarks.md
  .venv/bin/python bench/release_vs_rolling.py --eight --repeat 3 --record   # 2, 4 and 8 containers
  --logs DIR keeps the output of every ansible-playbook run in DIR.

Needs the lab up with fleet released (make lab). Creates the images 10.231.0.11:5000/cloudos/fleet:bench<id>*
(deleted from the registry and the control engine at the end), the baseline's containers and nginx (ports 18090,
8091, 8092) and the app fleetgrow with benchlb (8090) and benchglb (8089), all removed at the end. fleet itself
is put back at version 1 current, version 2 previous (released with TZ=Asia/Shanghai, as the lab tests release
it), nothing else retained: the state the lab tests leave, where a rerun of release.yml of version 1 changes
nothing.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests', 'lab'))
from loadclient import Load  # noqa: E402  pylint: disable=wrong-import-position
from benchrecord import insert_rows  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(os.path.abspath(sys.executable))
os.environ['PATH'] = BIN + os.pathsep + os.environ.get('PATH', '')
INVENTORY = os.path.join(REPO, 'inventories', 'lab')
BENCH_INVENTORY = os.path.join(REPO, 'bench', 'inventory')
# --eight: 4 more nodes (2 per cloud), made by lab/lab.py from this second source and removed at the end.
INVENTORY8 = os.path.join(REPO, 'bench', 'inventory8')
EXTRA_NODES = ('bj2-node3', 'bj2-node4', 'hz-node3', 'hz-node4')
LAB = os.path.join(REPO, '.lab')
DOCKER_CONFIG = os.path.join(LAB, 'docker-config')
REGISTRY_CA = os.path.join(LAB, 'registry-ca', 'ca.crt')
REGISTRY_PASSWORD = os.path.join(LAB, 'secrets', 'registry-cloudos')
REGISTRY_USER = 'cloudos'
REPOSITORY = 'cloudos/fleet'
GROW_APP = 'fleetgrow'
GROW_LISTEN_PORT, GROW_GLB_PORT, GROW_BASE_PORT = 8090, 8089, 18100
ROLL_GLB_PORT = 8092
# --logs: the folder where each playbook run's output is kept, numbered in order ('runs' counts them).
LOGS = {'dir': None, 'runs': 0}
# Version 2 as the lab tests release it, so that the lab ends in the state they leave.
ENV_2 = {'release_env': {'TZ': 'Asia/Shanghai'}}
EIGHT = '8 containers: measured with --eight (4 more nodes, made and removed by that run).'


def say(text=''):
    print(text, flush=True)


def ansible_env():
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    env.pop('ANSIBLE_STDOUT_CALLBACK', None)
    return env


def run(command, check=True, env=None):
    result = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            check=False)
    if check and result.returncode != 0:
        raise SystemExit('command failed (%s): %s\n%s' % (result.returncode, ' '.join(command), result.stdout[-4000:]))
    return result


def playbook(path, *args, inventories=(INVENTORY, ), check=True):
    """Run ansible-playbook; return (result, seconds from the start of the process to its end)."""
    command = ['ansible-playbook']
    for inventory in inventories:
        command += ['-i', inventory]
    command += [path] + list(args)
    started = time.monotonic()
    result = run(command, check=check, env=ansible_env())
    seconds = time.monotonic() - started
    if LOGS['dir']:
        LOGS['runs'] += 1
        name = '%02d-%s.log' % (LOGS['runs'], os.path.splitext(os.path.basename(path))[0])
        with open(os.path.join(LOGS['dir'], name), 'w', encoding='utf-8') as handle:
            handle.write('$ %s\n# %.1f s, exit %d\n%s' % (' '.join(command), seconds, result.returncode, result.stdout))
    return result, seconds


def extra(variables):
    return ['-e', json.dumps(variables)]


def lab_vars():
    out = run(['ansible-inventory', '-i', INVENTORY, '--list'], env=ansible_env()).stdout
    inventory = json.loads(out[out.index('{'):])
    hostvars = inventory['_meta']['hostvars']
    glb_host = inventory['glb']['hosts'][0]
    return {
        'registry': hostvars[glb_host].get('lab_registry_address', '10.231.0.11:5000'),
        'glb_url': hostvars[glb_host].get('glb_url', 'http://10.231.0.12:8088'),
        'glb_address': hostvars[glb_host]['lab_interconnect_address'],
        'lock_host': inventory['cloud_hna_bj2']['hosts'][0],
        'db_address': hostvars[inventory['db_servers']['hosts'][0]]['lab_interconnect_address'],
    }


def ledger(lock_host, app='fleet'):
    env = dict(ansible_env(), ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='0')
    out = run(['ansible', '-i', INVENTORY, lock_host, '-m', 'hna.cloudos.release_info', '-a', 'app=%s' % app],
              env=env).stdout
    return json.loads(out[out.index('=> {') + 3:])['ledger']


# -- Images ---------------------------------------------------------------------------------------------------

def build(registry, version, base):
    """Build <registry>/cloudos/fleet:<version> on cloudos/fleet:<base> with only its version string changed; push it."""
    name = '%s/%s:%s' % (registry, REPOSITORY, version)
    with tempfile.TemporaryDirectory(prefix='release-bench-') as directory:
        with open(os.path.join(directory, 'app.properties'), 'w') as handle:
            handle.write('version=%s\nhealth=ok\n' % version)
        with open(os.path.join(directory, 'Dockerfile'), 'w') as handle:
            handle.write('FROM %s/%s:%s\nUSER root\nCOPY app.properties /var/lib/tomcat10/webapps/ROOT/WEB-INF/app.properties\n'
                         'LABEL org.opencontainers.image.version="%s"\nUSER tomcat\n' % (registry, REPOSITORY, base, version))
        run(['docker', 'build', '-q', '-t', name, directory])
    run(['docker', '--config', DOCKER_CONFIG, 'push', '-q', name])
    return name


def build_images(registry, plan, versions):
    """Build and push every version of the run: each on the base the plan gives it, the untimed first release of the
    growth app (its name ends in g0) on 1."""
    bases = dict(value for round_ in plan for value in round_.values())
    for version in versions:
        build(registry, version, '1' if version.endswith('g0') else bases[version])


def registry_request(registry, method, path, headers=None):
    with open(REGISTRY_PASSWORD) as handle:
        password = handle.read().strip()
    token = base64.b64encode(('%s:%s' % (REGISTRY_USER, password)).encode()).decode()
    request = urllib.request.Request('https://%s%s' % (registry, path), method=method,
                                     headers=dict(headers or {}, Authorization='Basic ' + token))
    context = ssl.create_default_context(cafile=REGISTRY_CA)
    return urllib.request.urlopen(request, context=context, timeout=30)


def remove_images(registry, versions):
    """Delete the bench's tags from the registry (by the digest each of them alone points at) and the control engine."""
    accept = ', '.join(('application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.manifest.v1+json',
                        'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'))
    deleted = 0
    for version in versions:
        try:
            with registry_request(registry, 'HEAD', '/v2/%s/manifests/%s' % (REPOSITORY, version), {'Accept': accept}) as answer:
                digest = answer.headers['Docker-Content-Digest']
            with registry_request(registry, 'DELETE', '/v2/%s/manifests/%s' % (REPOSITORY, digest)):
                deleted += 1
        except urllib.error.HTTPError as exc:
            say('could not delete %s:%s from the registry: %s' % (REPOSITORY, version, exc))
        run(['docker', 'rmi', '%s/%s:%s' % (registry, REPOSITORY, version)], check=False)
    return deleted


# -- The three kinds of run ------------------------------------------------------------------------------------

def under_load(url, action):
    """Run ``action()`` (returning (result, seconds)) under the load client on ``url``; return (result, seconds, load)."""
    with Load(url) as load:
        result, seconds = action()
        time.sleep(2)
    return result, seconds, load


def switch_window(output, version):
    found = re.search(r'the\s+last\s+load\s+balancer\s+served\s+%s\s+([0-9.]+)\s+s\s+after' % re.escape(version), output)
    return float(found.group(1)) if found else None


def grow_vars(lab):
    return {
        'release_hosts': 'bench_pair',
        'release_apps': {GROW_APP: {
            'image_repository': '{{ lab_registry_address }}/%s' % REPOSITORY,
            'registry_username': '{{ lab_registry_username }}',
            'registry_password': '{{ lab_registry_password }}',
            'registry_ca_path': '{{ lab_registry_ca_file }}',
            'health_path': '/health', 'container_port': 8080, 'listen_port': GROW_LISTEN_PORT,
            'base_port': GROW_BASE_PORT, 'memory': '256m',
            # As fleet runs in the lab: on the namespace fleet's network, with the database's secret file and settings.
            'networks': ['fleet'], 'secrets': {'db-password': '{{ lab_fleet_db_password }}'},
            'secrets_uid': 999, 'secrets_gid': 999,
            'env': {'TZ': 'UTC', 'DB_HOST': lab['db_address'], 'DB_NAME': 'fleet', 'DB_USER': 'fleet',
                    'DB_PASSWORD_FILE': '/run/secrets/db-password', 'REDIS_HOST': 'redis'}}},
        'lb_container_name': 'benchlb', 'lb_config_dir': '/etc/hna-cloudos/benchlb/conf.d',
        'lb_state_dir': '/var/lib/hna-cloudos/benchlb',
        'glb_container_name': 'benchglb', 'glb_config_dir': '/etc/hna-cloudos/benchglb/conf.d',
        'glb_state_dir': '/var/lib/hna-cloudos/benchglb', 'glb_listen_port': GROW_GLB_PORT,
        'glb_url': 'http://%s:%d' % (lab['glb_address'], GROW_GLB_PORT),
    }


def release_ours(lab, version):
    result, seconds, load = under_load(lab['glb_url'], lambda: playbook(
        'playbooks/release.yml', '-e', 'app=fleet', '-e', 'version=%s' % version, check=False))
    if result.returncode != 0:
        raise SystemExit('release of fleet %s failed:\n%s' % (version, result.stdout[-4000:]))
    playbook('playbooks/release_finish.yml', '-e', 'app=fleet', '-e', 'keep=2')
    return seconds, load, switch_window(result.stdout, version)


def release_rolling(lab, image, inventories=(INVENTORY, )):
    result, seconds, load = under_load('http://%s:%d' % (lab['glb_address'], ROLL_GLB_PORT), lambda: playbook(
        'bench/rolling_release.yml', '-e', 'rolling_image=%s' % image, inventories=inventories, check=False))
    if result.returncode != 0:
        raise SystemExit('the rolling release of %s failed:\n%s' % (image, result.stdout[-4000:]))
    return seconds, load


def release_grow(lab, version, timed=True, hosts='bench_pair', inventories=(INVENTORY, BENCH_INVENTORY)):
    variables = dict(grow_vars(lab), release_hosts=hosts)
    action = lambda: playbook('playbooks/release.yml', '-e', 'app=%s' % GROW_APP, '-e', 'version=%s' % version,  # noqa: E731
                              *extra(variables), inventories=inventories, check=False)
    if timed:
        result, seconds, load = under_load(variables['glb_url'], action)
    else:
        (result, seconds), load = action(), None
    if result.returncode != 0:
        raise SystemExit('release of %s %s failed:\n%s' % (GROW_APP, version, result.stdout[-4000:]))
    playbook('playbooks/release_finish.yml', '-e', 'app=%s' % GROW_APP, '-e', 'keep=2', '-e', 'release_hosts=%s' % hosts,
             inventories=inventories)
    return seconds, load


# -- Set-up and putting the lab back ----------------------------------------------------------------------------

def put_fleet_back(lab):
    """fleet 1 current, 2 previous (released as the lab tests do), nothing else retained."""
    book = ledger(lab['lock_host'])
    if book['current'] == '1' and sorted(book['retained']) in (['1'], ['1', '2']):
        return book
    if book['current'] != '2':
        if '2' in book['retained']:
            playbook('playbooks/rollback.yml', '-e', 'app=fleet', '-e', 'version=2')
        else:
            result, _ = playbook('playbooks/release.yml', '-e', 'app=fleet', '-e', 'version=2', *extra(ENV_2), check=False)
            if result.returncode != 0:  # a bundle of 2 stored earlier with another environment
                playbook('playbooks/release.yml', '-e', 'app=fleet', '-e', 'version=2')
    if '1' in ledger(lab['lock_host'])['retained']:
        playbook('playbooks/rollback.yml', '-e', 'app=fleet', '-e', 'version=1')
    else:
        playbook('playbooks/release.yml', '-e', 'app=fleet', '-e', 'version=1')
    playbook('playbooks/release_finish.yml', '-e', 'app=fleet', '-e', 'keep=2')
    return ledger(lab['lock_host'])


def check_rerun_changes_nothing():
    result, _ = playbook('playbooks/release.yml', '-e', 'app=fleet', '-e', 'version=1')
    changed = [line for line in result.stdout.split('PLAY RECAP', 1)[-1].splitlines() if re.search(r'changed=[1-9]', line)]
    return 'nothing to do' in result.stdout and not changed


def median(values):
    return statistics.median(values) if values else float('nan')


def report_runs(options, figures, load_before):
    """Print the load average around the run and every run's figures; return the date and the note of the rows."""
    load_after = os.getloadavg()[0]
    say('load average: %.1f before, %.1f after' % (load_before, load_after))
    say('all runs: %s' % json.dumps({k: [round(v, 2) if isinstance(v, float) else v for v in vs] for k, vs in figures.items()}))
    return (datetime.date.today().isoformat(),
            'median of %d; load average %.1f before, %.1f after' % (options.repeat, load_before, load_after))


def record(rows):
    """Insert the rows at the end of the table of the release section of docs/benchmarks.md."""
    return insert_rows(rows, ['`playbooks/release.yml`'], heading=[
        '## Releases (`bench/release_vs_rolling.py`)\n', '\n',
        '| date | benchmark | baseline | measured | ratio | target | result |\n', '|---|---|---|---|---|---|---|\n'])


# -- --eight: 2, 4 and 8 application containers, and the baseline with 8 ----------------------------------------

def extra_nodes(state):
    """Create the 4 nodes of bench/inventory8 and make them lab nodes like the others (engine, registry trust and
    login, the lab's images, the namespace fleet), or remove them (containers and their engines' volumes)."""
    prefix = 'hnalab'
    if state == 'absent':
        for name in EXTRA_NODES:
            run(['docker', 'rm', '-f', '-v', '%s-%s' % (prefix, name)], check=False)
            run(['docker', 'volume', 'rm', '-f', '%s-%s-docker' % (prefix, name)], check=False)
        return
    run([sys.executable, os.path.join(REPO, 'lab', 'lab.py'), 'up'],
        env=dict(os.environ, LAB_INVENTORY=os.pathsep.join((INVENTORY, INVENTORY8))))
    both = (INVENTORY, INVENTORY8)
    playbook('playbooks/bootstrap.yml', '--limit', 'bench_extra', inventories=both)
    playbook('playbooks/lab_registry.yml', '--limit', 'bench_extra:lab_registry:localhost', inventories=both)
    playbook('playbooks/deploy_namespace.yml', '-e', 'deploy_namespace=fleet', '-e', 'deploy_target=bench_extra',
             '-e', 'stack_file=examples/namespaces/fleet/docker.yml', inventories=both)


def main_eight(options):
    """Ours with 2, 4 and 8 application containers (the app fleetgrow on bench_pair, bench_four and all 8 nodes of
    docker_hosts with bench/inventory8), and the rolling baseline with 8, in one run."""
    lab = lab_vars()
    registry = lab['registry']
    everything = (INVENTORY, BENCH_INVENTORY, INVENTORY8)
    load_before = os.getloadavg()[0]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%m%d%H%M')
    sizes = (('bench_pair', 2), ('bench_four', 4), ('docker_hosts', 8))
    plan = []
    for index in range(1, options.repeat + 1):
        base = '2' if index % 2 else '1'
        plan.append(dict([(count, ('bench%se%d%d' % (stamp, count, index), base)) for _, count in sizes]
                         + [('r', ('bench%ser%d' % (stamp, index), base))]))
    versions = [v for round_ in plan for v, _ in round_.values()] + ['bench%seg0' % stamp]
    figures = dict((key, []) for key in ('2', '4', '8', 'roll8'))
    failed = dict((key, 0) for key in figures)
    requests = dict((key, 0) for key in figures)
    try:
        started = time.monotonic()
        extra_nodes('present')
        say('4 more nodes (bench/inventory8) up and bootstrapped in %.1f s' % (time.monotonic() - started))
        started = time.monotonic()
        build_images(registry, plan, versions)
        base_images = ['%s/%s:%s' % (registry, REPOSITORY, tag) for tag in ('1', '2')]
        playbook('bench/release_bench_setup.yml', '-e', 'bench_state=present', *extra({'bench_base_images': base_images}),
                 inventories=(INVENTORY, INVENTORY8))
        release_grow(lab, 'bench%seg0' % stamp, timed=False, hosts='bench_pair', inventories=everything)
        say('set-up (images, baseline containers and nginx on 8 nodes, first release of %s on 2): %.1f s'
            % (GROW_APP, time.monotonic() - started))
        # The sizes one after the other, growing: a node joins the app with no container of it yet. (Going back to
        # fewer nodes would leave containers on the others that the ledger, kept by the runs on fewer hosts, forgets,
        # and whose ports a later version's slot may take.)
        for hosts, count in sizes:
            for index, round_ in enumerate(plan, 1):
                seconds, load = release_grow(lab, round_[count][0], hosts=hosts, inventories=everything)
                figures[str(count)].append(seconds)
                failed[str(count)] += len(load.failures())
                requests[str(count)] += len(load.records)
                say('run %d ours: release of %s on %d nodes %.1f s; %s' % (index, GROW_APP, count, seconds, load.summary()))
        for index, round_ in enumerate(plan, 1):
            seconds, load = release_rolling(lab, '%s/%s:%s' % (registry, REPOSITORY, round_['r'][0]),
                                            inventories=(INVENTORY, INVENTORY8))
            figures['roll8'].append(seconds)
            failed['roll8'] += len(load.failures())
            requests['roll8'] += len(load.records)
            say('run %d baseline: rolling serial: 1 release on 8 nodes %.1f s; %s' % (index, seconds, load.summary()))
    finally:
        say('removing what the run made (not timed)...')
        result, _ = playbook('bench/release_bench_setup.yml', '-e', 'bench_state=absent', inventories=(INVENTORY, INVENTORY8),
                             check=False)
        say('removed the baseline and %s: %s' % (GROW_APP, 'ok' if result.returncode == 0 else 'FAILED\n' + result.stdout[-3000:]))
        say('deleted %d of %d bench images from the registry' % (remove_images(registry, versions), len(versions)))
        extra_nodes('absent')
        say('removed the 4 extra nodes')
    two, four, eight, roll8 = (median(figures[key]) for key in ('2', '4', '8', 'roll8'))
    say('')
    say('ours (median of %d): 2 containers %.1f s, 4 containers %.1f s, 8 containers %.1f s; baseline with 8: %.1f s'
        % (options.repeat, two, four, eight, roll8))
    say('failed requests: %s of %s' % (json.dumps(failed), json.dumps(requests)))
    today, note = report_runs(options, figures, load_before)
    ours_failed = failed['2'] + failed['4'] + failed['8']
    if options.record:
        rows = [
            '| %s | `playbooks/release.yml` with 8 application containers (4 nodes per cloud: the lab\'s 4 and 4 more of '
            'bench/inventory8), cold, under ~50 requests/s through its GLB vs the rolling `serial: 1` play over the same 8 '
            'nodes (%s; failed requests: ours %d of %d, baseline %d of %d) | %.1f s | %.1f s | %.3f | none (0.50 is for 4 '
            'nodes) | - |\n' % (today, note, failed['8'], requests['8'], failed['roll8'], requests['roll8'], roll8, eight,
                                 eight / roll8),
            '| %s | growth of `playbooks/release.yml`: 4 application containers vs 2 (the same app, one run) (%s) | %.1f s '
            '| %.1f s | %.3f | none | - |\n' % (today, note, two, four, four / two),
            '| %s | growth of `playbooks/release.yml`: 8 application containers vs 4 (the same app, one run) (%s) | %.1f s '
            '| %.1f s | %.3f | none | - |\n' % (today, note, four, eight, eight / four),
            '| %s | failed requests during ours with 2, 4 and 8 containers (all %d runs each) | 0 | %d | | ours 0 | %s |\n'
            % (today, options.repeat, ours_failed, 'met' if ours_failed == 0 else 'MISSED'),
        ]
        record(rows)
        say('inserted %d rows into docs/benchmarks.md' % len(rows))
    return 0 if ours_failed == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=3, help='runs of each kind; the figures are medians')
    parser.add_argument('--record', action='store_true', help='insert the result rows into docs/benchmarks.md')
    parser.add_argument('--logs', metavar='DIR', help="keep each ansible-playbook run's output in DIR (numbered files)")
    parser.add_argument('--eight', action='store_true',
                        help='instead: ours with 2, 4 and 8 containers and the baseline with 8 (4 more nodes, made and '
                             'removed by the run)')
    options = parser.parse_args()
    if options.logs:
        os.makedirs(options.logs, exist_ok=True)
        LOGS['dir'] = options.logs
    if options.eight:
        return main_eight(options)

    lab = lab_vars()
    registry = lab['registry']
    load_before = os.getloadavg()[0]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%m%d%H%M')
    say('load average before: %.1f; %s' % (load_before, EIGHT))
    book = ledger(lab['lock_host'])
    if book['current'] != '1':
        raise SystemExit('fleet is at %s, not 1: put the lab back at fleet 1 first (make lab or playbooks/rollback.yml)'
                         % book['current'])
    # One image per measured run of each kind (bases alternating from :2, the running one being :1), plus the first
    # release of the growth app, which starts its load balancers and is not measured.
    plan = []
    for index in range(1, options.repeat + 1):
        base = '2' if index % 2 else '1'
        plan.append({kind: ('bench%s%s%d' % (stamp, kind, index), base) for kind in ('o', 'r', 'g')})
    versions = [v for round_ in plan for v, _ in round_.values()] + ['bench%sg0' % stamp]
    figures = {'ours': [], 'ours_failed': [], 'ours_requests': [], 'switch': [], 'roll': [], 'roll_failed': [],
               'roll_requests': [], 'grow': [], 'grow_failed': [], 'grow_requests': []}
    touched_fleet = False
    try:
        started = time.monotonic()
        build_images(registry, plan, versions)
        say('built and pushed %d images in %.1f s' % (len(versions), time.monotonic() - started))
        started = time.monotonic()
        base_images = ['%s/%s:%s' % (registry, REPOSITORY, tag) for tag in ('1', '2')]
        playbook('bench/release_bench_setup.yml', '-e', 'bench_state=present', *extra({'bench_base_images': base_images}))
        release_grow(lab, 'bench%sg0' % stamp, timed=False)
        say('set-up (baseline containers and nginx, first release of %s): %.1f s' % (GROW_APP, time.monotonic() - started))

        for index, round_ in enumerate(plan, 1):
            version = round_['o'][0]
            touched_fleet = True
            seconds, load, window = release_ours(lab, version)
            figures['ours'].append(seconds)
            figures['ours_failed'].append(len(load.failures()))
            figures['ours_requests'].append(len(load.records))
            figures['switch'].append(window)
            say('run %d ours: release of fleet %s on 4 nodes %.1f s (switch window %s s); %s'
                % (index, version, seconds, window, load.summary()))
            for failure in load.failures()[:3]:
                say('  failed: %r' % (failure, ))

            image = '%s/%s:%s' % (registry, REPOSITORY, round_['r'][0])
            seconds, load = release_rolling(lab, image)
            figures['roll'].append(seconds)
            figures['roll_failed'].append(len(load.failures()))
            figures['roll_requests'].append(len(load.records))
            say('run %d baseline: rolling serial: 1 release of %s on 4 nodes %.1f s; %s'
                % (index, round_['r'][0], seconds, load.summary()))
            for failure in load.failures()[:3]:
                say('  failed: %r' % (failure, ))

            version = round_['g'][0]
            seconds, load = release_grow(lab, version)
            figures['grow'].append(seconds)
            figures['grow_failed'].append(len(load.failures()))
            figures['grow_requests'].append(len(load.records))
            say('run %d growth: release of %s %s on 2 nodes %.1f s; %s' % (index, GROW_APP, version, seconds, load.summary()))
    finally:
        say('putting the lab back (not timed)...')
        fleet_back = False
        try:
            if touched_fleet:
                book = put_fleet_back(lab)
                say('fleet: current %s, previous %s, retained %s'
                    % (book['current'], book['previous'], ' '.join(book['retained'])))
            fleet_back = True
        finally:
            # The bundles of the bench versions go only once none of them is retained any more.
            result, _ = playbook('bench/release_bench_setup.yml', '-e', 'bench_state=absent',
                                 *extra({'bench_fleet_bundles': 'bench%s*.json' % stamp} if fleet_back else {}), check=False)
            say('removed the baseline, %s and the bundles of the bench versions: %s'
                % (GROW_APP, 'ok' if result.returncode == 0 else 'FAILED\n' + result.stdout[-3000:]))
            say('deleted %d of %d bench images from the registry' % (remove_images(registry, versions), len(versions)))
            if touched_fleet:
                say('a rerun of release.yml -e app=fleet -e version=1 changes nothing: %s' % check_rerun_changes_nothing())

    ours, roll, grow = median(figures['ours']), median(figures['roll']), median(figures['grow'])
    ours_failed, roll_failed = sum(figures['ours_failed']), sum(figures['roll_failed'])
    ratio = ours / roll
    results = [
        ('wall time of a release of 4 nodes, ours / baseline', ratio, '<= 0.50', ratio <= 0.5),
        ('failed requests during ours (all runs)', ours_failed, '0', ours_failed == 0),
    ]
    say('')
    say('release of fleet on 4 nodes (median of %d): ours %.1f s, baseline (rolling serial: 1) %.1f s'
        % (options.repeat, ours, roll))
    say('failed requests: ours %d of %d, baseline %d of %d' % (ours_failed, sum(figures['ours_requests']), roll_failed,
                                                               sum(figures['roll_requests'])))
    say('growth: 2 containers %.1f s, 4 containers %.1f s (x%.2f); %s' % (grow, ours, ours / grow, EIGHT))
    for name, value, target, met in results:
        say('%-52s %8.3f (target %s) -> %s' % (name, value, target, 'met' if met else 'MISSED'))
    today, note = report_runs(options, figures, load_before)

    if options.record:
        rows = [
            '| %s | `playbooks/release.yml` of fleet, 4 nodes in 2 clouds, cold (new image), under ~50 requests/s through '
            'the GLB vs a rolling `serial: 1` community.docker play reloading nginx, the same load through its own '
            'nginx (%s; failed requests: ours %d of %d, baseline %d of %d) | %.1f s | %.1f s | %.3f | <= 0.50 | %s |\n'
            % (today, note, ours_failed, sum(figures['ours_requests']), roll_failed, sum(figures['roll_requests']),
               roll, ours, ratio, 'met' if ratio <= 0.5 else 'MISSED'),
            '| %s | failed requests during the release of 4 nodes, ours vs the rolling play (all %d runs each) | %d | %d | '
            '| ours 0 | %s |\n' % (today, options.repeat, roll_failed, ours_failed, 'met' if ours_failed == 0 else 'MISSED'),
            '| %s | growth of `playbooks/release.yml`: 4 application containers (fleet, 4 nodes) vs 2 (one node per cloud, '
            'its own app and load balancers) (%s; failed requests with 2: %d of %d; 8 containers: --eight) | %.1f s '
            '| %.1f s | %.3f | none | - |\n'
            % (today, note, sum(figures['grow_failed']), sum(figures['grow_requests']), grow, ours, ours / grow),
        ]
        record(rows)
        say('inserted %d rows into docs/benchmarks.md' % len(rows))
    return 0 if all(item[3] for item in results) else 1


if __name__ == '__main__':
    sys.exit(main())
