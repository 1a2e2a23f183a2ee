-- Poison operations (issue 17): an attempt that failed for a reason that may pass (the lvm binary
-- missing, an unreadable report, an I/O error) is given back to the queue with the time of its next
-- attempt; the agent's claim skips it until then. attempts counts the claims (a worker that died
-- mid-attempt counted once); the last allowed attempt ends the volume or attachment in error.
ALTER TABLE bs.operations ADD COLUMN next_attempt_at timestamptz;
GRANT UPDATE (next_attempt_at) ON bs.operations TO bs_agent;
