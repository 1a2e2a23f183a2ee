using BlockStore.Core;

namespace BlockStore.Core.Tests;

public class AttachmentStateMachineTests
{
    [Theory]
    [InlineData("available", "attaching")]
    [InlineData("attaching", "in-use")]
    [InlineData("attaching", "available")] // attach failed, nobody else attached
    [InlineData("in-use", "detaching")]
    [InlineData("detaching", "available")]
    [InlineData("in-use", "attaching")] // second initiator of a multiattach volume
    [InlineData("detaching", "in-use")] // other initiators remain, or the detach failed
    [InlineData("in-use", "deleting")] // Remove-BlockVolume -Force
    public void AllowsTheAttachFlow(string from, string to) => Assert.True(VolumeStateMachine.CanMove(from, to));

    [Theory]
    [InlineData("creating", "attaching")]
    [InlineData("error", "attaching")]
    [InlineData("in-use", "available")] // must pass through detaching
    [InlineData("deleted", "in-use")]
    [InlineData("deleting", "in-use")]
    public void RefusesShortcuts(string from, string to) => Assert.False(VolumeStateMachine.CanMove(from, to));

    [Theory]
    [InlineData("in-use")]
    [InlineData("attaching")]
    [InlineData("detaching")]
    public void AttachedVolumesAreDeletedOnlyWithForce(string status)
    {
        Assert.False(VolumeStateMachine.CanRequestDelete(status));
        Assert.True(VolumeStateMachine.CanRequestDelete(status, force: true));
    }

    [Fact]
    public void ForceDoesNotResurrectDeletedVolumes() => Assert.False(VolumeStateMachine.CanRequestDelete("deleted", force: true));

    [Theory]
    [InlineData("available", false, true)]
    [InlineData("in-use", false, false)]
    [InlineData("in-use", true, true)]
    [InlineData("creating", true, false)]
    [InlineData("error", true, false)]
    public void AttachRequests(string status, bool multi, bool allowed) =>
        Assert.Equal(allowed, VolumeStateMachine.CanRequestAttach(status, multi));

    [Theory]
    [InlineData(new string[0], "available")]
    [InlineData(new[] { "detached", "error" }, "available")] // failed attaches hold no export
    [InlineData(new[] { "attached" }, "in-use")]
    [InlineData(new[] { "attached", "detached" }, "in-use")]
    [InlineData(new[] { "attached", "attaching" }, "attaching")]
    [InlineData(new[] { "attached", "detaching" }, "detaching")]
    [InlineData(new[] { "detaching", "attaching" }, "attaching")]
    public void VolumeStatusFollowsItsAttachments(string[] attachments, string expected) =>
        Assert.Equal(expected, VolumeStateMachine.FromAttachments(attachments));

    [Theory]
    [InlineData(null, AttachRequestAction.Create)]
    [InlineData("detached", AttachRequestAction.Create)]
    [InlineData("attaching", AttachRequestAction.ReturnExisting)]
    [InlineData("attached", AttachRequestAction.ReturnExisting)]
    [InlineData("detaching", AttachRequestAction.ReturnExisting)]
    [InlineData("error", AttachRequestAction.SupersedeFailed)]
    public void TheSameInitiatorAgainGetsTheSameAttachmentUnlessItFailed(string? current, AttachRequestAction expected) =>
        Assert.Equal(expected, AttachRequestRules.ForInitiator(current));

    [Fact]
    public void ASupersededAttachmentKeepsWhyItFailedAndNamesItsReplacement()
    {
        var next = Guid.NewGuid();
        var reason = AttachRequestRules.SupersededReason(next, "targetcli cannot be started");
        Assert.Contains(next.ToString(), reason);
        Assert.EndsWith("it had failed: targetcli cannot be started", reason);
        Assert.Contains("(no reason recorded)", AttachRequestRules.SupersededReason(next, null));
    }

    [Fact]
    public void InUseIsNotTransitional()
    {
        Assert.True(VolumeStatus.IsFinal(VolumeStatus.InUse));
        Assert.False(VolumeStatus.IsFinal(VolumeStatus.Attaching));
        Assert.False(VolumeStatus.IsFinal(VolumeStatus.Detaching));
    }
}

public class IscsiNameTests
{
    [Theory]
    [InlineData("iqn.1993-08.org.debian:01:abcdef123456")]
    [InlineData("iqn.2024-01.com.example:client1")]
    [InlineData("iqn.2024-01.com.example")]
    [InlineData("IQN.2024-01.COM.Example:Host-1")] // normalised to lower case
    [InlineData("eui.02004567A425678D")]
    public void AcceptsInitiatorNames(string iqn) => Assert.Equal(iqn.ToLowerInvariant(), Iscsi.NormalizeInitiator(iqn));

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("client1")]
    [InlineData("iqn.2024-1.com.example:x")]
    [InlineData("iqn.2024-01.com.example:has space")]
    [InlineData("iqn.2024-01.com.example:x password=y")]
    [InlineData("iqn.2024-01.com.example:quote'")]
    [InlineData("iqn.2024-01.com.example:a/b")]
    [InlineData("eui.1234")]
    public void RefusesBadInitiatorNamesWithAStableErrorId(string? iqn)
    {
        var e = Assert.Throws<BlockStoreException>(() => Iscsi.NormalizeInitiator(iqn));
        Assert.Equal(ErrorIds.InvalidInitiatorIqn, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public void RefusesNamesLongerThanTheRfcAllows()
    {
        var name = "iqn.2024-01.com.example:" + new string('a', 200);
        Assert.Throws<BlockStoreException>(() => Iscsi.NormalizeInitiator(name));
    }

    [Fact]
    public void TargetNamesDeriveFromTheVolumeId()
    {
        var id = Guid.Parse("0192d2a4-0000-7000-8000-000000000001");
        Assert.Equal("iqn.2010-10.org.openstack:volume-0192d2a4-0000-7000-8000-000000000001", Iscsi.TargetIqn(Iscsi.DefaultTargetPrefix, id));
        Assert.Equal("volume-0192d2a4-0000-7000-8000-000000000001", StorageNames.Volume(id));
    }

    [Theory]
    [InlineData("iqn.2010-10.org.openstack", true)]
    [InlineData("iqn.2024-01.com.example.storage", true)]
    [InlineData("iqn.2010-10.org.openstack:x", false)]
    [InlineData("eui.02004567a425678d", false)]
    [InlineData("openstack", false)]
    public void TargetPrefixes(string prefix, bool valid) => Assert.Equal(valid, Iscsi.IsValidTargetPrefix(prefix));
}
