using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Attach requests of the same initiator again: the same attachment while it is live, a new one
/// (new credentials) after a failure, the failed one kept as history with its reason.
/// </summary>
public sealed class AttachRequestTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private const string Initiator = "iqn.2026-01.com.example:client1";

    private async Task<BlockVolume> AvailableVolumeAsync()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", 100);
        await db.ExecuteAsync("UPDATE bs.services SET capabilities = '{\"iscsi\": true}' WHERE host = 'host-a'");
        var v = await db.Volumes.CreateAsync("att", 1, null, null);
        await db.PlaceAllAsync();
        await db.RunAgentAsync("host-a");
        Assert.Equal(VolumeStatus.Available, await db.StatusAsync(v.Id));
        return v;
    }

    [Fact]
    public async Task A_completed_attach_wakes_the_waiter_of_that_attachment()
    {
        var v = await AvailableVolumeAsync();
        var requests = new AttachmentRequests(db.Store);
        var (att, _) = await requests.RequestAttachAsync(v.Id, Initiator);
        await using var listener = await requests.ListenAsync();
        var op = (await db.Agent("host-a").ClaimAsync("a", TimeSpan.FromSeconds(30), 8)).Single(o => o.AttachmentId == att.Id);
        Assert.False(await listener.WaitAsync([att.Id], TimeSpan.FromMilliseconds(300), default));

        var done = await new AgentAttachments(db.Store, "host-a").CompleteAsync("a", op.Id, OperationKind.Attach, v.Id, att.Id,
            new AttachmentOutcome(null, $"iqn.2010-10.org.openstack:volume-{v.Id}", "127.0.0.1:3260", 0));
        Assert.True(done);
        Assert.True(await listener.WaitAsync([att.Id], TimeSpan.FromSeconds(10), default));
    }

    [Fact]
    public async Task The_same_initiator_again_gets_the_same_attachment_while_it_is_live()
    {
        var v = await AvailableVolumeAsync();
        var requests = new AttachmentRequests(db.Store);
        var (first, existed) = await requests.RequestAttachAsync(v.Id, Initiator);
        Assert.False(existed);
        var (again, existedAgain) = await requests.RequestAttachAsync(v.Id, Initiator.ToUpperInvariant());
        Assert.True(existedAgain);
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT count(*) FROM bs.operations WHERE kind = 'attach'"));
    }

    [Fact]
    public async Task After_a_failure_it_is_a_new_attachment_and_the_failed_one_stays_as_history()
    {
        var v = await AvailableVolumeAsync();
        var requests = new AttachmentRequests(db.Store);
        var (failed, _) = await requests.RequestAttachAsync(v.Id, Initiator);
        // What the agent writes for a failed attach (rolled back): attachment error, volume available.
        await db.ExecuteAsync($"UPDATE bs.attachments SET status = 'error', status_reason = 'targetcli cannot be started' WHERE id = '{failed.Id}'; " +
            $"UPDATE bs.operations SET stage = 'failed' WHERE attachment_id = '{failed.Id}'; UPDATE bs.volumes SET status = 'available' WHERE id = '{v.Id}'");

        var (next, existed) = await requests.RequestAttachAsync(v.Id, Initiator);
        Assert.False(existed);
        Assert.NotEqual(failed.Id, next.Id);
        Assert.Equal(AttachmentStatus.Attaching, next.Status);
        Assert.NotEqual(failed.AuthUsername, next.AuthUsername);
        Assert.Equal(VolumeStatus.Attaching, await db.StatusAsync(v.Id));

        var old = (await requests.ListAsync(new AttachmentFilter(Ids: [failed.Id]))).Single();
        Assert.Equal(AttachmentStatus.Detached, old.Status);
        Assert.Equal($"superseded by attachment {next.Id}; it had failed: targetcli cannot be started", old.StatusReason);
        Assert.Equal([next.Id], (await requests.ListAsync(new AttachmentFilter(VolumeIds: [v.Id]))).Select(a => a.Id));
        Assert.Equal(1, await db.ScalarAsync<int>($"SELECT count(*) FROM bs.events WHERE kind = 'superseded' AND volume_id = '{v.Id}'"));
    }
}
