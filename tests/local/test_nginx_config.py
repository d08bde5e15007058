"""hna.cloudos.nginx_config against a real nginx container of the local engine, under load.

An nginx container (the lab's image) proxies to backend ``a`` or ``b``; a client sends a steady load of
requests on 127.0.0.1 while the module switches the upstream, refuses a broken file, reruns and runs in
check mode. The times of the switches are printed (``pytest -s``) and checked against a bound.
"""

from __future__ import annotations

import statistics
import time

import pytest

from lbtest import Load, get, nginx_container, run_module, wait_for
from lbtest import backends, engine, network, tag, workdir  # noqa: F401  pylint: disable=unused-import  (fixtures)

MODULE = 'hna.cloudos.nginx_config'

APP_CONF = '''upstream test_app {
    server %(address)s:8080 max_fails=2 fail_timeout=5s;
    keepalive 8;
}
server {
    listen 80;
    location / {
        proxy_pass http://test_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_next_upstream error timeout http_502 http_503 http_504;
    }
}
'''

#: Seconds one switch (write, nginx -t, reload, new workers) may take inside the module on a busy test machine.
SWITCH_BOUND = 3.0


@pytest.fixture(scope='module')
def lb(engine, network, workdir, backends, tag):
    """The nginx under test: ``(container name, config file on the host, published port)``, serving backend a."""
    conf = workdir / 'lb-conf'
    conf.mkdir()
    path = conf / 'app.conf'
    path.write_text(APP_CONF % {'address': backends['a']})
    container = nginx_container(engine, tag + '-lb', conf, network, ports={'80/tcp': ('127.0.0.1', None)})
    port = int(container.attrs['NetworkSettings']['Ports']['80/tcp'][0]['HostPort'])
    wait_for(lambda: get(port)[1] == 'a', what='nginx to serve backend a')
    return container.name, str(path), port


def switch(lb, conf, **extra):
    name, path, dummy = lb
    args = dict(container=name, path=path, content=conf)
    args.update(extra)
    return run_module(MODULE, args)


def test_switch_under_load_loses_no_request(lb, backends):
    name, path, port = lb
    seconds, walls = [], []
    with Load(port, threads=4, rate=200) as load:
        time.sleep(1.0)
        for target in ('b', 'a', 'b'):
            rc, result, wall = switch(lb, APP_CONF % {'address': backends[target]})
            done = time.monotonic()
            assert rc == 0, result
            assert result['changed'] and result['reloaded'], result
            assert result['workers']['new'] and not set(result['workers']['new']) & set(result['workers']['old'])
            seconds.append(result['seconds'])
            walls.append(wall)
            time.sleep(1.0)
            after = load.bodies_started_after(done)
            assert after and set(after) == {target}, 'requests after the switch to %s got %s' % (target, sorted(set(after)))
    failures = load.failures()
    print('\n%d requests in %.1f s, %d failed, %d resent on a closed keepalive connection; switch seconds in the module: %s '
          '(median %.3f); whole ansible run: %s' % (
              len(load.records), load.records[-1][1] - load.records[0][0], len(failures), load.resent,
              ', '.join('%.3f' % s for s in seconds), statistics.median(seconds), ', '.join('%.2f' % w for w in walls)))
    assert len(load.records) > 500
    assert failures == []
    assert max(seconds) < SWITCH_BOUND
    with open(path + '.previous') as handle:
        assert backends['a'] in handle.read()


def test_same_content_is_no_change(lb, backends):
    rc, result, dummy = switch(lb, APP_CONF % {'address': backends['b']})
    assert rc == 0, result
    assert result['changed'] is False and result['reloaded'] is False
    assert result['checksum'] == result['previous_checksum']


def test_check_mode_reports_and_writes_nothing(lb, backends):
    name, path, port = lb
    with open(path) as handle:
        before = handle.read()
    rc, result, dummy = run_module(MODULE, dict(container=name, path=path, content=APP_CONF % {'address': backends['a']}),
                                   check=True, diff=True)
    assert rc == 0, result
    assert result['changed'] is True and result['reloaded'] is False
    assert '-    server %s:8080' % backends['b'] in result['_stdout']
    assert '+    server %s:8080' % backends['a'] in result['_stdout']
    with open(path) as handle:
        assert handle.read() == before
    assert get(port)[1] == 'b'


def test_broken_config_is_refused_and_the_old_one_keeps_serving(lb, backends):
    name, path, port = lb
    with open(path) as handle:
        before = handle.read()
    broken = APP_CONF.replace('keepalive 8;', 'keepalive 8;\n    no_such_directive on;') % {'address': backends['a']}
    with Load(port, threads=2, rate=100) as load:
        time.sleep(0.5)
        rc, result, dummy = switch(lb, broken)
        time.sleep(0.5)
    assert rc != 0
    assert 'nginx -t' in result['msg'] and '[emerg] unknown directive "no_such_directive"' in result['msg'], result['msg']
    assert result['changed'] is False and result['checksum'] == result['previous_checksum']
    with open(path) as handle:
        assert handle.read() == before
    assert load.failures() == []
    assert set(record[3] for record in load.records) == {'b'}


def test_path_outside_the_mounted_directory_is_refused(lb, workdir):
    name, path, port = lb
    rc, result, dummy = run_module(MODULE, dict(container=name, path=str(workdir / 'elsewhere.conf'), content='# x\n'))
    assert rc != 0
    assert 'not in a directory bind-mounted into container' in result['msg']
    assert not (workdir / 'elsewhere.conf').exists()


def test_remove_and_put_back(lb, backends):
    name, path, port = lb
    extra = path.replace('app.conf', 'extra.conf')
    conf = 'server { listen 81; location / { return 200 "extra\\n"; } }\n'
    rc, result, dummy = run_module(MODULE, dict(container=name, path=extra, content=conf))
    assert rc == 0 and result['changed'] and result['reloaded'], result
    rc, result, dummy = run_module(MODULE, dict(container=name, path=extra, state='absent'))
    assert rc == 0 and result['changed'] and result['reloaded'] and result['checksum'] is None, result
    rc, result, dummy = run_module(MODULE, dict(container=name, path=extra, state='absent'))
    assert rc == 0 and not result['changed'], result
    assert get(port)[1] == 'b'


def test_reload_refused_by_the_master_is_put_back(lb, backends, engine):
    # nginx -t does not bind the ports; the master does at reload. Another nginx in the container holds port 81,
    # so the master keeps its old workers: the module puts the file back and fails with the logged error.
    name, path, port = lb
    container = engine.containers.get(name)
    squatter = ('printf "pid /tmp/squatter.pid; error_log /tmp/squatter.log; events {} '
                'http { access_log off; server { listen 81; return 204; } }\\n" > /tmp/squatter.conf && nginx -c /tmp/squatter.conf')
    assert container.exec_run(['sh', '-c', squatter]).exit_code == 0
    try:
        with open(path) as handle:
            before = handle.read()
        conf = APP_CONF % {'address': backends['a']} + 'server { listen 81; return 200; }\n'
        with Load(port, threads=2, rate=100) as load:
            rc, result, dummy = switch(lb, conf, reload_timeout=2)
            time.sleep(0.5)
        assert rc != 0
        assert 'did not start new workers' in result['msg'] and 'bind() to 0.0.0.0:81 failed' in result['msg'], result['msg']
        with open(path) as handle:
            assert handle.read() == before
        assert load.failures() == []
        assert set(record[3] for record in load.records) == {'b'}
    finally:
        container.exec_run(['sh', '-c', 'kill $(cat /tmp/squatter.pid)'])
