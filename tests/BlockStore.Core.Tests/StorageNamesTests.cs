using BlockStore.Core;

namespace BlockStore.Core.Tests;

public class StorageNamesTests
{
    private static readonly Guid Id = Guid.Parse("0192d2a4-0000-7000-8000-000000000001");

    [Fact]
    public void Names_derive_from_the_id_and_parse_back()
    {
        Assert.Equal("volume-0192d2a4-0000-7000-8000-000000000001", StorageNames.Volume(Id));
        Assert.Equal("_snapshot-0192d2a4-0000-7000-8000-000000000001", StorageNames.Snapshot(Id));
        Assert.Equal(Id, StorageNames.VolumeIdOf(StorageNames.Volume(Id)));
        Assert.Equal(Id, StorageNames.SnapshotIdOf(StorageNames.Snapshot(Id)));
    }

    [Fact]
    public void A_volume_name_is_not_a_snapshot_name_and_the_other_way_round()
    {
        Assert.Null(StorageNames.SnapshotIdOf(StorageNames.Volume(Id)));
        Assert.Null(StorageNames.VolumeIdOf(StorageNames.Snapshot(Id)));
    }

    [Theory]
    [InlineData("volume-0192d2a4-0000-7000-8000-000000000001", true)]
    [InlineData("volume-0192D2A4-0000-7000-8000-000000000001", false)]
    [InlineData("volume-0192d2a400007000800000000000001", false)]
    [InlineData("volume-{0192d2a4-0000-7000-8000-000000000001}", false)]
    [InlineData("volume-0192d2a4-0000-7000-8000-000000000001-x", false)]
    [InlineData("xvolume-0192d2a4-0000-7000-8000-000000000001", false)]
    [InlineData("home", false)]
    public void Only_volume_dash_lower_case_uuid_is_ours(string name, bool ours) =>
        Assert.Equal(ours, StorageNames.VolumeIdOf(name) is not null);

    [Theory]
    [InlineData("_snapshot-0192d2a4-0000-7000-8000-000000000001", true)]
    [InlineData("snapshot-0192d2a4-0000-7000-8000-000000000001", false)]
    [InlineData("_snapshot-0192D2A4-0000-7000-8000-000000000001", false)]
    [InlineData("_snapshot-0192d2a4-0000-7000-8000-000000000001.x", false)]
    [InlineData("lvol0", false)]
    public void Only_underscore_snapshot_dash_lower_case_uuid_is_ours(string name, bool ours) =>
        Assert.Equal(ours, StorageNames.SnapshotIdOf(name) is not null);

    [Theory]
    [InlineData("iqn.2010-10.org.openstack:volume-0192d2a4-0000-7000-8000-000000000001", true)]
    [InlineData("iqn.2010-10.org.other:volume-0192d2a4-0000-7000-8000-000000000001", false)]
    [InlineData("iqn.2010-10.org.openstack:volume-0192D2A4-0000-7000-8000-000000000001", false)]
    [InlineData("iqn.2010-10.org.openstack:disk1", false)]
    public void Only_targets_of_our_prefix_and_volume_naming_are_ours(string iqn, bool ours) =>
        Assert.Equal(ours ? Id : null, Iscsi.VolumeIdOfTarget(Iscsi.DefaultTargetPrefix, iqn));
}
