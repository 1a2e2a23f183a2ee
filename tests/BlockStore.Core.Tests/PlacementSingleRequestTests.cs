using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// PlaceAll places a batch of one request (without extra specs) in one pass over the hosts instead
/// of ordering them all. Its decisions must be exactly Place's, and exactly what the ordered path
/// decides for the same request at the head of a longer batch.
/// </summary>
public sealed class PlacementSingleRequestTests
{
    public static TheoryData<int> Seeds() => [1, 2, 3, 4, 5, 6];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void A_single_request_decides_exactly_as_Place_and_as_the_head_of_a_batch(int seed)
    {
        var random = new Random(seed);
        var placed = 0;
        var failed = 0;
        for (var round = 0; round < 300; round++)
        {
            var spread = random.Next(3) switch
            {
                0 => null,
                1 => PlacementSpread.For($"scheduler{round}"),
                _ => PlacementSpread.For($"scheduler{round}", random.Next(1, 4) * 2.5m),
            };
            var hosts = Hosts(random, random.Next(0, 30));
            var request = new PlacementRequest(random.Next(1, 40), random.Next(4) switch { 0 => null, 1 => "z2", 2 => "nowhere", _ => "nova" });

            var single = PlacementPolicy.PlaceAll([request], hosts, spread);
            var one = PlacementPolicy.Place(request, hosts, spread);
            var head = PlacementPolicy.PlaceAll([request, new PlacementRequest(1, null)], hosts, spread);

            var result = Assert.Single(single.Results);
            Assert.Equal(one.Host, result.Host);
            Assert.Equal(one.HostFreeGiB, result.HostFreeGiB);
            Assert.Equal(one.Explain(request.SizeGiB, request.Zone), result.Explain(request.SizeGiB, request.Zone));
            Assert.Equal(head.Results[0].Host, result.Host);
            Assert.Equal(head.Results[0].HostFreeGiB, result.HostFreeGiB);
            Assert.Equal(head.Results[0].Explain(request.SizeGiB, request.Zone), result.Explain(request.SizeGiB, request.Zone));

            // The hosts after it: the chosen one has taken the volume, the others are as they were.
            var expected = hosts.ToDictionary(h => h.Host);
            if (one.Placed)
            {
                expected[one.Host!] = expected[one.Host!] with { ProvisionedGiB = expected[one.Host!].ProvisionedGiB + request.SizeGiB };
                placed++;
            }
            else
            {
                failed++;
            }

            Assert.Equal(expected.Values.OrderBy(h => h.Host), single.Hosts.Values.OrderBy(h => h.Host));
        }

        // Both ways were exercised.
        Assert.True(placed > 50, $"placed {placed}");
        Assert.True(failed > 20, $"failed {failed}");
    }

    [Theory]
    [InlineData(40, "a")]
    [InlineData(41, null)]
    [InlineData(45, null)]
    public void The_most_free_host_takes_what_fits_exactly_and_nothing_larger(int size, string? expected)
    {
        var hosts = new[]
        {
            new HostCandidate { Host = "a", Zone = "nova", TotalGiB = 100, ReportedFreeGiB = 40, ProvisionedGiB = 60 },
            new HostCandidate { Host = "b", Zone = "nova", TotalGiB = 100, ReportedFreeGiB = 30, ProvisionedGiB = 70 },
        };
        var request = new PlacementRequest(size, "nova");
        var single = PlacementPolicy.PlaceAll([request], hosts, PlacementSpread.For("scheduler1"));
        Assert.Equal(expected, single.Results[0].Host);
        Assert.Equal(PlacementPolicy.Place(request, hosts, PlacementSpread.For("scheduler1")).Explain(size, "nova"), single.Results[0].Explain(size, "nova"));
    }

    [Fact]
    public void A_host_listed_twice_counts_as_its_last_entry_as_in_a_batch()
    {
        var hosts = new[]
        {
            new HostCandidate { Host = "a", Zone = "nova", TotalGiB = 100, ReportedFreeGiB = 100 },
            new HostCandidate { Host = "b", Zone = "nova", TotalGiB = 100, ReportedFreeGiB = 50, ProvisionedGiB = 50 },
            new HostCandidate { Host = "a", Zone = "nova", TotalGiB = 100, ReportedFreeGiB = 10, ProvisionedGiB = 90 },
        };
        var single = PlacementPolicy.PlaceAll([new PlacementRequest(5, "nova")], hosts);
        Assert.Equal("b", single.Results[0].Host);
        Assert.Equal(PlacementPolicy.PlaceAll([new PlacementRequest(5, "nova"), new PlacementRequest(1, "nova")], hosts).Results[0].Host, single.Results[0].Host);
    }

    private static List<HostCandidate> Hosts(Random random, int count) =>
        Enumerable.Range(0, count).Select(i =>
        {
            var total = (decimal)(random.Next(1, 6) * 20 + random.Next(0, 3));
            var provisioned = (decimal)random.Next(0, 60);
            return new HostCandidate
            {
                Host = $"h{i:00}",
                Zone = random.Next(3) == 0 ? "z2" : "nova",
                TotalGiB = total,
                ReportedFreeGiB = Math.Max(0, total - provisioned - random.Next(0, 10)),
                ProvisionedGiB = provisioned,
                ReportedAllocatedGiB = random.Next(3) == 0 ? null : provisioned,
                ReservedPercentage = random.Next(0, 3) * 10,
                BackendType = random.Next(4) == 0 ? BackendType.Thin : BackendType.Thick,
                MaxOverSubscriptionRatio = random.Next(2) == 0 ? 20m : 1.5m,
                Enabled = random.Next(10) > 0,
                Frozen = random.Next(15) == 0,
                Up = random.Next(12) > 0,
                Healthy = random.Next(20) > 0,
            };
        }).ToList();
}
