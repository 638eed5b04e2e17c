# certfleet.tls: two commands for a newcomer: `make demo` and `make test`.
# Everything generated (venv, rig, collection path) lives under $(BASE), outside the repository.
SHELL   := /bin/bash
BASE    ?= /tmp/certfleet
VENV    ?= $(BASE)/venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
COLL    := $(BASE)/collections
LINK    := $(COLL)/ansible_collections/certfleet/tls
HOSTS   ?= 3
RIG     := python3 tests/rig/rig.py --base $(BASE)/rig
export CERTFLEET_RIG := $(BASE)/rig
export CERTFLEET_COLLECTIONS := $(COLL)
export ANSIBLE_COLLECTIONS_PATH := $(COLL)
export ANSIBLE_CONFIG := $(BASE)/rig/ansible.cfg
export PATH := $(BIN):$(PATH)

.PHONY: deps link rig-up rig-down demo test unit integration molecule lint sanity bench clean

$(VENV)/.deps: requirements.txt
	@# Debian's python3 has no ensurepip (so no venv) without python3-venv
	python3 -c 'import ensurepip' 2>/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv)
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

deps: $(VENV)/.deps

link:
	mkdir -p $(dir $(LINK))
	ln -sfn $(CURDIR) $(LINK)

rig-up: link
	$(RIG) up --hosts $(HOSTS)

rig-down:
	$(RIG) down

## make demo: install what is needed, start Pebble and 3 hosts (2 nginx, 1 Apache), write 4 HTTPS sites (two on
## host1), issue their certificates, print the report
## The sites of tests/integration/playbooks/web_inventory/rig.yml: host1 (nginx) serves two sites with their own
## certificates, host2 (nginx) one, host3 (Apache) one under an Owncloud-like document root.
DEMO_INVENTORY := -i $(BASE)/rig/inventory.yml -i tests/integration/playbooks/web_inventory/rig.yml
DEMO_SITES := www.host1.test=127.0.1.1 alias.host1.test=127.0.1.1 shop.host1.test=127.0.1.1 \
              www.host2.test=127.0.1.2 www.host3.test=127.0.1.3
demo: deps rig-up
	@# the site names in the rig's DNS (the CA resolves them there), and host3's document root
	for site in $(DEMO_SITES); do $(RIG) dns $${site%%=*} $${site#*=} >/dev/null; done
	mkdir -p $(BASE)/rig/hosts/host3/sites/www/htdocs
	$(BIN)/ansible-playbook $(DEMO_INVENTORY) certfleet.tls.site
	$(BIN)/ansible-playbook $(DEMO_INVENTORY) certfleet.tls.report

## make test: the whole suite; starts and stops the rig itself
test: deps link
	$(MAKE) --no-print-directory unit lint sanity
	$(RIG) up --hosts $(HOSTS) >/dev/null
	status=0; \
	$(MAKE) --no-print-directory integration || status=$$?; \
	if [ $$status -eq 0 ]; then $(MAKE) --no-print-directory molecule || status=$$?; fi; \
	$(RIG) down >/dev/null; exit $$status

unit: deps link
	cd $(LINK) && $(PY) -m pytest -q tests/unit

integration: deps link
	cd $(LINK) && $(PY) -m pytest -q tests/integration

molecule: deps link
	cd $(CURDIR) && $(BIN)/molecule test --scenario-name certificate && $(BIN)/molecule test --scenario-name web

lint: deps
	$(BIN)/ansible-lint --profile production --offline
	$(PY) extensions/molecule/check_argument_specs.py
	$(BIN)/antsibull-changelog lint
	$(BIN)/ansible-galaxy collection build --force --output-path $(BASE)/build >/dev/null

# ansible-test needs the collection at a real ansible_collections/<ns>/<name> path: copy the tracked tree.
# ansible-test fetches its pip bootstrap from a host this network cannot reach: put our stand-in in its cache.
sanity: deps
	mkdir -p ~/.ansible/test/cache
	for v in 24_2 25_0 25_1; do cp -n tests/sanity/get_pip_standin.py ~/.ansible/test/cache/get_pip_$$v.py; done
	rm -rf $(BASE)/sanity && mkdir -p $(BASE)/sanity/ansible_collections/certfleet/tls
	git ls-files -co --exclude-standard | grep -v '^tests/rig/\|^tests/sanity/\|^bench/' | \
	  tar -cf - -T - | tar -xf - -C $(BASE)/sanity/ansible_collections/certfleet/tls/
	cd $(BASE)/sanity/ansible_collections/certfleet/tls && \
	  $(BIN)/ansible-test sanity --python 3.11 --color no \
	  2>&1 | tail -n 40; exit $${PIPESTATUS[0]}

# the benchmark's own requirements (the full `ansible` package, for the community.crypto peer), bench only
$(VENV)/.bench-deps: $(VENV)/.deps bench/requirements.txt
	$(BIN)/pip install -q -r bench/requirements.txt
	touch $@

# N=20 and N=100, 3 runs each, the peer at N=20 (about an hour on 2 cores); e.g. BENCH_ARGS="--repeat 1 --ref HEAD"
BENCH_ARGS ?=
bench: deps link $(VENV)/.bench-deps   # bench/run.py takes the rig lock, starts the rig itself and leaves it up with 3 hosts
	$(PY) bench/run.py --base $(BASE) $(BENCH_ARGS)

clean: rig-down
	rm -rf $(BASE)
