-- branchpromote 0.4.0: tenant isolation.
-- A fresh CREATE EXTENSION runs 0.1.0 and every upgrade script up to this one.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

-- Settings an admin writes into the compute template must be on the
-- allowlist (src/manifest.c): whoever may edit the template must not be
-- able to make a compute run a program (archive_command and the like).
-- The reconciler checks them again where it reads them.
CREATE FUNCTION branchpromote._check_compute_settings(settings jsonb) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT
    AS 'MODULE_PATHNAME', 'branchpromote_check_compute_settings';
REVOKE ALL ON FUNCTION branchpromote._check_compute_settings(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote._check_compute_settings(jsonb) TO branchpromote_admin;
ALTER TABLE branchpromote.compute_template
    ADD CONSTRAINT compute_template_settings_allowed
    CHECK (branchpromote._check_compute_settings(settings));
