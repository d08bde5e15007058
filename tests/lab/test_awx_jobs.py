"""The job templates of awx/ for the engines, the namespaces and the releases, run the way AWX runs them (through
ansible-runner in a private data directory: tests/lab/awxrunner.py) against the lab, with their survey's defaults.

Each job must end successful, and a rerun must change nothing; a wrong answer must end the job failed with the
variable named; no artifact of any job may hold one of the lab's secrets. Runs last in its group (tools/test-lab.sh),
after the release and A/B tests, with fleet 1 current. The database templates are in test_awx_db_jobs.py, in the
group of the database tests. Templates not run here, and why, are listed in NOT_RUN.
"""

import pytest

from awxrunner import PrivateDataDir, lab_secrets, templates

TEMPLATES = templates()
# (template, answers beyond the survey's defaults, --limit)
RUN = [
    ('CloudOS - report the Docker engines', {}, None),
    # A node that runs nothing of the other tests: the bootstrap role reruns there without a change.
    ('CloudOS - bootstrap and report the Docker hosts', {}, 'hz-node2'),
    ('CloudOS - deploy a namespace', {}, None),
    ('CloudOS - release an app', {}, None),
    ('CloudOS - A/B test of an app', {}, None),
    ('CloudOS - drain or undrain a cloud at the GLB', {}, None),
    ('CloudOS - finish the releases of an app', {}, None),
    ('CloudOS - monitoring', {}, None),
]
DB_RUN = ['CloudOS - database servers and replication', 'CloudOS - database backup']
NOT_RUN = {
    'CloudOS - roll an app back': 'switches fleet to another version: tests/lab/test_release.py runs rollbacks',
    'CloudOS - database switchover': 'moves the primary: tests/lab/test_mysql.py runs switchovers',
    'CloudOS - database restore': 'replaces data: tests/lab/test_backup.py runs restores',
    'CloudOS - deploy an app of the app store': 'its parameters (the Redis password) come from the inventory in the '
                                                'lab\'s main job; tests/lab/test_app_store.py deploys apps',
    'CloudOS - publish the app catalog': 'pushes from the control machine\'s engine; the lab\'s main job runs it',
}
WRONG = [
    ('CloudOS - deploy a namespace', {'deploy_namespace': 'Bad_Name'}, 'deploy_namespace'),
    ('CloudOS - release an app', {'version': 'not a version'}, 'version'),
    ('CloudOS - A/B test of an app', {'ab_action': 'restart'}, 'ab_action'),
]


def test_every_template_is_run_here_or_with_the_databases_or_says_why_not():
    assert set(TEMPLATES) == {name for name, _, _ in RUN} | set(DB_RUN) | set(NOT_RUN)


@pytest.fixture(scope='module')
def pdd(tmp_path_factory):
    return PrivateDataDir(tmp_path_factory.mktemp('awx-jobs'))


@pytest.mark.parametrize('name,answers,limit', RUN, ids=[r[0] for r in RUN])
def test_the_job_ends_successful_and_a_rerun_changes_nothing(pdd, name, answers, limit):
    template = TEMPLATES[name]
    first = pdd.run(template, answers, limit)
    assert first.status == 'successful' and first.rc == 0, first.stdout[-4000:]
    assert first.ok and not first.failed, (first.ok, first.failed)  # it reached its hosts
    again = pdd.run(template, answers, limit)
    assert again.status == 'successful', again.stdout[-4000:]
    assert not any(again.changed.values()), (again.changed, again.stdout[-4000:])
    assert first.leaked(lab_secrets()) == [] and again.leaked(lab_secrets()) == []


@pytest.mark.parametrize('name,answers,variable', WRONG, ids=[w[0] for w in WRONG])
def test_a_wrong_answer_fails_the_job_naming_the_variable(pdd, name, answers, variable):
    job = pdd.run(TEMPLATES[name], answers)
    assert job.status == 'failed' and job.rc != 0, job.stdout[-3000:]
    assert variable in job.text(), job.stdout[-3000:]
    assert not any(job.changed.values()), job.changed
    assert job.leaked(lab_secrets()) == []
