namespace BlockStore.Data.Tests;

/// <summary>
/// CHAP secrets of iSCSI attachments: readable by the operator and by the agent of the volume's
/// host only; the reader sees attachments without secrets; another host sees neither.
/// </summary>
public sealed class AttachmentSecretTests(SecuredDatabase db) : IClassFixture<SecuredDatabase>, IAsyncLifetime
{
    private Guid _a1, _a2;

    public async Task InitializeAsync()
    {
        _a1 = await SeedAttachmentAsync(db.Node1, "secret-of-node1");
        _a2 = await SeedAttachmentAsync(db.Node2, "secret-of-node2");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task<Guid> SeedAttachmentAsync(string host, string secret)
    {
        var (volume, _) = await db.SeedVolumeAsync(host);
        var id = Guid.NewGuid();
        await SecuredDatabase.ExecAsync(db.OwnerCs,
            "INSERT INTO bs.attachments (id, volume_id, host, initiator_iqn, status, auth_username) VALUES (@id, @v, @h, 'iqn.2026-01.test:i', 'attaching', 'u'); " +
            "INSERT INTO bs.attachment_secrets (attachment_id, auth_secret) VALUES (@id, @s)",
            ("id", id), ("v", volume), ("h", host), ("s", secret));
        return id;
    }

    [Fact]
    public async Task An_agent_reads_only_its_own_hosts_secrets()
    {
        Assert.Equal(["secret-of-node1"], await SecuredDatabase.ColumnAsync(db.Node1Cs, "SELECT DISTINCT auth_secret FROM bs.attachment_secrets"));
        Assert.Empty(await SecuredDatabase.ColumnAsync(db.Node1Cs, $"SELECT auth_secret FROM bs.attachment_secrets WHERE attachment_id = '{_a2}'"));
        Assert.Empty(await SecuredDatabase.ColumnAsync(db.Node1Cs, $"SELECT id FROM bs.attachments WHERE id = '{_a2}'"));
        Assert.Equal(["secret-of-node2"], await SecuredDatabase.ColumnAsync(db.Node2Cs, "SELECT DISTINCT auth_secret FROM bs.attachment_secrets"));
    }

    [Fact]
    public async Task An_agent_cannot_change_another_hosts_attachment_or_any_secret()
    {
        Assert.Equal(0, await SecuredDatabase.ExecAsync(db.Node1Cs, $"UPDATE bs.attachments SET status = 'attached' WHERE id = '{_a2}'"));
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"UPDATE bs.attachments SET host = '{db.Node1}' WHERE id = '{_a1}'");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"UPDATE bs.attachment_secrets SET auth_secret = 'x' WHERE attachment_id = '{_a1}'");
        await SecuredDatabase.DeniedAsync(db.Node1Cs, $"INSERT INTO bs.attachments (id, volume_id, host, initiator_iqn, status, auth_username) " +
            $"SELECT gen_random_uuid(), volume_id, host, 'iqn.2026-01.x:y', 'attaching', 'u' FROM bs.attachments WHERE id = '{_a1}'");
        Assert.Equal(1, await SecuredDatabase.ExecAsync(db.Node1Cs, $"UPDATE bs.attachments SET status = 'attached', target_lun = 0 WHERE id = '{_a1}'"));
    }

    [Fact]
    public async Task The_reader_sees_attachments_but_no_secret_and_the_operator_sees_both()
    {
        Assert.Equal(2, (await SecuredDatabase.ColumnAsync(db.ReaderCs, $"SELECT id FROM bs.attachments WHERE id IN ('{_a1}', '{_a2}')")).Count);
        await SecuredDatabase.DeniedAsync(db.ReaderCs, "SELECT auth_secret FROM bs.attachment_secrets");
        await SecuredDatabase.DeniedAsync(db.SchedulerCs, "SELECT auth_secret FROM bs.attachment_secrets");
        Assert.Equal(2, (await SecuredDatabase.ColumnAsync(db.OperatorCs, $"SELECT auth_secret FROM bs.attachment_secrets WHERE attachment_id IN ('{_a1}', '{_a2}')")).Count);
    }
}
