-- The extension, its roles and its settings.
CREATE EXTENSION branchpromote;
SELECT extname, extrelocatable, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'branchpromote';
SELECT rolname FROM pg_roles WHERE rolname LIKE 'branchpromote\_%' ORDER BY 1;

-- Errors are shown as SQLSTATE, message and hint; the helper commits nothing
-- of a failed call (it runs in a subtransaction).
CREATE FUNCTION public.bp_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; h text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
    RETURN s || ': ' || m || CASE WHEN h <> '' THEN E'\nHINT:  ' || h ELSE '' END;
END
$$;

-- Settings exist, the prefix is reserved, postmaster-only ones refuse SET.
SELECT name, setting, context FROM pg_settings
 WHERE name LIKE 'branchpromote.%' AND name NOT IN ('branchpromote.data_root', 'branchpromote.compute_port_base', 'branchpromote.reconcile_interval')
 ORDER BY name;
SELECT bp_try($$SET branchpromote.no_such_setting = 1$$);
SELECT bp_try($$SET branchpromote.data_root = '/tmp'$$);

-- Nothing for PUBLIC.
CREATE ROLE bp_nobody;
SET ROLE bp_nobody;
SELECT bp_try($$SELECT branchpromote.create_project('x')$$);
SELECT bp_try($$SELECT * FROM branchpromote.projects$$);
RESET ROLE;
DROP ROLE bp_nobody;

-- The reconciler reports itself; without branchpromote.proxy_port the proxy
-- has nothing to count.
SELECT running, requests_in_flight >= 0 AS slots_ok FROM branchpromote.reconciler;
SELECT count(*) AS proxy_rows FROM branchpromote.proxy_stats;
SELECT bp_try($$SET branchpromote.proxy_port = 6543$$);
