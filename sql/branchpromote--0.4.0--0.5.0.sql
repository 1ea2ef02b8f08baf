-- branchpromote 0.5.0: an idle app lives at zero.
-- A fresh CREATE EXTENSION runs 0.1.0 and every upgrade script up to this one.
\echo Use "ALTER EXTENSION branchpromote UPDATE" to load this file. \quit

-- Every new timeline gets a base snapshot before the call that made it
-- returns, so its whole history is reachable from the first moment.
ALTER TABLE branchpromote.snapshot DROP CONSTRAINT snapshot_reason_check;
ALTER TABLE branchpromote.snapshot ADD CONSTRAINT snapshot_reason_check
    CHECK (reason IN ('anchor', 'periodic', 'base'));
