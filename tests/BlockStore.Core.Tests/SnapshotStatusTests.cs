using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>The snapshot state machine and rules (SnapshotStatus), pure.</summary>
public class SnapshotStatusTests
{
    public static TheoryData<string, string> Allowed => new()
    {
        { SnapshotStatus.Creating, SnapshotStatus.Available },
        { SnapshotStatus.Creating, SnapshotStatus.Error },
        { SnapshotStatus.Available, SnapshotStatus.Deleting },
        { SnapshotStatus.Error, SnapshotStatus.Deleting },
        { SnapshotStatus.Deleting, SnapshotStatus.Deleted },
        { SnapshotStatus.Deleting, SnapshotStatus.ErrorDeleting },
        { SnapshotStatus.ErrorDeleting, SnapshotStatus.Deleting },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public void Allowed_moves(string from, string to) => Assert.True(SnapshotStatus.CanMove(from, to));

    [Fact]
    public void Every_other_move_is_refused()
    {
        var allowed = Allowed.Select(r => ((string)r[0], (string)r[1])).ToHashSet();
        foreach (var from in SnapshotStatus.All)
        {
            foreach (var to in SnapshotStatus.All.Where(t => t != from && !allowed.Contains((from, t))))
            {
                Assert.False(SnapshotStatus.CanMove(from, to), $"{from} -> {to}");
            }
        }
    }

    [Theory]
    [InlineData("available", false, true)]
    [InlineData("in-use", false, false)]
    [InlineData("in-use", true, true)]
    [InlineData("creating", true, false)]
    [InlineData("extending", true, false)]
    [InlineData("error", true, false)]
    public void Which_volumes_may_be_snapshotted(string volumeStatus, bool force, bool expected) =>
        Assert.Equal(expected, SnapshotStatus.CanSnapshot(volumeStatus, force));

    [Fact]
    public void Only_a_thick_snapshot_that_has_not_failed_or_gone_holds_space()
    {
        Assert.True(CapacityLedger.SnapshotHoldsSpace(BackendType.Thick, SnapshotStatus.Creating));
        Assert.True(CapacityLedger.SnapshotHoldsSpace(BackendType.Thick, SnapshotStatus.ErrorDeleting));
        Assert.False(CapacityLedger.SnapshotHoldsSpace(BackendType.Thick, SnapshotStatus.Error));
        Assert.False(CapacityLedger.SnapshotHoldsSpace(BackendType.Thick, SnapshotStatus.Deleted));
        Assert.False(CapacityLedger.SnapshotHoldsSpace(BackendType.Thin, SnapshotStatus.Available));
    }

    [Fact]
    public void Every_snapshot_not_deleted_keeps_its_volume_and_settled_ones_may_be_removed()
    {
        Assert.All(SnapshotStatus.All.Where(s => s != SnapshotStatus.Deleted), s => Assert.True(SnapshotStatus.BlocksVolumeDelete(s)));
        Assert.Equal([SnapshotStatus.Available, SnapshotStatus.Error, SnapshotStatus.ErrorDeleting],
            SnapshotStatus.All.Where(SnapshotStatus.CanRequestDelete).ToArray());
    }
}
