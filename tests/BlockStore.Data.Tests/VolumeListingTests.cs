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
}
