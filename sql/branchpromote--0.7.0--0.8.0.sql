-- branchpromote 0.8.0: the driver seam.  How a timeline was made is the
-- storage driver's word (the local driver's "reflink" or "copy"; another
-- driver names its own, such as "branch"), no longer a fixed pair.
-- A fresh CREATE EXTENSION runs 0.1.0 and every upgrade script up to this one.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

ALTER TABLE branchpromote.timeline DROP CONSTRAINT timeline_clone_method_check;
ALTER TABLE branchpromote.timeline ADD CONSTRAINT timeline_clone_method_check
    CHECK (clone_method ~ '^[a-z][a-z0-9_]{0,31}$');
