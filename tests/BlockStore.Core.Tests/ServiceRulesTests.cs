using BlockStore.Core;

namespace BlockStore.Core.Tests;

public class ServiceRulesTests
{
    [Theory]
    [InlineData(ServiceType.Volume, ServiceChange.Enable)]
    [InlineData(ServiceType.Volume, ServiceChange.Disable)]
    [InlineData(ServiceType.Volume, ServiceChange.Freeze)]
    [InlineData(ServiceType.Volume, ServiceChange.Thaw)]
    [InlineData(ServiceType.Scheduler, ServiceChange.Enable)]
    [InlineData(ServiceType.Scheduler, ServiceChange.Disable)]
    public void Allows_every_meaningful_change(string service, ServiceChange change) =>
        ServiceRules.CheckChange(service, change, null);

    [Theory]
    [InlineData(1)]
    [InlineData(255)]
    public void Allows_a_disable_reason_of_1_to_255_characters(int length) =>
        ServiceRules.CheckChange(ServiceType.Volume, ServiceChange.Disable, new string('r', length));

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public void Refuses_an_empty_or_blank_reason(string reason)
    {
        var e = Assert.Throws<BlockStoreException>(() => ServiceRules.CheckChange(ServiceType.Volume, ServiceChange.Disable, reason));
        Assert.Equal(ErrorIds.InvalidReason, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public void Refuses_a_reason_of_256_characters()
    {
        var e = Assert.Throws<BlockStoreException>(() => ServiceRules.CheckChange(ServiceType.Volume, ServiceChange.Disable, new string('r', 256)));
        Assert.Equal(ErrorIds.InvalidReason, e.ErrorId);
        Assert.Contains("256", e.Message);
    }

    [Theory]
    [InlineData(ServiceChange.Enable)]
    [InlineData(ServiceChange.Freeze)]
    [InlineData(ServiceChange.Thaw)]
    public void Refuses_a_reason_on_anything_but_disable(ServiceChange change)
    {
        var e = Assert.Throws<BlockStoreException>(() => ServiceRules.CheckChange(ServiceType.Volume, change, "why"));
        Assert.Equal(ErrorIds.InvalidReason, e.ErrorId);
    }

    [Theory]
    [InlineData(ServiceChange.Freeze)]
    [InlineData(ServiceChange.Thaw)]
    public void Refuses_to_freeze_or_thaw_a_scheduler(ServiceChange change)
    {
        // A flag that would change nothing must not be stored (Cinder's scheduler disable trap).
        var e = Assert.Throws<BlockStoreException>(() => ServiceRules.CheckChange(ServiceType.Scheduler, change, null));
        Assert.Equal(ErrorIds.InvalidServiceChange, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidOperation, e.Kind);
        Assert.Contains("Disable-BlockVolumeService", e.Message);
    }

    [Theory]
    [InlineData(ServiceChange.Enable, null, "volume service on node1 enabled")]
    [InlineData(ServiceChange.Disable, null, "volume service on node1 disabled")]
    [InlineData(ServiceChange.Disable, "disk swap", "volume service on node1 disabled: disk swap")]
    [InlineData(ServiceChange.Freeze, null, "volume service on node1 frozen")]
    [InlineData(ServiceChange.Thaw, null, "volume service on node1 thawed")]
    public void Describes_a_change_in_the_past_tense(ServiceChange change, string? reason, string expected) =>
        Assert.Equal(expected, ServiceRules.Describe("node1", ServiceType.Volume, change, reason));

    [Fact]
    public void Names_host_and_service_when_a_service_is_not_found()
    {
        var e = ServiceRules.NotFound("node9", ServiceType.Volume);
        Assert.Equal(ErrorIds.ServiceNotFound, e.ErrorId);
        Assert.Equal(ErrorKind.ObjectNotFound, e.Kind);
        Assert.Equal("node9/volume", e.Target);
        Assert.Contains("No volume service is registered on host 'node9'", e.Message);
    }

    [Fact]
    public void Lists_exactly_the_service_types_the_schema_allows() =>
        Assert.Equal(["volume", "scheduler"], ServiceType.All);
}
