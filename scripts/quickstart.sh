#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build, start a local
# control plane and walk through the main journey. Safe to run again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HOME_DIR=${BP_HOME:-/var/lib/branchpromote}
PORT=${BP_PORT:-5440}
PROXY_PORT=${BP_PROXY_PORT:-6543}
SOCK=$HOME_DIR/run

ensure_deps
build_install

mkdir -p "$HOME_DIR" && chown "$BP_OS_USER": "$HOME_DIR"
method=$(mount_reflink_fs "$HOME_DIR/data.img" "$HOME_DIR/data" 20G)
chown "$BP_OS_USER": "$HOME_DIR/data"
say "data root $HOME_DIR/data (expected clone method: $method)"
start_control "$HOME_DIR/control" "$PORT" "$SOCK" "$HOME_DIR/data" "branchpromote.proxy_port = $PROXY_PORT"

ctl() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -d postgres "$@"; }
ctl -c "CREATE EXTENSION IF NOT EXISTS branchpromote" -c "ALTER EXTENSION branchpromote UPDATE" \
	-c "CREATE EXTENSION IF NOT EXISTS pg_cron"

say "the journey: project 'demo'"
if [ "$(ctl -Atc "SELECT count(*) FROM branchpromote.projects WHERE project = 'demo'")" = 1 ]; then
	echo "(dropping the demo project from an earlier run)"
	ctl -Atc "SELECT branchpromote.unprotect('demo', name) FROM branchpromote.protections WHERE project = 'demo'" >/dev/null
	ctl -Atc "SELECT branchpromote.drop_project('demo', 'demo')" >/dev/null
fi
if [ "$(ctl -Atc "SELECT count(*) FROM branchpromote.pending_removal WHERE project = 'demo' AND branch IS NULL")" = 1 ]; then
	echo "(purging the dropped demo project of an earlier run: its name is wanted back)"
	ctl -Atc "SELECT branchpromote.purge_project('demo')" >/dev/null
fi

echo "-- 1. create the project: a dev timeline with its own compute"
ctl -c "SELECT jsonb_pretty(branchpromote.create_project('demo'))"
DEV=$(ctl -Atc "SELECT branchpromote.connection_uri('demo', 'dev')")

echo "-- 2. migrate and write data in dev (the migration ledger lives inside the timeline)"
ctl -c "SELECT jsonb_pretty(branchpromote.apply_migrations('demo', 'dev', \$\$[
  {\"version\": \"0001\", \"name\": \"customers\",
   \"sql\": \"CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)\"}]\$\$))"
DEV=$(ctl -Atc "SELECT branchpromote.connection_uri('demo', 'dev')")
psql -X -q "$DEV" -c "INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 1000) g"
psql -X "$DEV" -c "SELECT count(*) AS dev_customers FROM customers"

echo "-- 3. what a promotion would do (pure, no side effects)"
ctl -c "SELECT jsonb_pretty(branchpromote.plan_promotion('demo', 'v1'))"

echo "-- 4. promote: fork dev's head into a durable prod timeline"
ctl -c "SELECT jsonb_pretty(branchpromote.promote_branch('demo', 'v1'))"
PROD=$(ctl -Atc "SELECT branchpromote.connection_uri('demo', 'prod')")

echo "-- 5. prod serves its own copy; writes never cross"
psql -X "$PROD" -c "SELECT count(*) AS prod_customers FROM customers"
psql -X -q "$PROD" -c "INSERT INTO customers VALUES (1001, 'only in prod')"
psql -X -q "$DEV" -c "INSERT INTO customers VALUES (2001, 'only in dev')"
psql -X "$PROD" -c "SELECT count(*) AS prod_customers, bool_or(id = 2001) AS sees_dev_write FROM customers"
psql -X "$DEV" -c "SELECT count(*) AS dev_customers, bool_or(id = 1001) AS sees_prod_write FROM customers"

echo "-- 6. a new migration on dev; the re-deploy keeps prod's data and applies only it"
ctl -c "SELECT jsonb_pretty(branchpromote.apply_migrations('demo', 'dev', \$\$[
  {\"version\": \"0002\", \"name\": \"email\", \"sql\": \"ALTER TABLE customers ADD COLUMN email text\"}]\$\$))"
ctl -c "SELECT branchpromote.plan_promotion('demo', 'v2')->'pending' AS pending"
echo "-- what the deploy will do to prod's schema (a throwaway fork of prod, the pending migrations applied and rolled back)"
ctl -Atc "SELECT branchpromote.schema_diff('demo', 'prod', 'prod+pending', format => 'text') #>> '{}'"
ctl -c "SELECT jsonb_pretty(branchpromote.promote_branch('demo', 'v2'))"
ctl -c "SELECT branchpromote.schema_diff('demo', 'dev', 'prod')->'equal' AS prod_has_devs_schema"
psql -X "$PROD" -c "SELECT count(*) AS prod_customers, bool_or(id = 1001) AS kept_prod_write, count(email) AS emails FROM customers"

echo "-- 7. a preview: a throwaway fork of prod with its own compute and a TTL"
ctl -c "SELECT jsonb_pretty(branchpromote.fork_branch('demo', 'pr-1', ttl => '1 hour'))"
PR=$(ctl -Atc "SELECT branchpromote.connection_uri('demo', 'pr-1')")
psql -X -q "$PR" -c "DELETE FROM customers"
psql -X "$PR" -c "SELECT count(*) AS preview_customers FROM customers"
psql -X "$PROD" -c "SELECT count(*) AS prod_customers FROM customers"

echo "-- 8. undo the re-deploy: prod forked at its pre-deploy anchor, the old prod kept as a backup"
ctl -c "SELECT jsonb_pretty(branchpromote.rollback_deploy('demo'))"
psql -X "$PROD" -c "SELECT count(*) AS prod_customers, bool_or(id = 1001) AS kept_prod_write FROM customers" \
	-c "SELECT count(*) AS email_columns FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'email'"

echo "-- 9. scale to zero: suspend prod; the next client through the proxy wakes it"
ctl -c "SELECT jsonb_pretty(branchpromote.suspend_compute('demo', 'prod'))"
t0=$(date +%s%N)
psql -X "$PROD" -c "SELECT count(*) AS prod_customers FROM customers"
echo "(woken and answered in $((($(date +%s%N) - t0) / 1000000)) ms, psql included)"
ctl -c "SELECT project, env, connections_total, wakes, round(wake_ms_max) AS wake_ms, bytes_in, bytes_out FROM branchpromote.proxy_stats WHERE project = 'demo'"

echo "-- 10. nothing lost by a slip: prod is protected from its first deploy, a discard can be undone"
ctl -Atc "SELECT name || ' is protected' FROM branchpromote.protections WHERE project = 'demo'"
echo "(drop_project is refused, as it should be:)"
ctl -c "SELECT branchpromote.drop_project('demo', 'demo')" 2>&1 | sed -n '1,3p' || true
ctl -c "SELECT jsonb_pretty(branchpromote.discard_branch('demo', 'pr-1'))"
ctl -c "SELECT project, branch, kind, removal_at FROM branchpromote.pending_removal WHERE project = 'demo'"
ctl -c "SELECT jsonb_pretty(branchpromote.restore_branch('demo', 'pr-1'))"
psql -X "$PR" -c "SELECT count(*) AS restored_preview_customers FROM customers"

echo "-- 11. the catalog"
ctl -c "SELECT * FROM branchpromote.environments" -c "SELECT project, env, timeline, port, actual_state, pid FROM branchpromote.computes" \
	-c "SELECT project, env, version, name FROM branchpromote.ledger ORDER BY env, version" \
	-c "SELECT project, deploy_id, release, action, status, fork_lsn, clone_method, anchor_lsn, migrations_applied, round(elapsed_ms) AS ms FROM branchpromote.deploys" \
	-c "SELECT project, timeline, kind, branch, parent, fork_lsn, expires_at, pg_size_pretty(size_bytes) AS size, pg_size_pretty(shared_bytes) AS shared FROM branchpromote.timelines WHERE discarded_at IS NULL"

cat <<EOT

Connect:
  control plane:  runuser -u $BP_OS_USER -- psql -h $SOCK -p $PORT -d postgres
  demo dev:       psql '$DEV'
  demo prod:      psql '$PROD'
  demo preview:   psql '$PR'
These URIs go through the proxy on port $PROXY_PORT (database "demo" is prod, "demo.dev" dev,
"demo.<branch>" a branch). Computes scale to zero after 5 idle minutes
(branchpromote.suspend_timeout); the proxy wakes one when a client connects.
A compute's own address: SELECT branchpromote.connection_uri('demo', 'prod', true);
Every function, view and setting: doc/reference.md. Run every test: ./scripts/test.sh
EOT
