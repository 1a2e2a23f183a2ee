using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// Requests as the cmdlets make them: what is written (and what is not), deletion at every stage
/// of a volume's life, and the state-machine guard on every status change.
/// </summary>
public sealed class VolumeRequestTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private async Task FreshAsync(decimal hostGiB = 100)
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        await db.AddHostAsync("host-a", hostGiB);
    }

    private Task<string> CountsAsync() =>
        db.ScalarAsync<string>("SELECT (SELECT count(*) FROM bs.volumes) || ',' || (SELECT count(*) FROM bs.operations) || ',' || (SELECT count(*) FROM bs.events)");

    [Fact]
    public async Task A_request_writes_volume_operation_and_event_together()
    {
        await FreshAsync();
        var v = await db.Volumes.CreateAsync("one", 5, null, "a description");
        Assert.Equal(VolumeStatus.Creating, v.Status);
        Assert.Equal(5, v.SizeGiB);
        Assert.Null(v.Host);
        Assert.Equal(1, await db.ScalarAsync<int>("SELECT count(*) FROM bs.volumes"));
        Assert.Equal("requested", await db.ScalarAsync<string>($"SELECT string_agg(kind, ',') FROM bs.events WHERE volume_id = '{v.Id}'"));
        Assert.Equal("create:pending", await db.ScalarAsync<string>("SELECT kind || ':' || stage FROM bs.operations"));
    }

    [Theory]
    [InlineData("ok-name", 0, ErrorIds.InvalidVolumeSize)]
    [InlineData("ok-name", 16385, ErrorIds.InvalidVolumeSize)]
    [InlineData("bad name", 1, ErrorIds.InvalidVolumeName)]
    [InlineData("", 1, ErrorIds.InvalidVolumeName)]
    public async Task Invalid_input_is_refused_by_the_data_layer_too_and_nothing_is_written(string name, int size, string errorId)
    {
        await FreshAsync();
        var before = await CountsAsync();
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateAsync(name, size, null, null));
        Assert.Equal(errorId, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal(before, await CountsAsync());
    }

    [Fact]
    public async Task A_live_name_is_in_use_and_a_deleted_name_is_free_again()
    {
        await FreshAsync();
        var first = await db.Volumes.CreateAsync("same", 1, null, null);
        var before = await CountsAsync();
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateAsync("same", 2, null, null));
        Assert.Equal(ErrorIds.VolumeNameInUse, e.ErrorId);
        Assert.Equal(ErrorKind.ResourceExists, e.Kind);
        Assert.Equal(before, await CountsAsync());

        await db.Volumes.RequestDeleteAsync(first.Id);
        var again = await db.Volumes.CreateAsync("same", 2, null, null);
        Assert.NotEqual(first.Id, again.Id);
    }

    [Fact]
    public async Task Without_a_live_scheduler_a_request_is_refused_and_nothing_is_written()
    {
        await FreshAsync();
        await db.ExecuteAsync("UPDATE bs.services SET heartbeat_at = now() - interval '1 hour' WHERE service = 'scheduler'");
        var before = await CountsAsync();
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.CreateAsync("x", 1, null, null));
        Assert.Equal(ErrorIds.SchedulerUnavailable, e.ErrorId);
        Assert.Equal(before, await CountsAsync());
    }

    [Fact]
    public async Task Delete_before_placement_cancels_the_create_and_nothing_reaches_a_host()
    {
        await FreshAsync();
        var v = await db.Volumes.CreateAsync("early", 1, null, null);
        var deleted = await db.Volumes.RequestDeleteAsync(v.Id);
        Assert.Equal(VolumeStatus.Deleted, deleted.Status);
        Assert.Equal("create:cancelled", await db.ScalarAsync<string>("SELECT string_agg(kind || ':' || stage, ',') FROM bs.operations"));

        Assert.Empty(await db.PlaceAllAsync());
        Assert.Equal(0, await db.RunAgentAsync("host-a"));
        Assert.Null((await db.Volumes.GetAsync(v.Id))!.Host);
    }

    [Fact]
    public async Task Delete_while_creating_on_a_host_waits_for_the_create_then_removes()
    {
        await FreshAsync();
        var v = await db.Volumes.CreateAsync("racing", 1, null, null);
        await db.PlaceAllAsync();
        var deleting = await db.Volumes.RequestDeleteAsync(v.Id);
        Assert.Equal(VolumeStatus.Deleting, deleting.Status);

        // The agent gets the create first; the delete is not claimable until the create is done.
        var queue = db.Agent("host-a");
        var claimed = await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8);
        var create = Assert.Single(claimed);
        Assert.Equal(OperationKind.Create, create.Kind);
        Assert.Empty(await queue.ClaimAsync("b", TimeSpan.FromSeconds(30), 8));

        Assert.True(await queue.CompleteAsync("a", create, null));
        Assert.Equal(VolumeStatus.Deleting, await db.StatusAsync(v.Id)); // not back to available

        var delete = Assert.Single(await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8));
        Assert.Equal(OperationKind.Delete, delete.Kind);
        Assert.True(await queue.CompleteAsync("a", delete, null));
        Assert.Equal(VolumeStatus.Deleted, await db.StatusAsync(v.Id));
    }

    [Fact]
    public async Task A_delete_racing_a_scheduler_never_deadlocks_and_never_loses_the_LV()
    {
        // Many volumes deleted while two schedulers place them: each ends deleted, and each one that
        // reached a host got a delete operation for that host (so its LV is removed).
        await FreshAsync(hostGiB: 10_000);
        var volumes = await db.CreateAsync("race", 40, 1);
        const string deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()";
        var deadlocksBefore = await db.ScalarAsync<long>(deadlocks);
        var schedulers = Task.Run(async () =>
        {
            await Task.WhenAll(db.PlaceAllAsync("sched1", 2), db.PlaceAllAsync("sched1", 2));
        });
        var deletes = Task.Run(async () =>
        {
            foreach (var v in volumes)
            {
                await db.Volumes.RequestDeleteAsync(v.Id);
            }
        });
        await Task.WhenAll(schedulers, deletes);
        await db.RunAgentAsync("host-a");

        // The store retries a deadlocked transaction, which would hide one: ask the server.
        await Task.Delay(1500); // backends report their statistics at most once a second
        Assert.Equal(deadlocksBefore, await db.ScalarAsync<long>(deadlocks));

        foreach (var v in volumes)
        {
            var after = (await db.Volumes.GetAsync(v.Id))!;
            Assert.Equal(VolumeStatus.Deleted, after.Status);
            var ops = await db.ScalarAsync<string>($"SELECT string_agg(kind || ':' || stage, ',' ORDER BY id) FROM bs.operations WHERE volume_id = '{v.Id}'");
            Assert.True(after.Host is null ? ops == "create:cancelled" : ops == "create:succeeded,delete:succeeded", $"{v.Name} on {after.Host}: {ops}");
        }
    }

    [Fact]
    public async Task Delete_is_idempotent_and_refused_for_nothing_that_exists()
    {
        await FreshAsync();
        var v = await db.Volumes.CreateAsync("twice", 1, null, null);
        await db.PlaceAllAsync();
        await db.RunAgentAsync("host-a");
        Assert.Equal(VolumeStatus.Deleting, (await db.Volumes.RequestDeleteAsync(v.Id)).Status);
        Assert.Equal(VolumeStatus.Deleting, (await db.Volumes.RequestDeleteAsync(v.Id)).Status);
        Assert.Equal(1, await db.ScalarAsync<int>($"SELECT count(*) FROM bs.operations WHERE kind = 'delete' AND volume_id = '{v.Id}'"));

        var e = await Assert.ThrowsAsync<BlockStoreException>(() => db.Volumes.RequestDeleteAsync(Guid.NewGuid()));
        Assert.Equal(ErrorIds.VolumeNotFound, e.ErrorId);
    }

    [Fact]
    public async Task A_failed_delete_ends_error_deleting_and_can_be_asked_again()
    {
        await FreshAsync();
        var v = await db.Volumes.CreateAsync("stuck", 1, null, null);
        await db.PlaceAllAsync();
        await db.RunAgentAsync("host-a");
        await db.Volumes.RequestDeleteAsync(v.Id);
        var queue = db.Agent("host-a");
        var op = Assert.Single(await queue.ClaimAsync("a", TimeSpan.FromSeconds(30), 8));
        Assert.True(await queue.CompleteAsync("a", op, "lvremove failed: in use"));
        Assert.Equal(VolumeStatus.ErrorDeleting, await db.StatusAsync(v.Id));

        Assert.Equal(VolumeStatus.Deleting, (await db.Volumes.RequestDeleteAsync(v.Id)).Status);
        await db.RunAgentAsync("host-a");
        Assert.Equal(VolumeStatus.Deleted, await db.StatusAsync(v.Id));
    }

    [Theory]
    [InlineData(VolumeStatus.Deleted, VolumeStatus.Available)]
    [InlineData(VolumeStatus.Deleted, VolumeStatus.Deleting)]
    [InlineData(VolumeStatus.Available, VolumeStatus.Creating)]
    [InlineData(VolumeStatus.Available, VolumeStatus.Deleted)]
    [InlineData(VolumeStatus.Deleting, VolumeStatus.Available)]
    public async Task The_state_machine_guards_every_status_change(string from, string to)
    {
        await FreshAsync();
        var v = await db.Volumes.CreateAsync("guarded", 1, null, null);
        await db.ExecuteAsync($"UPDATE bs.volumes SET status = '{from}' WHERE id = '{v.Id}'");

        await using var conn = new NpgsqlConnection(db.ConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => VolumeTransitions.SetStatusAsync(conn, tx, v.Id, from, to, null, default));
        await tx.RollbackAsync();
        Assert.Equal(from, await db.StatusAsync(v.Id));
    }
}
