using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// Volume types' extra specs in placement (Cinder's CapabilitiesFilter) and the input rules of
/// projects, types and quotas: pure functions, no database.
/// </summary>
public sealed class VolumeTypePlacementTests
{
    private static HostCandidate Host(string name, string backend = BackendType.Thick, decimal total = 100, string zone = "nova",
        Dictionary<string, string>? caps = null) => new()
    {
        Host = name,
        Zone = zone,
        TotalGiB = total,
        ReportedFreeGiB = total,
        BackendType = backend,
        Capabilities = caps ?? new Dictionary<string, string>(),
    };

    private static Dictionary<string, string> Specs(params (string Key, string Value)[] specs) => specs.ToDictionary(s => s.Key, s => s.Value);

    [Fact]
    public void A_type_that_asks_for_thin_goes_to_the_thin_host_even_when_a_thick_one_has_more_room()
    {
        var hosts = new[] { Host("big-thick", total: 1000), Host("small-thin", BackendType.Thin, total: 10) };
        var typed = PlacementPolicy.Place(new PlacementRequest(5, null, Specs(("backend_type", "thin")), "fast"), hosts);
        Assert.Equal("small-thin", typed.Host);
        Assert.Equal("big-thick", PlacementPolicy.Place(new PlacementRequest(5, null), hosts).Host);
    }

    [Fact]
    public void Scoped_keys_are_matched_case_insensitively_and_other_scopes_are_ignored()
    {
        var host = Host("a", caps: new() { ["iscsi"] = "true", ["volume_backend_name"] = "lvm-ssd" });
        Assert.Null(ExtraSpecMatcher.Mismatch(Specs(("capabilities:iscsi", "True"), ("qos:read_iops", "100"), ("volume_backend_name", "lvm-ssd")),
            host.MatchableCapabilities()));
        Assert.Equal("volume type wants capabilities:iscsi=true (host: not reported)",
            ExtraSpecMatcher.Mismatch(Specs(("capabilities:iscsi", "true")), Host("b").MatchableCapabilities()));
    }

    [Fact]
    public void When_no_host_matches_the_reason_names_each_host_and_the_spec_it_failed()
    {
        var hosts = new[] { Host("node1"), Host("node2", zone: "az2") };
        var result = PlacementPolicy.Place(new PlacementRequest(1, null, Specs(("backend_type", "thin"), ("availability_zone", "az2")), "fast"), hosts);
        Assert.False(result.Placed);
        Assert.Equal("No volume host can take 1 GiB of volume type fast: " +
                     "node1: volume type wants availability_zone=az2 (host: nova), backend_type=thin (host: thick); " +
                     "node2: volume type wants backend_type=thin (host: thick).",
            result.Explain(1, null, "fast"));
    }

    [Fact]
    public void A_batch_mixing_typed_and_untyped_requests_takes_space_as_one_at_a_time_would()
    {
        var hosts = new[] { Host("thick-a", total: 30), Host("thin-b", BackendType.Thin, total: 1) };
        var thin = Specs(("backend_type", "thin"));
        var requests = new[]
        {
            new PlacementRequest(6, null), new PlacementRequest(15, null, thin, "t"), new PlacementRequest(6, null, thin, "t"),
            new PlacementRequest(4, null),
        };
        var batch = PlacementPolicy.PlaceAll(requests, hosts);
        // thin-b allows 1 x 20 = 20 GiB provisioned: 15 fits, then 6 more does not; untyped ones go where most is free.
        Assert.Equal(new string?[] { "thick-a", "thin-b", null, "thick-a" }, batch.Results.Select(r => r.Host));
        Assert.Equal((10m, 15m), (batch.Hosts["thick-a"].ProvisionedGiB, batch.Hosts["thin-b"].ProvisionedGiB));

        // The same decisions one at a time.
        var current = hosts.ToDictionary(h => h.Host);
        foreach (var (request, expected) in requests.Zip(batch.Results))
        {
            var one = PlacementPolicy.Place(request, current.Values);
            Assert.Equal(expected.Host, one.Host);
            if (one.Placed)
            {
                current[one.Host!] = current[one.Host!] with { ProvisionedGiB = current[one.Host!].ProvisionedGiB + request.SizeGiB };
            }
        }
    }

    [Fact]
    public void What_an_agent_measures_cannot_be_declared()
    {
        var host = Host("a", caps: new() { ["volume_backend_name"] = "x" }) with { BackendType = BackendType.Thick };
        var caps = host.MatchableCapabilities();
        Assert.Equal(("thick", "nova", "x"), (caps["backend_type"], caps["availability_zone"], caps["volume_backend_name"]));
        Assert.Contains("backend_type", ExtraSpecMatcher.MeasuredCapabilities);
        Assert.Contains("iscsi", ExtraSpecMatcher.MeasuredCapabilities);
    }

    [Theory]
    [InlineData("team-a", true)]
    [InlineData("a", true)]
    [InlineData("Team-A", false)]
    [InlineData("-a", false)]
    [InlineData("a b", false)]
    [InlineData("", false)]
    public void Project_names_are_lower_case_labels(string name, bool valid)
    {
        var e = Record.Exception(() => TenancyValidation.ProjectName(name));
        Assert.Equal(valid, e is null);
        if (!valid)
        {
            Assert.Equal(ErrorIds.InvalidProjectName, Assert.IsType<BlockStoreException>(e).ErrorId);
        }
    }

    [Fact]
    public void Extra_specs_are_checked_for_keys_values_and_the_measured_vocabulary()
    {
        static string? Refused(params (string, string?)[] specs) =>
            (Record.Exception(() => TenancyValidation.ExtraSpecs(specs.Select(s => new KeyValuePair<string, string?>(s.Item1, s.Item2)))) as BlockStoreException)?.ErrorId;

        Assert.Null(Refused(("backend_type", "thin"), ("capabilities:iscsi", "True"), ("disk", "ssd")));
        Assert.Equal(ErrorIds.InvalidExtraSpec, Refused(("backend_type", "fast")));
        Assert.Equal(ErrorIds.InvalidExtraSpec, Refused(("capabilities:iscsi", "yes")));
        Assert.Equal(ErrorIds.InvalidExtraSpec, Refused(("bad key", "x")));
        Assert.Equal(ErrorIds.InvalidExtraSpec, Refused(("disk", " ")));
        Assert.Equal(ErrorIds.InvalidQuotaLimit, (Record.Exception(() => TenancyValidation.QuotaLimit("volumes", -2)) as BlockStoreException)?.ErrorId);
        Assert.Null(Record.Exception(() => TenancyValidation.QuotaLimit("volumes", -1)));
    }
}
