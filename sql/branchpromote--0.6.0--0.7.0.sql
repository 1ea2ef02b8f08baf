-- branchpromote 0.7.0: previews safe for real data, nothing lost by a slip.
-- A fresh CREATE EXTENSION runs 0.1.0 and every upgrade script up to this one.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

-- ------------------------------------------------------------ protection
-- A protected environment or branch, by name (a name follows its
-- environment when prod moves to another timeline).  discard_branch,
-- reset_prod and drop_project refuse what is protected; a protected
-- preview never expires.  Prod is protected from its first deploy.
CREATE TABLE branchpromote.protection (
    project_id   bigint NOT NULL REFERENCES branchpromote.project ON DELETE CASCADE,
    name         text NOT NULL,
    protected_by oid NOT NULL,
    protected_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (project_id, name)
);
INSERT INTO branchpromote.protection (project_id, name, protected_by)
SELECT e.project_id, 'prod', p.owner
  FROM branchpromote.environment e JOIN branchpromote.project p ON p.id = e.project_id
 WHERE e.name = 'prod';

-- ------------------------------------------------------ recovery window
-- A discarded branch keeps its data (and its snapshots and ledger mirror)
-- until kept_until; a dropped project keeps everything until its
-- kept_until.  The reconciler removes them after that.
ALTER TABLE branchpromote.timeline ADD COLUMN kept_until timestamptz;
ALTER TABLE branchpromote.project ADD COLUMN dropped_at timestamptz;
ALTER TABLE branchpromote.project ADD COLUMN kept_until timestamptz;

CREATE OR REPLACE VIEW branchpromote.environments WITH (security_barrier) AS
SELECT p.name AS project, e.name AS env, e.timeline_id AS timeline, e.release,
       t.kind, t.expires_at
  FROM branchpromote.environment e
  JOIN branchpromote.project p ON p.id = e.project_id
  JOIN branchpromote.timeline t ON t.id = e.timeline_id
 WHERE p.dropped_at IS NULL AND branchpromote._can_see(p.owner);

CREATE OR REPLACE VIEW branchpromote.computes WITH (security_barrier) AS
SELECT p.name AS project, c.env, c.timeline_id AS timeline, c.port,
       c.desired_state, c.actual_state, c.pid, c.last_active, c.last_error,
       c.manifest_hash
  FROM branchpromote.compute c JOIN branchpromote.project p ON p.id = c.project_id
 WHERE p.dropped_at IS NULL AND branchpromote._can_see(p.owner);

-- ------------------------------------------------------------- masking
-- One rule per column; the seed keys hash and fake (a secret: no view
-- shows it).  mask_previews: forks of prod are masked unless the caller
-- says otherwise.
ALTER TABLE branchpromote.project ADD COLUMN mask_seed text;
ALTER TABLE branchpromote.project ADD COLUMN mask_previews boolean NOT NULL DEFAULT false;
CREATE TABLE branchpromote.mask_rule (
    project_id  bigint NOT NULL REFERENCES branchpromote.project ON DELETE CASCADE,
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    column_name text NOT NULL,
    rule        text NOT NULL
                CHECK (rule IN ('value', 'null', 'hash', 'partial', 'fake', 'expression')),
    arg         text,
    created_by  oid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (project_id, schema_name, table_name, column_name)
);
-- A masked timeline: the digest of the rule set it was masked with (or its
-- masked source's), and, where the rules were applied, the LSN its history
-- starts at: nothing before it is reachable, not even through its parent.
ALTER TABLE branchpromote.timeline ADD COLUMN mask_digest text;
ALTER TABLE branchpromote.timeline ADD COLUMN mask_lsn pg_lsn;

CREATE VIEW branchpromote.mask_rules WITH (security_barrier) AS
SELECT p.name AS project, m.schema_name, m.table_name, m.column_name, m.rule, m.arg,
       pg_catalog.pg_get_userbyid(m.created_by) AS created_by, m.created_at
  FROM branchpromote.mask_rule m JOIN branchpromote.project p ON p.id = m.project_id
 WHERE p.dropped_at IS NULL AND branchpromote._can_see(p.owner);
GRANT SELECT ON branchpromote.mask_rules TO branchpromote_viewer, branchpromote_deployer;

CREATE OR REPLACE VIEW branchpromote.projects WITH (security_barrier) AS
SELECT p.name AS project, pg_catalog.pg_get_userbyid(p.owner) AS owner,
       (SELECT pg_catalog.array_agg(e.name ORDER BY e.name)
          FROM branchpromote.environment e WHERE e.project_id = p.id) AS environments,
       p.created_at, p.suspend_timeout, p.mask_previews
  FROM branchpromote.project p
 WHERE p.dropped_at IS NULL AND branchpromote._can_see(p.owner);

CREATE FUNCTION branchpromote.set_mask_rule(project text, table_name text, column_name text,
                                            rule text, arg text DEFAULT NULL)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_set_mask_rule';
CREATE FUNCTION branchpromote.drop_mask_rule(project text, table_name text, column_name text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_drop_mask_rule';
CREATE FUNCTION branchpromote.set_preview_masking(project text, masked boolean)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_set_preview_masking';

DROP FUNCTION branchpromote.fork_branch(text, text, text, pg_lsn, interval);
CREATE FUNCTION branchpromote.fork_branch(project text, name text, from_env text DEFAULT 'prod',
                                          at_lsn pg_lsn DEFAULT NULL, ttl interval DEFAULT NULL,
                                          masked boolean DEFAULT NULL)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_fork_branch';

REVOKE ALL ON FUNCTION branchpromote.set_mask_rule(text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.drop_mask_rule(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.set_preview_masking(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.fork_branch(text, text, text, pg_lsn, interval, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    branchpromote.set_mask_rule(text, text, text, text, text),
    branchpromote.drop_mask_rule(text, text, text),
    branchpromote.set_preview_masking(text, boolean),
    branchpromote.fork_branch(text, text, text, pg_lsn, interval, boolean)
  TO branchpromote_deployer;

-- timelines: a discarded branch's size while its data is kept; protected;
-- masked
CREATE OR REPLACE VIEW branchpromote.timelines WITH (security_barrier) AS
SELECT p.name AS project, t.id AS timeline, t.kind, t.parent_id AS parent,
       t.fork_lsn, t.durable, t.expires_at, t.clone_method, t.created_at,
       t.branch, t.discarded_at, u.size_bytes, u.shared_bytes,
       t.kept_until,
       EXISTS (SELECT 1 FROM branchpromote.protection x
                WHERE x.project_id = t.project_id AND t.discarded_at IS NULL
                  AND (x.name = t.branch
                       OR x.name IN (SELECT e.name FROM branchpromote.environment e
                                      WHERE e.timeline_id = t.id))) AS protected,
       t.mask_digest IS NOT NULL AS masked, t.mask_digest, t.mask_lsn
  FROM branchpromote.timeline t
  JOIN branchpromote.project p ON p.id = t.project_id
  LEFT JOIN LATERAL branchpromote._timeline_usage(t.id) u
         ON t.discarded_at IS NULL OR t.kept_until IS NOT NULL
 WHERE p.dropped_at IS NULL AND branchpromote._can_see(p.owner);

CREATE VIEW branchpromote.protections WITH (security_barrier) AS
SELECT p.name AS project, x.name, pg_catalog.pg_get_userbyid(x.protected_by) AS protected_by,
       x.protected_at
  FROM branchpromote.protection x JOIN branchpromote.project p ON p.id = x.project_id
 WHERE p.dropped_at IS NULL AND branchpromote._can_see(p.owner);

-- What the reconciler will remove, and when: dropped projects (branch
-- NULL) and discarded branches within the recovery window.
CREATE VIEW branchpromote.pending_removal WITH (security_barrier) AS
SELECT p.name AS project, NULL::text AS branch, 'project'::text AS kind,
       NULL::bigint AS timeline, p.dropped_at AS removed_at, p.kept_until AS removal_at
  FROM branchpromote.project p
 WHERE p.dropped_at IS NOT NULL AND branchpromote._can_see(p.owner)
UNION ALL
SELECT p.name, t.branch, t.kind, t.id, t.discarded_at, t.kept_until
  FROM branchpromote.timeline t JOIN branchpromote.project p ON p.id = t.project_id
 WHERE t.discarded_at IS NOT NULL AND t.kept_until IS NOT NULL AND p.dropped_at IS NULL
   AND branchpromote._can_see(p.owner);

GRANT SELECT ON branchpromote.protections, branchpromote.pending_removal
  TO branchpromote_viewer, branchpromote_deployer;

CREATE FUNCTION branchpromote.protect(project text, name text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_protect';
CREATE FUNCTION branchpromote.unprotect(project text, name text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_unprotect';
CREATE FUNCTION branchpromote.restore_branch(project text, name text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_restore_branch';
CREATE FUNCTION branchpromote.undrop_project(project text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_undrop_project';

-- admins only (checked inside): ends a dropped project's window now
CREATE FUNCTION branchpromote.purge_project(project text)
    RETURNS jsonb LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_purge_project';

REVOKE ALL ON FUNCTION branchpromote.purge_project(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote.purge_project(text) TO branchpromote_admin;
REVOKE ALL ON FUNCTION branchpromote.protect(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.unprotect(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.restore_branch(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION branchpromote.undrop_project(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    branchpromote.protect(text, text),
    branchpromote.unprotect(text, text),
    branchpromote.restore_branch(text, text),
    branchpromote.undrop_project(text)
  TO branchpromote_deployer;
