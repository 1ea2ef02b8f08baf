-- branchpromote 0.1.0: catalog, views, roles and the SQL API.
\echo Use "CREATE EXTENSION branchpromote" to load this file. \quit

-- Loading the module runs _PG_init, which refuses unless the library is in
-- shared_preload_libraries; this call also refuses a database other than
-- branchpromote.database_name (the reconciler only watches that one).
CREATE FUNCTION branchpromote._check_install() RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'branchpromote_check_install';
SELECT branchpromote._check_install();
REVOKE ALL ON FUNCTION branchpromote._check_install() FROM PUBLIC;

-- Roles are cluster-wide and outlive the extension, so they are created only
-- when missing (a DO block, not IF NOT EXISTS on an extension member).  One
-- that exists already is taken over only if no one but a superuser shaped
-- it: a CREATEROLE user who made it first, with members or admins of their
-- own choosing, would otherwise decide who administers every project.
DO $roles$
DECLARE
    r text;
    why text;
BEGIN
    FOREACH r IN ARRAY ARRAY['branchpromote_admin', 'branchpromote_deployer',
                             'branchpromote_viewer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
            CONTINUE;
        END IF;
        SELECT pg_catalog.concat_ws('; ',
                   CASE WHEN a.rolsuper OR a.rolcreaterole OR a.rolcreatedb OR a.rolcanlogin
                             OR a.rolreplication OR a.rolbypassrls
                        THEN 'it has attributes a group role of branchpromote never has' END,
                   (SELECT pg_catalog.string_agg(pg_catalog.format('%s of "%s" granted by %s',
                               CASE WHEN m.admin_option THEN 'admin membership' ELSE 'membership' END,
                               pg_catalog.pg_get_userbyid(m.member),
                               COALESCE(pg_catalog.quote_ident(g.rolname), 'a role that no longer exists')), '; ')
                      FROM pg_catalog.pg_auth_members m
                      LEFT JOIN pg_catalog.pg_roles g ON g.oid = m.grantor
                     WHERE m.roleid = a.oid AND NOT COALESCE(g.rolsuper, false)))
          INTO why
          FROM pg_catalog.pg_roles a WHERE a.rolname = r;
        IF why <> '' THEN
            RAISE EXCEPTION 'role "%" exists already and was not made by a superuser alone', r
                USING ERRCODE = 'duplicate_object',
                      DETAIL = why || '.',
                      HINT = 'Drop the role, or revoke what a non-superuser granted (REVOKE ... FROM ...) and reset its attributes (ALTER ROLE ... NOLOGIN NOCREATEROLE ...), then run CREATE EXTENSION again.';
        END IF;
    END LOOP;
END
$roles$;
-- Admins can do what deployers do and see what viewers see; deployers see
-- only the projects whose owner role they have.
GRANT branchpromote_deployer, branchpromote_viewer TO branchpromote_admin;

-- ---------------------------------------------------------------- tables
-- Only src/catalog.c reads and writes these; users read the views below.

CREATE TABLE branchpromote.project (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE
                 CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    owner        oid NOT NULL,
    app_password text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Timeline ids come from a sequence so a data directory can be named before
-- the row that references it commits (see doc/design.md, "Crash safety").
-- It starts past any directory an earlier installation left in the data
-- root, so a new timeline never collides with one the reconciler has yet
-- to remove.
CREATE SEQUENCE branchpromote.timeline_id_seq;
CREATE FUNCTION branchpromote._stored_timeline_max() RETURNS bigint
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'branchpromote_stored_timeline_max';
SELECT pg_catalog.setval('branchpromote.timeline_id_seq',
                         branchpromote._stored_timeline_max() + 1, false);

CREATE TABLE branchpromote.timeline (
    id           bigint PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES branchpromote.project ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('dev', 'prod', 'preview', 'backup')),
    -- no cascade: a timeline goes only with its whole project, never under a child
    parent_id    bigint REFERENCES branchpromote.timeline,
    fork_lsn     pg_lsn,
    durable      boolean NOT NULL,
    expires_at   timestamptz,
    clone_method text CHECK (clone_method IN ('reflink', 'copy')),
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK ((parent_id IS NULL) = (fork_lsn IS NULL))
);
CREATE INDEX ON branchpromote.timeline (project_id);

CREATE TABLE branchpromote.environment (
    project_id  bigint NOT NULL REFERENCES branchpromote.project ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    timeline_id bigint NOT NULL REFERENCES branchpromote.timeline ON DELETE CASCADE,
    release     text,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE branchpromote.anchor (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    timeline_id bigint NOT NULL REFERENCES branchpromote.timeline ON DELETE CASCADE,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('pre-deploy', 'manual', 'scheduled')),
    lsn         pg_lsn NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (timeline_id, name)
);

CREATE TABLE branchpromote.compute (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    bigint NOT NULL REFERENCES branchpromote.project ON DELETE CASCADE,
    env           text NOT NULL,
    timeline_id   bigint NOT NULL REFERENCES branchpromote.timeline ON DELETE CASCADE,
    port          integer NOT NULL UNIQUE CHECK (port BETWEEN 1024 AND 65535),
    desired_state text NOT NULL DEFAULT 'running'
                  CHECK (desired_state IN ('running', 'stopped')),
    actual_state  text NOT NULL DEFAULT 'starting'
                  CHECK (actual_state IN ('starting', 'running', 'suspended', 'stopped', 'failed')),
    pid           integer,
    last_active   timestamptz,
    last_error    text,
    UNIQUE (project_id, env)
);

CREATE TABLE branchpromote.deploy (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    bigint NOT NULL REFERENCES branchpromote.project ON DELETE CASCADE,
    release       text,
    action        text NOT NULL CHECK (action IN ('first_deploy', 'redeploy')),
    from_timeline bigint REFERENCES branchpromote.timeline ON DELETE SET NULL,
    to_timeline   bigint REFERENCES branchpromote.timeline ON DELETE SET NULL,
    fork_lsn      pg_lsn,
    clone_method  text,
    status        text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    elapsed_ms    double precision,
    error         text,
    anchor_lsn    pg_lsn,
    migrations_applied jsonb NOT NULL DEFAULT '[]',
    rehearsal     jsonb
);

-- The catalog's copy of each timeline's ledger (the ledger itself lives in
-- the timeline's own database); refreshed by every operation that reads or
-- changes a ledger.
CREATE TABLE branchpromote.ledger_mirror (
    timeline_id bigint NOT NULL REFERENCES branchpromote.timeline ON DELETE CASCADE,
    version     text NOT NULL,
    name        text,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL,
    PRIMARY KEY (timeline_id, version)
);

-- Compute transactions prepared by a call (two-phase commit): a committed
-- row here is what tells the reconciler to COMMIT PREPARED one that a dead
-- backend left behind; without it the transaction is rolled back.
CREATE TABLE branchpromote.prepared (
    gid        text PRIMARY KEY,
    compute_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- One row per mutating call, with the steps it took, in order.
CREATE TABLE branchpromote.operation (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project     text NOT NULL,
    kind        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    steps       jsonb NOT NULL DEFAULT '[]',
    actor       name NOT NULL DEFAULT current_user,
    started_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at timestamptz
);

REVOKE ALL ON ALL TABLES IN SCHEMA branchpromote FROM PUBLIC;
REVOKE ALL ON SEQUENCE branchpromote.timeline_id_seq FROM PUBLIC;

-- ----------------------------------------------------------------- views
-- Views run with the extension owner's rights on the tables; each shows a
-- role the projects it may see: admins and viewers all, deployers their own.

CREATE FUNCTION branchpromote._can_see(owner oid) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN pg_catalog.pg_has_role('branchpromote_viewer', 'USAGE')
        OR pg_catalog.pg_has_role('branchpromote_admin', 'USAGE')
        OR pg_catalog.pg_has_role(owner, 'USAGE');

CREATE VIEW branchpromote.projects WITH (security_barrier) AS
SELECT p.name AS project, pg_catalog.pg_get_userbyid(p.owner) AS owner,
       (SELECT pg_catalog.array_agg(e.name ORDER BY e.name)
          FROM branchpromote.environment e WHERE e.project_id = p.id) AS environments,
       p.created_at
  FROM branchpromote.project p
 WHERE branchpromote._can_see(p.owner);

CREATE VIEW branchpromote.timelines WITH (security_barrier) AS
SELECT p.name AS project, t.id AS timeline, t.kind, t.parent_id AS parent,
       t.fork_lsn, t.durable, t.expires_at, t.clone_method, t.created_at
  FROM branchpromote.timeline t JOIN branchpromote.project p ON p.id = t.project_id
 WHERE branchpromote._can_see(p.owner);

CREATE VIEW branchpromote.environments WITH (security_barrier) AS
SELECT p.name AS project, e.name AS env, e.timeline_id AS timeline, e.release
  FROM branchpromote.environment e JOIN branchpromote.project p ON p.id = e.project_id
 WHERE branchpromote._can_see(p.owner);

CREATE VIEW branchpromote.computes WITH (security_barrier) AS
SELECT p.name AS project, c.env, c.timeline_id AS timeline, c.port,
       c.desired_state, c.actual_state, c.pid, c.last_active, c.last_error
  FROM branchpromote.compute c JOIN branchpromote.project p ON p.id = c.project_id
 WHERE branchpromote._can_see(p.owner);

CREATE VIEW branchpromote.deploys WITH (security_barrier) AS
SELECT p.name AS project, d.id AS deploy_id, d.release, d.action, d.status,
       d.from_timeline, d.to_timeline, d.fork_lsn, d.clone_method,
       d.anchor_lsn, d.migrations_applied, d.rehearsal,
       d.started_at, d.finished_at, d.elapsed_ms, d.error
  FROM branchpromote.deploy d JOIN branchpromote.project p ON p.id = d.project_id
 WHERE branchpromote._can_see(p.owner);

CREATE VIEW branchpromote.anchors WITH (security_barrier) AS
SELECT p.name AS project, a.timeline_id AS timeline, a.name, a.kind, a.lsn, a.created_at
  FROM branchpromote.anchor a
  JOIN branchpromote.timeline t ON t.id = a.timeline_id
  JOIN branchpromote.project p ON p.id = t.project_id
 WHERE branchpromote._can_see(p.owner);

CREATE VIEW branchpromote.ledger WITH (security_barrier) AS
SELECT p.name AS project, e.name AS env, l.timeline_id AS timeline, l.version,
       l.name, l.checksum, l.applied_at
  FROM branchpromote.ledger_mirror l
  JOIN branchpromote.timeline t ON t.id = l.timeline_id
  JOIN branchpromote.project p ON p.id = t.project_id
  LEFT JOIN branchpromote.environment e ON e.timeline_id = l.timeline_id
 WHERE branchpromote._can_see(p.owner);

-- Operations outlive their project (a drop is journaled too): a row is
-- visible to its actor and to whoever may see the project it names.
CREATE VIEW branchpromote.operations WITH (security_barrier) AS
SELECT o.id AS operation, o.project, o.kind, o.status, o.steps, o.actor,
       o.started_at, o.finished_at
  FROM branchpromote.operation o
 WHERE o.actor = current_user
    OR branchpromote._can_see(COALESCE(
           (SELECT p.owner FROM branchpromote.project p WHERE p.name = o.project), 0));

REVOKE ALL ON ALL TABLES IN SCHEMA branchpromote FROM PUBLIC;
GRANT USAGE ON SCHEMA branchpromote TO branchpromote_viewer, branchpromote_deployer;
GRANT SELECT ON branchpromote.projects, branchpromote.timelines,
    branchpromote.environments, branchpromote.computes, branchpromote.deploys,
    branchpromote.anchors, branchpromote.operations, branchpromote.ledger
  TO branchpromote_viewer, branchpromote_deployer;

-- ------------------------------------------------------------------- API
-- C functions are SECURITY INVOKER: they check the caller's rights, then
-- touch the catalog as the extension owner (src/catalog.c).

CREATE FUNCTION branchpromote.create_project(project text) RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_create_project';

CREATE FUNCTION branchpromote.plan_promotion(project text, release text DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE c STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_plan_promotion';

CREATE FUNCTION branchpromote.promote_branch(project text, release text DEFAULT NULL,
                                             rehearse boolean DEFAULT true)
    RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_promote_branch';

CREATE FUNCTION branchpromote.apply_migrations(project text, env text, migrations jsonb)
    RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_apply_migrations';

CREATE FUNCTION branchpromote.connection_uri(project text, env text DEFAULT 'dev',
                                             direct boolean DEFAULT false)
    RETURNS text
    LANGUAGE c STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_connection_uri';

CREATE FUNCTION branchpromote.drop_project(project text, confirm text) RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_drop_project';

CREATE FUNCTION branchpromote.suspend_compute(project text, env text) RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_suspend_compute';

CREATE FUNCTION branchpromote.wake_compute(project text, env text) RETURNS jsonb
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'branchpromote_wake_compute';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA branchpromote FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote._can_see(oid)
  TO branchpromote_viewer, branchpromote_deployer;
GRANT EXECUTE ON FUNCTION
    branchpromote.create_project(text),
    branchpromote.apply_migrations(text, text, jsonb),
    branchpromote.plan_promotion(text, text),
    branchpromote.promote_branch(text, text, boolean),
    branchpromote.connection_uri(text, text, boolean),
    branchpromote.drop_project(text, text),
    branchpromote.suspend_compute(text, text),
    branchpromote.wake_compute(text, text)
  TO branchpromote_deployer;
