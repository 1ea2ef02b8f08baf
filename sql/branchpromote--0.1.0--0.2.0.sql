-- branchpromote 0.2.0: history (snapshots, retention), rollback, previews,
-- reset.  A fresh CREATE EXTENSION runs 0.1.0 and then this script.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

-- Branches: previews and backups have a name; a discarded branch keeps its
-- row (the lineage stays readable) and loses its data.
ALTER TABLE branchpromote.timeline
    ADD COLUMN branch text CHECK (branch ~ '^[a-z][a-z0-9_-]{0,62}$'),
    ADD COLUMN discarded_at timestamptz,
    ADD CONSTRAINT timeline_branch_key UNIQUE (project_id, branch);

ALTER TABLE branchpromote.anchor
    DROP CONSTRAINT anchor_kind_check,
    ADD CONSTRAINT anchor_kind_check
        CHECK (kind IN ('pre-deploy', 'manual', 'scheduled', 'pre-reset'));

-- Un-started base backups of a timeline; with its WAL archive they make any
-- LSN from a snapshot's lsn on reachable.  Ids come from a sequence so the
-- directory can be named before the row commits (as for timelines).
CREATE SEQUENCE branchpromote.snapshot_id_seq;
CREATE TABLE branchpromote.snapshot (
    id          bigint PRIMARY KEY,
    timeline_id bigint NOT NULL REFERENCES branchpromote.timeline ON DELETE CASCADE,
    start_lsn   pg_lsn NOT NULL,
    lsn         pg_lsn NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('anchor', 'periodic')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (start_lsn <= lsn)
);
CREATE INDEX ON branchpromote.snapshot (timeline_id, lsn);

ALTER TABLE branchpromote.deploy
    DROP CONSTRAINT deploy_action_check,
    ADD CONSTRAINT deploy_action_check
        CHECK (action IN ('first_deploy', 'redeploy', 'rollback', 'reset')),
    ADD COLUMN previous_release text,
    ADD COLUMN rolled_back_by bigint REFERENCES branchpromote.deploy ON DELETE SET NULL;

REVOKE ALL ON branchpromote.snapshot FROM PUBLIC;
REVOKE ALL ON SEQUENCE branchpromote.snapshot_id_seq FROM PUBLIC;

-- ----------------------------------------------------------------- views

-- Bytes a timeline takes on disk, and how many of them share extents with
-- other files (reflink clones: its parent, snapshots, siblings).
CREATE FUNCTION branchpromote._timeline_usage(timeline bigint,
                                              OUT size_bytes bigint, OUT shared_bytes bigint)
    LANGUAGE c STRICT VOLATILE AS 'MODULE_PATHNAME', 'branchpromote_timeline_usage';

CREATE OR REPLACE VIEW branchpromote.timelines WITH (security_barrier) AS
SELECT p.name AS project, t.id AS timeline, t.kind, t.parent_id AS parent,
       t.fork_lsn, t.durable, t.expires_at, t.clone_method, t.created_at,
       t.branch, t.discarded_at, u.size_bytes, u.shared_bytes
  FROM branchpromote.timeline t
  JOIN branchpromote.project p ON p.id = t.project_id
  LEFT JOIN LATERAL branchpromote._timeline_usage(t.id) u ON t.discarded_at IS NULL
 WHERE branchpromote._can_see(p.owner);

CREATE OR REPLACE VIEW branchpromote.environments WITH (security_barrier) AS
SELECT p.name AS project, e.name AS env, e.timeline_id AS timeline, e.release,
       t.kind, t.expires_at
  FROM branchpromote.environment e
  JOIN branchpromote.project p ON p.id = e.project_id
  JOIN branchpromote.timeline t ON t.id = e.timeline_id
 WHERE branchpromote._can_see(p.owner);

CREATE OR REPLACE VIEW branchpromote.deploys WITH (security_barrier) AS
SELECT p.name AS project, d.id AS deploy_id, d.release, d.action, d.status,
       d.from_timeline, d.to_timeline, d.fork_lsn, d.clone_method,
       d.anchor_lsn, d.migrations_applied, d.rehearsal,
       d.started_at, d.finished_at, d.elapsed_ms, d.error,
       d.previous_release, d.rolled_back_by
  FROM branchpromote.deploy d JOIN branchpromote.project p ON p.id = d.project_id
 WHERE branchpromote._can_see(p.owner);

-- A backup branch's ledger shows under its branch name.
CREATE OR REPLACE VIEW branchpromote.ledger WITH (security_barrier) AS
SELECT p.name AS project, COALESCE(e.name, t.branch) AS env, l.timeline_id AS timeline,
       l.version, l.name, l.checksum, l.applied_at
  FROM branchpromote.ledger_mirror l
  JOIN branchpromote.timeline t ON t.id = l.timeline_id
  JOIN branchpromote.project p ON p.id = t.project_id
  LEFT JOIN branchpromote.environment e ON e.timeline_id = l.timeline_id
 WHERE branchpromote._can_see(p.owner);

CREATE VIEW branchpromote.snapshots WITH (security_barrier) AS
SELECT p.name AS project, s.timeline_id AS timeline, s.id AS snapshot, s.reason,
       s.start_lsn, s.lsn, s.created_at
  FROM branchpromote.snapshot s
  JOIN branchpromote.timeline t ON t.id = s.timeline_id
  JOIN branchpromote.project p ON p.id = t.project_id
 WHERE branchpromote._can_see(p.owner);

GRANT SELECT ON branchpromote.snapshots TO branchpromote_viewer, branchpromote_deployer;

-- ------------------------------------------------------------------- API

CREATE FUNCTION branchpromote.create_anchor(project text, env text, name text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_create_anchor';

CREATE FUNCTION branchpromote.rollback_to_lsn(project text, lsn pg_lsn)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_rollback_to_lsn';

CREATE FUNCTION branchpromote.rollback_deploy(project text, deploy_id bigint DEFAULT NULL)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_rollback_deploy';

CREATE FUNCTION branchpromote.fork_branch(project text, name text, from_env text DEFAULT 'prod',
                                          at_lsn pg_lsn DEFAULT NULL, ttl interval DEFAULT NULL)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_fork_branch';

CREATE FUNCTION branchpromote.discard_branch(project text, name text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_discard_branch';

CREATE FUNCTION branchpromote.reset_prod(project text, confirm text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_reset_prod';

REVOKE ALL ON FUNCTION
    branchpromote._timeline_usage(bigint),
    branchpromote.create_anchor(text, text, text),
    branchpromote.rollback_to_lsn(text, pg_lsn),
    branchpromote.rollback_deploy(text, bigint),
    branchpromote.fork_branch(text, text, text, pg_lsn, interval),
    branchpromote.discard_branch(text, text),
    branchpromote.reset_prod(text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote._timeline_usage(bigint)
  TO branchpromote_viewer, branchpromote_deployer;
GRANT EXECUTE ON FUNCTION
    branchpromote.create_anchor(text, text, text),
    branchpromote.rollback_to_lsn(text, pg_lsn),
    branchpromote.rollback_deploy(text, bigint),
    branchpromote.fork_branch(text, text, text, pg_lsn, interval),
    branchpromote.discard_branch(text, text),
    branchpromote.reset_prod(text, text)
  TO branchpromote_deployer;

-- ------------------------------------------------------------- manifests
-- The one template every compute's manifest is rendered from (dev, prod and
-- previews alike; see compute_manifests).  Admins change it with UPDATE; the
-- reconciler restarts computes whose settings changed, prod last, one at a
-- time.
CREATE TABLE branchpromote.compute_template (
    id         integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    image      text NOT NULL DEFAULT 'postgres:15',
    resources  jsonb NOT NULL
               DEFAULT '{"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}'
               CHECK (jsonb_typeof(resources) = 'object'),
    settings   jsonb NOT NULL DEFAULT '{"max_connections": "100", "shared_buffers": "128MB"}'
               CHECK (jsonb_typeof(settings) = 'object'),
    labels     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
INSERT INTO branchpromote.compute_template DEFAULT VALUES;
REVOKE ALL ON branchpromote.compute_template FROM PUBLIC;
GRANT SELECT ON branchpromote.compute_template TO branchpromote_viewer, branchpromote_deployer;
GRANT UPDATE (image, resources, settings, labels, updated_at) ON branchpromote.compute_template
  TO branchpromote_admin;

-- What each compute was last rendered as: the manifest, its hash, and the
-- hash of what its process depends on (image, resources, settings).
ALTER TABLE branchpromote.compute
    ADD COLUMN manifest jsonb,
    ADD COLUMN manifest_hash text,
    ADD COLUMN runtime_hash text;

CREATE OR REPLACE VIEW branchpromote.computes WITH (security_barrier) AS
SELECT p.name AS project, c.env, c.timeline_id AS timeline, c.port,
       c.desired_state, c.actual_state, c.pid, c.last_active, c.last_error,
       c.manifest_hash
  FROM branchpromote.compute c JOIN branchpromote.project p ON p.id = c.project_id
 WHERE branchpromote._can_see(p.owner);

CREATE FUNCTION branchpromote.compute_manifests(project text, env text)
    RETURNS jsonb LANGUAGE c STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_compute_manifests';
REVOKE ALL ON FUNCTION branchpromote.compute_manifests(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote.compute_manifests(text, text) TO branchpromote_deployer;

-- ---------------------------------------------------------- scale to zero
-- A project's own suspend timeout (NULL: branchpromote.suspend_timeout).
ALTER TABLE branchpromote.project ADD COLUMN suspend_timeout interval
    CHECK (suspend_timeout >= interval '0');

CREATE FUNCTION branchpromote.set_suspend_timeout(project text, timeout interval)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_set_suspend_timeout';
REVOKE ALL ON FUNCTION branchpromote.set_suspend_timeout(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote.set_suspend_timeout(text, interval) TO branchpromote_deployer;

CREATE OR REPLACE VIEW branchpromote.projects WITH (security_barrier) AS
SELECT p.name AS project, pg_catalog.pg_get_userbyid(p.owner) AS owner,
       (SELECT pg_catalog.array_agg(e.name ORDER BY e.name)
          FROM branchpromote.environment e WHERE e.project_id = p.id) AS environments,
       p.created_at, p.suspend_timeout
  FROM branchpromote.project p
 WHERE branchpromote._can_see(p.owner);
