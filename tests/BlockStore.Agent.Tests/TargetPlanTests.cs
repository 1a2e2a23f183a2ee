using BlockStore.Agent;

namespace BlockStore.Agent.Tests;

public class TargetPlanTests
{
    private const string Iqn = "iqn.2010-10.org.openstack:volume-0192d2a4-0000-7000-8000-000000000001";
    private const string Backstore = "volume-0192d2a4-0000-7000-8000-000000000001";
    private const string Device = "/dev/bs-guest1/volume-0192d2a4-0000-7000-8000-000000000001";
    private const string Initiator = "iqn.2024-01.com.example:client1";

    internal static readonly ExportSpec Spec = new(Backstore, Device, Iqn, "10.0.2.15", 3260, Initiator, "user0123456789abcdef", "Secret0123456789");

    internal static VolumeTargetState Complete(string? password = "Secret0123456789") => new(
        Device, true, true, "1", "0", ["10.0.2.15:3260"], true,
        new Dictionary<string, AclState> { [Initiator] = new("user0123456789abcdef", password, true) });

    [Fact]
    public void FromNothingBuildsEverythingInOneBatchEndingWithSaveconfig()
    {
        var lines = TargetPlan.Export(Spec, VolumeTargetState.Absent);
        Assert.Equal(
        [
            $"/backstores/block create name={Backstore} dev={Device}",
            $"/iscsi create {Iqn}",
            $"/iscsi/{Iqn}/tpg1/portals delete 0.0.0.0 3260",
            $"/iscsi/{Iqn}/tpg1/portals create 10.0.2.15 3260",
            $"/iscsi/{Iqn}/tpg1 set attribute authentication=1 generate_node_acls=0",
            $"/iscsi/{Iqn}/tpg1/luns create /backstores/block/{Backstore} lun=0",
            $"/iscsi/{Iqn}/tpg1/acls create {Initiator}",
            $"/iscsi/{Iqn}/tpg1/acls/{Initiator} set auth userid=user0123456789abcdef password=Secret0123456789",
            "saveconfig",
        ], lines);
    }

    [Fact]
    public void ACompleteExportNeedsNothing() => Assert.Empty(TargetPlan.Export(Spec, Complete()));

    [Fact]
    public void AHalfBuiltTargetIsAdoptedAndFinished()
    {
        // What a crash after "/iscsi create" leaves: backstore, target with the default portal, nothing else.
        var half = new VolumeTargetState(Device, true, true, "0", "0", ["0.0.0.0:3260"], false, new Dictionary<string, AclState>());
        var lines = TargetPlan.Export(Spec, half);
        Assert.DoesNotContain(lines, l => l.Contains("create name="));
        Assert.DoesNotContain(lines, l => l == $"/iscsi create {Iqn}");
        Assert.Contains($"/iscsi/{Iqn}/tpg1/portals delete 0.0.0.0 3260", lines);
        Assert.Contains($"/iscsi/{Iqn}/tpg1 set attribute authentication=1 generate_node_acls=0", lines);
        Assert.Contains($"/iscsi/{Iqn}/tpg1/luns create /backstores/block/{Backstore} lun=0", lines);
        Assert.Equal("saveconfig", lines[^1]);
    }

    [Fact]
    public void AuthenticationSwitchedOffIsSwitchedBackOn()
    {
        var lines = TargetPlan.Export(Spec, Complete() with { Authentication = "0" });
        Assert.Equal([$"/iscsi/{Iqn}/tpg1 set attribute authentication=1 generate_node_acls=0", "saveconfig"], lines);
    }

    [Fact]
    public void AWrongSecretIsCorrected()
    {
        var lines = TargetPlan.Export(Spec, Complete(password: "somethingelse123"));
        Assert.Equal([$"/iscsi/{Iqn}/tpg1/acls/{Initiator} set auth userid=user0123456789abcdef password=Secret0123456789", "saveconfig"], lines);
    }

    [Fact]
    public void AnUnmappedAclGetsLun0()
    {
        var state = Complete() with { Acls = new Dictionary<string, AclState> { [Initiator] = new("user0123456789abcdef", "Secret0123456789", false) } };
        Assert.Equal([$"/iscsi/{Iqn}/tpg1/acls/{Initiator} create mapped_lun=0 tpg_lun_or_backstore=0", "saveconfig"], TargetPlan.Export(Spec, state));
    }

    [Fact]
    public void ADisabledTpgIsEnabled() =>
        Assert.Equal([$"/iscsi/{Iqn}/tpg1 enable", "saveconfig"], TargetPlan.Export(Spec, Complete() with { TpgEnabled = false }));

    [Fact]
    public void ABackstoreOnAnotherDeviceIsRebuilt()
    {
        var lines = TargetPlan.Export(Spec, Complete() with { BackstoreDevice = "/dev/other/lv" });
        Assert.Equal($"/iscsi delete {Iqn}", lines[0]);
        Assert.Equal($"/backstores/block delete {Backstore}", lines[1]);
        Assert.Equal($"/backstores/block create name={Backstore} dev={Device}", lines[2]);
    }

    [Fact]
    public void ASecondInitiatorAddsOnlyItsAcl()
    {
        var second = Spec with { Initiator = "iqn.2024-01.com.example:client2", UserId = "u2u2u2u2u2u2u2u2u2u2", Secret = "s2s2s2s2s2s2s2s2" };
        var lines = TargetPlan.Export(second, Complete());
        Assert.Equal(
        [
            $"/iscsi/{Iqn}/tpg1/acls create iqn.2024-01.com.example:client2",
            $"/iscsi/{Iqn}/tpg1/acls/iqn.2024-01.com.example:client2 set auth userid=u2u2u2u2u2u2u2u2u2u2 password=s2s2s2s2s2s2s2s2",
            "saveconfig",
        ], lines);
    }

    [Fact]
    public void TheLastDetachRemovesTargetAndBackstore() =>
        Assert.Equal([$"/iscsi delete {Iqn}", $"/backstores/block delete {Backstore}", "saveconfig"],
            TargetPlan.Unexport(Backstore, Iqn, Initiator, othersRemain: false, Complete()));

    [Fact]
    public void ADetachWithOthersRemainingRemovesOnlyTheAcl() =>
        Assert.Equal([$"/iscsi/{Iqn}/tpg1/acls delete {Initiator}", "saveconfig"],
            TargetPlan.Unexport(Backstore, Iqn, Initiator, othersRemain: true, Complete()));

    [Fact]
    public void DetachingWhatIsAlreadyGoneIsANoOp()
    {
        Assert.Empty(TargetPlan.Unexport(Backstore, Iqn, Initiator, false, VolumeTargetState.Absent));
        Assert.Empty(TargetPlan.Unexport(Backstore, Iqn, Initiator, true, Complete() with { Acls = new Dictionary<string, AclState>() }));
    }

    [Fact]
    public void ABackstoreLeftWithoutTargetIsRemoved() =>
        Assert.Equal([$"/backstores/block delete {Backstore}", "saveconfig"],
            TargetPlan.Unexport(Backstore, Iqn, null, false, VolumeTargetState.Absent with { BackstoreDevice = Device }));

    [Theory]
    [InlineData("10.0.2.15:3260", "10.0.2.15", "3260")]
    [InlineData("[::0]:3260", "::0", "3260")]
    public void SplitsPortals(string portal, string ip, string port) => Assert.Equal((ip, port), TargetPlan.SplitPortal(portal));
}
