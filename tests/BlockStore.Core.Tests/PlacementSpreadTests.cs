using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// A scheduler's own tie-break among (nearly) equally free hosts (PlacementSpread): two schedulers
/// stop planning onto the same hosts, and the weigher's rules otherwise stay Cinder's.
/// </summary>
public sealed class PlacementSpreadTests
{
    private static HostCandidate Host(string name, decimal total, decimal provisioned = 0, string zone = "nova",
        string backend = BackendType.Thick, decimal ratio = 20m) => new()
    {
        Host = name,
        Zone = zone,
        TotalGiB = total,
        ReportedFreeGiB = total - provisioned,
        ProvisionedGiB = provisioned,
        BackendType = backend,
        MaxOverSubscriptionRatio = ratio,
    };

    // 1,000 hosts of 1,000 GiB with 95 GiB each: 905 GiB free, as the scale bench's hosts are (all equal).
    private static List<HostCandidate> EqualHosts() =>
        Enumerable.Range(1, 1000).Select(i => Host($"sim-{i:0000}", 1000, provisioned: 95)).ToList();

    private static List<PlacementRequest> Requests(int count, int sizeGiB = 1) =>
        Enumerable.Range(0, count).Select(_ => new PlacementRequest(sizeGiB, null)).ToList();

    private static HashSet<string> HostsUsed(BatchPlacement plan) => plan.Results.Where(r => r.Placed).Select(r => r.Host!).ToHashSet();

    [Fact]
    public void Two_schedulers_spread_a_batch_over_different_equally_free_hosts()
    {
        var hosts = EqualHosts();
        var one = HostsUsed(PlacementPolicy.PlaceAll(Requests(256), hosts, PlacementSpread.For("scheduler1", 1)));
        var two = HostsUsed(PlacementPolicy.PlaceAll(Requests(256), hosts, PlacementSpread.For("scheduler2", 1)));

        // Without a spread both take the same hosts (name order): every row one locks, the other wants.
        var plainOne = HostsUsed(PlacementPolicy.PlaceAll(Requests(256), hosts));
        var plainTwo = HostsUsed(PlacementPolicy.PlaceAll(Requests(256), hosts));
        Assert.Equal(plainOne, plainTwo);
        Assert.Equal(256, plainOne.Count);

        // With one, each keeps to a few hosts of its own (6 GiB each to the band's edge at 900)...
        Assert.InRange(one.Count, 40, 50);
        Assert.InRange(two.Count, 40, 50);
        // ...and they share few: about 2 of 1,000 expected by chance.
        Assert.True(one.Intersect(two).Count() <= 5, $"{one.Intersect(two).Count()} hosts chosen by both");
    }

    [Fact]
    public void By_default_only_exact_ties_are_spread_and_the_most_free_host_always_wins()
    {
        var hosts = EqualHosts();
        var one = PlacementPolicy.PlaceAll(Requests(256), hosts, PlacementSpread.For("scheduler1"));
        var two = PlacementPolicy.PlaceAll(Requests(256), hosts, PlacementSpread.For("scheduler2"));
        // Each takes 256 different hosts (one GiB each: most free first), in its own order...
        Assert.Equal(256, HostsUsed(one).Count);
        Assert.Equal(256, HostsUsed(two).Count);
        // ...so they share about a quarter of them (256 x 256 / 1,000), not all as in name order.
        Assert.InRange(HostsUsed(one).Intersect(HostsUsed(two)).Count(), 30, 110);
        // One GiB more free space is not a tie.
        var freer = hosts.Append(Host("zz", 1000, provisioned: 94)).ToList();
        Assert.All(Enumerable.Range(0, 30), i => Assert.Equal("zz", PlacementPolicy.Place(1, null, freer, PlacementSpread.For($"s{i}")).Host));
    }

    [Fact]
    public void A_host_freer_by_more_than_the_band_wins_for_every_seed()
    {
        // Band: 1 % of 1,000 GiB = 10 GiB. "zz" has 11 GiB more than the others: not a tie.
        var hosts = EqualHosts().Append(Host("zz", 1000, provisioned: 84)).ToList();
        foreach (var seed in Enumerable.Range(0, 50))
        {
            var spread = PlacementSpread.For($"scheduler{seed}", 1);
            Assert.Equal("zz", PlacementPolicy.Place(1, null, hosts, spread).Host);
            Assert.Equal("zz", PlacementPolicy.PlaceAll(Requests(1), hosts, spread).Results[0].Host);
        }
    }

    [Fact]
    public void A_host_freer_within_the_band_is_a_tie_that_each_seed_breaks_its_own_way()
    {
        // 904 GiB free against 905: the same band [900, 910). Without a spread the freer one always wins.
        var hosts = new[] { Host("a", 1000, provisioned: 96), Host("b", 1000, provisioned: 95) };
        Assert.Equal("b", PlacementPolicy.Place(1, null, hosts).Host);
        var chosen = Enumerable.Range(0, 40).Select(i => PlacementPolicy.Place(1, null, hosts, PlacementSpread.For($"s{i}", 1)).Host).ToHashSet();
        Assert.Equal(["a", "b"], chosen.Order());

        // Band 0: only exact ties are spread, so the freer host wins again for every seed.
        Assert.All(Enumerable.Range(0, 40), i => Assert.Equal("b", PlacementPolicy.Place(1, null, hosts, PlacementSpread.For($"s{i}", 0)).Host));
    }

    [Fact]
    public void The_same_seed_always_gives_the_same_plan_and_the_reported_free_space_is_the_real_one()
    {
        var hosts = EqualHosts();
        var first = PlacementPolicy.PlaceAll(Requests(300), hosts, PlacementSpread.For("scheduler1", 1));
        var again = PlacementPolicy.PlaceAll(Requests(300), hosts, PlacementSpread.For("scheduler1", 1));
        Assert.Equal(first.Results.Select(r => r.Host), again.Results.Select(r => r.Host));
        Assert.NotEqual(first.Results.Select(r => r.Host),
            PlacementPolicy.PlaceAll(Requests(300), hosts, PlacementSpread.For("scheduler2", 1)).Results.Select(r => r.Host));
        // The seed is a function of the name alone (64-bit FNV-1a of its UTF-8), the same in every process.
        Assert.Equal(3049177506725658097UL, PlacementSpread.For("scheduler1").Seed);
        Assert.NotEqual(PlacementSpread.For("scheduler1", 1).Seed, PlacementSpread.For("scheduler2", 1).Seed);

        // The free space reported with each placement is the host's, not its band's rank.
        var firstHost = first.Results[0].Host!;
        Assert.Equal(905m, first.Results[0].HostFreeGiB);
        Assert.Equal(904m, first.Results[1].HostFreeGiB);
        Assert.Equal(firstHost, first.Results[1].Host);
    }

    [Fact]
    public void Nothing_is_overcommitted_and_a_request_fails_only_when_no_host_fits()
    {
        // 20 hosts of 10 GiB, thick and thin, 1 GiB to spare each at the end: the spread fills them exactly.
        var hosts = Enumerable.Range(0, 20).Select(i => i % 4 == 0
            ? Host($"t{i:00}", 1, backend: BackendType.Thin, ratio: 10m)
            : Host($"h{i:00}", 10)).ToList();
        var plan = PlacementPolicy.PlaceAll(Requests(205), hosts, PlacementSpread.For("scheduler2", 1));
        Assert.Equal(200, plan.Results.Count(r => r.Placed));
        Assert.All(plan.Results.Skip(200), r => Assert.False(r.Placed));
        Assert.All(plan.Hosts.Values, h => Assert.Equal(10m, h.ProvisionedGiB));
        Assert.Equal(PlacementPolicy.Place(1, null, plan.Hosts.Values).Explain(1, null), plan.Results[^1].Explain(1, null));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_batch_with_a_spread_decides_exactly_as_placing_one_by_one_with_it(int seed)
    {
        var random = new Random(seed);
        var spread = PlacementSpread.For($"scheduler{seed}", random.Next(0, 3) * 2.5m);
        var hosts = Enumerable.Range(0, 60).Select(i => Host($"h{i:00}", random.Next(1, 6) * 20 + random.Next(0, 3),
            provisioned: random.Next(0, 30), zone: random.Next(3) == 0 ? "z2" : "nova",
            backend: random.Next(5) == 0 ? BackendType.Thin : BackendType.Thick, ratio: random.Next(2) == 0 ? 20m : 1.5m) with
        {
            Enabled = random.Next(10) > 0,
            Up = random.Next(12) > 0,
        }).ToList();
        var requests = Enumerable.Range(0, 500).Select(_ => new PlacementRequest(random.Next(1, 12),
            random.Next(4) switch { 0 => null, 1 => "z2", 2 => "nowhere", _ => "nova" })).ToList();

        var batch = PlacementPolicy.PlaceAll(requests, hosts, spread);

        var current = hosts.ToDictionary(h => h.Host);
        for (var i = 0; i < requests.Count; i++)
        {
            var one = PlacementPolicy.Place(requests[i], current.Values, spread);
            Assert.Equal(one.Host, batch.Results[i].Host);
            Assert.Equal(one.HostFreeGiB, batch.Results[i].HostFreeGiB);
            Assert.Equal(one.Explain(requests[i].SizeGiB, requests[i].Zone), batch.Results[i].Explain(requests[i].SizeGiB, requests[i].Zone));
            if (one.Placed)
            {
                Assert.Null(PlacementPolicy.CapacityRejection(current[one.Host!], requests[i].SizeGiB));
                current[one.Host!] = current[one.Host!] with { ProvisionedGiB = current[one.Host!].ProvisionedGiB + requests[i].SizeGiB };
            }
        }

        Assert.Equal(current.Values.OrderBy(h => h.Host), batch.Hosts.Values.OrderBy(h => h.Host));
        Assert.Contains(batch.Results, r => r.Placed);
        Assert.Contains(batch.Results, r => !r.Placed);
    }
}
