using System.Reflection;
using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// HostCandidate.SamePlacementInputs: the scheduler skips planning again when the hosts it locked
/// are the same by this measure as it planned with them, so it must see every property placement
/// can read. The property list is taken by reflection: a property added to HostCandidate and not
/// compared fails here.
/// </summary>
public sealed class HostCandidateInputsTests
{
    private static HostCandidate Sample() => new()
    {
        Host = "node1",
        Zone = "nova",
        DisabledReason = "maintenance",
        HealthReason = "ok",
        TotalGiB = 100m,
        ReportedFreeGiB = 60m,
        ReportedAllocatedGiB = 30m,
        ProvisionedGiB = 35m,
        ReservedPercentage = 5,
        Capabilities = new Dictionary<string, string> { ["iscsi"] = "true", ["snapshots"] = "false" },
    };

    public static TheoryData<string> Properties()
    {
        var data = new TheoryData<string>();
        foreach (var p in typeof(HostCandidate).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            data.Add(p.Name);
        }

        return data;
    }

    [Fact]
    public void A_copy_with_equal_values_and_its_own_capabilities_dictionary_is_the_same()
    {
        var a = Sample();
        var b = Sample() with { Capabilities = new Dictionary<string, string> { ["snapshots"] = "false", ["iscsi"] = "true" } };
        Assert.NotSame(a.Capabilities, b.Capabilities);
        Assert.True(a.SamePlacementInputs(b));
        Assert.True(b.SamePlacementInputs(a));
        // Numerically equal decimals of another scale (as a fresh read can give) are the same too.
        Assert.True(a.SamePlacementInputs(a with { TotalGiB = 100.00m }));
    }

    [Theory]
    [MemberData(nameof(Properties))]
    public void A_host_that_differs_in_any_one_property_is_not_the_same(string property)
    {
        var a = Sample();
        var b = a with { };
        var p = typeof(HostCandidate).GetProperty(property)!;
        p.SetValue(b, Changed(p.PropertyType, p.GetValue(a)));
        Assert.False(a.SamePlacementInputs(b), $"{property} is not compared");
        Assert.False(b.SamePlacementInputs(a), $"{property} is not compared");
    }

    [Fact]
    public void Capabilities_differ_by_a_value_a_missing_key_or_another_key()
    {
        var a = Sample();
        Assert.False(a.SamePlacementInputs(a with { Capabilities = new Dictionary<string, string> { ["iscsi"] = "false", ["snapshots"] = "false" } }));
        Assert.False(a.SamePlacementInputs(a with { Capabilities = new Dictionary<string, string> { ["iscsi"] = "true" } }));
        Assert.False(a.SamePlacementInputs(a with { Capabilities = new Dictionary<string, string> { ["iscsi"] = "true", ["thin"] = "false" } }));
    }

    private static object? Changed(Type type, object? value) => type switch
    {
        _ when type == typeof(string) => (string?)value + "-other",
        _ when type == typeof(bool) => !(bool)value!,
        _ when type == typeof(int) => (int)value! + 1,
        _ when type == typeof(decimal) => (decimal)value! + 1m,
        _ when type == typeof(decimal?) => value is null ? 1m : (decimal)value + 1m,
        _ when type == typeof(IReadOnlyDictionary<string, string>) =>
            new Dictionary<string, string>((IReadOnlyDictionary<string, string>)value!) { ["extra"] = "x" },
        _ => throw new InvalidOperationException($"HostCandidate has a property of type {type}: teach this test (and SamePlacementInputs) about it"),
    };
}
