-- branchpromote 0.3.0: the scale-to-zero proxy (branchpromote.proxy_port).
-- A fresh CREATE EXTENSION runs 0.1.0, 0.1.0--0.2.0 and then this script.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

-- The proxy's counters per environment, from shared memory (reset when the
-- control server restarts).  project and env are NULL for connections that
-- were never routed (bad packets, unknown names, cancels of unknown keys).
CREATE FUNCTION branchpromote._proxy_stats(
    OUT project text, OUT env text,
    OUT connections_open bigint, OUT connections_total bigint,
    OUT bytes_in bigint, OUT bytes_out bigint,
    OUT wakes bigint, OUT wake_ms_avg double precision, OUT wake_ms_max double precision,
    OUT errors bigint, OUT last_active timestamptz)
    RETURNS SETOF record
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'branchpromote_proxy_stats';
REVOKE ALL ON FUNCTION branchpromote._proxy_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION branchpromote._proxy_stats()
  TO branchpromote_viewer, branchpromote_deployer;

-- Each role sees its own projects' rows; the unrouted row and rows of
-- dropped projects only admins and viewers see.
CREATE VIEW branchpromote.proxy_stats WITH (security_barrier) AS
SELECT s.project, s.env, s.connections_open, s.connections_total,
       s.bytes_in, s.bytes_out, s.wakes, s.wake_ms_avg, s.wake_ms_max,
       s.errors, s.last_active
  FROM branchpromote._proxy_stats() s
  LEFT JOIN branchpromote.project p ON p.name = s.project
 WHERE branchpromote._can_see(p.owner);
GRANT SELECT ON branchpromote.proxy_stats TO branchpromote_viewer, branchpromote_deployer;
