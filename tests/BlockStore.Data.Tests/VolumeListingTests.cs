using BlockStore.Core;

namespace BlockStore.Data.Tests;

/// <summary>
/// Get-BlockVolume's reads: paging (Skip/First) is OFFSET/LIMIT in creation order, the count leaves
/// paging out, and the streamed read yields the same rows as the list and can be left early.
/// </summary>
public sealed class VolumeListingTests(TestDatabase db) : IClassFixture<TestDatabase>
{
    private async Task<List<Guid>> SevenAsync()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();   // a request needs a live scheduler
        var ids = new List<Guid>();
        for (var i = 0; i < 7; i++)
        {
            ids.Add((await db.Volumes.CreateAsync($"page-{i}", 1, null, null)).Id);
        }

        return ids;
    }

    private static async Task<List<Guid>> StreamIdsAsync(VolumeRequests volumes, VolumeFilter filter)
    {
        var ids = new List<Guid>();
        await foreach (var v in volumes.StreamAsync(filter))
        {
            ids.Add(v.Id);
        }

        return ids;
    }

    [Fact]
    public async Task Skip_and_first_page_in_creation_order_in_the_list_and_in_the_stream()
    {
        var ids = await SevenAsync();
        var page = new VolumeFilter(Skip: 2, First: 3);
        Assert.Equal(ids.Skip(2).Take(3), (await db.Volumes.ListAsync(page)).Select(v => v.Id));
        Assert.Equal(ids.Skip(2).Take(3), await StreamIdsAsync(db.Volumes, page));
        Assert.Equal(ids, await StreamIdsAsync(db.Volumes, new VolumeFilter()));
        Assert.Equal(ids.Skip(5), await StreamIdsAsync(db.Volumes, new VolumeFilter(Skip: 5)));
        Assert.Empty(await StreamIdsAsync(db.Volumes, new VolumeFilter(First: 0)));
        Assert.Empty(await StreamIdsAsync(db.Volumes, new VolumeFilter(Skip: 70)));
    }

    [Fact]
    public async Task Paging_applies_after_the_filters_and_the_count_leaves_it_out()
    {
        var ids = await SevenAsync();
        var odd = new VolumeFilter(NamePatterns: ["page-[135]"], Skip: 1, First: 1);
        Assert.Equal([ids[3]], await StreamIdsAsync(db.Volumes, odd));
        Assert.Equal(3, await db.Volumes.CountAsync(odd));
        Assert.Equal(7, await db.Volumes.CountAsync(new VolumeFilter(First: 1)));
        await db.Volumes.RequestDeleteAsync(ids[0], force: false);
        await db.ExecuteAsync($"UPDATE bs.volumes SET status = 'deleted' WHERE id = '{ids[0]}'");
        Assert.Equal(6, await db.Volumes.CountAsync(new VolumeFilter()));
        Assert.Equal(7, await db.Volumes.CountAsync(new VolumeFilter(Statuses: [VolumeStatus.Deleted, VolumeStatus.Creating])));
    }

    [Fact]
    public async Task A_stream_left_after_its_first_row_frees_its_connection()
    {
        var ids = await SevenAsync();
        for (var round = 0; round < 50; round++)
        {
            await foreach (var v in db.Volumes.StreamAsync(new VolumeFilter()))
            {
                Assert.Equal(ids[0], v.Id);
                break;
            }
        }

        // Fifty abandoned readers did not keep fifty connections (the test pool has 40: it would be exhausted).
        Assert.Equal(7, (await db.Volumes.ListAsync(new VolumeFilter())).Count);
    }

    [Fact]
    public async Task A_stream_longer_than_a_page_is_one_snapshot_in_order_and_can_be_left_on_any_page()
    {
        await db.ResetAsync();
        await db.AddSchedulerAsync();
        // 1,201 volumes: the stream reads them in pages (500, 500, 201), as one snapshot.
        await db.ExecuteAsync(
            "INSERT INTO bs.volumes (id, name, size_gib, status, created_at) " +
            "SELECT gen_random_uuid(), 'bulk-' || i, 1, 'creating', now() - make_interval(secs => 2000 - i) FROM generate_series(1, 1201) i");
        var listed = (await db.Volumes.ListAsync(new VolumeFilter())).Select(v => v.Id).ToList();
        Assert.Equal(1201, listed.Count);

        var streamed = new List<Guid>();
        await foreach (var v in db.Volumes.StreamAsync(new VolumeFilter()))
        {
            streamed.Add(v.Id);
            if (streamed.Count == 1)
            {
                // Committed while the stream is on its first page: not in this listing (one snapshot).
                await db.ExecuteAsync("INSERT INTO bs.volumes (id, name, size_gib, status) VALUES (gen_random_uuid(), 'late', 1, 'creating')");
            }
        }

        Assert.Equal(listed, streamed);
        Assert.Equal(1202, await db.Volumes.CountAsync(new VolumeFilter()));
        Assert.Equal(listed.Skip(499).Take(3), await StreamIdsAsync(db.Volumes, new VolumeFilter(Skip: 499, First: 3)));
        Assert.Equal(listed.Skip(1000), (await StreamIdsAsync(db.Volumes, new VolumeFilter())).Skip(1000).Take(201));

        // Left on the second page, fifty times: each stream's transaction and cursor end with it.
        for (var round = 0; round < 50; round++)
        {
            var n = 0;
            await foreach (var v in db.Volumes.StreamAsync(new VolumeFilter()))
            {
                if (++n == 600)
                {
                    Assert.Equal(listed[599], v.Id);
                    break;
                }
            }
        }

        Assert.Equal(0, await db.ScalarAsync<int>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"));
        Assert.Equal(1202, (await db.Volumes.ListAsync(new VolumeFilter())).Count);
    }
}
