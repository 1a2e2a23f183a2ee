using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>Resize-BlockVolume's rules (issue 12): volumes only grow, within range, when available, or in-use on a host exporting with LIO.</summary>
public sealed class ExtendRulesTests
{
    [Theory]
    [InlineData(2, 3)]
    [InlineData(1, 16384)]
    public void A_larger_size_in_range_is_accepted(int current, long requested) =>
        Validation.ExtendSize("v", current, requested);

    [Theory]
    [InlineData(5, 5, "must be larger")]
    [InlineData(5, 3, "must be larger")]
    [InlineData(5, 0, "out of range")]
    [InlineData(5, 16385, "out of range")]
    public void A_size_not_larger_or_out_of_range_is_InvalidVolumeSize(int current, long requested, string says)
    {
        var e = Assert.Throws<BlockStoreException>(() => Validation.ExtendSize("v", current, requested));
        Assert.Equal(ErrorIds.InvalidVolumeSize, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Contains(says, e.Message);
    }

    [Fact]
    public void An_available_volume_can_be_extended_and_an_in_use_one_only_on_a_host_exporting_with_LIO()
    {
        foreach (var status in VolumeStatus.All)
        {
            Assert.Equal(status == VolumeStatus.Available, VolumeStateMachine.CanRequestExtend(status, hostExportsWithLio: false));
            Assert.Equal(status is VolumeStatus.Available or VolumeStatus.InUse, VolumeStateMachine.CanRequestExtend(status, hostExportsWithLio: true));
        }
    }

    [Theory]
    [InlineData(VolumeStatus.Attaching)]
    [InlineData(VolumeStatus.Detaching)]
    public void An_export_in_flight_waits_even_with_LIO(string status) =>
        Assert.False(VolumeStateMachine.CanRequestExtend(status, hostExportsWithLio: true));

    [Theory]
    [InlineData(new string[0], VolumeStatus.Available)]
    [InlineData(new[] { AttachmentStatus.Attached }, VolumeStatus.InUse)]
    [InlineData(new[] { AttachmentStatus.Detached, AttachmentStatus.Error }, VolumeStatus.Available)]
    [InlineData(new[] { AttachmentStatus.Attached, AttachmentStatus.Attaching }, VolumeStatus.Attaching)]
    [InlineData(new[] { AttachmentStatus.Detaching }, VolumeStatus.Detaching)]
    public void A_finished_extend_ends_where_the_attachments_say_and_the_state_machine_allows_it(string[] attachments, string expected)
    {
        var to = VolumeStateMachine.FromAttachments(attachments);
        Assert.Equal(expected, to);
        Assert.True(VolumeStateMachine.CanMove(VolumeStatus.Extending, to));
    }

    [Fact]
    public void Extending_holds_space_and_is_not_final()
    {
        Assert.True(CapacityLedger.VolumeHoldsSpace("node1", VolumeStatus.Extending));
        Assert.False(VolumeStatus.IsFinal(VolumeStatus.Extending));
        Assert.False(VolumeStateMachine.CanRequestDelete(VolumeStatus.Extending));
    }
}
