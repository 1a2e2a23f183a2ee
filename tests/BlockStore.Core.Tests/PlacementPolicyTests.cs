using BlockStore.Core;

namespace BlockStore.Core.Tests;

public sealed class PlacementPolicyTests
{
    private static HostCandidate Host(string name, decimal total, decimal provisioned = 0, int reserved = 0,
        string backend = BackendType.Thick, decimal? free = null, decimal ratio = 20m, string zone = "nova") => new()
    {
        Host = name,
        Zone = zone,
        TotalGiB = total,
        ReportedFreeGiB = free ?? total - provisioned,
        ProvisionedGiB = provisioned,
        ReservedPercentage = reserved,
        BackendType = backend,
        MaxOverSubscriptionRatio = ratio,
    };

    [Fact]
    public void Thick_a_volume_fits_when_free_after_the_ledger_covers_it()
    {
        Assert.Null(PlacementPolicy.CapacityRejection(Host("a", 100, provisioned: 90), 10));
        Assert.NotNull(PlacementPolicy.CapacityRejection(Host("a", 100, provisioned: 90), 11));
    }

    [Fact]
    public void Thick_the_reserved_percentage_is_not_given_out()
    {
        var host = Host("a", 100, reserved: 10);
        Assert.Null(PlacementPolicy.CapacityRejection(host, 90));
        var reason = PlacementPolicy.CapacityRejection(host, 91);
        Assert.Equal("capacity 100 GiB, 0 GiB provisioned, 10% reserved: 90 GiB free for 91 GiB", reason);
    }

    [Fact]
    public void Thick_an_overfull_host_reports_zero_free_not_a_negative_number()
    {
        var reason = PlacementPolicy.CapacityRejection(Host("a", 10, provisioned: 12), 1);
        Assert.Contains("0 GiB free for 1 GiB", reason);
    }

    [Fact]
    public void Thin_over_subscription_defaults_to_twenty_times_the_pool()
    {
        var host = Host("t", 10, backend: BackendType.Thin);
        Assert.Equal(20m, host.MaxOverSubscriptionRatio);
        Assert.Null(PlacementPolicy.CapacityRejection(host, 200));
        var reason = PlacementPolicy.CapacityRejection(host, 201);
        Assert.Equal("thin capacity 10 GiB × ratio 20 allows 200 GiB provisioned; 0 GiB already provisioned, 201 GiB more does not fit", reason);
    }

    [Fact]
    public void Thin_counts_what_is_already_provisioned()
    {
        var host = Host("t", 10, provisioned: 150, backend: BackendType.Thin, free: 8);
        Assert.Null(PlacementPolicy.CapacityRejection(host, 50));
        Assert.NotNull(PlacementPolicy.CapacityRejection(host, 51));
    }

    [Fact]
    public void Thin_a_pool_with_no_unreserved_free_space_takes_nothing()
    {
        var host = Host("t", 100, backend: BackendType.Thin, free: 5, reserved: 10);
        var reason = PlacementPolicy.CapacityRejection(host, 1);
        Assert.Equal("thin pool has 5 GiB free, within the 10% reserve", reason);
    }

    [Fact]
    public void Thin_honours_a_configured_ratio()
    {
        var host = Host("t", 10, backend: BackendType.Thin, ratio: 1.5m);
        Assert.Null(PlacementPolicy.CapacityRejection(host, 15));
        Assert.Contains("ratio 1.5 allows 15 GiB", PlacementPolicy.CapacityRejection(host, 16));
    }

    [Fact]
    public void The_weigher_picks_the_most_free_capacity()
    {
        var result = PlacementPolicy.Place(1, null, [Host("a", 100, provisioned: 60), Host("b", 50), Host("c", 45)]);
        Assert.Equal("b", result.Host);
        Assert.Equal(50m, result.HostFreeGiB);
        Assert.Empty(result.Rejections);
    }

    [Fact]
    public void Ties_go_to_the_first_host_by_name_so_placement_is_deterministic()
    {
        Assert.Equal("a", PlacementPolicy.Place(1, null, [Host("b", 50), Host("a", 50)]).Host);
    }

    [Fact]
    public void Thin_hosts_weigh_by_their_over_subscribed_free_capacity()
    {
        // thin: 10 x 20 = 200 virtual; thick: 150 real.
        Assert.Equal("t", PlacementPolicy.Place(1, null, [Host("k", 150), Host("t", 10, backend: BackendType.Thin)]).Host);
    }

    [Fact]
    public void Each_rejected_host_is_named_with_its_reason()
    {
        var hosts = new[]
        {
            Host("cap", 64) with { },
            Host("dis", 100) with { Enabled = false, DisabledReason = "maintenance" },
            Host("down", 100) with { Up = false },
            Host("frz", 100) with { Frozen = true },
            Host("sick", 100) with { Healthy = false, HealthReason = "volume group vg1 not found" },
            Host("zone", 100, zone: "z2"),
        };
        var result = PlacementPolicy.Place(80, "nova", hosts);
        Assert.False(result.Placed);
        Assert.Equal(["cap", "dis", "down", "frz", "sick", "zone"], result.Rejections.Select(r => r.Host));
        var text = result.Explain(80, "nova");
        Assert.StartsWith("No volume host can take 80 GiB in zone nova: ", text);
        Assert.Contains("cap: capacity 64 GiB, 0 GiB provisioned, 0% reserved: 64 GiB free for 80 GiB", text);
        Assert.Contains("dis: disabled (maintenance)", text);
        Assert.Contains("down: down (no heartbeat within the down threshold)", text);
        Assert.Contains("frz: frozen", text);
        Assert.Contains("sick: unhealthy (volume group vg1 not found)", text);
        Assert.Contains("zone: in zone z2, not nova", text);
    }

    [Fact]
    public void No_registered_host_is_explained_too()
    {
        var result = PlacementPolicy.Place(1, null, []);
        Assert.Contains("no volume host is registered", result.Explain(1, null));
    }

    [Fact]
    public void Without_a_zone_every_zone_is_acceptable()
    {
        Assert.Equal("z", PlacementPolicy.Place(1, null, [Host("z", 10, zone: "elsewhere")]).Host);
    }

    [Fact]
    public void A_burst_placed_one_by_one_spreads_by_free_capacity()
    {
        var hosts = new Dictionary<string, HostCandidate> { ["a"] = Host("a", 100), ["b"] = Host("b", 60) };
        for (var i = 0; i < 60; i++)
        {
            var r = PlacementPolicy.Place(1, null, hosts.Values);
            hosts[r.Host!] = hosts[r.Host!] with { ProvisionedGiB = hosts[r.Host!].ProvisionedGiB + 1 };
        }

        Assert.Equal(50, hosts["a"].ProvisionedGiB);
        Assert.Equal(10, hosts["b"].ProvisionedGiB);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void A_batch_decides_exactly_as_placing_one_by_one(int seed)
    {
        var random = new Random(seed);
        var hosts = Enumerable.Range(0, 40).Select(i => Host($"h{i:00}", random.Next(0, 6) * 10 + random.Next(0, 3),
            provisioned: random.Next(0, 20), reserved: random.Next(0, 3) * 10,
            backend: random.Next(4) == 0 ? BackendType.Thin : BackendType.Thick,
            zone: random.Next(3) == 0 ? "z2" : "nova",
            free: random.Next(0, 30), ratio: random.Next(2) == 0 ? 20m : 1.5m) with
        {
            Enabled = random.Next(10) > 0,
            Frozen = random.Next(15) == 0,
            Up = random.Next(12) > 0,
            ReportedAllocatedGiB = random.Next(3) == 0 ? null : random.Next(0, 10),
        }).ToList();
        var requests = Enumerable.Range(0, 400).Select(_ => new PlacementRequest(random.Next(1, 12),
            random.Next(4) switch { 0 => null, 1 => "z2", 2 => "nowhere", _ => "nova" })).ToList();

        var batch = PlacementPolicy.PlaceAll(requests, hosts);

        var current = hosts.ToDictionary(h => h.Host);
        for (var i = 0; i < requests.Count; i++)
        {
            var one = PlacementPolicy.Place(requests[i].SizeGiB, requests[i].Zone, current.Values);
            Assert.Equal(one.Host, batch.Results[i].Host);
            Assert.Equal(one.HostFreeGiB, batch.Results[i].HostFreeGiB);
            Assert.Equal(one.Explain(requests[i].SizeGiB, requests[i].Zone), batch.Results[i].Explain(requests[i].SizeGiB, requests[i].Zone));
            if (one.Placed)
            {
                current[one.Host!] = current[one.Host!] with { ProvisionedGiB = current[one.Host!].ProvisionedGiB + requests[i].SizeGiB };
            }
        }

        Assert.Equal(current.Values.OrderBy(h => h.Host), batch.Hosts.Values.OrderBy(h => h.Host));
        Assert.Contains(batch.Results, r => r.Placed);
        Assert.Contains(batch.Results, r => !r.Placed);
    }
}
