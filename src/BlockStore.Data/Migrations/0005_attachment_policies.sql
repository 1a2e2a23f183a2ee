-- BlockStore schema, version 5: least privilege for iSCSI attachments (0002) under the roles of 0003.
-- The CHAP secret (bs.attachment_secrets) is readable only by the operator and by the agent of the
-- volume's host; the reader sees attachments without secrets; other hosts see nothing of either.

GRANT SELECT, INSERT, UPDATE, DELETE ON bs.attachments, bs.attachment_secrets TO bs_operator;
GRANT SELECT ON bs.attachments TO bs_reader;
GRANT SELECT ON bs.attachments, bs.attachment_secrets TO bs_agent;
GRANT UPDATE (status, status_reason, updated_at, target_iqn, target_portal, target_lun, detached_at) ON bs.attachments TO bs_agent;

ALTER TABLE bs.attachments        ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE bs.attachment_secrets ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

CREATE POLICY migration ON bs.attachments        TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY migration ON bs.attachment_secrets TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY operator  ON bs.attachments        TO bs_operator USING (true) WITH CHECK (true);
CREATE POLICY operator  ON bs.attachment_secrets TO bs_operator USING (true) WITH CHECK (true);
CREATE POLICY reader    ON bs.attachments FOR SELECT TO bs_reader USING (true);

CREATE POLICY agent_own ON bs.attachments FOR SELECT TO bs_agent USING (host = (SELECT bs.current_host()));
CREATE POLICY agent_status ON bs.attachments FOR UPDATE TO bs_agent
    USING (host = (SELECT bs.current_host())) WITH CHECK (host = (SELECT bs.current_host()));
-- The secret of an attachment of its own host only.
CREATE POLICY agent_own ON bs.attachment_secrets FOR SELECT TO bs_agent
    USING (EXISTS (SELECT 1 FROM bs.attachments a WHERE a.id = attachment_id AND a.host = (SELECT bs.current_host())));
