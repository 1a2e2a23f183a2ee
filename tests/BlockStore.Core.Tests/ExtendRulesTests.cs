using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>Resize-BlockVolume's rules (issue 12): volumes only grow, within range, and only when available.</summary>
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
    public void Only_an_available_volume_can_be_extended()
    {
        foreach (var status in VolumeStatus.All)
        {
            Assert.Equal(status == VolumeStatus.Available, VolumeStateMachine.CanRequestExtend(status));
        }
    }

    [Fact]
    public void Extending_holds_space_and_is_not_final()
    {
        Assert.True(CapacityLedger.VolumeHoldsSpace("node1", VolumeStatus.Extending));
        Assert.False(VolumeStatus.IsFinal(VolumeStatus.Extending));
        Assert.False(VolumeStateMachine.CanRequestDelete(VolumeStatus.Extending));
    }
}
