# hna.cloudos: the two commands that matter are `make lab` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_ROLES_PATH := $(CURDIR)/roles
export ANSIBLE_FORCE_COLOR ?= false
INVENTORY ?= inventories/lab

.PHONY: help setup lab lab-up lab-site lab-monitoring lab-status lab-down lab-clean test \
	test-unit test-sanity test-lint test-collection test-molecule test-lab test-images test-local

help:
	@echo "make lab        set up this machine, build and start the lab, run its main job (playbooks/lab.yml) and its monitoring"
	@echo "make test       run every test (unit, sanity, lint, collection, molecule, lab end to end)"
	@echo "make lab-status list the lab's containers"
	@echo "make lab-down   remove the lab's containers, networks and volumes (keeps images and caches)"
	@echo "make lab-clean  remove everything the lab created, and nothing else"

setup:
	@tools/setup.sh

lab: setup lab-up lab-site lab-monitoring

lab-up:
	@python lab/lab.py up

lab-site:
	@tools/timed.sh "the lab's main job" ansible-playbook -i $(INVENTORY) playbooks/lab.yml

lab-monitoring:
	@tools/timed.sh "the lab's monitoring" ansible-playbook -i $(INVENTORY) playbooks/monitoring.yml

lab-status:
	@python lab/lab.py status

lab-down:
	@python lab/lab.py down

lab-clean:
	@python lab/lab.py clean

test: setup
	@tools/run-tests.sh

test-unit:
	pytest -q tests/unit collections/ansible_collections/hna/cloudos/tests/unit

test-sanity:
	tools/collection-sanity.sh

test-lint:
	ansible-lint --offline --profile production

test-collection:
	pytest -q tests/collection

test-molecule:
	python lab/lab.py up
	STAGES=molecule tools/run-tests.sh

test-lab:
	tools/test-lab.sh

test-images:
	pytest -q tests/images

test-local:
	tools/test-local.sh
