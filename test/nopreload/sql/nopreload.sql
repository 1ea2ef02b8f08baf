-- Without branchpromote in shared_preload_libraries, CREATE EXTENSION
-- refuses with a hint and leaves nothing behind.
CREATE EXTENSION branchpromote;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'branchpromote';
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'branchpromote';
