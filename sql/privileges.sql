-- Deployers manage their own projects; viewers read; PUBLIC gets nothing.
CREATE ROLE bp_alice;
CREATE ROLE bp_bob;
CREATE ROLE bp_vera;
GRANT branchpromote_deployer TO bp_alice, bp_bob;
GRANT branchpromote_viewer TO bp_vera;

SET ROLE bp_alice;
SELECT (branchpromote.create_project('alices'))->>'project' AS created;
SELECT project, owner FROM branchpromote.projects;
SELECT branchpromote.connection_uri('alices') LIKE 'postgresql://alices:%' AS alice_can_connect;
SELECT bp_try($$SELECT * FROM branchpromote.project$$);
RESET ROLE;

-- another deployer neither sees nor touches it
SET ROLE bp_bob;
SELECT count(*) AS visible FROM branchpromote.projects;
SELECT bp_try($$SELECT branchpromote.promote_branch('alices')$$);
SELECT bp_try($$SELECT branchpromote.connection_uri('alices')$$);
SELECT bp_try($$SELECT branchpromote.drop_project('alices', 'alices')$$);
SELECT bp_try($$SELECT branchpromote.plan_promotion('alices')$$);
SELECT bp_try($$SELECT branchpromote.protect('alices', 'dev')$$);
SELECT bp_try($$SELECT branchpromote.unprotect('alices', 'dev')$$);
SELECT bp_try($$SELECT branchpromote.restore_branch('alices', 'pr')$$);
SELECT bp_try($$SELECT branchpromote.undrop_project('alices')$$);
SELECT bp_try($$SELECT branchpromote.purge_project('alices')$$);
SELECT bp_try($$SELECT branchpromote.set_mask_rule('alices', 'items', 'id', 'null')$$);
SELECT bp_try($$SELECT branchpromote.set_preview_masking('alices', true)$$);
RESET ROLE;
-- nor learns its size by calling the view's helper directly
SELECT t.id AS alices_tl FROM branchpromote.timeline t
  JOIN branchpromote.project p ON p.id = t.project_id WHERE p.name = 'alices' \gset
SET ROLE bp_bob;
SELECT size_bytes IS NULL AND shared_bytes IS NULL AS size_hidden
  FROM branchpromote._timeline_usage(:alices_tl);
RESET ROLE;
SET ROLE bp_alice;
SELECT size_bytes > 0 AS owner_sees_size FROM branchpromote._timeline_usage(:alices_tl);
RESET ROLE;

-- a viewer sees every project but may call nothing
SET ROLE bp_vera;
SELECT project, env FROM branchpromote.environments;
SELECT bp_try($$SELECT branchpromote.create_project('veras')$$);
SELECT bp_try($$SELECT branchpromote.connection_uri('alices')$$);
RESET ROLE;

-- granting the owner role grants the project
GRANT bp_alice TO bp_bob;
SET ROLE bp_bob;
SELECT count(*) AS visible FROM branchpromote.projects;
SELECT (branchpromote.plan_promotion('alices'))->>'action' AS action;
RESET ROLE;

-- admins act on every project
CREATE ROLE bp_admin;
GRANT branchpromote_admin TO bp_admin;
SET ROLE bp_admin;
-- and may tune the compute template, but never make a compute run a
-- program or read a file as the server's OS user
SELECT s AS setting, bp_try(pg_catalog.format(
         $$UPDATE branchpromote.compute_template SET settings = settings || jsonb_build_object(%L, %L)$$, s, v))
  FROM (VALUES ('archive_command', 'touch /tmp/pwned'), ('restore_command', 'touch /tmp/pwned'),
               ('archive_library', 'pwn'), ('shared_preload_libraries', 'pwn'),
               ('ssl_passphrase_command', 'touch /tmp/pwned'), ('hba_file', '/tmp/hba'),
               ('data_directory', '/tmp'), ('log_directory', '/tmp'),
               ('basic_archive.archive_directory', '/tmp'), ('port', '1')) AS t(s, v);
SELECT bp_try($$UPDATE branchpromote.compute_template SET settings = settings || '{"work_mem": {"a": 1}}'$$);
SELECT settings FROM branchpromote.compute_template;
BEGIN;
UPDATE branchpromote.compute_template
   SET settings = settings || '{"work_mem": "8MB", "jit": false, "auto_explain.log_min_duration": 250}';
SELECT settings FROM branchpromote.compute_template;
ROLLBACK;
RESET ROLE;
-- a setting that got past the CHECK (here: the CHECK dropped by a
-- superuser) is refused again where the template is read
BEGIN;
ALTER TABLE branchpromote.compute_template DROP CONSTRAINT compute_template_settings_allowed;
UPDATE branchpromote.compute_template SET settings = settings || '{"archive_command": "touch /tmp/pwned"}';
SELECT bp_try($$SELECT branchpromote.compute_manifests('alices', 'dev')$$);
ROLLBACK;
SET ROLE bp_admin;
SELECT (branchpromote.drop_project('alices', 'alices'))->>'dropped' AS dropped;
SELECT actor, kind FROM branchpromote.operations WHERE project = 'alices' ORDER BY operation;
RESET ROLE;

DROP ROLE bp_admin, bp_alice, bp_bob, bp_vera;
