using System.Net;
using System.Net.Sockets;
using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data.Tests;

/// <summary>
/// A connection string that lists several servers with Target Session Attributes=primary (as for a
/// Patroni cluster): the store finds the one that is primary, names every server without secrets,
/// and says StoreUnavailable when none is reachable. The failover itself is exercised by
/// `build.ps1 Chaos -Ha` against a real Patroni cluster.
/// </summary>
public sealed class MultiHostConnectionTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private static int DeadPort()
    {
        // A port nobody listens on: bound, read, released.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private string MultiHost(string hosts) =>
        new NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = hosts, TargetSessionAttributes = "primary" }.ConnectionString;

    [Fact]
    public async Task Finds_the_primary_behind_a_server_that_is_down()
    {
        var live = new NpgsqlConnectionStringBuilder(db.ConnectionString);
        var store = new StoreConnection(MultiHost($"127.0.0.1:{DeadPort()},{live.Host}:{live.Port}"), "blockstore-tests");
        Assert.True(await store.PingAsync() > 0);
        Assert.Contains(",", store.DisplayName);
        Assert.DoesNotContain("Password", store.DisplayName, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, new NpgsqlConnectionStringBuilder(store.ConnectionString).HostRecheckSeconds);
    }

    [Fact]
    public async Task No_reachable_server_is_StoreUnavailable()
    {
        var store = new StoreConnection(MultiHost($"127.0.0.1:{DeadPort()},127.0.0.1:{DeadPort()}"), "blockstore-tests");
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => store.PingAsync());
        Assert.Equal(ErrorIds.StoreUnavailable, e.ErrorId);
    }

    [Fact]
    public async Task A_pooled_connection_the_server_ended_is_replaced_once_without_an_error()
    {
        var store = new StoreConnection(db.ConnectionString + ";Application Name=stale-pool-test", "blockstore-tests");
        await store.PingAsync();
        // The server ends every idle connection of this store, as a restart or a failover does.
        await db.ExecuteAsync("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'stale-pool-test'");
        Assert.True(await store.PingAsync() > 0);
    }

    [Fact]
    public async Task A_streamed_listing_replaces_a_pooled_connection_the_server_ended_too()
    {
        // Get-BlockVolume streams (VolumeRequests.StreamAsync, outside RunAsync): after a PostgreSQL
        // restart its first call failed with StoreUnavailable (57P01) in a Pester run, 2026-12-04.
        var store = new StoreConnection(db.ConnectionString + ";Application Name=stale-stream-test", "blockstore-tests");
        var volumes = new VolumeRequests(store);
        await foreach (var _ in volumes.StreamAsync(new VolumeFilter()))
        {
        }

        await db.ExecuteAsync("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'stale-stream-test'");
        var count = 0;
        await foreach (var _ in volumes.StreamAsync(new VolumeFilter(IncludeDeleted: true)))
        {
            count++;
        }

        Assert.Equal(await db.ScalarAsync<long>("SELECT count(*) FROM bs.volumes"), count);
    }
}
