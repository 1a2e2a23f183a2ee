using BlockStore.Core;

namespace BlockStore.Core.Tests;

public sealed class VolumeStateMachineTests
{
    public static TheoryData<string, string> Allowed => new()
    {
        { VolumeStatus.Creating, VolumeStatus.Available },
        { VolumeStatus.Creating, VolumeStatus.Error },
        { VolumeStatus.Creating, VolumeStatus.Deleting },
        { VolumeStatus.Creating, VolumeStatus.Deleted },
        { VolumeStatus.Available, VolumeStatus.Deleting },
        { VolumeStatus.Error, VolumeStatus.Deleting },
        { VolumeStatus.Error, VolumeStatus.Deleted },
        { VolumeStatus.Deleting, VolumeStatus.Deleted },
        { VolumeStatus.Deleting, VolumeStatus.ErrorDeleting },
        { VolumeStatus.ErrorDeleting, VolumeStatus.Deleting },
        // iSCSI attachments (see AttachmentRulesTests for why each exists)
        { VolumeStatus.Available, VolumeStatus.Attaching },
        { VolumeStatus.Attaching, VolumeStatus.InUse },
        { VolumeStatus.Attaching, VolumeStatus.Available },
        { VolumeStatus.Attaching, VolumeStatus.Detaching },
        { VolumeStatus.Attaching, VolumeStatus.Deleting },
        { VolumeStatus.InUse, VolumeStatus.Detaching },
        { VolumeStatus.InUse, VolumeStatus.Attaching },
        { VolumeStatus.InUse, VolumeStatus.Deleting },
        { VolumeStatus.Detaching, VolumeStatus.Available },
        { VolumeStatus.Detaching, VolumeStatus.InUse },
        { VolumeStatus.Detaching, VolumeStatus.Attaching },
        { VolumeStatus.Detaching, VolumeStatus.Deleting },
        // Resize-BlockVolume: an available or in-use volume grows; either way it ends where its
        // attachments say (an attach or detach asked for meanwhile runs after the extend).
        { VolumeStatus.Available, VolumeStatus.Extending },
        { VolumeStatus.InUse, VolumeStatus.Extending },
        { VolumeStatus.Extending, VolumeStatus.Available },
        { VolumeStatus.Extending, VolumeStatus.InUse },
        { VolumeStatus.Extending, VolumeStatus.Attaching },
        { VolumeStatus.Extending, VolumeStatus.Detaching },
        { VolumeStatus.Available, VolumeStatus.Reverting },
        { VolumeStatus.Reverting, VolumeStatus.Available },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public void Allowed_moves(string from, string to) => Assert.True(VolumeStateMachine.CanMove(from, to));

    [Fact]
    public void Every_other_move_is_refused()
    {
        var allowed = Allowed.Select(row => ((string)row[0], (string)row[1])).ToHashSet();
        foreach (var from in VolumeStatus.All)
        {
            foreach (var to in VolumeStatus.All)
            {
                Assert.Equal(allowed.Contains((from, to)), VolumeStateMachine.CanMove(from, to));
            }
        }
    }

    [Fact]
    public void Deleted_is_the_end()
    {
        Assert.All(VolumeStatus.All, to => Assert.False(VolumeStateMachine.CanMove(VolumeStatus.Deleted, to)));
    }

    [Fact]
    public void Unknown_statuses_move_nowhere() => Assert.False(VolumeStateMachine.CanMove("bogus", VolumeStatus.Deleted));

    [Theory]
    [InlineData(VolumeStatus.Creating, true)]
    [InlineData(VolumeStatus.Available, true)]
    [InlineData(VolumeStatus.Error, true)]
    [InlineData(VolumeStatus.ErrorDeleting, true)]
    [InlineData(VolumeStatus.Deleting, false)]
    [InlineData(VolumeStatus.Deleted, false)]
    public void Deletion_can_be_requested_from(string status, bool can) =>
        Assert.Equal(can, VolumeStateMachine.CanRequestDelete(status));

    [Theory]
    [InlineData(VolumeStatus.Available, true)]
    [InlineData(VolumeStatus.Error, true)]
    [InlineData(VolumeStatus.ErrorDeleting, true)]
    [InlineData(VolumeStatus.Deleted, true)]
    [InlineData(VolumeStatus.Creating, false)]
    [InlineData(VolumeStatus.Deleting, false)]
    public void Final_statuses(string status, bool final) => Assert.Equal(final, VolumeStatus.IsFinal(status));
}
