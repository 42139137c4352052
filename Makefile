# smchub: the README's two commands are `make run` and `make test`.
# Both set up what they need first: .venv (with Debian's Python, so per-project Unix
# accounts can run it), the smchub package, configurable-http-proxy from npm.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Debian's python3 lives in /usr, which every project account can reach; a Python
# under /root (pyenv) could not run as a project's own user
PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)
PYTEST_ARGS ?=
RUN_DIR ?= .run

.PHONY: setup system-deps reachable run test lint bench clean

# What the hub needs from Debian, installed only when missing: a Python that can make
# venvs, restic for project snapshots, and Node.js with npm for the proxy (from Debian,
# unless node and npm are already on the PATH from elsewhere)
system-deps:
	@missing=""; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v restic >/dev/null || missing="$$missing restic"; \
	[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  [ "$$(id -u)" = 0 ] || { echo "need root to apt-get install$$missing" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip

$(VENV)/.installed: $(PY) setup.cfg setup.py pyproject.toml
	$(PY) -m pip install -qq -e '.[test]'
	# nbgrader's JupyterLab plugins for its formgrader and exchange, which smchub's course
	# steps replace (its server side is off in ProjectSpawner.args); its cell toolbar for
	# authoring stays
	for verb in disable lock; do $(VENV)/bin/jupyter labextension $$verb --level=sys_prefix \
	  @jupyter/nbgrader:formgrader @jupyter/nbgrader:assignment-list \
	  @jupyter/nbgrader:course-list @jupyter/nbgrader:validate-assignment \
	  @jupyter/nbgrader:menu >/dev/null 2>&1 || exit 1; done
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/bin/configurable-http-proxy: node_modules/.installed $(PY)
	ln -sf ../../node_modules/.bin/configurable-http-proxy $@

# When the hub runs as root, projects run as their own accounts and must be able to
# walk down to the environment: grant search (x, not read) to others on the folders
# above the checkout that lack it (a fresh `mktemp -d` clone is 0700).
reachable:
	@if [ "$$(id -u)" = 0 ]; then \
	  d="$(CURDIR)"; while [ "$$d" != "/" ]; do \
	    if [ "$$(( 0$$(stat -c %a "$$d") & 1 ))" = 0 ]; then \
	      echo "chmod o+x $$d (so per-project accounts can reach $(CURDIR))"; chmod o+x "$$d"; fi; \
	    d="$$(dirname "$$d")"; done; \
	fi

setup: system-deps $(VENV)/.installed $(VENV)/bin/configurable-http-proxy reachable

run: setup
	@mkdir -p $(RUN_DIR)
	@echo "smchub is starting at http://hub.localhost:8000/ — open http://hub.localhost:8000/hub/signup to make an account"
	cd $(RUN_DIR) && exec ../$(VENV)/bin/smchub

# Tests whose subject is not the hub's database run once, on SQLite: the browser's view
# of the pages (their data comes through the API, which runs on both databases), the
# project-server extension and its edit history, pure functions (placement, Kubernetes
# objects, the culler's, course and lockout rules, the last on an in-memory SQLite of
# their own), the embedded default (SQLite by definition), the snapshot repository's
# storage and the node helpers that snapshot homes, and the nodes' own machinery: Docker
# engines and the Swarm, homes moved between kinds of nodes, engines that fail, the fork
# server, cgroups, exec, the event loop under a slow engine, what one project's kernel,
# network or files can reach of another's or of the hub's, how long a project server
# trusts its cached check of a visitor, a big copy streamed through the hub, origins,
# log scrubbing, the project server's authorizer for viewers, and the OpenAPI document
# fuzzed by Schemathesis (the API tests check it on both), a local node's ports and who
# listens on them, files copied and streamed between project servers, what a project
# server lets collaborators and strangers do with its files and websockets (the access
# records behind it are the access matrix's, on both), the authenticators' reserved names,
# nbgrader's grading in a student's project (a class of 100 is autograded on PostgreSQL),
# what a snapshot holds and brings back (who reaches snapshots, deleted projects and the
# daily upkeep run on both), and what a course's files go through in one class's end to
# end, peer feedback, a deadline's collect and an exam window (the steps' records are
# the 100-student class's and the restarted jobs', on PostgreSQL). Their database work is
# the same projects, shares, snapshots and nodes rows that the API, access, course, move
# and snapshot tests check on both. A file that mixes both kinds is named test by test.
# Everything else runs on PostgreSQL too.
NO_DATABASE := tests/browser tests/localhub tests/test_kubernetes_objects.py \
  tests/test_package.py tests/test_placement.py tests/test_culler_rules.py \
  tests/test_course_rules.py tests/test_lockout_rules.py tests/test_embedded_default.py \
  tests/test_docker_addresses.py tests/test_docker_tls.py tests/test_snapshot_storage.py \
  tests/test_snapshot_nodes.py \
  tests/test_edit_history.py tests/test_swarm.py tests/test_docker_nodes.py \
  tests/test_docker_icc.py tests/test_isolation.py tests/test_faults.py \
  tests/test_forkserver.py tests/test_forkserver_requests.py tests/test_local_limits.py \
  tests/test_terminals_exec.py tests/test_unresponsive_node.py tests/test_loopwatch.py \
  tests/test_collector.py tests/test_viewer.py tests/test_origin_routes.py \
  tests/test_secrets_in_logs.py tests/test_sso.py tests/test_openapi.py \
  tests/test_autograde_docker.py tests/test_autograde_feedback.py tests/test_haproxy.py \
  tests/test_haproxy_tls.py tests/test_haproxy_traffic.py tests/test_course_snapshots.py \
  tests/test_environments_docker.py tests/test_full_environment.py \
  tests/test_port_squatting.py tests/test_copy.py tests/test_project_servers.py \
  tests/test_project_names.py tests/test_autograde.py::test_autograde_end_to_end \
  tests/test_autograde.py::test_what_the_grader_prints_cannot_add_cells_or_points \
  tests/test_autograde.py::test_a_notebook_past_its_time_is_stopped_with_its_kernel \
  tests/test_autograde.py::test_autograde_needs_collected_nbgrader_work \
  tests/test_snapshots.py::test_a_stop_takes_a_snapshot_that_brings_back_deleted_and_changed_work \
  tests/test_snapshots.py::test_browse_download_and_snapshot_now \
  tests/test_snapshots.py::test_restore_into_a_stopped_project_and_to_another_name \
  tests/test_snapshots.py::test_restore_paths_cannot_leave_the_snapshot_or_the_home \
  tests/test_snapshots.py::test_interval_snapshots_are_kept_only_when_files_changed \
  tests/test_snapshots.py::test_a_move_takes_a_snapshot_before_the_home_leaves \
  tests/test_snapshots.py::test_a_snapshot_that_fails_never_stops_a_project \
  tests/test_snapshots.py::test_a_repository_that_went_away_is_not_silently_made_anew \
  tests/test_courses.py::test_a_course_end_to_end \
  tests/test_peer_feedback.py::test_peer_feedback_round_trip \
  tests/test_deadlines.py::test_each_student_is_collected_at_their_deadline_and_late_work_apart \
  tests/test_exam_window.py::test_an_exam_window_takes_terminals_and_downloads_away \
  tests/test_restart.py::test_a_server_starting_when_the_hub_dies_is_not_lost \
  tests/test_move.py::test_move_from_local_to_docker_and_back \
  tests/test_move.py::test_move_from_docker_to_a_swarm_machine_and_back \
  tests/test_access_matrix.py::test_removed_collaborator_loses_server_access_within_60s \
  tests/test_revocation.py::test_the_owner_keeps_their_websockets \
  tests/test_snapshots.py::test_projects_cannot_read_the_repository_or_its_password \
  tests/test_exam_window.py::test_an_exam_without_network_on_a_docker_node

# Class-sized tests run once, on PostgreSQL, where classes of that size live: a course
# step for 100 students starts, snapshots and stops 100 servers (two minutes of the two
# CPUs, two snapshots at a time), the restarted-hub tests kill a hub under a 30-student
# step three times, the class-wide actions start, run in and stop 20 projects, and a class
# of 100 is autograded (four minutes). The code they run is the same on SQLite, which
# repeating them would not tell more about. Two hubs elect the active one on PostgreSQL
# only.
ON_POSTGRES_ONLY := tests/test_courses.py::test_a_class_of_100_with_a_failing_student \
  tests/test_course_jobs.py tests/test_class_actions.py tests/test_autograde_class.py \
  tests/test_two_hubs.py

# What goes through the proxy most (project servers, origins, websockets, terminals,
# restarts, the browser's journey) runs again with HAProxy in front instead of
# configurable-http-proxy (SMCHUB_TEST_PROXY, tests/hubfixture.py), on SQLite.
BOTH_PROXIES := tests/test_haproxy_traffic.py::test_the_test_hubs_run_behind_the_proxy_asked_for \
  tests/test_project_servers.py tests/test_origin_routes.py tests/test_servers.py \
  tests/test_revocation.py tests/test_invites.py tests/test_terminals_exec.py \
  tests/test_faults.py::test_a_killed_server_is_noticed_and_starts_again \
  tests/test_access_matrix.py::test_access_matrix tests/test_access_matrix.py::test_pages_matrix \
  tests/test_bad_input.py tests/test_load.py tests/test_restart.py::test_projects_survive_a_hub_restart \
  tests/browser/test_journey.py tests/browser/test_origins.py \
  tests/browser/test_collaboration.py tests/browser/test_invitations.py

# The whole suite on SQLite (the embedded default), then what touches the database again
# on a real PostgreSQL; both with two Docker Engines as compute nodes and a two-machine
# Docker Swarm in network namespaces (Debian's docker.io, started here and stopped
# afterwards, with the project image, and the full one with SageMath, R and LaTeX, built
# when their inputs changed: the full one's first build takes 5 to 8 minutes).
test: setup
	tests/browser/ensure-chromium.sh
	$(VENV)/bin/ruff check .
	tests/services/with-docker.sh tests/services/with-swarm.sh tests/services/with-full-image.sh \
	  bash -c \
	  '$(VENV)/bin/pytest --durations=60 $(PYTEST_ARGS) \
	     $(addprefix --deselect=,$(ON_POSTGRES_ONLY)) && \
	   SMCHUB_TEST_PROXY=haproxy $(VENV)/bin/pytest --durations=10 $(PYTEST_ARGS) \
	     $(BOTH_PROXIES) && \
	   tests/services/with-postgres.sh $(VENV)/bin/pytest --durations=40 $(PYTEST_ARGS) \
	     $(foreach t,$(NO_DATABASE),$(if $(findstring ::,$t),--deselect,--ignore)=$t)'

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	tests/browser/ensure-chromium.sh
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info
